# Shared helpers for the lingma-sim end-to-end tests, sourced by tests/e2e/sim_*.sh.
# Builds COSY-signed and Encode=1 requests in bash (openssl base64 + md5), independently of both
# the gateway and the sim. CMake registers every tests/e2e/*.sh, so when run directly this file
# checks its own signing and encoding helpers against the spec's test vectors (§1.3, §1.4).
set -u

SIM_BIN=${LGW_SIM:-}
SIM_PID=
SIM_URL=
SIM_TMP=$(mktemp -d)
SIM_KEY=${SIM_KEY:-COSYKEY64-test-key}
SIM_USER=${SIM_USER:-1001}
SIM_VERSION=2.11.2
CHAT_PATH=/algo/api/v2/service/pro/sse/agent_chat_generation
CHAT_QUERY='FetchKeys=llm_model_result&AgentId=agent_common'
MODELS_PATH=/algo/api/v2/model/list
FAILS=0

die() { echo "FAIL: $*" >&2; exit 1; }
check() { # check "description" command...
    local what=$1; shift
    if "$@"; then echo "ok   - $what"; else echo "FAIL - $what" >&2; FAILS=$((FAILS + 1)); fi
}
contains() { [[ "$1" == *"$2"* ]]; }

# sim_stop: SIGTERM, then up to 5 s for a clean exit. A non-zero exit (a sanitizer report, a
# crash, a hang that needed SIGKILL) fails the test.
sim_stop() {
    [[ -n "$SIM_PID" ]] || return 0
    local pid=$SIM_PID rc=0
    SIM_PID=
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        echo "FAIL - sim did not exit within 5 s of SIGTERM" >&2
        FAILS=$((FAILS + 1))
    fi
    wait "$pid" 2>/dev/null || rc=$?
    if ((rc != 0)); then
        echo "FAIL - sim exited with status $rc; stderr tail:" >&2
        tail -40 "$SIM_TMP/err" >&2
        FAILS=$((FAILS + 1))
    fi
}
sim_cleanup() {
    local rc=$?
    sim_stop
    rm -rf "$SIM_TMP"
    ((FAILS == 0)) || exit 1
    exit $rc
}
trap sim_cleanup EXIT

# sim_start [args...]: starts the sim on port 0 and waits (≤ 5 s) for "listening on HOST:PORT".
sim_start() {
    [[ -x "$SIM_BIN" ]] || die "LGW_SIM is not an executable sim binary: '$SIM_BIN'"
    : >"$SIM_TMP/out"
    "$SIM_BIN" --listen 127.0.0.1:0 "$@" >"$SIM_TMP/out" 2>"$SIM_TMP/err" &
    SIM_PID=$!
    local addr=
    for _ in $(seq 100); do
        addr=$(sed -n 's/^listening on \(.*\)$/\1/p' "$SIM_TMP/out")
        [[ -n "$addr" ]] && break
        kill -0 "$SIM_PID" 2>/dev/null || die "sim exited at startup: $(cat "$SIM_TMP/err")"
        sleep 0.05
    done
    [[ -n "$addr" ]] || die "sim did not print its address within 5 s"
    SIM_URL="http://$addr"
}

