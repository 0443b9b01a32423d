#!/usr/bin/env python3
"""Kafka source benchmark, against librdkafka's mock cluster (a separate process).

1. Throughput: records/s from a pre-filled 4-partition topic to a local function (sluice-fn)
   at batch sizes 100 and 1000, and the ratio against bench_kafka_baseline, a bare librdkafka
   group consumer reading the same topic in the same run. Both are timed from the first
   record to the last (the ~3 s group join of the mock is left out).
2. Latency: p50/p99 from produce (the record's CREATE_TIME timestamp) to the function
   receiving the record, with no batch window, at a steady produce rate.
3. RSS of sluice at steady state (during the throughput runs).

Usage: bench/kafka.py [--build DIR] [--records N] [--rate R] [--seconds S] [--perf]
       [--batches 100,1000] [--no-latency]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import rows

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def thread_cpu(pid):
    """CPU seconds of each thread of pid by thread name, and ("wait:" + name) the seconds it
    was runnable but waiting for a core (/proc/PID/task/TID/schedstat, in nanoseconds)."""
    out = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip() + "/" + tid
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                run_ns, wait_ns = f.read().split()[:2]
            out[name] = int(run_ns) / 1e9
            out["wait:" + name] = int(wait_ns) / 1e9
    except OSError:
        pass
    return out


class FnCount:
    """The records bench_http_noop --count has received so far, read over one kept-alive
    connection (sampling sluice's /metrics every 20 ms would load sluice's own loop)."""

    def __init__(self, port):
        import http.client
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def get(self):
        self.conn.request("GET", "/count")
        return int(self.conn.getresponse().read())


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def throughput(kf, harness, workdir, boot, n, batch, fn_url, tag, perf_out=None, fn_pid=None,
               rdkafka=None, fn_count=None):
    """Delivers n pre-filled records with the mapping's default caps and 4 invocations in
    flight (one per partition); samples the count of records the function received every 20 ms
    (from the function, not sluice's /metrics) for the rate and the
    longest interval without progress while records were waiting."""
    cfg = kf.kafka_config(workdir, fn_url, boot, ["bench"], group="bench-" + tag,
                          mapping={"batch": {"size": batch, "window": "0s"},
                                   "max_concurrency": 4},
                          source={"rdkafka": rdkafka} if rdkafka else None,
                          extra={"log": {"level": "info"}})
    s = harness.Sluice(workdir, cfg, name="bench-" + tag)
    s.start()
    base_count = fn_count.get()
    perf = None
    if perf_out:
        perf = subprocess.Popen(["perf", "record", "--call-graph", "dwarf,16384", "-F", "3999",
                                 "-o", perf_out, "-p", str(s.proc.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = None
    rss = []
    samples = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        d = fn_count.get() - base_count
        now = time.monotonic()
        if d > 0 and t0 is None:
            t0, d0 = now, d
            cpu0 = thread_cpu(s.proc.pid)
            fn0 = thread_cpu(fn_pid) if fn_pid else {}
        if t0 is not None:
            rss.append(rss_kib(s.proc.pid))
            samples.append((now, d))
        if d >= n:
            break
        time.sleep(0.02)
    t1 = time.monotonic()
    cpu1 = thread_cpu(s.proc.pid)
    fn1 = thread_cpu(fn_pid) if fn_pid else {}
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    s.stop()
    # Longest stretch of consecutive samples with no new deliveries (records were waiting).
    gap, start = 0.0, None
    for (ta, da), (tb, db) in zip(samples, samples[1:]):
        if db == da:
            start = ta if start is None else start
            gap = max(gap, tb - start)
        else:
            start = None
    # The first poll that saw deliveries already counted d0 of them.
    rate = (n - d0) / (t1 - t0) if t1 > t0 else 0
    # Where the time went: each thread's CPU share of the timed interval (1.0 = a whole core).
    busy = {k: round((v - cpu0.get(k, 0)) / (t1 - t0), 2) for k, v in cpu1.items()
            if t1 > t0 and v - cpu0.get(k, 0) > 0}
    busy.update({"fn:" + k: round((v - fn0.get(k, 0)) / (t1 - t0), 2) for k, v in fn1.items()
                 if t1 > t0 and v - fn0.get(k, 0) > 0})
    # CPU time of sluice's loop thread (named after the process) per record: less sensitive to
    # other load on the machine than the rate.
    loop = [v - cpu0.get(k, 0) for k, v in cpu1.items() if k == "sluice/%d" % s.proc.pid]
    loop_us = loop[0] * 1e6 / (n - d0) if loop and n > d0 else 0
    return {"batch": batch, "rate": rate, "seconds": t1 - t0, "max_gap_s": gap, "cpu": busy,
            "loop_us_per_record": loop_us,
            "rss_kib_max": max(rss) if rss else 0,
            "rss_kib_median": sorted(rss)[len(rss) // 2] if rss else 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--records", type=int, default=160000)
    ap.add_argument("--size", type=int, default=100, help="value bytes")
    ap.add_argument("--rate", type=int, default=500, help="produce rate for the latency run")
    ap.add_argument("--seconds", type=int, default=10, help="length of the latency run")
    ap.add_argument("--fetch-wait", default="10", help="fetch.wait.max.ms for the latency run")
    ap.add_argument("--perf", action="store_true", help="record a perf profile of sluice")
    ap.add_argument("--batches", default="100,1000", help="batch sizes of the throughput runs")
    ap.add_argument("--no-latency", action="store_true", help="skip the latency run")
    ap.add_argument("--rdkafka", action="append", default=[], metavar="KEY=VALUE",
                    help="librdkafka property for sluice's throughput runs (repeatable)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ["SLUICE_BUILD"] = build
    os.environ.setdefault("SLUICE_BIN", os.path.join(build, "cli", "sluice"))
    import harness  # noqa: E402
    import kafka_fixture as kf  # noqa: E402

    workdir = tempfile.mkdtemp(prefix="sluice-bench-kafka-")
    kafka = kf.KafkaMock(["bench:4", "lat:4"])
    fn = None
    kfn = None
    try:
        t = time.monotonic()
        kf.produce(kafka.bootstrap, "bench", a.records, size=a.size, keys=100)
        print("pre-filled %d records (%d-byte values) in %.1fs" % (a.records, a.size,
                                                                 time.monotonic() - t))

        base = json.loads(subprocess.run(
            [os.path.join(build, "bench", "bench_kafka_baseline"), "-b", kafka.bootstrap,
             "-t", "bench", "-n", str(a.records)], stdout=subprocess.PIPE, check=True,
            timeout=300).stdout)
        print("baseline (bare librdkafka consumer): %.0f records/s" % base["rate"])

        # A no-op function on sluice's own HTTP code: the figure is sluice's, not a function's.
        # It counts the records it receives ("offset": once per record): progress is sampled
        # there.
        fn = subprocess.Popen([os.path.join(build, "bench", "bench_http_noop"), "--listen",
                               "127.0.0.1:0", "--count", '"offset":'], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        reader = harness.LineReader(fn.stdout)
        port = int(reader.wait_for(r"listening on port (\d+)").group(1))
        fn_url = "http://127.0.0.1:%d/invoke" % port
        fn_count = FnCount(port)
        results = []
        for batch in [int(x) for x in a.batches.split(",")]:
            perf_out = os.path.join(build, "perf-kafka-b%d.data" % batch) if a.perf else None
            r = throughput(kf, harness, workdir, kafka.bootstrap, a.records, batch, fn_url,
                           "b%d" % batch, perf_out, fn.pid,
                           dict(kv.split("=", 1) for kv in a.rdkafka), fn_count)
            if perf_out:
                print("perf profile of sluice at batch %d: perf report -i %s --no-children"
                      % (batch, perf_out))
            r["ratio"] = r["rate"] / base["rate"] if base["rate"] else 0
            results.append(r)
            print("sluice batch %4d: %.0f records/s (%.1f%% of the baseline), RSS median %d "
                  "KiB, max %d KiB, longest stop %.1f s" % (
                      batch, r["rate"], 100 * r["ratio"], r["rss_kib_median"], r["rss_kib_max"],
                      r["max_gap_s"]))
            print("  loop thread CPU per record: %.2f us; CPU share per thread over the run "
                  "(1.0 = one core): %s" % (r["loop_us_per_record"], json.dumps(r["cpu"])))
            rows.add("Kafka, 4 partitions, batch %d, %d B" % (batch, a.size), r["rate"],
                     base["rate"], "rec/s", "baseline: bare librdkafka consumer")
            rows.add("Kafka batch %d: longest stop (sampled every 20 ms)" % batch,
                     r["max_gap_s"] * 1000.0, None, "ms", "while records were waiting")
            rows.add("Kafka batch %d: RSS under load (median / max)" % batch,
                     r["rss_kib_median"] / 1024.0, None, "MiB",
                     "max %.1f MiB" % (r["rss_kib_max"] / 1024.0))

        if a.no_latency:
            print(json.dumps({"baseline": base, "throughput": results}))
            return
        # Latency: no batch window, a steady produce rate, a function that notes receipt.
        kfn = kf.KafkaFn()
        cfg = kf.kafka_config(workdir, kfn.url, kafka.bootstrap, ["lat"], group="bench-lat",
                              mapping={"batch": {"size": 100, "window": "0s"}},
                              # The mock answers a waiting fetch only when fetch.wait.max.ms
                              # expires, not when data arrives (a real broker answers at once):
                              # a short wait keeps that out of the figure.
                              source={"starting_position": "latest",
                                      "rdkafka": {"fetch.wait.max.ms": a.fetch_wait}},
                              extra={"log": {"level": "info"}})
        s = harness.Sluice(workdir, cfg, name="bench-lat")
        s.start()
        idle_rss = rss_kib(s.proc.pid)
        # Warm up until records flow, then measure.
        harness.wait_until(lambda: (kf.produce(kafka.bootstrap, "lat", 4, start=0) or
                                    len(kfn.receipts) > 0), interval=0.3, what="records flowing")
        kfn.receipts.clear()
        n = a.rate * a.seconds
        kf.produce(kafka.bootstrap, "lat", n, start=1000, rate=a.rate)
        harness.wait_until(lambda: len(kfn.receipts) >= n, timeout=120, what="all received")
        lat = [(recv * 1000.0 - ts) for recv, ts in kfn.receipts if ts]
        rss = rss_kib(s.proc.pid)
        s.stop()
        print("latency produce -> function (%d records at %d/s, batch window 0): p50 %.1f ms, "
              "p99 %.1f ms, max %.1f ms; RSS %d KiB" % (len(lat), a.rate, pct(lat, 50),
                                                       pct(lat, 99), max(lat), rss))
        rows.add("Kafka produce -> function p99", pct(lat, 99), None, "ms",
                 "p50 %.1f ms at %d/s; the mock answers a waiting fetch only at "
                 "fetch.wait.max.ms (%s ms)" % (pct(lat, 50), a.rate, a.fetch_wait))
        rows.add("Kafka RSS idle (started, no records)", idle_rss / 1024.0, None, "MiB")
        print(json.dumps({"baseline": base, "throughput": results,
                          "latency_ms": {"p50": pct(lat, 50), "p99": pct(lat, 99)}}))
    finally:
        if kfn:
            kfn.stop()
        if fn:
            fn.terminate()
            fn.wait()
        kafka.stop()


if __name__ == "__main__":
    main()
