#!/usr/bin/env bash
# Connection reuse (keep-alive) and pipelining: several requests in one write are answered in
# order, each with its own request id.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

gw_start

step "keep-alive: curl with two URLs reuses the connection"
curl -sS -v --max-time "$CURL_MAX_TIME" -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
    "$GW_URL/health" "$GW_URL/healthz" >ka.out 2>ka.err || fail "curl keep-alive run failed: $(cat ka.err)"
mapfile -t lines <ka.out
assert_eq "200 1" "${lines[0]:-}" "first URL: status and new connections"
assert_eq "200 0" "${lines[1]:-}" "second URL: status and new connections (0 = reused)"
assert_file_contains ka.err "Re-using existing connection" "curl -v output"
assert_file_not_contains ka.err "Connection: close" "keep-alive responses"

step "keep-alive on HTTP/1.0 only when asked"
http GET /health --http1.0
assert_status 200 "HTTP/1.0 GET /health"
assert_header connection close "HTTP/1.0 without keep-alive"
http GET /health --http1.0 -H 'Connection: keep-alive'
assert_status 200 "HTTP/1.0 keep-alive GET /health"
assert_header connection keep-alive "HTTP/1.0 with keep-alive"

step "pipelining: three requests in one write, answered in order"
req1=$'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'
req2=$'POST /v1/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'
req3=$'GET /v1/third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
out="$(raw --send "$req1$req2$req3")"
assert_json "$out" end closed "server closes after the Connection: close request"
assert_json "$out" responses.length 3 "number of responses"
assert_json "$out" responses.0.status 200 "response 1"
assert_json "$out" responses.0.body '{"status":"ok"}' "response 1 body (/health)"
assert_json "$out" responses.1.status 404 "response 2 (/v1/nope)"
assert_json_contains "$out" responses.1.body "/v1/nope" "response 2 body"
assert_json "$out" responses.2.status 404 "response 3 (/v1/third)"
assert_json_contains "$out" responses.2.body "/v1/third" "response 3 body"
assert_json "$out" responses.2.headers.connection close "response 3 Connection"
ids=()
for i in 0 1 2; do
    json_val "$out" "responses.$i.headers.request-id"
    id="$JV"
    assert_match "$id" '^req_[A-Za-z0-9]{20,}$' "response $((i + 1)) request-id"
    assert_json "$out" "responses.$i.headers.x-request-id" "$id" "response $((i + 1)) x-request-id"
    ids+=("$id")
done
assert_ne "${ids[0]}" "${ids[1]}" "request ids 1 and 2 differ"
assert_ne "${ids[1]}" "${ids[2]}" "request ids 2 and 3 differ"
assert_ne "${ids[0]}" "${ids[2]}" "request ids 1 and 3 differ"

step "pipelining: the access log has the three requests in order with the same ids"
wait_for 10 "access log of the pipelined requests" grep -q "\"request_id\":\"${ids[2]}\"" "$GW_LOG"
logged="$(grep -oE '"request_id":"req_[A-Za-z0-9]+"' "$GW_LOG" | tail -n 3 | cut -d'"' -f4 | tr '\n' ' ')"
assert_eq "${ids[0]} ${ids[1]} ${ids[2]} " "$logged" "access-log order"

step "pipelining: a request split across writes and a body arriving later"
out="$(raw --gap-ms 100 --send $'GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST /v1/nope HTTP/1.1\r\nHo' \
    --send $'st: x\r\nContent-Length: 4\r\n\r\nab' --send $'cdGET /v1/third HTTP/1.1\r\nConnection: close\r\n\r\n')"
assert_json "$out" responses.length 3 "split pipeline: number of responses"
assert_json "$out" responses.0.status 200 "split pipeline: response 1"
assert_json "$out" responses.1.status 404 "split pipeline: response 2"
assert_json "$out" responses.2.status 404 "split pipeline: response 3"
assert_json_contains "$out" responses.2.body "/v1/third" "split pipeline: response 3 body"

step "many pipelined requests in one write"
batch=""
for ((i = 0; i < 50; i++)); do batch+=$'GET /health HTTP/1.1\r\nHost: x\r\n\r\n'; done
batch+=$'GET /v1/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
out="$(raw --send "$batch")"
assert_json "$out" responses.length 51 "50+1 pipelined responses"
assert_json "$out" responses.49.body '{"status":"ok"}' "response 50"
assert_json_contains "$out" responses.50.body "/v1/last" "the last response is the last request's"

gw_stop
