#!/usr/bin/env bash
# A Lingma / QoderCN desktop login cache (cache/id + cache/user, AES-128-CBC keyed by the machine
# id, spec §1.2.2) built here with openssl: `lingma-gateway import-cache` appends its account to an
# accounts file, LINGMA_CACHE_DIR reads it at start-up and the account serves turns that the
# simulator accepts (it checks the signature made with the imported cosy_key); a wrong machine id
# is a clear error naming the file, not a crash.
source "$(dirname "$0")/pool_lib.sh"

MID="0123456789abcdef-machine-0001" # the AES key and IV are its first 16 bytes
KEY_HEX="$(printf '%s' "${MID:0:16}" | od -An -tx1 | tr -d ' \n')"
COSY_KEY="$(head -c 128 /dev/urandom | base64 -w0)"
EUI="$(head -c 480 /dev/urandom | base64 -w0)"
make_cache() { # DIR MACHINE_ID_FILE_CONTENT
    mkdir -p "$1/cache"
    printf '%s\n' "$2" >"$1/cache/id"
    printf '{"name":"dev@example.com","uid":"4242","aid":"4242","key":"%s","encrypt_user_info":"%s","security_oauth_token":"pt-test","expire_time":0}' \
        "$COSY_KEY" "$EUI" |
        openssl enc -aes-128-cbc -K "$KEY_HEX" -iv "$KEY_HEX" -base64 -A >"$1/cache/user"
}
CACHE="$LGW_TMP/desktop"
make_cache "$CACHE" "$MID"

step "import-cache appends the account"
ACC="$LGW_TMP/imported.json"
out="$("$LGW_BIN" import-cache "$CACHE" --name desk --accounts "$ACC" 2>&1)" || fail "import-cache failed: $out"
assert_contains "$out" 'added account "desk"' "import-cache output"
assert_not_contains "$out" "$COSY_KEY" "no secret on the terminal"
assert_eq 600 "$(stat -c %a "$ACC")" "accounts file mode"
"$PY" - "$ACC" "$COSY_KEY" <<'PY' || fail "the accounts file does not hold the imported account"
import json, sys
a = json.load(open(sys.argv[1]))["accounts"]
assert len(a) == 1 and a[0]["name"] == "desk" and a[0]["user_id"] == "4242"
assert a[0]["cosy_key"] == sys.argv[2] and a[0]["machine_id"].startswith("0123456789abcdef")
PY
pass
out="$("$LGW_BIN" import-cache "$CACHE" --name desk --accounts "$ACC" 2>&1)" || fail "re-import failed: $out"
assert_contains "$out" 'replaced account "desk"' "importing again replaces"

step "LINGMA_CACHE_DIR: the desktop login serves turns"
sim_up
gw_start LINGMA_CACHE_DIR="$CACHE" -- --upstream-url "$SIM_URL" --admin-token "$POOL_ADMIN"
http POST /v1/chat/completions -H 'content-type: application/json' \
    --data-binary '{"model":"kmodel","messages":[{"role":"user","content":"from the desktop login"}]}'
assert_status 200 "a turn on the imported account"
last="$(sim_get /_sim/requests | "$PY" -c '
import json, sys
r = [x for x in json.load(sys.stdin)["requests"] if "agent_chat_generation" in (x.get("path") or "")][-1]
print(r.get("account"), r.get("verified"))')"
assert_eq "4242 True" "$last" "the sim saw a verified request from the imported account"
gw_stop

step "a cache whose machine id does not decrypt it is a clear error"
BAD="$LGW_TMP/bad"
make_cache "$BAD" "$MID"
printf '%s\n' "ffffffffffffffff-other-machine" >"$BAD/cache/id"
out="$("$LGW_BIN" import-cache "$BAD" --accounts "$LGW_TMP/none.json" 2>&1)" && fail "import of a bad cache succeeded"
assert_contains "$out" "cache" "the error names the cache"
[[ ! -e "$LGW_TMP/none.json" ]] || fail "a failed import wrote the accounts file"
pass
