#!/usr/bin/env bash
# CI fuzzing: for each target, replay the committed corpus, then fuzz for a short while
# (FUZZ_SECONDS, default 30). Any crash, panic, leak or timeout fails the run; libFuzzer saves
# the input under fuzz/artifacts/<target>/.
#
# Nightly is used when rustup has it (with AddressSanitizer, cargo fuzz's default); otherwise
# stable, with RUSTC_BOOTSTRAP=1 for the -Z flags cargo fuzz passes and no sanitizer.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-30}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
    sanitizer=()
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
    sanitizer=(-s none)
fi

# New inputs go to a scratch directory, so the committed corpus stays as it is.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

for target in $("${fuzz[@]}" list); do
    echo "== fuzz $target: corpus replay, then ${seconds}s"
    mkdir -p "$scratch/$target" "corpus/$target"
    "${fuzz[@]}" run "${sanitizer[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1
done
