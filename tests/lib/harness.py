"""End-to-end test harness: runs the real sluice binary and the sluice-fn function.

Standard library only. Waits on events (a log line, an HTTP answer, a file growing) with
deadlines instead of fixed sleeps.
"""
import json
import socket
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import http.client
import urllib.parse

# Exit statuses of `sluice run` (cli/app.h, docs/OPERATIONS.md).
EXIT_OK = 0
EXIT_ABANDONED = 75  # stopped with records left unacknowledged (drain deadline, second signal)
EXIT_WATCHDOG = 70  # the shutdown watchdog ended the process

BUILD = os.environ.get("SLUICE_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SLUICE = os.environ.get("SLUICE_BIN", os.path.join(BUILD, "cli", "sluice"))
FN = os.path.join(BUILD, "demo", "sluice-fn")
SRC = os.environ.get("SLUICE_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))

DEFAULT_WAIT = float(os.environ.get("SLUICE_TEST_WAIT", "60"))


def free_port():
    """A loopback port nothing listens on right now (connections to it are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout=DEFAULT_WAIT, what="condition", interval=0.02):
    """Polls pred() until it returns a truthy value; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def http_request(port, method, path, body=None, headers=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), data
    finally:
        conn.close()


def parse_metrics(text):
    """Prometheus text exposition -> {series (name and labels as written): value}."""
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        values[name] = float(value)
    return values


def json_body(data):
    return json.loads(data.decode("utf-8")) if data else None


class LineReader(threading.Thread):
    """Collects a process's output lines so tests can wait for one."""

    def __init__(self, stream, echo_prefix=None):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines = []
        self.cond = threading.Condition()
        self.echo_prefix = echo_prefix
        self.start()

    def run(self):
        for raw in iter(self.stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self.echo_prefix and os.environ.get("SLUICE_TEST_VERBOSE"):
                sys.stderr.write("%s %s\n" % (self.echo_prefix, line))
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        self.stream.close()  # end of output: the pipe is this reader's to close

    def wait_for(self, pattern, timeout=DEFAULT_WAIT, start=0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no line matching %r within %.0fs; last lines:\n%s" % (
                        pattern, timeout, "\n".join(self.lines[-30:])))
                self.cond.wait(left)

    def text(self):
        with self.cond:
            return "\n".join(self.lines)


class Fn:
    """The sluice-fn function on an ephemeral port, logging invocations to a file."""

    def __init__(self, workdir, script=None, fail_rate=None, seed=None, poison_partial=False):
        self.log_path = os.path.join(workdir, "fn-%d.jsonl" % time.monotonic_ns())
        args = [FN, "--listen", "127.0.0.1:0", "--log", self.log_path, "--quiet"]
        if script is not None:
            args += ["--script", json.dumps(script)]
        if fail_rate is not None:
            args += ["--fail-rate", str(fail_rate)]
        if seed is not None:
            args += ["--seed", str(seed)]
        if poison_partial:
            args.append("--poison-partial")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = LineReader(self.proc.stdout, "[fn]")
        self.port = int(self.out.wait_for(r"listening on port (\d+)").group(1))
        self.url = "http://127.0.0.1:%d/invoke" % self.port

    def set_script(self, steps):
        status, _, data = http_request(self.port, "PUT", "/control/script", steps)
        assert status == 200, data

    def invocations(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def delivered_ids(self):
        """Ids the function handled successfully, in order, duplicates included."""
        out = []
        for inv in self.invocations():
            if inv["outcome"] in ("ok", "slow-ok"):
                out.extend(inv["ids"])
            elif inv["outcome"] == "partial":
                failed = set(json.dumps(x) for x in inv["failed"])
                out.extend(i for i in inv["ids"] if json.dumps(i) not in failed)
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))


def to_yaml(obj, indent=0):
    """Enough YAML for sluice configs (maps, lists, scalars)."""
    pad = "  " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append("%s%s:" % (pad, k))
                lines.append(to_yaml(v, indent + 1))
            elif isinstance(v, (dict, list)):
                lines.append("%s%s: %s" % (pad, k, "{}" if isinstance(v, dict) else "[]"))
            else:
                lines.append("%s%s: %s" % (pad, k, yaml_scalar(v)))
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict):
                sub = to_yaml(v, indent + 1).split("\n")
                lines.append("%s- %s" % (pad, sub[0].strip()))
                lines.extend(sub[1:])
            else:
                lines.append("%s- %s" % (pad, yaml_scalar(v)))
    return "\n".join(l for l in lines if l != "")


def base_config(workdir, fn_url, mapping=None, source=None, function=None, extra=None):
    cfg = {
        "log": {"level": "debug"},
        "server": {"listen": "127.0.0.1:0"},
        "admin": {"listen": "127.0.0.1:0"},
        "store": {"dir": os.path.join(workdir, "data")},
        "shutdown": {"drain_timeout": "20s"},
        "functions": [dict({"name": "fn", "type": "http", "url": fn_url, "timeout": "5s"},
                           **(function or {}))],
        "sources": [dict({"name": "orders", "type": "http"}, **(source or {}))],
        "mappings": [dict({
            "name": "orders-to-fn", "source": "orders", "function": "fn",
            "batch": {"size": 10, "window": "0s"},
            "retry": {"max_attempts": 3, "backoff": {"min": "10ms", "max": "50ms"}},
        }, **(mapping or {}))],
    }
    for k, v in (extra or {}).items():
        cfg[k] = v
    return cfg


