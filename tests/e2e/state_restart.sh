#!/usr/bin/env bash
# Durable state across a graceful restart (SIGTERM): a conversation continues on its upstream
# session, a cooling account is still cooling until the same time, counters continue.
# Ground truth for sessions: the sim's request log.
source "$(dirname "$0")/pool_lib.sh"

STATE="$LGW_TMP/state/lgw.db" # a missing directory is created
OK_SERIES='lingma_gateway_requests_total{protocol="openai",route="chat_completions",status_class="2xx"}'
start() { pool_start COOLDOWN_BASE_MS=60000 -- --api-keys k1 --state "$STATE" --state-flush-ms 250; }
metric() {
    curl -sS --max-time 5 -H "Authorization: Bearer k1" "$GW_URL/metrics" |
        awk -v s="$1" '$1 == s { print $2 }'
}

# ---------------------------------------------------------------------------------------------
step "gateway 1: a conversation on acct-a; acct-b rate limited → cooling for 60 s"
start
since=$(sim_last_seq)
conv_new "durable state"
conv_user "turn one"
turn_ok openai k1
chats="$(sim_chats "$since")"
S1="$(col 2 "$chats" | tail -1)"
assert_eq acct-a "$(col 3 "$chats" | tail -1)" "conversation A on acct-a"
CONV_A="$CONV"

sim_script 2002 '{"error":"429","times":1}'
conv_new "another conversation"
conv_user "this one meets a rate limit first"
turn_ok openai k1
assert_eq cooling "$(pool_field acct-b state)" "acct-b cooling after its 429"
COOL_UNTIL="$(pool_field acct-b cooldown_until_ms)"
assert_match "$COOL_UNTIL" '^[0-9]{13}$' "cooldown end"
assert_eq 2 "$(metric "$OK_SERIES")" "two successful requests counted"
[[ -s "$STATE" ]] || fail "no state file at $STATE"

# ---------------------------------------------------------------------------------------------
step "restart (SIGTERM): state saved at shutdown, loaded before serving"
gw_stop
assert_file_contains "$GW_LOG" '"state saved"' "final flush logged"
start
assert_file_contains "$GW_LOG" '"state loaded"' "load logged"
assert_eq cooling "$(pool_field acct-b state)" "acct-b still cooling after the restart"
assert_eq "$COOL_UNTIL" "$(pool_field acct-b cooldown_until_ms)" "same cooldown end"
assert_eq "rate limited" "$(pool_field acct-b reason)" "same reason"
assert_eq ready "$(pool_field acct-a state)" "acct-a ready"
assert_eq 2 "$(metric "$OK_SERIES")" "counter continues from 2"

step "turn 2 of conversation A → the same upstream session and account"
since=$(sim_last_seq)
CONV="$CONV_A"
conv_user "turn two, after the restart"
turn_ok openai k1
chats="$(sim_chats "$since")"
assert_eq "$S1" "$(col 2 "$chats" | tail -1)" "session continues across the restart"
assert_eq acct-a "$(col 3 "$chats" | tail -1)" "same account"
assert_eq 1 "$(metric 'lingma_gateway_affinity_total{result="hit"}')" "an affinity hit"
assert_eq 3 "$(metric "$OK_SERIES")" "counter moved on to 3"

step "/internal/stats reports the store"
http GET /internal/stats -H "Authorization: Bearer $POOL_ADMIN"
assert_status 200 "stats"
assert_json "$BODY" state_store.errors 0 "no write errors"
assert_json "$BODY" state_store.path "$STATE" "store path"
gw_stop
