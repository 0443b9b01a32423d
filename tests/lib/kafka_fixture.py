"""Kafka test fixture: librdkafka's mock cluster as a process, a small client (kafka_tool), and
a scriptable function that understands Lambda's self-managed Kafka event.

Standard library only. Everything started here runs on loopback and is stopped by pid.
"""
import base64
import http.server
import json
import os
import random
import socketserver
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOOLS = os.path.join(harness.BUILD, "tests", "lib")
MOCK = os.path.join(TOOLS, "kafka_mock")
TOOL = os.path.join(TOOLS, "kafka_tool")

# Kafka API keys and error codes used with KafkaMock.errors().
API_PRODUCE = 0
API_FETCH = 1
API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_HEARTBEAT = 12
ERR_NOT_LEADER = 6
ERR_REQUEST_TIMED_OUT = 7
ERR_NOT_COORDINATOR = 16
ERR_COORDINATOR_NOT_AVAILABLE = 15
ERR_REBALANCE_IN_PROGRESS = 27


class KafkaMock:
    """kafka_mock: N brokers, topics created at start, a line protocol on stdin."""

    def __init__(self, topics, brokers=3):
        args = [MOCK, "--brokers", str(brokers)] + list(topics)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.out = harness.LineReader(self.proc.stdout, "[kafka]")
        self.bootstrap = self.out.wait_for(r"^bootstrap (\S+)", timeout=30).group(1)
        self._answers = 0
        self._lock = threading.Lock()

    def command(self, line):
        """Sends one command and waits for its answer; fails on an error answer."""
        with self._lock:
            start = len(self.out.lines)
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
            m = self.out.wait_for(r"^(ok|error.*)$", timeout=30, start=start)
            if m.group(1) != "ok":
                raise AssertionError("kafka_mock %r: %s" % (line, m.group(1)))

    def down(self, broker):
        self.command("down %d" % broker)

    def up(self, broker):
        self.command("up %d" % broker)

    def leader(self, topic, partition, broker):
        self.command("leader %s %d %d" % (topic, partition, broker))

    def errors(self, api_key, *errs):
        self.command("errors %d %s" % (api_key, " ".join(str(e) for e in errs)))

    def create_topic(self, name, partitions):
        self.command("topic %s %d" % (name, partitions))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass


