"""Kafka tombstones (null values) against the librdkafka mock cluster and the real binary: the
function gets "value": null for a tombstone and "value": "" for an empty value, as Lambda gives
them; filters, DLQ entries (SQLite and Kafka sinks) and redrive keep the two apart."""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import KafkaMock, KafkaTest, dump, produce  # noqa: E402

TOMBSTONES = (1, 4)
EMPTIES = (2,)
N = 6


def values_by_offset(events):
    """offset -> the raw "value" member of every record of the events (last one wins)."""
    out = {}
    for ev in events:
        for items in ev.get("records", {}).values():
            for r in items:
                out[r["offset"]] = r["value"]
    return out


class KafkaTombstones(KafkaTest):
    TOPICS = ("events:1",)

    def produce(self):
        produce(self.kafka.bootstrap, "events", N, partition=0, tombstones=TOMBSTONES,
                empties=EMPTIES)
        got = {m["offset"]: m["value"] for m in dump(self.kafka.bootstrap, "events")}
        # The fixture made what the test means: null, empty, and ordinary values.
        self.assertEqual([o for o, v in got.items() if v is None], list(TOMBSTONES))
        self.assertEqual([o for o, v in got.items() if v == ""], list(EMPTIES))

    def assert_values(self, values):
        for o in range(N):
            if o in TOMBSTONES:
                self.assertIsNone(values[o], "offset %d is a tombstone" % o)
            elif o in EMPTIES:
                self.assertEqual(values[o], "", "offset %d has an empty value" % o)
            else:
                self.assertEqual(json.loads(base64.b64decode(values[o]))["n"], o)

    def test_event_values(self):
        fn = self.kfn()
        self.produce()
        s = self.sluice(self.config(fn, mapping={"batch": {"size": N, "window": "0s"}}))
        harness.wait_until(lambda: len(fn.delivered_keys()) == N, what="every record")
        self.assert_values(values_by_offset(fn.events))
        self.assertEqual(s.terminate(), 0)

    def test_filters_tell_null_from_empty(self):
        fn = self.kfn()
        self.produce()
        s = self.sluice(self.config(fn, mapping={
            "batch": {"size": N, "window": "0s"},
            "filters": [json.dumps({"value": [None]})]}))
        # {"value": [null]} matches the tombstones only, not the empty value.
        harness.wait_until(lambda: s.metrics().get(
            'sluice_records_filtered_total{mapping="orders-to-fn"}') == N - len(TOMBSTONES),
            what="the other records filtered out")
        harness.wait_until(lambda: len(fn.delivered_keys()) == len(TOMBSTONES),
                           what="the tombstones delivered")
        self.assertEqual(sorted(o for (_, _, o) in fn.delivered_keys()), list(TOMBSTONES))
        self.assertEqual(set(values_by_offset(fn.events).values()), {None})
        self.assertEqual(s.terminate(), 0)

    def test_dlq_entries_and_redrive(self):
        fn = self.kfn(fail_rate=1.0)
        self.produce()
        s = self.sluice(self.config(fn, mapping={
            "batch": {"size": N, "window": "0s"}, "retry": {"max_attempts": 1}}))
        harness.wait_until(lambda: len(s.dlq_entries()) == N, what="every record dead-lettered")
        for e in s.dlq_entries():
            o = int(e["recordId"].rsplit(":", 1)[1])
            shown = json.loads(s.cli("dlq", "show", e["id"]).stdout)
            self.assertNotIn("payloadBase64", shown)
            if o in TOMBSTONES:
                self.assertIsNone(shown["payload"], o)
            elif o in EMPTIES:
                self.assertEqual(shown["payload"], "", o)
            else:
                self.assertEqual(json.loads(shown["payload"])["n"], o)
        fn.fail_rate = 0.0
        before = len(fn.events)
        out = s.cli("dlq", "redrive", "--mapping", "orders-to-fn", "--rate", "100").stdout.decode()
        self.assertIn("redriven %d, failed 0" % N, out)
        self.assert_values(values_by_offset(fn.events[before:]))
        self.assertEqual(s.terminate(), 0)

    def test_kafka_dlq_keeps_tombstones(self):
        dlq = KafkaMock(["dlq-events:1"], brokers=1)
        self.addCleanup(dlq.stop)
        fn = self.kfn(fail_rate=1.0)
        self.produce()
        dlqs = [{"name": "kdlq", "type": "kafka", "bootstrap_servers": dlq.bootstrap,
                 "topic": "dlq-events"}]
        s = self.sluice(self.config(fn, dlqs=dlqs, mapping={
            "dlq": "kdlq", "batch": {"size": N, "window": "0s"},
            "retry": {"max_attempts": 1}}))

        def entries():
            return [m for m in dump(dlq.bootstrap, "dlq-events")
                    if any("sluice-entry" in h for h in m["headers"])]
        harness.wait_until(lambda: len(entries()) == N, timeout=90, what="N DLQ messages")
        by_offset = {}
        for m in entries():
            h = {k: base64.b64decode(v).decode() for d in m["headers"] for k, v in d.items()}
            by_offset[int(h["sluice-source-offset"])] = m["value"]
        self.assertEqual(sorted(by_offset), list(range(N)))
        self.assert_values(by_offset)
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    harness.main()
