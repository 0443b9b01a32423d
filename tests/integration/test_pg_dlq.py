"""The PostgreSQL dead-letter sink against a real PostgreSQL 15 and the real sluice binary:
records that fail land in the sink's table with their full history (counted end to end),
`sluice dlq list/show/redrive/purge` and the admin API's pages read and change it, a DLQ write
that cannot reach PostgreSQL blocks the lane and lands once the server is back (nothing acked
meanwhile, nothing lost across a crash), and `sluice init` makes the table."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, main, wait_until  # noqa: E402
from pg_fixture import PgServer, wait_rows  # noqa: E402

M = "orders-to-fn"
FAIL_ALL = [{"status": 500, "count": 1000000}]


def pg_dlq(pg, **kw):
    d = {"name": "pgdlq", "type": "postgres", "conninfo": pg.dsn(), "connect_timeout": "2s"}
    d.update(kw)
    return d


def config(test, fn, pg, mapping=None, dlq=None):
    m = {"dlq": "pgdlq", "batch": {"size": 1, "window": "0s"},
         "retry": {"max_attempts": 2, "backoff": {"min": "5ms", "max": "20ms"}}}
    m.update(mapping or {})
    return base_config(test.workdir, fn.url, mapping=m,
                       extra={"dlqs": [pg_dlq(pg, **(dlq or {}))]})


def readyz(s):
    status, _, body = s.admin("GET", "/readyz")
    return status, json.loads(body)


class PgDlqTest(SluiceTest):
    def setUp(self):
        super().setUp()
        self.pg = PgServer().start()
        self.addCleanup(self.pg.destroy)

    def wait_table(self):
        """Until the sink made its table (create_table: on its first connection)."""
        wait_rows(self.pg, "SELECT to_regclass('sluice_dlq') IS NOT NULL", True,
                  what="the sink's table created")

    def rows(self, table="sluice_dlq"):
        return self.pg.scalar('SELECT count(*) FROM %s' % table)

    def table_record_ids(self, table="sluice_dlq"):
        return sorted(r[0] for r in self.pg.query("SELECT record_id FROM %s" % table))


class Flow(PgDlqTest):
    def test_dead_lettered_with_history_then_list_show_redrive_purge(self):
        fn = self.fn(script=FAIL_ALL)
        s = self.sluice(config(self, fn, self.pg))
        self.wait_table()
        ids = self.post_many(s, 12)
        wait_rows(self.pg, "SELECT count(*) FROM sluice_dlq", 12, what="12 rows")
        wait_until(lambda: s.metrics().get(
            'sluice_records_dead_lettered_total{mapping="%s"}' % M) == 12, what="12 dead-lettered")
        # Every record failed: dead-lettered = produced, none delivered.
        self.assertEqual(self.table_record_ids(), sorted(ids))
        self.assertEqual(fn.delivered_ids(), [])
        # The row: its columns and its document, with the record's full history.
        mapping, function, source, stype, cond, doc = self.pg.query(
            "SELECT mapping, function, source, source_type, condition, doc FROM sluice_dlq"
            " WHERE record_id = %s", (ids[3],))[0]
        self.assertEqual((mapping, function, source, stype, cond),
                         (M, "fn", "orders", "http", "RetryAttemptsExhausted"))
        self.assertEqual(doc["attemptCount"], 2)
        self.assertEqual([a["status"] for a in doc["attempts"]], [500, 500])
        self.assertEqual(json.loads(doc["payload"]), {"n": 3})

        # sluice dlq list / show (by entry id and by record id), JSON and text.
        listed = s.cli("dlq", "list", "--json")
        self.assertNotIn("NOTICE", listed.stderr.decode())
        entries = json.loads(listed.stdout)["entries"]
        self.assertEqual(sorted(e["recordId"] for e in entries), sorted(ids))
        self.assertTrue(all(e["dlq"] == "pgdlq" and e["mapping"] == M for e in entries))
        self.assertEqual(len(s.dlq_entries(mapping=M)), 12)
        since = json.loads(s.cli("dlq", "list", "--json", "--since", "-1h").stdout)["entries"]
        self.assertEqual(len(since), 12)
        later = json.loads(s.cli("dlq", "list", "--json", "--since",
                                 "2999-01-01T00:00:00Z").stdout)["entries"]
        self.assertEqual(later, [])
        first = [e for e in entries if e["recordId"] == ids[3]][0]
        table = s.cli("dlq", "list").stdout.decode()
        self.assertIn(first["id"], table)
        self.assertEqual(table.count("RetryAttemptsExhausted"), 12)
        shown = json.loads(s.cli("dlq", "show", first["id"], "--json").stdout.decode())
        # The same record-level content as stored: the document is the canonical entry.
        self.assertEqual({k: v for k, v in shown.items() if k != "dlq"},
                         {k: v for k, v in doc.items() if k != "dlq"})
        self.assertEqual(shown["onFailure"]["requestContext"]["approximateInvokeCount"], 2)
        by_record = json.loads(s.cli("dlq", "show", ids[3], "--json").stdout.decode())
        self.assertEqual(by_record, shown)
        pretty = json.loads(s.cli("dlq", "show", first["id"]).stdout.decode())
        self.assertEqual(pretty, shown)
        st, _, d = s.admin("GET", "/v1/dlq/" + ids[8])
        self.assertEqual(st, 200, d)
        self.assertEqual(json.loads(d)["recordId"], ids[8])
        self.assertEqual(s.admin("GET", "/v1/dlq/no-such-id")[0], 404)

        # Admin API pages by cursor: every entry once, in order of creation.
        pages = s.dlq_pages(5, mapping=M)
        self.assertEqual([len(p) for p in pages], [5, 5, 2])
        paged = [e["id"] for p in pages for e in p]
        self.assertEqual(sorted(paged), sorted(e["id"] for e in entries))
        self.assertEqual(paged, [e["id"] for e in entries])
        # The CLI's cursor too.
        page1 = json.loads(s.cli("dlq", "list", "--json", "--limit", "4").stdout.decode())
        self.assertEqual(len(page1["entries"]), 4)
        page2 = json.loads(s.cli("dlq", "list", "--json", "--limit", "100", "--after",
                                 page1["next"]).stdout.decode())
        self.assertEqual([e["id"] for e in page1["entries"] + page2["entries"]], paged)

        # Depth per mapping (the table is counted, then kept current by the sink's writes).
        depth = 'sluice_dlq_depth{mapping="%s"}' % M
        wait_until(lambda: s.metrics().get(depth) == 12, what="dlq depth 12")
        self.assertEqual(readyz(s)[0], 200)

        # Redrive while the function still fails: the entry stays.
        p = s.cli("dlq", "redrive", "--id", first["id"], check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(self.rows(), 12)
        # Fixed: redrive delivers it, then deletes its row.
        fn.set_script([])
        out = s.cli("dlq", "redrive", "--id", first["id"]).stdout.decode()
        self.assertIn("redriven 1", out)
        self.assertEqual(self.rows(), 11)
        self.assertEqual(fn.delivered_ids(), [ids[3]])
        # Redrive a mapping's entries, at a rate; then purge the rest.
        out = s.cli("dlq", "redrive", "--id", ids[5], "--json").stdout.decode()
        self.assertEqual(self.rows(), 10)
        out = s.cli("dlq", "purge", "--id", ids[0]).stdout.decode()
        self.assertIn("purged 1", out)
        self.assertEqual(self.rows(), 9)
        out = json.loads(s.cli("dlq", "purge", "--all", "--json").stdout.decode())
        self.assertEqual(out, {"purged": 9})
        self.assertEqual(self.rows(), 0)
        self.assertEqual(s.dlq_entries(), [])
        self.assertNotEqual(s.cli("dlq", "show", first["id"], check=False).returncode, 0)
        # Removed by other processes: the next count sees it.
        wait_until(lambda: s.metrics().get(depth) == 0, what="dlq depth 0")
        # Delivered + dead-lettered (still held or redriven) = produced.
        self.assertEqual(sorted(fn.delivered_ids()), sorted([ids[3], ids[5]]))
        self.assertEqual(s.terminate(), 0)

    def test_two_mappings_share_the_sink_depth_and_lists_per_mapping(self):
        fn = self.fn(script=FAIL_ALL)
        cfg = config(self, fn, self.pg)
        cfg["sources"].append({"name": "refunds", "type": "http"})
        cfg["mappings"].append(dict(cfg["mappings"][0], name="refunds-to-fn", source="refunds"))
        s = self.sluice(cfg)
        self.wait_table()
        orders = self.post_many(s, 3)
        refunds = self.post_many(s, 2, hook="refunds")
        wait_rows(self.pg, "SELECT count(*) FROM sluice_dlq", 5, what="5 rows")
        depth = 'sluice_dlq_depth{mapping="%s"}'
        wait_until(lambda: (s.metrics().get(depth % M), s.metrics().get(depth % "refunds-to-fn"))
                   == (3, 2), what="depth 3 and 2")
        self.assertEqual(sorted(e["recordId"] for e in s.dlq_entries(mapping=M)), sorted(orders))
        self.assertEqual(sorted(e["recordId"] for e in s.dlq_entries(mapping="refunds-to-fn")),
                         sorted(refunds))
        pages = s.dlq_pages(1, mapping="refunds-to-fn")
        self.assertEqual(sorted(e["recordId"] for p in pages for e in p), sorted(refunds))
        # Removed by another process (the CLI): the next count of the table sees it.
        self.assertIn("purged 2", s.cli("dlq", "purge", "--mapping", "refunds-to-fn")
                      .stdout.decode())
        wait_until(lambda: s.metrics().get(depth % "refunds-to-fn") == 0, what="depth 0")
        self.assertEqual(s.metrics().get(depth % M), 3)
        self.assertEqual(s.terminate(), 0)

    def test_random_failures_delivered_plus_dead_lettered_is_produced(self):
        fn = self.fn(fail_rate=0.3, seed=11)
        s = self.sluice(config(self, fn, self.pg, mapping={
            "batch": {"size": 4, "window": "0s"},
            "retry": {"max_attempts": 2, "bisect_on_error": True,
                      "backoff": {"min": "1ms", "max": "5ms"}}}))
        self.wait_table()
        ids = self.post_many(s, 200)

        def settled():
            return set(fn.delivered_ids()) | set(self.table_record_ids()) >= set(ids)
        wait_until(settled, timeout=90, what="every record delivered or dead-lettered")
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="%s"}' % M) == 0,
                   what="nothing in flight")
        delivered, dead = set(fn.delivered_ids()), self.table_record_ids()
        self.assertEqual(len(dead), len(set(dead)), "a record dead-lettered twice")
        self.assertFalse(delivered & set(dead), "a record both delivered and dead-lettered")
        self.assertEqual(delivered | set(dead), set(ids))
        self.assertEqual(len(delivered) + len(dead), 200)
        self.assertGreater(len(dead), 0)
        self.assertEqual(s.metrics()['sluice_records_dead_lettered_total{mapping="%s"}' % M],
                         len(dead))
        self.assertEqual(sorted(e["recordId"] for e in s.dlq_entries()), sorted(dead))
        self.assertEqual(s.terminate(), 0)


class Outage(PgDlqTest):
    def test_postgres_down_blocks_the_lane_then_lands(self):
        fn = self.fn(script=FAIL_ALL)
        s = self.sluice(config(self, fn, self.pg))
        self.wait_table()
        # The admin API's listings keep a connection of their own: made now, broken by the
        # restart below, made again by the next listing.
        self.assertEqual(s.dlq_pages(10), [[]])
        self.pg.stop()
        wait_until(lambda: readyz(s)[0] == 503, what="/readyz 503 while PostgreSQL is down")
        why = [u for u in readyz(s)[1].get("unreachable", []) if u.get("dlq") == "pgdlq"]
        self.assertEqual(len(why), 1, readyz(s))
        self.assertIn("127.0.0.1:%d" % self.pg.port, why[0]["why"])
        ids = self.post_many(s, 5)
        s.out.wait_for(r"DLQ write to pgdlq failed: .*lane blocked, retrying")
        # Not dead-lettered (so not acked): the records wait in flight.
        m = s.metrics()
        self.assertEqual(m.get('sluice_records_dead_lettered_total{mapping="%s"}' % M, 0), 0)
        self.assertEqual(m['sluice_inflight_records{mapping="%s"}' % M], 5)
        self.pg.start()
        wait_rows(self.pg, "SELECT count(*) FROM sluice_dlq", 5, what="the 5 rows landed")
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="%s"}' % M) == 0,
                   what="nothing in flight")
        self.assertEqual(self.table_record_ids(), sorted(ids))
        self.assertEqual(s.metrics()['sluice_records_dead_lettered_total{mapping="%s"}' % M], 5)
        wait_until(lambda: readyz(s)[0] == 200, what="/readyz 200 again")
        self.assertEqual(sorted(e["recordId"] for p in s.dlq_pages(10) for e in p), sorted(ids))
        self.assertEqual(s.terminate(), 0)

    def test_crash_while_postgres_is_down_loses_nothing(self):
        fn = self.fn(script=FAIL_ALL)
        cfg = config(self, fn, self.pg)
        s = self.sluice(cfg)
        self.wait_table()
        self.pg.stop()
        ids = self.post_many(s, 4)
        s.out.wait_for(r"DLQ write to pgdlq failed: .*lane blocked, retrying")
        s.kill9()
        self.pg.start()
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM sluice_dlq"), 0)
        # The records were never acked: the next run takes them up again and dead-letters them.
        s2 = self.sluice(cfg, name="again")
        wait_rows(self.pg, "SELECT count(*) FROM sluice_dlq", 4, what="the 4 rows landed")
        self.assertEqual(self.table_record_ids(), sorted(ids))
        self.assertEqual(s2.terminate(), 0)


    def test_stop_with_a_write_in_flight_leaves_its_record_unacked(self):
        fn = self.fn(script=FAIL_ALL)
        cfg = config(self, fn, self.pg)
        cfg["shutdown"] = {"drain_timeout": "1s"}
        s = self.sluice(cfg)
        self.wait_table()
        # A lock held by another session keeps the INSERT waiting: the write is in flight.
        lock = self.pg.connect()
        lock.autocommit = False
        lock.cursor().execute("LOCK TABLE sluice_dlq IN ACCESS EXCLUSIVE MODE")
        ids = self.post_many(s, 3)
        wait_rows(self.pg, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                  " AND query LIKE 'INSERT INTO \"sluice_dlq\"%%'", 1, what="an INSERT waiting")
        # Stopped while it waits: close gives up at its deadline, the record is not acked.
        self.assertEqual(s.terminate(expect=75), 75)
        s.out.wait_for(r"not confirmed by the close deadline")
        # The server ends the waiting INSERT of a client gone (client_connection_check_interval):
        # it never commits, even once the lock is released.
        wait_rows(self.pg, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE"
                  " 'INSERT INTO \"sluice_dlq\"%%'", 0, what="the INSERT ended")
        lock.rollback()
        lock.close()
        self.assertEqual(self.rows(), 0)
        # The next run delivers them again (and dead-letters them: the function still fails).
        s2 = self.sluice(cfg, name="again")
        wait_rows(self.pg, "SELECT count(*) FROM sluice_dlq", 3, what="the 3 rows landed")
        self.assertEqual(self.table_record_ids(), sorted(ids))
        self.assertEqual(s2.terminate(), 0)


    def test_an_entry_the_server_refuses_waits_alone(self):
        fn = self.fn(script=FAIL_ALL)
        s = self.sluice(config(self, fn, self.pg, mapping={
            "batch": {"size": 10, "window": "200ms"}, "retry": {"max_attempts": 1}}))
        self.wait_table()
        # Puts made while an INSERT is on the wire go out as one statement; the server refuses
        # one entry of it: the others are stored, that one waits (its lane blocked) until the
        # server takes it.
        self.pg.query("ALTER TABLE sluice_dlq ADD CONSTRAINT no_poison"
                      " CHECK (doc->>'payload' NOT LIKE '%%poison%%')")
        ids = self.post_many(s, 10, make=lambda i: {"n": i, "tag": "poison" if i == 6 else "fine"})
        wait_rows(self.pg, "SELECT count(*) FROM sluice_dlq", 9, what="the 9 others stored")
        s.out.wait_for(r'INSERT into "sluice_dlq" failed: .*no_poison')
        self.assertEqual(self.table_record_ids(), sorted(ids[:6] + ids[7:]))
        self.pg.query("ALTER TABLE sluice_dlq DROP CONSTRAINT no_poison")
        wait_rows(self.pg, "SELECT count(*) FROM sluice_dlq", 10, what="the 10th stored")
        self.assertEqual(self.table_record_ids(), sorted(ids))
        self.assertEqual(s.terminate(), 0)


class Init(PgDlqTest):
    def test_init_creates_the_table_twice_is_fine_print_prints_sql(self):
        self.pg.query("CREATE SCHEMA ops")
        fn = self.fn(script=FAIL_ALL)
        cfg = config(self, fn, self.pg, dlq={"table": "ops.Dead_Letters", "create_table": False})
        s = self.sluice(cfg, start=False)
        exists = 'SELECT to_regclass(\'ops."Dead_Letters"\') IS NOT NULL'
        p = s.cli("init", "--print")
        sql = p.stdout.decode()
        self.assertIn('CREATE TABLE IF NOT EXISTS "ops"."Dead_Letters"', sql)
        self.assertIn('CREATE INDEX IF NOT EXISTS "Dead_Letters_by_mapping"', sql)
        self.assertFalse(self.pg.scalar(exists), "--print changes nothing")

        # create_table: false and no table: the write fails (lane blocked, with the hint).
        s.start()
        ids = self.post_many(s, 2)
        s.out.wait_for(r'INSERT into "ops"."Dead_Letters" failed: .*does not exist.*sluice init')
        s.out.wait_for(r"DLQ write to pgdlq failed: .*lane blocked")
        self.assertFalse(self.pg.scalar(exists))

        out = s.cli("init").stdout.decode()
        self.assertIn("dlq pgdlq (postgres): ready", out)
        self.assertTrue(self.pg.scalar(exists))
        indexes = sorted(r[0] for r in self.pg.query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'ops'"))
        self.assertEqual(indexes, ["Dead_Letters_by_mapping", "Dead_Letters_by_record",
                                   "Dead_Letters_by_time", "Dead_Letters_pkey"])
        # Again: nothing changes, no error; by type too. The server's notices ("already
        # exists, skipping") go to the debug log, not to stderr.
        again = s.cli("init", "postgres")
        self.assertIn("ready", again.stdout.decode())
        self.assertEqual(again.stderr.decode(), "")
        # The blocked writes land now that the table exists.
        wait_rows(self.pg, 'SELECT count(*) FROM ops."Dead_Letters"', 2, what="2 rows landed")
        self.assertEqual(self.table_record_ids('ops."Dead_Letters"'), sorted(ids))
        self.assertEqual(len(s.dlq_entries()), 2)
        self.assertEqual(s.terminate(), 0)

    def test_init_reports_an_unreachable_server(self):
        fn = self.fn(script=FAIL_ALL)
        cfg = config(self, fn, self.pg, dlq={"conninfo": "host=127.0.0.1 port=1 user=postgres"})
        s = self.sluice(cfg, start=False)
        p = s.cli("init", check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("127.0.0.1:1", p.stderr.decode())


class Password(PgDlqTest):
    SECRET = "pg-Secret-4711"

    def setUp(self):
        super().setUp()
        # A role that must authenticate (SCRAM) from 127.0.0.1; everyone else stays on trust.
        self.pg.query("CREATE ROLE dlqwriter LOGIN PASSWORD %s", (self.SECRET,))
        self.pg.query("GRANT CREATE ON SCHEMA public TO dlqwriter")
        hba = os.path.join(self.pg.data, "pg_hba.conf")
        with open(hba) as f:
            rules = f.read()
        with open(hba, "w") as f:
            f.write("host all dlqwriter 127.0.0.1/32 scram-sha-256\n" + rules)
        self.pg.query("SELECT pg_reload_conf()")

    def dlq(self, password):
        return {"conninfo": self.pg.dsn(user="dlqwriter"), "password": password}

    def assert_never_printed(self, *texts):
        for t in texts:
            self.assertNotIn(self.SECRET, t)
            self.assertNotIn("wrong-" + self.SECRET, t)

    def test_password_is_used_and_never_printed(self):
        fn = self.fn(script=FAIL_ALL)
        s = self.sluice(config(self, fn, self.pg, dlq=self.dlq(self.SECRET)))
        self.wait_table()
        ids = self.post_many(s, 3)
        wait_rows(self.pg, "SELECT count(*) FROM sluice_dlq", 3, what="3 rows")
        self.assertEqual(self.pg.scalar("SELECT tableowner FROM pg_tables"
                                        " WHERE tablename = 'sluice_dlq'"), "dlqwriter")
        # The listing's own connection authenticates too.
        listed = s.cli("dlq", "list", "--json")
        self.assertEqual(sorted(e["recordId"] for e in json.loads(listed.stdout)["entries"]),
                         sorted(ids))
        docs = [json.dumps(r[0]) for r in self.pg.query("SELECT doc FROM sluice_dlq")]
        self.assert_never_printed(listed.stdout.decode(), listed.stderr.decode(), *docs)
        self.assertEqual(s.terminate(), 0)
        self.assert_never_printed(s.out.text())

    def test_a_role_without_create_uses_a_table_made_for_it(self):
        self.pg.query("REVOKE CREATE ON SCHEMA public FROM dlqwriter")
        fn = self.fn(script=FAIL_ALL)
        dba = self.sluice(config(self, fn, self.pg), name="dba", start=False)
        self.assertIn("ready", dba.cli("init").stdout.decode())
        self.pg.query("GRANT SELECT, INSERT, DELETE ON sluice_dlq TO dlqwriter")
        # create_table stays true: the CREATE is refused (and said), the writes and the
        # listings work.
        s = self.sluice(config(self, fn, self.pg, dlq=self.dlq(self.SECRET)))
        s.out.wait_for(r'creating "sluice_dlq" failed: .*permission denied')
        ids = self.post_many(s, 2)
        wait_rows(self.pg, "SELECT count(*) FROM sluice_dlq", 2, what="2 rows")
        self.assertEqual(sorted(e["recordId"] for e in s.dlq_entries()), sorted(ids))
        self.assertIn("purged 2", s.cli("dlq", "purge", "--all").stdout.decode())
        self.assertEqual(self.rows(), 0)
        self.assertEqual(s.terminate(), 0)

    def test_wrong_password_is_not_ready_and_never_printed(self):
        fn = self.fn(script=FAIL_ALL)
        s = self.sluice(config(self, fn, self.pg, dlq=self.dlq("wrong-" + self.SECRET)))
        wait_until(lambda: any(u.get("dlq") == "pgdlq" and "password authentication failed"
                               in u["why"] for u in readyz(s)[1].get("unreachable", [])),
                   what="/readyz naming the failed authentication")
        p = s.cli("init", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("password authentication failed", p.stderr.decode())
        p2 = s.cli("dlq", "list", check=False)
        self.assertEqual(p2.returncode, 1)
        self.assert_never_printed(p.stdout.decode(), p.stderr.decode(), p2.stdout.decode(),
                                  p2.stderr.decode(), json.dumps(readyz(s)[1]))
        self.assertEqual(s.terminate(), 0)
        self.assert_never_printed(s.out.text())


class BadConfig(PgDlqTest):
    def check_refused(self, dlq, *needles, absent=()):
        fn = self.fn(script=FAIL_ALL)
        s = self.sluice(config(self, fn, self.pg, dlq=dlq), start=False)
        for args in (("validate",), ("init",)):
            p = s.cli(*args, check=False)
            err = p.stdout.decode() + p.stderr.decode()
            self.assertEqual(p.returncode, 78, err)
            self.assertIn(s.config_path, err)
            self.assertIn("dlqs[0]", err)
            for n in needles:
                self.assertIn(n, err)
            for a in absent:
                self.assertNotIn(a, err)

    def test_bad_conninfo(self):
        self.check_refused({"conninfo": "host=127.0.0.1 nonsense"}, "conninfo",
                           "not a connection string")

    def test_password_in_conninfo(self):
        self.check_refused({"conninfo": "host=127.0.0.1 password=hunter2-secret"},
                           "holds a password", "password", absent=("hunter2-secret",))

    def test_bad_table_names(self):
        for bad in ("a.b.c", "1abc", "x;drop table y", "", "x" * 49, "ops."):
            with self.subTest(table=bad):
                self.check_refused({"table": bad}, ".table", "is not a table name",
                                   "schema.name")

    def test_unknown_key(self):
        self.check_refused({"tabel": "x"}, "tabel")


if __name__ == "__main__":
    main()
