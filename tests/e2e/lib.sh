#!/usr/bin/env bash
# Shared helpers for the end-to-end shell tests (source it; run directly it tests itself).
#
#   source "$(dirname "$0")/lib.sh"
#   gw_start [NAME=VALUE ...] [-- FLAG ...]   start the gateway on 127.0.0.1:0 in a temp dir
#   http GET /health [curl args...]           one request: $STATUS, $BODY, headers in $HDRS
#   assert_eq / assert_contains / assert_not_contains / assert_header / assert_json
#   gw_stop                                    SIGTERM, expect a prompt exit with status 0
#
# Environment (set by ctest): LGW_BIN gateway binary, LGW_SRC repo root, LGW_SIM simulator.
# The gateway runs with a clean environment (only PATH, HOME and sanitizer options are passed
# through) and inside a fresh temp directory, so no stray ./.env or API_KEYS leaks in; its
# durable state is in memory unless the test passes --state.
# Every process started here is killed on exit; a sanitizer report in any gateway log fails the
# test. Timeouts are generous: the same scripts run against ASan builds on loaded machines.
set -euo pipefail

: "${LGW_BIN:?LGW_BIN must point at the lingma-gateway binary}"
LGW_SRC="${LGW_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
LGW_E2E_DIR="$LGW_SRC/tests/e2e"
LGW_TEST_NAME="$(basename "$0" .sh)"
[[ "$LGW_BIN" = /* ]] || LGW_BIN="$PWD/$LGW_BIN"

LGW_TMP="$(mktemp -d "${TMPDIR:-/tmp}/lgw-e2e-$LGW_TEST_NAME.XXXXXX")"
cd "$LGW_TMP"

LGW_PIDS=()      # every background process we started
LGW_GW_LOGS=()   # every gateway stderr log, scanned for sanitizer reports at exit
LGW_FAILED=0
LGW_CHECKS=0
LGW_START_S=$SECONDS

CURL_MAX_TIME=${CURL_MAX_TIME:-15}
START_TIMEOUT_S=${START_TIMEOUT_S:-30}
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-15}

# ---------------------------------------------------------------- reporting

_red() { if [[ -t 2 ]]; then printf '\033[31m%s\033[0m' "$*"; else printf '%s' "$*"; fi; }

# fail MESSAGE...: report and stop the test (the EXIT trap prints logs and cleans up).
fail() {
    LGW_FAILED=1
    {
        echo "$(_red FAIL) [$LGW_TEST_NAME] $*"
        local i
        for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
            echo "    at ${FUNCNAME[$i]} (${BASH_SOURCE[$i]##*/}:${BASH_LINENO[$((i - 1))]})"
        done
    } >&2
    exit 1
}

pass() { LGW_CHECKS=$((LGW_CHECKS + 1)); }
step() { echo "--- $*" >&2; }

