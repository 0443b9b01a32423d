"""The postgres-queue source when things go wrong (and clients/postgres/conn.c with it): a row
held by a sluice killed with -9 is redelivered once its visibility timeout runs out, with its
receive count; past max_receives it goes to the DLQ; no loss through a kill -9 mid-stream, a
PostgreSQL restart mid-stream (reconnect, /readyz) or a server that stops answering (the
statement and connect timeouts); a statement the server cancels (statement_timeout) is tried
again; a graceful stop deletes every handled row before it exits; a conninfo whose first host
refuses connects to the next."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_pg_queue as common  # noqa: E402
from harness import EXIT_OK, free_port, main, wait_until  # noqa: E402


def readyz(s):
    status, _, body = s.admin("GET", "/readyz")
    return status, json.loads(body)


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], stdout=subprocess.PIPE,
                         text=True).stdout
    return [int(x) for x in out.split()]


class PgQueueRecovery(common.PgQueueTest):
    def test_redelivery_after_visibility_timeout_then_max_receives(self):
        pg = self.pg()
        fn = self.sfn(hold=True)
        # The function's timeout (1 s) fits in the visibility timeout (2 s).
        cfg = self.config(pg, fn, source={"visibility_timeout": "2s", "max_receives": 2},
                          function={"timeout": "1s"})
        self.init(cfg)
        (rid,) = self.produce(pg, 1)
        for receive in (1, 2):
            s = self.sluice(cfg, name="run%d" % receive)
            wait_until(lambda: len(fn.arrived) == receive, timeout=30,
                       what="receive %d at the function" % receive)
            self.assertEqual(fn.arrived[-1], [rid])
            t_killed = time.monotonic()
            s.kill9()
            self.assertEqual(pg.scalar("SELECT receive_count FROM jobs"), receive)
        # Claimed twice (max_receives 2): the third claim dead-letters it without delivering.
        s = self.sluice(cfg, name="run3")
        wait_until(lambda: self.rows(pg) == 0, what="the row dead-lettered and deleted")
        self.assertGreaterEqual(time.monotonic() - t_killed, 1.5,
                                "claimed again before its visibility timeout ran out")
        self.assertEqual(len(fn.arrived), 2)
        (e,) = s.dlq_entries()
        self.assertEqual((e["recordId"], e["condition"]), (rid, "MaxDeliveriesExceeded"))
        shown = json.loads(s.cli("dlq", "show", e["id"]).stdout)
        self.assertEqual(shown["coordinates"], {"table": "jobs", "id": int(rid), "receiveCount": 3})
        self.assertEqual(s.metrics()['sluice_pgqueue_max_receives_total{source="orders"}'], 1)
        # The second delivery said so.
        fn.release()
        wait_until(lambda: len(fn.events) == 2, what="the held invocations logged")
        self.assertEqual(sorted(int(r["attributes"]["ApproximateReceiveCount"])
                                for r in fn.events), [1, 2])
        # A redrive sends it again, SQS-shaped, from the DLQ entry.
        fn.fixed = True
        s.cli("dlq", "redrive", "--all")
        wait_until(lambda: len(fn.events) == 3, what="the redriven record")
        red = fn.events[-1]
        self.assertEqual((red["messageId"], red["attributes"]["ApproximateReceiveCount"]),
                         (rid, "3"))
        self.assertEqual(red["eventSource"], "sluice:postgres")

    def test_row_past_max_receives_is_never_delivered(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.config(pg, fn, source={"max_receives": 3})
        self.init(cfg)
        ids = self.produce(pg, 5)
        pg.query("UPDATE jobs SET receive_count = 3 WHERE id = %s", (int(ids[2]),))
        s = self.sluice(cfg)
        self.wait_empty(pg)
        wait_until(lambda: len(fn.delivered()) == 4, what="the other rows delivered")
        self.assertNotIn(ids[2], fn.delivered())
        (e,) = s.dlq_entries()
        self.assertEqual((e["recordId"], e["condition"]), (ids[2], "MaxDeliveriesExceeded"))

    def test_kill9_mid_stream_no_loss(self):
        pg = self.pg()
        fn = self.sfn(delay_ms=3)
        cfg = self.config(pg, fn, source={"visibility_timeout": "2s"},
                          function={"timeout": "1s"})
        self.init(cfg)
        ids = self.produce(pg, 2000)
        s = self.sluice(cfg)
        wait_until(lambda: len(fn.delivered()) >= 300, what="some rows delivered")
        s.kill9()
        held = pg.scalar("SELECT count(*) FROM jobs WHERE receive_count > 0")
        self.sluice(cfg, name="again")
        self.wait_empty(pg, timeout=180)
        delivered = fn.delivered()
        self.assertEqual(set(delivered), set(ids))
        # At most what the killed process held came twice.
        self.assertLessEqual(len(delivered) - len(ids), held)

    def test_postgres_restart_mid_stream(self):
        pg = self.pg()
        fn = self.sfn(delay_ms=3)
        cfg = self.config(pg, fn)
        self.init(cfg)
        ids = self.produce(pg, 3000)
        s = self.sluice(cfg)
        wait_until(lambda: len(fn.delivered()) >= 300, what="some rows delivered")
        pg.stop()
        s.out.wait_for(r"connection to 127\.0\.0\.1:%d/postgres lost" % pg.port)

        def not_ready():
            status, body = readyz(s)
            return body if status == 503 else None
        body = wait_until(not_ready, what="/readyz 503 while PostgreSQL is down")
        (u,) = body["unreachable"]
        self.assertEqual((u["source"], u["type"]), ("orders", "postgres-queue"))
        self.assertIn("127.0.0.1:%d/postgres" % pg.port, u["why"])
        pg.start()
        s.out.wait_for(r"connected to 127\.0\.0\.1:%d/postgres again" % pg.port, timeout=60)
        wait_until(lambda: readyz(s)[0] == 200, what="ready again")
        self.wait_empty(pg, timeout=180)
        self.assertEqual(set(fn.delivered()), set(ids))
        self.assertGreaterEqual(s.metrics()['sluice_pgqueue_reconnects_total{source="orders"}'],
                                1)
        # A restart without a pause in between (PgServer.restart): the same.
        more = self.produce(pg, 1000, start=5000)
        wait_until(lambda: len(set(fn.delivered()) & set(more)) >= 100, what="more delivered")
        pg.restart()
        self.wait_empty(pg, timeout=180)
        self.assertEqual(set(fn.delivered()), set(ids) | set(more))

    def running_with_table_locked(self, source):
        """A sluice connected to a new queue table, and another transaction holding that table
        (ACCESS EXCLUSIVE): returns pg, fn, s and the open transaction's connection."""
        pg = self.pg()
        fn = self.sfn()
        cfg = self.config(pg, fn, source=source)
        self.init(cfg)
        s = self.sluice(cfg)
        s.out.wait_for("connected to")
        lock = pg.connect()
        lock.autocommit = False
        lock.cursor().execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
        return pg, fn, s, lock

    def test_cancelled_statement_is_tried_again(self):
        # The claims wait on the lock until the server cancels them (statement_timeout =
        # command_timeout); they are tried again.
        pg, fn, s, lock = self.running_with_table_locked({"command_timeout": "500ms"})
        s.out.wait_for(r"claim on jobs cancelled after command_timeout \(500 ms\)", timeout=30)
        lock.rollback()
        lock.close()
        ids = self.produce(pg, 20)
        self.wait_empty(pg)
        self.assertEqual(sorted(fn.delivered(), key=int), ids)
        # Cancelled statements do not drop the connection.
        self.assertEqual(s.metrics()['sluice_pgqueue_reconnects_total{source="orders"}'], 0)

    def test_unresponsive_server_timeouts(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.config(pg, fn, source={"command_timeout": "500ms", "connect_timeout": "500ms",
                                          "poll_interval": "100ms", "notify": False})
        self.init(cfg)
        s = self.sluice(cfg)
        s.out.wait_for("connected to")
        # The whole server stops answering (a hung host): no result, no error.
        procs = [pg.proc.pid] + children(pg.proc.pid)
        for p in procs:
            os.kill(p, signal.SIGSTOP)
        try:
            s.out.wait_for(r"connection to .* lost: a statement got no result within 1500 ms",
                           timeout=30)
            s.out.wait_for(r"connect timed out after 500 ms", timeout=30)
            wait_until(lambda: readyz(s)[0] == 503, what="not ready")
        finally:
            for p in procs:
                os.kill(p, signal.SIGCONT)
        s.out.wait_for("connected to .* again", timeout=60)
        ids = self.produce(pg, 50)
        self.wait_empty(pg)
        self.assertEqual(sorted(fn.delivered(), key=int), ids)

    def test_graceful_stop_deletes_everything_handled(self):
        pg = self.pg()
        fn = self.sfn(delay_ms=2)
        cfg = self.config(pg, fn, mapping={"batch": {"size": 50, "window": "0s"}})
        self.init(cfg)
        ids = self.produce(pg, 3000)
        s = self.sluice(cfg)
        wait_until(lambda: len(fn.delivered()) >= 500, what="some rows delivered")
        self.assertEqual(s.terminate(), EXIT_OK)
        first = fn.delivered()
        left = pg.query("SELECT id, receive_count FROM jobs")
        self.assertEqual(len(left) + len(first), len(ids), "a handled row was not deleted")
        self.assertTrue(all(c == 0 for _, c in left), "a claimed row was left behind")
        self.sluice(cfg, name="again")
        self.wait_empty(pg)
        self.assertEqual(sorted(fn.delivered(), key=int), ids)  # each once

    def test_graceful_stop_waits_for_the_claim_on_the_wire(self):
        # With nothing in flight, a stop still waits for the claim the server has not answered:
        # the rows it claims are delivered and deleted, not left claimed by a process gone.
        pg, fn, s, lock = self.running_with_table_locked({"poll_interval": "100ms"})
        # Rows inserted by the transaction that holds the table: the claim waits on its lock.
        cur = lock.cursor()
        cur.execute("INSERT INTO jobs (payload) SELECT json_build_object('k', i)::text "
                    "FROM generate_series(1, 20) AS i RETURNING id")
        ids = [str(r[0]) for r in cur.fetchall()]
        claim_waits = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                       "'sluice orders' AND wait_event_type = 'Lock'")
        wait_until(lambda: pg.scalar(claim_waits) == 1, what="a claim waiting on the lock")
        s.proc.send_signal(signal.SIGTERM)
        s.out.wait_for("draining")
        lock.commit()
        lock.close()
        self.assertEqual(s.proc.wait(60), EXIT_OK)
        # Whatever the server still runs for the process that left has finished.
        wait_until(lambda: pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                     "application_name = 'sluice orders'") == 0,
                   what="the process's sessions gone")
        left = pg.query("SELECT id, receive_count FROM jobs")
        self.assertEqual(len(left) + len(fn.delivered()), len(ids), "a handled row was kept")
        self.assertEqual([r for r in left if r[1] != 0], [], "a claimed row was left behind")
        # The claim that was waiting (claim_size: the batch size, 10) was delivered.
        self.assertEqual(sorted(fn.delivered(), key=int), ids[:10])

    def test_conninfo_with_a_refusing_first_host(self):
        pg = self.pg()
        fn = self.sfn()
        dead = free_port()
        # libpq tries the hosts in turn: the socket of the second attempt often gets the
        # number of the first one's, which the loop must watch afresh.
        conninfo = "host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres dbname=postgres" % (
            dead, pg.port)
        cfg = self.config(pg, fn, source={"conninfo": conninfo, "connect_timeout": "3s"})
        self.init(cfg)
        s = self.sluice(cfg)
        s.out.wait_for("connected to", timeout=20)
        ids = self.produce(pg, 10)
        self.wait_empty(pg, timeout=20)
        self.assertEqual(sorted(fn.delivered(), key=int), ids)
        self.assertNotIn("timed out", s.out.text())


if __name__ == "__main__":
    main()
