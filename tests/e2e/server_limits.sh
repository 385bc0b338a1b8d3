#!/usr/bin/env bash
# Limits and malformed input: 413 (Content-Length and chunked) in both envelopes, 431,
# Expect: 100-continue, the header timeout (without stalling other clients), 400s.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

gw_start -- --max-body-bytes 2048 --max-header-bytes 4096 --header-timeout-ms 300

head -c 4096 /dev/zero | tr '\0' 'a' >big.txt   # over the 2048 limit
head -c 1500 /dev/zero | tr '\0' 'b' >small.txt # under it

step "413, Content-Length over the limit, OpenAI envelope"
http POST /v1/chat/completions -H 'content-type: application/json' --data-binary @big.txt
assert_openai_error 413 invalid_request_error request_too_large "POST /v1/chat/completions 4 KiB"
assert_request_ids "413"
assert_header connection close "413 closes the connection"

step "413, Content-Length over the limit, Anthropic envelope"
http POST /v1/messages -H 'content-type: application/json' --data-binary @big.txt
assert_anthropic_error 413 request_too_large "POST /v1/messages 4 KiB"
http POST '/v1/messages/count_tokens?beta=true' --data-binary @big.txt
assert_anthropic_error 413 request_too_large "POST /v1/messages/count_tokens 4 KiB"

step "413, chunked body over the limit, both envelopes"
http POST /v1/chat/completions -H 'Transfer-Encoding: chunked' --data-binary @big.txt
assert_openai_error 413 invalid_request_error request_too_large "chunked POST /v1/chat/completions"
http POST /v1/messages -H 'Transfer-Encoding: chunked' --data-binary @big.txt
assert_anthropic_error 413 request_too_large "chunked POST /v1/messages"
# the same through a raw socket: several chunks, the limit crossed in the middle
chunk="$(head -c 1000 /dev/zero | tr '\0' 'c')"
out="$(raw --gap-ms 50 --send $'POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' \
    --send $'3e8\r\n'"$chunk"$'\r\n' --send $'3e8\r\n'"$chunk"$'\r\n' --send $'3e8\r\n'"$chunk"$'\r\n' \
    --send $'0\r\n\r\n')"
assert_json "$out" end closed "raw chunked over the limit: closed"
assert_json "$out" responses.0.status 413 "raw chunked over the limit"
assert_json "$out" responses.0.headers.connection close "raw chunked 413 Connection"
assert_json_contains "$out" responses.0.body '"type":"request_too_large"' "raw chunked 413 body"

step "under the limit is not 413"
http POST /v1/chat/completions -H 'content-type: application/json' --data-binary @small.txt
assert_ne 413 "$STATUS" "1500-byte body"
http POST /v1/messages -H 'Transfer-Encoding: chunked' --data-binary @small.txt
assert_ne 413 "$STATUS" "1500-byte chunked body"

step "Expect: 100-continue"
curl -sS -v --max-time "$CURL_MAX_TIME" --expect100-timeout 10 -o ec.body -w '%{http_code}' \
    -H 'Expect: 100-continue' --data-binary @small.txt "$GW_URL/v1/chat/completions" >ec.status 2>ec.err ||
    fail "curl with Expect: 100-continue failed: $(cat ec.err)"
assert_file_contains ec.err "HTTP/1.1 100 Continue" "interim response"
st="$(cat ec.status)"
assert_ne 413 "$st" "Expect: 100-continue final status"
assert_ne 000 "$st" "Expect: 100-continue final status"
assert_ne 100 "$st" "Expect: 100-continue final status"
# raw: the body is sent only after the 100 arrives
out="$(raw --wait-continue --send $'POST /v1/nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n' \
    --send 'hello')"
assert_json "$out" responses.0.status 100 "raw: 100 Continue first"
assert_json "$out" responses.1.status 404 "raw: then the final response"
# over the limit: 413 at once, no 100 Continue
curl -sS -v --max-time "$CURL_MAX_TIME" --expect100-timeout 10 -o /dev/null -w '%{http_code}' \
    -H 'Expect: 100-continue' --data-binary @big.txt "$GW_URL/v1/messages" >ec2.status 2>ec2.err || true
assert_eq 413 "$(cat ec2.status)" "Expect: 100-continue with an over-limit Content-Length"
assert_file_not_contains ec2.err "100 Continue" "over-limit Expect"

step "431: headers over the limit"
http GET /health -H "X-Big: $(head -c 5000 /dev/zero | tr '\0' 'h')"
assert_openai_error 431 invalid_request_error null "5 KB header"
http POST /v1/messages -H "X-Big: $(head -c 5000 /dev/zero | tr '\0' 'h')" -d '{}'
assert_anthropic_error 431 invalid_request_error "5 KB header on /v1/messages"

step "malformed requests: 400 and close"
for bad in $'GARBAGE\r\n\r\n' $'GET /health XTTP/1.1\r\nHost: x\r\n\r\n' \
    $'GET /health HTTP/1.1\r\nBad Header\r\n\r\n' \
    $'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' \
    $'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab' \
    $'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'; do
    out="$(raw --send "$bad")"
    what="$(printf '%q' "${bad:0:60}")"
    assert_json "$out" end closed "$what: connection closed"
    assert_json "$out" responses.length 1 "$what: one response"
    assert_json "$out" responses.0.status 400 "$what"
    assert_json "$out" responses.0.headers.connection close "$what: Connection"
    json_val "$out" responses.0.headers.request-id
    assert_match "$JV" '^req_' "$what: request-id"
done

step "header timeout: partial headers are closed (408) while another client is served"
out="$(raw --timeout-ms 10000 --probe-path /health --send $'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ')"
assert_json "$out" end closed "slow client closed by the server (not by our 10 s timeout)"
json_val "$out" ms
ms="$JV"
((ms >= 200)) || fail "slow client closed after ${ms} ms, before the 300 ms header timeout"
((ms <= 3000)) || fail "slow client closed after ${ms} ms, want about 300 ms"
pass
json_val "$out" responses.0.status
assert_match "$JV" '^(408|<missing>)$' "slow client: 408 or nothing"
json_val "$out" served_meanwhile
served="$JV"
((served >= 1)) || fail "no request of the other client was served while the slow one waited"
pass
# a slow client that keeps trickling bytes is still cut at the deadline from its first byte
out="$(raw --timeout-ms 10000 --gap-ms 100 --send $'GET /health HTTP/1.1\r\n' --send $'A: 1\r\n' \
    --send $'B: 2\r\n' --send $'C: 3\r\n' --send $'D: 4\r\n' --send $'E: 5\r\n' --send $'F: 6\r\n' \
    --send $'G: 7\r\n' --send $'H: 8\r\n' --send $'I: 9\r\n' --send $'J: 10\r\n')"
assert_json "$out" end closed "trickling client closed by the server"
json_val "$out" ms
ms="$JV"
((ms <= 3000)) || fail "trickling client closed after ${ms} ms, want about 300 ms"
pass
# an idle connection that never sends anything is closed too (first request within the timeout)
out="$(raw --timeout-ms 10000)"
assert_json "$out" end closed "silent connection closed by the server"
http GET /health
assert_status 200 "gateway still serves after the timeouts"

gw_stop
