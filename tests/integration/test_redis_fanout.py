"""One Redis source read by several mappings (docs/ARCHITECTURE.md, "Fan-out"): each mapping
reads with a consumer group of its own (`reader.group`), so every mapping gets every entry and a
mapping whose function fails never holds the other back; counts per mapping, delivered +
dead-lettered = produced, through a kill -9 and a restart; a clash of groups is refused."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import base_config, main, wait_until  # noqa: E402
from redis_fixture import RedisTest, redis_source  # noqa: E402


def config(test, fns, port, readers, source=None):
    """readers: mapping name -> its `reader` (None: no reader key), one function each."""
    cfg = base_config(test.workdir, fns[0].url, extra={
        "sources": [redis_source(port, ["orders"], **(source or {}))]})
    cfg["functions"] = [{"name": "fn%d" % i, "type": "http", "url": f.url, "timeout": "5s"}
                        for i, f in enumerate(fns)]
    cfg["mappings"] = []
    for i, (name, reader) in enumerate(readers.items()):
        m = {"name": name, "source": "orders", "function": "fn%d" % i,
             "batch": {"size": 20, "window": "0s"},
             "retry": {"max_attempts": 2, "backoff": {"min": "5ms", "max": "20ms"}}}
        if reader is not None:
            m["reader"] = reader
        cfg["mappings"].append(m)
    return cfg


def pending(client, group):
    try:
        return client.cmd("XPENDING", "orders", group)[0]
    except Exception:  # NOGROUP until sluice creates it
        return None


def groups(client):
    try:
        return {dict(zip(g[::2], g[1::2]))["name"] for g in client.cmd("XINFO", "GROUPS", "orders")}
    except Exception:
        return set()


class RedisFanout(RedisTest):
    def dead(self, s, mapping):
        return {e["recordId"].split(":")[-1] for e in s.dlq_entries(mapping=mapping)}

    def test_two_groups_one_failing(self):
        r = self.redis()
        c = r.client()
        ok, failing = self.kfn(), self.kfn(fail_rate=1.0)
        ids = self.produce(c, "orders", 200)
        s = self.sluice(config(self, [ok, failing], r.port,
                               {"copy": {"group": "g-copy"}, "audit": {"group": "g-audit"}}))
        want = set(ids)
        wait_until(lambda: {e.split(":", 1)[1] for e in ok.delivered()} >= want and
                   pending(c, "g-copy") == 0, timeout=120, what="copy: every entry delivered")
        wait_until(lambda: self.dead(s, "audit") >= want and pending(c, "g-audit") == 0,
                   timeout=120, what="audit: every entry dead-lettered")
        # Per mapping: delivered + dead-lettered = produced, nothing crossed over.
        self.assertEqual({e.split(":", 1)[1] for e in ok.delivered()}, want)
        self.assertEqual(self.dead(s, "copy"), set())
        self.assertEqual(self.dead(s, "audit"), want)
        self.assertEqual(failing.delivered(), [])
        self.assertEqual(groups(c), {"g-copy", "g-audit"})
        # The readers are told apart: their metrics carry the mapping, their log lines it too.
        mx = s.metrics()
        for m in ("copy", "audit"):
            self.assertEqual(mx['sluice_redis_connected{source="orders",mapping="%s"}' % m], 1)
        self.assertNotIn('sluice_redis_connected{source="orders"}', mx)
        s.out.wait_for(r"\[source:redis:orders/audit\] connecting to .* \(group g-audit,")
        s.terminate()

    def test_reader_starting_position(self):
        r = self.redis()
        c = r.client()
        a, b = self.kfn(), self.kfn()
        before = set(self.produce(c, "orders", 30))
        s = self.sluice(config(self, [a, b], r.port,
                               {"all": {"group": "g-all"},
                                "new": {"group": "g-new", "starting_position": "latest"}}))
        wait_until(lambda: "g-new" in groups(c), what="the latest group made")
        after = set(self.produce(c, "orders", 20, start=30))
        got = lambda fn: {e.split(":", 1)[1] for e in fn.delivered()}  # noqa: E731
        wait_until(lambda: got(a) >= before | after and got(b) >= after,
                   what="both mappings caught up")
        self.assertEqual(got(b), after)  # latest: what was there before its group is skipped
        s.terminate()

    def test_kill9_restart_nothing_lost(self):
        r = self.redis()
        c = r.client()
        ok, flaky = self.kfn(delay_ms=5), self.kfn(fail_rate=0.4, seed=7)
        n = 600
        ids = self.produce(c, "orders", n)
        cfg = config(self, [ok, flaky], r.port, {"copy": {"group": "g-copy"},
                                                  "audit": {"group": "g-audit"}})
        s = self.sluice(cfg)
        wait_until(lambda: len(ok.delivered()) >= 100 and len(flaky.delivered()) >= 20,
                   what="both mappings under way")
        s.kill9()
        s2 = self.sluice(cfg, name="sluice2")
        want = set(ids)

        def settled(fn, mapping, group):
            done = {e.split(":", 1)[1] for e in fn.delivered()} | self.dead(s2, mapping)
            return done >= want and pending(c, group) == 0
        wait_until(lambda: settled(ok, "copy", "g-copy"), timeout=180, what="copy settled")
        wait_until(lambda: settled(flaky, "audit", "g-audit"), timeout=180,
                   what="audit settled")
        self.assertEqual({e.split(":", 1)[1] for e in ok.delivered()}, want)
        self.assertEqual(self.dead(s2, "copy"), set())
        s2.terminate()

    def reload(self, s, cfg):
        status, out = s.reload(cfg)
        self.assertEqual(status, 200, out)
        return out

    def test_reload_adds_and_removes_a_reader(self):
        r = self.redis()
        c = r.client()
        a, b = self.kfn(), self.kfn()
        got = lambda fn: {e.split(":", 1)[1] for e in fn.delivered()}  # noqa: E731
        first = set(self.produce(c, "orders", 40))
        one = config(self, [a, b], r.port, {"copy": None})
        s = self.sluice(one)
        wait_until(lambda: got(a) >= first, what="copy: the first entries")
        two = config(self, [a, b], r.port, {"copy": None, "audit": {"group": "g-audit"}})
        out = self.reload(s, two)
        self.assertIn("audit", out)
        second = set(self.produce(c, "orders", 40, start=40))
        wait_until(lambda: got(a) >= first | second and got(b) >= first | second and
                   pending(c, "sluice-orders") == 0 and pending(c, "g-audit") == 0,
                   what="both mappings: every entry")
        mx = s.metrics()
        self.assertEqual(mx['sluice_redis_connected{source="orders",mapping="audit"}'], 1)
        self.assertEqual(mx['sluice_redis_connected{source="orders",mapping="copy"}'], 1)
        self.reload(s, one)
        third = set(self.produce(c, "orders", 40, start=80))
        wait_until(lambda: got(a) >= third and pending(c, "sluice-orders") == 0,
                   what="copy alone again: the newest entries")
        self.assertEqual(got(b) & third, set())
        self.assertEqual(s.terminate(), 0)

    def validate(self, cfg):
        s = self.sluice(cfg, start=False)
        return s.cli("validate", check=False)

    def test_group_clash_refused(self):
        r = self.redis()
        a, b = self.kfn(), self.kfn()
        p = self.validate(config(self, [a, b], r.port, {"copy": None, "audit": None}))
        out = p.stdout.decode() + p.stderr.decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn('mappings[1].reader.group: mappings "copy" and "audit" both read source '
                      '"orders" with group "sluice-orders"', out)
        p = self.validate(config(self, [a, b], r.port, {"copy": {"group": "x"},
                                                         "audit": {"group": "x"}}))
        out = p.stdout.decode() + p.stderr.decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn('both read source "orders" with group "x"', out)
        # A bad reader value names the mapping's key, not the source's.
        p = self.validate(config(self, [a, b], r.port, {
            "copy": {"group": "g1"}, "audit": {"group": "g2", "starting_position": "soon"}}))
        out = p.stdout.decode() + p.stderr.decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn("mappings[1].reader.starting_position", out)
        self.assertIn("soon", out)
        p = self.validate(config(self, [a, b], r.port, {"copy": {"group": "g1"},
                                                         "audit": {"group": "g2"}}))
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())


if __name__ == "__main__":
    main()
