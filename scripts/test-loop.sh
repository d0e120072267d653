#!/usr/bin/env bash
# Runs the test suite N times in a row and counts how each run ended: passed, failed, or hung
# (killed at the time limit). A failure, trap or hang is a bug to find, never a retry to add.
#
# Usage: scripts/test-loop.sh [-n RUNS] [--tsan] [--filter REGEX] [--limit SECONDS]
#   -n RUNS         runs (default 10)
#   --tsan          under ThreadSanitizer (scratch path .build-tsan, CI's suppressions)
#   --filter REGEX  only matching tests (swift test --filter)
#   --limit SECONDS per-run time limit (default 1200); a run past it counts as hung
# Logs of runs that did not pass are kept in .build/test-loop/ (printed at the end).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=10; tsan=0; filter=""; limit=1200
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs="$2"; shift 2 ;;
        --tsan) tsan=1; shift ;;
        --filter) filter="$2"; shift 2 ;;
        --limit) limit="$2"; shift 2 ;;
        *) echo "usage: $0 [-n RUNS] [--tsan] [--filter REGEX] [--limit SECONDS]" >&2; exit 64 ;;
    esac
done
args=()
[ -n "$filter" ] && args+=(--filter "$filter")
if [ "$tsan" = 1 ]; then
    args+=(--sanitize=thread --scratch-path .build-tsan)
    export TSAN_OPTIONS="suppressions=$PWD/.ci/tsan-suppressions.txt${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
fi
logs=.build/test-loop; mkdir -p "$logs"
echo "== building"
swift build --build-tests ${args[@]+"${args[@]}"} >/dev/null 2>&1 || { echo "build failed"; exit 1; }
passed=0; failed=0; hung=0; kept=()
for i in $(seq 1 "$runs"); do
    log="$logs/run-$i.log"
    start=$(date +%s)
    timeout --signal=KILL "$limit" swift test ${args[@]+"${args[@]}"} >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1)); result="passed"; rm -f "$log"
    elif [ $rc -eq 137 ]; then
        hung=$((hung + 1)); result="HUNG (killed at ${limit} s)"; kept+=("$log")
    else
        failed=$((failed + 1)); result="FAILED (exit $rc)"; kept+=("$log")
        grep -E "✘|Fatal error|error:" "$log" | head -5 | sed 's/^/    /'
    fi
    echo "run $i/$runs: $result in ${took} s"
done
echo "$passed passed, $((failed + hung)) failed"
echo "(of which hung: $hung)"
[ ${#kept[@]} -gt 0 ] && printf 'logs kept: %s\n' "${kept[@]}"
[ $((failed + hung)) -eq 0 ]
