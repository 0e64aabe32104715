#!/bin/sh
# Build the benchmark programs and run bench/spec.tsv beside the peers.
#   bench/run.sh BUILD_DIR      (make bench calls it with build-bench)
# Environment: BENCH_RUNS (runs per command, default 5), BENCH_FILTER (a
# regular expression on the benchmark name), BENCH_PASSES (measured passes
# in a run, default 3), BENCH_TIME (seconds a timed pass aims at, default
# 0.25), BENCH_TIMEOUT (seconds per run, default 120).
# See docs/bench.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: bench/run.sh BUILD_DIR}
list="$build/bench/targets.txt"
[ -f "$list" ] || { echo "bench: $list missing: configure $build with -DPC_BUILD_BENCH=ON" >&2; exit 2; }
targets=$(cat "$list")
logs="$build/bench/logs"
failed="$build/bench/build-failed.txt"
rm -rf "$logs" && mkdir -p "$logs"
: >"$failed"

# All at once; if that fails, one by one, so each failure costs its own rows.
# shellcheck disable=SC2086
if ! cmake --build "$build" --target $targets -j "$(nproc)" >"$logs/all.log" 2>&1; then
    for t in $targets; do
        if ! cmake --build "$build" --target "$t" >"$logs/$t.log" 2>&1; then
            echo "$t" >>"$failed"
            echo "bench: $t did not build (log: $logs/$t.log)" >&2
        fi
    done
fi

# The command that produced the table, for its header.
how="bench/run.sh $build"
[ -n "${MAKELEVEL:-}" ] && how="make bench"
for v in BENCH_RUNS BENCH_FILTER BENCH_PASSES BENCH_TIME; do
    eval "val=\${$v:-}"
    [ -n "$val" ] && how="$v='$val' $how"
done
exec /usr/bin/python3 -I "$here/runner.py" --build "$build" --command-line "$how"
