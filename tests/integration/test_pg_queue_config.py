"""The postgres-queue source's configuration and `sluice init`: init creates the documented table,
the NOTIFY trigger and the archive table (running it twice changes nothing), --print prints the
SQL and creates nothing; bad configs (no table, a bad conninfo, a password in it, a visibility
timeout shorter than the function's timeout) and tables that do not fit (missing, a column
missing or of the wrong type) get errors naming the key and the column; a reload that changes
the source under load loses nothing, and one that breaks the visibility rule is refused."""
import copy
import json
import threading
import time
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_pg_queue as common  # noqa: E402
import harness  # noqa: E402
from harness import main, to_yaml, wait_until  # noqa: E402

EXIT_CONFIG = 78


class PgQueueConfig(common.PgQueueTest):
    def run_cli(self, cfg, *args, name="c"):
        s = harness.Sluice(self.workdir, cfg, name=name)
        p = subprocess.run([harness.SLUICE] + list(args) + ["-c", s.config_path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def columns(self, pg, table):
        return pg.query("SELECT column_name, data_type, is_nullable, column_default "
                        "FROM information_schema.columns WHERE table_name = %s "
                        "ORDER BY ordinal_position", (table,))

    def test_init_creates_the_table_and_is_idempotent(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.config(pg, fn, source={"archive_table": "jobs_done"})
        # --print: the SQL, nothing created.
        rc, out, err = self.run_cli(cfg, "init", "--print", "postgres-queue")
        self.assertEqual(rc, 0, err)
        self.assertIn("-- source orders (postgres-queue)", out)
        self.assertIn('CREATE TABLE IF NOT EXISTS "jobs" (', out)
        self.assertIn('CREATE TRIGGER "sluice_notify" AFTER INSERT ON "jobs"', out)
        self.assertIn('CREATE TABLE IF NOT EXISTS "jobs_done" (LIKE "jobs");', out)
        self.assertIsNone(pg.scalar("SELECT to_regclass('jobs')::text"))
        # Twice: the same table, no error, nothing printed by the server.
        for _ in range(2):
            rc, out, err = self.run_cli(cfg, "init", "postgres-queue")
            self.assertEqual(rc, 0, err)
            self.assertEqual(out.strip(), "source orders (postgres-queue): ready")
            self.assertEqual(err, "")
        cols = self.columns(pg, "jobs")
        self.assertEqual([(c[0], c[1], c[2]) for c in cols], [
            ("id", "bigint", "NO"),
            ("payload", "text", "NO"),
            ("visible_after", "timestamp with time zone", "NO"),
            ("receive_count", "integer", "NO"),
            ("created_at", "timestamp with time zone", "NO"),
            ("first_received_at", "timestamp with time zone", "YES"),
        ])
        self.assertEqual(pg.scalar("SELECT count(*) FROM pg_trigger WHERE tgrelid = "
                                   "'jobs'::regclass AND tgname = 'sluice_notify'"), 1)
        self.assertEqual([c[0] for c in self.columns(pg, "jobs_done")],
                         [c[0] for c in cols] + ["archived_at"])
        # A producer needs only the payload.
        pg.query("INSERT INTO jobs (payload) VALUES ('x')")
        row = pg.query("SELECT id, receive_count, visible_after <= now(), created_at IS NOT NULL, "
                       "first_received_at FROM jobs")
        self.assertEqual(row, [(1, 0, True, True, None)])
        # Only the sections named: a name that matches nothing says so.
        rc, out, err = self.run_cli(cfg, "init", "nothing-here")
        self.assertEqual(rc, 0)
        self.assertIn("nothing to initialise", err)

    def test_init_on_a_table_that_does_not_fit(self):
        pg = self.pg()
        fn = self.sfn()
        pg.query("CREATE TABLE jobs (id uuid PRIMARY KEY, payload text, visible_after "
                 "timestamptz, receive_count int, created_at timestamptz, first_received_at "
                 "timestamptz)")
        cfg = self.config(pg, fn)
        rc, out, err = self.run_cli(cfg, "init")
        self.assertEqual(rc, EXIT_CONFIG, out + err)
        self.assertIn("sources[0].columns.id: column \"id\" of table jobs is uuid (allowed: an "
                      "integer column", err)
        self.assertIn("`sluice init` does not change a table", err)

    def validate(self, cfg):
        rc, out, err = self.run_cli(cfg, "validate", name="v")
        return rc, out + err

    def test_bad_configs_name_the_key(self):
        pg = self.pg()
        fn = self.sfn()
        cases = [
            ({"table": None}, "sources[0].table"),
            ({"table": "my jobs"}, "sources[0].table: \"my jobs\" is not a table name"),
            ({"conninfo": "host=127.0.0.1 nosuchkey=1"},
             "sources[0].conninfo: not a connection string"),
            ({"conninfo": "postgresql://u:hunter2@127.0.0.1/db"},
             "sources[0].conninfo: holds a password"),
            ({"columns": {"payload": ""}}, "sources[0].columns.payload: \"\" is empty"),
            ({"max_receives": 0}, "sources[0].max_receives"),
            ({"visibility_timeout": "5s"},
             "sources[0].visibility_timeout: Queue visibility timeout: 5 seconds is less than "
             "Function timeout: 10 seconds (function \"fn\" of mappings[0]; allowed: at least "
             "10s)"),
        ]
        for src, want in cases:
            cfg = self.config(pg, fn, source=src, function={"timeout": "10s"})
            for k, v in src.items():
                if v is None:
                    cfg["sources"][0].pop(k)
            rc, out = self.validate(cfg)
            self.assertEqual(rc, EXIT_CONFIG, "accepted %s: %s" % (src, out))
            self.assertIn(want, out, "for %s" % src)
            self.assertNotIn("hunter2", out)
            # sluice run refuses it the same way.
            s = harness.Sluice(self.workdir, cfg, name="r")
            p = subprocess.run([harness.SLUICE, "run", "-c", s.config_path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(p.returncode, EXIT_CONFIG, p.stdout.decode())
            self.assertIn(want, p.stdout.decode())
        # Equal timeouts are fine (Lambda: not less than).
        rc, out = self.validate(self.config(pg, fn, source={"visibility_timeout": "10s"},
                                            function={"timeout": "10s"}))
        self.assertEqual(rc, 0, out)
        # The password is a secret: a config with one validates and never shows it.
        rc, out = self.validate(self.config(pg, fn, source={"password": "hunter2"}))
        self.assertEqual(rc, 0, out)
        self.assertNotIn("hunter2", out)

    def test_missing_table_then_created_while_running(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.config(pg, fn)
        s = self.sluice(cfg)
        m = s.out.wait_for(r"error .* cannot use .*: (sources\[0\]\.table: table jobs does not "
                           r"exist \(`sluice init -c .*` creates it\))")
        status, _, body = s.admin("GET", "/readyz")
        self.assertEqual(status, 503)
        self.assertIn(m.group(1), json.loads(body)["unreachable"][0]["why"])
        self.init(cfg)
        s.out.wait_for("connected to .* again", timeout=30)
        ids = self.produce(pg, 5)
        self.wait_empty(pg)
        self.assertEqual(sorted(fn.delivered(), key=int), ids)

    def test_table_without_the_expected_columns(self):
        pg = self.pg()
        fn = self.sfn()
        pg.query("CREATE TABLE jobs (id bigserial PRIMARY KEY, body text NOT NULL, "
                 "visible_after timestamptz NOT NULL DEFAULT now(), receive_count int NOT NULL "
                 "DEFAULT 0, note text)")
        cfg = self.config(pg, fn)
        s = self.sluice(cfg)
        s.out.wait_for(r"sources\[0\]\.columns\.payload: column \"payload\" not found in table "
                       r"jobs \(its columns: id, body, visible_after, receive_count, note; names "
                       r"are case-sensitive\)")
        self.assertEqual(s.admin("GET", "/readyz")[0], 503)
        s.terminate()
        # Mapped to what the table has (no created_at, no first_received_at): it works, with
        # the claim's time as SentTimestamp and ApproximateFirstReceiveTimestamp.
        cfg = self.config(pg, fn, source={"columns": {"payload": "body", "created_at": "",
                                                      "first_received_at": ""},
                                          "notify": False, "poll_interval": "100ms"})
        s = self.sluice(cfg, name="mapped")
        s.out.wait_for("connected to")
        pg.query("INSERT INTO jobs (body) VALUES ('hello')")
        wait_until(lambda: fn.events, what="the row delivered")
        a = fn.events[0]["attributes"]
        self.assertEqual(fn.events[0]["body"], "hello")
        self.assertEqual(a["SentTimestamp"], a["ApproximateFirstReceiveTimestamp"])
        # A column of the wrong type.
        cfg = self.config(pg, fn, source={"columns": {"payload": "body", "created_at": "",
                                                      "first_received_at": "",
                                                      "receive_count": "body"}})
        rc, out = self.validate(cfg)
        self.assertEqual(rc, EXIT_CONFIG)
        self.assertIn("sources[0].columns.receive_count: \"body\" is columns.payload too", out)
        cfg["sources"][0]["columns"] = {"payload": "body", "created_at": "",
                                        "first_received_at": "", "visible_after": "note"}
        s.terminate()
        s = self.sluice(cfg, name="wrongtype")
        s.out.wait_for(r"sources\[0\]\.columns\.visible_after: column \"note\" of table jobs "
                       r"is text \(allowed: timestamptz \(or timestamp\)\)")

    def test_reload_under_load(self):
        pg = self.pg()
        fn = self.sfn(delay_ms=3)
        cfg = self.config(pg, fn)
        self.init(cfg)
        s = self.sluice(cfg)
        stop = threading.Event()
        produced = []

        def producer():
            while not stop.is_set():
                produced.extend(self.produce(pg, 20, start=len(produced)))
                time.sleep(0.01)
        t = threading.Thread(target=producer, daemon=True)
        t.start()

        def reload(new):
            with open(s.config_path, "w") as f:
                f.write(to_yaml(new) + "\n")
            return s.admin("POST", "/v1/reload")

        wait_until(lambda: len(fn.delivered()) >= 300, what="deliveries before the reload")
        changed = copy.deepcopy(cfg)
        changed["sources"][0]["claim_size"] = 25
        status, _, body = reload(changed)
        self.assertEqual(status, 200, body)
        self.assertIn(b'"kind":"source","name":"orders","change":"changed"', body)
        count = len(fn.delivered())
        wait_until(lambda: len(fn.delivered()) >= count + 300, what="deliveries after it")
        # A visibility timeout below the function's timeout: refused, the old config runs on.
        bad = copy.deepcopy(changed)
        bad["sources"][0]["visibility_timeout"] = "2s"
        status, _, body = reload(bad)
        self.assertNotEqual(status, 200)
        self.assertIn(b"Queue visibility timeout: 2 seconds is less than Function timeout: 5 "
                      b"seconds", body)
        with open(s.config_path, "w") as f:
            f.write(to_yaml(changed) + "\n")
        stop.set()
        t.join(30)
        self.wait_empty(pg)
        self.assertEqual(set(fn.delivered()), set(produced))
        self.assertEqual(s.dlq_entries(), [])
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    main()
