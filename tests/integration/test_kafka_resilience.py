"""Kafka source under failures: kill -9 and restart (resume from committed offsets), group
members joining and leaving mid-stream, a broker down and back up, injected request errors.
Every test counts (topic, partition, offset): delivered + dead-lettered = produced."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import (API_FETCH, API_HEARTBEAT, API_OFFSET_COMMIT,  # noqa: E402
                           ERR_NOT_COORDINATOR, ERR_NOT_LEADER, ERR_REQUEST_TIMED_OUT,
                           KafkaTest, committed, produce, produce_async, produced_keys,
                           record_id_key, watermarks)


class KafkaResilience(KafkaTest):
    TOPICS = ("events:4",)

    def wait_all(self, fn, produced, sluices=(), timeout=120):
        want = set(produced)

        def done():
            dead = set()
            for s in sluices:
                dead |= set(record_id_key(i) for i in self.dead_lettered(s))
            return want <= (fn.delivered_keys() | dead)
        harness.wait_until(done, timeout=timeout, what="all %d records handled" % len(want))

    def wait_commits(self, group="sluice-test"):
        marks = {p: h for p, h in watermarks(self.kafka.bootstrap, "events").items() if h > 0}
        harness.wait_until(lambda: all(committed(self.kafka.bootstrap, "events", group).get(p)
                                       == h for p, h in marks.items()),
                           timeout=90, what="commits up to %s" % marks)

    def test_kill9_resumes_from_committed(self):
        fn = self.kfn(delay=0.01)
        produce(self.kafka.bootstrap, "events", 600)
        produced = produced_keys(self.kafka.bootstrap, "events")
        cfg = self.config(fn, mapping={"batch": {"size": 5, "window": "0s"}})
        s1 = self.sluice(cfg, name="first")
        harness.wait_until(lambda: len(fn.delivered()) >= 150, what="150 deliveries")
        s1.kill9()
        at_kill = committed(self.kafka.bootstrap, "events", "sluice-test")
        n_before = len(fn.invocations)
        self.assertTrue(any(v >= 0 for v in at_kill.values()), "nothing committed: %s" % at_kill)
        s2 = self.sluice(cfg, name="second")
        self.wait_all(fn, produced, (s2,))
        # The restart read each partition from its committed offset, not from the start.
        for inv in fn.invocations[n_before:n_before + 4]:
            if inv["records"]:
                t, p, o, n = inv["records"][0]
                if at_kill.get(p, -1) >= 0:
                    self.assertGreaterEqual(o, at_kill[p])
        self.assert_no_loss(produced, fn.delivered_keys())
        dup = len(fn.delivered()) - len(fn.delivered_keys())
        self.assertLess(dup, 300, "too many redeliveries (%d): not resumed from commits" % dup)
        self.wait_commits()

    def test_members_join_and_leave_mid_stream(self):
        # Production outpaces the function, so each member holds queued records when its
        # partitions are revoked: those must not be committed.
        fn = self.kfn(delay=0.1)
        total = 1500
        prod = produce_async(self.kafka.bootstrap, "events", total, rate=600)
        cfg = self.config(fn, mapping={"batch": {"size": 10, "window": "0s"}})

        def member(name):
            # One store per process: a store has one owner (its lock).
            own = dict(cfg, store=dict(cfg["store"], dir=os.path.join(self.workdir, name)))
            return self.sluice(own, name=name)

        a = member("a")
        b = member("b")
        harness.wait_until(lambda: len(fn.delivered()) >= 200, what="200 deliveries")
        c = member("c")
        c.out.wait_for(r"assigned [1-9]\d* partitions", timeout=60)
        harness.wait_until(lambda: len(fn.delivered()) >= 600, what="600 deliveries")
        self.assertEqual(b.terminate(), 0)  # leaves the group mid-stream
        self.assertEqual(prod.wait(120), 0, prod.stderr.read())
        prod.stdout.close()
        prod.stderr.close()
        produced = produced_keys(self.kafka.bootstrap, "events")
        self.assertEqual(len(produced), total)
        self.wait_all(fn, produced, (a, c))
        self.assert_no_loss(produced, fn.delivered_keys())
        self.assert_partition_order(fn)
        self.wait_commits()
        m = a.metrics()
        self.assertGreaterEqual(m['sluice_kafka_rebalances_total{source="events"}'], 3)

    def test_broker_down_and_up(self):
        fn = self.kfn(delay=0.01)
        # Broker 1 leads two partitions, so taking it down is seen by the fetchers (the mock
        # places leaders at random, and a broker that leads nothing may have no connection).
        for p in range(4):
            self.kafka.leader("events", p, 1 if p < 2 else 2 + p % 2)
        produce(self.kafka.bootstrap, "events", 400)
        produced = produced_keys(self.kafka.bootstrap, "events")
        cfg = self.config(fn, mapping={"batch": {"size": 5, "window": "0s"}})
        s = self.sluice(cfg)
        harness.wait_until(lambda: len(fn.delivered()) >= 40, what="40 deliveries")
        self.kafka.down(1)
        s.out.wait_for(r"source:kafka:events\].*(Connect to|Disconnected|refused|_TRANSPORT)",
                       timeout=60)
        n = len(fn.delivered())
        harness.wait_until(lambda: len(fn.delivered()) > n + 20, timeout=60,
                           what="partitions on the other brokers going on")
        self.kafka.up(1)
        self.wait_all(fn, produced, (s,))
        self.assert_no_loss(produced, fn.delivered_keys())
        self.assert_partition_order(fn)
        self.wait_commits()
        self.assertEqual(s.terminate(), 0)

    def test_injected_request_errors(self):
        fn = self.kfn(delay=0.005)
        produce(self.kafka.bootstrap, "events", 300)
        produced = produced_keys(self.kafka.bootstrap, "events")
        cfg = self.config(fn, mapping={"batch": {"size": 5, "window": "0s"}})
        s = self.sluice(cfg)
        harness.wait_until(lambda: len(fn.delivered()) >= 20, what="20 deliveries")
        self.kafka.errors(API_OFFSET_COMMIT, *([ERR_NOT_COORDINATOR] * 3 +
                                               [ERR_REQUEST_TIMED_OUT] * 3))
        self.kafka.errors(API_FETCH, *([ERR_NOT_LEADER] * 4))
        self.kafka.errors(API_HEARTBEAT, ERR_NOT_COORDINATOR, ERR_NOT_COORDINATOR)
        self.wait_all(fn, produced, (s,))
        self.assert_no_loss(produced, fn.delivered_keys())
        self.assert_partition_order(fn)
        self.wait_commits()
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    harness.main()
