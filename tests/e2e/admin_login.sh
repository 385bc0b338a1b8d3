#!/usr/bin/env bash
# Auto-login (lingma-upstream.md §3.2) end to end against the sim: POST /internal/login/start
# gives the login URL (state, PKCE challenge, machine id, nonce); the sim's /lingma/login plays
# the browser's trip and redirects to the 127.0.0.1:37510 callback with Encode=1 auth/token;
# POST /internal/login/callback with that URL mints credentials (§3.3) and adds the account,
# which then serves turns with the login's machine id.
source "$(dirname "$0")/pool_lib.sh"

adm() {
    local m=$1 p=$2
    shift 2
    http "$m" "/internal/$p" -H "Authorization: Bearer $POOL_ADMIN" "$@"
}
callback() { # callback URL [NAME]
    local body
    body="$(python3 -c 'import json,sys; d={"callback_url":sys.argv[1]}
if len(sys.argv) > 2: d["name"]=sys.argv[2]
print(json.dumps(d))' "$@")"
    adm POST login/callback -H 'content-type: application/json' --data-binary "$body"
}
browser() { # browser LOGIN_URL: the URL the browser ends on
    curl -sS --max-time 5 -o /dev/null -w '%{redirect_url}' "$1" || fail "GET $1"
}

sim_up
pool_start -- --api-keys k1 --login-url "$SIM_URL/lingma/login" --state "$LGW_TMP/state.db"

step "POST login/start: state, PKCE challenge, machine id, nonce; login and browser URLs"
adm POST login/start
assert_status 200 "login start"
STATE="$(json_get "$BODY" state)"
MID="$(json_get "$BODY" machine_id)"
LOGIN_URL="$(json_get "$BODY" login_url)"
assert_match "$STATE" '^2-[0-9a-f]{32}$' "state (V2 callback)"
assert_match "$MID" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "machine id is a UUIDv4"
assert_match "$(json_get "$BODY" nonce)" '^[0-9a-f]{32}$' "nonce"
assert_match "$(json_get "$BODY" challenge)" '^[A-Za-z0-9_-]{43}$' "S256 challenge (base64url, no padding)"
assert_json "$BODY" challenge_method S256 "challenge method"
assert_contains "$LOGIN_URL" "$SIM_URL/lingma/login?state=$STATE&challenge=" "login URL"
assert_contains "$LOGIN_URL" "&challenge_method=S256&machine_id=$MID&nonce=" "login URL parameters"
assert_contains "$LOGIN_URL" "&port=37510" "callback port"
assert_contains "$(json_get "$BODY" browser_url)" \
    "https://account.alibabacloud.com/login/login.htm?oauth_callback=http%3A%2F%2F127.0.0.1%3A" "browser URL wraps the login URL"

step "the browser's trip ends on the callback URL; pasting it adds a minted account"
CB="$(browser "$LOGIN_URL&uid=2010&name=operator")"
assert_match "$CB" "^http://127\\.0\\.0\\.1:37510/auth/callback\\?state=$STATE&auth=[^&]+&token=[^&]+$" "callback URL"
callback "$CB"
assert_status 201 "callback accepted"
assert_json "$BODY" account.name operator "named after the login"
assert_json "$BODY" account.minted true "credentials minted"
assert_json "$BODY" account.state ready "ready"
assert_json "$BODY" persisted true "written to the accounts file"
assert_not_contains "$BODY" "pt-" "no token in the response"
saved="$(python3 -c '
import json, sys
a = [x for x in json.load(open(sys.argv[1]))["accounts"] if x["name"] == "operator"][0]
print(a["user_id"], a["machine_id"], a["oauth_token"][:3], a["refresh_token"][:3], len(a["cosy_key"]), a["expire_time"] > 0)' "$POOL_ACCOUNTS")"
assert_eq "2010 $MID pt- rt- 172 True" "$saved" "the file has the minted credentials of the login"

step "a callback is good once; unknown or malformed ones are refused"
callback "$CB"
assert_openai_error 400 invalid_request_error login_expired "replayed callback"
callback "http://127.0.0.1:37510/auth/callback?state=2-00000000000000000000000000000000&auth=x&token=y"
assert_openai_error 400 invalid_request_error login_expired "unknown state"
adm POST login/start
S2="$(json_get "$BODY" state)"
callback "http://127.0.0.1:37510/auth/callback?state=$S2"
assert_openai_error 400 invalid_request_error invalid_callback "no auth/token"
callback "http://127.0.0.1:37510/auth/callback?state=$S2&auth=%00%01&token=%02"
assert_openai_error 400 invalid_request_error invalid_callback "undecodable auth/token"
adm POST login/callback -H 'content-type: application/json' --data-binary '{}'
assert_openai_error 400 invalid_request_error invalid_request "no callback_url"

step "a login started with a name; the callback's own name would be an invalid account name"
adm POST login/start -H 'content-type: application/json' --data-binary '{"name":"named-login"}'
L3="$(json_get "$BODY" login_url)"
callback "$(browser "$L3&uid=2011&name=has%20space")"
assert_status 201 "named login"
assert_json "$BODY" account.name named-login "the name given at start"

step "the new account serves turns with the login's machine id"
for n in acct-a acct-b acct-c named-login; do adm DELETE "accounts/$n" >/dev/null; done
since=$(sim_last_seq)
conv_new "logged in"
conv_user "hello from the operator"
turn_ok openai k1
got="$(sim_get "/_sim/requests?since=$since" | python3 -c '
import json, sys
r = [x for x in json.load(sys.stdin)["requests"] if "agent_chat_generation" in x["path"]][-1]
print(r["account"], r["machine_id"], str(r["verified"]).lower())')"
assert_eq "2010 $MID true" "$got" "sim: user 2010, the login's machine id, signature verified"

step "after a restart the account is still there (accounts file)"
gw_stop
pool_start -- --api-keys k1 --login-url "$SIM_URL/lingma/login" --state "$LGW_TMP/state.db"
assert_eq ready "$(pool_field operator state)" "operator loaded at start-up"
gw_stop
assert_file_not_contains "$GW_LOG" "pt-" "no OAuth token in the log"
