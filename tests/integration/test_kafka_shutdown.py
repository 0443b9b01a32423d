"""A hard drain deadline: SIGTERM while the Kafka cluster, the function and the DLQ are all
unreachable ends sluice within shutdown.drain_timeout plus a margin, with exit status 75
(records left unacknowledged), not through the watchdog; nothing is lost: no offset is committed
past a record that was not handled, and a restart delivers every record."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import (KafkaFn, KafkaTest, committed, produce,  # noqa: E402
                           produced_keys)

DRAIN_S = 2
# Generous for a loaded machine: sluice itself closes within about 1 s after the deadline, and
# its watchdog would end it 5 s after the deadline.
MARGIN_S = 8
GROUP = "sluice-test"


class HangingFn(KafkaFn):
    """A KafkaFn that can stop answering: once `hang` is set, every call is accepted and never
    answered until `release` is set (at teardown, or to let a restart go on)."""

    def __init__(self, **kw):
        self.hang = threading.Event()
        self.release = threading.Event()
        self.hung_calls = 0
        super().__init__(**kw)

    def _invoke(self, body):
        if self.hang.is_set():
            with self.lock:
                self.hung_calls += 1
            self.release.wait()
            return 503, {}, b'{"errorMessage":"released"}'
        return KafkaFn._invoke(self, body)

    def answer_again(self):
        self.hang.clear()
        self.release.set()

    def stop(self):
        self.release.set()
        KafkaFn.stop(self)


class KafkaShutdown(KafkaTest):
    TOPICS = ("events:4", "dlq-events:1")

    def setUp(self):
        super().setUp()
        self.frozen = False

    def tearDown(self):
        if self.frozen:
            os.kill(self.kafka.proc.pid, signal.SIGCONT)
        super().tearDown()

    def hanging_fn(self, **kw):
        f = HangingFn(**kw)
        self._kfns.append(f)
        return f

    def shutdown_config(self, fn, dlq):
        cfg = self.config(fn, dlqs=[dlq], mapping={
            "dlq": dlq["name"], "batch": {"size": 20, "window": "0s"},
            # A call that times out dead-letters its records at once: the DLQ is reached.
            "retry": {"max_attempts": 1}})
        cfg["functions"][0]["timeout"] = "1s"
        cfg["shutdown"] = {"drain_timeout": "%ds" % DRAIN_S}
        cfg["log"] = {"level": "info"}
        return cfg

    def stop_within_deadline(self, s):
        """SIGTERM; sluice must exit by DRAIN_S + MARGIN_S with EXIT_ABANDONED, on its own."""
        s.expected_exit = harness.EXIT_ABANDONED
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        try:
            rc = s.proc.wait(DRAIN_S + MARGIN_S)
        except Exception:
            s.kill9()
            self.fail("sluice still running %d s after SIGTERM (drain_timeout %d s); last "
                      "lines:\n%s" % (DRAIN_S + MARGIN_S, DRAIN_S, "\n".join(s.out.lines[-30:])))
        elapsed = time.monotonic() - t0
        s.out.join(5)
        text = s.out.text()
        self.assertEqual(rc, harness.EXIT_ABANDONED, text[-3000:])
        self.assertLessEqual(elapsed, DRAIN_S + MARGIN_S)
        self.assertIn("drain deadline reached", text)
        self.assertNotIn("shutdown watchdog", text, "the watchdog, not the bounded close, ended "
                                                    "sluice")
        return text

    def assert_nothing_committed_past_unhandled(self, fn, dead=()):
        """At-least-once held: every offset below a committed position was handled."""
        handled = fn.delivered_keys() | set(dead)
        for p, pos in committed(self.kafka.bootstrap, "events", GROUP).items():
            missing = [o for o in range(max(pos, 0)) if ("events", p, o) not in handled]
            self.assertEqual(missing, [], "partition %d committed at %d past records never "
                                          "handled: %s" % (p, pos, missing[:10]))

    def restart_delivers_everything(self, fn, cfg, produced):
        fn.answer_again()
        s2 = self.sluice(cfg, name="after")
        harness.wait_until(lambda: set(produced) <= fn.delivered_keys(), timeout=180,
                           what="all %d records delivered after the restart" % len(produced))
        self.assert_no_loss(produced, fn.delivered_keys())
        # With everything reachable, a stop drains and exits 0.
        self.assertEqual(s2.terminate(), harness.EXIT_OK)

    def test_frozen_cluster_hung_function_redis_dlq_down(self):
        # The cluster stops answering (SIGSTOP: its sockets accept and never reply) while
        # handled offsets are still to be committed: the case where consumer close never
        # returned. The function then hangs and the Redis DLQ refuses connections.
        fn = self.hanging_fn(delay=0.005)
        produce(self.kafka.bootstrap, "events", 6000)
        produced = produced_keys(self.kafka.bootstrap, "events")
        dlq = {"name": "rdlq", "type": "redis", "host": "127.0.0.1", "port": harness.free_port(),
               "stream": "sluice-dlq"}
        cfg = self.shutdown_config(fn, dlq)
        s = self.sluice(cfg)
        harness.wait_until(lambda: len(fn.delivered()) >= 1500, timeout=120,
                           what="1500 deliveries")
        harness.wait_until(lambda: any(v > 0 for v in committed(
            self.kafka.bootstrap, "events", GROUP).values()), what="a first commit")
        os.kill(self.kafka.proc.pid, signal.SIGSTOP)
        self.frozen = True
        n = len(fn.delivered())
        harness.wait_until(lambda: len(fn.delivered()) >= n + 100, timeout=60,
                           what="records handled after the freeze (commits left unconfirmed)")
        fn.hang.set()
        s.out.wait_for(r"DLQ write to rdlq failed", timeout=60)
        self.assertGreater(fn.hung_calls, 0)
        self.stop_within_deadline(s)

        os.kill(self.kafka.proc.pid, signal.SIGCONT)
        self.frozen = False
        self.assert_nothing_committed_past_unhandled(fn)
        self.restart_delivers_everything(fn, cfg, produced)

    def test_brokers_down_hung_function_kafka_dlq_down(self):
        # Every broker refuses connections; the DLQ is a Kafka sink on that same cluster, so the
        # records of the calls that time out wait in its producer, never confirmed.
        fn = self.hanging_fn(delay=0.005)
        produce(self.kafka.bootstrap, "events", 3000)
        produced = produced_keys(self.kafka.bootstrap, "events")
        dlq = {"name": "kdlq", "type": "kafka", "bootstrap_servers": self.kafka.bootstrap,
               "topic": "dlq-events"}
        cfg = self.shutdown_config(fn, dlq)
        s = self.sluice(cfg)
        harness.wait_until(lambda: len(fn.delivered()) >= 500, timeout=120,
                           what="500 deliveries")
        fn.hang.set()
        for b in range(1, self.BROKERS + 1):
            self.kafka.down(b)
        retried = 'sluice_invocations_total{mapping="orders-to-fn",outcome="retry"}'
        harness.wait_until(lambda: s.metrics().get(retried, 0) >= 1, timeout=60,
                           what="a call timed out (its records go to the unreachable DLQ)")
        dead = 'sluice_records_dead_lettered_total{mapping="orders-to-fn"}'
        self.assertEqual(s.metrics().get(dead, 0), 0, "a DLQ write was confirmed")
        text = self.stop_within_deadline(s)
        self.assertRegex(text, r"entries not confirmed by the close deadline|"
                               r"stopped with \d+ records not acknowledged")

        for b in range(1, self.BROKERS + 1):
            self.kafka.up(b)
        self.assert_nothing_committed_past_unhandled(fn)
        self.restart_delivers_everything(fn, cfg, produced)

    def test_frozen_cluster_after_everything_was_committed(self):
        # Every record was handled and its offset confirmed when the cluster stops answering:
        # leaving the group cannot finish (nor, likely, freeing the client), yet nothing will be
        # read again, so sluice exits 0 by the deadline, on its own, saying what it left.
        fn = self.hanging_fn(delay=0.001)
        produce(self.kafka.bootstrap, "events", 400)
        produced = produced_keys(self.kafka.bootstrap, "events")
        ends = {}
        for _, p, off in produced:
            ends[p] = max(ends.get(p, 0), off + 1)
        cfg = self.config(fn, mapping={"batch": {"size": 20, "window": "0s"}})
        cfg["shutdown"] = {"drain_timeout": "%ds" % DRAIN_S}
        cfg["log"] = {"level": "info"}
        s = self.sluice(cfg)
        harness.wait_until(lambda: set(produced) <= fn.delivered_keys(), timeout=120,
                           what="all %d records delivered" % len(produced))

        def confirmed():
            m = s.metrics()
            return all(m.get('sluice_kafka_committed_offset{source="events",topic="events",'
                             'partition="%d"}' % p) == end for p, end in ends.items())
        harness.wait_until(confirmed, what="sluice saw every offset commit confirmed")
        os.kill(self.kafka.proc.pid, signal.SIGSTOP)
        self.frozen = True
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        rc = s.proc.wait(DRAIN_S + MARGIN_S)
        elapsed = time.monotonic() - t0
        s.out.join(5)
        text = s.out.text()
        self.assertEqual(rc, harness.EXIT_OK, text[-3000:])
        self.assertLessEqual(elapsed, DRAIN_S + MARGIN_S)
        self.assertIn("could not leave the consumer group", text)
        self.assertNotIn("shutdown watchdog", text)
        self.assertNotIn("not acknowledged", text)
        os.kill(self.kafka.proc.pid, signal.SIGCONT)
        self.frozen = False
        self.assertEqual(committed(self.kafka.bootstrap, "events", GROUP), ends)
        self.assert_no_loss(produced, fn.delivered_keys())


if __name__ == "__main__":
    harness.main()
