"""The run-to-run spread of the pytest-benchmark suite, and the gate threshold derived from it.

Run the suite several times on the same code (under the lock, on the machine the gate will run
on), then read the runs:

    for i in 1 2 3; do flock /tmp/evbench-bench.lock env PYTHONPATH=. python -m pytest tests/benchmarks \\
        --benchmark-only --benchmark-json=/tmp/spread-$i.json; done
    python tools/pytest_bench_spread.py /tmp/spread-*.json

For every ordered pair of runs (either can be the baseline) it prints the change of each
benchmark's median (percentiles of |change| and the largest slowdown), then the threshold: the
largest slowdown seen, as a factor rounded up to the next whole factor, written as
``--benchmark-compare-fail=median:<percent>%`` (README "pytest-benchmark").
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def threshold_percent(largest_slowdown_pct: float) -> int:
    """The largest slowdown seen between runs of the same code, as a factor rounded up to the
    next whole factor, in percent (642 % is ×7.42: ×8, 700 %)."""
    if not np.isfinite(largest_slowdown_pct) or largest_slowdown_pct < 0:
        raise ValueError(f"largest_slowdown_pct must be a finite change >= 0, got {largest_slowdown_pct!r}")
    return int(100 * (math.floor(1 + largest_slowdown_pct / 100) + 1) - 100)


def spread(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per ordered pair of runs (files) in ``frame``: benchmarks in both, percentiles of
    the |change| of the median, the largest slowdown and the benchmark that showed it."""
    from evbench.harness.report.pytest_benchmark import side_by_side

    rows = []
    for before, after in itertools.permutations(frame["source"].unique(), 2):
        both = side_by_side(frame, before, after)
        if not len(both):
            continue
        change = both["change_pct"].abs()
        worst = both.iloc[0]  # sorted by change, largest slowdown first
        rows.append(dict(before=Path(before).name, after=Path(after).name, benchmarks=len(both),
                         p50=change.quantile(0.5), p90=change.quantile(0.9), p99=change.quantile(0.99),
                         largest_slowdown_pct=worst["change_pct"], worst=worst.get("name", "")))
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    from evbench.harness.report.pytest_benchmark import is_run, rows_of

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="pytest-benchmark JSON files of the same code on one machine")
    args = parser.parse_args(argv)
    rows = []
    for path in args.runs:
        obj = json.loads(Path(path).read_text())
        if not is_run(obj):
            parser.error(f"argument runs: {path!r} is not a pytest-benchmark JSON file (no machine_info/benchmarks)")
        rows += rows_of(obj, path)
    frame = pd.DataFrame(rows)
    if frame["source"].nunique() < 2:
        parser.error(f"argument runs: need two runs or more, got {frame['source'].nunique()}")
    if frame["machine"].nunique() > 1:
        parser.error(f"argument runs: runs of several machines ({', '.join(frame['machine'].unique())}); "
                     "the spread is one machine's")
    table = spread(frame)
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(table.round(1).to_string(index=False))
    largest = float(table["largest_slowdown_pct"].max())
    pct = threshold_percent(largest)
    print(f"\nlargest slowdown of a median between runs of the same code: {largest:.1f} % (×{1 + largest / 100:.2f}) "
          f"over {len(table)} ordered pairs\nthreshold: --benchmark-compare-fail=median:{pct}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
