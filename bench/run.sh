#!/usr/bin/env bash
# `make bench`: the performance suite of DESIGN.md §7. Writes bench/RESULTS.md.
#
# Every figure is a ratio against a direct run made in the same run: the same conversation is
# sent (a) through the gateway and (b) straight to lingma-sim as the signed upstream request
# the gateway would send (bench/upstream_request builds it with the gateway's own codecs,
# lingma_body_build and cosy_headers, right before each measurement: the sim only accepts a
# Cosy-Date within ±300 s). Rounds alternate gateway/direct so drift hits both alike; each
# figure is the median over the rounds.
#
# Scenarios: small OpenAI chat non-stream and stream, 60 KB Claude-Code-sized Anthropic stream,
# each at concurrency 1 and 64 (wrk + bench/request.lua); per-event timing through the gateway
# vs direct (bench/event_timing.py); then BENCH_STREAMS (10,000) slow streams held open at once
# through one gateway process (wrk -c, raised descriptor limit), reporting peak RSS, the RSS per
# held stream ((peak − idle) / peak streams held) and errors.
#
# CPUs: by default nothing is pinned and the kernel shares the cores among gateway, simulator
# and wrk (on a 2-core machine shared with other jobs, a pinned process waits behind whatever
# else runs on its core). BENCH_PIN=1 pins the gateway to BENCH_GW_CPU (0) and the simulator to
# BENCH_SIM_CPU (1); wrk always floats. The report states which was used and each process's
# CPU use, so the sharing is visible.
#
# Knobs (environment): BENCH_SECONDS (per measurement, 5), BENCH_ROUNDS (3), BENCH_STREAMS
# (10000), BENCH_STREAM_SECONDS (40), BENCH_UPSTREAM_BUFFER (bytes of the upstream client's one
# receive buffer in the 10k run, 1024), BENCH_OUT (bench/RESULTS.md), BENCH_QUICK=1 (1 s, 1
# round, 2000 streams).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
GW=$BUILD/lingma-gateway
SIM=$BUILD/lingma-sim
TOOL=$BUILD/bench/upstream_request
LUA=$ROOT/bench/request.lua
FIX=${BENCH_FIXTURES:-/work/shared/fixtures}
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
STREAMS=${BENCH_STREAMS:-10000}
STREAM_SECS=${BENCH_STREAM_SECONDS:-40}
UPSTREAM_BUF=${BENCH_UPSTREAM_BUFFER:-1024}
OUT=${BENCH_OUT:-$ROOT/bench/RESULTS.md}
GW_CPU=${BENCH_GW_CPU:-0}
SIM_CPU=${BENCH_SIM_CPU:-1}
if [ "${BENCH_QUICK:-0}" = 1 ]; then SECS=1 ROUNDS=1 STREAMS=2000 STREAM_SECS=15; fi

log() { echo "bench: $*" >&2; }
for b in "$GW" "$SIM" "$TOOL"; do [ -x "$b" ] || { echo "bench: $b missing (make first)" >&2; exit 1; }; done
command -v wrk >/dev/null || { echo "bench: wrk is not installed" >&2; exit 1; }
[ -f "$FIX/openai-chat-small.json" ] && [ -f "$FIX/anthropic-claude-code-60k.json" ] ||
  { echo "bench: fixtures not found in $FIX" >&2; exit 1; }

# 10,000 client sockets + 10,000 upstream sockets in the gateway, as many in the sim and wrk.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
# One stream holds two descriptors in the gateway (client + upstream socket). Where the hard
# limit cannot be raised (no CAP_SYS_RESOURCE in a container), run as many as fit and say so.
STREAMS_WANTED=$STREAMS
if [ "$NOFILE" != unlimited ] && [ $((STREAMS * 2 + 64)) -gt "$NOFILE" ]; then
  STREAMS=$(((NOFILE - 64) / 2))
  log "open-file limit $NOFILE (hard) fits $STREAMS streams per process, not $STREAMS_WANTED"
fi

. "$ROOT/bench/lib.sh"
bench_workdir lgw-bench
trap 'exit 130' INT TERM

# taskset execs the program, so $! is the program's own pid.
PIN_SIM=() PIN_GW=()
if [ "${BENCH_PIN:-0}" = 1 ] && command -v taskset >/dev/null; then PIN_SIM=(taskset -c "$SIM_CPU") PIN_GW=(taskset -c "$GW_CPU"); fi
bench_account bench-1

