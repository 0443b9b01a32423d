"""Shared intake on a Redis stream (docs/SCALE_OUT.md): webhooks write their pushes with XADD
(spool.to a redis source), answer 202 only after Redis acknowledged (and, with wait_replicas,
after WAIT saw enough replicas), and the mapping reads the stream through the redis source. Two
processes share one stream; one is killed with -9; every post answered 2xx is delivered."""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from intake_fixture import post_and_kill, post_until_accepted  # noqa: E402
from redis_fixture import RedisTest, fields_of, redis_source  # noqa: E402

STREAM = "intake"


def intake_config(workdir, name, fn_url, port, hook=None):
    cfg = harness.base_config(workdir, fn_url, mapping={
        "name": "events-to-fn", "source": "events", "batch": {"size": 10, "window": "0s"}})
    cfg["store"] = {"dir": os.path.join(workdir, "data-" + name)}
    src = redis_source(port, [STREAM], consumer="c-" + name, group="sluice-intake")
    src["name"] = "events"
    cfg["sources"] = [
        dict({"name": "orders", "type": "http", "spool": {"to": "events"}}, **(hook or {})),
        src]
    return cfg


def delivered_ns(fn):
    return [json.loads(d["body"])["n"] for d in delivered_data(fn)]


def delivered_data(fn):
    out = []
    for inv in fn.invocations():
        if inv["outcome"] == "ok":
            out.extend(inv["data"])
    return out


class IntakeRedis(RedisTest):
    def test_two_processes_one_killed(self):
        r = self.redis()
        fn = self.kfn()
        a = self.sluice(intake_config(self.workdir, "a", fn.url, r.port), name="a")
        b = self.sluice(intake_config(self.workdir, "b", fn.url, r.port), name="b")
        total = 300
        accepted, refused = post_and_kill([a, b], a, total, clients=3)
        self.assertEqual(len(accepted), total)
        harness.wait_until(lambda: set(accepted) <= set(delivered_ns(fn)), timeout=120,
                           what="every accepted post delivered")
        got = delivered_ns(fn)
        sys.stderr.write("redis intake: %d accepted, %d refusals retried, %d duplicate "
                         "deliveries\n" % (len(accepted), refused, len(got) - len(set(got))))
        self.assertEqual(sorted(set(got)), list(range(total)))
        self.assertGreater(refused, 0)
        self.assertEqual(b.terminate(), 0)

    def test_shape_redis_down_and_wait(self):
        r = self.redis()
        c = r.client()
        self.addCleanup(c.close)
        fn = self.kfn()
        s = self.sluice(intake_config(self.workdir, "one", fn.url, r.port,
                                      hook={"spool": {"to": "events", "maxlen": 1000},
                                            "dedupe_header": "X-Delivery"}))
        ident = None
        for _ in range(100):  # until the intake is connected
            status, _, data = s.post("orders", {"n": 0}, headers={"X-Delivery": "d-1"})
            if status == 202:
                ident = harness.json_body(data)["id"]
                break
            self.assertEqual(status, 503, data)
        self.assertIsNotNone(ident)
        # A redelivery (same delivery id) is answered with the first id and not written again.
        for _ in range(2):
            status, _, data = s.post("orders", {"n": 0}, headers={"X-Delivery": "d-1"})
            self.assertEqual((status, harness.json_body(data)["id"]), (202, ident))
        entries = c.cmd("XRANGE", STREAM, "-", "+")
        self.assertEqual(len(entries), 1)
        f = fields_of(entries[0][1])
        self.assertEqual(json.loads(f["body"]), {"n": 0})
        self.assertEqual(f["sluice-id"], ident)
        self.assertEqual(f["sluice-source"], "orders")
        self.assertEqual(f["content-type"], "application/json")
        self.assertEqual(json.loads(f["sluice-attrs"])["path"], "/hooks/orders")
        harness.wait_until(lambda: delivered_ns(fn) == [0], what="the first post delivered")
        ev = fn.events[0]
        data = json.loads(base64.b64decode(ev["kinesis"]["data"]))
        self.assertEqual(data["sluice-id"], ident)

        # Redis down: refused with 503 and Retry-After, nothing answered 202.
        r.stop()
        for n in (1, 2):
            status, hdrs, body = s.post("orders", {"n": n})
            self.assertEqual(status, 503, body)
            self.assertEqual(json.loads(body)["error"], "spool_unavailable")
            self.assertIn("retry-after", hdrs)
        r.start()
        for n in (3, 4):
            post_until_accepted([s], n, {"n": n})
        harness.wait_until(lambda: {3, 4} <= set(delivered_ns(fn)), timeout=60,
                           what="posts after the restart delivered")
        m = s.metrics()
        self.assertGreaterEqual(
            m['sluice_intake_failures_total{source="orders",engine="redis"}'], 2)
        self.assertGreaterEqual(
            m['sluice_intake_writes_total{source="orders",engine="redis"}'], 3)
        self.assertEqual(s.terminate(), 0)

    def test_wait_replicas_not_reached(self):
        """WAIT 1 on a Redis without replicas: the XADD is there, but the push is answered 503
        (the pusher retries; the function may see it twice, never not at all)."""
        r = self.redis()
        c = r.client()
        self.addCleanup(c.close)
        fn = self.kfn()
        s = self.sluice(intake_config(self.workdir, "one", fn.url, r.port, hook={
            "spool": {"to": "events", "wait_replicas": 1, "wait_timeout": "100ms"}}))
        answers = []

        def written():
            # The first posts may come before the intake's connection is up: 503 as well.
            answers.append(s.post("orders", {"n": 1}))
            return c.cmd("XLEN", STREAM) >= 1
        harness.wait_until(written, what="an XADD")
        for status, hdrs, body in answers:
            self.assertEqual(status, 503, body)
            self.assertIn("retry-after", hdrs)
        self.assertIn("WAIT: 0 of 1 replicas", s.out.text())
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    harness.main()
