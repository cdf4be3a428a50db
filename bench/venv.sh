#!/bin/sh
# Makes bench/.venv (gitignored) with the Python baselines' packages, installing only what is
# missing, and prints the venv's python path on stdout. Exit status non-zero with one line on
# stderr saying why when the venv cannot be made (the benchmark then reports "skipped: <why>").
#
# Versions are not pinned: a baseline is "what a notebook user gets today"; the bench output
# records the versions it ran with.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="${BENCH_VENV:-$here/.venv}"
py="$venv/bin/python"
if [ ! -x "$py" ]; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 is not installed (Debian: apt-get install python3 python3-venv)" >&2
        exit 2
    fi
    if ! python3 -m venv "$venv" >&2; then
        echo "python3 -m venv $venv failed (Debian: apt-get install python3-venv)" >&2
        exit 2
    fi
fi
missing=""
for pkg in "$@"; do
    mod=$pkg
    [ "$pkg" = scikit-learn ] && mod=sklearn
    "$py" -c "import $mod" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    if ! "$py" -m pip install --quiet $missing >&2; then
        echo "pip install$missing into $venv failed (no network or no wheel for this Python)" >&2
        exit 3
    fi
fi
echo "$py"
