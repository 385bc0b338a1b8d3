#!/usr/bin/env bash
# Client auth in both envelopes, /metrics and /internal gating, and the access log (fields, key
# id, never the key).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEY="sk-e2e-SECRET-$RANDOM$RANDOM-0123456789"
WRONG="sk-e2e-WRONG-$RANDOM$RANDOM-9876543210"
KEY_ID="$(key_id "$KEY")"

step "nothing configured: /metrics and /internal are 503, client routes are open"
gw_start
http GET /metrics
assert_openai_error 503 server_error metrics_disabled "/metrics unconfigured"
http GET /metrics -H "Authorization: Bearer $WRONG"
assert_status 503 "/metrics unconfigured, with a token"
http GET /internal/x
assert_openai_error 503 server_error admin_disabled "/internal/x unconfigured"
http POST /internal/config -H "Authorization: Bearer $WRONG"
assert_status 503 "/internal/config unconfigured, with a token"
http POST /v1/chat/completions -d '{}'
assert_ne 401 "$STATUS" "client route with auth disabled"
assert_file_contains "$GW_LOG" "AUTH DISABLED" "start-up warning"
gw_stop

step "API_KEYS set: client routes need the key"
gw_start API_KEYS="other-key, $KEY"
http POST /v1/chat/completions -H 'content-type: application/json' -d '{}'
# the seed's auth.py: missing and wrong keys both carry code invalid_api_key
assert_openai_error 401 invalid_request_error invalid_api_key "OpenAI, no key"
assert_json_contains "$BODY" error.message "API key" "OpenAI, no key: message"
assert_header www-authenticate Bearer "OpenAI 401 WWW-Authenticate"
assert_request_ids "OpenAI 401"
http POST /v1/chat/completions -H "Authorization: Bearer $WRONG" -d '{}'
assert_openai_error 401 invalid_request_error invalid_api_key "OpenAI, wrong key"
assert_not_contains "$BODY" "$WRONG" "401 body"
http POST /v1/chat/completions -H "x-api-key: $KEY" -d '{}'
assert_openai_error 401 invalid_request_error invalid_api_key "OpenAI route ignores x-api-key (key missing)"
http POST /v1/chat/completions -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d '{}'
assert_ne 401 "$STATUS" "OpenAI, right Bearer key"
ok_openai_rid="$(header request-id)"
http GET /v1/models -H "Authorization: Bearer $WRONG"
assert_openai_error 401 invalid_request_error invalid_api_key "GET /v1/models, wrong key"

http POST /v1/messages -H 'content-type: application/json' -d '{}'
assert_anthropic_error 401 authentication_error "Anthropic, no key"
http POST /v1/messages -H "x-api-key: $WRONG" -d '{}'
assert_anthropic_error 401 authentication_error "Anthropic, wrong x-api-key"
assert_not_contains "$BODY" "$WRONG" "401 body"
http POST '/v1/messages?beta=true' -H "x-api-key: $WRONG" -H "Authorization: Bearer $KEY" -d '{}'
assert_anthropic_error 401 authentication_error "Anthropic, wrong x-api-key wins over a right Bearer"
http POST /v1/messages/count_tokens -H "Authorization: Bearer $WRONG" -d '{}'
assert_anthropic_error 401 authentication_error "count_tokens, wrong Bearer"
http POST '/v1/messages?beta=true' -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -d '{}'
assert_ne 401 "$STATUS" "Anthropic, right x-api-key"
ok_anthropic_rid="$(header request-id)"
http POST /v1/messages -H "Authorization: Bearer $KEY" -d '{}'
assert_ne 401 "$STATUS" "Anthropic, right Bearer"

step "API_KEYS set: /metrics and /internal accept any API key"
http GET /metrics
assert_openai_error 401 invalid_request_error invalid_api_key "/metrics without a token"
http GET /metrics -H "Authorization: Bearer $WRONG"
assert_openai_error 401 invalid_request_error invalid_api_key "/metrics with a wrong token"
http GET /metrics -H "Authorization: Bearer $KEY"
assert_status 200 "/metrics with an API key"
assert_contains "$BODY" "lingma_gateway_build_info" "/metrics exposition"
assert_contains "$(header content-type)" "text/plain" "/metrics content type"
http GET /internal/x -H "Authorization: Bearer $WRONG"
assert_openai_error 401 invalid_request_error invalid_api_key "/internal/x with a wrong token"
http GET /internal/x
assert_status 401 "/internal/x without a token"
http GET /internal/x -H "Authorization: Bearer $KEY"
assert_openai_error 404 invalid_request_error null "/internal/x with an API key (unknown endpoint)"
http GET /internal/config -H "x-api-key: $KEY"
assert_status 200 "/internal/config with an API key"
assert_json "$BODY" API_KEYS "<redacted>" "/internal/config"
assert_not_contains "$BODY" "$KEY" "/internal/config"

