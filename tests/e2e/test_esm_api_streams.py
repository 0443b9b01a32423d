"""The event-source-mapping API on stream sources (docs/ESM_API.md): several ESMs per Redis or
Kafka source, each a mapping with a reader (consumer group) of its own; StartingPosition and
StartingPositionTimestamp applied (LATEST skips what was written before the ESM, TRIM_HORIZON
reads it) with Lambda's rules for them; a self-managed Kafka ESM (SelfManagedEventSource and
Topics) resolved to the configured source, read with the ESM's UUID as consumer group or its
ConsumerGroupId, echoed back by Get. Real redis-server, librdkafka's mock cluster, the real
binary."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import harness  # noqa: E402
from harness import base_config, free_port, json_body, wait_until  # noqa: E402
from kafka_fixture import (KafkaTest, committed, produce, produced_keys,  # noqa: E402
                           watermarks)
from redis_fixture import RedisTest, redis_source  # noqa: E402

PATH = "/2015-03-31/event-source-mappings"
RARN = "arn:sluice:redis:local:000000000000:source/orders"


class EsmStreams(RedisTest):
    def call(self, s, method, path, body=None):
        status, hdrs, data = s.admin(method, path, body)
        return status, hdrs, json_body(data)

    def create(self, s, **fields):
        status, _, doc = self.call(s, "POST", PATH, dict({"FunctionName": "fn"}, **fields))
        self.assertEqual(status, 202, doc)
        return doc

    def refused(self, s, status, etype, pattern, **fields):
        got, hdrs, doc = self.call(s, "POST", PATH, dict({"FunctionName": "fn"}, **fields))
        self.assertEqual((got, hdrs.get("x-amzn-errortype")), (status, etype), doc)
        self.assertRegex(doc["message"], pattern)

    def enabled(self, s, uuid):
        wait_until(lambda: self.call(s, "GET", PATH + "/" + uuid)[2]["State"] == "Enabled",
                   what="ESM %s enabled" % uuid)

    def fns(self, cfg, *fns):
        cfg["functions"] = [{"name": "fn" if i == 0 else "fn%d" % i, "type": "http",
                             "url": f.url, "timeout": "5s"} for i, f in enumerate(fns)]

    def test_redis_several_esms_and_starting_positions(self):
        r = self.redis()
        c = r.client()
        filed, latest, horizon = self.kfn(), self.kfn(), self.kfn()
        cfg = base_config(self.workdir, filed.url, extra={
            "sources": [redis_source(r.port, ["orders"])]})
        cfg["admin"]["listen"] = "127.0.0.1:%d" % free_port()
        self.fns(cfg, filed, latest, horizon)
        s = self.sluice(cfg)
        before = set(self.produce(c, "orders", 20))
        # Lambda's rules for a stream source's starting position.
        self.refused(s, 400, "InvalidParameterValueException",
                     r"^StartingPosition is required for redis event sources", EventSourceArn=RARN)
        self.refused(s, 400, "InvalidParameterValueException",
                     r"^StartingPositionTimestamp is required with StartingPosition AT_TIMESTAMP",
                     EventSourceArn=RARN, StartingPosition="AT_TIMESTAMP")
        self.refused(s, 400, "InvalidParameterValueException",
                     r"^StartingPositionTimestamp is only valid with StartingPosition AT_TIMESTAMP",
                     EventSourceArn=RARN, StartingPosition="LATEST",
                     StartingPositionTimestamp=1700000000)
        self.refused(s, 400, "InvalidParameterValueException",
                     r"ConsumerGroupId\) is only valid for a Kafka event source",
                     EventSourceArn=RARN, StartingPosition="LATEST",
                     SelfManagedKafkaEventSourceConfig={"ConsumerGroupId": "g"})
        # LATEST: a group of its own made at the end of the stream.
        a = self.create(s, EventSourceArn=RARN, FunctionName="fn1", StartingPosition="LATEST")
        self.assertEqual(a["StartingPosition"], "LATEST")
        self.enabled(s, a["UUID"])
        group_a = "esm_" + a["UUID"].replace("-", "_")
        wait_until(lambda: group_a in self.groups(c), what="the LATEST ESM's group")
        after = set(self.produce(c, "orders", 10, start=20))
        # TRIM_HORIZON: another ESM of the same source reads from the start.
        b = self.create(s, EventSourceArn=RARN, FunctionName="fn2",
                        StartingPosition="TRIM_HORIZON")
        self.enabled(s, b["UUID"])
        got = lambda fn: {e.split(":", 1)[1] for e in fn.delivered()}  # noqa: E731
        wait_until(lambda: got(filed) >= before | after and got(latest) >= after and
                   got(horizon) >= before | after, what="every mapping caught up")
        self.assertEqual(got(latest), after)
        self.assertEqual(got(horizon), before | after)
        self.assertEqual(self.groups(c), {"sluice-orders", group_a,
                                          "esm_" + b["UUID"].replace("-", "_")})
        # The file's mapping kept its position: nothing it had was delivered twice... at most
        # again, never lost; and the three are listed.
        status, _, page = self.call(s, "GET", PATH)
        self.assertEqual(status, 200)
        self.assertEqual({m["UUID"] for m in page["EventSourceMappings"]}, {a["UUID"], b["UUID"]})
        s.terminate()

    def groups(self, c):
        try:
            return {dict(zip(g[::2], g[1::2]))["name"] for g in c.cmd("XINFO", "GROUPS", "orders")}
        except Exception:
            return set()


class EsmKafka(KafkaTest):
    TOPICS = ("events:2", "other:1")
    BROKERS = 1

    call = EsmStreams.call
    create = EsmStreams.create
    refused = EsmStreams.refused
    enabled = EsmStreams.enabled
    fns = EsmStreams.fns

    def source(self, name, topic, **kw):
        return dict({"name": name, "type": "kafka", "bootstrap_servers": self.kafka.bootstrap,
                     "topics": [topic], "group_id": "sluice-" + name,
                     "starting_position": "earliest", "session_timeout": "6s",
                     "commit_interval": "200ms"}, **kw)

    def test_self_managed_kafka(self):
        boot = self.kafka.bootstrap
        a, b = self.kfn(), self.kfn()
        produce(boot, "events", 40)
        produced = set(produced_keys(boot, "events"))
        cfg = base_config(self.workdir, a.url)
        cfg["admin"]["listen"] = "127.0.0.1:%d" % free_port()
        cfg["sources"] = [self.source("events", "events"), self.source("other", "other")]
        cfg["mappings"] = []
        self.fns(cfg, a, b, a)
        s = self.sluice(cfg)
        servers = list(reversed(boot.split(",")))  # any order
        sme = {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": servers}}
        self.refused(s, 400, "InvalidParameterValueException",
                     r"no kafka source of this sluice reads topic \"nope\"",
                     SelfManagedEventSource=sme, Topics=["nope"], StartingPosition="LATEST")
        self.refused(s, 400, "InvalidParameterValueException", r"Topics is required",
                     SelfManagedEventSource=sme, StartingPosition="LATEST")
        self.refused(s, 400, "InvalidParameterValueException",
                     r"^StartingPosition is required for kafka event sources",
                     SelfManagedEventSource=sme, Topics=["events"])
        # The ESM's UUID is its consumer group.
        doc = self.create(s, SelfManagedEventSource=sme, Topics=["events"],
                          StartingPosition="TRIM_HORIZON")
        uuid = doc["UUID"]
        self.assertEqual(doc["SelfManagedEventSource"], sme)
        self.assertEqual(doc["Topics"], ["events"])
        self.assertNotIn("EventSourceArn", doc)
        self.enabled(s, uuid)
        # A second ESM of the same topic with a ConsumerGroupId of its own.
        doc2 = self.create(s, SelfManagedEventSource=sme, Topics=["events"], FunctionName="fn1",
                           StartingPosition="TRIM_HORIZON",
                           SelfManagedKafkaEventSourceConfig={"ConsumerGroupId": "audit"})
        self.enabled(s, doc2["UUID"])
        got = self.call(s, "GET", PATH + "/" + doc2["UUID"])[2]
        self.assertEqual(got["SelfManagedKafkaEventSourceConfig"], {"ConsumerGroupId": "audit"})
        self.assertEqual(got["Topics"], ["events"])
        wait_until(lambda: a.delivered_keys() >= produced and b.delivered_keys() >= produced,
                   timeout=90, what="both ESMs: every record")
        marks = {p: h for p, h in watermarks(boot, "events").items() if h > 0}
        for group in (uuid, "audit"):
            wait_until(lambda: all(committed(boot, "events", group).get(p) == h
                                   for p, h in marks.items()),
                       timeout=60, what="group %s committed" % group)
        # The same group twice: refused, naming the mapping that has it.
        self.refused(s, 409, "ResourceConflictException",
                     r"consumer group \"audit\" is already used by mapping \"esm-%s\""
                     % doc2["UUID"], SelfManagedEventSource=sme, Topics=["events"],
                     StartingPosition="LATEST", FunctionName="fn2",
                     SelfManagedKafkaEventSourceConfig={"ConsumerGroupId": "audit"})
        # Topics with an EventSourceArn must be what that source reads.
        self.refused(s, 400, "InvalidParameterValueException",
                     r"source \"other\" does not read exactly that topic",
                     EventSourceArn="other", Topics=["events"], StartingPosition="LATEST")
        s.terminate()

    def test_several_matching_sources_refused(self):
        f = self.kfn()
        cfg = base_config(self.workdir, f.url)
        cfg["sources"] = [self.source("one", "events"), self.source("two", "events")]
        cfg["mappings"] = []
        s = self.sluice(cfg)
        self.refused(s, 400, "InvalidParameterValueException",
                     r"2 kafka sources read topic \"events\" from .*name one in EventSourceArn",
                     SelfManagedEventSource={"Endpoints": {
                         "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap.split(",")}},
                     Topics=["events"], StartingPosition="LATEST")
        s.terminate()


if __name__ == "__main__":
    harness.main()
