#!/usr/bin/env python3
"""Webhook benchmark. Prints ratios against raw baselines measured in the same run.

1. Ingest: wrk POSTing to /hooks/bench (every 202 is after a durable group commit) versus wrk
   against bench_http_noop, a no-op server built on the same HTTP code: requests/s and latency
   percentiles, and their ratios.
2. Dispatch: records/s from a pre-filled spool to a local function (sluice-fn) at batch sizes
   1, 10 and 100, versus the rate the same function accepts records from a bare client
   (wrk POSTing the same-sized batches straight to it over one connection, as an ordered lane
   has one call in flight).
3. RSS of sluice at idle and under load.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import rows
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import harness  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wrk(url, seconds, conns, script=None, threads=2):
    args = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         check=True).stdout.decode()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(r"\s%s(?:\.000)?%%\s+([\d.]+)(us|ms|s)" % pct, out)
        v, unit = float(m.group(1)), m.group(2)
        lat[pct] = v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"],
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "raw": out}


def fdatasync_p50_ms(directory, n=200):
    """The disk's flush latency where the store lives, measured in the same run: a durable 202
    waits for one (a group commit with store.sync full), so it bounds the ingest rate at
    (writes per commit) / (flush time)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    took = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fdatasync(fd)
            took.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return sorted(took)[len(took) // 2]


def store_counts(admin_port):
    """The store's group commits and the writes they held, from /metrics."""
    c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=30)
    c.request("GET", "/metrics")
    got = harness.parse_metrics(c.getresponse().read().decode())
    c.close()
    return (got.get("sluice_store_commits_total", 0.0),
            got.get("sluice_store_writes_committed_total", 0.0))


def wait_port_line(proc, pattern):
    reader = harness.LineReader(proc.stdout)
    return reader, reader.wait_for(pattern, timeout=30)


