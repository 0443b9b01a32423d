"""Shared intake on Kafka (docs/SCALE_OUT.md): two sluice processes with the same config, each
with a webhook writing its pushes to one Kafka topic (spool.to) and a mapping reading that topic
in one consumer group. Posts alternate between them; one is killed with -9 in the middle; every
post answered 2xx reaches the function (duplicates allowed, reported). Also: what a written
record looks like, the answer while Kafka is unreachable, and the config checks."""
import base64
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from intake_fixture import post_and_kill, post_until_accepted  # noqa: E402
from kafka_fixture import KafkaTest  # noqa: E402

TOPIC = "intake"


def intake_config(workdir, name, fn_url, bootstrap, hook=None, kafka=None):
    """One process's config: webhook `orders` -> topic `intake` <- kafka source `events`."""
    cfg = harness.base_config(workdir, fn_url, mapping={
        "name": "events-to-fn", "source": "events", "max_concurrency": 8,
        "batch": {"size": 10, "window": "0s"}})
    cfg["store"] = {"dir": os.path.join(workdir, "data-" + name)}
    cfg["sources"] = [
        dict({"name": "orders", "type": "http", "spool": {"to": "events"}}, **(hook or {})),
        dict({"name": "events", "type": "kafka", "bootstrap_servers": bootstrap,
              "topics": [TOPIC], "group_id": "sluice-intake", "starting_position": "earliest",
              "session_timeout": "6s", "commit_interval": "200ms"}, **(kafka or {})),
    ]
    return cfg


def headers_of(record):
    """The Kafka event's headers ([{name: [bytes]}]) as {name: str}."""
    out = {}
    for h in record.get("headers", []):
        for k, v in h.items():
            out[k] = bytes(b & 0xFF for b in v).decode()
    return out


