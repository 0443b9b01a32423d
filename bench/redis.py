#!/usr/bin/env python3
"""Redis Streams source benchmark (issue 3). Prints figures and ratios measured in one run.

1. Throughput: records/s from a pre-filled stream through sluice to a local function at batch
   sizes 10 and 100, each with a fresh consumer group reading the same stream from its start,
   until the group has read and acked every entry, versus bench_redis_baseline: a bare hiredis
   consumer on the same stream, in the same run, in its pipelined form: XREADGROUP COUNT n (the
   same COUNT), then the XACK of the ids it returned sent together with the next XREADGROUP
   (one write, one round trip per batch), calling no function. The function is
   bench_http_noop (as in bench/kafka.py), which answers {} without reading the payload, so the
   figure is sluice's own. With `--function sluice-fn` it is sluice-fn, which parses every
   payload as JSON: with one stream one batch is at the function at a time, and sluice-fn's
   single thread then bounds the figure (at batch 100 it spends several times sluice's CPU).
2. Latency: p50/p99 from XADD to the function receiving the record, batch window 0s, entries
   added one at a time at a steady rate; the XADD time travels in the entry (field "t") and the
   receiving function subtracts it from its clock as the request's first bytes arrive
   (ArrivalFn below). The same is measured for bench_redis_baseline --latency (a bare blocking
   XREADGROUP loop that posts each reply's XADD times to the same function): the floor sluice
   is compared with. Once more through tests/lib/redis_fixture.KinesisFn, as issue 3 measured
   (it includes Python's http.server parsing the request).

usage: bench/redis.py [--build DIR] [--records N] [--latency-records N] [--rate R]
                      [--function noop|sluice-fn]
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import rows

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import harness  # noqa: E402
import redis_fixture  # noqa: E402


class ArrivalFn:
    """The latency runs' function: notes the clock when the first bytes of each request arrive,
    before anything is parsed, then reads the request and answers 200 "{}" (one thread, one
    selector, keep-alive). tests/lib/redis_fixture.KinesisFn stamps a request only after
    Python's http.server has parsed its headers on a thread of its own, which added its own
    tenths of a millisecond (and its scheduling on a busy machine) to every figure; here the
    receiving side costs about one wake-up. Bodies are decoded after the run.
    A body is either a Kinesis event (sluice; the XADD time is field "t" of each record's data)
    or "T:" and the XADD times separated by commas (bench_redis_baseline --latency)."""

    def __init__(self):
        import selectors
        import socket
        import threading
        self.sel = selectors.DefaultSelector()
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.url = "http://127.0.0.1:%d/invoke" % self.port
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.reqs = []  # (arrival time, body)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import selectors
        import socket
        conns = {}
        while not self.stopping:
            for key, _ in self.sel.select(timeout=0.1):
                if key.data is None:
                    c, _ = self.lsock.accept()
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    c.setblocking(False)
                    conns[c] = [b"", None]
                    self.sel.register(c, selectors.EVENT_READ, True)
                    continue
                c = key.fileobj
                now = time.time()
                try:
                    data = c.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    self.sel.unregister(c)
                    c.close()
                    del conns[c]
                    continue
                st = conns[c]
                if not st[0]:
                    st[1] = now  # the first bytes of a request
                st[0] += data
                while True:
                    head, sep, rest = st[0].partition(b"\r\n\r\n")
                    if not sep:
                        break
                    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    n = int(m.group(1)) if m else 0
                    if len(rest) < n:
                        break
                    self.reqs.append((st[1], rest[:n]))
                    st[0] = rest[n:]
                    st[1] = now
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 2\r\n\r\n{}")

    def latencies(self, kind):
        """Milliseconds from XADD to arrival of every timed entry sent by `kind`."""
        import base64
        import json
        out = []
        for t, body in list(self.reqs):
            if body.startswith(b"T:"):
                if kind == "bare":
                    out += [(t - float(x)) * 1000.0 for x in body[2:].split(b",")
                            if x and x != b"0"]
            elif kind == "sluice":
                for r in json.loads(body)["Records"]:
                    d = json.loads(base64.b64decode(r["kinesis"]["data"]))
                    if d.get("t", "0") != "0":
                        out.append((t - float(d["t"])) * 1000.0)
        return out

    def stop(self):
        self.stopping = True
        self.thread.join()
        self.lsock.close()


def group_done(client, stream, group, n):
    """The group read all n entries and acked them: sluice is done with every one. (Asked of
    Redis, which costs the 2-core machine the benchmark runs on next to nothing; reading the
    function's log every poll cost it more CPU than sluice.)"""
    for g in client.cmd("XINFO", "GROUPS", stream):
        d = dict(zip(g[0::2], g[1::2]))
        if d["name"] == group:
            return d.get("entries-read") == n and d["pending"] == 0
    return False


def thread_cpu(pid):
    """CPU seconds (utime + stime, /proc/PID/task/TID/stat) of each thread of pid, by
    "name/tid". The loop thread's share per record does not depend on what else the machine
    runs (the throughput ratio does): the figure to compare before and after a change."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
            # comm may hold spaces: the fields after it start past its closing parenthesis.
            name = st[st.index("(") + 1:st.rindex(")")]
            fields = st[st.rindex(")") + 2:].split()
            out["%s/%s" % (name, tid)] = (int(fields[11]) + int(fields[12])) / tick
            # Runnable but waiting for a core (schedstat, ns): how busy the machine was.
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                out["wait:%s/%s" % (name, tid)] = int(f.read().split()[1]) / 1e9
    except OSError:
        pass
    return out


def cpu_line(pid, cpu0, cpu1, n):
    """The loop thread's (the main thread's: tid == pid) CPU microseconds per record, and every
    thread that used a noticeable share (wait: the time it was runnable but had no core)."""
    loop = "/%d" % pid
    parts = []
    per_rec = None
    for k in sorted(cpu1):
        d = cpu1[k] - cpu0.get(k, 0.0)
        if k.endswith(loop) and not k.startswith("wait:"):
            per_rec = d / n * 1e6
        if d >= 0.05:
            parts.append("%s %.2fs" % (k, d))
    return per_rec, ", ".join(parts)


def pcts(lat):
    """p50, p99, max and the count of a list of latencies."""
    lat = sorted(lat)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    return p(0.5), p(0.99), lat[-1], len(lat)


def latency_run(c, streams, a, arrived, latencies):
    """Adds a warm-up entry to each stream and waits for them (arrived() counts requests),
    then adds a.latency_records entries to each stream at a.rate, the streams taking turns
    (the consumers compared see the same machine at the same time), each entry with its XADD
    time in field "t"; returns pcts() of each stream's latencies (latencies(i)) once every
    entry arrived."""
    for st in streams:
        c.cmd("XADD", st, "*", "t", "0", "warm", "1")
    harness.wait_until(lambda: arrived() >= len(streams), what="warm-up delivered")
    gap = 1.0 / a.rate / len(streams)
    nxt = time.monotonic()
    for i in range(a.latency_records):
        for st in streams:
            c.cmd("XADD", st, "*", "t", "%.6f" % time.time(), "i", str(i))
            nxt += gap
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
    out = []
    for k in range(len(streams)):
        harness.wait_until(lambda: len(latencies(k)) >= a.latency_records, timeout=120,
                           what="latency records delivered on " + streams[k])
        out.append(pcts(latencies(k)))
    return out


def start_sluice(build, workdir, name, config):
    path = os.path.join(workdir, name + ".yaml")
    with open(path, "w") as f:
        f.write(harness.to_yaml(config) + "\n")
    proc = subprocess.Popen([os.path.join(build, "cli", "sluice"), "run", "-c", path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    reader = harness.LineReader(proc.stdout)
    reader.wait_for(r"running with \d+ mappings", timeout=30)
    return proc, reader


def stop(proc):
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def config(workdir, name, fn_url, port, group, batch, stream="bench"):
    return {
        "log": {"level": "info"},
        "server": {"listen": "127.0.0.1:0"},
        "admin": {"listen": "127.0.0.1:0"},
        "store": {"dir": os.path.join(workdir, name)},
        "functions": [{"name": "fn", "type": "http", "url": fn_url, "timeout": "30s"}],
        "sources": [{"name": "src", "type": "redis", "host": "127.0.0.1", "port": port,
                     "streams": [stream], "group": group, "consumer": "bench",
                     "starting_position": "earliest", "block": "100ms"}],
        "mappings": [{"name": "m", "source": "src", "function": "fn",
                      "batch": {"size": batch, "window": "0s"}}],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--latency-records", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--function", choices=("noop", "sluice-fn"), default="noop",
                    help="the function of the throughput runs (see above)")
    ap.add_argument("--perf", action="store_true",
                    help="record a perf profile of sluice in each throughput run")
    ap.add_argument("--batches", default="10,100", help="batch sizes of the throughput runs")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    workdir = tempfile.mkdtemp(prefix="sluice-bench-redis-")
    r = redis_fixture.RedisServer(workdir).start()
    procs = []
    try:
        c = r.client()
        n = a.records
        body = "x" * 100
        for base in range(0, n, 1000):
            c.pipeline([["XADD", "bench", "*", "k", str(i), "body", body]
                        for i in range(base, min(n, base + 1000))])
        print("stream: %d entries of ~110 bytes (redis-server %d on 127.0.0.1)" % (n, r.port))

        for batch in [int(x) for x in a.batches.split(",") if x]:
            out = subprocess.run([os.path.join(build, "bench", "bench_redis_baseline"),
                                  "127.0.0.1", str(r.port), "bench", "base%d" % batch,
                                  str(batch)], stdout=subprocess.PIPE, check=True).stdout.decode()
            base_rate = float(re.search(r"rate=([\d.]+)", out).group(1))

            if a.function == "noop":
                cmd = [os.path.join(build, "bench", "bench_http_noop"), "--listen", "127.0.0.1:0"]
            else:
                cmd = [os.path.join(build, "demo", "sluice-fn"), "--listen", "127.0.0.1:0",
                       "--quiet"]
            fn = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            procs.append(fn)
            port = int(harness.LineReader(fn.stdout).wait_for(r"listening on port (\d+)",
                                                               timeout=30).group(1))
            # Timed from sluice's ready line, as the baseline is timed from its connection:
            # both include creating the group and the first read, neither a process start.
            s, _ = start_sluice(build, workdir, "s%d" % batch,
                                config(workdir, "s%d" % batch,
                                       "http://127.0.0.1:%d/invoke" % port, r.port,
                                       "sluice%d" % batch, batch))
            t0 = time.monotonic()
            cpu0 = thread_cpu(s.pid)
            procs.append(s)
            perf = None
            if a.perf:
                perf_out = os.path.join(build, "perf-redis-b%d.data" % batch)
                perf = subprocess.Popen(["perf", "record", "--call-graph", "dwarf,16384", "-F",
                                         "3999", "-o", perf_out, "-p", str(s.pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            harness.wait_until(lambda: group_done(c, "bench", "sluice%d" % batch, n), timeout=600,
                               interval=0.05, what="all records delivered and acked")
            secs = time.monotonic() - t0
            cpu1 = thread_cpu(s.pid)
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait()
                print("perf profile of sluice at batch %d: perf report -i %s --no-children"
                      % (batch, perf_out))
            rate = n / secs
            print("batch %3d: sluice (function %s) %8.0f records/s, bare pipelined "
                  "XREADGROUP+XACK %8.0f records/s, ratio %.2f (timed from sluice's ready "
                  "line)" % (batch, a.function, rate, base_rate, rate / base_rate))
            per_rec, threads = cpu_line(s.pid, cpu0, cpu1, n)
            print("batch %3d: sluice loop thread CPU %.2f us/record (utime+stime of "
                  "/proc/PID/task/PID/stat; threads: %s)" % (batch, per_rec or 0.0, threads))
            rows.add("Redis Streams, batch %d" % batch, rate, base_rate, "rec/s",
                     "baseline: bare pipelined XREADGROUP + XACK loop; function: %s (timed from "
                     "sluice's ready line)" % a.function)
            stop(s)
            stop(fn)

        # Latency: one entry at a time, the XADD time in the entry. The bare consumer (the
        # floor: Redis, the XADD client, one HTTP request) and sluice run side by side on their
        # own streams, both posting to one ArrivalFn; then sluice alone posting to KinesisFn
        # (the figure issue 3 reported, which includes Python's http.server).
        fn = ArrivalFn()
        bare = subprocess.Popen([os.path.join(build, "bench", "bench_redis_baseline"),
                                 "--latency", "127.0.0.1", str(r.port), "latb", "bare",
                                 str(fn.port), str(a.latency_records + 1)],
                                stdout=subprocess.PIPE)
        procs.append(bare)

        def has_group():
            try:
                return any(dict(zip(g[0::2], g[1::2]))["name"] == "bare"
                           for g in c.cmd("XINFO", "GROUPS", "latb"))
            except Exception:  # no such key until the group is made
                return False
        harness.wait_until(has_group, what="the bare consumer's group")
        s, _ = start_sluice(build, workdir, "lat",
                            config(workdir, "lat", fn.url, r.port, "lat", 100, stream="lat"))
        procs.append(s)
        results = {}
        results["bare"], results["sluice"] = latency_run(
            c, ["latb", "lat"], a, lambda: len(fn.reqs),
            lambda k: fn.latencies(("bare", "sluice")[k]))
        bare.wait(30)
        stop(s)
        fn.stop()
        kf = redis_fixture.KinesisFn()
        s, _ = start_sluice(build, workdir, "latk",
                            config(workdir, "latk", kf.url, r.port, "latk", 100, stream="latk"))
        procs.append(s)

        def kf_lat():
            out = []
            for inv in kf.invocations():
                out += [(inv["time"] - float(d["t"])) * 1000.0 for d in inv["data"]
                        if d.get("t", "0") != "0"]
            return out
        results["kinesisfn"] = latency_run(c, ["latk"], a, lambda: len(kf.events),
                                           lambda k: kf_lat())[0]
        stop(s)
        kf.stop()
        what = {"bare": "bare XREADGROUP loop -> ArrivalFn",
                "sluice": "sluice -> ArrivalFn",
                "kinesisfn": "sluice -> KinesisFn (Python http.server)"}
        for k in ("bare", "sluice", "kinesisfn"):
            p50, p99, mx, ns = results[k]
            print("latency XADD -> function, %s (batch window 0s, %.0f entries/s, %d samples): "
                  "p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (what[k], a.rate, ns, p50, p99, mx))
        p50, p99, _, _ = results["sluice"]
        b50, b99, _, _ = results["bare"]
        print("latency added by sluice over the bare loop: p50 %.2f ms, p99 %.2f ms"
              % (p50 - b50, p99 - b99))
        rows.add("Redis XADD -> function p99", p99, b99, "ms",
                 "p50 %.2f ms (bare loop %.2f ms), %d entries/s, function: ArrivalFn (stamps a "
                 "request's first bytes); via KinesisFn p99 %.2f ms"
                 % (p50, b50, a.rate, results["kinesisfn"][1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        r.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
