"""A disabled mapping keeps its Redis source's position: it stops reading the stream (the
group's lag grows, nothing new is delivered), the entries in flight finish and are acked, and
enabling reads on from where it stopped: delivered = produced, none twice. Real redis-server,
the real binary."""
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import base_config, json_body, main, wait_until  # noqa: E402
from redis_fixture import RedisTest, redis_dlq, redis_source  # noqa: E402

MAPPING = "orders-to-fn"
LAG = 'sluice_redis_lag{source="orders",stream="orders"}'
PENDING = 'sluice_redis_pending{source="orders",stream="orders"}'


class RedisMappingControl(RedisTest):
    def state(self, s):
        return json_body(s.admin("GET", "/v1/mappings/" + MAPPING)[2])["State"]

    def test_disable_holds_the_stream_position_then_enable_reads_on(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn(delay_ms=20)
        cfg = base_config(self.workdir, fn.url, mapping={
            "dlq": "rdlq", "batch": {"size": 10, "window": "0s"}}, extra={
            "sources": [redis_source(r.port, ["orders"])], "dlqs": [redis_dlq(r.port)]})
        s = self.sluice(cfg)
        self.produce(c, "orders", 300)
        wait_until(lambda: len(fn.delivered()) >= 50, what="50 deliveries")
        status, _, data = s.admin("POST", "/v1/mappings/%s/disable" % MAPPING)
        self.assertEqual(status, 200, data)
        wait_until(lambda: self.state(s) == "Disabled", what="Disabled (in flight finished)")
        # Everything read was handled and acked; what was not read stays in the stream.
        wait_until(lambda: s.metrics().get(PENDING) == 0, what="nothing pending")
        before = len(fn.delivered())
        self.produce(c, "orders", 100, start=300)
        unread = 400 - before
        # The source still watches the stream: its lag shows every entry it did not read.
        wait_until(lambda: s.metrics().get(LAG) == unread, what="lag %d while disabled" % unread)
        self.assertEqual(len(fn.delivered()), before)

        status, _, data = s.admin("POST", "/v1/mappings/%s/enable" % MAPPING)
        self.assertEqual(status, 200, data)
        want = {str(i) for i in range(400)}
        wait_until(lambda: set(fn.delivered_keys()) == want, what="all 400 delivered")
        dups = [k for k, n in collections.Counter(fn.delivered_keys()).items() if n > 1]
        self.assertEqual(dups, [])
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    main()
