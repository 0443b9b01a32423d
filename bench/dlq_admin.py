#!/usr/bin/env python3
"""Admin reads against intake: webhook push latency (wrk, durable 202) while the admin API lists
a 10,000-entry DLQ over and over, against the same push latency with the admin API idle, in the
same run. DLQ reads run on a worker thread, so the loop that answers pushes never waits for
them; the target is a p99 within 2x of idle.

    python3 bench/dlq_admin.py --build build [--entries 10000] [--seconds 8]
"""
import argparse
import http.client
import os
import shutil
import sys
import tempfile
import threading
import time

import rows
import webhook

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import harness  # noqa: E402


def fill(push, n, threads=4):
    """n pushes over keep-alive connections."""
    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", push, timeout=60)
        for i in range(k, n, threads):
            c.request("POST", "/hooks/bench", body='{"n": %d}' % i,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status == 202, r.status
        c.close()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def dead_lettered(admin):
    c = http.client.HTTPConnection("127.0.0.1", admin, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    for line in text.splitlines():
        if line.startswith("sluice_records_dead_lettered_total{"):
            return float(line.rsplit(" ", 1)[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    harness.FN = os.path.join(build, "demo", "sluice-fn")
    post = os.path.join(HERE, "post.lua")
    workdir = tempfile.mkdtemp(prefix="sluice-bench-dlq-")
    procs = []
    try:
        fn = harness.Fn(workdir, script=[{"status": 500, "count": args.entries}])
        procs.append(fn.proc)
        cfg_dir = os.path.join(workdir, "s")
        os.makedirs(cfg_dir)
        sl, _, push, admin = webhook.start_sluice(build, cfg_dir, fn.url, 100)
        procs.append(sl)
        print("== filling the DLQ with %d entries" % args.entries)
        fill(push, args.entries)
        while dead_lettered(admin) < args.entries:
            time.sleep(0.05)
        # From here on the function succeeds: pushes are delivered, the DLQ stays as it is.
        url = "http://127.0.0.1:%d/hooks/bench" % push
        idle = webhook.wrk(url, args.seconds, args.connections, post)

        stop = threading.Event()
        listings = []

        def lister():
            while not stop.is_set():
                t0 = time.monotonic()
                c = http.client.HTTPConnection("127.0.0.1", admin, timeout=120)
                c.request("GET", "/v1/dlq?limit=10000")
                r = c.getresponse()
                body = r.read()
                c.close()
                assert r.status == 200, r.status
                listings.append((time.monotonic() - t0, body.count(b'"recordId"')))
        t = threading.Thread(target=lister)
        t.start()
        busy = webhook.wrk(url, args.seconds, args.connections, post)
        stop.set()
        t.join()
        n = len(listings)
        mean = sum(d for d, _ in listings) / n if n else 0
        print("  push idle:            %8.0f req/s  p50 %.3f ms  p99 %.3f ms"
              % (idle["rps"], idle["p50_ms"], idle["p99_ms"]))
        print("  push during listings: %8.0f req/s  p50 %.3f ms  p99 %.3f ms"
              % (busy["rps"], busy["p50_ms"], busy["p99_ms"]))
        print("  %d listings of %d entries meanwhile, %.0f ms each on average"
              % (n, listings[0][1] if n else 0, mean * 1000))
        rows.add("push p99 during 10k-entry DLQ listings", busy["p99_ms"], idle["p99_ms"],
                 "ms (lower is better)", "baseline: push p99 with the admin API idle; %d listings "
                 "of %.0f ms" % (n, mean * 1000))
        webhook.stop(sl)
    finally:
        for p in procs:
            webhook.stop(p)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
