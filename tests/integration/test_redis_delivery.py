"""The redis source against a real redis-server and the real sluice binary: the event shape,
order per stream under retries, bisect and partial batch responses isolating poison entries,
no loss with a function failing at random, filtered entries acked, max_deliveries."""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import base_config, main, wait_until  # noqa: E402
from redis_fixture import RedisTest, dlq_stream_entries, redis_dlq, redis_source  # noqa: E402


def config(test, fn, port, streams, mapping=None, source=None):
    # max_concurrency >= streams: one batch per lane may run at once (as Kinesis: shards).
    m = {"dlq": "rdlq", "batch": {"size": 10, "window": "0s"}, "max_concurrency": len(streams),
         "retry": {"max_attempts": 2, "backoff": {"min": "5ms", "max": "20ms"}}}
    m.update(mapping or {})
    return base_config(test.workdir, fn.url, mapping=m, extra={
        "sources": [redis_source(port, streams, **(source or {}))],
        "dlqs": [redis_dlq(port)],
    })


def pending(client, stream, group="sluice-orders"):
    """Entries read and not acked; None while the group does not exist yet."""
    try:
        return client.cmd("XPENDING", stream, group)[0]
    except Exception:  # NOGROUP until sluice creates it
        return None


class RedisDelivery(RedisTest):
    def test_event_shape(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn()
        eid = c.cmd("XADD", "orders", "*", "k", "1", "region", "eu", "note", "h\u00e9")
        s = self.sluice(config(self, fn, r.port, ["orders"],
                               source={"partition_key_field": "region"}))
        wait_until(lambda: fn.events, what="one record delivered")
        rec = fn.events[0]
        self.assertEqual(set(rec), {"kinesis", "eventSource", "eventVersion", "eventID",
                                    "eventName", "invokeIdentityArn", "awsRegion",
                                    "eventSourceARN"})
        k = rec["kinesis"]
        self.assertEqual(k["kinesisSchemaVersion"], "1.0")
        self.assertEqual(k["partitionKey"], "eu")
        self.assertEqual(k["sequenceNumber"], eid)
        self.assertEqual(json.loads(base64.b64decode(k["data"])),
                         {"k": "1", "region": "eu", "note": "h\u00e9"})
        self.assertIsInstance(k["approximateArrivalTimestamp"], float)
        self.assertAlmostEqual(k["approximateArrivalTimestamp"], int(eid.split("-")[0]) / 1000.0,
                               places=3)
        self.assertEqual(rec["eventSource"], "sluice:redis")
        self.assertEqual(rec["eventVersion"], "1.0")
        self.assertEqual(rec["eventName"], "aws:kinesis:record")
        self.assertEqual(rec["eventID"], "orders:" + eid)
        self.assertEqual(rec["eventSourceARN"], "redis://127.0.0.1:%d/0/orders" % r.port)
        # Acked once delivered; metrics per stream.
        wait_until(lambda: pending(c, "orders") == 0, what="the entry acked")
        def gauges():
            mx = s.metrics()
            key = 'sluice_redis_pending{source="orders",stream="orders"}'
            return key in mx and mx[key] == 0 and mx
        mx = wait_until(gauges, what="pending gauge at 0")
        self.assertEqual(mx['sluice_redis_connected{source="orders"}'], 1)
        self.assertIn('sluice_redis_lag{source="orders",stream="orders"}', mx)
        self.assertIn('sluice_redis_oldest_pending_age_seconds{source="orders",stream="orders"}',
                      mx)

    def test_binary_fields_data_encodings(self):
        r = self.redis()
        c = r.client()
        raw = b"\xff\x00\x80{\"n\":1}\xfe"
        eid = c.cmd("XADD", "orders", "*", "payload", raw, "k", "v")

        def run(group, **source):
            fn = self.kfn()
            s = self.sluice(config(self, fn, r.port, ["orders"],
                                   source=dict(group=group, **source)))
            wait_until(lambda: fn.events, what="the entry delivered")
            return s, fn.events[0]

        # json (the default): text, so bytes that are not UTF-8 are replaced, and it says so.
        s, rec = run("g-json")
        self.assertEqual(json.loads(base64.b64decode(rec["kinesis"]["data"])),
                         {"payload": "\ufffd\u0000\ufffd{\"n\":1}\ufffd", "k": "v"})
        self.assertIs(rec["invalidUtf8Replaced"], True)
        self.assertEqual(s.terminate(), 0)
        # resp: every byte, as a RESP array of the fields.
        s, rec = run("g-resp", data_encoding="resp")
        self.assertEqual(base64.b64decode(rec["kinesis"]["data"]),
                         b"*4\r\n$7\r\npayload\r\n$%d\r\n%s\r\n$1\r\nk\r\n$1\r\nv\r\n"
                         % (len(raw), raw))
        self.assertNotIn("invalidUtf8Replaced", rec)
        self.assertEqual(rec["kinesis"]["sequenceNumber"], eid)
        self.assertEqual(s.terminate(), 0)
        # field: that field's bytes are the data; an entry without it is dead-lettered.
        other = c.cmd("XADD", "orders", "*", "k", "no payload")
        s, rec = run("g-field", data_encoding="field", data_field="payload")
        self.assertEqual(base64.b64decode(rec["kinesis"]["data"]), raw)
        wait_until(lambda: len(s.dlq_entries()) == 1, what="the entry without the field")
        e = s.dlq_entries()[0]
        self.assertEqual((e["recordId"], e["condition"]), (other, "DataFieldMissing"))
        shown = json.loads(s.cli("dlq", "show", e["id"]).stdout)
        self.assertEqual(base64.b64decode(shown["payloadBase64"]) if "payloadBase64" in shown
                         else shown["payload"].encode(),
                         b"*2\r\n$1\r\nk\r\n$10\r\nno payload\r\n")
        wait_until(lambda: pending(c, "orders", "g-field") == 0, what="both entries acked")
        self.assertEqual(s.terminate(), 0)

    def test_order_per_stream_bisect_isolates_poison(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn()
        poison = {37, 111, 112, 250}
        produced = {}
        for st in ("a", "b"):
            ids = self.produce(c, st, 300, extra=lambda i: {"fail": "true"} if i in poison else {})
            produced[st] = ids
        self.sluice(config(self, fn, r.port, ["a", "b"],
                           mapping={"retry": {"max_attempts": 2, "bisect_on_error": True,
                                              "backoff": {"min": "5ms", "max": "20ms"}}}))
        wait_until(lambda: pending(c, "a") == 0 and pending(c, "b") == 0
                   and c.cmd("XLEN", "sluice-dlq") == 8, timeout=120,
                   what="both streams acked, 8 entries dead-lettered")
        delivered = fn.delivered()
        dlq = dlq_stream_entries(c)
        for st in ("a", "b"):
            want = [st + ":" + i for n, i in enumerate(produced[st]) if n not in poison]
            got = [i for i in delivered if i.startswith(st + ":")]
            # In order per stream: the first delivery of each entry follows the stream's order.
            first = list(dict.fromkeys(got))
            self.assertEqual(first, want)
            dead = sorted(e["recordId"] for e in dlq if e["coordinates"]["stream"] == st)
            self.assertEqual(dead, sorted(produced[st][n] for n in poison))
        for e in dlq:
            self.assertEqual(e["condition"], "RetryAttemptsExhausted")
            self.assertEqual(e["sourceType"], "redis")
            self.assertEqual(e["coordinates"]["group"], "sluice-orders")

    def test_partial_batch_response_retries_from_lowest_failure(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn(partial=True)
        poison = {5, 48}
        ids = self.produce(c, "orders", 100,
                           extra=lambda i: {"fail": "true"} if i in poison else {})
        self.sluice(config(self, fn, r.port, ["orders"],
                           mapping={"retry": {"max_attempts": 3,
                                              "report_batch_item_failures": True,
                                              "backoff": {"min": "5ms", "max": "20ms"}}}))
        wait_until(lambda: pending(c, "orders") == 0 and c.cmd("XLEN", "sluice-dlq") == 2,
                   timeout=120, what="the stream acked and 2 entries dead-lettered")
        first = list(dict.fromkeys(fn.delivered()))
        self.assertEqual(first, ["orders:" + i for n, i in enumerate(ids) if n not in poison])
        invs = fn.invocations()
        partial = [i for i, inv in enumerate(invs) if inv["outcome"] == "partial"]
        self.assertTrue(partial)
        # The stream rule: the retry starts at the lowest failed record (or, once that one ran
        # out of attempts and went to the DLQ, right after it).
        for i in partial:
            low = min(invs[i]["failed"])
            nxt = invs[i + 1]["ids"][0].split(":", 1)[1]
            self.assertIn(nxt, (low, ids[ids.index(low) + 1]))
        for n in poison:
            tries = [inv for inv in invs if "orders:" + ids[n] in inv["ids"]]
            self.assertEqual(len(tries), 3)  # max_attempts
        self.assertEqual(sorted(e["recordId"] for e in dlq_stream_entries(c)),
                         sorted(ids[n] for n in poison))

    def test_no_loss_with_random_failures(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn(fail_rate=0.3, seed=7)
        n = 1000
        # One entry that always fails: its batch surely runs out of attempts (whether a batch
        # fails 3 times at random depends on how invocations meet the random draws).
        self.produce(c, "s1", n // 2, start=0,
                     extra=lambda i: {"fail": "true"} if i == 123 else {})
        self.produce(c, "s2", n // 2, start=n // 2)
        self.sluice(config(self, fn, r.port, ["s1", "s2"],
                           mapping={"batch": {"size": 25, "window": "0s"},
                                    "retry": {"max_attempts": 3,
                                              "backoff": {"min": "5ms", "max": "20ms"}}}))
        wait_until(lambda: pending(c, "s1") == 0 and pending(c, "s2") == 0
                   and self._accounted(c, fn) == n, timeout=180,
                   what="every entry delivered or dead-lettered")
        delivered = set(fn.delivered_keys())
        dead = {json.loads(e["payload"])["k"] for e in dlq_stream_entries(c)}
        self.assertEqual(delivered | dead, {str(i) for i in range(n)})
        self.assertFalse(delivered & dead)
        self.assertIn("123", dead)

    @staticmethod
    def _accounted(c, fn):
        dead = {json.loads(e["payload"])["k"] for e in dlq_stream_entries(c)}
        return len(set(fn.delivered_keys()) | dead)

    def test_filtered_entries_are_acked(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn()
        self.produce(c, "orders", 60, extra=lambda i: {"type": "keep" if i % 3 == 0 else "drop"})
        cfg = config(self, fn, r.port, ["orders"],
                     mapping={"filters": [{"data": {"type": ["keep"]}}]})
        s = self.sluice(cfg)
        wait_until(lambda: pending(c, "orders") == 0 and len(fn.delivered_keys()) >= 20,
                   what="kept entries delivered, all acked")
        wait_until(lambda: c.cmd("XINFO", "GROUPS", "orders")[0][9] == 60,
                   what="the group read all 60 entries")
        self.assertEqual(sorted(int(k) for k in fn.delivered_keys()), list(range(0, 60, 3)))
        self.assertEqual(pending(c, "orders"), 0)
        mx = s.metrics()
        self.assertEqual(mx['sluice_records_filtered_total{mapping="orders-to-fn"}'], 40)

    def test_max_deliveries_dead_letters_poison_before_dispatch(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn()
        c.cmd("XGROUP", "CREATE", "orders", "sluice-orders", "0", "MKSTREAM")
        bad = c.cmd("XADD", "orders", "*", "k", "0")
        # A crashed consumer read it 4 times (each XCLAIM counts one delivery).
        c.cmd("XREADGROUP", "GROUP", "sluice-orders", "ghost", "COUNT", "1", "STREAMS",
              "orders", ">")
        for _ in range(3):
            c.cmd("XCLAIM", "orders", "sluice-orders", "ghost", "0", bad)
        good = self.produce(c, "orders", 5, start=1)
        self.sluice(config(self, fn, r.port, ["orders"],
                           source={"max_deliveries": 3, "claim_idle": "300ms"}))
        wait_until(lambda: c.cmd("XLEN", "sluice-dlq") == 1 and pending(c, "orders") == 0,
                   what="the poison entry dead-lettered and acked")
        e = dlq_stream_entries(c)[0]
        self.assertEqual(e["condition"], "MaxDeliveriesExceeded")
        self.assertEqual(e["recordId"], bad)
        self.assertEqual(e["coordinates"]["deliveries"], 5)
        wait_until(lambda: len(fn.delivered()) >= 5, what="the good entries delivered")
        self.assertEqual(fn.delivered(), ["orders:" + i for i in good])
        self.assertNotIn("0", fn.delivered_keys())


if __name__ == "__main__":
    main()
