"""Failure paths, each counting records end to end: delivered + dead-lettered = accepted."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, json_body, main, wait_until  # noqa: E402

M = "orders-to-fn"


def dlq_ids(s):
    return sorted(e["recordId"] for e in s.dlq_entries())


class Failures(SluiceTest):
    def settle(self, s, fn, accepted, dead_expected=None):
        """Waits until every accepted id is delivered or dead-lettered; returns (delivered, dead)."""
        def done():
            delivered = set(fn.delivered_ids())
            dead = set(dlq_ids(s))
            return (delivered | dead) >= set(accepted)
        wait_until(done, timeout=90, what="every record delivered or dead-lettered")
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="%s"}' % M) == 0,
                   what="nothing in flight")
        delivered, dead = set(fn.delivered_ids()), set(dlq_ids(s))
        self.assertEqual(delivered | dead, set(accepted))
        self.assertFalse(delivered & dead, "a record was both delivered and dead-lettered")
        if dead_expected is not None:
            self.assertEqual(dead, set(dead_expected))
        return delivered, dead

    def test_retries_then_dead_letters_with_history(self):
        fn = self.fn(script=[{"status": 500, "count": 1000}])
        s = self.sluice(base_config(self.workdir, fn.url, mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 4, "backoff": {"min": "100ms", "max": "100ms"}}}))
        ids = self.post_many(s, 3)
        self.settle(s, fn, ids, dead_expected=ids)
        invs = fn.invocations()
        self.assertEqual(len(invs), 3 * 4, "max_attempts invocations per record")
        # Backoff: attempts of one record are at least backoff.min apart.
        for rid in ids:
            times = [i["time"] for i in invs if rid in i["ids"]]
            self.assertEqual(len(times), 4)
            gaps = [b - a for a, b in zip(times, times[1:])]
            self.assertTrue(all(g >= 95 for g in gaps), gaps)
        entry = json.loads(s.cli("dlq", "show", s.dlq_entries()[0]["id"]).stdout.decode())
        self.assertEqual(entry["condition"], "RetryAttemptsExhausted")
        self.assertEqual(entry["attemptCount"], 4)
        self.assertEqual(len(entry["attempts"]), 4)
        self.assertEqual(entry["attempts"][-1]["status"], 500)
        self.assertEqual(entry["onFailure"]["requestContext"]["condition"], "RetryAttemptsExhausted")
        self.assertEqual(entry["onFailure"]["requestContext"]["approximateInvokeCount"], 4)
        self.assertEqual(entry["onFailure"]["responseContext"]["statusCode"], 500)
        self.assertEqual(json.loads(entry["payload"]), {"n": ids.index(entry["recordId"])})
        m = s.metrics()
        self.assertEqual(m['sluice_records_dead_lettered_total{mapping="%s"}' % M], 3)
        self.assertEqual(m['sluice_invocations_total{mapping="%s",outcome="retry"}' % M], 12)

    def test_uncounted_attempts_are_kept_apart(self):
        # Throttles (429 without Retry-After) never reach the function: they do not count
        # toward max_attempts. Before, the entry said "ATTEMPTS 5" with max_attempts 2.
        fn = self.fn(script=[{"status": 429, "count": 3}, {"status": 500, "count": 1000}])
        cfg = base_config(self.workdir, fn.url, mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 2, "backoff": {"min": "10ms", "max": "10ms"}}})
        cfg["log"]["level"] = "info"
        s = self.sluice(cfg)
        ids = self.post_many(s, 1)
        self.settle(s, fn, ids, dead_expected=ids)
        self.assertEqual([i["status"] for i in fn.invocations()], [429, 429, 429, 500, 500])
        listed = s.dlq_entries()[0]
        self.assertEqual((listed["countedAttempts"], listed["uncountedAttempts"]), (2, 3))
        self.assertEqual(listed["attempts"], 5, "the existing field keeps its meaning")
        entry = json.loads(s.cli("dlq", "show", listed["id"]).stdout.decode())
        self.assertEqual((entry["countedAttempts"], entry["uncountedAttempts"]), (2, 3))
        self.assertEqual(entry["attemptCount"], 5)
        self.assertEqual([a["counted"] for a in entry["attempts"]],
                         [False, False, False, True, True])
        self.assertEqual(entry["onFailure"]["requestContext"]["approximateInvokeCount"], 5)
        table = s.cli("dlq", "list").stdout.decode().splitlines()
        self.assertRegex(table[0], r"ATTEMPTS\s+NOT COUNTED")
        row = [ln for ln in table if ln.startswith(listed["id"])][0]
        self.assertRegex(row, r"RetryAttemptsExhausted\s+\S+\s+2\s+3\s")
        m = s.metrics()
        self.assertEqual(m['sluice_failed_attempts_total{mapping="%s",counted="true"}' % M], 2)
        self.assertEqual(m['sluice_failed_attempts_total{mapping="%s",counted="false"}' % M], 3)
        self.assertTrue(s.out.wait_for(r"dead-lettered .*2 attempts counted of max_attempts 2, "
                                       r"3 not counted"))
        # At level info, one line per retry: the attempt, the reason and the delay.
        retries = [ln for ln in s.out.text().splitlines() if "retrying" in ln]
        self.assertEqual(len(retries), 4, retries)
        for n, ln in enumerate(retries[:3], 1):
            self.assertRegex(ln, r"retrying 1 records in \d+ ms: failure %d not counted as an "
                                 r"attempt \(0 of 2 used\): .*429" % n)
        self.assertRegex(retries[3], r"retrying 1 records in \d+ ms: attempt 1 of 2 failed: .*500")

    def test_terminal_status_skips_retries(self):
        fn = self.fn(script=[{"status": 400, "count": 1}])
        s = self.sluice(base_config(self.workdir, fn.url, mapping={"batch": {"size": 1, "window": "0s"}}))
        ids = self.post_many(s, 2)
        self.settle(s, fn, ids, dead_expected=ids[:1])
        self.assertEqual(len(fn.invocations()), 2, "no retry for a terminal 400")
        self.assertEqual(s.dlq_entries()[0]["condition"], "TerminalError")

    def test_retry_after_is_honoured_and_not_counted(self):
        fn = self.fn(script=[{"status": 429, "retryAfter": 1, "count": 3}])
        s = self.sluice(base_config(self.workdir, fn.url, mapping={
            "batch": {"size": 10, "window": "0s"},
            "retry": {"max_attempts": 2, "backoff": {"min": "10ms", "max": "10ms"}}}))
        ids = self.post_many(s, 1)
        self.settle(s, fn, ids, dead_expected=[])
        invs = fn.invocations()
        self.assertEqual([i["status"] for i in invs], [429, 429, 429, 200])
        gaps = [b["time"] - a["time"] for a, b in zip(invs, invs[1:])]
        self.assertTrue(all(g >= 950 for g in gaps), gaps)

    def test_connection_reset_and_timeout_are_retried(self):
        fn = self.fn(script=[{"reset": True, "count": 1}, {"delayMs": 3000, "count": 1}])
        s = self.sluice(base_config(self.workdir, fn.url, function={"timeout": "500ms"},
                                    mapping={"retry": {"max_attempts": 5,
                                                       "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 1)
        self.settle(s, fn, ids, dead_expected=[])
        self.assertEqual([i["outcome"] for i in fn.invocations()][:2], ["reset", "slow-ok"])

    def test_bisect_isolates_a_poison_record(self):
        fn = self.fn()
        s = self.sluice(base_config(self.workdir, fn.url, mapping={
            # The batch is cut at its size; the window only has to outlast the 8 posts.
            "batch": {"size": 8, "window": "60s"},
            "retry": {"max_attempts": 2, "bisect_on_error": True,
                      "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 8, make=lambda i: {"n": i, "fail": i == 5})
        delivered, dead = self.settle(s, fn, ids, dead_expected=[ids[5]])
        self.assertEqual(len(delivered), 7)
        self.assertEqual(fn.invocations()[0]["records"], 8)
        sizes = [i["records"] for i in fn.invocations()]
        self.assertIn(1, sizes)
        # Bisect rounds are retries too: one info line each, with the halves and the reason.
        # 8 -> 4+4, the failing 4 -> 2+2, the failing 2 -> 1+1.
        halves = [ln for ln in s.out.text().splitlines() if "as halves of" in ln]
        self.assertEqual([h.split("as halves of ")[1].split(" (")[0] for h in halves],
                         ["4 + 4", "2 + 2", "1 + 1"], halves)
        self.assertTrue(all("not counted as an attempt" in h and " info " in h
                            for h in halves), halves)

    def test_partial_batch_response(self):
        fn = self.fn()
        s = self.sluice(base_config(self.workdir, fn.url, mapping={
            "batch": {"size": 6, "window": "60s"},
            "retry": {"max_attempts": 2, "report_batch_item_failures": True,
                      "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 6, make=lambda i: {"n": i, "fail": "partial" if i == 2 else False})
        self.settle(s, fn, ids, dead_expected=[ids[2]])
        invs = fn.invocations()
        self.assertEqual(invs[0]["records"], 6)
        self.assertEqual(invs[0]["outcome"], "partial")
        # Stream rule on an ordered lane: the retry starts at the failed record.
        self.assertEqual(invs[1]["ids"], ids[2:])
        entry = s.dlq_entries()[0]
        self.assertEqual(entry["recordId"], ids[2])

    def test_random_failures_lose_nothing(self):
        fn = self.fn(fail_rate=0.3, seed=7)
        s = self.sluice(base_config(self.workdir, fn.url, mapping={
            "batch": {"size": 4, "window": "0s"},
            "retry": {"max_attempts": 3, "bisect_on_error": True,
                      "backoff": {"min": "1ms", "max": "5ms"}}}))
        ids = self.post_many(s, 200)
        delivered, dead = self.settle(s, fn, ids)
        self.assertEqual(len(delivered) + len(dead), 200)


if __name__ == "__main__":
    main()
