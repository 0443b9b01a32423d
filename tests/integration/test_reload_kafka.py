"""A reload under load with a Kafka source: the mapping's batch size changes while records keep
arriving; the old consumer commits what was handled and leaves its group before the new one
joins, every record produced is delivered and duplicates stay within one in-flight batch per
partition. Mock cluster, the real binary."""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import KafkaTest, produce_async, produced_keys  # noqa: E402

MAPPING = "orders-to-fn"
BATCH = 10
PARTITIONS = 4


class KafkaReload(KafkaTest):
    TOPICS = ("events:%d" % PARTITIONS,)

    def test_changed_mapping_under_load(self):
        fn = self.kfn()
        cfg = self.config(fn, mapping={"batch": {"size": BATCH, "window": "20ms"}})
        s = self.sluice(cfg)
        producer = produce_async(self.kafka.bootstrap, "events", 3000, rate=500)
        harness.wait_until(lambda: len(fn.delivered()) >= 300, what="deliveries before")

        new = json.loads(json.dumps(cfg))
        new["mappings"][0]["batch"]["size"] = 4
        with open(s.config_path, "w") as f:
            f.write(harness.to_yaml(new) + "\n")
        mark = len(s.out.lines)
        status, _, data = s.admin("POST", "/v1/reload")
        self.assertEqual(status, 200, data)
        body = json.loads(data)
        self.assertIn({"kind": "mapping", "name": MAPPING, "change": "changed",
                       "key": "mappings[0].batch.size"}, body["changes"])
        s.out.wait_for(r"\[mapping:%s\] started: events -> fn \(batch 4," % MAPPING, start=mark)
        # The old consumer left its group before the new one joined.
        log = "\n".join(s.out.lines[mark:])
        self.assertIn("[reload] mapping %s drained" % MAPPING, log)

        _, err = producer.communicate(timeout=120)
        self.assertEqual(producer.returncode, 0, err)
        produced = produced_keys(self.kafka.bootstrap, "events")
        self.assertEqual(len(produced), 3000)
        harness.wait_until(lambda: fn.delivered_keys() >= set(produced), timeout=120,
                           what="every produced record delivered")
        self.assert_no_loss(produced, fn.delivered_keys())
        keys = [r[:3] for r in fn.delivered()]
        dups = sum(n - 1 for n in collections.Counter(keys).values() if n > 1)
        self.assertLessEqual(dups, BATCH * PARTITIONS,
                             "more duplicates than one in-flight batch per partition")
        # The old consumer's partition gauges are gone; the new one's are there once each.
        text = s.admin("GET", "/metrics")[2].decode()
        lags = [l for l in text.splitlines() if l.startswith("sluice_kafka_lag{")]
        self.assertLessEqual(len(lags), PARTITIONS, lags)
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    harness.main()
