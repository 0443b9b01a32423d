"""The schedule source against the real sluice binary: EventBridge scheduled events at the
function, missed ticks after kill -9 (catch_up one and none), one fire per tick across two
processes sharing a Redis lock, and failures retried then dead-lettered. Schedules use
`rate(1 second)` (a documented sluice extension), so the tests wait for events, not minutes."""
import calendar
import collections
import json
import os
import re
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, main, to_yaml, wait_until  # noqa: E402
from redis_fixture import RedisServer  # noqa: E402

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def tick_seconds(event):
    return calendar.timegm(time.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ"))


class EventFn:
    """A function that records every payload it gets; answers 500 while `failing`."""

    def __init__(self):
        self.payloads = []
        self.failing = False
        self.lock = threading.Lock()
        fn = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with fn.lock:
                    fn.payloads.append(json.loads(body))
                    failing = fn.failing
                status, reply = (500, b'{"errorMessage":"boom"}') if failing else (200, b"{}")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/invoke" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        """Every event received, in arrival order (a batch's events in batch order)."""
        with self.lock:
            out = []
            for p in self.payloads:
                out.extend(p if isinstance(p, list) else [p])
            return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def problems(self):
        return None


def config(workdir, fn_url, source=None, mapping=None, store="data"):
    return {
        "log": {"level": "debug"},
        "server": {"listen": "127.0.0.1:0"},
        "admin": {"listen": "127.0.0.1:0"},
        "store": {"dir": os.path.join(workdir, store)},
        "shutdown": {"drain_timeout": "5s"},
        "functions": [{"name": "fn", "type": "http", "url": fn_url, "timeout": "5s"}],
        "sources": [dict({"name": "tick", "type": "schedule", "expression": "rate(1 second)"},
                         **(source or {}))],
        "mappings": [dict({
            "name": "tick-to-fn", "source": "tick", "function": "fn",
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 2, "backoff": {"min": "10ms", "max": "20ms"}},
        }, **(mapping or {}))],
    }


class Schedule(SluiceTest):
    def event_fn(self):
        f = EventFn()
        self._procs.append(f)
        return f

    def test_events_have_the_eventbridge_shape(self):
        fn = self.event_fn()
        self.sluice(config(self.workdir, fn.url, source={
            "input": '{"job": "report", "n": 3, "ok": true}', "account": "123456789012", "region": "eu-west-1"}))
        wait_until(lambda: len(fn.payloads) >= 3, what="3 scheduled events")
        ids = set()
        for p in fn.payloads[:3]:
            # Batch size 1 with format lambda: the event object itself, as EventBridge sends it.
            self.assertIsInstance(p, dict, p)
            self.assertEqual(set(p), {"version", "id", "detail-type", "source", "account", "time",
                                      "region", "resources", "detail"}, p)
            self.assertEqual(p["version"], "0")
            self.assertEqual(p["detail-type"], "Scheduled Event")
            self.assertEqual(p["source"], "aws.events")
            self.assertEqual(p["account"], "123456789012")
            self.assertEqual(p["region"], "eu-west-1")
            self.assertEqual(p["resources"], ["arn:aws:events:eu-west-1:123456789012:rule/tick"])
            self.assertEqual(p["detail"], {"job": "report", "n": 3, "ok": True})
            self.assertRegex(p["time"], TIME_RE)
            self.assertRegex(p["id"], UUID_RE)
            ids.add(p["id"])
        self.assertEqual(len(ids), 3, "every tick has its own id")
        secs = [tick_seconds(p) for p in fn.payloads[:3]]
        self.assertEqual(secs, sorted(set(secs)), "ticks in order, each once")

    def test_raw_format_and_describe(self):
        fn = self.event_fn()
        s = self.sluice(config(self.workdir, fn.url, source={"timezone": "Europe/Berlin"},
                               mapping={"format": "raw"}))
        wait_until(lambda: fn.payloads, what="an event")
        self.assertIsInstance(fn.payloads[0], list)
        self.assertEqual(fn.payloads[0][0]["detail"], {})
        status, _, data = s.admin("GET", "/v1/mappings/tick-to-fn")
        self.assertEqual(status, 200, data)
        self.assertIn('"expression":"rate(1 second)"', data.decode())
        self.assertIn('"timezone":"Europe/Berlin"', data.decode())

    def missed_ticks(self, catch_up):
        fn = self.event_fn()
        cfg = config(self.workdir, fn.url, source={"catch_up": catch_up})
        s = self.sluice(cfg)
        wait_until(lambda: len(fn.payloads) >= 2, what="2 events before the kill")
        s.kill9()
        killed_at = time.time()
        before = {e["id"] for e in fn.events()}
        # Down for more than three ticks: wait for the clock, which is the event here.
        wait_until(lambda: time.time() >= killed_at + 3.5, timeout=30, what="ticks to be missed")
        s2 = self.sluice(cfg, name="sluice2")
        return fn, s2, killed_at, before

    def test_catch_up_one_fires_the_latest_missed_tick_once(self):
        fn, s2, killed_at, before = self.missed_ticks("one")
        m = s2.out.wait_for(r"(\d+) tick\(s\) missed while down: firing the latest "
                            r"\((\S+)\.000Z\)")
        self.assertGreaterEqual(int(m.group(1)), 3)
        latest = calendar.timegm(time.strptime(m.group(2), "%Y-%m-%dT%H:%M:%S"))
        wait_until(lambda: any(tick_seconds(e) > latest for e in fn.events()),
                   what="a regular tick after the catch-up")
        after = [tick_seconds(e) for e in fn.events() if e["id"] not in before]
        missed = [t for t in after if killed_at < t <= latest]
        self.assertEqual(missed, [latest], "the missed ticks fire once, with the latest's time")

    def test_catch_up_none_skips_missed_ticks(self):
        fn, s2, killed_at, before = self.missed_ticks("none")
        m = s2.out.wait_for(r"(\d+) tick\(s\) missed while down, up to (\S+)\.000Z: skipped")
        self.assertGreaterEqual(int(m.group(1)), 3)
        latest = calendar.timegm(time.strptime(m.group(2), "%Y-%m-%dT%H:%M:%S"))
        wait_until(lambda: sum(tick_seconds(e) > latest for e in fn.events()) >= 2,
                   what="regular ticks after the restart")
        after = [tick_seconds(e) for e in fn.events() if e["id"] not in before]
        self.assertEqual([t for t in after if killed_at < t <= latest], [],
                         "no tick missed while down fires")
        skipped = s2.metrics().get('sluice_schedule_skipped_total{source="tick"}')
        self.assertEqual(skipped, int(m.group(1)))

    def test_fired_ticks_survive_kill9(self):
        """A tick fired but not yet delivered (the function failing) is delivered after a
        crash and restart, with the same id."""
        fn = self.event_fn()
        fn.failing = True
        cfg = config(self.workdir, fn.url, source={"catch_up": "none"}, mapping={
            "retry": {"max_attempts": 10000, "backoff": {"min": "50ms", "max": "100ms"}}})
        s = self.sluice(cfg)
        # The first tick blocks the lane while it fails; later ones wait in the spool.
        wait_until(lambda: s.metrics().get('sluice_schedule_fired_total{source="tick"}', 0) >= 3,
                   what="3 ticks fired")
        s.kill9()
        db = sqlite3.connect(os.path.join(self.workdir, "data", "sluice.db"))
        pending = {row[0] for row in db.execute("SELECT id FROM spool WHERE source = 'tick'")}
        db.close()
        self.assertGreaterEqual(len(pending), 3)
        self.assertLessEqual({e["id"] for e in fn.events()}, pending, "attempted, not acked")
        with fn.lock:
            fn.failing = False
            fn.payloads.clear()
        self.sluice(cfg, name="sluice2")
        wait_until(lambda: set(pending) <= {e["id"] for e in fn.events()},
                   what="the ticks fired before the crash to be delivered")

    def test_two_processes_fire_each_tick_once_with_a_redis_lock(self):
        r = RedisServer(self.workdir).start()
        self._procs.append(r)
        fn = self.event_fn()
        lock = {"type": "redis", "host": "127.0.0.1", "port": r.port}
        a = self.sluice(config(self.workdir, fn.url, source={"lock": lock}, store="a"), name="a")
        b = self.sluice(config(self.workdir, fn.url, source={"lock": lock}, store="b"), name="b")
        both_at = time.time()
        wait_until(lambda: sum(tick_seconds(e) > both_at for e in fn.events()) >= 6,
                   what="6 ticks with both processes running")
        ticks = [tick_seconds(e) for e in fn.events()]
        counts = collections.Counter(ticks)
        self.assertEqual([t for t, n in counts.items() if n > 1], [], "no tick fired twice")
        shared = sorted(t for t in counts if t > both_at)
        self.assertEqual(shared, list(range(shared[0], shared[0] + len(shared))),
                         "no tick lost between the two")
        fired = sum(s.metrics().get('sluice_schedule_fired_total{source="tick"}', 0)
                    for s in (a, b))
        skipped = sum(s.metrics().get('sluice_schedule_skipped_total{source="tick"}', 0)
                      for s in (a, b))
        self.assertGreater(skipped, 0, "the process that lost a tick's lock skipped it")
        self.assertGreaterEqual(fired, len(ticks))
        keys = r.client().cmd("KEYS", "sluice:schedule:tick:*")
        self.assertGreaterEqual(len(keys), len(shared))

    def test_a_tick_key_belongs_to_its_owner(self):
        """A key that names a process (host and store, as after that process took the tick and
        restarted) lets that process fire the tick and no other; a key of a third owner fires
        nowhere."""
        r = RedisServer(self.workdir).start()
        self._procs.append(r)
        fn = self.event_fn()
        lock = {"type": "redis", "host": "127.0.0.1", "port": r.port}
        a = self.sluice(config(self.workdir, fn.url, store="a",
                               source={"lock": lock, "input": '{"p": "a"}'}), name="a")
        b = self.sluice(config(self.workdir, fn.url, store="b",
                               source={"lock": lock, "input": '{"p": "b"}'}), name="b")
        owner_a = a.out.wait_for(r"lock: Redis \S+, keys .*, owner (\S+)").group(1)
        c = r.client()
        start = int(time.time()) + 2
        mine = list(range(start, start + 4, 2))           # held by a
        theirs = list(range(start + 1, start + 5, 2))     # held by a third process
        for t in mine:
            self.assertEqual(c.cmd("SET", "sluice:schedule:tick:%d" % (t * 1000), owner_a,
                                   "PX", "60000"), "OK")
        for t in theirs:
            c.cmd("SET", "sluice:schedule:tick:%d" % (t * 1000), "elsewhere:/x", "PX", "60000")
        wait_until(lambda: any(tick_seconds(e) > theirs[-1] + 1 for e in fn.events()),
                   what="ticks past the held ones")
        fired = collections.defaultdict(list)
        for e in fn.events():
            fired[tick_seconds(e)].append(e["detail"]["p"])
        for t in mine:
            self.assertEqual(fired[t], ["a"], "tick %d is a's" % t)
        for t in theirs:
            self.assertEqual(fired[t], [], "tick %d is held elsewhere" % t)
        self.assertIsNotNone(b)

    def test_ticks_wait_while_the_lock_is_unreachable(self):
        r = RedisServer(self.workdir).start()
        self._procs.append(r)
        fn = self.event_fn()
        lock = {"type": "redis", "host": "127.0.0.1", "port": r.port,
                "connect_timeout": "200ms", "command_timeout": "500ms"}
        s = self.sluice(config(self.workdir, fn.url, source={"lock": lock}))
        wait_until(lambda: len(fn.payloads) >= 1, what="a tick with the lock")
        r.stop()
        wait_until(lambda: s.admin("GET", "/readyz")[0] == 503, what="not ready without the lock")
        body = s.admin("GET", "/readyz")[2].decode()
        self.assertIn("the lock's Redis is unreachable", body)
        # Nothing fires while no process can take a tick's lock.
        n = len(fn.payloads)
        down_at = time.time()
        wait_until(lambda: time.time() >= down_at + 2.5, what="ticks while Redis is down")
        self.assertEqual(len(fn.payloads), n, "no tick fired without the lock")
        r.start()
        wait_until(lambda: s.admin("GET", "/readyz")[0] == 200, what="ready again")
        wait_until(lambda: len(fn.payloads) >= n + 2, what="ticks after Redis is back")

    def test_function_failures_are_retried_then_dead_lettered(self):
        fn = self.event_fn()
        fn.failing = True
        s = self.sluice(config(self.workdir, fn.url))
        wait_until(lambda: len(s.dlq_entries()) >= 2, what="2 dead-lettered ticks")
        s.terminate()
        entries = s.dlq_entries()
        attempts = collections.Counter(e["id"] for e in fn.events())
        dead = {e["recordId"] for e in entries}
        db = sqlite3.connect(os.path.join(self.workdir, "data", "sluice.db"))
        spooled = {row[0] for row in db.execute("SELECT id FROM spool WHERE source = 'tick'")}
        db.close()
        # Every tick the function saw is dead-lettered or still spooled (delivered after the
        # next start): none is lost.
        self.assertEqual(set(attempts) - dead - spooled, set())
        for rid in dead:
            self.assertEqual(attempts[rid], 2, "max_attempts 2, then the DLQ")
        entry = json.loads(s.cli("dlq", "show", entries[0]["id"], "--json").stdout)
        self.assertIn('"schedule"', json.dumps(entry))

    def test_one_schedule_feeds_two_mappings(self):
        fa, fb = self.event_fn(), self.event_fn()
        fb.failing = True
        cfg = config(self.workdir, fa.url,
                     mapping={"retry": {"max_attempts": 10000,
                                        "backoff": {"min": "10ms", "max": "50ms"}}})
        cfg["functions"].append({"name": "fb", "type": "http", "url": fb.url, "timeout": "5s"})
        cfg["mappings"].append(dict(cfg["mappings"][0], name="tick-to-fb", function="fb"))
        s = self.sluice(cfg)
        # Each tick fires once and reaches both mappings; the failing one holds nobody back.
        wait_until(lambda: len(fa.events()) >= 3, what="3 ticks at a", timeout=30)
        self.assertGreater(len(fb.events()), 0)
        with fb.lock:
            fb.failing = False
            flipped = len(fb.payloads)
        seen_a = {e["id"] for e in fa.events()}

        def b_ok():
            with fb.lock:
                return {e["id"] for p in fb.payloads[flipped:]
                        for e in (p if isinstance(p, list) else [p])}
        wait_until(lambda: seen_a <= b_ok(), what="b got every tick a got", timeout=30)
        self.assertEqual(s.terminate(), 0)
        ids = [e["id"] for e in fa.events()]
        self.assertEqual(len(ids), len(set(ids)), "each tick once at a")

    def test_reload_changes_the_schedule(self):
        fn = self.event_fn()
        cfg = config(self.workdir, fn.url, source={"input": '{"v": 1}'})
        s = self.sluice(cfg)
        wait_until(lambda: fn.events(), what="an event of the first config")
        cfg["sources"][0]["input"] = '{"v": 2}'
        with open(s.config_path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        status, _, data = s.admin("POST", "/v1/reload")
        self.assertEqual(status, 200, data)
        wait_until(lambda: sum(e["detail"] == {"v": 2} for e in fn.events()) >= 2,
                   what="events of the reloaded config")
        counts = collections.Counter(e["time"] for e in fn.events())
        self.assertEqual([t for t, n in counts.items() if n > 1], [], "no tick fired twice")

    def test_bad_expression_is_a_clear_config_error(self):
        fn = self.event_fn()
        s = self.sluice(config(self.workdir, fn.url, source={"expression": "cron(0 12 * * * *)"}),
                        start=False)
        p = s.cli("validate", check=False)
        out = (p.stdout + p.stderr).decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn('sources[0].expression: "cron(0 12 * * * *)": exactly one of day-of-month '
                      'and day-of-week must be ?', out)
        self.assertRegex(out, r"sluice\.yaml:\d+:")
        s = self.sluice(config(self.workdir, fn.url, source={"timezone": "Mars/Base"}),
                        name="tz", start=False)
        p = s.cli("validate", check=False)
        self.assertIn("sources[0].timezone: \"Mars/Base\": no such time zone",
                      (p.stdout + p.stderr).decode())


if __name__ == "__main__":
    main()
