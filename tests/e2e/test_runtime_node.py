"""The runtime function type with a stock Node.js handler (tests/runtime/index.js) run by AWS's
runtime interface client, aws-lambda-ric (pinned in tests/runtime/package.json; installed by
scripts/install-deps), against sluice's Runtime API, with the real sluice binary. Records are
counted end to end: delivered + dead-lettered = produced."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, main, wait_until  # noqa: E402

M = "orders-to-fn"
RUNTIME_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime")
RIC = os.path.join(RUNTIME_DIR, "node_modules", ".bin", "aws-lambda-ric")


@unittest.skipUnless(os.path.exists(RIC), "aws-lambda-ric is not installed "
                     "(scripts/install-deps test runs npm ci in tests/runtime)")
class NodeRuntime(SluiceTest):
    def setUp(self):
        super().setUp()
        self.state = os.path.join(self.workdir, "state")
        os.mkdir(self.state)

    def config(self, handler="index.handler", mapping=None):
        cfg = base_config(self.workdir, "http://unused", mapping=mapping)
        cfg["functions"] = [{"name": "fn", "type": "runtime", "command": [RIC],
                             "handler": handler, "task_root": RUNTIME_DIR, "timeout": "20s",
                             "max_concurrency": 2, "environment": {"STATE_DIR": self.state}}]
        return cfg

    def delivered(self):
        try:
            with open(os.path.join(self.state, "delivered")) as f:
                return [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def dlq_ids(self, s):
        return sorted(e["recordId"] for e in s.dlq_entries())

    def settle(self, s, produced, dead_expected):
        wait_until(lambda: (set(self.delivered()) | set(self.dlq_ids(s))) >= set(produced),
                   what="every record delivered or dead-lettered")
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="%s"}' % M) == 0,
                   what="nothing in flight")
        delivered, dead = set(self.delivered()), set(self.dlq_ids(s))
        self.assertEqual(delivered | dead, set(produced))
        self.assertEqual(len(delivered & dead), 0)
        self.assertEqual(dead, set(dead_expected))

    def last_attempt(self, s, rid):
        entry = [e for e in s.dlq_entries() if e["recordId"] == rid][0]
        return json.loads(s.cli("dlq", "show", entry["id"]).stdout.decode())["attempts"][-1]

    def test_batches_partial_failures_and_throws(self):
        s = self.sluice(self.config(mapping={
            "batch": {"size": 4, "window": "60s"},
            "retry": {"max_attempts": 2, "report_batch_item_failures": True,
                      "backoff": {"min": "10ms", "max": "20ms"}}}))
        kinds = {3: "partial", 9: "throw"}
        ids = self.post_many(s, 12, make=lambda i: {"n": i, "fail": kinds.get(i, False)})
        # Without bisect the thrown record's whole batch is dead-lettered once its attempts
        # are used.
        s_dead = self.expected_dead(ids, kinds)
        self.settle(s, ids, dead_expected=s_dead)
        last = self.last_attempt(s, ids[9])
        self.assertEqual(last["functionError"], "PoisonError", last)
        self.assertIn("a record asked to fail", last["error"])
        m = s.out.wait_for(r"env \d+ \[([0-9a-f-]{36})\] .*node handling ([0-9a-f-]{36}) with")
        self.assertEqual(m.group(1), m.group(2))

    def expected_dead(self, ids, kinds):
        # Batches of 4 in order: the batch holding the thrown record fails whole.
        thrown = [i for i, k in kinds.items() if k == "throw"][0]
        first = thrown // 4 * 4
        dead = set(ids[first:first + 4])
        dead |= {ids[i] for i, k in kinds.items() if k == "partial"}
        return dead

    def test_init_error_is_reported(self):
        s = self.sluice(self.config(handler="index.broken", mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 1, "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 1)
        self.settle(s, ids, dead_expected=ids)
        last = self.last_attempt(s, ids[0])
        # The thrown error's name, as Lambda reports an init error of a Node.js handler.
        self.assertEqual(last["functionError"], "Error", last)
        self.assertIn("init failed on purpose", last["error"])
        self.assertTrue(s.out.wait_for(r"init error Error: init failed on purpose"))


if __name__ == "__main__":
    main()
