#!/usr/bin/env bash
# The upstream client's own cost (DESIGN.md §4, D32), for before/after comparisons of a build:
#   bench/client_cost.sh calls BUILD [N]    callgrind over N (300) small non-streaming chats:
#       instructions per upstream call inside the client (its libuv entry points and
#       http_call_start, inclusive, minus the lingma_remote callbacks they call) and per request
#       for the whole gateway (uv_run inclusive / N)
#   bench/client_cost.sh streams BUILD [N]  N (1000) slow streams held at once through one
#       gateway: (peak RSS - idle RSS) / N
# BUILD is a build directory (lingma-gateway, lingma-sim, bench/upstream_request). Needs
# valgrind (calls) or wrk (streams) and the fixtures of bench/run.sh. Function names are this
# client's; for the libcurl build add client_on_timer and sock_on_poll (ENTRY_FNS).
set -euo pipefail
MODE=${1:?calls|streams} B=$(cd "${2:?BUILD}" && pwd) N=${3:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=${BENCH_FIXTURES:-/work/shared/fixtures}/openai-chat-small.json
. "$ROOT/bench/lib.sh"
bench_workdir lgw-cost
bench_account cost-1
SP=$(free_port) GP=$(free_port)
"$B/lingma-sim" --listen "127.0.0.1:$SP" --quiet >"$work/sim.log" 2>&1 &
PIDS+=($!)
[ "$MODE" = calls ] && N=${N:-300} || N=${N:-1000}
PRE=() EXTRA=()
[ "$MODE" = calls ] && PRE=(valgrind --tool=callgrind --callgrind-out-file="$work/cg.out")
[ "$MODE" = streams ] && EXTRA=(--upstream-buffer-bytes 1024 --max-connections $((N + 1000)))
"${PRE[@]}" "$B/lingma-gateway" --listen "127.0.0.1:$GP" --upstream-url "http://127.0.0.1:$SP" \
  --accounts "$work/accounts.json" --state "" --access-log false --log-level warn \
  --metrics-public true "${EXTRA[@]}" >"$work/gw.log" 2>&1 &
GW=$!
PIDS+=("$GW")
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$GP/health" && break; sleep 0.1; done

if [ "$MODE" = calls ]; then
  for _ in $(seq "$N"); do
    curl -s -o /dev/null -H 'content-type: application/json' --data-binary @"$FIX" \
      "http://127.0.0.1:$GP/v1/chat/completions"
  done
  kill "$GW"; wait "$GW" || true
  callgrind_annotate --inclusive=yes --threshold=100 "$work/cg.out" >"$work/ann.txt" 2>/dev/null
  incl() { awk -v f="$1" '$0 ~ ":" f " \\[" {gsub(",", "", $1); print $1; exit}' "$work/ann.txt"; }
  sum() { local t=0 v; for f in "$@"; do v=$(incl "$f"); t=$((t + ${v:-0})); done; echo "$t"; }
  ENTRY_FNS=${ENTRY_FNS:-"http_call_start conn_on_read conn_on_write conn_on_connect call_on_watchdog client_on_idle client_on_sweep dns_on_resolved"}
  # shellcheck disable=SC2086
  in=$(sum $ENTRY_FNS)
  out=$(sum on_chat_response on_chat_data on_chat_done on_models_response on_models_data on_models_done)
  echo "client instructions per upstream call: $(((in - out) / N))"
  echo "gateway instructions per request: $(($(incl uv_run) / N))"
else
  "$B/bench/upstream_request" --fixture "$FIX" --protocol openai --accounts "$work/accounts.json" \
    --out "$work" --stream 1 --directive "chunks=8 delay_ms=2000" >/dev/null
  sleep 1
  rss0=$(awk '/^VmRSS/{print $2}' "/proc/$GW/status")
  BENCH_BODY=$work/client.json BENCH_PATH=/v1/chat/completions BENCH_LABEL=streams \
    wrk -t1 -c"$N" -d12s --timeout 30s -s "$ROOT/bench/request.lua" "http://127.0.0.1:$GP" >"$work/wrk.txt" 2>&1
  hwm=$(awk '/^VmHWM/{print $2}' "/proc/$GW/status")
  echo "held streams: $N; idle RSS ${rss0} KB, peak ${hwm} KB; per stream $(((hwm - rss0) * 1000 / N)) bytes"
fi
