"""The runtime function type fed by the redis source (Kinesis-shaped batches) against a real
redis-server, with the bash custom runtime (tests/runtime/bootstrap) and the real sluice binary:
partial batch responses under the stream rule, delivered + dead-lettered = produced."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import base_config, main, wait_until  # noqa: E402
from redis_fixture import RedisTest, dlq_stream_entries, redis_dlq, redis_source  # noqa: E402

RUNTIME_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime")


class RuntimeRedis(RedisTest):
    def test_stream_batches_with_partial_failures(self):
        r = self.redis()
        c = r.client()
        state = os.path.join(self.workdir, "state")
        os.mkdir(state)
        poison = {4, 17}
        ids = [c.cmd("XADD", "orders", "*", "k", str(i),
                     *(["fail", "partial"] if i in poison else [])) for i in range(30)]
        cfg = base_config(self.workdir, "http://unused", mapping={
            "dlq": "rdlq", "batch": {"size": 10, "window": "0s"},
            "retry": {"max_attempts": 2, "report_batch_item_failures": True,
                      "backoff": {"min": "5ms", "max": "20ms"}}}, extra={
            "sources": [redis_source(r.port, ["orders"])], "dlqs": [redis_dlq(r.port)]})
        cfg["functions"] = [{"name": "fn", "type": "runtime",
                             "command": [os.path.join(RUNTIME_DIR, "bootstrap")],
                             "handler": "batch.handler", "task_root": RUNTIME_DIR,
                             "timeout": "10s", "environment": {"STATE_DIR": state}}]
        self.sluice(cfg)

        def delivered():
            try:
                with open(os.path.join(state, "delivered")) as f:
                    return {line.strip() for line in f if line.strip()}
            except FileNotFoundError:
                return set()

        def dead():
            return {e["recordId"] for e in dlq_stream_entries(c)}

        wait_until(lambda: (delivered() | dead()) >= set(ids) and
                   c.cmd("XPENDING", "orders", "sluice-orders")[0] == 0,
                   timeout=120, what="every entry delivered or dead-lettered, the stream acked")
        self.assertEqual(dead(), {ids[i] for i in poison})
        self.assertEqual(delivered() | dead(), set(ids))
        self.assertFalse(delivered() & dead())


if __name__ == "__main__":
    main()
