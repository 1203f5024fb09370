#!/usr/bin/env bash
# Coverage-guided fuzzing (docs/FUZZING.md): builds every cargo-fuzz target
# in fuzz/ and runs each for VEIL_FUZZ_SECS seconds from its committed seeds.
# Any crash, timeout or out-of-memory fails; the executions per target are
# printed. New inputs go to fuzz/corpus/ (ignored by git), so a machine that
# keeps its work tree fuzzes on from where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${VEIL_FUZZ_SECS:-20}"
# --dev (profile.dev at opt-level 1 in fuzz/Cargo.toml) and no sanitizer,
# to keep the build short; panics, overflows and hangs are still caught.
# The build lives outside the checkout, in a cache this machine keeps (as
# ~/.cargo keeps the tools): a cold build of veil's ~380 dependencies with
# coverage instrumentation takes about 25 minutes on 2 cores, a warm one
# (only veil and the targets) a few.
target_dir="${VEIL_FUZZ_TARGET_DIR:-$HOME/.cache/veil/fuzz-target}"
opts=(-s none --dev --target-dir "$target_dir")

command -v cargo-fuzz >/dev/null || cargo install --locked --quiet cargo-fuzz
cargo +nightly fuzz build "${opts[@]}"

log=$(mktemp)
for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$target"
    if ! cargo +nightly fuzz run "${opts[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 80 "$log"
        echo "fuzz target $target failed: the input is in fuzz/artifacts/$target (docs/FUZZING.md)"
        exit 1
    fi
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
    edges=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
    printf 'fuzz %-16s %10s executions in %ss, %s edges\n' "$target" "$execs" "$secs" "$edges"
done
