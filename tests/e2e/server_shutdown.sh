#!/usr/bin/env bash
# Graceful shutdown with a slow request in flight (the upstream is lingma-sim, slowed by a
# directive): SIGTERM stops accepting at once, the in-flight response still completes, then the
# process exits 0. A request that outlives DRAIN_TIMEOUT_MS is cut and the process still exits.
source "$(dirname "${BASH_SOURCE[0]}")/pool_lib.sh"

# slow_turn OUT DELAY_MS: a non-streaming chat turn in the background whose upstream answer
# starts after DELAY_MS; writes "STATUS BODY" to OUT. Sets SLOW_PID.
slow_turn() {
    local out=$1 delay=$2
    local body
    body="$(printf '{"model":"gpt-4o","messages":[{"role":"user","content":"@sim first_byte_delay_ms=%s\\nslow hello"}]}' "$delay")"
    curl -sS --max-time 30 -o "$out.body" -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary "$body" "$GW_URL/v1/chat/completions" >"$out.status" 2>"$out.err" &
    SLOW_PID=$!
    LGW_PIDS+=("$SLOW_PID")
}

# inflight_upstream: the sim has a chat request that has not finished yet
inflight_upstream() { sim_chats | awk '$8 == "false" { found = 1 } END { exit !found }'; }

step "SIGTERM while a slow request is in flight: it completes, new connections are refused"
pool_start -- --drain-timeout-ms 20000
http POST /v1/chat/completions -H 'content-type: application/json' \
    --data-binary '{"model":"gpt-4o","messages":[{"role":"user","content":"warm up"}]}'
assert_status 200 "a normal turn through the sim"
slow_turn slow 2500
wait_for 15 "the slow request to reach the sim" inflight_upstream
kill -TERM "$GW_PID"
# the listener closes at once, while the slow response is still pending
refused() { ! curl -sS --max-time 2 -o /dev/null "$GW_URL/health" 2>/dev/null; }
wait_for 5 "new connections to be refused after SIGTERM" refused
gw_alive || fail "the gateway exited before the in-flight response was sent"
pass
wait "$SLOW_PID" || fail "slow request failed: $(cat slow.err)"
assert_eq 200 "$(cat slow.status)" "the in-flight request's status"
assert_contains "$(cat slow.body)" "echo: slow hello" "the in-flight request's answer"
gw_wait_exit 15
assert_eq 0 "$GW_EXIT" "exit status after draining"

step "a request that outlives the drain timeout is cut, the process still exits 0"
pool_start -- --drain-timeout-ms 500
slow_turn cut 20000
wait_for 15 "the slow request to reach the sim" inflight_upstream
t0=$SECONDS
kill -TERM "$GW_PID"
gw_wait_exit 15
assert_eq 0 "$GW_EXIT" "exit status after the drain timeout"
((SECONDS - t0 <= 10)) || fail "exit took $((SECONDS - t0)) s with a 0.5 s drain timeout"
pass
wait "$SLOW_PID" || true
assert_ne 200 "$(cat cut.status)" "the cut request did not get a complete 200"
