"""Helpers for the postgres-cdc source's tests: a real PostgreSQL (pg_fixture.PgServer), a source
section, and DdbFn, an HTTP function for DynamoDB-Streams-shaped events that records what it
gets and fails the records asked to fail."""
import json
import os
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from harness import SluiceTest, base_config, wait_until  # noqa: E402,F401
from pg_fixture import PgServer  # noqa: E402


def attr(v):
    """A DynamoDB attribute value -> a Python value (N -> int or float, M -> dict, L -> list,
    B stays base64 text)."""
    (t, x), = v.items()
    if t == "N":
        return float(x) if any(ch in x for ch in ".eE") else int(x)
    if t == "M":
        return {k: attr(y) for k, y in x.items()}
    if t == "L":
        return [attr(y) for y in x]
    if t == "NULL":
        return None
    return x


def image(img):
    return {k: attr(v) for k, v in img.items()} if img is not None else None


class DdbFn:
    """Records every invocation (its records, their SequenceNumbers, the time it arrived).
    A record whose NewImage (or OldImage) has fail = true fails its invocation: a function
    error, or a partial batch response naming it when partial=True, until fixed is set.
    fail_rate answers 500 at random. hold=True keeps every invocation waiting (counted in
    `arrived`) until release()."""

    def __init__(self, partial=False, fail_rate=0.0, seed=1, hold=False):
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.arrived = 0
        self.partial = partial
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.fixed = False
        self.lock = threading.Lock()
        self.log = []  # dicts: time, records, outcome, failed
        fn = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                status, out = fn._handle(self.rfile.read(n))
                self.send_response(status)
                if status == 200 and out.startswith(b'{"errorMessage"'):
                    self.send_header("X-Amz-Function-Error", "Unhandled")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/invoke" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handle(self, body):
        now = time.time()
        records = json.loads(body)["Records"]
        failed = []
        for r in records:
            d = r["dynamodb"]
            for img in ("NewImage", "OldImage"):
                if d.get(img, {}).get("fail") == {"BOOL": True} and not self.fixed:
                    failed.append(d["SequenceNumber"])
                    break
        with self.lock:
            self.arrived += 1
        self.gate.wait()
        with self.lock:
            entry = {"time": now, "records": records, "failed": failed}
            if self.fail_rate and self.rng.random() < self.fail_rate:
                entry["outcome"] = "error"
                self.log.append(entry)
                return 500, b'{"message":"random failure"}'
            if failed and self.partial:
                entry["outcome"] = "partial"
                self.log.append(entry)
                return 200, json.dumps({"batchItemFailures": [
                    {"itemIdentifier": f} for f in failed]}).encode()
            if failed:
                entry["outcome"] = "error"
                self.log.append(entry)
                return 200, b'{"errorMessage":"a record asked to fail","errorType":"Poison"}'
            entry["outcome"] = "ok"
            self.log.append(entry)
            return 200, b"{}"

    def invocations(self):
        with self.lock:
            return list(self.log)

    def delivered(self):
        """Records of successful invocations, in order (duplicates included)."""
        out = []
        for inv in self.invocations():
            if inv["outcome"] == "ok":
                out.extend(inv["records"])
        return out

    def release(self):
        self.gate.set()

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()

    def problems(self):
        return None


def cdc_source(pg, name="orders", **kw):
    src = {"name": name, "type": "postgres-cdc",
           "conninfo": "host=127.0.0.1 port=%d user=postgres dbname=postgres" % pg.port,
           "publication": "sluice_pub", "slot": "sluice_slot", "region": "eu-west-1",
           "status_interval": "500ms", "standby_poll": "200ms"}
    src.update(kw)
    return src


def cdc_config(test, fn, pg, mapping=None, source=None, extra=None):
    m = {"batch": {"size": 100, "window": "0s"},
         "retry": {"max_attempts": 2, "backoff": {"min": "5ms", "max": "20ms"}}}
    m.update(mapping or {})
    cfg = base_config(test.workdir, fn.url, mapping=m)
    cfg["sources"] = [cdc_source(pg, **(source or {}))]
    for k, v in (extra or {}).items():
        cfg[k] = v
    return cfg


class CdcTest(SluiceTest):
    """A PostgreSQL per test, destroyed (slots dropped) at teardown."""

    def setUp(self):
        super().setUp()
        self.pg = PgServer().start()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.pg.destroy()

    def ddbfn(self, **kw):
        f = DdbFn(**kw)
        self._procs.append(f)
        return f

    def slot_active(self, slot="sluice_slot"):
        return self.pg.scalar("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                              (slot,))

    def confirmed_lsn(self, slot="sluice_slot"):
        """The slot's confirmed_flush_lsn as an integer (None without the slot)."""
        v = self.pg.scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                           "WHERE slot_name = %s", (slot,))
        if v is None:
            return None
        hi, lo = v.split("/")
        return int(hi, 16) << 32 | int(lo, 16)

    def wait_streaming(self, slot="sluice_slot"):
        wait_until(lambda: self.slot_active(slot) is True, timeout=30,
                   what="sluice to stream slot %s" % slot)