class Sluice:
    """The real sluice binary with a generated config; knows its push and admin ports.

    A run must end with exit status `expected_exit` (EXIT_OK unless the test says otherwise,
    e.g. EXIT_ABANDONED for a stop that leaves work unfinished): teardown reports any other."""

    def __init__(self, workdir, config, name="sluice", config_dir=None):
        """config_dir: the folder to write the config file to (default: workdir); relative
        paths in the config are read from there."""
        self.workdir = workdir
        self.expected_exit = EXIT_OK
        self.config_path = os.path.join(config_dir or workdir, "%s.yaml" % name)
        with open(self.config_path, "w") as f:
            f.write(to_yaml(config) + "\n")
        self.proc = None
        self.out = None

    def start(self, wait_ready=True, preexec_fn=None, cwd=None):
        """preexec_fn runs in the child before exec (e.g. to set a resource limit); cwd is
        the working directory to start it in."""
        self.proc = subprocess.Popen([SLUICE, "run", "-c", self.config_path],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=preexec_fn, cwd=cwd)
        self.out = LineReader(self.proc.stdout, "[sluice]")
        m = self.out.wait_for(r"push listener on .* \(port (\d+)\), admin API on .* \(port (\d+)\)")
        self.push_port = int(m.group(1))
        self.admin_port = int(m.group(2))
        if wait_ready:
            self.out.wait_for(r"running with \d+ mappings")
        return self

    def post(self, hook, body, headers=None):
        status, hdrs, data = http_request(self.push_port, "POST", "/hooks/" + hook, body, headers)
        return status, hdrs, data

    def admin(self, method, path, body=None, headers=None):
        return http_request(self.admin_port, method, path, body, headers)

    def reload(self, config):
        """Writes config to this run's file and reloads it (POST /v1/reload); returns the
        status and the answer's text."""
        with open(self.config_path, "w") as f:
            f.write(to_yaml(config) + "\n")
        status, _, data = self.admin("POST", "/v1/reload")
        return status, data.decode()

    def metrics(self, headers=None):
        status, _, data = self.admin("GET", "/metrics", headers=headers)
        assert status == 200, (status, data)
        return parse_metrics(data.decode())

    def cli(self, *args, check=True, cwd=None, config=None):
        """Runs `sluice ARGS -c CONFIG` (this run's config file unless given) in cwd."""
        p = subprocess.run([SLUICE] + list(args) + ["-c", config or self.config_path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, cwd=cwd)
        if check and p.returncode != 0:
            raise AssertionError("sluice %s failed (%d): %s %s" % (
                " ".join(args), p.returncode, p.stdout.decode(), p.stderr.decode()))
        return p

    def dlq_entries(self, mapping=None):
        args = ["dlq", "list", "--json"]
        if mapping:
            args += ["--mapping", mapping]
        return json.loads(self.cli(*args).stdout.decode())["entries"]

    def dlq_pages(self, limit, mapping=None):
        """Every entry through the admin API, `limit` per page, following the "next" cursors;
        returns the pages (lists of summaries)."""
        pages, after = [], None
        while True:
            path = "/v1/dlq?limit=%d" % limit + ("&mapping=" + mapping if mapping else "")
            status, _, data = self.admin("GET", path + ("&after=" + after if after else ""))
            assert status == 200, data
            body = json.loads(data)
            pages.append(body["entries"])
            after = body.get("next")
            if after is None:
                return pages
            assert len(body["entries"]) == limit, body

    def terminate(self, timeout=60, expect=None):
        """SIGTERM, then waits for the exit and returns its status. `expect` declares the status
        this run is to end with (checked at teardown), when it is not EXIT_OK."""
        if expect is not None:
            self.expected_exit = expect
        self.proc.send_signal(signal.SIGTERM)
        stacks_after = float(os.environ.get("SLUICE_TEST_STACKS_AFTER", "0"))
        if stacks_after > 0:
            # Diagnosis of a slow shutdown: every thread's stack, while it is still slow.
            try:
                return self.proc.wait(stacks_after)
            except subprocess.TimeoutExpired:
                dump = subprocess.run(["gdb", "-p", str(self.proc.pid), "-batch", "-ex",
                                       "thread apply all bt"], capture_output=True, text=True)
                sys.stderr.write(f"stacks of {self.proc.pid} {stacks_after}s after SIGTERM:\n"
                                 f"{dump.stdout}\n")
        return self.proc.wait(timeout)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.killed = True

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.killed = True

    def problems(self):
        """Why this run was not clean: a sanitizer report, or a bad exit status."""
        if not self.proc:
            return None
        self.proc.wait()
        # Let the reader thread take the last lines.
        self.out.join(5)
        text = self.out.text()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in text:
                return "sanitizer report in sluice output:\n" + text[-6000:]
        if not getattr(self, "killed", False) and self.proc.returncode != self.expected_exit:
            return "sluice exited with %d (expected %d):\n%s" % (
                self.proc.returncode, self.expected_exit, text[-3000:])
        return None


class SluiceTest(unittest.TestCase):
    """Gives each test a work directory and stops what it started."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="sluice-e2e-")
        self._procs = []

    def tearDown(self):
        for p in reversed(self._procs):
            p.stop()
        for p in self._procs:
            why = p.problems() if isinstance(p, Sluice) else None
            if why:
                self.fail(why)
        if os.environ.get("SLUICE_TEST_KEEP"):
            sys.stderr.write("kept %s\n" % self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def fn(self, **kw):
        f = Fn(self.workdir, **kw)
        self._procs.append(f)
        return f

    def sluice(self, config, name="sluice", start=True, config_dir=None):
        s = Sluice(self.workdir, config, name, config_dir)
        self._procs.append(s)
        if start:
            s.start()
        return s

    def post_many(self, s, n, hook="orders", make=None):
        ids = []
        for i in range(n):
            body = make(i) if make else {"n": i}
            status, _, data = s.post(hook, body)
            self.assertEqual(status, 202, data)
            ids.append(json_body(data)["id"])
        return ids


def main():
    unittest.main(verbosity=2)