_cleanup() {
    local rc=$?
    local pid
    for pid in "${LGW_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    local deadline=$((SECONDS + 5))
    for pid in "${LGW_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    local log
    for log in "${LGW_GW_LOGS[@]}"; do
        if [[ -f "$log" ]] && grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
            echo "$(_red FAIL) [$LGW_TEST_NAME] sanitizer report in $log:" >&2
            sed -n '1,80p' "$log" >&2
            rc=1
        fi
    done
    if ((rc != 0)); then
        for log in "${LGW_GW_LOGS[@]}"; do
            [[ -f "$log" ]] || continue
            echo "----- last lines of $log" >&2
            tail -n 30 "$log" >&2
        done
        echo "$(_red FAIL) [$LGW_TEST_NAME] after $LGW_CHECKS checks, $((SECONDS - LGW_START_S)) s (temp dir kept: $LGW_TMP)" >&2
    else
        echo "ok [$LGW_TEST_NAME] $LGW_CHECKS checks in $((SECONDS - LGW_START_S)) s" >&2
        cd / && rm -rf "$LGW_TMP"
    fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'fail "interrupted"' INT TERM

# ---------------------------------------------------------------- assertions

# assert_eq EXPECTED GOT WHAT
assert_eq() {
    [[ "$1" == "$2" ]] || fail "$3: expected [$1], got [$2]"
    pass
}

assert_ne() {
    [[ "$1" != "$2" ]] || fail "$3: expected anything but [$1]"
    pass
}

# assert_contains HAYSTACK NEEDLE WHAT
assert_contains() {
    [[ "$1" == *"$2"* ]] || fail "$3: expected to contain [$2], got [${1:0:600}]"
    pass
}

assert_not_contains() {
    [[ "$1" != *"$2"* ]] || fail "$3: expected NOT to contain [$2], got [${1:0:600}]"
    pass
}

# assert_match STRING ERE WHAT
assert_match() {
    [[ "$1" =~ $2 ]] || fail "$3: expected to match /$2/, got [${1:0:600}]"
    pass
}

# assert_file_contains FILE NEEDLE WHAT / assert_file_not_contains
assert_file_contains() {
    grep -qF -- "$2" "$1" || fail "$3: expected $1 to contain [$2]"
    pass
}

assert_file_not_contains() {
    if grep -qF -- "$2" "$1"; then fail "$3: $1 contains [$2]: $(grep -F -- "$2" "$1" | head -3)"; fi
    pass
}

# wait_for TIMEOUT_S WHAT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what"
        sleep 0.05
    done
}

# ---------------------------------------------------------------- JSON (via node)

# A JSON text is flattened once by node into path → value (".a.b", ".list.0", ".list.length";
# strings raw, everything else as JSON) and kept until another text is asked for, so several
# assertions on one response cost one node start. Subshells inherit the cache.
declare -A _JC=()
_JC_SRC=$'\x01none'

