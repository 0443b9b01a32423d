#!/usr/bin/env python3
"""Prints the rows the benchmarks wrote (bench/rows.py) as one Markdown table.
Usage: bench/table.py ROWS_FILE"""
import json
import sys

from rows import fmt


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    print("| path | sluice | baseline (same run) | unit | ratio | note |")
    print("|---|---:|---:|---|---:|---|")
    for r in rows:
        print("| %s | %s | %s | %s | %s | %s |" % (
            r["path"], fmt(r["sluice"]), fmt(r["baseline"]), r["unit"],
            "%.3f" % r["ratio"] if r["ratio"] is not None else "-", r["note"]))


if __name__ == "__main__":
    main()
