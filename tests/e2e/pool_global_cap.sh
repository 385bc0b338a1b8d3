#!/usr/bin/env bash
# The global in-flight cap (MAX_INFLIGHT) with its bounded queue: a turn over the cap waits and
# is served once a slot frees (its upstream request starts only after the running one ended);
# with no queue it is refused at once; a waiter that outlives INFLIGHT_WAIT_MS is refused.
# Refusals are 529 overloaded_error (Anthropic) / 503 (OpenAI) with retry-after. A turn gives its
# slots back before its last bytes go out, so pipelined turns on one connection never collide.
source "$(dirname "$0")/pool_lib.sh"

SLOW='@sim delay_ms=150 chunks=8' # ≈ 1.2 s of streaming

# start_a: a slow streaming turn in the background, once its upstream request is in flight.
start_a() {
    SINCE=$(sim_last_seq)
    conv_new "Global cap check."
    conv_user "turn A
$SLOW"
    bg_turn a openai 1
    A_PID=$BG_PID
    wait_chats "$SINCE" 1
}

# another conversation: never the same session as A
b_history() {
    conv_new "Another conversation."
    conv_user "turn B"
}

step "MAX_INFLIGHT=1: a second turn queues and is served after the first"
pool_start MAX_INFLIGHT=1
start_a
b_history
turn_ok openai
bg_wait "$A_PID"
assert_eq 200 "$(cat "$LGW_TMP/a.status")" "turn A status"
chats="$(sim_chats "$SINCE")"
assert_eq 2 "$(wc -l <<<"$chats")" "two upstream requests"
read -r _ _ _ _ _ a_closed _ _ <<<"$(head -1 <<<"$chats")"
read -r _ _ _ _ b_start _ _ _ <<<"$(tail -1 <<<"$chats")"
((a_closed > 0)) || fail "turn A's upstream request has no end time"
((b_start >= a_closed)) || fail "turn B started upstream at $b_start, before A ended at $a_closed"
pass
gw_stop

step "MAX_INFLIGHT_QUEUE=0: over the cap is refused at once"
pool_start MAX_INFLIGHT=1 MAX_INFLIGHT_QUEUE=0
start_a
b_history
turn_anthropic
assert_anthropic_error 529 overloaded_error "over the cap, no queue (Anthropic)"
[[ -n "$(header retry-after)" ]] || fail "no retry-after on 529"
pass
turn_openai
assert_status 503 "over the cap, no queue (OpenAI)"
bg_wait "$A_PID"
gw_stop

step "a queued turn that waits longer than INFLIGHT_WAIT_MS is refused"
pool_start MAX_INFLIGHT=1 INFLIGHT_WAIT_MS=300
start_a
b_history
t0=$(now_ms)
turn_anthropic
assert_anthropic_error 529 overloaded_error "queue wait timed out"
elapsed=$(($(now_ms) - t0))
((elapsed >= 250)) || fail "refused after ${elapsed} ms: it did not wait"
pass
bg_wait "$A_PID"
assert_eq 200 "$(cat "$LGW_TMP/a.status")" "turn A status"
gw_stop

step "pipelined turns on one connection under MAX_INFLIGHT=1 and no queue are all served"
pool_start MAX_INFLIGHT=1 MAX_INFLIGHT_QUEUE=0
pipe=""
for i in 1 2 3; do
    b="{\"model\":\"kmodel\",\"messages\":[{\"role\":\"user\",\"content\":\"pipelined $i\"}]}"
    close=""
    [[ $i == 3 ]] && close=$'Connection: close\r\n'
    pipe+="POST /v1/chat/completions HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"Content-Type: application/json"$'\r\n'"$close""Content-Length: ${#b}"$'\r\n\r\n'"$b"
done
out="$(raw --send "$pipe")"
assert_json "$out" responses.length 3 "three responses"
for i in 0 1 2; do
    assert_json "$out" "responses.$i.status" 200 "pipelined turn $((i + 1))"
done
gw_stop
