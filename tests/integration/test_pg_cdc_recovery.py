"""The postgres-cdc source when things go away: kill -9 of sluice resumes from the slot's
confirmed position (nothing lost, duplicates only of what was not confirmed), a PostgreSQL
restart is a reconnect, two sluice processes elect one reader by advisory lock and the standby
takes over when the reader is killed, and a graceful stop confirms what was delivered."""
import copy
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import main, wait_until  # noqa: E402
from pgcdc_fixture import CdcTest, cdc_config  # noqa: E402


def ids_of(records):
    return [int(r["dynamodb"]["Keys"]["id"]["N"]) for r in records if r["eventName"] == "INSERT"]


class Producer(threading.Thread):
    """Inserts rows first..last-1 one transaction each, in the background."""

    def __init__(self, pg, first, last):
        super().__init__(daemon=True)
        self.pg, self.first, self.last = pg, first, last

    def run(self):
        c = self.pg.connect()
        cur = c.cursor()
        for i in range(self.first, self.last):
            cur.execute("INSERT INTO t VALUES (%s)", (i,))
        c.close()


class CdcRecovery(CdcTest):
    def check_all_once_in_order(self, fn, n):
        got = ids_of(fn.delivered())
        self.assertEqual(set(got), set(range(n)), "every change delivered")
        # Per run the stream is in commit order; a redelivery starts over at an unconfirmed
        # change, so each id's first delivery comes in order.
        first = []
        seen = set()
        for i in got:
            if i not in seen:
                seen.add(i)
                first.append(i)
        self.assertEqual(first, list(range(n)))

    def test_kill9_resumes_from_confirmed_position(self):
        pg = self.pg
        pg.query("CREATE TABLE t (id int PRIMARY KEY)")
        fn = self.ddbfn()
        cfg = cdc_config(self, fn, pg, mapping={"batch": {"size": 20, "window": "0s"}})
        s = self.sluice(cfg)
        self.wait_streaming()
        p = Producer(pg, 0, 1500)
        p.start()
        wait_until(lambda: len(fn.delivered()) >= 300, what="some changes delivered")
        s.kill9()
        delivered_before = len(fn.delivered())
        confirmed = self.confirmed_lsn()
        p.join()
        s2 = self.sluice(cfg, name="s2")
        wait_until(lambda: set(ids_of(fn.delivered())) >= set(range(1500)), timeout=120,
                   what="every change delivered after the restart")
        self.check_all_once_in_order(fn, 1500)
        # Redelivered: only changes at or after the position confirmed before the kill.
        seen = {}
        for r in fn.delivered():
            k = r["dynamodb"]["Keys"]["id"]["N"]
            seq = int(r["dynamodb"]["SequenceNumber"])
            if k in seen:
                self.assertGreaterEqual(seq, confirmed, "a confirmed change came again")
                self.assertEqual(seq, seen[k], "a change delivered again keeps its number")
            seen[k] = seq
        self.assertGreater(delivered_before, 0)
        self.assertEqual(s2.terminate(), 0)

    def test_lost_connection_with_a_change_in_flight(self):
        pg = self.pg
        pg.query("CREATE TABLE t (id int PRIMARY KEY, fail boolean DEFAULT false)")
        fn = self.ddbfn()
        s = self.sluice(cdc_config(self, fn, pg, mapping={
            "retry": {"max_attempts": 10000, "backoff": {"min": "5ms", "max": "50ms"}}}))
        self.wait_streaming()
        Producer(pg, 0, 50).run()
        wait_until(lambda: len(fn.delivered()) >= 50, what="the first 50")
        # A change that fails until after the connection is back: it is held (and encoded
        # again for every retry) across the reconnect, after its table's description went.
        pg.query("UPDATE t SET fail = true WHERE id = 49")
        wait_until(lambda: len(fn.invocations()) > 51, what="the failing change tried")
        pg.query("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                 "WHERE slot_name = 'sluice_slot'")
        lbl = '{source="orders",slot="sluice_slot"}'
        wait_until(lambda: s.metrics().get("sluice_pgcdc_reconnects_total" + lbl, 0) >= 1,
                   what="the reconnect")
        self.wait_streaming()
        n = len(fn.invocations())
        wait_until(lambda: len(fn.invocations()) > n + 2, what="retries after the reconnect")
        fn.fixed = True
        Producer(pg, 50, 100).run()
        wait_until(lambda: set(ids_of(fn.delivered())) >= set(range(100)), timeout=60,
                   what="the changes after the reconnect")
        self.check_all_once_in_order(fn, 100)
        mods = [r for r in fn.delivered() if r["eventName"] == "MODIFY"]
        self.assertEqual(len(mods), 1)  # resumed after it: it was not read a second time
        self.assertEqual(mods[0]["dynamodb"]["NewImage"]["fail"], {"BOOL": True})
        self.assertEqual(mods[0]["eventSourceARN"],
                         "postgres://127.0.0.1:%d/postgres/public.t/stream/sluice_slot" % pg.port)
        self.assertEqual(s.terminate(), 0)

    def test_postgres_restart_is_a_reconnect(self):
        pg = self.pg
        pg.query("CREATE TABLE t (id int PRIMARY KEY)")
        fn = self.ddbfn()
        s = self.sluice(cdc_config(self, fn, pg))
        self.wait_streaming()
        Producer(pg, 0, 50).run()
        wait_until(lambda: len(fn.delivered()) >= 50, what="the first 50")
        # (A fast shutdown waits until the client confirmed what it was sent: everything is.)
        pg.restart()
        Producer(pg, 50, 100).run()
        wait_until(lambda: set(ids_of(fn.delivered())) >= set(range(100)), timeout=60,
                   what="the changes after the restart")
        self.check_all_once_in_order(fn, 100)
        lbl = '{source="orders",slot="sluice_slot"}'
        wait_until(lambda: s.metrics().get("sluice_pgcdc_reconnects_total" + lbl, 0) >= 1,
                   what="the reconnect counted")
        self.assertEqual(s.terminate(), 0)

    def test_one_reader_standby_takes_over(self):
        pg = self.pg
        pg.query("CREATE TABLE t (id int PRIMARY KEY)")
        fn = self.ddbfn()
        cfg = cdc_config(self, fn, pg)
        a = self.sluice(cfg, name="a")
        self.wait_streaming()
        cfg_b = copy.deepcopy(cfg)
        cfg_b["store"] = {"dir": os.path.join(self.workdir, "data-b")}
        b = self.sluice(cfg_b, name="b")
        b.out.wait_for(r"standing by: another process reads slot sluice_slot")
        status, _, body = b.admin("GET", "/readyz")
        self.assertEqual(status, 200, body)  # a standby is ready
        lbl = '{source="orders",slot="sluice_slot"}'
        self.assertEqual(b.metrics()["sluice_pgcdc_standby" + lbl], 1)
        self.assertEqual(a.metrics()["sluice_pgcdc_standby" + lbl], 0)
        # describe (the mapping's view of its source) says so.
        status, _, body = b.admin("GET", "/v1/mappings/orders-to-fn")
        self.assertEqual(status, 200, body)
        self.assertIn(b'"role":"standby"', body)
        self.assertIn(b'"state":"standby"', body)
        Producer(pg, 0, 200).run()
        wait_until(lambda: len(fn.delivered()) >= 200, what="the first 200 delivered")
        # Only a read them.
        self.assertEqual(a.metrics()["sluice_pgcdc_changes_total" + lbl], 200)
        self.assertEqual(b.metrics()["sluice_pgcdc_changes_total" + lbl], 0)
        a.kill9()
        b.out.wait_for(r"took over slot sluice_slot")
        Producer(pg, 200, 400).run()
        wait_until(lambda: set(ids_of(fn.delivered())) >= set(range(400)), timeout=60,
                   what="the standby delivers the rest")
        self.check_all_once_in_order(fn, 400)
        self.assertEqual(b.terminate(), 0)

    def test_graceful_stop_confirms_what_was_delivered(self):
        pg = self.pg
        pg.query("CREATE TABLE t (id int PRIMARY KEY)")
        fn = self.ddbfn()
        cfg = cdc_config(self, fn, pg, source={"status_interval": "60s"})
        s = self.sluice(cfg)
        self.wait_streaming()
        Producer(pg, 0, 30).run()
        wait_until(lambda: len(fn.delivered()) >= 30, what="30 delivered")
        last = int(fn.delivered()[-1]["dynamodb"]["SequenceNumber"])
        self.assertEqual(s.terminate(), 0)
        # The last status update went out before the close returned: a new run gets nothing
        # again.
        self.assertGreater(self.confirmed_lsn(), last)
        fn2 = self.ddbfn()
        s2 = self.sluice(cdc_config(self, fn2, pg), name="s2")
        self.wait_streaming()
        Producer(pg, 30, 31).run()
        wait_until(lambda: len(fn2.delivered()) >= 1, what="the new change")
        self.assertEqual(ids_of(fn2.delivered()), [30])
        self.assertEqual(s2.terminate(), 0)


if __name__ == "__main__":
    main()
