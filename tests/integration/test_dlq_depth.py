"""sluice_dlq_depth for the sinks that count only their total: Redis (XLEN of the DLQ stream)
and Kafka (end offsets minus the sink group's committed offsets), against a real redis-server
and the librdkafka mock cluster. The mapping is the sink's only writer, so its depth is the
sink's total. No series on /metrics is ever -1."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import base_config, wait_until  # noqa: E402
from kafka_fixture import KafkaDlqTest, committed, produce, watermarks  # noqa: E402
from redis_fixture import RedisTest, redis_dlq, redis_source  # noqa: E402

DEPTH = 'sluice_dlq_depth{mapping="orders-to-fn"}'


def assert_no_negative(test, s):
    for name, value in s.metrics().items():
        test.assertGreaterEqual(value, 0, "%s reads %s" % (name, value))


class RedisDepth(RedisTest):
    def test_xlen_is_the_depth(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn()
        self.produce(c, "orders", 6, extra=lambda i: {"fail": "true"} if i in (1, 4) else {})
        s = self.sluice(base_config(self.workdir, fn.url, mapping={
            "dlq": "rdlq", "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 1, "backoff": {"min": "5ms", "max": "20ms"}},
        }, extra={"sources": [redis_source(r.port, ["orders"])],
                  "dlqs": [redis_dlq(r.port, maxlen=1000)]}))
        wait_until(lambda: c.cmd("XLEN", "sluice-dlq") == 2, what="two entries dead-lettered")
        wait_until(lambda: s.metrics().get(DEPTH) == 2, what="dlq depth 2")
        assert_no_negative(self, s)
        # Removed by another process (the CLI): the next refresh of XLEN sees it.
        self.assertIn("purged 2", s.cli("dlq", "purge", "--all").stdout.decode())
        wait_until(lambda: s.metrics().get(DEPTH) == 0, what="dlq depth 0")
        self.assertEqual(s.terminate(), 0)


class KafkaDepth(KafkaDlqTest):
    TOPICS = ("events:2",)

    def test_end_minus_committed_is_the_depth(self):
        fn = self.kfn()
        # Partition 1 gets nothing: its committed offset is never known (it read -1 before).
        produce(self.kafka.bootstrap, "events", 12, partition=0, poison=(2, 7, 9))
        s = self.sluice(self.config(fn, dlqs=[
            {"name": "kdlq", "type": "kafka", "bootstrap_servers": self.dlq_kafka.bootstrap,
             "topic": "dlq-events"}], mapping={
            "dlq": "kdlq", "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 1, "backoff": {"min": "10ms", "max": "50ms"}}}))
        harness.wait_until(lambda: s.metrics().get(DEPTH) == 3, timeout=90, what="dlq depth 3")
        harness.wait_until(lambda: [k for k in s.metrics()
                                    if k.startswith("sluice_kafka_committed_offset{")
                                    and 'partition="0"' in k], what="partition 0's commit known")
        m = s.metrics()
        self.assertEqual([k for k in m if k.startswith("sluice_kafka_committed_offset{")
                          and 'partition="1"' in k], [], "partition 1's is not: left out")
        assert_no_negative(self, s)
        fn.fixed = True
        out = s.cli("dlq", "redrive", "--mapping", "orders-to-fn", "--rate", "100").stdout.decode()
        self.assertIn("redriven 3, failed 0", out)
        # The CLI's removals committed the group's offsets over the removed entries; their
        # removal markers, after them, are still counted (end minus committed).
        def expected():
            marks = watermarks(self.dlq_kafka.bootstrap, "dlq-events")
            done = committed(self.dlq_kafka.bootstrap, "dlq-events", "sluice-dlq-kdlq")
            return sum(h - max(done.get(p, 0), 0) for p, h in marks.items())
        harness.wait_until(lambda: s.metrics().get(DEPTH) == expected() < 6, timeout=60,
                           what="dlq depth = end - committed, entries gone")
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    harness.main()
