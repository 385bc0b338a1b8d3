#!/usr/bin/env bash
# Process lifecycle: command line (--help, --version, --check-config, bad configuration),
# clients that disconnect in every phase without disturbing others, graceful SIGTERM.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# run_gw OUT_PREFIX ARGS...: runs the binary to completion in a clean environment; sets RC.
run_gw() {
    local prefix=$1
    shift
    RC=0
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" ${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
        ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} "$@" \
        >"$prefix.out" 2>"$prefix.err" </dev/null || RC=$?
}

step "command line: --help, --version, --check-config, errors"
run_gw help "$LGW_BIN" --help
assert_eq 0 "$RC" "--help exit status"
assert_file_contains help.out "usage: lingma-gateway" "--help"
assert_file_contains help.out "--max-body-bytes" "--help"
run_gw version "$LGW_BIN" --version
assert_eq 0 "$RC" "--version exit status"
assert_match "$(cat version.out)" '^lingma-gateway [0-9]+\.[0-9]+\.[0-9]+$' "--version"
run_gw check env API_KEYS=sk-check-SECRET "$LGW_BIN" --check-config --max-body-bytes 4096
assert_eq 0 "$RC" "--check-config exit status"
assert_file_contains check.out "configuration OK" "--check-config"
assert_file_contains check.out '"MAX_BODY_BYTES":4096' "--check-config shows the flag value"
assert_file_contains check.out '"API_KEYS":"<redacted>"' "--check-config redacts"
assert_file_not_contains check.out "sk-check-SECRET" "--check-config output"
run_gw badflag "$LGW_BIN" --no-such-flag
assert_eq 2 "$RC" "unknown flag exit status"
assert_file_contains badflag.err "--no-such-flag" "unknown flag message"
run_gw badbool env METRICS_PUBLIC=perhaps "$LGW_BIN" --check-config
assert_eq 2 "$RC" "bad boolean exit status"
assert_file_contains badbool.err "METRICS_PUBLIC" "bad boolean message"
printf 'API_KEYS=ok\nthis line is wrong\n' >bad.env
run_gw badenv "$LGW_BIN" --env-file bad.env --check-config
assert_eq 2 "$RC" "bad .env exit status"
assert_file_contains badenv.err "line 2" "bad .env message"
run_gw nolisten "$LGW_BIN" --listen 'not-an-address'
assert_eq 2 "$RC" "bad LISTEN exit status"

step "LISTEN on IPv6 loopback with port 0"
run_gw v6 "$LGW_BIN" --check-config --listen '[::1]:0'
assert_eq 0 "$RC" "--check-config --listen [::1]:0"
assert_file_contains v6.out '"LISTEN":"[::1]:0"' "--check-config with [::1]:0"
if grep -qE '^0{31}1 .* lo$' /proc/net/if_inet6 2>/dev/null; then
    gw_start -- --listen '[::1]:0'
    assert_match "$(head -n 1 "$GW_OUT")" '^listening on ::1:[0-9]+$' "listening line on [::1]"
    out="$(curl -sS -g --max-time "$CURL_MAX_TIME" "http://[::1]:$GW_PORT/health")" || fail "curl [::1]"
    assert_eq '{"status":"ok"}' "$out" "/health over IPv6"
    gw_stop
else
    echo "(no ::1 on lo here: IPv6 listen not exercised)" >&2
fi

step "clients that go away in every phase do not disturb others"
gw_start METRICS_PUBLIC=true -- --header-timeout-ms 5000 --body-timeout-ms 5000
http GET /health
assert_status 200 "baseline /health"
pids=()
# connect and close at once; partial request line; partial headers; half a body; a full
# request and a reset before reading; a pipelined batch and a reset
raw --destroy-after-ms 0 >/dev/null &
pids+=($!)
raw --destroy-after-ms 50 --send 'GET /heal' >/dev/null &
pids+=($!)
raw --destroy-after-ms 50 --send $'GET /health HTTP/1.1\r\nHost: x\r\nX-A' >/dev/null &
pids+=($!)
raw --destroy-after-ms 50 --send $'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"half":' >/dev/null &
pids+=($!)
raw --destroy-after-ms 0 --send $'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >/dev/null &
pids+=($!)
batch=""
for ((i = 0; i < 20; i++)); do batch+=$'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'; done
raw --destroy-after-ms 0 --send "$batch" >/dev/null &
pids+=($!)
raw --half-close --send $'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >halfclose.json &
pids+=($!)
# meanwhile, a well-behaved client on a keep-alive connection
curl -sS --max-time "$CURL_MAX_TIME" -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} ' \
    "$GW_URL/health" "$GW_URL/healthz" "$GW_URL/health" >good.out 2>good.err || fail "good client: $(cat good.err)"
assert_eq "200 200 200 " "$(cat good.out)" "well-behaved client during the disconnects"
for p in "${pids[@]}"; do wait "$p" || fail "raw client $p failed"; done
pass
assert_json "$(cat halfclose.json)" responses.0.status 200 "half-closed client still gets its response"
gw_alive || fail "gateway died"
connections() {
    http GET /metrics
    [[ "$STATUS" == 200 ]] || fail "/metrics: $STATUS"
    printf '%s\n' "$BODY" | awk '$1 == "lingma_gateway_connections" { print $2 }'
}
# every aborted connection is closed: only the /metrics request's own connection remains
wait_for 15 "connections to drain to 1" test "$(connections)" = 1
pass
http GET /health
assert_status 200 "/health after the disconnects"

step "SIGTERM: idle keep-alive connections close, the process exits 0 and stops accepting"
before="$(grep -c '"path":"/health"' "$GW_LOG")"
raw --timeout-ms 15000 --send $'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' >idle.json &
idle_pid=$!
access_count_above() { (($(grep -c '"path":"/health"' "$GW_LOG") > $1)); }
wait_for 10 "the idle client's request in the access log" access_count_above "$before"
t0=$SECONDS
kill -TERM "$GW_PID"
gw_wait_exit 10
assert_eq 0 "$GW_EXIT" "exit status after SIGTERM"
((SECONDS - t0 <= 5)) || fail "exit took $((SECONDS - t0)) s after SIGTERM"
pass
wait "$idle_pid" || fail "idle raw client failed"
idle="$(cat idle.json)"
assert_json "$idle" end closed "idle keep-alive connection closed by the shutdown"
assert_json "$idle" responses.0.status 200 "idle client's response before the shutdown"
assert_file_contains "$GW_LOG" '"msg":"shutting down"' "shutdown log"
assert_file_contains "$GW_LOG" '"msg":"stopped"' "shutdown log"
if curl -sS --max-time 5 -o /dev/null "$GW_URL/health" 2>/dev/null; then
    fail "gateway still accepts connections after exiting"
fi
pass

step "SIGINT stops it too"
gw_start
http GET /health
assert_status 200 "/health"
kill -INT "$GW_PID"
gw_wait_exit 10
assert_eq 0 "$GW_EXIT" "exit status after SIGINT"
