"""kill -9 and restart loses nothing; SIGTERM drains in-flight work and exits 0; a stop that
leaves records unfinished (drain deadline, second signal) exits 75 and loses nothing."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (EXIT_ABANDONED, EXIT_OK, SluiceTest, Sluice, base_config, main,  # noqa: E402
                     wait_until)


class Lifecycle(SluiceTest):
    def test_kill9_mid_flight_then_restart_loses_nothing(self):
        # The function holds every call for 2 s, so records are in flight at the kill.
        fn = self.fn(script=[{"delayMs": 2000, "count": 3}])
        cfg = base_config(self.workdir, fn.url, mapping={"batch": {"size": 5, "window": "0s"}})
        s = self.sluice(cfg)
        ids = self.post_many(s, 30)  # every 202 means committed to the spool
        wait_until(lambda: len(fn.invocations()) >= 1, what="a batch in flight")
        s.kill9()
        s2 = self.sluice(cfg, name="sluice")
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids), timeout=90,
                   what="every accepted id delivered after the restart")
        delivered = fn.delivered_ids()
        self.assertEqual(set(delivered), set(ids))
        # Order is kept per hook: the first delivery of each id follows arrival order.
        first = []
        for i in delivered:
            if i not in first:
                first.append(i)
        self.assertEqual(first, ids)
        wait_until(lambda: s2.metrics().get('sluice_source_backlog{mapping="orders-to-fn"}') == 0,
                   what="the spool to empty")

    def test_sigterm_drains(self):
        fn = self.fn(script=[{"delayMs": 1500, "count": 1}])
        cfg = base_config(self.workdir, fn.url, mapping={"batch": {"size": 100, "window": "0s"}})
        s = self.sluice(cfg)
        ids = self.post_many(s, 5)
        wait_until(lambda: len(fn.invocations()) >= 1, what="a batch in flight")
        rc = s.terminate()
        self.assertEqual(rc, EXIT_OK)
        self.assertIn("drained", s.out.text())
        # The in-flight batch finished before exit, and what followed it too.
        self.assertEqual(set(fn.delivered_ids()), set(ids))
        self.assertNotIn("drain deadline reached", s.out.text())
        st = Sluice(self.workdir, cfg, "again")
        self._procs.append(st)
        st.start()
        self.assertEqual(st.metrics().get('sluice_source_backlog{mapping="orders-to-fn"}'), 0)

    def test_drain_deadline_exits_75_and_loses_nothing(self):
        # The function holds the call far beyond drain_timeout (1 s): sluice stops at the
        # deadline with the batch unfinished, its records still in the spool.
        fn = self.fn(script=[{"delayMs": 30000, "count": 1}])
        cfg = base_config(self.workdir, fn.url, extra={"shutdown": {"drain_timeout": "1s"}})
        s = self.sluice(cfg)
        ids = self.post_many(s, 4)
        wait_until(lambda: len(fn.invocations()) >= 1, what="a batch in flight")
        self.assertEqual(s.terminate(timeout=30, expect=EXIT_ABANDONED), EXIT_ABANDONED)
        self.assertIn("drain deadline reached", s.out.text())
        self.assertNotIn("watchdog", s.out.text())
        fn.set_script([])
        s2 = self.sluice(cfg, name="sluice")
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids), what="replayed after restart")
        self.assertEqual(s2.terminate(), EXIT_OK)

    def test_readyz_goes_503_while_draining(self):
        # The function holds the call far longer than the test needs (the drain would end
        # with it, and readyz with the process), then a second signal ends the drain.
        fn = self.fn(script=[{"delayMs": 60000, "count": 1}])
        s = self.sluice(base_config(self.workdir, fn.url))
        st, _, _ = s.admin("GET", "/readyz")
        self.assertEqual(st, 200)
        self.post_many(s, 1)
        wait_until(lambda: len(fn.invocations()) >= 1, what="a batch in flight")
        s.proc.send_signal(signal.SIGTERM)
        s.out.wait_for(r"draining")
        st, _, _ = s.admin("GET", "/readyz")
        self.assertEqual(st, 503)
        self.assertIsNone(s.proc.poll(), "sluice exited while its batch was in flight")
        # The second signal cuts the batch in flight: its record stays at its source (75).
        s.expected_exit = EXIT_ABANDONED
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.proc.wait(30), EXIT_ABANDONED)

    def test_second_signal_exits_at_once_and_loses_nothing(self):
        fn = self.fn(script=[{"delayMs": 10000, "count": 1}])
        cfg = base_config(self.workdir, fn.url)
        s = self.sluice(cfg)
        ids = self.post_many(s, 3)
        wait_until(lambda: len(fn.invocations()) >= 1, what="a batch in flight")
        s.expected_exit = EXIT_ABANDONED
        s.proc.send_signal(signal.SIGTERM)
        s.out.wait_for(r"draining")
        s.proc.send_signal(signal.SIGTERM)
        # The batch in flight was cut: its records stay in the spool, and the status says so.
        self.assertEqual(s.proc.wait(10), EXIT_ABANDONED)
        self.assertRegex(s.out.text(), r"stopped with [1-9]\d* records not acknowledged")
        fn.set_script([])
        s2 = self.sluice(cfg, name="sluice")
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids), what="replayed after restart")


if __name__ == "__main__":
    main()
