#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for a bounded time (FUZZ_SECONDS,
# default 30), starting from the small seed corpus in fuzz/corpus/<target>. New inputs go to
# a temporary directory, so the repository's corpus stays small; a crash fails the script
# and leaves its input under fuzz/artifacts/<target>/.
#
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP lets the one stable
# toolchain on our machines accept them. No sanitizer: the code under test is safe Rust,
# so libFuzzer is here for panics, overflows (debug assertions are on) and hangs.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-30}"
export RUSTC_BOOTSTRAP=1
export FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/idp-fuzz-target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

flags=(-O --sanitizer none --codegen-units 16 --target-dir "$FUZZ_TARGET_DIR")
cargo fuzz build "${flags[@]}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in $(cargo fuzz list); do
    mkdir -p "$work/$target"
    echo "fuzzing $target for ${seconds}s"
    status=0
    cargo fuzz run "${flags[@]}" "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 >"$work/$target.log" 2>&1 ||
        status=$?
    grep -E '^Done' "$work/$target.log" || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$work/$target.log" >&2
        echo "fuzz target $target failed (exit $status); input in fuzz/artifacts/$target/" >&2
        exit "$status"
    fi
done
echo "all fuzz targets ran ${seconds}s without a crash"
