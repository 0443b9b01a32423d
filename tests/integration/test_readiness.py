"""/readyz says whether sluice can do its work: 503 naming each source that cannot reach its
engine and each DLQ sink that cannot reach its server, 200 again once they can; /healthz stays a
liveness check throughout. Real redis-server, librdkafka's mock cluster, the real binary."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from kafka_fixture import KafkaTest  # noqa: E402
from redis_fixture import RedisTest, free_port, redis_dlq, redis_source  # noqa: E402


def readyz(s):
    status, _, body = s.admin("GET", "/readyz")
    return status, json.loads(body)


def wait_ready(s, want_status, what):
    """Waits for /readyz to answer want_status; returns its body."""
    def check():
        status, body = readyz(s)
        return body if status == want_status else None
    return harness.wait_until(check, what=what)


def healthy(s):
    status, _, _ = s.admin("GET", "/healthz")
    return status == 200


class RedisReadiness(RedisTest):
    def test_source_and_dlq_lost_then_back(self):
        r = self.redis()
        fn = self.kfn()
        cfg = harness.base_config(self.workdir, fn.url, mapping={"dlq": "rdlq"}, extra={
            "sources": [redis_source(r.port, ["orders"])],
            "dlqs": [redis_dlq(r.port)]})
        s = self.sluice(cfg)
        wait_ready(s, 200, "ready once connected")
        r.stop()
        body = wait_ready(s, 503, "not ready once Redis is gone")
        self.assertEqual(body["status"], "not_ready")
        self.assertEqual(body["reason"], "unreachable")

        def both_named():
            items = readyz(s)[1].get("unreachable", [])
            got = {(u.get("source") or u.get("dlq"), u["type"]): u["why"] for u in items}
            return got if set(got) == {("orders", "redis"), ("rdlq", "redis")} else None
        why = harness.wait_until(both_named, what="the source and the DLQ sink both named")
        for w in why.values():
            self.assertIn("127.0.0.1:%d" % r.port, w)
        self.assertTrue(healthy(s), "liveness does not depend on Redis")
        # A disabled mapping's source is not a reason to refuse traffic; its DLQ sink still is.
        self.assertEqual(s.admin("POST", "/v1/mappings/orders-to-fn/disable")[0], 200)

        def named():
            return sorted(u.get("source") or u.get("dlq")
                          for u in readyz(s)[1].get("unreachable", []))
        self.assertEqual(named(), ["rdlq"])
        self.assertEqual(s.admin("POST", "/v1/mappings/orders-to-fn/enable")[0], 200)
        self.assertEqual(named(), ["orders", "rdlq"])
        r.start()
        wait_ready(s, 200, "ready again once Redis is back")

    def test_unreachable_dlq_from_the_start(self):
        r = self.redis()
        fn = self.kfn()
        port = free_port()  # nothing listens there
        cfg = harness.base_config(self.workdir, fn.url, mapping={"dlq": "rdlq"}, extra={
            "sources": [redis_source(r.port, ["orders"])],
            "dlqs": [redis_dlq(port)]})
        s = self.sluice(cfg)
        # The source connects (it is named while it connects); the sink never does.
        s.out.wait_for(r"source:redis:orders\] connected to")

        def only_the_sink():
            status, body = readyz(s)
            items = [(u.get("source"), u.get("dlq"), u["type"]) for u in body["unreachable"]]
            return body if status == 503 and items == [(None, "rdlq", "redis")] else None
        body = harness.wait_until(only_the_sink, what="the DLQ sink alone named")
        self.assertIn("127.0.0.1:%d" % port, body["unreachable"][0]["why"])


class KafkaReadiness(KafkaTest):
    TOPICS = ("events:4", "dlq-events:1")

    def test_all_brokers_down_then_up(self):
        fn = self.kfn()
        # Statistics every 200 ms (the default is 5 s): the override is honoured.
        fast = {"statistics.interval.ms": "200"}
        dlq = {"name": "kdlq", "type": "kafka", "bootstrap_servers": self.kafka.bootstrap,
               "topic": "dlq-events", "rdkafka": fast}
        cfg = self.config(fn, source={"rdkafka": fast}, dlqs=[dlq], mapping={"dlq": "kdlq"})
        s = self.sluice(cfg)
        wait_ready(s, 200, "ready")
        for b in range(1, self.BROKERS + 1):
            self.kafka.down(b)

        def both_named():
            status, body = readyz(s)
            got = {(u.get("source") or u.get("dlq"), u["type"]): u["why"]
                   for u in body.get("unreachable", [])}
            return got if status == 503 and set(got) == {("events", "kafka"),
                                                         ("kdlq", "kafka")} else None
        why = harness.wait_until(both_named, what="the source and the DLQ sink both named")
        for w in why.values():
            self.assertRegex(w, r"no broker connected|brokers are down")
        self.assertTrue(healthy(s))
        for b in range(1, self.BROKERS + 1):
            self.kafka.up(b)
        wait_ready(s, 200, "ready again once the brokers are back")
        s.out.wait_for(r"reaching the cluster again")


if __name__ == "__main__":
    harness.main()
