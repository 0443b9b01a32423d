"""The store belongs to the config, and to one process, with the real sluice binary.

- A relative store.dir is read from the config file's folder: sluice run and every
  `sluice dlq` command find the same store from any working directory.
- A CLI command that finds no store says so, exits 1 and creates nothing.
- A second `sluice run` on the same store is refused, naming the PID that holds its lock;
  the first one goes on serving, and the read-only CLI commands still work beside it.
- The database carries a schema version: a newer one is refused, an older one is migrated
  when sluice run starts.
- A failed store write logs SQLite's own message.
"""
import json
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SLUICE, SluiceTest, base_config, json_body, main, wait_until  # noqa: E402

EXIT_ERROR = 1  # sluice run could not start; a dlq command failed (no store, ...)
SCHEMA_VERSION = 5  # cli/app.c, store_schema


def run(args, cwd=None, timeout=60):
    return subprocess.run([SLUICE] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, cwd=cwd)


def user_version(db_path):
    db = sqlite3.connect(db_path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def set_user_version(db_path, v):
    db = sqlite3.connect(db_path)
    try:
        db.execute("PRAGMA user_version = %d" % v)
        db.commit()
    finally:
        db.close()


class StoreOwner(SluiceTest):
    def setUp(self):
        super().setUp()
        self.root = os.path.realpath(self.workdir)

    def dir(self, *parts):
        path = os.path.join(self.root, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    def failing_config(self, fn, store_dir):
        """Every record fails once and is dead-lettered (max_attempts 1)."""
        cfg = base_config(self.root, fn.url, mapping={
            "batch": {"size": 1, "window": "0s"}, "retry": {"max_attempts": 1}})
        cfg["store"]["dir"] = store_dir
        return cfg

    def dead_letter(self, s, n=1):
        ids = self.post_many(s, n)
        wait_until(lambda: len(s.dlq_entries()) >= n, what="%d DLQ entries" % n)
        return ids

    def test_relative_store_dir_is_read_from_the_config_folder(self):
        fn = self.fn(script=[{"status": 500, "count": 2}])
        conf = self.dir("conf")
        started_in, elsewhere = self.dir("started-in"), self.dir("elsewhere")
        s = self.sluice(self.failing_config(fn, "state/data"), start=False, config_dir=conf)
        s.start(cwd=started_in)
        store = os.path.join(conf, "state", "data")
        # The startup log names the store it opened.
        s.out.wait_for(r"\[sluice\] store %s \(schema version %d\), owned by this process "
                       r"\(pid %d\)" % (re.escape(os.path.join(store, "sluice.db")),
                                        SCHEMA_VERSION, s.proc.pid))
        first, second = self.dead_letter(s, 2)

        # From another directory, with the config given by an absolute or a relative path,
        # every dlq command works on that store.
        rel = os.path.relpath(s.config_path, elsewhere)
        for config in (s.config_path, rel):
            listed = json.loads(s.cli("dlq", "list", "--json", cwd=elsewhere,
                                      config=config).stdout)["entries"]
            self.assertEqual(sorted(e["recordId"] for e in listed), sorted([first, second]))
        by_record = {e["recordId"]: e["id"] for e in listed}
        shown = json.loads(s.cli("dlq", "show", by_record[first], cwd=elsewhere,
                                 config=rel).stdout)
        self.assertEqual(shown["id"], by_record[first])
        out = s.cli("dlq", "redrive", "--id", by_record[first], cwd=elsewhere,
                    config=rel).stdout.decode()
        self.assertIn("redriven 1", out)
        self.assertEqual(fn.delivered_ids(), [first])
        out = s.cli("dlq", "purge", "--all", cwd=elsewhere, config=rel).stdout.decode()
        self.assertIn("purged 1 entries", out)
        self.assertEqual(s.dlq_entries(), [])

        # Nothing was made in the working directories.
        self.assertEqual(os.listdir(elsewhere), [])
        self.assertEqual(os.listdir(started_in), [])
        self.assertTrue(os.path.exists(os.path.join(store, "sluice.db")))

    def test_no_store_fails_and_creates_nothing(self):
        elsewhere = self.dir("elsewhere")
        # The default store.dir (./var/sluice) of a config that never ran, asked from another
        # directory: the bug was an empty elsewhere/var/sluice and "no entries", exit 0.
        conf = self.dir("conf")
        config = os.path.join(conf, "sluice.yaml")
        with open(config, "w") as f:
            f.write("sources:\n  - {name: orders, type: http}\n"
                    "functions:\n  - {name: fn, type: http, url: 'http://127.0.0.1:1/'}\n"
                    "mappings:\n  - {name: m, source: orders, function: fn}\n")
        store = os.path.join(conf, "var", "sluice")
        for args in (["dlq", "list"], ["dlq", "list", "--json"], ["dlq", "show", "x"],
                     ["dlq", "redrive", "--mapping", "m"], ["dlq", "purge", "--all"]):
            for cfg_arg in (config, os.path.relpath(config, elsewhere)):
                p = run(args + ["-c", cfg_arg], cwd=elsewhere)
                out = p.stdout.decode()
                self.assertEqual(p.returncode, EXIT_ERROR, (args, out))
                self.assertIn("no store in %s: no such directory" % store, out)
                self.assertIn("`sluice run` with this config creates it", out)
                self.assertNotIn("no entries", out)
        self.assertEqual(os.listdir(elsewhere), [])
        self.assertEqual(os.listdir(conf), ["sluice.yaml"])

        # A directory without a database: still no store, and no database made.
        os.makedirs(store)
        p = run(["dlq", "list", "-c", config], cwd=elsewhere)
        self.assertEqual(p.returncode, EXIT_ERROR, p.stdout)
        self.assertIn("no store in %s: no sluice.db there" % store, p.stdout.decode())
        self.assertEqual(os.listdir(store), [])

    def test_second_instance_refused_with_the_pid_while_the_first_serves(self):
        fn = self.fn(script=[{"status": 500, "count": 1}])
        store = os.path.join(self.root, "data")
        s = self.sluice(self.failing_config(fn, store))
        (dead,) = self.dead_letter(s, 1)

        # The same config, and another file naming the same directory another way.
        other = os.path.join(self.dir("other"), "again.yaml")
        with open(s.config_path) as f:
            text = f.read()
        with open(other, "w") as f:
            f.write(text.replace(json.dumps(store), json.dumps("../data")))
        for config in (s.config_path, other):
            p = run(["run", "-c", config], timeout=30)
            if config == s.config_path:
                self.assertIn("store %s is in use" % store, p.stdout.decode())
            out = p.stdout.decode()
            self.assertEqual(p.returncode, EXIT_ERROR, out)
            self.assertRegex(out, r"cannot start: store \S+ is in use by another process: "
                             r"pid %d holds its lock file \S+/sluice\.lock" % s.proc.pid)
            self.assertIn("one sluice owns a store", out)
            self.assertNotIn("listening on", out)

        # The owner is untouched: pushes are stored (the bug: 503 spool_unavailable to all).
        fn.set_script([])
        ids = self.post_many(s, 5)
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids), what="5 deliveries")

        # The read-only CLI commands work beside the owner.
        listed = s.dlq_entries()
        self.assertEqual([e["recordId"] for e in listed], [dead])
        self.assertEqual(json.loads(s.cli("dlq", "show", listed[0]["id"]).stdout)["recordId"],
                         dead)
        self.assertIn("orders-to-fn", s.cli("dlq", "list").stdout.decode())

        # Once the owner stopped, the next one starts.
        self.assertEqual(s.terminate(), 0)
        again = self.sluice(self.failing_config(fn, store), name="again")
        again.out.wait_for(r"store .* owned by this process \(pid %d\)" % again.proc.pid)
        self.assertEqual([e["recordId"] for e in again.dlq_entries()], [dead])

    def test_newer_schema_is_refused(self):
        fn = self.fn()
        store = os.path.join(self.root, "data")
        db = os.path.join(store, "sluice.db")
        s = self.sluice(self.failing_config(fn, store))
        self.assertEqual(s.terminate(), 0)
        self.assertEqual(user_version(db), SCHEMA_VERSION)
        set_user_version(db, SCHEMA_VERSION + 41)
        want = ("store %s has schema version %d, newer than this sluice knows (%d): it was "
                "written by a newer sluice" % (db, SCHEMA_VERSION + 41, SCHEMA_VERSION))
        p = run(["run", "-c", s.config_path], timeout=30)
        self.assertEqual(p.returncode, EXIT_ERROR, p.stdout)
        self.assertIn("cannot start: " + want, p.stdout.decode())
        self.assertNotIn("listening on", p.stdout.decode())
        for args in (["dlq", "list"], ["dlq", "redrive", "--mapping", "orders-to-fn"]):
            p = s.cli(*args, check=False)
            self.assertEqual(p.returncode, EXIT_ERROR, p.stdout)
            self.assertIn(want, p.stderr.decode())
        self.assertEqual(user_version(db), SCHEMA_VERSION + 41)

    def test_older_schema_is_migrated_at_start(self):
        fn = self.fn(script=[{"status": 500, "count": 1}])
        store = os.path.join(self.root, "data")
        db = os.path.join(store, "sluice.db")
        s = self.sluice(self.failing_config(fn, store))
        (dead,) = self.dead_letter(s, 1)
        self.assertEqual(s.terminate(), 0)
        # What a sluice from before schema versions left: the same tables, user_version 0.
        set_user_version(db, 0)

        # The CLI does not migrate; it says who does.
        p = s.cli("dlq", "list", check=False)
        self.assertEqual(p.returncode, EXIT_ERROR, p.stdout)
        self.assertIn("store %s has schema version 0, older than this sluice's (%d): `sluice "
                      "run` migrates it when it starts" % (db, SCHEMA_VERSION),
                      p.stderr.decode())

        again = self.sluice(self.failing_config(fn, store), name="again")
        again.out.wait_for(r"\[store\] store %s: schema migrated from version 0 to %d"
                           % (re.escape(db), SCHEMA_VERSION))
        again.out.wait_for(r"store %s \(schema version %d\)" % (re.escape(db), SCHEMA_VERSION))
        self.assertEqual(user_version(db), SCHEMA_VERSION)
        self.assertEqual([e["recordId"] for e in again.dlq_entries()], [dead])
        ids = self.post_many(again, 2)
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids), what="2 deliveries")

    def test_store_write_failure_logs_sqlite_message(self):
        fn = self.fn()
        store = os.path.join(self.root, "data")
        s = self.sluice(self.failing_config(fn, store))
        # Another writer takes the spool position sluice gives its next push (the first one:
        # the spool is empty), as a second sluice on the same store did before it was refused.
        db = sqlite3.connect(os.path.join(store, "sluice.db"), timeout=10)
        db.execute("INSERT INTO spool(seq, source, id, received_ms, attrs, body) "
                   "VALUES(1, 'ghost', 'ghost-1', 0, '{}', x'')")
        db.commit()
        db.close()
        status, _, data = s.post("orders", {"n": 1})
        self.assertEqual(status, 503, data)
        self.assertEqual(json_body(data)["error"], "spool_unavailable")
        s.out.wait_for(r"error .*\[store\] 1 of 1 writes failed and were rolled back: UNIQUE "
                       r"constraint failed: spool\.seq")
        # The next push gets the next position.
        (ok,) = self.post_many(s, 1)
        wait_until(lambda: fn.delivered_ids() == [ok], what="the next push delivered")


if __name__ == "__main__":
    main()
