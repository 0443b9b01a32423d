"""The redis source surviving failures, with a real redis-server and the real sluice binary:
kill -9 in mid-batch then a restart (no loss, duplicates limited to the in-flight batch), a stop
cut by the drain deadline (exit 75, entries left pending), three sluice processes in one group
with one killed (the others take over its entries), Redis restarted in mid-stream with AOF on,
Redis unreachable at start, bad config."""
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (EXIT_ABANDONED, EXIT_OK, SLUICE, base_config, main,  # noqa: E402
                     wait_until)
from redis_fixture import RedisTest, free_port, redis_dlq, redis_source  # noqa: E402
import subprocess  # noqa: E402


def config(test, fn, port, streams, mapping=None, source=None, name="data"):
    m = {"dlq": "rdlq", "batch": {"size": 20, "window": "0s"}, "max_concurrency": len(streams),
         "retry": {"max_attempts": 3, "backoff": {"min": "5ms", "max": "20ms"}}}
    m.update(mapping or {})
    cfg = base_config(test.workdir, fn.url, mapping=m, extra={
        "sources": [redis_source(port, streams, **(source or {}))],
        "dlqs": [redis_dlq(port)],
    })
    cfg["store"]["dir"] = os.path.join(test.workdir, name)
    return cfg


def pending_total(client, stream, group="sluice-orders"):
    try:
        return client.cmd("XPENDING", stream, group)[0]
    except Exception:
        return None


