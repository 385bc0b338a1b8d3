#!/usr/bin/env bash
# Bodies over 1 MiB are decoded on the thread pool: they still answer correctly in both
# protocols (200, and 400 in the caller's envelope for a bad one), and a client that leaves
# while its large body is being decoded does not disturb the gateway.
source "$(dirname "$0")/pool_lib.sh"

pool_start

big_text() { head -c "$1" /dev/zero | tr '\0' 'x'; }

step "1.5 MiB OpenAI request → 200"
{ printf '{"model":"kmodel","messages":[{"role":"user","content":"'; big_text 1500000
  printf '\\n@sim reply=\\"big ok\\""}]}'; } >"$LGW_TMP/big_openai.json"
http POST /v1/chat/completions -H 'content-type: application/json' --data-binary @"$LGW_TMP/big_openai.json"
assert_status 200 "large OpenAI request"
assert_json "$BODY" choices.0.message.content "big ok" "large OpenAI reply"

step "1.5 MiB Anthropic request → 200"
{ printf '{"model":"claude-x","max_tokens":50,"messages":[{"role":"user","content":"'; big_text 1500000
  printf '\\n@sim reply=\\"big anthropic\\""}]}'; } >"$LGW_TMP/big_anthropic.json"
http POST /v1/messages -H 'content-type: application/json' --data-binary @"$LGW_TMP/big_anthropic.json"
assert_status 200 "large Anthropic request"
assert_json "$BODY" content.0.text "big anthropic" "large Anthropic reply"

step "large malformed requests → 400 in each envelope"
{ printf '{"model":"k","messages":[1], "pad":"'; big_text 1200000; printf '"}'; } >"$LGW_TMP/big_bad.json"
http POST /v1/chat/completions --data-binary @"$LGW_TMP/big_bad.json"
assert_openai_error 400 invalid_request_error null "large bad OpenAI request"
http POST /v1/messages --data-binary @"$LGW_TMP/big_bad.json"
assert_anthropic_error 400 invalid_request_error "large bad Anthropic request"

step "clients leaving while their large bodies are decoded"
for i in 1 2 3 4 5; do
    curl -s --max-time 0.05 -o /dev/null --data-binary @"$LGW_TMP/big_openai.json" "$GW_URL/v1/chat/completions" || true
done
http GET /health
assert_status 200 "gateway still healthy"
http POST /v1/chat/completions --data-binary '{"model":"kmodel","messages":[{"role":"user","content":"after"}]}'
assert_status 200 "small request after the aborted large ones"

gw_stop
