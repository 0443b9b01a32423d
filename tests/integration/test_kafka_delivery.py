"""Kafka source: event shape, per-partition order under retries and bisect, partial batch
responses with object identifiers, no loss with a randomly failing function, oversized
records, commits of handled offsets."""
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import (KafkaTest, committed, produce, produced_keys,  # noqa: E402
                           record_id_key, watermarks)


class KafkaDelivery(KafkaTest):
    TOPICS = ("events:4", "other:1")

    def wait_handled(self, fn, produced, s=None, dead=0, timeout=90):
        def done():
            n = len(fn.delivered_keys() & set(produced))
            return n + dead >= len(produced) if not s else \
                n + len(s.dlq_entries()) >= len(produced)
        harness.wait_until(done, timeout=timeout, what="every record handled")

    def wait_committed(self, topic, group):
        marks = {p: h for p, h in watermarks(self.kafka.bootstrap, topic).items() if h > 0}

        def done():
            c = committed(self.kafka.bootstrap, topic, group)
            return all(c.get(p) == h for p, h in marks.items())
        harness.wait_until(done,
                           timeout=60, what="commits up to the high watermarks %s" % marks)

    def test_event_shape_and_commits(self):
        fn = self.kfn()
        produce(self.kafka.bootstrap, "events", 40, headers=True)
        produce(self.kafka.bootstrap, "other", 1, start=1000, keys=0, partition=0)
        produced = produced_keys(self.kafka.bootstrap, "events") + \
            produced_keys(self.kafka.bootstrap, "other")
        cfg = self.config(fn, topics=("events", "other"),
                          source={"rdkafka": {"sasl.password": "hunter2-secret",
                                              "client.id": "shape-test"}})
        s = self.sluice(cfg)
        self.wait_handled(fn, produced)
        self.assert_no_loss(produced, fn.delivered_keys())
        self.assert_partition_order(fn)

        ev = next(e for e in fn.events if any(k.startswith("events-") for k in e["records"]))
        self.assertEqual(ev["eventSource"], "SelfManagedKafka")
        self.assertEqual(ev["bootstrapServers"], self.kafka.bootstrap)
        self.assertNotIn("eventSourceArn", ev)
        self.assertEqual(len(ev["records"]), 1, "one partition per batch")
        key, recs = next(iter(ev["records"].items()))
        r = recs[0]
        self.assertEqual(key, "%s-%d" % (r["topic"], r["partition"]))
        self.assertEqual(sorted(r.keys()), sorted(["topic", "partition", "offset", "timestamp",
                                                   "timestampType", "key", "value", "headers"]))
        self.assertEqual(r["timestampType"], "CREATE_TIME")
        self.assertGreater(r["timestamp"], 1500000000000)
        self.assertTrue(base64.b64decode(r["key"]).startswith(b"k"))
        self.assertIn(b'"n":', base64.b64decode(r["value"]))
        self.assertEqual(r["headers"][1], {"h-bin": [-1, 0, -128]})
        name, val = next(iter(r["headers"][0].items()))
        self.assertEqual(name, "h-text")
        self.assertEqual(bytes(val), b"v%d" % json_n(r))
        # A null key is absent.
        other = [e for e in fn.events if "other-0" in e["records"]]
        if other:
            self.assertNotIn("key", other[0]["records"]["other-0"][0])

        self.wait_committed("events", "sluice-test")
        self.wait_committed("other", "sluice-test")
        # The broker holds the commit before sluice has read its confirmation: wait for that.
        lab = 'source="events",topic="events",partition="0"'
        high = watermarks(self.kafka.bootstrap, "events")[0]

        def confirmed():
            m = s.metrics()
            return m if m.get('sluice_kafka_committed_offset{%s}' % lab) == high else None
        m = harness.wait_until(confirmed, what="sluice_kafka_committed_offset %d" % high)
        self.assertEqual(m['sluice_kafka_lag{%s}' % lab], 0)
        self.assertIn('sluice_kafka_rebalances_total{source="events"}', m)
        status, _, body = s.admin("GET", "/v1/mappings")
        self.assertNotIn(b"hunter2", body)
        self.assertNotIn(b"hunter2", s.out.text().encode())
        self.assertEqual(s.terminate(), 0)

    def test_order_under_retries_and_bisect(self):
        fn = self.kfn()
        poison = (5, 17, 33)
        produce(self.kafka.bootstrap, "events", 60, poison=poison)
        produced = produced_keys(self.kafka.bootstrap, "events")
        cfg = self.config(fn, mapping={"batch": {"size": 8, "window": "0s"},
                                       "retry": {"max_attempts": 2, "bisect_on_error": True,
                                                 "backoff": {"min": "10ms", "max": "50ms"}}})
        s = self.sluice(cfg)
        self.wait_handled(fn, produced, s=s)
        dead = [record_id_key(i) for i in self.dead_lettered(s)]
        self.assertEqual(len(dead), len(poison))
        self.assertEqual(len(set(dead) & fn.delivered_keys()), 0)
        self.assert_no_loss(produced, fn.delivered_keys(), dead)
        self.assert_partition_order(fn)
        # First deliveries of each partition ascend: a retried batch blocks its lane.
        first = {}
        order = {}
        for (t, p, o, n) in fn.delivered():
            if (t, p, o) in first:
                continue
            first[(t, p, o)] = True
            order.setdefault((t, p), []).append(o)
        for tp, offs in order.items():
            self.assertEqual(offs, sorted(offs), "partition %s out of order" % (tp,))
        e = s.dlq_entries()[0]
        self.assertEqual(e["condition"], "RetryAttemptsExhausted")
        self.wait_committed("events", "sluice-test")

    def test_partial_batch_object_identifiers(self):
        fn = self.kfn(partial=True)
        poison = (3, 4, 20)
        produce(self.kafka.bootstrap, "events", 40, poison=poison)
        produced = produced_keys(self.kafka.bootstrap, "events")
        cfg = self.config(fn, mapping={"batch": {"size": 10, "window": "0s"},
                                       "retry": {"max_attempts": 2,
                                                 "report_batch_item_failures": True,
                                                 "backoff": {"min": "10ms", "max": "50ms"}}})
        s = self.sluice(cfg)
        self.wait_handled(fn, produced, s=s)
        dead = sorted(record_id_key(i) for i in self.dead_lettered(s))
        self.assertEqual(len(dead), len(poison), dead)
        self.assertTrue(any(inv["outcome"] == "partial" for inv in fn.invocations))
        self.assert_no_loss(produced, fn.delivered_keys(), dead)
        self.assert_partition_order(fn)
        self.wait_committed("events", "sluice-test")

    def test_no_loss_with_random_failures(self):
        fn = self.kfn(fail_rate=0.3, seed=7)
        produce(self.kafka.bootstrap, "events", 400)
        produced = produced_keys(self.kafka.bootstrap, "events")
        cfg = self.config(fn, mapping={"batch": {"size": 16, "window": "0s"},
                                       "max_inflight_records": 50,
                                       "retry": {"max_attempts": 2, "bisect_on_error": True,
                                                 "backoff": {"min": "1ms", "max": "10ms"}}})
        s = self.sluice(cfg)
        self.wait_handled(fn, produced, s=s)
        dead = [record_id_key(i) for i in self.dead_lettered(s)]
        self.assert_no_loss(produced, fn.delivered_keys(), dead)
        self.assert_partition_order(fn)
        self.wait_committed("events", "sluice-test")
        self.assertEqual(s.terminate(), 0)

    def test_pause_at_inflight_caps(self):
        # A function that fails for a while: the lanes block, the in-flight cap is reached and
        # the source pauses, long enough for the partitions to be paused in librdkafka; then
        # it recovers: everything is delivered once resumed, in order, nothing lost.
        fn = self.kfn(fail_rate=1.0)
        produce(self.kafka.bootstrap, "events", 400)
        produced = produced_keys(self.kafka.bootstrap, "events")
        cfg = self.config(fn, mapping={"batch": {"size": 10, "window": "0s"},
                                       "max_inflight_records": 40,
                                       "retry": {"max_attempts": 1000,
                                                 "backoff": {"min": "50ms", "max": "100ms"}}})
        s = self.sluice(cfg)
        s.out.wait_for(r"pausing the partitions in librdkafka", timeout=60)
        fn.fail_rate = 0.0
        self.wait_handled(fn, produced, s=s)
        self.assertEqual(s.dlq_entries(), [])
        self.assert_no_loss(produced, fn.delivered_keys())
        self.assert_partition_order(fn)
        self.wait_committed("events", "sluice-test")
        self.assertEqual(s.terminate(), 0)

    def test_oversized_record_dead_lettered(self):
        fn = self.kfn()
        produce(self.kafka.bootstrap, "events", 1, start=0, partition=0, size=100)
        produce(self.kafka.bootstrap, "events", 1, start=1, partition=0, size=6000)
        produce(self.kafka.bootstrap, "events", 1, start=2, partition=0, size=100)
        produced = produced_keys(self.kafka.bootstrap, "events")
        cfg = self.config(fn, mapping={"batch": {"size": 10, "window": "0s",
                                                 "max_bytes": "4KB"}})
        s = self.sluice(cfg)
        self.wait_handled(fn, produced, s=s)
        entries = s.dlq_entries()
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0]["condition"], "MaximumPayloadSizeExceeded")
        self.assertEqual(record_id_key(entries[0]["recordId"]), ("events", 0, 1))
        self.assert_no_loss(produced, fn.delivered_keys(),
                            [record_id_key(e["recordId"]) for e in entries])
        self.wait_committed("events", "sluice-test")

    def test_tiny_prefetch_queue_loses_nothing(self):
        # A prefetch queue of a few messages on every partition: librdkafka stops and restarts
        # fetching all the time (and sluice wakes fetchers left asleep, see docs/KAFKA.md).
        # Whatever the timing, every record is delivered once in order and committed. (The
        # stops themselves are a performance matter: bench/kafka.py measures the longest.)
        fn = self.kfn()
        produce(self.kafka.bootstrap, "events", 2000, size=200)
        produced = produced_keys(self.kafka.bootstrap, "events")
        cfg = self.config(fn, source={"rdkafka": {"queued.min.messages": "1",
                                                  "queued.max.messages.kbytes": "8",
                                                  "max.partition.fetch.bytes": "2048"}},
                          mapping={"batch": {"size": 50, "window": "0s"}})
        self.sluice(cfg)
        self.wait_handled(fn, produced)
        self.assert_no_loss(produced, fn.delivered_keys())
        self.assert_partition_order(fn)
        self.wait_committed("events", "sluice-test")

def json_n(r):
    import json
    return json.loads(base64.b64decode(r["value"]))["n"]


if __name__ == "__main__":
    harness.main()
