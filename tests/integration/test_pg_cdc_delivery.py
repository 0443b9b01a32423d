"""The postgres-cdc source against a real PostgreSQL 15 and the real sluice binary: the
DynamoDB Streams event shape for REPLICA IDENTITY DEFAULT and FULL, typed values, commit order,
transactions kept in one batch, failures retried then dead-lettered with the slot confirmed
only past them afterwards, and clear errors for bad configurations."""
import base64
import io
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import main, wait_until  # noqa: E402
from pgcdc_fixture import CdcTest, cdc_config, image  # noqa: E402

TYPED = """CREATE TABLE typed (id int PRIMARY KEY, big bigint, num numeric, f float8, t text,
  ok boolean, nothing text, doc jsonb, arr jsonb, raw bytea, fail boolean DEFAULT false)"""


class CdcDelivery(CdcTest):
    def test_event_shape_default_identity(self):
        pg = self.pg
        pg.query(TYPED)
        fn = self.ddbfn()
        s = self.sluice(cdc_config(self, fn, pg))
        self.wait_streaming()
        conn = pg.connect()
        cur = conn.cursor()
        cur.execute("INSERT INTO typed (id, big, num, f, t, ok, nothing, doc, arr, raw) VALUES "
                    "(1, 9007199254740993, 12.50, 1.5, 'h\u00e9 \"q\"', true, NULL, "
                    "'{\"a\": {\"b\": [1, \"x\", null, false]}}', '[1, 2]', '\\x00ff41')")
        cur.execute("UPDATE typed SET t = 'two', ok = false WHERE id = 1")
        cur.execute("DELETE FROM typed WHERE id = 1")
        wait_until(lambda: len(fn.delivered()) == 3, what="three changes delivered")
        ins, mod, rem = fn.delivered()
        self.assertEqual([r["eventName"] for r in (ins, mod, rem)], ["INSERT", "MODIFY", "REMOVE"])
        for r in (ins, mod, rem):
            self.assertEqual(set(r), {"eventID", "eventName", "eventVersion", "eventSource",
                                      "awsRegion", "dynamodb", "eventSourceARN"})
            self.assertEqual(r["eventVersion"], "1.1")
            self.assertEqual(r["eventSource"], "sluice:postgres")
            self.assertEqual(r["awsRegion"], "eu-west-1")
            self.assertEqual(r["eventSourceARN"],
                             "postgres://127.0.0.1:%d/postgres/public.typed/stream/sluice_slot"
                             % pg.port)
            d = r["dynamodb"]
            self.assertEqual(d["StreamViewType"], "NEW_IMAGE")
            self.assertEqual(d["Keys"], {"id": {"N": "1"}})
            self.assertEqual(r["eventID"], "sluice_slot:" + d["SequenceNumber"])
            self.assertIsInstance(d["ApproximateCreationDateTime"], int)
            self.assertGreater(d["SizeBytes"], 0)
        seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in (ins, mod, rem)]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 3)
        new = ins["dynamodb"]["NewImage"]
        self.assertEqual(new["id"], {"N": "1"})
        self.assertEqual(new["big"], {"N": "9007199254740993"})  # exact, as text
        self.assertEqual(new["num"], {"N": "12.50"})
        self.assertEqual(new["f"], {"N": "1.5"})
        self.assertEqual(new["t"], {"S": "h\u00e9 \"q\""})
        self.assertEqual(new["ok"], {"BOOL": True})
        self.assertEqual(new["nothing"], {"NULL": True})
        self.assertEqual(new["doc"], {"M": {"a": {"M": {"b": {"L": [
            {"N": "1"}, {"S": "x"}, {"NULL": True}, {"BOOL": False}]}}}}})
        self.assertEqual(new["arr"], {"L": [{"N": "1"}, {"N": "2"}]})
        self.assertEqual(base64.b64decode(new["raw"]["B"]), b"\x00\xffA")
        self.assertNotIn("OldImage", ins["dynamodb"])
        self.assertEqual(image(mod["dynamodb"]["NewImage"])["t"], "two")
        self.assertIs(mod["dynamodb"]["NewImage"]["ok"]["BOOL"], False)
        self.assertNotIn("OldImage", mod["dynamodb"])
        self.assertNotIn("NewImage", rem["dynamodb"])
        self.assertNotIn("OldImage", rem["dynamodb"])
        # Confirmed past the last change; the metrics say so.
        end = pg.scalar("SELECT pg_current_wal_lsn()::text")
        hi, lo = end.split("/")
        wait_until(lambda: self.confirmed_lsn() >= (int(hi, 16) << 32 | int(lo, 16)) - 200,
                   what="the slot confirmed past the changes")
        mx = s.metrics()
        lbl = '{source="orders",slot="sluice_slot"}'
        self.assertEqual(mx["sluice_pgcdc_streaming" + lbl], 1)
        self.assertEqual(mx["sluice_pgcdc_changes_total" + lbl], 3)
        self.assertIn("sluice_pgcdc_lag_bytes" + lbl, mx)
        self.assertIn("sluice_pgcdc_lag_seconds" + lbl, mx)
        self.assertIn("sluice_pgcdc_oldest_unconfirmed_age_seconds" + lbl, mx)
        self.assertGreater(mx["sluice_pgcdc_confirmed_lsn" + lbl], 0)
        self.assertEqual(s.terminate(), 0)

    def test_full_identity_old_and_new_images_in_commit_order(self):
        pg = self.pg
        pg.query("CREATE TABLE acct (id int PRIMARY KEY, owner text, balance numeric)")
        pg.query("ALTER TABLE acct REPLICA IDENTITY FULL")
        fn = self.ddbfn()
        self.sluice(cdc_config(self, fn, pg, source={"tables": ["public.acct"]}))
        self.wait_streaming()
        # Interleaved transactions: delivered in commit order, not statement order.
        a, b = pg.connect(), pg.connect()
        a.autocommit = b.autocommit = False
        ca, cb = a.cursor(), b.cursor()
        ca.execute("INSERT INTO acct VALUES (1, 'ann', 10)")
        cb.execute("INSERT INTO acct VALUES (2, 'bob', 20)")
        cb.execute("INSERT INTO acct VALUES (3, 'cy', 30)")
        b.commit()
        ca.execute("INSERT INTO acct VALUES (4, 'di', 40)")
        a.commit()
        ca.execute("UPDATE acct SET balance = balance + 1 WHERE id = 2")
        ca.execute("DELETE FROM acct WHERE id = 3")
        a.commit()
        wait_until(lambda: len(fn.delivered()) == 6, what="six changes")
        got = [(r["eventName"], image(r["dynamodb"].get("NewImage")),
                image(r["dynamodb"].get("OldImage"))) for r in fn.delivered()]
        self.assertEqual(got, [
            ("INSERT", {"id": 2, "owner": "bob", "balance": 20}, None),
            ("INSERT", {"id": 3, "owner": "cy", "balance": 30}, None),
            ("INSERT", {"id": 1, "owner": "ann", "balance": 10}, None),
            ("INSERT", {"id": 4, "owner": "di", "balance": 40}, None),
            ("MODIFY", {"id": 2, "owner": "bob", "balance": 21},
             {"id": 2, "owner": "bob", "balance": 20}),
            ("REMOVE", None, {"id": 3, "owner": "cy", "balance": 30}),
        ])
        for r in fn.delivered():
            self.assertEqual(r["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES")
        # Only the configured table is in the publication it created.
        self.assertEqual(pg.query("SELECT tablename FROM pg_publication_tables WHERE pubname = "
                                  "'sluice_pub'"), [("acct",)])

    def test_unchanged_toasted_values(self):
        pg = self.pg
        pg.query("CREATE TABLE docs (id int PRIMARY KEY, n int, body text)")
        pg.query("CREATE TABLE docs_full (id int PRIMARY KEY, n int, body text)")
        pg.query("ALTER TABLE docs_full REPLICA IDENTITY FULL")
        fn = self.ddbfn()
        self.sluice(cdc_config(self, fn, pg))
        self.wait_streaming()
        # Stored out of line (TOAST): an UPDATE that leaves it alone does not send it again.
        big = "".join("%08x" % (i * 2654435761 % 2**32) for i in range(4000))
        for t in ("docs", "docs_full"):
            pg.query("INSERT INTO " + t + " VALUES (1, 0, %s)", (big,))
            pg.query("UPDATE " + t + " SET n = 1 WHERE id = 1")
        wait_until(lambda: len(fn.delivered()) == 4, what="four changes")
        ins, mod, ins_f, mod_f = fn.delivered()
        self.assertEqual(ins["dynamodb"]["NewImage"]["body"], {"S": big})
        # DEFAULT: PostgreSQL did not send it, so the NewImage leaves it out.
        self.assertEqual(mod["dynamodb"]["NewImage"], {"id": {"N": "1"}, "n": {"N": "1"}})
        # FULL: taken from the old row, which came whole.
        self.assertEqual(mod_f["dynamodb"]["NewImage"]["body"], {"S": big})
        self.assertEqual(mod_f["dynamodb"]["OldImage"]["body"], {"S": big})
        self.assertEqual(mod_f["dynamodb"]["OldImage"]["n"], {"N": "0"})

    def test_transaction_kept_in_one_batch(self):
        pg = self.pg
        pg.query("CREATE TABLE t (id int PRIMARY KEY)")
        fn = self.ddbfn(hold=True)
        s = self.sluice(cdc_config(self, fn, pg, mapping={"batch": {"size": 10, "window": "0s"}}))
        self.wait_streaming()
        # Transactions of 7, 7 and 7 rows: two never fit in a batch of 10 together, and none
        # is cut in two. Then one of 25 rows: bigger than a batch, cut in 10 + 10 + 5. The
        # function holds the first batch so that the others wait in the lane together.
        for k in range(3):
            pg.query("INSERT INTO t SELECT g FROM generate_series(%s, %s) g", (k * 7, k * 7 + 6))
        # COPY writes its rows as multi-row WAL records: the changes share LSNs.
        conn = pg.connect()
        conn.cursor().copy_from(io.StringIO("".join("%d\n" % i for i in range(100, 125))), "t")
        conn.close()
        lbl = '{source="orders",slot="sluice_slot"}'
        wait_until(lambda: fn.arrived == 1 and
                   s.metrics()["sluice_pgcdc_changes_total" + lbl] == 46,
                   what="every change read while the first batch is held")
        fn.release()
        wait_until(lambda: len(fn.delivered()) == 46, what="46 changes")
        sizes = [len(inv["records"]) for inv in fn.invocations()]
        self.assertEqual(sizes, [7, 7, 7, 10, 10, 5])
        ids = [int(r["dynamodb"]["Keys"]["id"]["N"]) for r in fn.delivered()]
        self.assertEqual(ids, list(range(21)) + list(range(100, 125)))
        # SequenceNumbers stay unique and ordered where changes share an LSN.
        seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in fn.delivered()]
        self.assertEqual(seqs, sorted(set(seqs)))
        # (WAL records are at least 24 bytes apart: numbers 1 apart are rows of one record.)
        copy_seqs = seqs[21:]
        self.assertTrue(any(b - a == 1 for a, b in zip(copy_seqs, copy_seqs[1:])),
                        "COPY's rows share WAL records: consecutive numbers from one LSN")

    def test_big_transaction_emitted_in_parts(self):
        pg = self.pg
        pg.query("CREATE TABLE t (id int PRIMARY KEY, pad text)")
        fn = self.ddbfn()
        s = self.sluice(cdc_config(self, fn, pg, source={"max_transaction_bytes": "64KiB"},
                                   mapping={"batch": {"size": 1000, "window": "0s"}}))
        self.wait_streaming()
        # ~2,000 rows of ~300 bytes rendered: parts of about 64 KB leave before the COMMIT.
        pg.query("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(0, 1999) g")
        pg.query("INSERT INTO t VALUES (5000, 'after')")
        wait_until(lambda: len(fn.delivered()) == 2001, what="every change")
        ids = [int(r["dynamodb"]["Keys"]["id"]["N"]) for r in fn.delivered()]
        self.assertEqual(ids, list(range(2000)) + [5000])
        lbl = '{source="orders",slot="sluice_slot"}'
        self.assertGreater(s.metrics()["sluice_pgcdc_transactions_total" + lbl], 3)
        s.out.wait_for(r"grew past max_transaction_bytes")
        # Confirmed past both transactions once all of them are handled.
        last = int(fn.delivered()[-1]["dynamodb"]["SequenceNumber"])
        wait_until(lambda: self.confirmed_lsn() > last, what="confirmed past the last change")
        self.assertEqual(s.terminate(), 0)

    def test_failures_retried_then_dead_lettered_slot_confirmed_after(self):
        pg = self.pg
        pg.query("CREATE TABLE jobs (id int PRIMARY KEY, fail boolean DEFAULT false)")
        fn = self.ddbfn(partial=True)
        s = self.sluice(cdc_config(self, fn, pg, mapping={
            "batch": {"size": 5, "window": "0s"},
            "retry": {"max_attempts": 3, "report_batch_item_failures": True,
                      "backoff": {"min": "5ms", "max": "20ms"}}}))
        self.wait_streaming()
        poison = {7, 23, 24}
        for i in range(40):
            pg.query("INSERT INTO jobs VALUES (%s, %s)", (i, i in poison))
        wait_until(lambda: len(s.dlq_entries()) == 3, what="three records dead-lettered")
        delivered = [int(r["dynamodb"]["Keys"]["id"]["N"]) for r in fn.delivered()]
        inv_ok = [int(r["dynamodb"]["Keys"]["id"]["N"])
                  for inv in fn.invocations() if inv["outcome"] == "partial"
                  for r in inv["records"]
                  if r["dynamodb"]["SequenceNumber"] not in inv["failed"]]
        # Every row once at least, delivered or dead-lettered, in order per lane.
        handled = set(delivered) | set(inv_ok)
        entries = s.dlq_entries()
        dead = set()
        for e in entries:
            body = json.loads(s.cli("dlq", "show", e["id"]).stdout.decode())
            payload = body.get("payload")
            dead.add(int(json.loads(payload)["Keys"]["id"]["N"]))
            self.assertEqual(e["condition"], "RetryAttemptsExhausted")
        self.assertEqual(dead, poison)
        self.assertEqual(handled | dead, set(range(40)))
        self.assertEqual(sorted(delivered), sorted(set(delivered)))  # no duplicates here
        # The slot moves past the dead-lettered rows once they are in the DLQ.
        end = pg.scalar("SELECT pg_current_wal_lsn()::text")
        hi, lo = end.split("/")
        wait_until(lambda: self.confirmed_lsn() >= (int(hi, 16) << 32 | int(lo, 16)) - 200,
                   what="the slot confirmed past everything")
        self.assertEqual(s.terminate(), 0)

    def test_slot_not_confirmed_past_a_failing_change(self):
        pg = self.pg
        pg.query("CREATE TABLE jobs (id int PRIMARY KEY, fail boolean DEFAULT false)")
        fn = self.ddbfn()
        s = self.sluice(cdc_config(self, fn, pg, mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 10000, "backoff": {"min": "5ms", "max": "20ms"}}}))
        self.wait_streaming()
        pg.query("INSERT INTO jobs VALUES (1, false)")
        wait_until(lambda: len(fn.delivered()) == 1, what="the first change")
        pg.query("INSERT INTO jobs VALUES (2, true)")
        pg.query("INSERT INTO jobs VALUES (3, false)")
        wait_until(lambda: len(fn.invocations()) >= 6, what="the failing change retried")
        poison = int(fn.invocations()[-1]["records"][0]["dynamodb"]["SequenceNumber"])
        first = int(fn.delivered()[0]["dynamodb"]["SequenceNumber"])
        # Status updates go out every 500 ms: several passed while it kept failing.
        wait_until(lambda: self.confirmed_lsn() > first, what="the first change confirmed")
        for _ in range(3):
            n = len(fn.invocations())
            wait_until(lambda: len(fn.invocations()) > n + 5, what="more retries")
            self.assertLessEqual(self.confirmed_lsn(), poison)  # "all before it" handled
        self.assertEqual(len(fn.delivered()), 1)
        fn.fixed = True
        wait_until(lambda: len(fn.delivered()) == 3, what="the rest delivered once fixed")
        last = int(fn.delivered()[-1]["dynamodb"]["SequenceNumber"])
        wait_until(lambda: self.confirmed_lsn() > last, what="confirmed past the last change")
        self.assertEqual(s.terminate(), 0)

    def test_sluice_init_creates_the_publication(self):
        pg = self.pg
        pg.query("CREATE TABLE a (id int PRIMARY KEY)")
        pg.query("CREATE TABLE b (id int PRIMARY KEY)")
        fn = self.ddbfn()
        s = self.sluice(cdc_config(self, fn, pg, source={"create": False, "tables": ["a"]}),
                        start=False)
        p = s.cli("init", "--print")
        self.assertIn(b'CREATE PUBLICATION "sluice_pub" FOR TABLE "a"', p.stdout)
        self.assertEqual(pg.scalar("SELECT count(*) FROM pg_publication"), 0)  # only printed
        s.cli("init")
        s.cli("init")  # idempotent
        self.assertEqual(pg.query("SELECT tablename FROM pg_publication_tables WHERE pubname = "
                                  "'sluice_pub'"), [("a",)])
        # create: false also wants the slot: made by hand here.
        pg.query("SELECT pg_create_logical_replication_slot('sluice_slot', 'pgoutput')")
        s.start()
        self.wait_streaming()
        pg.query("INSERT INTO b VALUES (1)")  # not in the publication
        pg.query("INSERT INTO a VALUES (2)")
        wait_until(lambda: len(fn.delivered()) == 1, what="the change of a")
        self.assertEqual(fn.delivered()[0]["dynamodb"]["Keys"], {"id": {"N": "2"}})
        self.assertEqual(s.terminate(), 0)

    def test_bad_config(self):
        pg = self.pg
        fn = self.ddbfn()
        # create: false and no publication: the source says which one is missing, and is not
        # ready; nothing is created.
        s = self.sluice(cdc_config(self, fn, pg, source={"create": False}), start=False)
        s.start(wait_ready=False)
        s.out.wait_for(r'publication "sluice_pub" does not exist \(create: false')
        status, _, body = s.admin("GET", "/readyz")
        self.assertNotEqual(status, 200, body)
        self.assertIn(b"sluice_pub", body)
        self.assertEqual(pg.scalar("SELECT count(*) FROM pg_replication_slots"), 0)
        self.assertEqual(s.terminate(), 0)
        # The publication exists, the slot does not.
        pg.query("CREATE PUBLICATION sluice_pub FOR ALL TABLES")
        s = self.sluice(cdc_config(self, fn, pg, source={"create": False}), name="s2",
                        start=False)
        s.start(wait_ready=False)
        s.out.wait_for(r'replication slot "sluice_slot" does not exist \(create: false')
        self.assertEqual(s.terminate(), 0)
        # A conninfo that does not parse: refused at validate, naming the key.
        bad = cdc_config(self, fn, pg, source={"conninfo": "host=127.0.0.1 port="
                                               "nonsense bogus_key=1"})
        v = self.sluice(bad, name="bad", start=False)
        p = v.cli("validate", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"conninfo", p.stdout + p.stderr)
        # Bad names are refused with what is allowed.
        bad = cdc_config(self, fn, pg, source={"slot": "Bad-Slot"})
        v = self.sluice(bad, name="bad2", start=False)
        p = v.cli("validate", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"sources[0].slot", p.stdout + p.stderr)
        self.assertIn(b"lower-case letters", p.stdout + p.stderr)


if __name__ == "__main__":
    main()
