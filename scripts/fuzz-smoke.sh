#!/usr/bin/env bash
# usage: scripts/fuzz-smoke.sh BUILD_DIR SECONDS
# Runs every fuzz_* binary built in BUILD_DIR (a -DFUZZ=ON build) for SECONDS, starting from
# its checked-in corpus tests/fuzz/corpus/<name without fuzz_>/ (copied to a temp work corpus,
# so the checked-in one is never modified) and tests/fuzz/<name>.dict when present.
# Fails if a target crashes, leaks, times out or finds nothing to run; the crash input is kept.
set -euo pipefail

if [[ $# -ne 2 || ! "$2" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build_dir="$(cd "$1" && pwd)"
seconds="$2"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

mapfile -t targets < <(find "$build_dir" -maxdepth 3 -type f -name 'fuzz_*' -perm -u+x | sort)
if [[ ${#targets[@]} -eq 0 ]]; then
    echo "fuzz-smoke: no fuzz_* binaries under $build_dir (configure with -DFUZZ=ON)" >&2
    exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/lgw-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
artifacts="$src/build-fuzz-artifacts"

failed=0
for bin in "${targets[@]}"; do
    name="$(basename "$bin")"
    short="${name#fuzz_}"
    seed="$src/tests/fuzz/corpus/$short"
    corpus="$work/$short"
    mkdir -p "$corpus"
    if [[ -d "$seed" ]]; then
        cp -R "$seed/." "$corpus/"
    else
        echo "fuzz-smoke: warning: no seed corpus $seed" >&2
    fi
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$work/$name-")
    [[ -f "$src/tests/fuzz/$short.dict" ]] && args+=(-dict="$src/tests/fuzz/$short.dict")
    echo "fuzz-smoke: $name for ${seconds}s (seed: $(find "$corpus" -type f | wc -l) inputs)" >&2
    log="$work/$name.log"
    rc=0
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "$bin" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]] || grep -qE '^==[0-9]+==ERROR|runtime error:|deadly signal' "$log"; then
        failed=1
        echo "fuzz-smoke: $name FAILED (exit $rc)" >&2
        tail -n 60 "$log" >&2
        mkdir -p "$artifacts"
        for f in "$work/$name-"*; do
            [[ -e "$f" ]] || continue
            cp "$f" "$artifacts/"
            echo "fuzz-smoke: reproducer kept: $artifacts/$(basename "$f")" >&2
        done
    else
        runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')"
        cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 || true)"
        echo "fuzz-smoke: $name ok: $runs runs, ${cov:-cov: ?}" >&2
    fi
done
exit "$failed"
