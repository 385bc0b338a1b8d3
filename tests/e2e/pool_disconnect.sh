#!/usr/bin/env bash
# A client that disconnects mid-stream releases everything its turn held: the upstream request
# is cancelled, the account's in-flight count drops, and — under INFLIGHT_POLICY=reject — the
# session's slot is free again, so a follow-up turn of the same conversation is not rejected.
source "$(dirname "$0")/pool_lib.sh"

pool_start INFLIGHT_POLICY=reject METRICS_PUBLIC=true
SLOW='@sim delay_ms=200 chunks=60' # ≈ 12 s of streaming unless cancelled

for proto in openai anthropic; do
    step "$proto: turn 1, then a slow streaming turn 2 whose client goes away"
    since=$(sim_last_seq)
    conv_new "Disconnect check ($proto)."
    conv_user "turn one"
    turn_ok "$proto"
    S1="$(col 2 "$(sim_chats "$since")")"
    acct="$(col 3 "$(sim_chats "$since")")"
    BASE="$CONV"
    conv_user "turn two
$SLOW"
    since=$(sim_last_seq)
    bg_turn slow "$proto" 1
    slow_pid=$BG_PID
    wait_chats "$since" 1
    got_bytes() { [[ -s "$LGW_TMP/slow.body" ]]; }
    wait_for 10 "the first streamed bytes" got_bytes
    assert_eq 1 "$(pool_field "$acct" inflight)" "$acct has the turn in flight"

    step "$proto: while it streams, the conversation is busy (reject policy)"
    CONV="$BASE"
    conv_user "turn two, again"
    "turn_$proto"
    assert_status 429 "concurrent turn rejected while the stream is alive"

    step "$proto: kill the client; the upstream request is cancelled and the slot released"
    kill -TERM "$slow_pid" 2>/dev/null || true
    bg_wait "$slow_pid"
    upstream_closed() { [[ "$(sim_chats "$since" | head -1 | awk '{ print $7 }')" == true ]]; }
    wait_for 5 "the sim to see the upstream request closed by the gateway" upstream_closed
    line="$(sim_chats "$since" | head -1)"
    assert_eq "$S1 false" "$(awk '{ print $2, $8 }' <<<"$line")" "cancelled turn: same session, not finished"
    idle() { [[ "$(pool_field "$acct" inflight)" == 0 ]]; }
    wait_for 5 "$acct in-flight count back to 0" idle

    step "$proto: the follow-up turn of the same conversation is served on the same session"
    since=$(sim_last_seq)
    CONV="$BASE"
    conv_user "turn two, after the disconnect"
    turn_ok "$proto"
    assert_eq "$S1 $acct" "$(sim_chats "$since" | awk '{ print $2, $3 }')" "follow-up: same session and account"
done

step "the disconnects were counted"
http GET /metrics
assert_status 200 "/metrics"
assert_match "$BODY" 'lingma_gateway_client_disconnects_total [2-9]' "disconnects counted"
gw_stop