def tool(*args, timeout=120):
    p = subprocess.run([TOOL] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("kafka_tool %s failed: %s" % (" ".join(map(str, args)),
                                                          p.stderr.decode()))
    return p.stdout.decode()


def produce(bootstrap, topic, n, start=0, partition=None, keys=8, size=0, headers=False,
            poison=(), rate=0, tombstones=(), empties=()):
    args = ["produce", "-b", bootstrap, "-t", topic, "-n", n, "--start", start, "--keys", keys]
    if tombstones:
        args += ["--tombstones", ",".join(str(i) for i in tombstones)]
    if empties:
        args += ["--empties", ",".join(str(i) for i in empties)]
    if partition is not None:
        args += ["--partition", partition]
    if size:
        args += ["--size", size]
    if headers:
        args.append("--headers")
    if poison:
        args += ["--poison", ",".join(str(p) for p in poison)]
    if rate:
        args += ["--rate", rate]
    out = tool(*args)
    assert out.strip() == "produced %d" % n, out


def produce_async(bootstrap, topic, n, start=0, rate=0, **kw):
    """Produces in a background process; returns the Popen (wait() on it)."""
    args = [TOOL, "produce", "-b", bootstrap, "-t", topic, "-n", str(n), "--start", str(start)]
    if rate:
        args += ["--rate", str(rate)]
    for k, v in kw.items():
        args += ["--" + k, str(v)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def dump(bootstrap, topic):
    return [json.loads(l) for l in tool("dump", "-b", bootstrap, "-t", topic).splitlines() if l]


def committed(bootstrap, topic, group):
    return {int(k): v for k, v in json.loads(tool("committed", "-b", bootstrap, "-t", topic,
                                                  "-g", group)).items()}


def watermarks(bootstrap, topic):
    return {int(k): v for k, v in json.loads(tool("watermarks", "-b", bootstrap, "-t",
                                                  topic)).items()}


def b64d(s):
    return base64.b64decode(s) if s is not None else None


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class KafkaFn:
    """A function that reads the self-managed Kafka event. Every invocation is logged with its
    records as (topic, partition, offset, n) where n is the value's "n" (kafka_tool's values).

    Behaviour, per invocation (the first rule that applies):
    - `fail_rate`: answer 500 with that probability (seeded);
    - a record whose value has "fail": true fails the invocation: with `partial` set, as a
      partial batch response naming those records (object identifiers), else as a function
      error (200 + X-Amz-Function-Error: Unhandled);
    - otherwise 200.
    `fixed = True` makes "fail" records succeed from then on."""

    def __init__(self, fail_rate=0.0, seed=1, partial=False, delay=0.0):
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.partial = partial
        self.delay = delay
        self.fixed = False
        self.lock = threading.Lock()
        self.invocations = []  # dicts: outcome, records [(t, p, o, n)], failed [(t,p,o)]
        self.events = []  # raw events of the first invocations (shape checks)
        self.receipts = []  # (time received, record timestamp ms)
        fn = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                status, headers, out = fn._invoke(body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/invoke" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _invoke(self, body):
        now = time.time()
        try:
            ev = json.loads(body)
        except ValueError:
            return 400, {}, b'{"errorMessage":"not JSON"}'
        recs, failed = [], []
        groups = ev.get("records", {}) if isinstance(ev, dict) else {"raw": ev}
        for key, items in groups.items():
            for r in items:
                value = b64d(r.get("value"))
                try:
                    doc = json.loads(value)
                except (ValueError, TypeError):
                    doc = {}
                tpo = (r["topic"], r["partition"], r["offset"])
                recs.append(tpo + (doc.get("n") if isinstance(doc, dict) else None,))
                if isinstance(doc, dict) and doc.get("fail") is True:
                    failed.append(tpo)
                self.receipts.append((now, r.get("timestamp")))
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            if len(self.events) < 20:
                self.events.append(ev)
            if self.fail_rate and self.rng.random() < self.fail_rate:
                self.invocations.append({"outcome": "error", "records": recs, "failed": []})
                return 500, {}, b'{"errorMessage":"random failure"}'
            if failed and not self.fixed:
                if self.partial:
                    self.invocations.append({"outcome": "partial", "records": recs,
                                             "failed": failed})
                    out = {"batchItemFailures": [
                        {"itemIdentifier": {"partition": "%s-%d" % (t, p), "offset": o}}
                        for (t, p, o) in failed]}
                    return 200, {}, json.dumps(out).encode()
                self.invocations.append({"outcome": "error", "records": recs, "failed": failed})
                return 200, {"X-Amz-Function-Error": "Unhandled"}, \
                    b'{"errorMessage":"a record asked to fail","errorType":"Poison"}'
            self.invocations.append({"outcome": "ok", "records": recs, "failed": []})
            return 200, {}, b"{}"

    def delivered(self):
        """(topic, partition, offset, n) of every record handled successfully, in order of
        invocation, duplicates included."""
        out = []
        with self.lock:
            for inv in self.invocations:
                if inv["outcome"] == "ok":
                    out.extend(inv["records"])
                elif inv["outcome"] == "partial":
                    # Lambda's stream rule: what precedes the first failure is done.
                    first = min(i for i, r in enumerate(inv["records"])
                                if r[:3] in set(inv["failed"]))
                    out.extend(inv["records"][:first])
        return out

    def delivered_keys(self):
        return set(r[:3] for r in self.delivered())

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def kafka_config(workdir, fn_url, bootstrap, topics, group="sluice-test", mapping=None,
                 source=None, extra=None, dlqs=None):
    src = {"name": "events", "type": "kafka", "bootstrap_servers": bootstrap,
           "topics": list(topics), "group_id": group, "starting_position": "earliest",
           "session_timeout": "6s", "commit_interval": "200ms"}
    src.update(source or {})
    # max_concurrency >= partitions: every partition lane can have its batch in flight.
    cfg = harness.base_config(workdir, fn_url, mapping=dict({"source": "events",
                                                             "max_concurrency": 8},
                                                            **(mapping or {})))
    cfg["sources"] = [src]
    if dlqs:
        cfg["dlqs"] = dlqs
    for k, v in (extra or {}).items():
        cfg[k] = v
    return cfg


class KafkaTest(harness.SluiceTest):
    """SluiceTest plus a mock cluster and a KafkaFn, both stopped at teardown."""

    TOPICS = ("events:4",)
    BROKERS = 3

    def setUp(self):
        super().setUp()
        self.kafka = KafkaMock(self.TOPICS, self.BROKERS)
        self._kfns = []

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for f in self._kfns:
                f.stop()
            self.kafka.stop()

    def kfn(self, **kw):
        f = KafkaFn(**kw)
        self._kfns.append(f)
        return f

    def config(self, fn, topics=("events",), **kw):
        return kafka_config(self.workdir, fn.url, self.kafka.bootstrap, topics, **kw)

    def dead_lettered(self, s):
        """(topic, partition, offset) of the DLQ entries of the default (SQLite) DLQ."""
        out = []
        for e in s.dlq_entries():
            out.append(e["recordId"])
        return out

    def assert_no_loss(self, produced, delivered, dead=(), filtered=()):
        """Every produced (topic, partition, offset) was delivered, dead-lettered or
        filtered."""
        handled = set(delivered) | set(dead) | set(filtered)
        missing = sorted(set(produced) - handled)
        self.assertEqual(missing, [], "records lost: %d of %d (first %s)" % (
            len(missing), len(produced), missing[:10]))

    def assert_partition_order(self, fn):
        """Per partition, every invocation's records ascend, and first deliveries ascend."""
        seen = {}
        for inv in fn.invocations:
            offs = [r[2] for r in inv["records"]]
            self.assertEqual(offs, sorted(offs), "a batch out of order: %s" % offs)
            parts = set((r[0], r[1]) for r in inv["records"])
            self.assertLessEqual(len(parts), 1, "a batch mixes partitions: %s" % parts)
        for (t, p, o, n) in fn.delivered():
            last = seen.get((t, p), -1)
            if o > last:
                seen[(t, p)] = o
            # A redelivery of an older offset is allowed (at least once) but a first delivery
            # never jumps back.


def record_id_key(rid):
    """'events-3:17' -> ('events', 3, 17)."""
    tp, off = rid.rsplit(":", 1)
    t, p = tp.rsplit("-", 1)
    return (t, int(p), int(off))


def produced_keys(bootstrap, topic):
    return [(topic, r["partition"], r["offset"]) for r in dump(bootstrap, topic)]


class KafkaDlqTest(KafkaTest):
    """KafkaTest plus a second mock cluster (one broker, dlq-events:2) for a Kafka DLQ sink, so
    that the source's cluster and the sink's can fail apart; stopped at teardown."""

    def setUp(self):
        super().setUp()
        self.dlq_kafka = KafkaMock(["dlq-events:2"], brokers=1)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.dlq_kafka.stop()
