#!/usr/bin/env bash
# The two readers of a request body (DESIGN D35) through the real gateway and simulator: the same
# Anthropic conversation sent compact (the one-pass scanner takes it) and rewritten so that json-c
# must read it (a repeated key, -0, pretty-printed, non-ASCII as \u escapes) must reach the
# upstream as the same messages and tools, and get the same answer.
source "$(dirname "$0")/pool_lib.sh"

pool_start

# doc FORM: the conversation as a /v1/messages body; FORM is compact or jsonc
doc() {
    "$PY" - "$1" <<'PY'
import json, sys
body = {
    "model": "claude-sonnet-4-5", "max_tokens": 256, "temperature": 0,
    "system": [{"type": "text", "text": "You are terse.\nAnswer in \"one\" line."}],
    "tools": [{"name": "read_file", "description": "Read a file — any path",
               "input_schema": {"type": "object", "properties": {"path": {"type": "string"},
                                "limit": {"type": "integer", "minimum": 15.0}},
                                "required": ["path"]}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "héllo 😀 tab\there \\ back"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "read_file",
                                           "input": {"path": "/tmp/a b", "limit": 10}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": "line 1\nline 2"},
                                     {"type": "text", "text": "and now?"}]},
    ],
}
if sys.argv[1] == "compact":
    print(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
else:
    text = json.dumps(body, ensure_ascii=True, indent=2)
    # a repeated key (json-c keeps the last value), and -0 (json-c reads 0)
    text = text.replace('"max_tokens": 256', '"max_tokens": 1,\n  "max_tokens": 256', 1)
    text = text.replace('"temperature": 0', '"temperature": -0', 1)
    print(text)
PY
}

# upstream_view SEQ: what the sim received for chat request SEQ: its messages and tools (decimals
# kept as their text, quoted)
upstream_view() {
    sim_get "/_sim/requests?since=$(($1 - 1))&full=1" | "$PY" -c '
import json, sys
r = [x for x in json.load(sys.stdin, parse_float=str)["requests"] if x["seq"] == int(sys.argv[1])][0]
b = r["body"]
print(json.dumps({"messages": b.get("messages"), "tools": b.get("tools"), "model": r.get("model")},
                 sort_keys=True))' "$1"
}

send() {
    http POST /v1/messages -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
        --data-binary "$1"
}

step "the compact body and its json-c-only rewrite reach the upstream alike"
compact="$(doc compact)"
jsonc="$(doc jsonc)"
assert_contains "$jsonc" '\ud83d\ude00' "the rewrite escapes the emoji as a surrogate pair"
since=$(sim_last_seq)
send "$compact"
assert_status 200 "compact body"
reply_compact="$(json_get "$BODY" content.0.text)"
send "$jsonc"
assert_status 200 "json-c body"
reply_jsonc="$(json_get "$BODY" content.0.text)"
assert_eq "$reply_compact" "$reply_jsonc" "same answer"
chats="$(sim_chats "$since")"
assert_eq 2 "$(wc -l <<<"$chats")" "two upstream requests"
view_a="$(upstream_view "$(col 1 "$(head -1 <<<"$chats")")")"
view_b="$(upstream_view "$(col 1 "$(tail -1 <<<"$chats")")")"
assert_contains "$view_a" 'h\u00e9llo \ud83d\ude00 tab\there' "the text arrived decoded"
assert_contains "$view_a" '"minimum": "15.0"' "the schema's number keeps its text"
assert_eq "$view_a" "$view_b" "identical messages and tools upstream"
pass

step "a body only json-c reads still gets json-c's judgement: invalid JSON is a 400"
send '{"model":"x","max_tokens":1,"messages":[{"role":"user","content":"a"}],}'
assert_anthropic_error 400 invalid_request_error "trailing comma"
assert_json_contains "$BODY" error.message "not valid JSON" "says why"
