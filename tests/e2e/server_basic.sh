#!/usr/bin/env bash
# Health routes, request ids, routing through the real server (query strings, trailing slash,
# 404 and 405 in the envelope of the path's protocol).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

gw_start

step "health: /health, /healthz, /readyz"
for p in /health /healthz; do
    http GET "$p"
    assert_status 200 "GET $p"
    assert_json "$BODY" status ok "GET $p"
    assert_header content-type application/json "GET $p content-type"
done
# readiness needs a usable upstream account; none is configured here
http GET /readyz
assert_status 503 "GET /readyz without accounts"
json_val "$BODY" status
assert_ne "<missing>" "$JV" "GET /readyz body has a status"
http GET /health/
assert_status 200 "GET /health/ (trailing slash)"
out="$(raw --send $'HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')"
assert_json "$out" end closed "HEAD /health connection closed after Connection: close"
json_val "$out" raw
head_raw="$JV"
assert_match "$head_raw" $'^HTTP/1.1 200 OK\r\n' "HEAD /health status line"
assert_contains "$head_raw" $'Content-Length: 15\r\n' "HEAD /health content-length of the GET body"
assert_contains "$head_raw" $'\r\n\r\n' "HEAD /health end of headers"
assert_eq "" "${head_raw#*$'\r\n\r\n'}" "HEAD /health: bytes after the headers"

step "request-id and x-request-id: present, equal, unique"
http GET /health
assert_request_ids "GET /health"
first="$RID"
http GET /health
assert_request_ids "second GET /health"
assert_ne "$first" "$RID" "request ids differ between requests"
http GET /nope
assert_request_ids "404"
http POST /health
assert_request_ids "405"

step "unknown route: 404 in the OpenAI envelope"
http GET /v1/nope
assert_openai_error 404 invalid_request_error null "GET /v1/nope"
assert_json_contains "$BODY" error.message "/v1/nope" "404 message names the path"
http GET /
assert_openai_error 404 invalid_request_error null "GET /"

step "unknown route under /v1/messages: 404 in the Anthropic envelope"
http POST /v1/messages/nope -d '{}'
assert_anthropic_error 404 not_found_error "POST /v1/messages/nope"

step "wrong method: 405 with Allow, in the path's envelope"
http GET /v1/chat/completions
assert_openai_error 405 invalid_request_error null "GET /v1/chat/completions"
assert_header allow POST "405 Allow on /v1/chat/completions"
http GET /v1/messages
assert_anthropic_error 405 invalid_request_error "GET /v1/messages"
assert_header allow POST "405 Allow on /v1/messages"
http GET '/v1/messages?beta=true'
assert_anthropic_error 405 invalid_request_error "GET /v1/messages?beta=true"
http PUT /v1/messages/count_tokens
assert_anthropic_error 405 invalid_request_error "PUT /v1/messages/count_tokens"
http POST /v1/models -d '{}'
assert_openai_error 405 invalid_request_error null "POST /v1/models"
assert_header allow GET "405 Allow on /v1/models"
http DELETE /health
assert_status 405 "DELETE /health"
assert_header allow GET "405 Allow on /health"

step "routing ignores the query string"
http POST '/v1/messages?beta=true' -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
    -d '{"model":"claude-3-5-sonnet","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
assert_ne 404 "$STATUS" "POST /v1/messages?beta=true is routed"
assert_ne 405 "$STATUS" "POST /v1/messages?beta=true is routed"
if [[ "$STATUS" -ge 400 ]]; then
    # whatever the route answers without an upstream, it answers as Anthropic
    assert_json "$BODY" type error "POST /v1/messages?beta=true error envelope"
    assert_json "$BODY" request_id "$(header request-id)" "POST /v1/messages?beta=true request_id"
fi
http GET '/health?probe=1&x=/y'
assert_status 200 "GET /health?probe=1"
http GET '/v1/nope?x=1'
assert_json_contains "$BODY" error.message "/v1/nope" "404 message"
json_val "$BODY" error.message
assert_not_contains "$JV" "x=1" "404 message has no query"

step "the access log names the path without the query"
wait_for 10 "access log line for /health?probe=1" grep -q '"path":"/health","status":200' "$GW_LOG"
assert_file_not_contains "$GW_LOG" 'probe=1' "access log"

gw_stop