step "access log: fields, key id, never the key"
wait_for 10 "access log line of $ok_anthropic_rid" grep -q "\"request_id\":\"$ok_anthropic_rid\"" "$GW_LOG"
for rid in "$ok_openai_rid" "$ok_anthropic_rid"; do
    line="$(grep -F "\"request_id\":\"$rid\"" "$GW_LOG" | head -n 1)"
    checked="$(node -e '
        const [line, rid, keyId] = process.argv.slice(1);
        const e = JSON.parse(line), bad = [];
        if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/.test(e.time)) bad.push("time " + e.time);
        if (e.request_id !== rid) bad.push("request_id");
        if (e.method !== "POST") bad.push("method " + e.method);
        if (!/^\/v1\/(chat\/completions|messages)$/.test(e.path)) bad.push("path " + e.path);
        if (!Number.isInteger(e.status) || e.status < 200) bad.push("status " + e.status);
        if (!Number.isInteger(e.bytes) || e.bytes <= 0) bad.push("bytes " + e.bytes);
        if (typeof e.duration_ms !== "number" || e.duration_ms < 0) bad.push("duration_ms " + e.duration_ms);
        if (e.key_id !== keyId) bad.push("key_id " + e.key_id + " want " + keyId);
        console.log(bad.length ? bad.join(", ") : "ok");
    ' "$line" "$rid" "$KEY_ID")"
    assert_eq ok "$checked" "access log line $line"
done
grep -q '"kind":"access".*"status":401' "$GW_LOG" || fail "401s are not in the access log"
pass
assert_file_not_contains "$GW_LOG" "$KEY" "gateway log (the key)"
assert_file_not_contains "$GW_LOG" "$WRONG" "gateway log (a wrong key)"
assert_file_not_contains "$GW_LOG" "SECRET" "gateway log"
gw_stop

step "ADMIN_TOKEN and METRICS_TOKEN (flags): API keys stop working on /internal"
ADM="adm-$RANDOM$RANDOM"
MT="mt-$RANDOM$RANDOM"
gw_start -- --api-keys "$KEY" --admin-token "$ADM" --metrics-token "$MT"
http GET /internal/config -H "Authorization: Bearer $KEY"
assert_openai_error 401 invalid_request_error invalid_api_key "/internal with an API key when ADMIN_TOKEN is set"
http GET /internal/config -H "Authorization: Bearer $ADM"
assert_status 200 "/internal/config with ADMIN_TOKEN"
assert_json "$BODY" ADMIN_TOKEN "<redacted>" "/internal/config"
assert_json "$BODY" METRICS_TOKEN "<redacted>" "/internal/config"
http GET /metrics -H "Authorization: Bearer $MT"
assert_status 200 "/metrics with METRICS_TOKEN"
http GET /metrics -H "Authorization: Bearer $KEY"
assert_status 200 "/metrics with an API key next to METRICS_TOKEN"
http GET /metrics -H "Authorization: Bearer $ADM"
assert_status 401 "/metrics with the admin token"
assert_file_not_contains "$GW_LOG" "$ADM" "gateway log (admin token)"
assert_file_not_contains "$GW_LOG" "$MT" "gateway log (metrics token)"
gw_stop

step "METRICS_PUBLIC=true: /metrics is open, /internal still disabled"
gw_start METRICS_PUBLIC=true
http GET /metrics
assert_status 200 "/metrics public"
assert_contains "$BODY" "lingma_gateway_connections " "/metrics exposition"
http GET /metrics -H "Authorization: Bearer $WRONG"
assert_status 200 "/metrics public with any token"
http GET /internal/x
assert_status 503 "/internal/x still disabled"
gw_stop

step "./.env in the working directory is read"
printf '# test\nexport API_KEYS="%s" # from .env\r\n' "$KEY" >.env
gw_start
rm -f .env
http POST /v1/chat/completions -d '{}'
assert_openai_error 401 invalid_request_error invalid_api_key "key from ./.env required"
http POST /v1/chat/completions -H "Authorization: Bearer $KEY" -d '{}'
assert_ne 401 "$STATUS" "key from ./.env accepted"
gw_stop