class IntakeKafka(KafkaTest):
    TOPICS = (TOPIC + ":4",)

    def start_pair(self, fn):
        procs = []
        for name in ("a", "b"):
            cfg = intake_config(self.workdir, name, fn.url, self.kafka.bootstrap)
            procs.append(self.sluice(cfg, name=name))
        return procs

    def test_two_processes_one_killed(self):
        fn = self.kfn()
        a, b = self.start_pair(fn)
        total = 400
        accepted, refused = post_and_kill([a, b], a, total, clients=4)
        self.assertEqual(len(accepted), total)

        def all_delivered():
            got = set(r[3] for r in fn.delivered())
            return not (set(accepted) - got)
        harness.wait_until(all_delivered, timeout=120, what="every accepted post delivered")
        delivered = [r[3] for r in fn.delivered()]
        dups = len(delivered) - len(set(delivered))
        sys.stderr.write("intake scale-out: %d posts accepted, %d refusals retried, %d "
                         "duplicate deliveries\n" % (len(accepted), refused, dups))
        self.assertEqual(sorted(set(delivered)), list(range(total)))
        self.assertGreater(refused, 0, "posts to the killed process were refused")
        parts = set((r[0], r[1]) for r in fn.delivered())
        self.assertEqual(parts, set((TOPIC, p) for p in range(4)), "posts spread over "
                         "the partitions")
        self.assertEqual(b.terminate(), 0)

    def test_record_shape(self):
        fn = self.kfn()
        cfg = intake_config(self.workdir, "one", fn.url, self.kafka.bootstrap,
                            hook={"token": "s3cret-token", "keep_headers": ["x-trace"]})
        s = self.sluice(cfg)
        body = {"n": 7, "text": "h\u00e9"}
        status, _, data = s.post("orders", body, headers={
            "Authorization": "Bearer s3cret-token", "X-Trace": "t-1"})
        self.assertEqual(status, 202, data)
        ident = harness.json_body(data)["id"]
        harness.wait_until(lambda: fn.delivered(), what="the post delivered")
        ev = fn.events[0]
        self.assertEqual(ev["eventSource"], "SelfManagedKafka")
        rec = next(iter(ev["records"].values()))[0]
        self.assertEqual(rec["topic"], TOPIC)
        self.assertEqual(json.loads(base64.b64decode(rec["value"])), body)
        self.assertNotIn("key", rec)
        h = headers_of(rec)
        self.assertEqual(h["sluice-id"], ident)
        self.assertEqual(h["sluice-source"], "orders")
        self.assertRegex(h["sluice-received"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(h["content-type"], "application/json")
        attrs = json.loads(h["sluice-attrs"])
        self.assertEqual(attrs["method"], "POST")
        self.assertEqual(attrs["path"], "/hooks/orders")
        self.assertEqual(attrs["headers"], {"x-trace": "t-1"})
        self.assertNotIn(b"s3cret-token", json.dumps(ev).encode())
        m = s.metrics()
        lab = 'source="orders",engine="kafka"'
        self.assertEqual(m["sluice_intake_writes_total{%s}" % lab], 1)
        self.assertEqual(m["sluice_intake_write_seconds_count{%s}" % lab], 1)
        self.assertEqual(m['sluice_webhook_accepted_total{source="orders"}'], 1)
        self.assertNotIn("s3cret-token", s.out.text())
        # Larger than Kafka's message.max.bytes (1000000) but within max_body_bytes (1 MiB): 413,
        # not a 503 the pusher would retry for ever.
        status, _, data = s.post("orders", b"x" * 1000100, headers={
            "Authorization": "Bearer s3cret-token", "Content-Type": "text/plain"})
        self.assertEqual(status, 413, data)
        self.assertEqual(json.loads(data)["error"], "payload_too_large")
        self.assertEqual(s.terminate(), 0)

    def test_kafka_down_refused_then_accepted(self):
        fn = self.kfn()
        cfg = intake_config(self.workdir, "one", fn.url, self.kafka.bootstrap,
                            kafka={"rdkafka": {"message.timeout.ms": "2000"}})
        s = self.sluice(cfg)
        status, _, data = s.post("orders", {"n": 0})
        self.assertEqual(status, 202, data)
        for broker in (1, 2, 3):
            self.kafka.down(broker)
        refused = []
        for n in range(1, 4):
            status, hdrs, data = s.post("orders", {"n": n})
            self.assertEqual(status, 503, data)
            self.assertEqual(json.loads(data)["error"], "spool_unavailable")
            self.assertIn("retry-after", {k.lower() for k in dict(hdrs)})
            refused.append(n)
        for broker in (1, 2, 3):
            self.kafka.up(broker)
        accepted = [0]
        for n in range(4, 10):
            ident, _ = post_until_accepted([s], n, {"n": n})
            accepted.append(n)
        harness.wait_until(lambda: set(accepted) <= set(r[3] for r in fn.delivered()),
                           timeout=90, what="every accepted post delivered")
        m = s.metrics()
        self.assertGreaterEqual(m['sluice_intake_failures_total{source="orders",'
                                  'engine="kafka"}'], len(refused))
        self.assertEqual(s.terminate(), 0)

    def test_inflight_bound(self):
        """Over spool.max_inflight: 503 spool_full at once, never a 202 for an unwritten post."""
        fn = self.kfn()
        cfg = intake_config(self.workdir, "one", fn.url, self.kafka.bootstrap,
                            hook={"spool": {"to": "events", "max_inflight": 1}},
                            kafka={"rdkafka": {"message.timeout.ms": "3000"}})
        s = self.sluice(cfg)
        for broker in (1, 2, 3):
            self.kafka.down(broker)
        results = []

        def post(n):
            results.append(s.post("orders", {"n": n}))
        threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        errors = sorted(json.loads(d)["error"] for st, _, d in results)
        self.assertEqual([st for st, _, _ in results], [503] * 4)
        self.assertIn("spool_full", errors)
        for broker in (1, 2, 3):
            self.kafka.up(broker)
        self.assertEqual(s.terminate(), 0)

    def test_stop_with_writes_in_flight(self):
        """SIGTERM while a write waits for unreachable brokers: the push is not answered 202
        (503, or its connection closed), and sluice exits cleanly."""
        fn = self.kfn()
        cfg = intake_config(self.workdir, "one", fn.url, self.kafka.bootstrap)
        s = self.sluice(cfg)
        for broker in (1, 2, 3):
            self.kafka.down(broker)
        answers = []

        def post():
            try:
                answers.append(s.post("orders", {"n": 1})[0])
            except OSError as e:
                answers.append(e)
        t = threading.Thread(target=post)
        t.start()
        harness.wait_until(lambda: s.metrics().get(
            'sluice_intake_inflight{source="orders",engine="kafka"}') == 1,
            what="the write in flight")
        self.assertEqual(s.terminate(), 0)
        t.join(30)
        self.assertEqual(len(answers), 1)
        self.assertNotEqual(answers[0], 202)
        for broker in (1, 2, 3):
            self.kafka.up(broker)

    def test_config_checks(self):
        fn = self.kfn()
        cfg = intake_config(self.workdir, "v", fn.url, self.kafka.bootstrap)
        cfg["mappings"].append({"name": "hook-to-fn", "source": "orders", "function": "fn"})
        s = self.sluice(cfg, name="mapped", start=False)
        p = s.cli("validate", check=False)
        out = p.stdout.decode() + p.stderr.decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertRegex(out, r"mapped\.yaml:\d+: mappings\[1\]\.source: \"orders\" writes its "
                         r"pushes to source \"events\" .*map source \"events\" instead")

        for kafka, why in (({"starting_position": "latest"}, "starting_position: earliest"),
                           ({"topics": [TOPIC, "other"]}, "exactly one `topics` entry")):
            cfg = intake_config(self.workdir, "v", fn.url, self.kafka.bootstrap, kafka=kafka)
            s = self.sluice(cfg, name="bad", start=False)
            p = s.cli("validate", check=False)
            out = p.stdout.decode() + p.stderr.decode()
            self.assertNotEqual(p.returncode, 0, out)
            self.assertRegex(out, r"bad\.yaml:\d+: sources\[0\]\.spool\.to: \"events\": ")
            self.assertIn(why, out)

        cfg = intake_config(self.workdir, "v", fn.url, self.kafka.bootstrap,
                            hook={"spool": {"to": "nope"}})
        s = self.sluice(cfg, name="missing", start=False)
        p = s.cli("validate", check=False)
        self.assertIn("sources[0].spool.to: \"nope\": no such source", p.stdout.decode() +
                      p.stderr.decode())

        cfg = intake_config(self.workdir, "v", fn.url, self.kafka.bootstrap)
        s = self.sluice(cfg, name="good", start=False)
        s.cli("validate")


if __name__ == "__main__":
    harness.main()