# json_val JSON PATH: sets JV to the value at a dotted path ("<missing>" when absent) in the
# current shell. Fails the test when JSON does not parse.
json_val() {
    if [[ "$1" != "$_JC_SRC" ]]; then
        _JC=()
        local k v
        while IFS= read -r -d '' k && IFS= read -r -d '' v; do _JC["$k"]="$v"; done < <(node -e '
            const out = [];
            const put = (k, v) => out.push(k, String(v).replace(/\0/g, "\\u0000"));
            let root;
            try { root = JSON.parse(process.argv[1]); } catch (e) { put("!", "bad"); }
            const walk = (v, p) => {
                put(p || ".", typeof v === "string" ? v : JSON.stringify(v));
                if (v !== null && typeof v === "object") {
                    if (Array.isArray(v)) put(p + ".length", v.length);
                    for (const k of Object.keys(v)) walk(v[k], p + "." + k);
                }
            };
            if (out.length === 0) { put("!", "ok"); walk(root, ""); }
            process.stdout.write(out.join("\0") + "\0");
        ' "$1")
        _JC_SRC="$1"
    fi
    [[ "${_JC[!]:-}" == ok ]] || fail "not JSON: [${1:0:400}]"
    JV="${_JC[.${2}]-<missing>}"
    [[ -n "$2" ]] || JV="${_JC[.]}"
}

# json_get JSON PATH: prints the value (see json_val).
json_get() {
    json_val "$1" "$2"
    printf '%s\n' "$JV"
}

# assert_json JSON PATH EXPECTED [WHAT]
assert_json() {
    json_val "$1" "$2"
    [[ "$JV" == "$3" ]] || fail "${4:-json}: .$2 expected [$3], got [$JV] in ${1:0:400}"
    pass
}

# assert_json_contains JSON PATH NEEDLE [WHAT]
assert_json_contains() {
    json_val "$1" "$2"
    [[ "$JV" == *"$3"* ]] || fail "${4:-json}: .$2 expected to contain [$3], got [${JV:0:400}]"
    pass
}

# ---------------------------------------------------------------- the gateway

# gw_start [NAME=VALUE ...] [-- FLAG ...]
# Sets GW_PID, GW_PORT, GW_URL, GW_OUT (stdout file), GW_LOG (stderr file).
LGW_GW_SEQ=0
gw_start() {
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
    LGW_GW_SEQ=$((LGW_GW_SEQ + 1))
    GW_OUT="$LGW_TMP/gw$LGW_GW_SEQ.out"
    GW_LOG="$LGW_TMP/gw$LGW_GW_SEQ.err"
    local base=(PATH="$PATH" HOME="${HOME:-/tmp}")
    # Durable state off unless the test asks for it (--state or STATE_DB=…, which override
    # this): gateways restarted within one test start afresh, as the tests expect.
    base+=(STATE_DB=:memory:)
    local v
    for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
        [[ -n "${!v:-}" ]] && base+=("$v=${!v}")
    done
    env -i "${base[@]}" "${envs[@]}" "$LGW_BIN" --listen 127.0.0.1:0 "${flags[@]}" \
        >"$GW_OUT" 2>"$GW_LOG" &
    GW_PID=$!
    LGW_PIDS+=("$GW_PID")
    LGW_GW_LOGS+=("$GW_LOG")
    local deadline=$((SECONDS + START_TIMEOUT_S))
    until grep -q '^listening on ' "$GW_OUT" 2>/dev/null; do
        if ! kill -0 "$GW_PID" 2>/dev/null; then
            fail "gateway exited during start-up: $(cat "$GW_LOG")"
        fi
        ((SECONDS < deadline)) || fail "gateway did not print 'listening on' within ${START_TIMEOUT_S}s"
        sleep 0.05
    done
    local line
    line="$(grep -m1 '^listening on ' "$GW_OUT")"
    GW_PORT="${line##*:}"
    [[ "$GW_PORT" =~ ^[0-9]+$ && "$GW_PORT" -gt 0 ]] || fail "bad listening line: [$line]"
    GW_URL="http://127.0.0.1:$GW_PORT"
}

# gw_alive: the last started gateway is still running
gw_alive() { kill -0 "$GW_PID" 2>/dev/null; }

# gw_wait_exit TIMEOUT_S: waits for the gateway to exit; sets GW_EXIT.
gw_wait_exit() {
    local deadline=$((SECONDS + $1))
    while gw_alive; do
        ((SECONDS < deadline)) || fail "gateway (pid $GW_PID) still running ${1}s after SIGTERM"
        sleep 0.05
    done
    GW_EXIT=0
    wait "$GW_PID" || GW_EXIT=$?
}

# gw_stop: SIGTERM, then the gateway must exit 0 within STOP_TIMEOUT_S (sanitizer leak checks
# run at exit, so this also catches leaks).
gw_stop() {
    kill -TERM "$GW_PID"
    gw_wait_exit "$STOP_TIMEOUT_S"
    assert_eq 0 "$GW_EXIT" "gateway exit status after SIGTERM"
}

# ---------------------------------------------------------------- HTTP

# http METHOD PATH [CURL ARGS...]
# Sets STATUS, BODY, HDRS (raw response headers, CRLF stripped).
http() {
    local method=$1 path=$2
    shift 2
    local out="$LGW_TMP/body" hdr="$LGW_TMP/headers"
    : >"$out"
    : >"$hdr"
    STATUS="$(curl -sS --max-time "$CURL_MAX_TIME" -X "$method" -o "$out" -D "$hdr" \
        -w '%{http_code}' "$@" "$GW_URL$path")" || fail "curl $method $path failed (exit $?)"
    BODY="$(cat "$out")"
    HDRS="$(tr -d '\r' <"$hdr")"
}

# header NAME: value of a response header of the last http call (case-insensitive), or "".
header() {
    printf '%s\n' "$HDRS" | awk -v n="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" '
        { i = index($0, ":"); if (i == 0) next
          k = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1); sub(/^[ \t]+/, "", v)
          if (k == n) { print v; exit } }'
}

