"""The schedule source's PostgreSQL lock against the real sluice binary and a real PostgreSQL:
two processes fire each tick once in total; a tick's row belongs to its owner (a process that
comes late does not fire a tick another one took); while PostgreSQL is down no tick fires (as
with the Redis lock) and they resume when it is back; config errors name the key."""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.dirname(__file__))
from harness import SluiceTest, main, wait_until  # noqa: E402
from pg_fixture import PgServer  # noqa: E402
import test_schedule as sched  # noqa: E402  (its helpers, not its tests)

TABLE = "sluice_schedule_ticks"
SCHEDULE = "sluice:schedule:tick"


class SchedulePgLock(SluiceTest):
    def setUp(self):
        super().setUp()
        self.pg = PgServer().start()
        self.addCleanup(self.pg.destroy)

    def event_fn(self):
        f = sched.EventFn()
        self._procs.append(f)
        return f

    def lock(self, **extra):
        return dict({"type": "postgres", "conninfo": self.pg.dsn()}, **extra)

    def start_pair(self, fn):
        a = self.sluice(sched.config(self.workdir, fn.url, store="a",
                                     source={"lock": self.lock(), "input": '{"p": "a"}'}),
                        name="a")
        b = self.sluice(sched.config(self.workdir, fn.url, store="b",
                                     source={"lock": self.lock(), "input": '{"p": "b"}'}),
                        name="b")
        owner = {}
        for name, s in (("a", a), ("b", b)):
            owner[name] = s.out.wait_for(r"lock: PostgreSQL \S+, table \S+, schedule \S+, "
                                         r"owner (\S+)").group(1)
        return a, b, owner

    def rows(self):
        return {tick // 1000: owner for tick, owner in self.pg.query(
            "SELECT tick, owner FROM %s WHERE schedule = %%s" % TABLE, (SCHEDULE,))}

    def test_two_processes_fire_each_tick_once(self):
        fn = self.event_fn()
        a, b, owner = self.start_pair(fn)
        both_at = time.time()
        wait_until(lambda: sum(sched.tick_seconds(e) > both_at for e in fn.events()) >= 6,
                   what="6 ticks with both processes running")
        fired = collections.defaultdict(list)
        for e in fn.events():
            fired[sched.tick_seconds(e)].append(e["detail"]["p"])
        self.assertEqual({t: p for t, p in fired.items() if len(p) > 1}, {},
                         "no tick fired twice")
        shared = sorted(t for t in fired if t > both_at)
        self.assertEqual(shared, list(range(shared[0], shared[0] + len(shared))),
                         "no tick lost between the two")
        # Each fired tick has its row, naming the process that fired it.
        rows = self.rows()
        by_owner = {v: k for k, v in owner.items()}
        for t in shared:
            self.assertIn(t, rows)
            self.assertEqual(fired[t], [by_owner[rows[t]]], "tick %d" % t)
        skipped = sum(s.metrics().get('sluice_schedule_skipped_total{source="tick"}', 0)
                      for s in (a, b))
        self.assertGreater(skipped, 0, "the process that lost a tick skipped it")

    def test_a_tick_row_belongs_to_its_owner(self):
        """Rows written ahead: ticks of a (as after a took them and restarted) fire in a only;
        ticks of a third owner (a process that fired them and is gone) fire nowhere, however
        late the others ask."""
        fn = self.event_fn()
        a, b, owner = self.start_pair(fn)
        wait_until(lambda: self.pg.scalar("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)),
                   what="the lock's table")
        start = int(time.time()) + 2
        mine = list(range(start, start + 4, 2))
        theirs = list(range(start + 1, start + 5, 2))
        for t in mine:
            self.pg.query("INSERT INTO %s (schedule, tick, owner) VALUES (%%s, %%s, %%s)" % TABLE,
                          (SCHEDULE, t * 1000, owner["a"]))
        for t in theirs:
            self.pg.query("INSERT INTO %s (schedule, tick, owner) VALUES (%%s, %%s, %%s)" % TABLE,
                          (SCHEDULE, t * 1000, "elsewhere:/x"))
        wait_until(lambda: any(sched.tick_seconds(e) > theirs[-1] + 1 for e in fn.events()),
                   what="ticks past the held ones")
        fired = collections.defaultdict(list)
        for e in fn.events():
            fired[sched.tick_seconds(e)].append(e["detail"]["p"])
        for t in mine:
            self.assertEqual(fired[t], ["a"], "tick %d is a's" % t)
        for t in theirs:
            self.assertEqual(fired[t], [], "tick %d is held elsewhere" % t)
        self.assertIsNotNone(b)

    def test_ticks_wait_while_postgres_is_down(self):
        fn = self.event_fn()
        s = self.sluice(sched.config(self.workdir, fn.url, source={
            "lock": self.lock(connect_timeout="200ms", command_timeout="500ms")}))
        wait_until(lambda: len(fn.payloads) >= 1, what="a tick with the lock")
        self.pg.stop()
        wait_until(lambda: s.admin("GET", "/readyz")[0] == 503, what="not ready without the lock")
        self.assertIn("the lock's PostgreSQL is unreachable", s.admin("GET", "/readyz")[2].decode())
        n = len(fn.payloads)
        down_at = time.time()
        wait_until(lambda: time.time() >= down_at + 2.5, what="ticks while PostgreSQL is down")
        self.assertEqual(len(fn.payloads), n, "no tick fired without the lock")
        self.pg.start()
        wait_until(lambda: s.admin("GET", "/readyz")[0] == 200, what="ready again")
        wait_until(lambda: len(fn.payloads) >= n + 2, what="ticks after PostgreSQL is back")
        ticks = [sched.tick_seconds(e) for e in fn.events()]
        self.assertEqual(len(ticks), len(set(ticks)), "each tick once")

    def test_a_dropped_table_is_made_again(self):
        fn = self.event_fn()
        s = self.sluice(sched.config(self.workdir, fn.url, source={"lock": self.lock()}))
        wait_until(lambda: len(fn.payloads) >= 1, what="a tick with the lock")
        self.pg.query("DROP TABLE %s" % TABLE)
        n = len(fn.payloads)
        wait_until(lambda: len(fn.payloads) >= n + 2, what="ticks after the table was dropped")
        self.assertTrue(self.pg.scalar("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)))
        ticks = [sched.tick_seconds(e) for e in fn.events()]
        self.assertEqual(len(ticks), len(set(ticks)), "each tick once")
        self.assertIsNotNone(s)

    def test_config_errors_name_the_key(self):
        fn = self.event_fn()
        cases = [
            ({"type": "postgres"}, "sources[0].lock.conninfo: missing"),
            (self.lock(table="bad-name"), 'sources[0].lock.table: "bad-name" is not a table'),
            (self.lock(conninfo="host=x password=y"), "sources[0].lock.conninfo"),
            ({"type": "redis", "conninfo": self.pg.dsn()},
             "sources[0].lock.conninfo: set with type: redis"),
        ]
        for lock, msg in cases:
            s = self.sluice(sched.config(self.workdir, fn.url, source={"lock": lock}),
                            start=False)
            p = s.cli("validate", check=False)
            text = (p.stdout + p.stderr).decode()
            self.assertNotEqual(p.returncode, 0, text)
            self.assertIn(msg, text)
            self.assertNotIn("password=y", text)


if __name__ == "__main__":
    main()
