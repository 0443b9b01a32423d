#!/usr/bin/env python3
"""PostgreSQL queue source benchmark. Prints figures and ratios measured in one run.

1. Throughput: rows/s from a pre-filled queue table (the one `sluice init` creates, ~110-byte
   payloads) through sluice to a local no-op function (bench_http_noop, which answers {}
   without reading the payload, so the figure is sluice's own) at batch sizes 10 and 100, timed
   from sluice's ready line until it has deleted every row; versus bench_pg_queue_baseline on
   the same table refilled, in the same run: one libpq connection running the same claim
   statement (FOR UPDATE SKIP LOCKED, LIMIT = the batch size) and one DELETE ... = ANY per batch
   until the table is empty, calling no function. The baseline runs in two forms: `seq` (each
   statement waited for) and `pipe` (the delete sent with the next claim: one round trip per
   batch); the ratio is against the faster.
2. Latency: p50/p99 from an INSERT's COMMIT (the statement returned, autocommit) to the function
   receiving the row, rows inserted one at a time at a steady rate, batch window 0, polling
   every 10 s: the NOTIFY of the insert trigger is what wakes sluice.

usage: bench/pg_queue.py [--build DIR] [--records N] [--latency-records N] [--rate R]
Needs psycopg2 (Debian's python3-psycopg2: run it with /usr/bin/python3).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import rows

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
import pg_fixture  # noqa: E402
import test_pg_queue  # noqa: E402  (SqsFn)


def start_sluice(build, workdir, name, config):
    path = os.path.join(workdir, name + ".yaml")
    with open(path, "w") as f:
        f.write(harness.to_yaml(config) + "\n")
    proc = subprocess.Popen([os.path.join(build, "cli", "sluice"), "run", "-c", path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    reader = harness.LineReader(proc.stdout)
    m = reader.wait_for(r"admin API on .* \(port (\d+)\)", timeout=30)
    reader.wait_for(r"running with \d+ mappings", timeout=30)
    return proc, reader, int(m.group(1))


def stop(proc):
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def config(workdir, name, fn_url, pg, batch, extra_source=None):
    src = {"name": "src", "type": "postgres-queue", "conninfo": pg.dsn(), "table": "jobs"}
    src.update(extra_source or {})
    return {
        "log": {"level": "info"},
        "server": {"listen": "127.0.0.1:0"},
        "admin": {"listen": "127.0.0.1:0"},
        "store": {"dir": os.path.join(workdir, name)},
        "functions": [{"name": "fn", "type": "http", "url": fn_url, "timeout": "30s"}],
        "sources": [src],
        "mappings": [{"name": "m", "source": "src", "function": "fn",
                      "batch": {"size": batch, "window": "0s"}}],
    }


def fill(pg, n):
    """The table emptied and refilled with n rows, vacuumed: each run starts alike."""
    c = pg.connect()
    with c.cursor() as cur:
        cur.execute("TRUNCATE jobs RESTART IDENTITY")
        cur.execute("INSERT INTO jobs (payload) SELECT '{\"k\":' || g || ',\"body\":\"' || "
                    "repeat('x', 100) || '\"}' FROM generate_series(1, %s) g", (n,))
        cur.execute("VACUUM ANALYZE jobs")
    c.close()


def acked(port):
    status, _, body = harness.http_request(port, "GET", "/metrics")
    m = re.search(rb'sluice_pgqueue_acked_total\{source="src"\} (\d+)', body)
    return int(m.group(1)) if m else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--latency-records", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=200.0)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    workdir = tempfile.mkdtemp(prefix="sluice-bench-pg-")
    pg = pg_fixture.PgServer().start()
    procs = []
    try:
        probe = config(workdir, "init", "http://127.0.0.1:1/", pg, 10)
        path = os.path.join(workdir, "init.yaml")
        with open(path, "w") as f:
            f.write(harness.to_yaml(probe) + "\n")
        subprocess.run([os.path.join(build, "cli", "sluice"), "init", "-c", path], check=True,
                       stdout=subprocess.DEVNULL)
        n = a.records
        print("table: %d rows of ~115 bytes (PostgreSQL 15 on 127.0.0.1:%d, fsync off)"
              % (n, pg.port))
        for batch in (10, 100):
            base = {}
            for mode in ("seq", "pipe"):
                fill(pg, n)
                out = subprocess.run([os.path.join(build, "bench", "bench_pg_queue_baseline"),
                                      pg.dsn(), "jobs", str(batch), mode],
                                     stdout=subprocess.PIPE, check=True).stdout.decode()
                base[mode] = float(re.search(r"rate=([\d.]+)", out).group(1))
            base_rate = max(base.values())
            fill(pg, n)
            fn = subprocess.Popen([os.path.join(build, "bench", "bench_http_noop"),
                                   "--listen", "127.0.0.1:0"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            procs.append(fn)
            port = int(harness.LineReader(fn.stdout).wait_for(r"listening on port (\d+)",
                                                               timeout=30).group(1))
            s, _, admin = start_sluice(build, workdir, "s%d" % batch,
                                       config(workdir, "s%d" % batch,
                                              "http://127.0.0.1:%d/invoke" % port, pg, batch))
            t0 = time.monotonic()
            procs.append(s)
            harness.wait_until(lambda: acked(admin) >= n, timeout=600, interval=0.05,
                               what="all rows delivered and deleted")
            secs = time.monotonic() - t0
            rate = n / secs
            print("batch %3d: sluice %8.0f rows/s; bare claim+delete loop %8.0f rows/s "
                  "(sequential %.0f, pipelined %.0f); ratio %.2f" % (
                      batch, rate, base_rate, base["seq"], base["pipe"], rate / base_rate))
            rows.add("PostgreSQL queue, batch %d" % batch, rate, base_rate, "rows/s",
                     "baseline: bare libpq SKIP LOCKED claim + DELETE loop, the faster of "
                     "sequential (%.0f) and pipelined (%.0f); function: noop (timed from "
                     "sluice's ready line)" % (base["seq"], base["pipe"]))
            stop(s)
            stop(fn)

        # Latency: one row per INSERT, the COMMIT's return time kept per id.
        pg.query("TRUNCATE jobs RESTART IDENTITY")
        fn = test_pg_queue.SqsFn()
        s, reader, _ = start_sluice(build, workdir, "lat",
                                    config(workdir, "lat", fn.url, pg, 10,
                                           {"poll_interval": "10s"}))
        procs.append(s)
        reader.wait_for("connected to", timeout=30)
        c = pg.connect()
        cur = c.cursor()
        cur.execute("INSERT INTO jobs (payload) VALUES ('warm-up')")
        harness.wait_until(lambda: fn.events, what="warm-up delivered")
        committed = {}
        gap = 1.0 / a.rate
        nxt = time.monotonic()
        for i in range(a.latency_records):
            cur.execute("INSERT INTO jobs (payload) VALUES (%s) RETURNING id", (str(i),))
            rid = cur.fetchone()[0]
            committed[str(rid)] = time.time()
            nxt += gap
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
        c.close()
        harness.wait_until(lambda: len(fn.events) >= a.latency_records + 1, timeout=120,
                           what="latency rows delivered")
        lat = []
        for inv in fn.invocations():
            for rid in inv["ids"]:
                if rid in committed:
                    lat.append((inv["time"] - committed[rid]) * 1000.0)
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        print("latency INSERT COMMIT -> function (NOTIFY wake-up, window 0s, %.0f rows/s, %d "
              "samples): p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (a.rate, len(lat), p(0.5),
                                                                   p(0.99), lat[-1]))
        rows.add("PostgreSQL INSERT -> function p99", p(0.99), None, "ms",
                 "p50 %.2f ms, %d rows/s, NOTIFY wake-up" % (p(0.5), a.rate))
        stop(s)
        fn.stop()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pg.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
