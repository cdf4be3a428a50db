#!/usr/bin/env bash
# Build times of the README's test command's build (docs/BUILD.md): a clean build in a target
# directory of its own, then the rebuild after touching one file in the TUI, the probe, the data
# crate and the kernel crate. For each rebuild it lists the workspace crates cargo compiled, so the
# claim "a TUI or probe edit compiles no polars-using crate" can be read off the output.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${BUILD_TIMES_TARGET:-target/build-times}
export CARGO_TARGET_DIR=$target
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver)
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
build() {
    local label=$1 start end
    start=$(date +%s.%N)
    cargo test --workspace --all-targets --features workbench/kernel-tests --no-run --message-format short 2>"$target.log" >/dev/null
    end=$(date +%s.%N)
    local crates
    crates=$(grep -oP '^\s+Compiling \K(workbench[\w-]*)' "$target.log" | sort -u | tr '\n' ' ')
    printf '| %s | %.0f s | %s |\n' "$label" "$(echo "$end - $start" | bc)" "${crates:-none}"
}
rm -rf "$target"
echo "| build | time | workspace crates compiled |"
echo "|---|---|---|"
build "clean"
for f in workbench/crates/tui/src/ui/help.rs probe-ebpf/src/main.rs workbench/crates/data/src/dataset/clean.rs \
    workbench/crates/kernel/src/flows.rs; do
    touch "$f"
    build "touch $f"
done
