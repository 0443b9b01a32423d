"""Redis fixtures for sluice tests: a real redis-server on a free loopback port (started and
stopped by pid, optional AOF, restartable on the same port and dir), a minimal RESP client, and
KinesisFn, a small scriptable function that understands the Kinesis-shaped events of the redis
source (sluice-fn only knows records with a top-level "id"/"body").

Standard library only.
"""
import base64
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import SluiceTest, free_port, wait_until  # noqa: F401 (free_port: re-exported)

REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")


class RedisError(Exception):
    pass


class Resp:
    """A blocking RESP2 client: enough for tests (commands in, Python values out)."""

    def __init__(self, port, host="127.0.0.1", timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def _enc(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2].decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise ConnectionError("bad RESP line %r" % line)

    def cmd(self, *args):
        self.sock.sendall(self._enc(args))
        r = self._read()
        if isinstance(r, RedisError):
            raise r
        return r

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self._enc(c) for c in commands))
        return [self._read() for _ in commands]


class RedisServer:
    """redis-server on 127.0.0.1:<free port> in its own directory; stop() = SIGTERM, then wait
    for the pid. restart() reuses the port and the directory (the AOF survives)."""

    def __init__(self, workdir, aof=False, port=None):
        self.dir = os.path.join(workdir, "redis-%d" % time.monotonic_ns())
        os.makedirs(self.dir)
        self.port = port or free_port()
        self.aof = aof
        self.proc = None

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log"),
                "--appendonly", "yes" if self.aof else "no"]
        if self.aof:
            args += ["--appendfsync", "always"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %d; log:\n%s" % (
                    self.proc.returncode, self.log()))
            try:
                c = Resp(self.port, timeout=2)
                try:
                    return c.cmd("PING") == "PONG"
                finally:
                    c.close()
            except (OSError, RedisError, ConnectionError):
                return False

        wait_until(ready, timeout=30, what="redis-server to answer PING")
        return self

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def client(self):
        return Resp(self.port)

    def problems(self):
        return None


def fields_of(kv):
    """XRANGE/XREADGROUP field list -> dict."""
    return dict(zip(kv[0::2], kv[1::2]))


