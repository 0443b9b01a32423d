"""The runtime function type: sluice serves the Lambda Runtime API to a bash custom runtime
(tests/runtime/bootstrap, curl + jq) that it starts itself, with the real sluice binary and
webhook batches. Failure paths count records end to end: delivered + dead-lettered = produced."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import EXIT_ABANDONED, SluiceTest, base_config, main, wait_until  # noqa: E402

M = "orders-to-fn"
RUNTIME_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not reaped yet) is not running.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Runtime(SluiceTest):
    def setUp(self):
        super().setUp()
        self.state = os.path.join(self.workdir, "state")
        os.mkdir(self.state)

    def config(self, function=None, mapping=None):
        cfg = base_config(self.workdir, "http://unused", mapping=mapping)
        fn = {"name": "fn", "type": "runtime", "command": [os.path.join(RUNTIME_DIR, "bootstrap")],
              "handler": "batch.handler", "task_root": RUNTIME_DIR, "timeout": "5s",
              "max_concurrency": 2, "environment": {"STATE_DIR": self.state,
                                                    "CUSTOM_VAR": "custom-value"}}
        fn.update(function or {})
        cfg["functions"] = [fn]
        return cfg

    def lines(self, name):
        try:
            with open(os.path.join(self.state, name)) as f:
                return [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def delivered(self):
        return self.lines("delivered")

    def pids(self):
        return [int(p) for p in self.lines("pids")]

    def dlq_ids(self, s):
        return sorted(e["recordId"] for e in s.dlq_entries())

    def settle(self, s, produced, dead_expected):
        def done():
            return (set(self.delivered()) | set(self.dlq_ids(s))) >= set(produced)
        wait_until(done, what="every record delivered or dead-lettered")
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="%s"}' % M) == 0,
                   what="nothing in flight")
        delivered, dead = set(self.delivered()), set(self.dlq_ids(s))
        self.assertEqual(delivered | dead, set(produced))
        self.assertEqual(len(delivered & dead), 0, "a record both delivered and dead-lettered")
        self.assertEqual(dead, set(dead_expected))
        return delivered, dead

    def last_attempt(self, s, rid):
        entry = [e for e in s.dlq_entries() if e["recordId"] == rid][0]
        return json.loads(s.cli("dlq", "show", entry["id"]).stdout.decode())

    def test_batches_and_partial_batch_responses(self):
        s = self.sluice(self.config(mapping={
            "batch": {"size": 5, "window": "50ms"},
            "retry": {"max_attempts": 2, "report_batch_item_failures": True,
                      "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 20, make=lambda i: {"n": i,
                                                    "fail": "partial" if i % 7 == 3 else False})
        partial = [rid for i, rid in enumerate(ids) if i % 7 == 3]
        self.settle(s, ids, dead_expected=partial)
        for rid in partial:
            self.assertEqual(self.last_attempt(s, rid)["condition"], "RetryAttemptsExhausted")
        # Lambda's environment reached the handler.
        m = s.out.wait_for(r"env \d+ \[init[^\]]*\] init pid=\d+ handler=batch.handler function=fn "
                           r"timeout=5 memory=128 version=\$LATEST region=us-east-1 root=(\S+) "
                           r"group=/aws/lambda/fn custom=custom-value")
        self.assertEqual(os.path.realpath(m.group(1)), os.path.realpath(RUNTIME_DIR))
        # stdout lines carry the request id in flight, which is the one the handler was given.
        m = s.out.wait_for(r"env \d+ \[([0-9a-f-]{36})\] handling ([0-9a-f-]{36}) for "
                           r"arn:aws:lambda:us-east-1:000000000000:function:fn")
        self.assertEqual(m.group(1), m.group(2))

    def test_function_errors_are_retried_and_dead_lettered(self):
        s = self.sluice(self.config(mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 2, "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 6, make=lambda i: {"n": i, "fail": "throw" if i % 3 == 1 else 0})
        poison = [rid for i, rid in enumerate(ids) if i % 3 == 1]
        self.settle(s, ids, dead_expected=poison)
        for rid in poison:
            last = self.last_attempt(s, rid)["attempts"][-1]
            self.assertEqual(last["functionError"], "PoisonError", last)
            self.assertIn("a record asked to fail", last["error"])
        self.assertTrue(s.out.wait_for(r"function error PoisonError: a record asked to fail"))
        # One warm environment at a time served them all: /error does not end it.
        self.assertEqual(len(self.pids()), 1)

    def test_timeout_kills_and_retries(self):
        s = self.sluice(self.config(function={"timeout": "1s"}, mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 3, "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 3, make=lambda i: {"n": i, "fail": "sleep" if i == 1 else 0})
        self.settle(s, ids, dead_expected=[])
        self.assertTrue(os.path.exists(os.path.join(self.state, "slept-" + ids[1])))
        self.assertTrue(s.out.wait_for(r"Sandbox.Timedout: Task timed out after 1.00 seconds"))
        self.assertTrue(s.out.wait_for(r"missed its deadline"))
        # The killed environment (and its sleep) is gone; another took its place.
        first = self.pids()[0]
        wait_until(lambda: not alive(first), what="the timed-out runtime killed")
        self.assertGreaterEqual(len(self.pids()), 2)

    def test_timeout_until_dead_lettered(self):
        # Every attempt sleeps (a new marker each time is impossible: remove it on each start).
        # The record after it runs in a fresh environment whose cold start counts against its
        # deadline: with one attempt, the timeout leaves room for a cold start on a busy machine.
        s = self.sluice(self.config(function={"timeout": "5s"}, mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 1, "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 2, make=lambda i: {"n": i, "fail": "sleep" if i == 0 else 0})
        self.settle(s, ids, dead_expected=[ids[0]])
        last = self.last_attempt(s, ids[0])["attempts"][-1]
        self.assertEqual(last["functionError"], "Sandbox.Timedout", last)
        self.assertIn("Task timed out after 5.00 seconds", last["error"])

    def test_oversize_response_is_a_function_error(self):
        s = self.sluice(self.config(mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 1, "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 3, make=lambda i: {"n": i, "fail": "huge" if i == 1 else 0})
        self.settle(s, ids, dead_expected=[ids[1]])
        last = self.last_attempt(s, ids[1])["attempts"][-1]
        self.assertEqual(last["functionError"], "Function.ResponseSizeTooLarge", last)
        # The environment was not killed for it: it served the next record too.
        self.assertEqual(len(self.pids()), 1)

    def test_init_error_is_reported(self):
        s = self.sluice(self.config(function={"handler": "init-error"}, mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 2, "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 2)
        self.settle(s, ids, dead_expected=ids)
        for rid in ids:
            last = self.last_attempt(s, rid)["attempts"][-1]
            self.assertEqual(last["functionError"], "Runtime.BadInit", last)
            self.assertIn("init failed on purpose", last["error"])
        self.assertTrue(s.out.wait_for(r"init error Runtime.BadInit: init failed on purpose"))

    def test_exit_during_init_is_reported(self):
        s = self.sluice(self.config(function={"handler": "init-exit"}, mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 2, "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 2)
        self.settle(s, ids, dead_expected=ids)
        last = self.last_attempt(s, ids[0])["attempts"][-1]
        self.assertEqual(last["functionError"], "Runtime.ExitError", last)
        self.assertIn("Runtime exited with error: exit status 3", last["error"])
        # stderr reaches the log too.
        self.assertTrue(s.out.wait_for(r"env \d+ \[init [0-9a-f-]{36}\] exiting during init"))

    def test_concurrency_limit_and_idle_reaping(self):
        s = self.sluice(self.config(function={"idle_timeout": "700ms"}, mapping={
            "max_concurrency": 8, "ordering": "none", "batch": {"size": 1, "window": "0s"}}))
        ids = self.post_many(s, 16, make=lambda i: {"n": i, "fail": "slow"})
        self.settle(s, ids, dead_expected=[])
        pids = self.pids()
        self.assertEqual(len(pids), 2, "max_concurrency environments, reused warm")
        wait_until(lambda: not any(alive(p) for p in pids), what="idle environments reaped")
        self.assertTrue(s.out.wait_for(r"env \d+: stopping \(idle\)"))
        more = self.post_many(s, 2)
        self.settle(s, ids + more, dead_expected=[])
        self.assertGreater(len(self.pids()), 2, "new environments after reaping")

    def test_shutdown_stops_environments(self):
        s = self.sluice(self.config())
        ids = self.post_many(s, 3)
        self.settle(s, ids, dead_expected=[])
        pids = self.pids()
        self.assertTrue(pids)
        self.assertTrue(any(alive(p) for p in pids))
        self.assertEqual(s.terminate(), 0)
        self.assertFalse(any(alive(p) for p in pids))

    def test_stop_mid_invocation_cancels_and_loses_nothing(self):
        # The handler sleeps on its first sight of record 0; sluice is stopped meanwhile
        # (drain deadline 1 s): the invocation is cancelled, the runtime killed, the record
        # left unacknowledged, and the next run delivers it.
        cfg = self.config(function={"timeout": "60s", "shutdown_grace": "200ms"})
        cfg["shutdown"] = {"drain_timeout": "1s"}
        s = self.sluice(cfg)
        ids = self.post_many(s, 1, make=lambda i: {"n": i, "fail": "sleep"})
        wait_until(lambda: os.path.exists(os.path.join(self.state, "slept-" + ids[0])),
                   what="the handler sleeping on the record")
        pids = self.pids()
        self.assertEqual(s.terminate(expect=EXIT_ABANDONED), EXIT_ABANDONED)
        self.assertFalse(any(alive(p) for p in pids), "environments stopped with sluice")
        self.assertEqual(self.delivered(), [])
        s2 = self.sluice(cfg, name="again")
        self.settle(s2, ids, dead_expected=[])

    def test_bad_config_is_named(self):
        s = self.sluice(self.config(function={"environment": {"AWS_LAMBDA_FUNCTION_NAME": "x"}}),
                        start=False)
        p = s.cli("validate", check=False)
        text = (p.stdout + p.stderr).decode()
        self.assertNotEqual(p.returncode, 0, text)
        self.assertIn("functions[0].environment", text)
        self.assertIn("AWS_LAMBDA_FUNCTION_NAME is set by sluice", text)

    def test_missing_program_is_a_config_error(self):
        s = self.sluice(self.config(function={"command": ["./no-such-bootstrap"]}), start=False)
        p = s.cli("run", check=False)
        text = (p.stdout + p.stderr).decode()
        self.assertEqual(p.returncode, 78, text)
        self.assertRegex(text, r'functions\[0\]\.command: "\./no-such-bootstrap" in task_root '
                               r'"[^"]+": No such file or directory')

if __name__ == "__main__":
    main()
