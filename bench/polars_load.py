"""Baseline for `workbench bench load`: python-polars read_csv, the fast loader users pick.

Usage: polars_load.py FILE
Prints one JSON object: rows, columns, read_s (time inside read_csv), polars version.
The caller measures the process's wall time and peak RSS (wait4 rusage) around it.
"""
import json
import sys
import time

import polars as pl


def main() -> None:
    path = sys.argv[1]
    started = time.perf_counter()
    # Default options, as pandas_load.py: what a user writes first.
    frame = pl.read_csv(path)
    read_s = time.perf_counter() - started
    print(json.dumps({
        "rows": int(frame.height),
        "columns": int(frame.width),
        "read_s": read_s,
        "polars_version": pl.__version__,
    }))


if __name__ == "__main__":
    main()