SIM_PID= GW_PID= SIM_PORT= GW_PORT=
start_sim() {
  SIM_PORT=$(free_port)
  "${PIN_SIM[@]}" "$SIM" --listen "127.0.0.1:$SIM_PORT" --quiet > "$work/sim.log" 2>&1 &
  SIM_PID=$!; PIDS+=("$SIM_PID")
  for _ in $(seq 100); do grep -q '^listening on' "$work/sim.log" 2>/dev/null && return 0; sleep 0.05; done
  log "the simulator did not start"; cat "$work/sim.log" >&2; exit 1
}
# start_gw [extra gateway options…]
start_gw() {
  GW_PORT=$(free_port)
  "${PIN_GW[@]}" "$GW" --listen "127.0.0.1:$GW_PORT" --upstream-url "http://127.0.0.1:$SIM_PORT" \
    --accounts "$work/accounts.json" --state "$work/state.db" --access-log false --log-level warn \
    --metrics-public true \
    "$@" > "$work/gw.log" 2>&1 &
  GW_PID=$!; PIDS+=("$GW_PID")
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$GW_PORT/health" && return 0; sleep 0.05; done
  log "the gateway did not start"; cat "$work/gw.log" >&2; exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# prepare NAME PROTOCOL FIXTURE STREAM DIRECTIVE: client.json + signed upstream request.
prepare() {
  mkdir -p "$work/$1"
  local dir=()
  [ -n "$5" ] && dir=(--directive "$5")
  "$TOOL" --fixture "$3" --protocol "$2" --accounts "$work/accounts.json" --out "$work/$1" \
    --stream "$4" "${dir[@]}"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wrk_run LABEL CONNS SECONDS TARGET(gw|direct) SCENARIO CLIENT_PATH → one RESULT line
wrk_run() {
  local label=$1 conns=$2 secs=$3 target=$4 sc=$5 cpath=$6 url body hdrs path
  if [ "$target" = gw ]; then
    url="http://127.0.0.1:$GW_PORT" body="$work/$sc/client.json" hdrs="" path=$cpath
  else
    url="http://127.0.0.1:$SIM_PORT" body="$work/$sc/upstream.json" hdrs="$work/$sc/upstream.headers"
    path=$(cat "$work/$sc/upstream.path")
  fi
  local g0 s0 g1 s1 line
  g0=$(cpu_ticks "$GW_PID"); s0=$(cpu_ticks "$SIM_PID")
  line=$(BENCH_BODY=$body BENCH_HEADERS=$hdrs BENCH_PATH=$path BENCH_LABEL=$label \
    wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s -s "$LUA" "$url" | grep '^RESULT' || true)
  g1=$(cpu_ticks "$GW_PID"); s1=$(cpu_ticks "$SIM_PID")
  [ -n "$line" ] || { log "wrk produced no result for $label"; line="RESULT label=$label requests=0"; }
  local hz; hz=$(getconf CLK_TCK)
  echo "$line gw_cpu_pct=$(( (g1 - g0) * 100 / hz / secs )) sim_cpu_pct=$(( (s1 - s0) * 100 / hz / secs ))"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$2"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2); else print 0}'; }

# ---------------------------------------------------------------- latency and throughput
log "work dir $work; ${SECS}s per measurement, $ROUNDS rounds; pinned: ${BENCH_PIN:-0}"
start_sim
start_gw
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

SMALL=$FIX/openai-chat-small.json
BIG=$FIX/anthropic-claude-code-60k.json
# name | protocol | fixture | stream | directive | client path
SCENARIOS=(
  "small-nonstream|openai|$SMALL|0||/v1/chat/completions"
  "small-stream|openai|$SMALL|1||/v1/chat/completions"
  "cc60k-stream|anthropic|$BIG|1||/v1/messages"
)
RAW=$work/raw.txt
: > "$RAW"
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name proto fixture stream directive cpath <<< "$s"
  prepare "$name" "$proto" "$fixture" "$stream" "$directive"
  # sanity: both paths answer 200 with a complete stream
  code=$(curl -s -o "$work/$name/gw.out" -w '%{http_code}' -H 'content-type: application/json' \
    --data-binary @"$work/$name/client.json" "http://127.0.0.1:$GW_PORT$cpath")
  [ "$code" = 200 ] || { log "$name: the gateway answered $code"; cat "$work/$name/gw.out" >&2; exit 1; }
  for conns in 1 64; do
    wrk_run warm "$conns" 1 gw "$name" "$cpath" > /dev/null
    for r in $(seq "$ROUNDS"); do
      prepare "$name" "$proto" "$fixture" "$stream" "$directive" # fresh Cosy-Date
      if [ $((r % 2)) = 1 ]; then order="gw direct"; else order="direct gw"; fi
      for target in $order; do
        line=$(wrk_run "$name" "$conns" "$SECS" "$target" "$name" "$cpath")
        echo "$name c=$conns round=$r target=$target $line" >> "$RAW"
        log "$name c=$conns $target: $(field p50_us "$line") µs p50, $(field p99_us "$line") µs p99, $(field rps "$line") req/s"
      done
    done
  done
done

# ---------------------------------------------------------------- per-event timing
prepare events openai "$SMALL" 1 "chunks=10 delay_ms=20"
python3 "$ROOT/bench/event_timing.py" 127.0.0.1 "$GW_PORT" /v1/chat/completions \
  "$work/events/client.json" > "$work/events.gw"
python3 "$ROOT/bench/event_timing.py" 127.0.0.1 "$SIM_PORT" "$(cat "$work/events/upstream.path")" \
  "$work/events/upstream.json" "$work/events/upstream.headers" > "$work/events.direct"

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
stop "$GW_PID"
stop "$SIM_PID"

# ---------------------------------------------------------------- 10,000 open streams
log "$STREAMS concurrent slow streams (${STREAM_SECS}s, upstream buffer $UPSTREAM_BUF bytes)"
start_sim
start_gw --upstream-buffer-bytes "$UPSTREAM_BUF" --max-connections $((STREAMS + 1000))
prepare streams openai "$SMALL" 1 "chunks=8 delay_ms=1000"
# One quick stream first, so state created on first use (upstream client, catalog) is in the
# idle figure and the per-stream figure is only what the held streams cost.
prepare streams-warm openai "$SMALL" 1 ""
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
  --data-binary @"$work/streams-warm/client.json" "http://127.0.0.1:$GW_PORT/v1/chat/completions")
[ "$code" = 200 ] || { log "streams warm-up: the gateway answered $code"; exit 1; }
sleep 1
GW_IDLE_KB=$(awk '/^VmRSS/{print $2}' "/proc/$GW_PID/status")
PEAK_STREAMS=0 PEAK_UPSTREAM=0
BENCH_BODY=$work/streams/client.json BENCH_PATH=/v1/chat/completions BENCH_LABEL=streams \
  wrk -t2 -c"$STREAMS" -d"${STREAM_SECS}s" --timeout 30s -s "$LUA" "http://127.0.0.1:$GW_PORT" \
  > "$work/streams.wrk" 2>&1 &
WRK_PID=$!; PIDS+=("$WRK_PID")
while kill -0 "$WRK_PID" 2>/dev/null; do
  sleep 1
  n=$(curl -s -m 10 "http://127.0.0.1:$GW_PORT/metrics" | awk '/^lingma_gateway_inflight_turns /{print $2}' || true)
  u=$(ss -Htn state established "( dport = :$SIM_PORT )" 2>/dev/null | wc -l || true)
  [ -n "$n" ] && [ "$n" -gt "$PEAK_STREAMS" ] && PEAK_STREAMS=$n
  [ "$u" -gt "$PEAK_UPSTREAM" ] && PEAK_UPSTREAM=$u
done
wait "$WRK_PID" || true
STREAM_LINE=$(grep '^RESULT' "$work/streams.wrk" || echo "RESULT requests=0")
GW_HWM_KB=$(awk '/^VmHWM/{print $2}' "/proc/$GW_PID/status")
SIM_HWM_KB=$(awk '/^VmHWM/{print $2}' "/proc/$SIM_PID/status")
METRICS=$(curl -s "http://127.0.0.1:$GW_PORT/metrics")
GW_NON2XX=$(awk '/^lingma_gateway_requests_total\{/ && !/status_class="2xx"/ {s += $2} END {print s + 0}' <<< "$METRICS")
GW_ERR_EVENTS=$(awk '/^lingma_gateway_upstream_attempts_total\{/ && !/outcome="ok"/ {s += $2} END {print s + 0}' <<< "$METRICS")
stop "$GW_PID"
stop "$SIM_PID"

# ---------------------------------------------------------------- report
summary() { # scenario conns → "gw_p50 gw_p99 d_p50 d_p99 add_p50 add_p99 gw_rps d_rps ratio gw_cpu sim_cpu errs"
  local sel="$1 c=$2 "
  local g d
  g=$(grep "^$sel" "$RAW" | grep 'target=gw ')
  d=$(grep "^$sel" "$RAW" | grep 'target=direct ')
  med() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" | median; }
  local gp50 gp99 dp50 dp99 grps drps gcpu scpu
  gp50=$(med p50_us <<< "$g"); gp99=$(med p99_us <<< "$g")
  dp50=$(med p50_us <<< "$d"); dp99=$(med p99_us <<< "$d")
  grps=$(med rps <<< "$g"); drps=$(med rps <<< "$d")
  gcpu=$(med gw_cpu_pct <<< "$g"); scpu=$(med sim_cpu_pct <<< "$g")
  # added latency: per round (gateway − direct), then the median
  local a50 a99
  a50=$(paste <(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<< "$g") <(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<< "$d") | awk '{print $1-$2}' | median)
  a99=$(paste <(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<< "$g") <(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<< "$d") | awk '{print $1-$2}' | median)
  local errs
  errs=$( (echo "$g"; echo "$d") | awk '{for (i=1;i<=NF;i++) if ($i ~ /^err_/) {split($i,kv,"="); s+=kv[2]}} END {print s+0}')
  echo "$gp50 $gp99 $dp50 $dp99 $a50 $a99 $grps $drps $(awk -v a="$grps" -v b="$drps" 'BEGIN{printf "%.0f", (b > 0 ? 100 * a / b : 0)}') $gcpu $scpu $errs"
}

{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores online; $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
  echo "- Kernel $(uname -r); $(curl --version | head -1 | cut -d' ' -f1-2) (curl for the checks; the gateway has its own upstream client), wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
  echo "- Build: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?') + working tree, RelWithDebInfo"
  if [ ${#PIN_GW[@]} -gt 0 ]; then
    echo "- CPU placement: gateway pinned to CPU $GW_CPU, lingma-sim pinned to CPU $SIM_CPU, wrk unpinned (shares both)."
  else
    echo "- CPU placement: nothing pinned; gateway, lingma-sim and wrk (1 thread; 2 in the streams run) share the $(nproc) cores (CPU use per process in the table)."
  fi
  echo "- Load average (1/5/15 min) before: $LOAD_BEFORE, after the latency runs: $LOAD_AFTER (other jobs on the machine show up here)."
  echo "- Open-file limit of the run: $NOFILE"
  echo
  echo "## Method"
  echo
  echo "Each scenario sends one fixed conversation (fixtures in \`$FIX\`) through the gateway, and the"
  echo "same conversation straight to lingma-sim as the signed upstream request the gateway would send"
  echo "(\`bench/upstream_request\`: the gateway's codec → \`lingma_body_build\` → \`cosy_headers\`, re-signed"
  echo "before every measurement). wrk ($LUA) measures full-response latency; ${SECS} s per"
  echo "measurement, $ROUNDS rounds alternating gateway/direct order; figures are medians over rounds."
  echo "Added latency = median over rounds of (gateway − direct) at the same percentile. The upstream"
  echo "reply is the sim's default echo in 4 SSE events. Commands:"
  echo
  echo '```'
  echo "wrk -t1 -c{1,64} -d${SECS}s --timeout 10s -s bench/request.lua http://127.0.0.1:GW      # BENCH_BODY=client.json"
  echo "wrk -t1 -c{1,64} -d${SECS}s --timeout 10s -s bench/request.lua http://127.0.0.1:SIM     # BENCH_BODY=upstream.json BENCH_HEADERS=upstream.headers"
  echo '```'
  echo
  echo "## Latency and throughput"
  echo
  echo "| Scenario | Conc. | Gateway p50 / p99 µs | Direct p50 / p99 µs | Added p50 / p99 µs | Gateway req/s | Direct req/s | Ratio | Gateway CPU % | Sim CPU % (gw run) | Errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name _ <<< "$s"
    for conns in 1 64; do
      read -r gp50 gp99 dp50 dp99 a50 a99 grps drps ratio gcpu scpu errs <<< "$(summary "$name" "$conns")"
      echo "| $name | $conns | $gp50 / $gp99 | $dp50 / $dp99 | **$a50 / $a99** | $grps | $drps | $ratio % | $gcpu | $scpu | $errs |"
    done
  done
  echo
  echo "Direct req/s at concurrency 64 is lingma-sim's own ceiling on this machine (wrk + sim only);"
  echo "\"Sim CPU %\" is the simulator's CPU use during the gateway run: below 100 % means the sim was"
  echo "not the bottleneck."
  echo
  echo "## Upstream event → client write"
  echo
  echo "One OpenAI stream of 10 events 20 ms apart (\`@sim chunks=10 delay_ms=20\`), arrival time of each"
  echo "event at the client, µs after the request was sent (the difference is the gateway's added delay
per event; a coalescing delay would show as growing or 20 ms-sized steps):"
  echo
  echo "| Event | Kind (direct / gateway) | Direct | Gateway | Difference |"
  echo "|---|---|---|---|---|"
  paste "$work/events.direct" "$work/events.gw" |
    awk '{printf "| %d | %s / %s | %d | %d | %+d |\n", NR, $2, $4, $1, $3, $3-$1}'
  echo
  ev_finish=$(awk '$2 == "finish" {print $1; exit}' "$work/events.gw")
  ev_done=$(awk '$2 == "done" {print $1; exit}' "$work/events.direct")
  echo "The sim paces its \`[DONE]\` 20 ms after its finish chunk. The gateway writes its finish chunk"
  echo "when the upstream's \`[DONE]\` arrives, by design (DESIGN D25: a turn ends for the client when"
  echo "the upstream has ended it, so the next turn never overlaps it upstream); measured from the"
  echo "upstream's \`[DONE]\` it went out $((ev_finish - ev_done)) µs later."
    echo
  echo "## $STREAMS concurrent open streams"
  echo
  if [ "$STREAMS" != "$STREAMS_WANTED" ]; then
    echo "**$STREAMS, not $STREAMS_WANTED:** the open-file limit here is $NOFILE (hard, and the container lacks"
    echo "CAP_SYS_RESOURCE to raise it); each stream needs two descriptors in the gateway."
    echo
  fi
  echo "wrk -t2 -c$STREAMS -d${STREAM_SECS}s --timeout 30s through one gateway process; each stream is the small"
  echo "OpenAI chat with \`@sim chunks=8 delay_ms=1000\` (≈ 8 s per stream). Gateway option"
  echo "\`--upstream-buffer-bytes $UPSTREAM_BUF\` (the upstream client's receive buffer, one per process; default 16384)."
  echo
  echo "| Figure | Value |"
  echo "|---|---|"
  echo "| Peak turns in flight (gateway /metrics, sampled 1/s) | $PEAK_STREAMS |"
  echo "| Peak established upstream connections (ss, sampled 1/s) | $PEAK_UPSTREAM |"
  echo "| Gateway RSS idle, before the streams (VmRSS) | $((GW_IDLE_KB / 1024)) MB |"
  echo "| Gateway peak RSS (VmHWM) | $((GW_HWM_KB / 1024)) MB |"
  awk -v peak="$GW_HWM_KB" -v idle="$GW_IDLE_KB" -v n="$PEAK_STREAMS" 'BEGIN {
    if (n <= 0) { print "| RSS per held stream | (no streams seen in flight) |"; exit }
    per = (peak - idle) / n
    printf "| RSS per held stream ((peak − idle) / peak turns in flight) | %.1f KB; idle + 10,000 × that = %.0f MB |\n", per, (idle + 10000 * per) / 1024 }'
  echo "| lingma-sim peak RSS (VmHWM) | $((SIM_HWM_KB / 1024)) MB |"
  echo "| Streams completed (wrk) | $(field requests "$STREAM_LINE") |"
  echo "| wrk errors connect / read / write / status / timeout | $(field err_connect "$STREAM_LINE") / $(field err_read "$STREAM_LINE") / $(field err_write "$STREAM_LINE") / $(field err_status "$STREAM_LINE") / $(field err_timeout "$STREAM_LINE") |"
  echo "| Gateway non-2xx responses / failed upstream attempts | $GW_NON2XX / $GW_ERR_EVENTS |"
  echo
  echo "## Raw wrk results"
  echo
  echo '```'
  cat "$RAW"
  echo "$STREAM_LINE"
  echo '```'
} > "$OUT"
log "wrote $OUT"
cat "$OUT"
