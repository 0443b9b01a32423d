"""One table for every benchmark: each script adds its rows (a figure of sluice, the raw
baseline measured in the same run, and their ratio) to the file named by SLUICE_BENCH_ROWS;
bench/table.py prints them. Without SLUICE_BENCH_ROWS, rows are only printed."""
import json
import os


def add(path, sluice, baseline, unit, note=""):
    """A row: `path` (what was measured), sluice's figure, the baseline's, the unit. For
    latencies and memory the ratio is sluice / baseline; for throughput too (higher is
    better there, lower is better for the others: the unit says which)."""
    ratio = sluice / baseline if baseline else None
    row = {"path": path, "sluice": sluice, "baseline": baseline, "unit": unit, "ratio": ratio,
           "note": note}
    print("ROW %s: %s %s vs %s (ratio %s) %s" % (path, fmt(sluice), unit, fmt(baseline),
                                                 "%.3f" % ratio if ratio else "-", note))
    out = os.environ.get("SLUICE_BENCH_ROWS")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return "%.2f" % v
