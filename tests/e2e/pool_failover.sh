#!/usr/bin/env bash
# Account failover end to end (lingma-upstream.md §5): a rate-limited account cools down, the
# turn moves to another account before the first byte, the cooled account is probed after its
# cooldown and is ready again; auth failures → needs_login (one retry after re-reading the
# credentials file when it changed); quota → long cooldown; nothing usable → 529 / 503 with
# retry-after. Each failure is scripted on the account the conversation is bound to, so which
# account fails does not depend on pick order.
source "$(dirname "$0")/pool_lib.sh"

pool_start -- --cooldown-base-ms 1000 --cooldown-cap-ms 4000

# bound_conversation NAME: a fresh conversation with turn 1 done; sets ACCT (its account) and SESS.
bound_conversation() {
    local since
    since=$(sim_last_seq)
    conv_new "Failover check: $1."
    conv_user "hello $1"
    turn_ok openai
    local line
    line="$(sim_chats "$since")"
    SESS="$(col 2 "$line")"
    ACCT="$(col 3 "$line")"
    assert_match "$ACCT" '^acct-[abc]$' "$1: turn 1 account"
}

# ---------------------------------------------------------------------------------------------
step "429 on the bound account → the turn succeeds on another account; the first cools"
bound_conversation rate-limit
A=$ACCT
sim_script "${POOL_USER[$A]}" '{"error":"429","times":1}'
since=$(sim_last_seq)
conv_user "second turn"
t_fail=$(now_ms)
turn_ok openai
chats="$(sim_chats "$since")"
assert_eq 2 "$(wc -l <<<"$chats")" "two upstream attempts"
read -r _ _ a1 st1 _ <<<"$(head -1 <<<"$chats")"
read -r _ s2 a2 st2 _ <<<"$(tail -1 <<<"$chats")"
assert_eq "$A 429" "$a1 $st1" "first attempt: the bound account, 429" # (no session logged for an HTTP error)
assert_ne "$A" "$a2" "second attempt on another account"
assert_eq 200 "$st2" "second attempt served"
assert_ne "$SESS" "$s2" "another account means another upstream session"
assert_eq cooling "$(pool_field "$A" state)" "$A state after 429"
until_ms="$(pool_field "$A" cooldown_until_ms)"
((until_ms >= t_fail + 900 && until_ms <= $(now_ms) + 1100)) ||
    fail "cooldown_until_ms $until_ms not ≈ 1 s after the 429 ($t_fail)"
pass
B=$a2

step "the conversation now lives on the new account"
since=$(sim_last_seq)
conv_user "third turn"
turn_ok openai
assert_eq "$s2 $B" "$(sim_chats "$since" | awk '{ print $2, $3 }')" "turn 3: migrated session and account"

step "after its cooldown the account is probed and is ready again"
cooled() { [[ "$(pool_field "$1" cooldown_remaining_ms)" == 0 ]]; }
wait_for 5 "$A cooldown to pass" cooled "$A"
since=$(sim_last_seq)
for i in 1 2 3 4; do
    [[ "$(pool_field "$A" state)" == ready ]] && break
    conv_new "Probe traffic $i."
    conv_user "new conversation $i"
    turn_ok openai
done
assert_eq ready "$(pool_field "$A" state)" "$A ready again"
assert_eq "probe succeeded" "$(pool_field "$A" reason)" "$A reason"
assert_contains "$(sim_chats "$since" | awk '{ print $3, $4 }')" "$A 200" "$A served the probe"

# ---------------------------------------------------------------------------------------------
step "401 on the bound account → needs_login, the turn is served elsewhere"
bound_conversation auth
A=$ACCT
sim_script "${POOL_USER[$A]}" '{"error":"401"}'
since=$(sim_last_seq)
conv_user "second turn"
turn_ok anthropic
chats="$(sim_chats "$since")"
assert_eq "$A 401" "$(head -1 <<<"$chats" | awk '{ print $3, $4 }')" "first attempt: 401 on $A"
assert_eq 1 "$(grep -c " $A " <<<"$chats")" "no second try on $A (credentials unchanged)"
assert_eq 200 "$(tail -1 <<<"$chats" | awk '{ print $4 }')" "served by another account"
assert_eq needs_login "$(pool_field "$A" state)" "$A state after 401"
migrated="$(tail -1 <<<"$chats" | awk '{ print $2, $3 }')"
since=$(sim_last_seq)
conv_user "third turn"
turn_ok openai
assert_eq "$migrated" "$(sim_chats "$since" | awk '{ print $2, $3 }')" "turn 3 continues the migrated session"
sleep 1.2 # needs_login does not heal with time
assert_eq needs_login "$(pool_field "$A" state)" "$A still needs login"
sim_script "${POOL_USER[$A]}" '{}'
pool_reset_account "$A"
assert_eq ready "$(pool_field "$A" state)" "admin reset → ready"