class KinesisFn:
    """An HTTP function for Kinesis-shaped events. Each invocation is logged with its ids
    (eventID: "<stream>:<entry id>"), the decoded data of each record, and the outcome.
    Behaviour: a record whose data has fail="true" makes the invocation fail (function error,
    or a partial batch response naming it when partial=True); fail_rate answers 500 at random;
    delay_ms sleeps before answering; fixed=True makes fail="true" records succeed.
    hold=True keeps every invocation waiting (logged in `arrived` as it comes) until release():
    a function that is still busy with a batch, for as long as a test needs."""

    def __init__(self, fail_rate=0.0, seed=1, partial=False, delay_ms=0, hold=False):
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.partial = partial
        self.delay_ms = delay_ms
        self.fixed = False
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.arrived = []  # ids of each invocation as it arrives, before it is answered
        self.lock = threading.Lock()
        self.log = []  # dicts: time, ids, data, outcome, failed
        self.events = []
        fn = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                # One segment per answer: no delayed-ACK stall between headers and body.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                status, headers, out = fn._handle(body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self._headers_buffer.append(b"\r\n")
                self._headers_buffer.append(out)
                self.flush_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/invoke" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handle(self, body):
        now = time.time()
        doc = json.loads(body)
        records = doc["Records"] if isinstance(doc, dict) else doc
        ids, datas, failed = [], [], []
        for r in records:
            eid = r["eventID"]
            try:
                data = json.loads(base64.b64decode(r["kinesis"]["data"]))
            except ValueError:  # data that is not JSON (data_encoding resp or field)
                data = {}
            if not isinstance(data, dict):
                data = {}
            ids.append(eid)
            datas.append(data)
            if data.get("fail") == "true" and not self.fixed:
                failed.append(r["kinesis"]["sequenceNumber"])
        with self.lock:
            self.arrived.append(ids)
        self.gate.wait()
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000.0)
        with self.lock:
            rand_fail = self.fail_rate > 0 and self.rng.random() < self.fail_rate
            entry = {"time": now, "ids": ids, "data": datas, "failed": failed}
            self.events.extend(records)
            if rand_fail:
                entry["outcome"] = "error"
                self.log.append(entry)
                return 500, {}, b'{"errorMessage":"random failure"}'
            if failed and self.partial:
                entry["outcome"] = "partial"
                self.log.append(entry)
                out = {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
                return 200, {}, json.dumps(out).encode()
            if failed:
                entry["outcome"] = "error"
                self.log.append(entry)
                return 200, {"X-Amz-Function-Error": "Unhandled"}, \
                    b'{"errorMessage":"a record asked to fail","errorType":"Poison"}'
            entry["outcome"] = "ok"
            self.log.append(entry)
            return 200, {}, b"{}"

    def invocations(self):
        with self.lock:
            return list(self.log)

    def delivered(self):
        """eventIDs handled successfully, in order, duplicates included (Kinesis partial rule:
        records before the lowest failed one succeeded)."""
        out = []
        for inv in self.invocations():
            if inv["outcome"] == "ok":
                out.extend(inv["ids"])
            elif inv["outcome"] == "partial":
                seqs = [i.split(":", 1)[1] for i in inv["ids"]]
                low = min(seqs.index(f) for f in inv["failed"])
                out.extend(inv["ids"][:low])
        return out

    def delivered_keys(self, key="k"):
        out = []
        for inv in self.invocations():
            if inv["outcome"] == "ok":
                out.extend(d.get(key) for d in inv["data"])
            elif inv["outcome"] == "partial":
                seqs = [i.split(":", 1)[1] for i in inv["ids"]]
                low = min(seqs.index(f) for f in inv["failed"])
                out.extend(d.get(key) for d in inv["data"][:low])
        return out

    def release(self):
        """Answers the invocations held so far and every later one at once."""
        self.gate.set()

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()

    def problems(self):
        return None


def redis_source(port, streams, **kw):
    src = {"name": "orders", "type": "redis", "host": "127.0.0.1", "port": port,
           "streams": streams, "consumer": "c1", "starting_position": "earliest",
           "block": "200ms", "claim_idle": "2s", "metrics_interval": "500ms"}
    src.update(kw)
    return src


def redis_dlq(port, stream="sluice-dlq", **kw):
    d = {"name": "rdlq", "type": "redis", "host": "127.0.0.1", "port": port, "stream": stream}
    d.update(kw)
    return d


def dlq_stream_entries(client, stream="sluice-dlq"):
    """The DLQ entries (parsed docs) straight from the DLQ stream."""
    out = []
    for sid, kv in client.cmd("XRANGE", stream, "-", "+"):
        f = fields_of(kv)
        out.append(json.loads(f["doc"]))
    return out


class RedisTest(SluiceTest):
    """SluiceTest with redis servers and Kinesis functions that are stopped at tearDown."""

    def redis(self, aof=False):
        r = RedisServer(self.workdir, aof=aof)
        self._procs.append(r)
        return r.start()

    def kfn(self, **kw):
        f = KinesisFn(**kw)
        self._procs.append(f)
        return f

    def produce(self, client, stream, n, start=0, extra=None, pipeline=500):
        """XADDs n entries {"k": "<start+i>", ...}; returns their ids."""
        ids = []
        for base in range(0, n, pipeline):
            cmds = []
            for i in range(base, min(n, base + pipeline)):
                kv = ["k", str(start + i)]
                for k, v in ((extra(start + i) if extra else {}) or {}).items():
                    kv += [k, v]
                cmds.append(["XADD", stream, "*"] + kv)
            ids.extend(client.pipeline(cmds))
        return ids
