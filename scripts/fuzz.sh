#!/usr/bin/env bash
# Fuzzes the channel parsers: each cargo-fuzz target in crates/channels/fuzz/fuzz_targets/ runs for FUZZ_SECONDS
# (default 60), starting from its checked-in seeds (crates/channels/fuzz/seeds/<target>/) and the corpus of earlier
# runs (target/fuzz-corpus/<target>/, which libFuzzer grows). A crash fails the script and leaves the input in
# crates/channels/fuzz/artifacts/<target>/. Usage: scripts/fuzz.sh [target...]
#
# Stable Rust only: `--sanitizer none` needs no -Z flag; cargo-fuzz still passes nightly-only flags to rustc, which
# RUSTC_BOOTSTRAP=1 lets a stable toolchain accept.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
fuzz_dir=crates/channels/fuzz

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in "$fuzz_dir"/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    corpus="$PWD/target/fuzz-corpus/$target"
    seeds="$PWD/$fuzz_dir/seeds/$target"
    mkdir -p "$corpus" "$seeds"
    echo "fuzzing $target for ${seconds}s"
    (cd "$fuzz_dir" && nice -n 10 cargo fuzz run --sanitizer none "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1)
done
echo "fuzzing passed: ${#targets[@]} target(s), ${seconds}s each"
