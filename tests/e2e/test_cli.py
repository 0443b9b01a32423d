"""The command line: --help everywhere, validate's errors, config docs freshness."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SLUICE, SRC, SluiceTest, main  # noqa: E402


def run(*args, env=None):
    return subprocess.run([SLUICE] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, env=env)


class Cli(SluiceTest):
    def write(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_help_on_every_command(self):
        for args in (["--help"], ["run", "--help"], ["validate", "--help"], ["dlq", "--help"],
                     ["dlq", "list", "--help"], ["config", "--help"], ["mappings", "--help"]):
            p = run(*args)
            self.assertEqual(p.returncode, 0, args)
            self.assertIn(b"usage:", p.stdout, args)
        p = run("frobnicate")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"unknown command", p.stderr)

    def test_validate_examples(self):
        ex = os.path.join(SRC, "config", "examples")
        env = dict(os.environ, SLUICE_ADMIN_TOKEN="example-token")
        for name in sorted(os.listdir(ex)):
            p = run("validate", "-c", os.path.join(ex, name), env=env)
            self.assertEqual(p.returncode, 0, (name, p.stderr))
            self.assertIn(b"ok", p.stdout)

    def test_validate_errors_name_key_value_and_allowed(self):
        base = ("functions:\n  - {name: fn, type: http, url: 'http://127.0.0.1:1/'}\n"
                "sources:\n  - {name: orders, type: http}\n")
        cases = [
            (base + "mappings:\n  - {name: m, source: orders, function: fn, retry: {max_attempts: 0}}\n",
             ["mappings[0].retry.max_attempts", "0", "allowed"]),
            (base + "mappings:\n  - {name: m, source: ordrs, function: fn}\n",
             ["mappings[0].source", "ordrs", "orders"]),
            (base + "mappings:\n  - {name: m, source: orders, function: fn, batch: {window: 5 parsecs}}\n",
             ["mappings[0].batch.window", "5 parsecs"]),
            (base + "mappings:\n  - {name: m, source: orders, function: fn, colour: blue}\n",
             ["mappings[0].colour", "unknown key"]),
            ("sources:\n  - {name: s, type: carrier-pigeon}\n",
             ["sources[0].type", "carrier-pigeon", "http"]),
            (base.replace("type: http}", "type: http, tokn: x}", 1) + "mappings: []\n",
             ["sources[0].tokn", "unknown key"]),
            ("admin: {listen: '0.0.0.0:8081'}\n", ["admin.listen", "0.0.0.0:8081", "token"]),
            ("sources:\n  - {name: s, type: http, token: '${NO_SUCH_VAR_X}'}\n", ["NO_SUCH_VAR_X"]),
        ]
        for i, (text, wants) in enumerate(cases):
            path = self.write("bad%d.yaml" % i, text)
            p = run("validate", "-c", path)
            self.assertEqual(p.returncode, 1, (text, p.stdout, p.stderr))
            msg = p.stderr.decode()
            self.assertIn(os.path.basename(path), msg)
            for w in wants:
                self.assertIn(w, msg, (text, msg))

    def test_secret_is_never_printed(self):
        path = self.write("secret.yaml", "admin: {token: {nested: 1}}\n")
        p = run("validate", "-c", path)
        self.assertEqual(p.returncode, 1)
        path = self.write("secret2.yaml",
                          "sources:\n  - {name: s, type: http, token: hunter2hunter2, max_body_bytes: huge}\n")
        p = run("validate", "-c", path)
        self.assertEqual(p.returncode, 1)
        self.assertNotIn(b"hunter2", p.stderr + p.stdout)

    def test_configuration_docs_are_fresh(self):
        p = run("config", "docs")
        self.assertEqual(p.returncode, 0)
        with open(os.path.join(SRC, "docs", "CONFIGURATION.md"), "rb") as f:
            committed = f.read()
        self.assertEqual(p.stdout.decode(), committed.decode(),
                         "docs/CONFIGURATION.md is stale: run `make docs`")


if __name__ == "__main__":
    main()