step "login redirect (302 to the HTML login page) → needs_login"
bound_conversation login
A=$ACCT
sim_script "${POOL_USER[$A]}" '{"error":"login","times":1}'
conv_user "second turn"
turn_ok openai
assert_eq needs_login "$(pool_field "$A" state)" "$A state after the login page"
pool_reset_account "$A"

step "401 with fresh credentials on disk → one retry on the same account, which succeeds"
bound_conversation reload
A=$ACCT
write_accounts 1 "$A"
sim_script "${POOL_USER[$A]}" '{"error":"401","times":1}'
since=$(sim_last_seq)
conv_user "second turn"
turn_ok openai
chats="$(sim_chats "$since")"
assert_eq "$A 401
$A 200" "$(awk '{ print $3, $4 }' <<<"$chats")" "401, credentials re-read, retried on $A"
assert_eq ready "$(pool_field "$A" state)" "$A ready after the retry"

step "the same for a new conversation (no affinity): the retry stays on the reloaded account"
write_accounts 2
for n in acct-a acct-b acct-c; do sim_script "${POOL_USER[$n]}" '{"error":"401","times":1}'; done
since=$(sim_last_seq)
conv_new "Reload without affinity."
conv_user "hello"
turn_ok openai
chats="$(sim_chats "$since")"
first="$(head -1 <<<"$chats" | awk '{ print $3 }')"
assert_eq "$first 401
$first 200" "$(awk '{ print $3, $4 }' <<<"$chats")" "401, credentials re-read, retried on $first"
for n in acct-a acct-b acct-c; do sim_script "${POOL_USER[$n]}" '{}'; done
write_accounts

# ---------------------------------------------------------------------------------------------
step "quota exhausted (envelope 403 code 112) → long cooldown"
bound_conversation quota
A=$ACCT
sim_script "${POOL_USER[$A]}" '{"error":"env403_112","times":1}'
conv_user "second turn"
turn_ok openai
assert_eq cooling "$(pool_field "$A" state)" "$A state after quota"
assert_eq "quota exhausted" "$(pool_field "$A" reason)" "$A reason"
left="$(pool_field "$A" cooldown_remaining_ms)"
((left > 3000000)) || fail "quota cooldown only ${left} ms (QUOTA_COOLDOWN_MS default is 1 h)"
pass

# ---------------------------------------------------------------------------------------------
step "every account rate-limited → 529 (Anthropic) / 503 (OpenAI) with retry-after"
for n in acct-a acct-b acct-c; do assert_eq 0 "$(pool_field "$n" inflight)" "$n in flight (first gateway)"; done
gw_stop
# a second gateway with long cooldowns, so that nothing heals while this is checked
pool_start -- --cooldown-base-ms 30000
for n in acct-a acct-b acct-c; do sim_script "${POOL_USER[$n]}" '{"error":"429"}'; done
conv_new "Nobody home."
conv_user "anyone?"
since=$(sim_last_seq)
turn_anthropic
assert_anthropic_error 529 overloaded_error "all cooling (Anthropic)"
ra="$(header retry-after)"
assert_match "$ra" '^[0-9]+$' "retry-after (Anthropic)"
((ra >= 20 && ra <= 31)) || fail "retry-after $ra, expected ≈ 30 s (the earliest cooldown end)"
pass
assert_eq "acct-a acct-b acct-c" "$(sim_chats "$since" | awk '{ print $3 }' | sort | xargs)" "each account tried once"
for n in acct-a acct-b acct-c; do assert_eq cooling "$(pool_field "$n" state)" "$n cooling"; done
since=$(sim_last_seq)
turn_openai
assert_openai_error 503 server_error overloaded "all cooling (OpenAI)"
ra="$(header retry-after)"
((ra >= 20 && ra <= 31)) || fail "retry-after $ra (OpenAI), expected ≈ 30 s"
pass
assert_eq 0 "$(sim_chats "$since" | wc -l)" "nothing sent upstream while every account cools"
http GET /readyz
assert_status 503 "/readyz with no usable account"

step "admin reset brings the accounts back"
for n in acct-a acct-b acct-c; do
    sim_script "${POOL_USER[$n]}" '{}'
    pool_reset_account "$n"
done
http GET /readyz
assert_status 200 "/readyz after the reset"
conv_new "Back again."
conv_user "hello?"
turn_ok openai

step "every path released what it held"
for n in acct-a acct-b acct-c; do assert_eq 0 "$(pool_field "$n" inflight)" "$n in flight"; done
gw_stop
