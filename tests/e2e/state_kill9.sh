#!/usr/bin/env bash
# Durable state after kill -9: writes are batched every STATE_FLUSH_MS (250 ms here), so what
# happened more than about a second before the crash survives it — sessions, a cooldown,
# counters — and the store reopens cleanly (WAL recovery).
source "$(dirname "$0")/pool_lib.sh"

STATE="$LGW_TMP/lgw.db"
OK_SERIES='lingma_gateway_requests_total{protocol="openai",route="chat_completions",status_class="2xx"}'
start() { pool_start COOLDOWN_BASE_MS=60000 -- --api-keys k1 --state "$STATE" --state-flush-ms 250; }
kill9() {
    kill -KILL "$GW_PID"
    wait "$GW_PID" 2>/dev/null || true
}
metric() {
    curl -sS --max-time 5 -H "Authorization: Bearer k1" "$GW_URL/metrics" |
        awk -v s="$1" '$1 == s { print $2 }'
}

step "gateway 1: two conversations, acct-b cooling; then kill -9 one second later"
start
since=$(sim_last_seq)
conv_new "crash test A"
conv_user "A one"
turn_ok openai k1
CONV_A="$CONV"
sim_script 2002 '{"error":"429","times":1}'
conv_new "crash test B"
conv_user "B one"
turn_ok anthropic k1
CONV_B="$CONV"
chats="$(sim_chats "$since")"
SA="$(col 2 "$chats" | head -1)"
SB="$(col 2 "$chats" | tail -1)"
assert_ne "$SA" "$SB" "two sessions"
assert_eq cooling "$(pool_field acct-b state)" "acct-b cooling"
COOL_UNTIL="$(pool_field acct-b cooldown_until_ms)"
sleep 1
kill9
assert_file_not_contains "$GW_LOG" '"state saved"' "no graceful save happened"

step "gateway 2 after the crash: sessions, cooldown and counters are back"
start
assert_eq cooling "$(pool_field acct-b state)" "acct-b still cooling after kill -9"
assert_eq "$COOL_UNTIL" "$(pool_field acct-b cooldown_until_ms)" "same cooldown end"
assert_eq 1 "$(metric "$OK_SERIES")" "the openai request is still counted"
since=$(sim_last_seq)
CONV="$CONV_A"
conv_user "A two"
turn_ok openai k1
CONV_A="$CONV"
CONV="$CONV_B"
conv_user "B two"
turn_ok anthropic k1
chats="$(sim_chats "$since")"
assert_eq "$SA" "$(col 2 "$chats" | head -1)" "conversation A continues on its session"
assert_eq "$SB" "$(col 2 "$chats" | tail -1)" "conversation B continues on its session"

step "a second crash one second after a turn: that turn survives too"
sleep 1
kill9
start
since=$(sim_last_seq)
CONV="$CONV_A"
conv_user "A three"
turn_ok openai k1
assert_eq "$SA" "$(col 2 "$(sim_chats "$since")" | tail -1)" "still the same session"
gw_stop
