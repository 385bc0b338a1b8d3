#!/usr/bin/env bash
# Two concurrent turns on one conversation (one upstream session), under each INFLIGHT_POLICY:
# fork → two sessions; reject → 429 in the caller's envelope; wait → serialised on the same
# session (B's upstream request starts only after A's ended, per the sim's timestamps).
source "$(dirname "$0")/pool_lib.sh"

SLOW='@sim delay_ms=150 chunks=8' # ≈ 1.2 s of streaming

# setup_conversation: turn 1 done; $CONV ends with the assistant reply; sets S1.
setup_conversation() {
    local since
    since=$(sim_last_seq)
    conv_new "Concurrency check ($1)."
    conv_user "turn one"
    turn_ok openai
    S1="$(col 2 "$(sim_chats "$since")")"
    BASE="$CONV"
}

# start_a: turn A (slow, streaming) in the background; returns once its upstream request is
# in flight. Sets A_PID and SINCE (log position before A).
start_a() {
    SINCE=$(sim_last_seq)
    CONV="$BASE"
    conv_user "turn two A
$SLOW"
    bg_turn a openai 1
    A_PID=$BG_PID
    wait_chats "$SINCE" 1
}

# turn B: the same conversation, another second turn
b_history() {
    CONV="$BASE"
    conv_user "turn two B"
}

# ---------------------------------------------------------------------------------------------
step "INFLIGHT_POLICY=fork: a concurrent turn gets its own session"
pool_start INFLIGHT_POLICY=fork
setup_conversation fork
start_a
b_history
turn_ok openai
bg_wait "$A_PID"
assert_eq 200 "$(cat "$LGW_TMP/a.status")" "turn A status"
assert_contains "$(cat "$LGW_TMP/a.body")" '[DONE]' "turn A streamed to the end"
chats="$(sim_chats "$SINCE")"
assert_eq 2 "$(wc -l <<<"$chats")" "two upstream requests"
sa="$(col 2 "$chats" | head -1)"
sb="$(col 2 "$chats" | tail -1)"
assert_eq "$S1" "$sa" "turn A continues the conversation's session"
assert_ne "$sa" "$sb" "turn B runs in a different (forked) session"
gw_stop

# ---------------------------------------------------------------------------------------------
step "INFLIGHT_POLICY=reject: a concurrent turn gets 429 in its own envelope"
pool_start INFLIGHT_POLICY=reject
setup_conversation reject
start_a
b_history
turn_openai
assert_openai_error 429 requests rate_limit_exceeded "reject (OpenAI)"
assert_match "$(header retry-after)" '^[0-9]+$' "retry-after on the 429"
turn_anthropic
assert_anthropic_error 429 rate_limit_error "reject (Anthropic)"
bg_wait "$A_PID"
assert_eq 200 "$(cat "$LGW_TMP/a.status")" "turn A unaffected"
chats="$(sim_chats "$SINCE")"
assert_eq 1 "$(wc -l <<<"$chats")" "rejected turns never reached the upstream"
step "reject: once A has ended, the next turn on the conversation is served"
CONV="$BASE"
conv_user "turn two A
$SLOW"
conv_assistant "$("$PY" -c '
import json, sys
# the streamed reply text of turn A, from its SSE body
out = []
for line in open(sys.argv[1]):
    if line.startswith("data:") and "[DONE]" not in line:
        for c in json.loads(line[5:]).get("choices", []):
            out.append((c.get("delta") or {}).get("content") or "")
print("".join(out))' "$LGW_TMP/a.body")"
conv_user "turn three"
since=$(sim_last_seq)
turn_ok openai
assert_eq "$S1" "$(col 2 "$(sim_chats "$since")")" "turn three continues the same session"
gw_stop

# ---------------------------------------------------------------------------------------------
step "INFLIGHT_POLICY=wait: the concurrent turn waits for the session, then uses it"
pool_start INFLIGHT_POLICY=wait INFLIGHT_WAIT_MS=10000
setup_conversation wait
start_a
b_history
turn_ok openai
bg_wait "$A_PID"
assert_eq 200 "$(cat "$LGW_TMP/a.status")" "turn A status"
chats="$(sim_chats "$SINCE")"
assert_eq 2 "$(wc -l <<<"$chats")" "two upstream requests"
a_line="$(head -1 <<<"$chats")"
b_line="$(tail -1 <<<"$chats")"
read -r _ sa _ _ _ a_closed _ _ <<<"$a_line"
read -r _ sb _ _ b_start _ _ _ <<<"$b_line"
assert_eq "$S1" "$sa" "turn A on the conversation's session"
assert_eq "$sa" "$sb" "turn B waited for the same session"
((a_closed > 0)) || fail "turn A's upstream request has no end time: $a_line"
((b_start >= a_closed)) || fail "turn B started upstream at $b_start, before A ended at $a_closed"
pass

step "wait: a turn that waits longer than INFLIGHT_WAIT_MS gets 429"
gw_stop
pool_start INFLIGHT_POLICY=wait INFLIGHT_WAIT_MS=300
setup_conversation wait-timeout
start_a
b_history
t0=$(now_ms)
turn_anthropic
assert_anthropic_error 429 rate_limit_error "wait timed out"
elapsed=$(($(now_ms) - t0))
((elapsed >= 250)) || fail "429 after ${elapsed} ms: it did not wait"
pass
bg_wait "$A_PID"
assert_eq 200 "$(cat "$LGW_TMP/a.status")" "turn A status"
gw_stop