# assert_status EXPECTED WHAT
assert_status() {
    [[ "$STATUS" == "$1" ]] || fail "$2: expected HTTP $1, got $STATUS; body: ${BODY:0:400}"
    pass
}

# assert_header NAME EXPECTED WHAT
assert_header() { assert_eq "$2" "$(header "$1")" "${3:-header $1}"; }

# assert_request_ids: request-id and x-request-id present, well formed and equal. Sets RID.
assert_request_ids() {
    RID="$(header request-id)"
    assert_match "$RID" '^req_[A-Za-z0-9]{20,}$' "${1:-response} request-id header"
    assert_eq "$RID" "$(header x-request-id)" "${1:-response} x-request-id equals request-id"
}

# assert_openai_error STATUS TYPE CODE WHAT: OpenAI envelope {"error":{message,type,param,code}}
assert_openai_error() {
    assert_status "$1" "$4"
    assert_json "$BODY" error.type "$2" "$4"
    assert_json "$BODY" error.code "$3" "$4"
    json_val "$BODY" error.message
    [[ -n "$JV" && "$JV" != "<missing>" ]] || fail "$4: error.message missing in $BODY"
    assert_json "$BODY" type "<missing>" "$4 (no Anthropic top-level type)"
}

# assert_anthropic_error STATUS TYPE WHAT: {"type":"error","error":{type,message},"request_id"}
# whose request_id equals the request-id header.
assert_anthropic_error() {
    assert_status "$1" "$3"
    assert_json "$BODY" type error "$3"
    assert_json "$BODY" error.type "$2" "$3"
    json_val "$BODY" error.message
    [[ -n "$JV" && "$JV" != "<missing>" ]] || fail "$3: error.message missing in $BODY"
    assert_json "$BODY" request_id "$(header request-id)" "$3 (body request_id = header)"
}

# raw ARGS...: the raw socket client (tests/e2e/rawhttp.mjs), port of the last gateway.
raw() { node "$LGW_E2E_DIR/rawhttp.mjs" --port "$GW_PORT" "$@"; }

# key_id KEY: first 8 hex of SHA-256, computed independently of the gateway.
key_id() { printf '%s' "$1" | sha256sum | cut -c1-8; }

# ---------------------------------------------------------------- self-test

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    step "assertion helpers fail when they should"
    for bad in 'assert_eq a b x' 'assert_contains abc z x' 'assert_not_contains abc b x' \
        'assert_match abc "^b" x' 'assert_json "{\"a\":1}" a 2 x' 'json_get "{not json" a'; do
        if (trap - EXIT; eval "$bad") >/dev/null 2>&1; then fail "helper did not fail: $bad"; fi
        pass
    done
    assert_json '{"a":{"b":"c"},"n":null}' a.b c "nested string"
    assert_json '{"a":{"b":"c"},"n":null}' n null "null"
    assert_json '{"a":1}' z "<missing>" "missing key"
    assert_json '{"l":[{"x":"a\nb"},2]}' l.length 2 "array length"
    assert_json '{"l":[{"x":"a\nb"},2]}' l.0.x $'a\nb' "string with a newline"
    assert_json '{"l":[{"x":"a\nb"},2]}' l.1 2 "number"
    assert_json '{"s":"x\u0000y"}' s 'x\u0000y' "NUL kept visible"
    assert_json '[1]' "" '[1]' "root"
    assert_eq 7 "$(json_get '{"n":7}' n)" "json_get"

    step "gateway starts on port 0 in a clean temp dir and stops on SIGTERM"
    gw_start
    assert_ne 8080 "$GW_PORT" "port 0 picked a free port"
    http GET /health
    assert_status 200 "/health"
    assert_request_ids "/health"
    gw_stop
fi