# cosy_headers PATH BODY [DATE]: fills the array HDRS with a correctly signed header set.
cosy_headers() {
    local path=$1 body=$2 date=${3:-$(date +%s)}
    local rid payload sigpath sig
    rid=$(cat /proc/sys/kernel/random/uuid)
    payload=$(printf '{"cosyVersion":"%s","ideVersion":"","info":"ENCRYPTED-USER-INFO","requestId":"%s","version":"v1"}' \
        "$SIM_VERSION" "$rid" | openssl base64 -A)
    sigpath=${path%%\?*}
    sigpath=${sigpath#/algo}
    sig=$(printf '%s\n%s\n%s\n%s\n%s' "$payload" "$SIM_KEY" "$date" "$body" "$sigpath" | openssl md5 -r | cut -c1-32)
    HDRS=(-H "Authorization: Bearer COSY.$payload.$sig" -H "Cosy-Date: $date" -H "Cosy-Key: $SIM_KEY"
        -H "Cosy-User: $SIM_USER" -H "Cosy-Machineid: machine-test-1" -H "Cosy-Version: $SIM_VERSION"
        -H "Appcode: cosy" -H "Login-Version: v2" -H "Content-Type: application/json")
}

ENC1_ALPHABET='_doRTgHZBKcGVjlvpC,@aFSx#DPuNJme&i*MzLOEn)sUrthbf%Y^w.(kIQyXqWA!'
enc1_map() { tr 'A-Za-z0-9+/=' "$ENC1_ALPHABET\$"; }

# encode1_q TEXT: variant Q (TAP/QR/QTS) — padded base64, rotate tail|middle|head by n/3, map.
encode1_q() {
    local s n a
    s=$(printf '%s' "$1" | openssl base64 -A)
    n=${#s}
    a=$((n / 3))
    printf '%s' "${s:n-a}${s:a:n-2*a}${s:0:a}" | enc1_map
}

# encode1_la TEXT: the LA/L2A layout — padding stripped to E chars, b0 = E/3,
# b1 = 2*ceil(E/3) - E/3, b2 = rest; output b2 + '$' x pad + b1 + b0.
encode1_la() {
    local s p pad e b0 b1 pads
    s=$(printf '%s' "$1" | openssl base64 -A)
    p=${s%%=*}
    pad=$((${#s} - ${#p}))
    e=${#p}
    b0=$((e / 3))
    b1=$((2 * ((e + 2) / 3) - b0))
    pads=$(printf '%*s' "$pad" '' | tr ' ' '=')
    printf '%s' "${p:b0+b1}$pads${p:b0:b1}${p:0:b0}" | enc1_map
}

# chat_body MODEL SESSION MESSAGES_JSON: a §1.6.1 body.
chat_body() {
    printf '{"request_id":"%s","request_set_id":"","chat_record_id":"x","stream":true,"image_urls":null,"is_reply":false,"is_retry":false,"session_id":"%s","code_language":"","source":0,"version":"3","chat_prompt":"","parameters":{"temperature":0.1},"aliyun_user_type":"personal_standard","agent_id":"agent_common","task_id":"question_refine","model_config":{"key":"%s","display_name":"","model":"%s","format":"","is_vl":false,"is_reasoning":false,"api_key":"","url":"","source":"","enable":false},"messages":%s}' \
        "$(openssl rand -hex 16)" "$2" "$1" "$1" "$3"
}

# json_str TEXT: TEXT as a JSON string.
json_str() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]), end="")' "$1"; }
# user_msg TEXT: one user message.
user_msg() { printf '{"role":"user","content":%s}' "$(json_str "$1")"; }

# sim_chat BODY [QUERY_SUFFIX] [curl args...]: signed chat; prints status line marker + body.
sim_chat() {
    local body=$1 suffix=${2:-}; shift 2 || shift $#
    cosy_headers "$CHAT_PATH" "$body"
    curl -sS --max-time 10 -D "$SIM_TMP/headers" "${HDRS[@]}" -H "Accept: text/event-stream" \
        --data-binary "$body" "$@" "$SIM_URL$CHAT_PATH?$CHAT_QUERY$suffix"
}

# http_status: the final status of the last request (after redirects), from the saved headers.
http_status() { sed -n 's/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' "$SIM_TMP/headers" | tail -1; }
header_value() { sed -n "s/^$1: *\\(.*\\)\\r\$/\\1/Ip" "$SIM_TMP/headers" | head -1; }

sim_models() {
    cosy_headers "$MODELS_PATH" ""
    curl -sS --max-time 5 -D "$SIM_TMP/headers" "${HDRS[@]}" "$SIM_URL$MODELS_PATH"
}

# inner_bodies: reads an SSE envelope stream, prints the inner "body" of each data line.
inner_bodies() { python3 -c '
import json, sys
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.startswith("data:"): continue
    data = line[5:].lstrip(" ")
    if data == "[DONE]": print("[DONE]"); continue
    env = json.loads(data)
    print(json.dumps({"status": env["statusCodeValue"], "body": env["body"]}))
'; }

# content_of: concatenated delta.content of an SSE envelope stream.
content_of() { python3 -c '
import json, sys
out = []
for line in sys.stdin:
    if not line.startswith("data:"): continue
    data = line[5:].strip()
    if data == "[DONE]": continue
    body = json.loads(data)["body"]
    if body == "[DONE]": continue
    for c in json.loads(body).get("choices", []):
        out.append(c.get("delta", {}).get("content") or "")
print("".join(out), end="")
'; }

sim_requests() { curl -sS --max-time 5 "$SIM_URL/_sim/requests${1:-}"; }
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

finish() {
    if ((FAILS > 0)); then
        echo "$FAILS check(s) failed; sim stderr tail:" >&2
        tail -20 "$SIM_TMP/err" >&2
        exit 1
    fi
    echo "all checks passed"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    got=$(printf 'COSYPAYLOAD64\nCOSYKEY64\n1700000000\nTESTBODY\n/api/v2/service/pro/sse/agent_chat_generation' |
        openssl md5 -r | cut -c1-32)
    check "COSY md5 test vector" [ "$got" = 65b7dfc7c1a5e441a362c8314973dc96 ]
    check "Encode=1 Q: hello" [ "$(encode1_q hello)" = 'q$FruHPH' ]
    check 'Encode=1 Q: {"a":"bcd"}' [ "$(encode1_q '{"a":"bcd"}')" = 'zBEw$Mn*#OjmYKiB' ]
    check 'Encode=1 Q: {"stream":true}' [ "$(encode1_q '{"stream":true}')" = 'CYJSFWKL#Sw*lEmYK^JZ' ]
    finish
fi
