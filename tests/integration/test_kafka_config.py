"""Kafka source and sink configuration: clear errors (unknown rdkafka property, no topics,
keys sluice owns, a bad starting time), secrets never shown, and the starting positions
(earliest, latest, at a time) applying only when the group has no committed offset."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import KafkaTest, committed, produce, produced_keys  # noqa: E402


class KafkaConfig(KafkaTest):
    TOPICS = ("events:2",)

    def validate(self, cfg):
        s = harness.Sluice(self.workdir, cfg, name="v")
        p = subprocess.run([harness.SLUICE, "validate", "-c", s.config_path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return p.returncode, (p.stdout + p.stderr).decode()

    def test_errors(self):
        fn = self.kfn()
        cases = [
            ({"rdkafka": {"no.such.property": "1"}},
             "sources[0].rdkafka.no.such.property: not a librdkafka property"),
            ({"topics": None}, "sources[0]: no topics"),
            ({"topics": [], "topic_regex": None}, "sources[0]: no topics"),
            ({"rdkafka": {"enable.auto.commit": "true"}},
             "sources[0].rdkafka.enable.auto.commit: set by sluice"),
            ({"rdkafka": {"group.id": "x"}}, "use sources[0].group_id instead"),
            ({"starting_position": "at"}, "sources[0].starting_timestamp: missing"),
            ({"starting_position": "at", "starting_timestamp": "yesterday"},
             "sources[0].starting_timestamp: \"yesterday\" is not a time"),
            ({"topic_regex": "(", "topics": None}, "sources[0].topic_regex"),
            ({"rdkafka": {"sasl.password": {"nested": 1}}}, "sources[0].rdkafka.sasl.password"),
            ({"rdkafka": {"ssl.key.password": "hunter2", "socket.timeout.ms": "-5"}},
             "sources[0].rdkafka.socket.timeout.ms"),
        ]
        for src, want in cases:
            cfg = self.config(fn, source=src)
            for k, v in src.items():
                if v is None:
                    cfg["sources"][0].pop(k, None)
            rc, out = self.validate(cfg)
            self.assertNotEqual(rc, 0, "accepted %s" % src)
            self.assertIn(want, out, "for %s" % src)
            self.assertNotIn("hunter2", out)
        # The DLQ sink's keys are checked the same way.
        cfg = self.config(fn, dlqs=[{"name": "k", "type": "kafka", "bootstrap_servers": "x:1",
                                     "topic": "d", "rdkafka": {"bogus.key": "1"}}],
                          mapping={"dlq": "k"})
        rc, out = self.validate(cfg)
        self.assertNotEqual(rc, 0)
        self.assertIn("dlqs[0].rdkafka.bogus.key: not a librdkafka property", out)
        cfg = self.config(fn, dlqs=[{"name": "k", "type": "kafka", "bootstrap_servers": "x:1"}],
                          mapping={"dlq": "k"})
        rc, out = self.validate(cfg)
        self.assertNotEqual(rc, 0)
        self.assertIn("dlqs[0].topic", out)
        # A good config validates.
        rc, out = self.validate(self.config(fn, source={"rdkafka": {"sasl.password": "hunter2",
                                                                    "client.id": "ok"}}))
        self.assertEqual(rc, 0, out)
        self.assertNotIn("hunter2", out)

    def test_starting_positions(self):
        fn = self.kfn()
        produce(self.kafka.bootstrap, "events", 10, start=0)
        # earliest: everything; latest: only what comes after the group's first assignment.
        s = self.sluice(self.config(fn, group="g-latest", source={"starting_position": "latest"}),
                        name="latest")
        s.out.wait_for(r"assigned 2 partitions", timeout=60)
        # "latest" is resolved when the partitions start fetching: keep producing until a new
        # record arrives (no fixed wait), then check that none of the first 10 did.
        nxt = [100]

        def new_record_seen():
            if any(r[3] >= 100 for r in fn.delivered()):
                return True
            produce(self.kafka.bootstrap, "events", 1, start=nxt[0])
            nxt[0] += 1
            return False
        harness.wait_until(new_record_seen, interval=0.2, what="a record produced after start")
        self.assertEqual({r[3] for r in fn.delivered()} & set(range(10)), set())
        self.assertEqual(s.terminate(), 0)

        # at: from the first offset at or after a time, when the group has no commits. The
        # 2.0.2 mock cluster does not look offsets up by time (its ListOffsets answers -1, "no
        # record at or after it"), so here the partitions start at their end: what was
        # produced before is skipped, what comes after is delivered.
        fn2 = self.kfn()
        cfg = self.config(fn2, group="g-at", source={"starting_position": "at",
                                                     "starting_timestamp": "-1m"})
        s2 = self.sluice(cfg, name="at")
        s2.out.wait_for(r"events-\d has no committed offset: starting at offset -1", timeout=60)
        nxt2 = [200]

        def at_record_seen():
            if any(r[3] >= 200 for r in fn2.delivered()):
                return True
            produce(self.kafka.bootstrap, "events", 1, start=nxt2[0])
            nxt2[0] += 1
            return False
        harness.wait_until(at_record_seen, interval=0.2, what="a record produced after start")
        self.assertEqual({r[3] for r in fn2.delivered()} & set(range(200)), set())
        # The next start relies on a commit in every partition: keep producing until both have
        # one (on a busy machine the first new record can come long before the other
        # partition's).
        def both_committed():
            c = committed(self.kafka.bootstrap, "events", "g-at")
            if len([o for o in c.values() if o is not None and o >= 0]) >= 2:
                return True
            at_record_seen()
            produce(self.kafka.bootstrap, "events", 1, start=nxt2[0])
            nxt2[0] += 1
            return False
        harness.wait_until(both_committed, interval=0.3, what="a commit in both partitions")
        self.assertEqual(s2.terminate(), 0)
        # Committed offsets win over `at` on the next start.
        produce(self.kafka.bootstrap, "events", 3, start=300)
        fn3 = self.kfn()
        cfg = self.config(fn3, group="g-at", source={"starting_position": "at",
                                                     "starting_timestamp": "-1h"})
        self.sluice(cfg, name="at2")
        harness.wait_until(lambda: {r[3] for r in fn3.delivered()} >= {300, 301, 302},
                           what="new records")
        # Nothing from before the group's commits (`at` -1h would start with records 0-9 and
        # 100+); the last records of the previous run may come again (at least once).
        self.assertEqual({r[3] for r in fn3.delivered()
                          if r[3] not in (300, 301, 302) and r[3] < 200}, set())
        self.assertEqual(len(produced_keys(self.kafka.bootstrap, "events")),
                         13 + nxt[0] - 100 + nxt2[0] - 200)


if __name__ == "__main__":
    harness.main()
