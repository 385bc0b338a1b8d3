#!/usr/bin/env bash
# Helpers for the account-pool / affinity / in-flight end-to-end tests (tests/e2e/pool_*.sh):
# the gateway in front of lingma-sim with three accounts, conversations built turn by turn,
# and the sim's request log as the ground truth of what reached the upstream.
#
#   source "$(dirname "$0")/pool_lib.sh"
#   pool_start [NAME=VALUE ...] [-- FLAG ...]  sim (once) + gateway with 3 accounts, ADMIN_TOKEN,
#                                              no durable state
#   conv_new SYSTEM / conv_user TEXT / conv_assistant TEXT   history in $CONV (OpenAI messages)
#   turn_openai [KEY] / turn_anthropic [KEY]   POST the history; reply text in $REPLY
#   sim_chats [SINCE]                          "seq session account status time closed" lines
#   sim_script USER_ID JSON                    per-account behaviour (POST /_sim/accounts/...)
#   pool_field NAME FIELD                      a field of an account in GET /internal/pool
#
# Accounts: acct-a (Cosy-User 2001), acct-b (2002), acct-c (2003).
# Run directly, it checks its own helpers against a live sim + gateway.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${LGW_SIM:?LGW_SIM must point at the lingma-sim binary}"
[[ "$LGW_SIM" = /* ]] || LGW_SIM="$OLDPWD/$LGW_SIM" # lib.sh has cd-ed into its temp dir

POOL_ADMIN=pool-admin-token
# the system interpreter: a version-manager shim (pyenv) costs ~0.5 s per call
PY="$(command -v /usr/bin/python3 || command -v python3)"
SIM_URL=
POOL_ACCOUNTS="$LGW_TMP/accounts.json"
declare -A POOL_USER=([acct-a]=2001 [acct-b]=2002 [acct-c]=2003)
declare -A POOL_NAME=([2001]=acct-a [2002]=acct-b [2003]=acct-c)

# ---------------------------------------------------------------- processes

sim_up() {
    [[ -n "$SIM_URL" ]] && return 0
    local out="$LGW_TMP/sim.out" err="$LGW_TMP/sim.err"
    "$LGW_SIM" --listen 127.0.0.1:0 --quiet >"$out" 2>"$err" &
    LGW_PIDS+=("$!")
    LGW_GW_LOGS+=("$err") # scanned for sanitizer reports at exit
    local pid=$! deadline=$((SECONDS + START_TIMEOUT_S)) addr=
    until addr="$(sed -n 's/^listening on //p' "$out" 2>/dev/null)" && [[ -n "$addr" ]]; do
        kill -0 "$pid" 2>/dev/null || fail "sim exited during start-up: $(cat "$err")"
        ((SECONDS < deadline)) || fail "sim did not start within ${START_TIMEOUT_S}s"
        sleep 0.05
    done
    SIM_URL="http://$addr"
}

# write_accounts [ROTATION [NAME]]: the accounts file; a ROTATION other than 0 gives new
# cosy_keys (to every account, or to NAME only), as after a re-login.
write_accounts() {
    local rot=${1:-0} only=${2:-} n key first=1
    {
        echo '{"accounts":['
        for n in acct-a acct-b acct-c; do
            key="cosy-key-$n-0123456789abcdef"
            [[ "$rot" != 0 && ( -z "$only" || "$n" == "$only" ) ]] && key="cosy-key-$n-rotated-$rot"
            ((first)) || echo ','
            first=0
            printf '{"name":"%s","user_id":"%s","machine_id":"machine-%s","cosy_key":"%s","encrypt_user_info":"eui-%s-0123456789abcdef"}' \
                "$n" "${POOL_USER[$n]}" "$n" "$key" "$n"
        done
        echo ']}'
    } >"$POOL_ACCOUNTS.tmp"
    chmod 600 "$POOL_ACCOUNTS.tmp"
    mv "$POOL_ACCOUNTS.tmp" "$POOL_ACCOUNTS"
}

# pool_start [NAME=VALUE ...] [-- FLAG ...]
pool_start() {
    local envs=() flags=()
    while (($#)); do
        if [[ "$1" == "--" ]]; then
            shift
            flags=("$@")
            break
        fi
        envs+=("$1")
        shift
    done
    sim_up
    [[ -f "$POOL_ACCOUNTS" ]] || write_accounts
    # STATE_DB=:memory: — each gateway starts from a clean pool and session cache (no state
    # carried over from an earlier gateway of the same test through ./data)
    gw_start LOG_LEVEL=info STATE_DB=:memory: "${envs[@]}" -- --upstream-url "$SIM_URL" --accounts "$POOL_ACCOUNTS" \
        --admin-token "$POOL_ADMIN" "${flags[@]}"
}

# pool_restart_gw: stops the current gateway (clean exit required); sim state is kept.
pool_stop_gw() { gw_stop; }

# ---------------------------------------------------------------- the sim

sim_get() { curl -sS --max-time 5 "$SIM_URL$1" || fail "sim GET $1 failed"; }

sim_script() {
    local r
    r="$(curl -sS --max-time 5 -d "$2" "$SIM_URL/_sim/accounts/$1")" || fail "sim script $1 failed"
    assert_contains "$r" '"ok":true' "sim script for $1"
}

sim_reset() { curl -sS --max-time 5 -X POST "$SIM_URL/_sim/reset" >/dev/null || fail "sim reset"; }

# sim_last_seq: the highest seq in the request log (0 when empty).
sim_last_seq() {
    sim_get /_sim/requests | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["requests"]
print(max([x["seq"] for x in r], default=0))'
}

# sim_chats [SINCE]: one line per chat request after seq SINCE:
#   seq session_id account_name status time_ms closed_at_ms client_closed finished
sim_chats() {
    sim_get "/_sim/requests?since=${1:-0}" | "$PY" -c '
import json, sys
names = {"2001": "acct-a", "2002": "acct-b", "2003": "acct-c"}
for x in json.load(sys.stdin)["requests"]:
    if "agent_chat_generation" not in (x.get("path") or ""):
        continue
    print(x["seq"], x.get("session_id") or "-", names.get(x.get("account"), x.get("account")),
          x.get("status"), x.get("time_ms"), x.get("closed_at_ms") or 0,
          str(bool(x.get("client_closed"))).lower(), str(bool(x.get("finished"))).lower())'
}

# col N LINES: the Nth column (1-based) of every line
col() { awk -v n="$1" '{ print $n }' <<<"$2"; }

# ---------------------------------------------------------------- the pool (admin API)

pool_json() {
    curl -sS --max-time 5 -H "Authorization: Bearer $POOL_ADMIN" "$GW_URL/internal/pool" ||
        fail "GET /internal/pool failed"
}

# pool_field NAME FIELD
pool_field() {
    pool_json | "$PY" -c '
import json, sys
for a in json.load(sys.stdin)["accounts"]:
    if a["name"] == sys.argv[1]:
        v = a[sys.argv[2]]
        print(v if isinstance(v, str) else json.dumps(v))
        break
else:
    print("<no such account>")' "$1" "$2"
}

pool_reset_account() {
    curl -sS --max-time 5 -X POST -H "Authorization: Bearer $POOL_ADMIN" \
        "$GW_URL/internal/pool/$1/reset" >/dev/null || fail "reset $1"
}

now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- conversations

CONV='[]'
_conv_add() {
    CONV="$("$PY" -c '
import json, sys
a = json.loads(sys.argv[1]); a.append({"role": sys.argv[2], "content": sys.argv[3]})
print(json.dumps(a))' "$CONV" "$1" "$2")"
}
conv_new() {
    CONV='[]'
    [[ -n "${1:-}" ]] && _conv_add system "$1"
    return 0
}
conv_user() { _conv_add user "$1"; }
conv_assistant() { _conv_add assistant "$1"; }

# body_openai [STREAM]: the history as a /v1/chat/completions body
body_openai() {
    "$PY" -c '
import json, sys
print(json.dumps({"model": "gpt-4o", "stream": sys.argv[2] == "1", "messages": json.loads(sys.argv[1])}))' \
        "$CONV" "${1:-0}"
}

# body_anthropic [STREAM]: the same history as a /v1/messages body (system moved to the top,
# content as blocks with cache_control, the way Claude Code sends it)
body_anthropic() {
    "$PY" -c '
import json, sys
msgs, system = [], []
for m in json.loads(sys.argv[1]):
    if m["role"] == "system":
        system.append({"type": "text", "text": m["content"]})
    else:
        msgs.append({"role": m["role"], "content": [{"type": "text", "text": m["content"],
                     "cache_control": {"type": "ephemeral"}}]})
body = {"model": "claude-sonnet-4-5", "max_tokens": 512, "stream": sys.argv[2] == "1", "messages": msgs}
if system:
    body["system"] = system
print(json.dumps(body))' "$CONV" "${1:-0}"
}

_key_args() {
    KEY_ARGS=()
    [[ -n "${1:-}" ]] && KEY_ARGS=("$2" "$3$1")
    return 0
}

# turn_openai [KEY]: non-streaming turn; $STATUS/$BODY, and $REPLY = the assistant text
turn_openai() {
    _key_args "${1:-}" -H "Authorization: Bearer "
    http POST /v1/chat/completions -H 'content-type: application/json' "${KEY_ARGS[@]}" \
        --data-binary "$(body_openai)"
    REPLY=""
    [[ "$STATUS" == 200 ]] && REPLY="$(json_get "$BODY" choices.0.message.content)"
    return 0
}

turn_anthropic() {
    _key_args "${1:-}" -H "x-api-key: "
    http POST /v1/messages -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
        "${KEY_ARGS[@]}" --data-binary "$(body_anthropic)"
    REPLY=""
    [[ "$STATUS" == 200 ]] && REPLY="$(json_get "$BODY" content.0.text)"
    return 0
}

# turn_ok PROTO [KEY]: a turn that must succeed; appends the reply to the history.
turn_ok() {
    "turn_$1" "${2:-}"
    assert_status 200 "turn via $1"
    [[ -n "$REPLY" && "$REPLY" != "<missing>" ]] || fail "no reply text in ${BODY:0:300}"
    conv_assistant "$REPLY"
}

# bg_turn NAME PROTO STREAM [KEY]: runs a turn in the background with the current history;
# status in $LGW_TMP/NAME.status, body in $LGW_TMP/NAME.body; sets BG_PID.
bg_turn() {
    local name=$1 proto=$2 stream=$3 key=${4:-} body path hdrs=()
    if [[ "$proto" == openai ]]; then
        body="$(body_openai "$stream")"
        path=/v1/chat/completions
        [[ -n "$key" ]] && hdrs=(-H "Authorization: Bearer $key")
    else
        body="$(body_anthropic "$stream")"
        path=/v1/messages
        hdrs=(-H 'anthropic-version: 2023-06-01')
        [[ -n "$key" ]] && hdrs+=(-H "x-api-key: $key")
    fi
    curl -sS -N --max-time "$CURL_MAX_TIME" -o "$LGW_TMP/$name.body" -w '%{http_code}' \
        -H 'content-type: application/json' "${hdrs[@]}" --data-binary "$body" \
        "$GW_URL$path" >"$LGW_TMP/$name.status" 2>"$LGW_TMP/$name.err" &
    BG_PID=$!
    LGW_PIDS+=("$BG_PID")
}

# bg_wait PID: waits (bounded by curl's own --max-time) for a background turn
bg_wait() { wait "$1" 2>/dev/null || true; }

# wait_chats SINCE N [TIMEOUT_S]: until the sim has logged N chat requests after SINCE
_n_chats() { (($(sim_chats "$1" | wc -l) >= $2)); }
wait_chats() { wait_for "${3:-10}" "$2 upstream chat request(s) after seq $1" _n_chats "$1" "$2"; }

# ---------------------------------------------------------------- self-test

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    step "helpers: sim + gateway with three accounts, one turn each way"
    pool_start
    assert_eq ready "$(pool_field acct-a state)" "acct-a state"
    assert_eq ready "$(pool_field acct-c state)" "acct-c state"
    conv_new "helper check"
    conv_user "hello there"
    turn_ok openai
    assert_eq "echo: hello there" "$REPLY" "sim echo through openai"
    conv_user "and again"
    turn_ok anthropic
    assert_eq "echo: and again" "$REPLY" "sim echo through anthropic"
    chats="$(sim_chats)"
    assert_eq 2 "$(wc -l <<<"$chats")" "two chat requests logged"
    assert_match "$(col 2 "$chats" | head -1)" '^[0-9a-f-]{36}$' "session id logged"
    assert_eq "acct-a" "$(col 3 "$chats" | head -1)" "first pick is the first account"
    gw_stop
fi
