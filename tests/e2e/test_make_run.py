"""`make run` prints only what sluice and the demo function print: no make directory chatter,
no build progress (the binaries are built quietly), then it stops on Ctrl-C. scripts/install-deps
installs only what a purpose needs: run (make run), test (make test), or everything."""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SLUICE, SRC, LineReader, SluiceTest, free_port, main  # noqa: E402

CHATTER = re.compile(r"Entering directory|Leaving directory|^\[ *\d+%\]|Built target|"
                     r"^-- |Scanning dependencies|^g?make(\[\d+\])?: (?!\*\*\* \[.*Interrupt)")


class MakeRun(SluiceTest):
    def test_make_run_prints_only_sluice_output(self):
        build = os.path.dirname(os.path.dirname(SLUICE))  # this suite's build: already built
        fn_port = free_port()
        cfg = os.path.join(self.workdir, "quick.yaml")
        with open(cfg, "w") as f:
            f.write("server: {listen: '127.0.0.1:0'}\nadmin: {listen: '127.0.0.1:0'}\n"
                    "store: {dir: '%s'}\n" % os.path.join(self.workdir, "data") +
                    "functions:\n  - {name: demo, type: http, url: 'http://127.0.0.1:%d/'}\n"
                    % fn_port +
                    "sources:\n  - {name: hook, type: http}\n"
                    "mappings:\n  - {name: m, source: hook, function: demo}\n")
        # As a user types it: not as a child of the make that runs the suite (make test).
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        env["FN_LISTEN"] = "127.0.0.1:%d" % fn_port
        p = subprocess.Popen(["make", "run", "BUILD=" + build, "CONFIG=" + cfg, "JOBS=2"],
                             cwd=SRC, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        out = LineReader(p.stdout, "[make run]")
        try:
            out.wait_for(r"running with 1 mappings", timeout=300)
            os.killpg(p.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole group
            p.wait(60)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        text = out.text()
        self.assertIn("sluice-fn listening on port %d" % fn_port, text)
        self.assertIn("stopped", text)
        for line in text.splitlines():
            self.assertIsNone(CHATTER.search(line), "make or build output: " + line)

    def installs(self, *args):
        """The packages install-deps asks apt-get for, on a machine that has none (stubs)."""
        bin_dir = os.path.join(self.workdir, "stub-bin")
        os.makedirs(bin_dir, exist_ok=True)
        record = os.path.join(self.workdir, "apt.txt")
        stubs = {"dpkg-query": "exit 1",
                 "apt-get": 'echo "$@" >> %s' % record,
                 "sudo": '"$@"'}
        for name, body in stubs.items():
            path = os.path.join(bin_dir, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n%s\n" % body)
            os.chmod(path, 0o755)
        if os.path.exists(record):
            os.unlink(record)
        env = dict(os.environ, PATH=bin_dir + ":" + os.environ["PATH"])
        p = subprocess.run(["bash", os.path.join(SRC, "scripts", "install-deps")] + list(args),
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            return p.returncode, set()
        with open(record) as f:
            lines = [line.split() for line in f if line.split()[:1] == ["install"]]
        return 0, {w for line in lines for w in line if not w.startswith("-") and w != "install"}

    def test_install_deps_installs_what_each_purpose_needs(self):
        rc, run = self.installs("run")
        self.assertEqual(rc, 0)
        self.assertTrue({"cmake", "libev-dev", "librdkafka-dev", "node-llhttp"} <= run, run)
        test_only = {"libcmocka-dev", "redis-server", "clang", "python3"}
        self.assertEqual(run & (test_only | {"wrk"}), set(), "run installs test tools")
        rc, test = self.installs("test")
        self.assertTrue(run | test_only <= test, test)
        self.assertNotIn("wrk", test)
        rc, everything = self.installs()
        self.assertTrue(test | {"wrk"} <= everything, everything)
        self.assertEqual(self.installs("bogus")[0], 2)


if __name__ == "__main__":
    main()