def get_json(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return json.loads(body)


def start_sluice(build, workdir, fn_url, batch, enabled=True, name="bench"):
    cfg = harness.base_config(workdir, fn_url, mapping={
        "enabled": enabled, "batch": {"size": batch, "window": "10ms"},
        "max_inflight_records": 100000})
    cfg["log"] = {"level": "info"}
    cfg["sources"] = [{"name": "bench", "type": "http"}]
    cfg["mappings"][0]["source"] = "bench"
    cfg["store"]["spool_max_bytes"] = "4GiB"
    cfg["server"]["max_connections"] = 4096
    path = os.path.join(workdir, "%s.yaml" % name)
    with open(path, "w") as f:
        f.write(harness.to_yaml(cfg) + "\n")
    proc = subprocess.Popen([os.path.join(build, "cli", "sluice"), "run", "-c", path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    reader, m = wait_port_line(proc, r"push listener on .* \(port (\d+)\), admin API on .* \(port (\d+)\)")
    return proc, reader, int(m.group(1)), int(m.group(2))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--records", type=int, default=20000)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    harness.FN = os.path.join(build, "demo", "sluice-fn")
    post = os.path.join(HERE, "post.lua")
    workdir = tempfile.mkdtemp(prefix="sluice-bench-")
    procs = []
    try:
        print("== ingest: wrk -c%d -d%ds POST (durable group commit) vs a no-op server on the same HTTP code"
              % (args.connections, args.seconds))
        noop = subprocess.Popen([os.path.join(build, "bench", "bench_http_noop"), "--listen",
                                 "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(noop)
        _, m = wait_port_line(noop, r"port (\d+)")
        base = wrk("http://127.0.0.1:%s/" % m.group(1), args.seconds, args.connections, post)
        stop(noop)

        fn = harness.Fn(workdir)
        procs.append(fn.proc)
        sl, _, push, admin = start_sluice(build, workdir, fn.url, 100)
        procs.append(sl)
        time.sleep(0.5)  # settle before measuring idle memory (a measurement, not a test wait)
        rss_idle = rss_kib(sl.pid)
        commits0, writes0 = store_counts(admin)
        ing = wrk("http://127.0.0.1:%d/hooks/bench" % push, args.seconds, args.connections, post)
        rss_load = rss_kib(sl.pid)
        commits1, writes1 = store_counts(admin)
        stop(sl)
        fn.stop()
        flush_ms = fdatasync_p50_ms(workdir)
        per_commit = (writes1 - writes0) / max(1.0, commits1 - commits0)
        print("  baseline (no-op):  %9.0f req/s  p50 %.3f ms  p99 %.3f ms" % (base["rps"], base["p50_ms"], base["p99_ms"]))
        print("  sluice webhook:    %9.0f req/s  p50 %.3f ms  p99 %.3f ms  (non-2xx: %d)"
              % (ing["rps"], ing["p50_ms"], ing["p99_ms"], ing["non2xx"]))
        print("  ratio: throughput %.3f, p50 latency x%.1f, p99 latency x%.1f"
              % (ing["rps"] / base["rps"], ing["p50_ms"] / base["p50_ms"], ing["p99_ms"] / base["p99_ms"]))
        print("  RSS: idle %d KiB, under ingest load %d KiB" % (rss_idle, rss_load))
        print("  store: %.1f writes per group commit (spool inserts, and the deletes of the records"
              " the function took); disk fdatasync p50 %.2f ms" % (per_commit, flush_ms))
        rows.add("webhook ingest, durable 202 (wrk -c%d)" % args.connections, ing["rps"],
                 base["rps"], "req/s", "baseline: wrk against a no-op server")
        rows.add("webhook ingest p99", ing["p99_ms"], base["p99_ms"], "ms (lower is better)")
        rows.add("webhook RSS idle / under load", rss_load / 1024.0, None, "MiB",
                 "idle %.1f MiB" % (rss_idle / 1024.0))
        rows.add("webhook ingest: store writes per group commit", per_commit, None, "writes",
                 "disk fdatasync p50 %.2f ms in the same run" % flush_ms)

        print("== dispatch: %d records from a pre-filled spool to sluice-fn" % args.records)
        for batch in (1, 10, 100):
            d = tempfile.mkdtemp(dir=workdir)
            fn = harness.Fn(d)
            procs.append(fn.proc)
            sl, _, push, admin = start_sluice(build, d, fn.url, batch, enabled=False)
            procs.append(sl)
            c = http.client.HTTPConnection("127.0.0.1", push, timeout=30)
            for i in range(args.records):
                c.request("POST", "/hooks/bench", body='{"n": %d}' % i,
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                assert r.status == 202, r.status
            c.close()
            stop(sl)
            sl, _, push, admin = start_sluice(build, d, fn.url, batch, enabled=True)
            procs.append(sl)
            t0 = time.monotonic()
            peak = 0
            while get_json(fn.port, "/stats")["records"] < args.records:
                peak = max(peak, rss_kib(sl.pid))
                time.sleep(0.01)
            dt = time.monotonic() - t0
            stats = get_json(fn.port, "/stats")
            # Baseline: the same function fed by wrk alone with the same event sluice sends (the
            # webhook shape of docs/EVENTS.md, the headers the pushes above kept), at the same
            # batch size and the same concurrency as an ordered lane (one call in flight).
            body = json.dumps({"Records": [{
                "eventSource": "sluice:http", "eventVersion": "1.0", "hook": "bench",
                "id": "0b7f5c1e-3c55-4b8e-9d0e-%012d" % i, "receivedAt": "2026-11-30T04:00:00.000Z",
                "method": "POST", "path": "/hooks/bench", "query": "",
                "headers": {"content-type": "application/json"}, "body": '{"n": %d}' % i,
                "isBase64Encoded": False} for i in range(batch)]}, separators=(",", ":"))
            lua = os.path.join(d, "batch.lua")
            with open(lua, "w") as f:
                f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
                        % json.dumps(body))
            raw = wrk(fn.url, 5, 1, lua, threads=1)
            stop(sl)
            fn.stop()
            rate = args.records / dt
            raw_rate = raw["rps"] * batch
            print("  batch %3d: %8.0f records/s (%d invocations, peak RSS %d KiB); bare client to the same function %8.0f records/s; ratio %.3f"
                  % (batch, rate, stats["invocations"], peak, raw_rate, rate / raw_rate))
            rows.add("webhook dispatch from the spool, batch %d" % batch, rate, raw_rate, "rec/s",
                     "baseline: wrk posting the same event, same batch size, to the function")
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
