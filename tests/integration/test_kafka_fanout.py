"""One Kafka source read by several mappings (docs/ARCHITECTURE.md, "Fan-out"), on the mock
cluster: each mapping's reader has its own consumer group (`reader.group`, or the source's
group_id), both get every record, each commits its own offsets, and one mapping's failing
function sends its records to the DLQ without holding the other back."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import (KafkaTest, committed, produce, produced_keys,  # noqa: E402
                           record_id_key, watermarks)


class KafkaFanout(KafkaTest):
    TOPICS = ("events:3",)

    def fanout_config(self, fns, readers):
        cfg = self.config(fns[0])
        cfg["functions"] = [{"name": "fn%d" % i, "type": "http", "url": f.url, "timeout": "5s"}
                            for i, f in enumerate(fns)]
        base = cfg["mappings"][0]
        cfg["mappings"] = []
        for i, (name, reader) in enumerate(readers.items()):
            m = dict(base, name=name, function="fn%d" % i,
                     retry={"max_attempts": 2, "backoff": {"min": "5ms", "max": "20ms"}})
            if reader is not None:
                m["reader"] = reader
            cfg["mappings"].append(m)
        return cfg

    def wait_committed(self, group):
        marks = {p: h for p, h in watermarks(self.kafka.bootstrap, "events").items() if h > 0}
        harness.wait_until(lambda: all(committed(self.kafka.bootstrap, "events", group).get(p)
                                       == h for p, h in marks.items()),
                           timeout=60, what="group %s committed up to %s" % (group, marks))

    def test_two_mappings_both_get_every_record(self):
        a, b = self.kfn(), self.kfn()
        produce(self.kafka.bootstrap, "events", 90)
        produced = set(produced_keys(self.kafka.bootstrap, "events"))
        # "first" reads with the source's group_id, "second" with its own.
        s = self.sluice(self.fanout_config([a, b], {"first": None,
                                                    "second": {"group": "g-second"}}))
        harness.wait_until(lambda: a.delivered_keys() >= produced and
                           b.delivered_keys() >= produced, timeout=90,
                           what="both mappings: every record")
        self.assertEqual(a.delivered_keys(), produced)
        self.assertEqual(b.delivered_keys(), produced)
        self.wait_committed("sluice-test")
        self.wait_committed("g-second")
        mx = s.metrics()
        for m in ("first", "second"):
            self.assertEqual(mx['sluice_kafka_consumed_total{source="events",mapping="%s"}' % m],
                             90)
        st, _, body = s.admin("GET", "/v1/mappings")
        self.assertEqual(st, 200)
        self.assertIn(b'"groupId":"g-second"', body)
        self.assertIn(b'"groupId":"sluice-test"', body)
        s.terminate()

    def test_one_failing_mapping_dead_letters_the_other_delivers(self):
        ok, failing = self.kfn(), self.kfn(fail_rate=1.0)
        produce(self.kafka.bootstrap, "events", 60)
        produced = set(produced_keys(self.kafka.bootstrap, "events"))
        s = self.sluice(self.fanout_config([ok, failing], {"ok": {"group": "g-ok"},
                                                           "bad": {"group": "g-bad"}}))

        def dead(m):
            return {record_id_key(e["recordId"]) for e in s.dlq_entries(mapping=m)}
        harness.wait_until(lambda: ok.delivered_keys() >= produced and dead("bad") >= produced,
                           timeout=120, what="ok delivered everything, bad dead-lettered it")
        self.wait_committed("g-ok")
        self.wait_committed("g-bad")
        self.assertEqual(ok.delivered_keys(), produced)
        self.assertEqual(dead("ok"), set())
        self.assertEqual(dead("bad"), produced)
        self.assertEqual(failing.delivered_keys(), set())
        s.terminate()


if __name__ == "__main__":
    harness.main()
