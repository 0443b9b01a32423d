"""Kafka DLQ sink: one message per failed record (original key and value, error headers, the
whole entry), source offsets committed only after the DLQ write is acknowledged (a DLQ
cluster that is down blocks the lane), `dlq list/show/redrive` through the sink's own
consumer group, and the Lambda on-failure value format."""
import base64
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import (KafkaDlqTest, committed, dump, produce,  # noqa: E402
                           produced_keys, watermarks)


def headers_of(msg):
    out = {}
    for h in msg["headers"]:
        (k, v), = h.items()
        out[k] = base64.b64decode(v).decode()
    return out


class KafkaDlq(KafkaDlqTest):
    TOPICS = ("events:4",)

    def dlq_cfg(self, fn, value_format="original"):
        dlqs = [{"name": "kdlq", "type": "kafka", "bootstrap_servers": self.dlq_kafka.bootstrap,
                 "topic": "dlq-events", "value_format": value_format,
                 "rdkafka": {"sasl.password": "dlq-hunter2"}}]
        return self.config(fn, dlqs=dlqs, mapping={
            "dlq": "kdlq", "batch": {"size": 5, "window": "0s"},
            "retry": {"max_attempts": 2, "bisect_on_error": True,
                      "backoff": {"min": "10ms", "max": "50ms"}}})

    def dlq_messages(self):
        return [m for m in dump(self.dlq_kafka.bootstrap, "dlq-events")
                if "sluice-entry" in headers_of(m)]

    def logged_ids(self, s):
        return re.findall(r"dead-lettered to kdlq as (\S+) ", s.out.text())

    def test_round_trip_and_redrive(self):
        fn = self.kfn()
        poison = (4, 11, 23)
        produce(self.kafka.bootstrap, "events", 30, poison=poison, headers=True)
        source = {(m["partition"], m["offset"]): m for m in dump(self.kafka.bootstrap, "events")}
        produced = [("events", p, o) for (p, o) in source]
        s = self.sluice(self.dlq_cfg(fn))
        harness.wait_until(lambda: len(self.dlq_messages()) == len(poison), timeout=90,
                           what="3 DLQ messages")
        harness.wait_until(lambda: len(fn.delivered_keys()) == len(produced) - len(poison),
                           timeout=60, what="the other records delivered")
        msgs = self.dlq_messages()
        dead = []
        for m in msgs:
            h = headers_of(m)
            key = (int(h["sluice-source-partition"]), int(h["sluice-source-offset"]))
            orig = source[key]
            dead.append(("events",) + key)
            self.assertEqual(h["sluice-source-topic"], "events")
            self.assertEqual(h["sluice-mapping"], "orders-to-fn")
            self.assertEqual(h["sluice-condition"], "RetryAttemptsExhausted")
            # Bisect rounds count in the history too.
            self.assertGreaterEqual(int(h["sluice-attempts"]), 2)
            self.assertIn("function error", h["sluice-last-error"])
            self.assertIn("sluice-time", h)
            self.assertEqual(m["key"], orig["key"], "the original key is kept")
            self.assertEqual(m["value"], orig["value"], "the value is the original value")
            entry = json.loads(h["sluice-entry"])
            self.assertEqual(entry["attemptCount"], int(h["sluice-attempts"]))
            self.assertIn('"fail":true', entry["payload"])
        self.assert_no_loss(produced, fn.delivered_keys(), dead)
        # Offsets are committed past the dead-lettered records only once they are stored.
        marks = watermarks(self.kafka.bootstrap, "events")
        harness.wait_until(lambda: all(committed(self.kafka.bootstrap, "events", "sluice-test")
                                       .get(p) == h for p, h in marks.items() if h > 0),
                           timeout=60, what="source commits")

        listed = s.dlq_entries()
        self.assertEqual(len(listed), len(poison))
        # Admin pages of two (the reader consumer, on the admin worker thread).
        pages = s.dlq_pages(2)
        self.assertEqual([len(p) for p in pages], [2, 1])
        self.assertEqual([e["id"] for p in pages for e in p], [e["id"] for e in listed])
        # The ids listed are the ids logged when the records were dead-lettered, and the
        # entry ids in the messages' headers.
        self.assertEqual(sorted(e["id"] for e in listed), sorted(self.logged_ids(s)))
        self.assertEqual(sorted(e["id"] for e in listed),
                         sorted(headers_of(m)["sluice-entry-id"] for m in msgs))
        for e in listed:
            st, _, d = s.admin("GET", "/v1/dlq/" + e["id"])
            self.assertEqual(st, 200, d)
            self.assertEqual(json.loads(d)["id"], e["id"])
            # The record's id finds it too, and so does its place in the DLQ topic.
            by_record = json.loads(s.cli("dlq", "show", e["recordId"]).stdout)
            self.assertEqual(by_record["id"], e["id"])
        m0 = msgs[0]
        by_place = json.loads(s.cli("dlq", "show", "%d:%d" % (m0["partition"], m0["offset"]))
                              .stdout)
        self.assertEqual(by_place["id"], headers_of(m0)["sluice-entry-id"])
        shown = json.loads(s.cli("dlq", "show", listed[0]["id"]).stdout)
        self.assertEqual(shown["condition"], "RetryAttemptsExhausted")
        self.assertEqual(shown["coordinates"]["topic"], "events")
        # The on-failure record carries Lambda's KafkaBatchInfo (one record).
        info = shown["onFailure"]["KafkaBatchInfo"]
        self.assertEqual(info["batchSize"], 1)
        self.assertEqual(info["bootstrapServers"], self.kafka.bootstrap)
        self.assertEqual(info["payloadSize"], len(shown["payload"].encode()))
        tp = "events-%d" % shown["coordinates"]["partition"]
        off = str(shown["coordinates"]["offset"])
        self.assertEqual(info["recordsInfo"], {tp: {
            "firstRecordOffset": off, "lastRecordOffset": off,
            "firstRecordTimestamp": shown["recordTime"],
            "lastRecordTimestamp": shown["recordTime"]}})
        self.assertIn("fail", shown["payload"])
        self.assertNotIn("dlq-hunter2", s.cli("dlq", "list").stdout.decode())

        # A fix is deployed; redrive sends them back and removes them.
        fn.fixed = True
        before = len(fn.invocations)
        out = s.cli("dlq", "redrive", "--mapping", "orders-to-fn", "--rate", "100").stdout.decode()
        self.assertIn("redriven 3, failed 0", out)
        redriven = set()
        for inv in fn.invocations[before:]:
            redriven |= set(r[:3] for r in inv["records"])
        self.assertEqual(redriven, set(dead))
        self.assertEqual(s.dlq_entries(), [])
        # The sink's group committed over the removed entries.
        dmarks = {}
        for m in msgs:
            dmarks[m["partition"]] = max(dmarks.get(m["partition"], 0), m["offset"] + 1)
        got = committed(self.dlq_kafka.bootstrap, "dlq-events", "sluice-dlq-kdlq")
        for p, o in dmarks.items():
            self.assertGreaterEqual(got[p], o)
        self.assertEqual(s.terminate(), 0)

    def test_dlq_down_blocks_lane_then_recovers(self):
        fn = self.kfn()
        self.dlq_kafka.down(1)
        produce(self.kafka.bootstrap, "events", 12, partition=2, poison=(3,))
        produced = produced_keys(self.kafka.bootstrap, "events")
        s = self.sluice(self.dlq_cfg(fn))
        # Everything before the poison record is delivered; the lane then blocks on the DLQ.
        harness.wait_until(lambda: {o for (_, _, o) in fn.delivered_keys()} >= {0, 1, 2},
                           timeout=60, what="records before the poison one")
        harness.wait_until(lambda: sum(1 for inv in fn.invocations
                                       if ("events", 2, 3) in set(r[:3] for r in inv["records"]))
                           >= 2, what="the poison record failing twice")
        # Its DLQ write cannot be acknowledged: the lane is blocked behind it, and the commit
        # covers exactly what precedes it.
        harness.wait_until(lambda: committed(self.kafka.bootstrap, "events", "sluice-test")
                           .get(2) == 3, what="records 0..2 committed")
        self.assertEqual({o for (_, _, o) in fn.delivered_keys()} & set(range(4, 12)), set(),
                         "records after a record whose DLQ write is not acked were delivered")
        self.assertEqual(committed(self.kafka.bootstrap, "events", "sluice-test").get(2), 3)
        self.dlq_kafka.up(1)
        harness.wait_until(lambda: len(self.dlq_messages()) == 1, timeout=120,
                           what="the DLQ write after the broker came back")
        harness.wait_until(lambda: committed(self.kafka.bootstrap, "events", "sluice-test")
                           .get(2) == 12, timeout=180, what="commit past the poison record")
        self.assert_no_loss(produced, fn.delivered_keys(), [("events", 2, 3)])

    def test_lambda_value_format(self):
        fn = self.kfn()
        produce(self.kafka.bootstrap, "events", 3, partition=1, poison=(1,))
        s = self.sluice(self.dlq_cfg(fn, value_format="lambda"))
        harness.wait_until(lambda: len(self.dlq_messages()) == 1, timeout=90, what="DLQ message")
        m = self.dlq_messages()[0]
        rec = json.loads(base64.b64decode(m["value"]))
        self.assertEqual(rec["requestContext"]["condition"], "RetryAttemptsExhausted")
        self.assertGreaterEqual(rec["requestContext"]["approximateInvokeCount"], 2)
        self.assertEqual(rec["responseContext"]["functionError"], "Unhandled")
        self.assertEqual(rec["version"], "1.0")
        info = rec["KafkaBatchInfo"]
        self.assertEqual(info["batchSize"], 1)
        self.assertEqual(info["bootstrapServers"], self.kafka.bootstrap)
        self.assertEqual(info["recordInfo"]["offset"], "1")
        ev = rec["payload"]
        self.assertEqual(ev["eventSource"], "SelfManagedKafka")
        r = ev["records"]["events-1"][0]
        self.assertEqual(r["offset"], 1)
        self.assertIn(b'"fail":true', base64.b64decode(r["value"]))
        listed = s.dlq_entries()
        self.assertEqual(len(listed), 1)
        # One id: the one logged, listed, shown, and the value's requestId.
        s.out.wait_for(r"dead-lettered to kdlq as ")
        self.assertEqual(self.logged_ids(s), [listed[0]["id"]])
        self.assertEqual(rec["requestContext"]["requestId"], listed[0]["id"])
        shown = json.loads(s.cli("dlq", "show", rec["requestContext"]["requestId"]).stdout)
        self.assertEqual(shown["onFailure"]["requestContext"]["requestId"], listed[0]["id"])
        # Purged by that id: gone.
        out = s.cli("dlq", "purge", "--id", listed[0]["id"]).stdout.decode()
        self.assertIn("purged 1", out)
        self.assertEqual(s.dlq_entries(), [])


if __name__ == "__main__":
    harness.main()
