"""Baseline for `workbench bench load`: pandas.read_csv as a notebook user runs it.

Usage: pandas_load.py FILE
Prints one JSON object: rows, columns, read_s (time inside read_csv), pandas version.
The caller measures the process's wall time and peak RSS (wait4 rusage) around it.
"""
import json
import sys
import time

import pandas as pd


def main() -> None:
    path = sys.argv[1]
    started = time.perf_counter()
    # Default engine and options: what every CIC-IDS2017 notebook does first.
    frame = pd.read_csv(path)
    read_s = time.perf_counter() - started
    print(json.dumps({
        "rows": int(frame.shape[0]),
        "columns": int(frame.shape[1]),
        "read_s": read_s,
        "pandas_version": pd.__version__,
    }))


if __name__ == "__main__":
    main()
