"""The Redis dead-letter sink round trip, with a real redis-server and the real sluice binary:
a record fails, lands in the DLQ stream (after which the source entry is acked), `sluice dlq
list/show` read it, `redrive` delivers it and deletes it (only after success), `purge` removes
the rest. A DLQ write that fails blocks the lane: the source entry is not acked meanwhile."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import base_config, main, wait_until  # noqa: E402
from redis_fixture import RedisTest, dlq_stream_entries, redis_dlq, redis_source  # noqa: E402


def config(test, fn, port, dlq_port=None):
    return base_config(test.workdir, fn.url, mapping={
        "dlq": "rdlq", "batch": {"size": 1, "window": "0s"},
        "retry": {"max_attempts": 1, "backoff": {"min": "5ms", "max": "20ms"}},
    }, extra={
        "sources": [redis_source(port, ["orders"])],
        "dlqs": [redis_dlq(dlq_port or port, maxlen=1000)],
    })


def pending(client):
    try:
        return client.cmd("XPENDING", "orders", "sluice-orders")[0]
    except Exception:
        return None


class RedisDlq(RedisTest):
    def test_round_trip_list_show_redrive_purge(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn()
        ids = self.produce(c, "orders", 12, extra=lambda i: {"fail": "true"} if i in (3, 8) else {})
        s = self.sluice(config(self, fn, r.port))
        wait_until(lambda: c.cmd("XLEN", "sluice-dlq") == 2 and pending(c) == 0,
                   what="two entries dead-lettered, the stream acked")
        entries = s.dlq_entries()
        self.assertEqual(len(entries), 2)
        self.assertEqual({e["recordId"] for e in entries}, {ids[3], ids[8]})
        self.assertTrue(all(e["dlq"] == "rdlq" and e["mapping"] == "orders-to-fn"
                            for e in entries))
        self.assertEqual(len(s.dlq_entries(mapping="orders-to-fn")), 2)
        # Admin pages of one (listed off the loop, on the sink's blocking connection).
        pages = s.dlq_pages(1, mapping="orders-to-fn")
        self.assertEqual([len(p) for p in pages], [1, 1])
        self.assertEqual(sorted(e["id"] for p in pages for e in p), sorted(e["id"] for e in entries))
        first = [e for e in entries if e["recordId"] == ids[3]][0]
        shown = json.loads(s.cli("dlq", "show", first["id"]).stdout.decode())
        self.assertEqual(shown["sourceType"], "redis")
        self.assertEqual(shown["coordinates"]["stream"], "orders")
        self.assertEqual(shown["coordinates"]["id"], ids[3])
        self.assertEqual(json.loads(shown["payload"]), {"k": "3", "fail": "true"})
        self.assertEqual(shown["condition"], "RetryAttemptsExhausted")
        self.assertEqual(shown["attempts"][0]["functionError"], "Unhandled")
        # Kinesis-shaped source: the on-failure record carries Lambda's KinesisBatchInfo.
        info = shown["onFailure"]["KinesisBatchInfo"]
        self.assertEqual(info["shardId"], "orders")
        self.assertEqual((info["startSequenceNumber"], info["endSequenceNumber"]), (ids[3], ids[3]))
        self.assertEqual(info["batchSize"], 1)
        self.assertEqual(info["approximateArrivalOfFirstRecord"], shown["recordTime"])
        self.assertEqual(info["approximateArrivalOfLastRecord"], shown["recordTime"])
        self.assertEqual(info["streamArn"], shown["attributes"]["eventSourceARN"])
        # The record's id (the stream entry id) finds the entry too, in the CLI and the API.
        by_record = json.loads(s.cli("dlq", "show", ids[3]).stdout.decode())
        self.assertEqual(by_record, shown)
        st, _, d = s.admin("GET", "/v1/dlq/" + ids[8])
        self.assertEqual(st, 200, d)
        self.assertEqual(json.loads(d)["recordId"], ids[8])
        self.assertEqual(s.admin("GET", "/v1/dlq/" + ids[0])[0], 404)
        # Same record-level content as the SQLite sink: the document is the canonical entry.
        raw = dlq_stream_entries(c)
        self.assertEqual({e["id"] for e in raw}, {e["id"] for e in entries})

        # Redrive while the function still fails: the entry stays.
        p = s.cli("dlq", "redrive", "--id", first["id"], check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(c.cmd("XLEN", "sluice-dlq"), 2)
        # Fixed: redrive delivers it, then deletes it.
        fn.fixed = True
        before = len(fn.invocations())
        out = s.cli("dlq", "redrive", "--id", first["id"]).stdout.decode()
        self.assertIn("redriven 1", out)
        self.assertEqual(c.cmd("XLEN", "sluice-dlq"), 1)
        inv = fn.invocations()[before:]
        self.assertEqual([i["ids"] for i in inv if i["outcome"] == "ok"], [["orders:" + ids[3]]])
        self.assertEqual([e["recordId"] for e in s.dlq_entries()], [ids[8]])
        # Purge the other one: gone.
        out = s.cli("dlq", "purge", "--all").stdout.decode()
        self.assertIn("purged 1", out)
        self.assertEqual(c.cmd("XLEN", "sluice-dlq"), 0)
        self.assertEqual(s.dlq_entries(), [])
        self.assertNotEqual(s.cli("dlq", "show", first["id"], check=False).returncode, 0)

    def test_failed_dlq_write_blocks_the_lane(self):
        r = self.redis()
        d = self.redis()  # the DLQ lives on a second server, stopped for a while
        c, dc = r.client(), d.client()
        fn = self.kfn()
        s = self.sluice(config(self, fn, r.port, dlq_port=d.port))
        s.out.wait_for(r"\[source:redis:orders\] connected to")
        dc.close()
        d.stop()
        ids = self.produce(c, "orders", 6, extra=lambda i: {"fail": "true"} if i == 2 else {})
        s.out.wait_for(r"DLQ write to rdlq failed: .*lane blocked, retrying")
        # The poison entry and everything after it stay unacked while the DLQ is down.
        # The function logs a call before it answers: wait for the acks of the two before it.
        wait_until(lambda: len(fn.delivered()) >= 2 and pending(c) == 4,
                   what="the entries before it delivered and acked")
        self.assertEqual(fn.delivered(), ["orders:" + i for i in ids[:2]])
        self.assertEqual(pending(c), 4)
        d.start()
        dc = d.client()
        wait_until(lambda: dc.cmd("XLEN", "sluice-dlq") == 1 and pending(c) == 0,
                   what="the DLQ write retried and the lane unblocked")
        wait_until(lambda: len(fn.delivered()) >= 5, what="the rest delivered")
        self.assertEqual(fn.delivered(), ["orders:" + i for n, i in enumerate(ids) if n != 2])
        self.assertEqual(dlq_stream_entries(dc)[0]["recordId"], ids[2])


if __name__ == "__main__":
    main()
