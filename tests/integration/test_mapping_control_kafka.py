"""A disabled mapping keeps its Kafka source's position: it stops reading (nothing new is
delivered, the lag counts what is produced meanwhile), the batches in flight finish and exactly
their offsets are committed, and enabling
reads on from the committed position: delivered = produced, none twice. librdkafka's mock
cluster, the real binary."""
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import KafkaTest, committed, produce, produced_keys  # noqa: E402

MAPPING = "orders-to-fn"


class KafkaMappingControl(KafkaTest):
    def mapping(self, s):
        return harness.json_body(s.admin("GET", "/v1/mappings/" + MAPPING)[2])

    def state(self, s):
        return self.mapping(s)["State"]

    def test_disable_holds_the_offsets_then_enable_reads_on(self):
        fn = self.kfn(delay=0.02)
        produce(self.kafka.bootstrap, "events", 400)
        s = self.sluice(self.config(fn, mapping={"batch": {"size": 10, "window": "0s"}}))
        harness.wait_until(lambda: len(fn.delivered()) >= 50, what="50 deliveries")
        # Every partition has a committed position (the lag of one without any is unknown).
        harness.wait_until(lambda: len([k for k in s.metrics()
                                        if k.startswith("sluice_kafka_committed_offset{")]) == 4,
                           what="a confirmed commit on each partition")
        status, _, data = s.admin("POST", "/v1/mappings/%s/disable" % MAPPING)
        self.assertEqual(status, 200, data)
        harness.wait_until(lambda: self.state(s) == "Disabled", what="Disabled")
        before = len(fn.delivered())
        # What was handled is committed, and only that: the group's position is kept there.
        handled = {}
        for _, p, off in fn.delivered_keys():
            handled[p] = max(handled.get(p, 0), off + 1)
        harness.wait_until(lambda: {p: o for p, o in committed(
            self.kafka.bootstrap, "events", "sluice-test").items() if o > 0} == handled,
            what="the handled offsets committed")
        produce(self.kafka.bootstrap, "events", 100, start=400)
        produced = produced_keys(self.kafka.bootstrap, "events")
        self.assertEqual(len(produced), 500)
        # The lag shows what waits at the cluster, though nothing is fetched (the watermarks
        # of paused partitions are read by a ListOffsets request every 2 s).
        unread = 500 - len(fn.delivered_keys())
        harness.wait_until(lambda: self.mapping(s)["lagRecords"] == unread,
                           what="lagRecords %d while disabled" % unread)
        self.assertEqual(len(fn.delivered()), before)
        self.assertEqual(self.state(s), "Disabled")

        status, _, data = s.admin("POST", "/v1/mappings/%s/enable" % MAPPING)
        self.assertEqual(status, 200, data)
        harness.wait_until(lambda: fn.delivered_keys() >= set(produced),
                           what="all 500 delivered")
        self.assert_no_loss(produced, fn.delivered_keys())
        dups = [k for k, n in collections.Counter(r[:3] for r in fn.delivered()).items()
                if n > 1]
        self.assertEqual(dups, [])
        self.assert_partition_order(fn)
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    harness.main()
