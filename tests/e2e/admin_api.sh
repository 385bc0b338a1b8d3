#!/usr/bin/env bash
# /internal/*: the gate (ADMIN_TOKEN, else any API key, else 503) and every endpoint — pool,
# reset, reload, accounts (credentials, OAuth token → minted, cache directory), delete, sessions,
# stats, config — with no secret in any response.
source "$(dirname "$0")/pool_lib.sh"

adm() { # adm METHOD PATH [curl args...]
    local m=$1 p=$2
    shift 2
    http "$m" "/internal/$p" -H "Authorization: Bearer $POOL_ADMIN" "$@"
}
post_json() { adm POST "$1" -H 'content-type: application/json' --data-binary "$2"; }
names() { json_get "$BODY" accounts | python3 -c 'import json,sys; print(" ".join(a["name"] for a in json.load(sys.stdin)))'; }
rand64() { head -c "$1" /dev/urandom | base64 -w0; }

# ---------------------------------------------------------------------------------------------
step "gate: nothing configured → 503 admin_disabled on every endpoint"
gw_start
for ep in "GET pool" "POST pool/reload" "POST accounts" "DELETE accounts/x" "POST login/start" \
    "GET sessions" "GET sessions/export" "POST sessions/import" "GET stats" "GET config"; do
    http ${ep% *} "/internal/${ep#* }" -H "Authorization: Bearer whatever"
    assert_openai_error 503 server_error admin_disabled "$ep unconfigured"
done
gw_stop

step "gate: API keys only → any API key; ADMIN_TOKEN set → only the admin token"
gw_start API_KEYS=k1,k2
http GET /internal/stats -H "Authorization: Bearer k2"
assert_status 200 "an API key opens /internal"
http GET /internal/stats
assert_status 401 "no key"
http GET /internal/stats -H "Authorization: Bearer nope"
assert_openai_error 401 invalid_request_error invalid_api_key "wrong key"
gw_stop
pool_start -- --api-keys k1 --state "$LGW_TMP/state.db"
http GET /internal/pool -H "Authorization: Bearer k1"
assert_status 401 "an API key is not the admin token"
adm GET pool
assert_status 200 "admin token"
assert_eq "acct-a acct-b acct-c" "$(names)" "three accounts"
assert_not_contains "$BODY" "cosy-key" "no cosy_key in /internal/pool"
assert_not_contains "$BODY" "eui-" "no encrypt_user_info in /internal/pool"
adm GET nope
assert_status 404 "unknown endpoint"
adm DELETE pool
assert_status 405 "wrong method"
assert_eq GET "$(header allow)" "Allow header"

step "POST pool/{name}/reset"
sim_script 2001 '{"error":"429","times":1}'
conv_new "reset"
conv_user "hello"
turn_ok openai k1
assert_eq cooling "$(pool_field acct-a state)" "acct-a cooling"
adm POST pool/acct-a/reset
assert_status 200 "reset"
assert_eq ready "$(pool_field acct-a state)" "acct-a ready again"
adm POST pool/nobody/reset
assert_openai_error 404 invalid_request_error account_not_found "reset of an unknown account"

step "POST accounts: credentials → 201, written to the accounts file; same name → 200 replaced"
post_json accounts '{"name":"acct-d","user_id":"2004","machine_id":"machine-acct-d-0001","cosy_key":"cosy-key-d-secret","encrypt_user_info":"eui-d-secret"}'
assert_status 201 "added"
assert_json "$BODY" account.name acct-d "account name"
assert_json "$BODY" account.state ready "ready"
assert_json "$BODY" persisted true "persisted"
assert_not_contains "$BODY" "secret" "no secret echoed"
assert_file_contains "$POOL_ACCOUNTS" '"acct-d"' "in the accounts file"
post_json accounts '{"name":"acct-d","user_id":"2004","machine_id":"machine-acct-d-0001","cosy_key":"cosy-key-d-2","encrypt_user_info":"eui-d-2"}'
assert_status 200 "replaced"
assert_json "$BODY" replaced true "replaced"
post_json accounts '{"name":"bad name","user_id":"1"}'
assert_openai_error 400 invalid_request_error invalid_account "invalid account"
post_json accounts 'not json'
assert_status 400 "not JSON"