class RedisRecovery(RedisTest):
    def test_kill9_mid_batch_then_restart(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn(delay_ms=30)
        n, batch = 1500, 20
        self.produce(c, "orders", n)
        cfg = config(self, fn, r.port, ["orders"])
        s = self.sluice(cfg)
        wait_until(lambda: len(fn.invocations()) >= 10, what="10 invocations")
        # In mid-batch: the function is holding a batch (it sleeps 30 ms per call).
        s.kill9()
        before = len(fn.delivered())
        self.assertLess(before, n)
        self.sluice(cfg)
        want = {str(i) for i in range(n)}
        wait_until(lambda: set(fn.delivered_keys()) >= want and
                   pending_total(c, "orders") == 0, timeout=180,
                   what="every entry delivered after the restart")
        counts = collections.Counter(fn.delivered())
        dups = sum(v - 1 for v in counts.values())
        # At least once: the batch in flight at the kill is delivered again, nothing else.
        self.assertLessEqual(dups, batch, "duplicates: %d" % dups)
        # Order: after the restart, delivery resumes at the first unacked entry.
        first = list(dict.fromkeys(fn.delivered_keys()))
        self.assertEqual(first, [str(i) for i in range(n)])

    def test_drain_deadline_leaves_entries_pending(self):
        # The function holds every batch: SIGTERM with a 1 s drain_timeout stops sluice with a
        # batch in flight. Its entries stay pending in the group (never XACKed) and the exit
        # status says work was left; the restart delivers them.
        r = self.redis()
        c = r.client()
        fn = self.kfn(hold=True)
        n = 100
        self.produce(c, "orders", n)
        cfg = config(self, fn, r.port, ["orders"])
        cfg["shutdown"] = {"drain_timeout": "1s"}
        s = self.sluice(cfg)
        wait_until(lambda: len(fn.arrived) >= 1, what="a batch held by the function")
        self.assertEqual(s.terminate(timeout=30, expect=EXIT_ABANDONED), EXIT_ABANDONED)
        self.assertIn("drain deadline reached", s.out.text())
        self.assertEqual(fn.delivered(), [])
        self.assertGreaterEqual(pending_total(c, "orders"), len(fn.arrived[0]),
                                "the held batch's entries were acknowledged")
        fn.release()
        s2 = self.sluice(cfg)
        want = {str(i) for i in range(n)}
        wait_until(lambda: set(fn.delivered_keys()) >= want and
                   pending_total(c, "orders") == 0, timeout=120,
                   what="every entry delivered after the restart")
        self.assertEqual(s2.terminate(), EXIT_OK)

    def test_three_processes_one_killed(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn(delay_ms=10)
        n = 1500
        self.produce(c, "orders", n)
        procs = []
        for k in (1, 2, 3):
            cfg = config(self, fn, r.port, ["orders"], name="data%d" % k,
                         source={"consumer": "c%d" % k, "claim_idle": "1s"},
                         mapping={"batch": {"size": 10, "window": "0s"}})
            procs.append(self.sluice(cfg, name="sluice%d" % k))
        wait_until(lambda: len(c.cmd("XPENDING", "orders", "sluice-orders", "-", "+", "100",
                                     "c2")) > 0, what="c2 holding entries")
        procs[1].kill9()
        want = {str(i) for i in range(n)}
        wait_until(lambda: set(fn.delivered_keys()) >= want and
                   pending_total(c, "orders") == 0, timeout=180,
                   what="every entry delivered and acked by the survivors")
        self.assertEqual(c.cmd("XPENDING", "orders", "sluice-orders", "-", "+", "100", "c2"), [])
        took = sum(p.metrics().get('sluice_redis_claimed_total{source="orders",stream="orders"}',
                                   0) for p in (procs[0], procs[2]))
        self.assertGreater(took, 0)

    def test_redis_restart_mid_stream_with_aof(self):
        r = self.redis(aof=True)
        c = r.client()
        fn = self.kfn(delay_ms=5)
        self.produce(c, "orders", 600)
        s = self.sluice(config(self, fn, r.port, ["orders"]))
        wait_until(lambda: len(fn.delivered()) >= 100, what="100 delivered")
        c.close()
        r.restart()
        s.out.wait_for(r"connection to 127\.0\.0\.1:%d lost: .*\(reconnecting in \d+ ms\)" % r.port)
        s.out.wait_for(r"connected to 127\.0\.0\.1:%d again" % r.port)
        c = r.client()
        self.produce(c, "orders", 400, start=600)
        want = {str(i) for i in range(1000)}
        wait_until(lambda: set(fn.delivered_keys()) >= want and
                   pending_total(c, "orders") == 0, timeout=180,
                   what="every entry delivered after the Redis restart")
        self.assertGreaterEqual(s.metrics()['sluice_redis_reconnects_total{source="orders"}'], 1)
        first = list(dict.fromkeys(fn.delivered_keys()))
        self.assertEqual(first, [str(i) for i in range(1000)])

    def test_a_read_answered_with_an_error_reconnects(self):
        # The read connection builds its replies in an arena: an error reply (NOGROUP for a
        # blocked XREADGROUP whose group is destroyed) is read and reported like any other.
        r = self.redis()
        c = r.client()
        fn = self.kfn()
        self.produce(c, "orders", 5)
        s = self.sluice(config(self, fn, r.port, ["orders"], source={"block": "60s"}))
        wait_until(lambda: len(set(fn.delivered_keys())) == 5 and
                   pending_total(c, "orders") == 0, what="the first entries delivered and acked")
        c.cmd("XGROUP", "DESTROY", "orders", "sluice-orders")
        s.out.wait_for(r"\[source:redis:orders\] connection to 127\.0\.0\.1:%d lost: "
                       r"XREADGROUP failed: NOGROUP" % r.port)
        s.out.wait_for(r"connected to 127\.0\.0\.1:%d again" % r.port)
        # The group is made again from the stream's start (starting_position earliest): the
        # first entries come again (at least once), then the new ones.
        self.produce(c, "orders", 5, start=5)
        want = {str(i) for i in range(10)}
        wait_until(lambda: set(fn.delivered_keys()) == want and
                   pending_total(c, "orders") == 0, what="every entry delivered after it")

    def test_unreachable_at_start_then_redis_appears(self):
        port = free_port()
        fn = self.kfn()
        s = self.sluice(config(self, fn, port, ["orders"]))
        line = r"\[source:redis:orders\] cannot connect to 127\.0\.0\.1:%d: Connection refused " \
               r"\(retrying in \d+ ms\)" % port
        s.out.wait_for(line)
        # It keeps retrying (debug lines), but says it once at warn level.
        s.out.wait_for(r"debug .*cannot connect to 127\.0\.0\.1:%d" % port)
        self.assertEqual(len([x for x in s.out.text().splitlines()
                              if " warn " in x and "source:redis:orders] cannot connect" in x]), 1)
        from redis_fixture import RedisServer
        r = RedisServer(self.workdir, port=port)
        self._procs.append(r)
        r.start()
        c = r.client()
        self.produce(c, "orders", 10)
        wait_until(lambda: len(set(fn.delivered_keys())) == 10, what="entries delivered")
        s.out.wait_for(r"connected to 127\.0\.0\.1:%d again" % port)

    def test_bad_config_is_a_clear_error(self):
        base = ("functions:\n  - {name: fn, type: http, url: 'http://127.0.0.1:1/'}\n"
                "mappings:\n  - {name: m, source: orders, function: fn}\n")
        cases = [
            ("sources:\n  - {name: orders, type: redis}\n",
             ["sources[0].streams", "required"]),
            ("sources:\n  - {name: orders, type: redis, streams: []}\n",
             ["sources[0].streams", "at least one", "1 or more"]),
            ("sources:\n  - {name: orders, type: redis, streams: orders}\n",
             ["sources[0].streams"]),
            ("sources:\n  - {name: orders, type: redis, streams: [a], port: http}\n",
             ["sources[0].port", "http"]),
            ("sources:\n  - {name: orders, type: redis, streams: [a], starting_position: at}\n",
             ["sources[0].starting_timestamp", "missing"]),
            ("sources:\n  - {name: orders, type: redis, streams: [a, a]}\n",
             ["sources[0].streams[1]", "twice"]),
            ("sources:\n  - {name: orders, type: redis, streams: [a], password: hunter2hunter2,"
             " db: lots}\n", ["sources[0].db"]),
            ("sources:\n  - {name: orders, type: redis, streams: [a]}\n"
             "dlqs:\n  - {name: d, type: redis}\n", ["dlqs[0].stream"]),
        ]
        for i, (text, wants) in enumerate(cases):
            path = os.path.join(self.workdir, "bad%d.yaml" % i)
            with open(path, "w") as f:
                f.write(base + text)
            p = subprocess.run([SLUICE, "validate", "-c", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            msg = p.stderr.decode()
            self.assertEqual(p.returncode, 78, (text, msg))
            self.assertIn("bad%d.yaml" % i, msg)
            for w in wants:
                self.assertTrue(any(x in msg for x in w.split("|")) if "|" in w else w in msg
                                or (w == "at least one" and "1 or more" in msg), (text, msg))
            self.assertNotIn("hunter2", msg + p.stdout.decode())


if __name__ == "__main__":
    main()
