#!/usr/bin/env python3
"""PostgreSQL change-stream (postgres-cdc) benchmark. Prints figures and ratios measured in one
run.

1. Throughput: row changes/s from a logical replication slot through sluice to a local no-op
   function (bench_http_noop, which answers {} without reading the payload), at batch sizes 100
   and 1000, versus `pg_recvlogical` (PostgreSQL's own client) draining the same changes with
   pgoutput from a slot of its own into /dev/null, in the same run. Both slots are created
   before the changes are written, so both read the same WAL: N inserts in transactions of
   `--txn` rows. pg_recvlogical is timed from its start to its exit at --endpos (the end of the
   last transaction); sluice from its "streaming from slot" line until the slot's
   confirmed_flush_lsn reaches that position (everything delivered and confirmed).
2. Latency: p50/p99 from the INSERT (one autocommit transaction per row, at a steady rate) to
   the function receiving the change; the client's clock before the INSERT travels in the row
   (column t) and the receiving function (tests/lib/pgcdc_fixture.DdbFn) subtracts it from its
   own clock. Baseline: pg_recvlogical (test_decoding, whose text carries t) reading the same
   kind of rows into a pipe, in the same run.

usage: bench/pg_cdc.py [--build DIR] [--rows N] [--txn K] [--latency-rows N] [--rate R]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import rows

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import harness  # noqa: E402
import pg_fixture  # noqa: E402
import pgcdc_fixture  # noqa: E402

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def lsn_int(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def confirmed(pg, slot):
    v = pg.scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE "
                  "slot_name = %s", (slot,))
    return lsn_int(v) if v else 0


def recvlogical_latency(pg, n, rate):
    """Latency baseline: the same rows (one INSERT per transaction, the client's clock in
    column t) read by pg_recvlogical with test_decoding (its text output carries t) into a
    pipe; the time a line arrives minus t. What PostgreSQL's own client sees, on the same
    server in the same run."""
    pg.query("SELECT pg_create_logical_replication_slot('lat_base', 'test_decoding')")
    proc = subprocess.Popen([os.path.join(PG_BIN, "pg_recvlogical"), "-h", "127.0.0.1", "-p",
                             str(pg.port), "-U", "postgres", "-d", "postgres", "--slot",
                             "lat_base", "--start", "-f", "-", "-F", "0", "--no-loop"],
                            stdout=subprocess.PIPE)
    got = []

    def read():
        for line in proc.stdout:
            if b"INSERT" in line:
                got.append((time.time(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        return _recvlogical_latency(pg, n, rate, got)
    finally:
        proc.kill()
        proc.wait()
        pg.query("SELECT pg_drop_replication_slot('lat_base')")


def _recvlogical_latency(pg, n, rate, got):
    c = pg.connect()
    cur = c.cursor()
    cur.execute("INSERT INTO bench VALUES (-2, 'warm', 0)")
    harness.wait_until(lambda: got, what="pg_recvlogical warm-up")
    gap = 1.0 / rate
    nxt = time.monotonic()
    for i in range(n):
        cur.execute("INSERT INTO bench VALUES (%s, 'l', %s)", (-1000 - i, time.time()))
        nxt += gap
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
    harness.wait_until(lambda: len(got) >= n + 1, timeout=120, what="pg_recvlogical lines")
    c.close()
    lat = []
    for t_recv, line in got:
        m = re.search(rb"t\[double precision\]:([0-9.e+-]+)", line)
        if m and float(m.group(1)) > 0:
            lat.append((t_recv - float(m.group(1))) * 1000.0)
    lat.sort()
    return lat


def start_sluice(build, workdir, name, config):
    path = os.path.join(workdir, name + ".yaml")
    with open(path, "w") as f:
        f.write(harness.to_yaml(config) + "\n")
    proc = subprocess.Popen([os.path.join(build, "cli", "sluice"), "run", "-c", path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    reader = harness.LineReader(proc.stdout)
    return proc, reader


def stop(proc):
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def config(workdir, name, fn_url, pg, slot, batch):
    return {
        "log": {"level": "info"},
        "server": {"listen": "127.0.0.1:0"},
        "admin": {"listen": "127.0.0.1:0"},
        "store": {"dir": os.path.join(workdir, name)},
        "functions": [{"name": "fn", "type": "http", "url": fn_url, "timeout": "30s"}],
        "sources": [{"name": "src", "type": "postgres-cdc",
                     "conninfo": "host=127.0.0.1 port=%d user=postgres dbname=postgres" % pg.port,
                     "publication": "bench_pub", "slot": slot, "create": False}],
        "mappings": [{"name": "m", "source": "src", "function": "fn",
                      "batch": {"size": batch, "window": "0s"},
                      "max_inflight_records": max(10000, batch * 4)}],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--txn", type=int, default=100, help="rows per transaction")
    ap.add_argument("--latency-rows", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=200.0)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    workdir = tempfile.mkdtemp(prefix="sluice-bench-pgcdc-")
    pg = pg_fixture.PgServer().start()
    procs = []
    try:
        pg.query("CREATE TABLE bench (id int PRIMARY KEY, note text, t float8)")
        pg.query("CREATE PUBLICATION bench_pub FOR TABLE bench")
        batches = (100, 1000)
        slots = ["base"] + ["sluice%d" % b for b in batches]
        for s in slots:
            pg.query("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (s,))
        n, k = a.rows, a.txn
        c = pg.connect()
        cur = c.cursor()
        for base in range(0, n, k):
            cur.execute("INSERT INTO bench SELECT g, repeat('x', 100), 0 FROM "
                        "generate_series(%s, %s) g", (base, min(n, base + k) - 1))
        end = lsn_int(pg.scalar("SELECT pg_current_wal_lsn()::text"))
        c.close()
        print("wrote %d rows of ~110 bytes in transactions of %d (PostgreSQL 15 on 127.0.0.1:%d)"
              % (n, k, pg.port))

        # pg_recvlogical: pgoutput, the same publication, to /dev/null, until --endpos.
        endpos = "%X/%X" % (end >> 32, end & 0xFFFFFFFF)
        t0 = time.monotonic()
        subprocess.run([os.path.join(PG_BIN, "pg_recvlogical"), "-h", "127.0.0.1", "-p",
                        str(pg.port), "-U", "postgres", "-d", "postgres", "--slot", "base",
                        "--start", "--endpos", endpos, "-o", "proto_version=1", "-o",
                        "publication_names=bench_pub", "-f", "/dev/null", "--no-loop"],
                       check=True)
        base_secs = time.monotonic() - t0
        base_rate = n / base_secs
        print("pg_recvlogical: %d changes in %.2f s, %.0f changes/s" % (n, base_secs, base_rate))

        for batch in batches:
            fn = subprocess.Popen([os.path.join(build, "bench", "bench_http_noop"), "--listen",
                                   "127.0.0.1:0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
            procs.append(fn)
            port = int(harness.LineReader(fn.stdout).wait_for(r"listening on port (\d+)",
                                                               timeout=30).group(1))
            slot = "sluice%d" % batch
            s, reader = start_sluice(build, workdir, slot,
                                     config(workdir, slot, "http://127.0.0.1:%d/invoke" % port,
                                            pg, slot, batch))
            procs.append(s)
            reader.wait_for(r"streaming from slot", timeout=60)
            t0 = time.monotonic()
            harness.wait_until(lambda: confirmed(pg, slot) >= end, timeout=600, interval=0.02,
                               what="every change delivered and confirmed")
            secs = time.monotonic() - t0
            rate = n / secs
            print("batch %4d: sluice %8.0f changes/s, pg_recvlogical %8.0f changes/s, ratio %.2f"
                  % (batch, rate, base_rate, rate / base_rate))
            rows.add("PostgreSQL CDC, batch %d" % batch, rate, base_rate, "changes/s",
                     "baseline: pg_recvlogical (pgoutput, to /dev/null); %d-row transactions; "
                     "function: noop; timed until confirmed" % k)
            stop(s)
            stop(fn)
        pg.query("SELECT pg_drop_replication_slot(s) FROM unnest(%s::text[]) s", (slots,))

        # Latency: one row per transaction at a steady rate; pg_recvlogical first.
        base_lat = recvlogical_latency(pg, a.latency_rows, a.rate)
        bp = lambda q: base_lat[min(len(base_lat) - 1, int(q * len(base_lat)))]  # noqa: E731
        print("latency INSERT (autocommit) -> pg_recvlogical (test_decoding, %d samples): "
              "p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (len(base_lat), bp(0.5), bp(0.99),
                                                         base_lat[-1]))
        fn = pgcdc_fixture.DdbFn()
        lat_cfg = config(workdir, "lat", fn.url, pg, "lat", 100)
        lat_cfg["sources"][0]["create"] = True
        s, reader = start_sluice(build, workdir, "lat", lat_cfg)
        procs.append(s)
        reader.wait_for(r"streaming from slot", timeout=60)
        c = pg.connect()
        cur = c.cursor()
        cur.execute("INSERT INTO bench VALUES (-1, 'warm', 0)")
        harness.wait_until(lambda: fn.delivered(), what="warm-up delivered")
        gap = 1.0 / a.rate
        nxt = time.monotonic()
        for i in range(a.latency_rows):
            cur.execute("INSERT INTO bench VALUES (%s, 'l', %s)", (n + i, time.time()))
            nxt += gap
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
        harness.wait_until(lambda: len(fn.delivered()) >= a.latency_rows + 1, timeout=120,
                           what="latency rows delivered")
        lat = []
        for inv in fn.invocations():
            for r in inv["records"]:
                t = float(r["dynamodb"]["NewImage"]["t"]["N"])
                if t > 0 and inv["time"] > 0:
                    lat.append((inv["time"] - t) * 1000.0)
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
        print("latency INSERT (autocommit) -> function (batch window 0s, %.0f rows/s, %d "
              "samples): p50 %.2f ms, p99 %.2f ms, max %.2f ms"
              % (a.rate, len(lat), p(0.5), p(0.99), lat[-1]))
        rows.add("PostgreSQL COMMIT -> function p99", p(0.99), bp(0.99), "ms",
                 "p50 %.2f ms (pg_recvlogical p50 %.2f ms), %d rows/s, one row per "
                 "transaction; baseline: pg_recvlogical (test_decoding) to a pipe"
                 % (p(0.5), bp(0.5), a.rate))
        stop(s)
        fn.stop()
        c.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        pg.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