step "POST accounts: an OAuth token → credentials minted (§3.3), machine id generated"
post_json accounts '{"user_id":"2005","oauth_token":"pt-oauth-secret-token","refresh_token":"rt-refresh-secret"}'
assert_status 201 "minted account added"
assert_json "$BODY" account.name 2005 "named after the user id"
assert_json "$BODY" account.minted true "minted"
assert_not_contains "$BODY" "secret" "no token echoed"
minted="$(python3 -c '
import json, sys
a = [x for x in json.load(open(sys.argv[1]))["accounts"] if x["name"] == "2005"][0]
print(len(a["cosy_key"]), len(a["machine_id"]), a["oauth_token"])' "$POOL_ACCOUNTS")"
assert_eq "172 36 pt-oauth-secret-token" "$minted" "file: 172-char cosy_key, UUID machine id, token kept"

step "POST accounts: a desktop login cache directory (§3.1)"
mid="cache-machine-id-0123456789"
mkdir -p "$LGW_TMP/lingma/cache"
printf '%s\n' "$mid" >"$LGW_TMP/lingma/cache/id"
keyhex="$(printf '%s' "${mid:0:16}" | od -An -tx1 | tr -d ' \n')"
printf '{"name":"cache-user","uid":"2006","key":"%s","encrypt_user_info":"%s","security_oauth_token":"pt-c"}' \
    "$(rand64 128)" "$(rand64 200)" |
    openssl enc -aes-128-cbc -K "$keyhex" -iv "$keyhex" -base64 -A >"$LGW_TMP/lingma/cache/user"
post_json accounts "{\"cache_dir\":\"$LGW_TMP/lingma\"}"
assert_status 201 "imported"
assert_json "$BODY" account.name cache-user "named from the cache"
post_json accounts "{\"cache_dir\":\"$LGW_TMP/nowhere\"}"
assert_status 400 "missing cache dir"

step "the added accounts serve turns (sim sees their user ids)"
for n in acct-a acct-b acct-c acct-d cache-user; do adm DELETE "accounts/$n" >/dev/null; done
adm GET pool
assert_eq "2005" "$(names)" "only the minted account is left"
since=$(sim_last_seq)
conv_new "minted"
conv_user "via a minted credential"
turn_ok openai k1
assert_eq 2005 "$(col 3 "$(sim_chats "$since")")" "the sim saw Cosy-User 2005"

step "DELETE accounts/{name}: gone from the pool and the file; twice → 404"
adm DELETE accounts/2005
assert_status 200 "deleted"
assert_json "$BODY" removed 2005 "removed name"
assert_json "$BODY" persisted true "removed from the file"
assert_file_not_contains "$POOL_ACCOUNTS" '"2005"' "not in the file"
adm DELETE accounts/2005
assert_openai_error 404 invalid_request_error account_not_found "second delete"
http POST /v1/chat/completions -H "Authorization: Bearer k1" -H 'content-type: application/json' \
    --data-binary '{"model":"kmodel","messages":[{"role":"user","content":"anyone?"}]}'
assert_ne 200 "$STATUS" "no account left to serve"

step "POST pool/reload: the pool becomes the accounts file again"
write_accounts
adm POST pool/reload
assert_status 200 "reload"
assert_json "$BODY" added 3 "three back (acct-a, acct-b, acct-c)"
assert_eq "acct-a acct-b acct-c" "$(names)" "pool after reload"
write_accounts 1 acct-b
adm POST pool/reload
assert_json "$BODY" updated 1 "acct-b's new credentials"
assert_json "$BODY" unchanged 2 "the others unchanged"
echo '{"accounts":[' >"$POOL_ACCOUNTS" # unreadable file: nothing changes
adm POST pool/reload
assert_status 422 "unreadable accounts file"
write_accounts
adm GET pool
assert_eq "acct-a acct-b acct-c" "$(names)" "pool untouched by the failed reload"

step "GET sessions, GET stats, GET config"
adm GET sessions
assert_status 200 "sessions"
assert_json "$BODY" count 2 "two conversations recorded"
assert_json "$BODY" recent.0.account 2005 "newest first"
adm GET "sessions?limit=1"
assert_eq 1 "$(json_get "$BODY" recent | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "limit"
adm GET stats
assert_status 200 "stats"
assert_json "$BODY" accounts.total 3 "accounts in stats"
assert_json "$BODY" counters.lingma_gateway_requests_total.total 3 "request counters"
assert_json "$BODY" state_store.errors 0 "state store healthy"
adm GET config
assert_status 200 "config"
assert_json "$BODY" ADMIN_TOKEN "<redacted>" "admin token redacted"
assert_json "$BODY" API_KEYS "<redacted>" "api keys redacted"
assert_json "$BODY" STATE_DB "$LGW_TMP/state.db" "state path in the config"
assert_not_contains "$BODY" "$POOL_ADMIN" "no admin token in config"
gw_stop
assert_file_not_contains "$GW_LOG" "secret" "no secret in the log"
