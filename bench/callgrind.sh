#!/usr/bin/env bash
# Instructions per request of the gateway under callgrind (DESIGN.md §4's per-component figures).
#
#   bench/callgrind.sh [FIXTURE] [PROTOCOL] [N]
#
# Starts lingma-sim and the gateway (under valgrind --tool=callgrind, collection off), sends two
# warm-up requests, then collects exactly N (20) requests of FIXTURE (the 60 KB Claude Code turn
# by default) and prints the total, the per-request figure and the top inclusive functions. The
# profile stays in $CALLGRIND_OUT (default /tmp/lgw-callgrind.out) for callgrind_annotate.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
FIX=${BENCH_FIXTURES:-/work/shared/fixtures}
FIXTURE=${1:-$FIX/anthropic-claude-code-60k.json}
PROTO=${2:-anthropic}
N=${3:-20}
OUT=${CALLGRIND_OUT:-/tmp/lgw-callgrind.out}
if [ "$PROTO" = anthropic ]; then CPATH=/v1/messages; else CPATH=/v1/chat/completions; fi

. "$ROOT/bench/lib.sh"
bench_workdir lgw-cg
bench_account cg-1

SIM_PORT=$(free_port)
"$BUILD/lingma-sim" --listen "127.0.0.1:$SIM_PORT" --quiet > "$work/sim.log" 2>&1 &
PIDS+=($!)
GW_PORT=$(free_port)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT" \
  "$BUILD/lingma-gateway" --listen "127.0.0.1:$GW_PORT" --upstream-url "http://127.0.0.1:$SIM_PORT" \
  --accounts "$work/accounts.json" --state "$work/state.db" --access-log false --log-level warn \
  > "$work/gw.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$GW_PORT/health" && break; sleep 0.1; done

"$BUILD/bench/upstream_request" --fixture "$FIXTURE" --protocol "$PROTO" \
  --accounts "$work/accounts.json" --out "$work" --stream 1 > /dev/null
send() {
  curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' \
    --data-binary @"$work/client.json" "http://127.0.0.1:$GW_PORT$CPATH"
}
send > /dev/null && send > /dev/null
callgrind_control -i on "$GW_PID" > /dev/null
for _ in $(seq "$N"); do
  [ "$(send)" = 200 ] || { echo "callgrind: a request failed" >&2; exit 1; }
done
callgrind_control -i off "$GW_PID" > /dev/null
kill "$GW_PID"
wait "$GW_PID" 2>/dev/null || true

total=$(callgrind_annotate "$OUT" 2>/dev/null | awk '/PROGRAM TOTALS/ && !t {gsub(",", "", $1); t = $1} END {print t}')
echo "requests: $N  total Ir: $total  per request: $((total / N))"
callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null | sed -n '/file:function/,$p' | sed -n 3,62p
