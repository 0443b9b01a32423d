"""The command line: --help everywhere, exit codes, --json, validate's errors, config docs
freshness."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SLUICE, SRC, SluiceTest, main  # noqa: E402


def run(*args, env=None):
    return subprocess.run([SLUICE] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, env=env)


# The source types of the registry, in its order (sources/registry.c).
SOURCE_TYPES = "http, redis, kafka, postgres-queue, s3, postgres-cdc, schedule, sns"


class Cli(SluiceTest):
    def write(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_help_on_every_command(self):
        for args in (["--help"], ["run", "--help"], ["validate", "--help"], ["dlq", "--help"],
                     ["dlq", "list", "--help"], ["config", "--help"], ["mappings", "--help"],
                     ["version", "--help"], ["config", "docs", "--help"]):
            p = run(*args)
            self.assertEqual(p.returncode, 0, args)
            self.assertIn(b"usage:", p.stdout, args)
        p = run("frobnicate")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"unknown command", p.stderr)

    def test_help_lists_the_types_of_the_registries(self):
        p = run("--help")
        out = p.stdout.decode()
        self.assertRegex(out, r"sources\[\]\s+%s\n" % SOURCE_TYPES)
        self.assertRegex(out, r"functions\[\]\s+http, lambda, runtime, alias\n")
        self.assertRegex(out, r"dlqs\[\]\s+sqlite, redis, kafka, postgres\n")
        # The reference has one heading per type, named for it.
        docs = run("config", "docs").stdout.decode()
        for section, types in (("sources[]", SOURCE_TYPES),
                               ("functions[]", "http, lambda"),
                               ("dlqs[]", "sqlite, redis, kafka")):
            for t in types.split(", "):
                self.assertIn("\n## `%s` (type: %s)\n" % (section, t), docs)
        # The same names the validator accepts.
        path = self.write("types.yaml", "sources:\n  - {name: s, type: nope}\n")
        err = run("validate", "-c", path).stderr.decode()
        self.assertIn("(allowed: %s)" % SOURCE_TYPES, err)

    def test_exit_codes_and_json(self):
        bad = self.write("bad.yaml", "log: {level: loud}\n")
        missing = os.path.join(self.workdir, "missing.yaml")
        # 78: the config file is invalid or cannot be read, whatever the command.
        for args in (["run", "-c", bad], ["validate", "-c", bad], ["dlq", "list", "-c", bad],
                     ["mappings", "-c", bad]):
            p = run(*args)
            self.assertEqual(p.returncode, 78, (args, p.stderr))
            self.assertIn(b"log.level", p.stderr, args)
        p = run("validate", "-c", missing)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertIn(b"cannot open", p.stderr)
        # 2: usage, and --json where nothing can honour it.
        for args in (["run", "--json"], ["config", "docs", "--json"], ["version", "--frob"],
                     ["validate", "extra"], ["dlq", "redrive", "-c", bad]):
            p = run(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
        self.assertIn(b"--json", run("config", "docs", "--json").stderr)
        p = run("version", "--json")
        self.assertEqual(p.returncode, 0)
        doc = json.loads(p.stdout)
        self.assertRegex(doc["version"], r"^\d+\.\d+")
        self.assertIn("librdkafka", doc)
        self.assertEqual(run("version").stdout.decode().split()[0], "sluice")

    def test_validate_reports_every_error_in_file_order(self):
        text = ("server:\n"                          # 1
                "  listen: 127.0.0.1:9700\n"         # 2
                "admin:\n"                           # 3
                "  listen: 127.0.0.1:9700\n"         # 4
                "functions:\n"                       # 5
                "  - name: fn\n"                     # 6
                "    type: http\n"                   # 7
                "    url: 127.0.0.1:1/invoke\n"      # 8
                "sources:\n"                         # 9
                "  - name: shop\n"                   # 10
                "    type: http\n"                   # 11
                "    max_body_bytes: huge\n"         # 12
                "  - {name: s2, type: carrier-pigeon}\n"  # 13
                "mappings:\n"                        # 14
                "  - name: m\n"                      # 15
                "    source: nope\n"                 # 16
                "    function: fn\n"                 # 17
                "    colour: blue\n"                 # 18
                "    retry: {max_attempts: 0}\n")    # 19
        path = self.write("every.yaml", text)
        p = run("validate", "-c", path)
        self.assertEqual(p.returncode, 78, p.stderr)
        lines = p.stderr.decode().splitlines()
        want = [(4, "admin.listen", "server.listen"),
                (8, "functions[0].url", "127.0.0.1:1/invoke"),
                (12, "sources[0].max_body_bytes", "huge"),
                (13, "sources[1].type", "carrier-pigeon"),
                (16, "mappings[0].source", "nope"),
                (18, "mappings[0].colour", "unknown key"),
                (19, "mappings[0].retry.max_attempts", "allowed")]
        self.assertEqual(len(lines), len(want) + 1, lines)
        for line, (n, key, word) in zip(lines, want):
            self.assertTrue(line.startswith("%s:%d: %s: " % (path, n, key)), (line, n, key))
            self.assertIn(word, line)
        self.assertEqual(lines[-1], "%s: %d errors" % (path, len(want)))
        # The same as JSON.
        p = run("validate", "-c", path, "--json")
        self.assertEqual(p.returncode, 78)
        doc = json.loads(p.stdout)
        self.assertFalse(doc["valid"])
        self.assertEqual([(e["line"], e["path"]) for e in doc["errors"]],
                         [(n, key) for n, key, _ in want])
        # A type-specific key's error has its line for `sluice run` too.
        p = run("run", "-c", path)
        self.assertEqual(p.returncode, 78)
        self.assertRegex(p.stderr.decode(), r"every\.yaml:\d+: ")

    def test_validate_no_env(self):
        text = ("admin: {token: '${SLUICE_TEST_UNSET_TOKEN}', listen: '0.0.0.0:0'}\n"
                "functions:\n  - {name: fn, type: http, url: '${SLUICE_TEST_UNSET_URL}'}\n"
                "sources:\n  - {name: s, type: http, token: '${SLUICE_TEST_UNSET_HOOK}',\n"
                "              max_body_bytes: '${SLUICE_TEST_UNSET_MAX:-64KB}'}\n"
                "mappings:\n  - {name: m, source: s, function: fn}\n")
        path = self.write("env.yaml", text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_TEST_UNSET")}
        p = run("validate", "-c", path, env=env)
        self.assertEqual(p.returncode, 78)
        for var in ("TOKEN", "URL", "HOOK"):
            self.assertIn("SLUICE_TEST_UNSET_" + var, p.stderr.decode())
        p = run("validate", "--no-env", "-c", path, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"ok", p.stdout)
        # --no-env still reports what does not depend on the environment.
        path = self.write("env2.yaml", text + "log: {level: loud}\n")
        p = run("validate", "--no-env", "-c", path, env=env)
        self.assertEqual(p.returncode, 78)
        self.assertEqual(len(p.stderr.decode().splitlines()), 2, p.stderr)
        self.assertIn(b"log.level", p.stderr)

    def test_validate_warns_when_a_filter_names_a_header_not_kept(self):
        text = ("functions:\n  - {name: fn, type: http, url: 'http://127.0.0.1:1/'}\n"
                "sources:\n"
                "  - {name: shop, type: http}\n"
                "  - {name: kept, type: http, keep_headers: [X-Priority]}\n"
                "mappings:\n"
                "  - name: m\n"
                "    source: shop\n"
                "    function: fn\n"
                "    filters:\n"
                "      - '{\"headers\": {\"x-priority\": [\"urgent\"]}}'\n"
                "      - {headers: {content-type: [{prefix: application/json}]}}\n"
                "  - name: m2\n"
                "    source: kept\n"
                "    function: fn\n"
                "    filters: [{headers: {x-priority: [urgent]}}]\n")
        path = self.write("headers.yaml", text)
        p = run("validate", "-c", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        warn = p.stderr.decode().splitlines()
        self.assertEqual(len(warn), 1, warn)
        self.assertRegex(warn[0], r"headers\.yaml:11: warning: mappings\[0\]\.filters\[0\]: "
                         r"header \"x-priority\" is not kept by source \"shop\"")
        self.assertIn("keep_headers", warn[0])
        doc = json.loads(run("validate", "--json", "-c", path).stdout)
        self.assertTrue(doc["valid"])
        self.assertEqual([(w["line"], w["path"]) for w in doc["warnings"]],
                         [(11, "mappings[0].filters[0]")])

    def test_validate_examples(self):
        ex = os.path.join(SRC, "config", "examples")
        # lambda.yaml takes its AWS credentials from the environment.
        env = dict(os.environ, SLUICE_ADMIN_TOKEN="example-token", AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
                   AWS_SECRET_ACCESS_KEY="example-secret")
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
            self.assertEqual(p.returncode, 78, (text, p.stdout, p.stderr))
            msg = p.stderr.decode()
            self.assertIn(os.path.basename(path), msg)
            for w in wants:
                self.assertIn(w, msg, (text, msg))

    def test_secret_is_never_printed(self):
        path = self.write("secret.yaml", "admin: {token: {nested: 1}}\n")
        p = run("validate", "-c", path)
        self.assertEqual(p.returncode, 78)
        path = self.write("secret2.yaml",
                          "sources:\n  - {name: s, type: http, token: hunter2hunter2, max_body_bytes: huge}\n")
        p = run("validate", "-c", path)
        self.assertEqual(p.returncode, 78)
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
