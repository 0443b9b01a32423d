"""A reload under load with a Redis source: a changed mapping (its batch size), then a changed
source (its read size), each drains and starts again while entries keep arriving; every entry
produced is delivered, and duplicates stay within one in-flight batch per restart. Real
redis-server, the real binary."""
import collections
import copy
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import base_config, main, to_yaml, wait_until  # noqa: E402
from redis_fixture import RedisTest, redis_dlq, redis_source  # noqa: E402

MAPPING = "orders-to-fn"
BATCH = 10


class Producer(threading.Thread):
    """XADDs entries k=0,1,2... in small pipelines until stopped."""

    def __init__(self, test, client):
        super().__init__(daemon=True)
        self.test, self.client = test, client
        self.n = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            self.test.produce(self.client, "orders", 20, start=self.n)
            self.n += 20
            time.sleep(0.01)

    def stop(self):
        self.stopping.set()
        self.join(30)
        return self.n


class RedisReload(RedisTest):
    def reload(self, s, cfg):
        with open(s.config_path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        status, _, data = s.admin("POST", "/v1/reload")
        self.assertEqual(status, 200, data)
        return data.decode()

    def test_changed_mapping_and_source_under_load(self):
        r = self.redis()
        fn = self.kfn(delay_ms=5)
        cfg = base_config(self.workdir, fn.url, mapping={
            "dlq": "rdlq", "batch": {"size": BATCH, "window": "20ms"}}, extra={
            "sources": [redis_source(r.port, ["orders"])], "dlqs": [redis_dlq(r.port)]})
        s = self.sluice(cfg)
        producer = Producer(self, r.client())
        producer.start()
        wait_until(lambda: len(fn.delivered()) >= 300, what="deliveries before the reload")

        changed = copy.deepcopy(cfg)
        changed["mappings"][0]["batch"]["size"] = 4
        body = self.reload(s, changed)
        self.assertIn('"key":"mappings[0].batch.size"', body)
        s.out.wait_for(r"\[mapping:%s\] started: orders -> fn \(batch 4," % MAPPING)
        count = len(fn.delivered())
        wait_until(lambda: len(fn.delivered()) >= count + 300, what="deliveries after it")

        # The source changes: the mapping restarts with it; the DLQ and function do not.
        source = copy.deepcopy(changed)
        source["sources"][0]["count"] = 50
        body = self.reload(s, source)
        self.assertIn('"kind":"source","name":"orders","change":"changed"', body)
        self.assertIn('"kind":"mapping","name":"%s","change":"restarted"' % MAPPING, body)
        self.assertNotIn("rdlq", body)
        count = len(fn.delivered())
        wait_until(lambda: len(fn.delivered()) >= count + 300, what="deliveries after the second")

        produced = producer.stop()
        want = {str(i) for i in range(produced)}
        wait_until(lambda: set(fn.delivered_keys()) >= want, timeout=120,
                   what="all %d produced delivered" % produced)
        keys = fn.delivered_keys()
        self.assertEqual(set(keys), want)
        dups = sum(n - 1 for n in collections.Counter(keys).values() if n > 1)
        self.assertLessEqual(dups, 2 * BATCH, "more duplicates than one batch per restart")
        # Nothing left pending in the group, nothing dead-lettered.
        wait_until(lambda: s.metrics().get(
            'sluice_redis_pending{source="orders",stream="orders"}') == 0, what="none pending")
        self.assertEqual(r.client().cmd("XLEN", "sluice-dlq"), 0)
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    main()
