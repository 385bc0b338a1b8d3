# lingma-sim: model list, a default chat stream, request verification (§6.1 items 1–4, 6),
# the reject styles, the request log and the simulated prefix cache.
set -u
source "$(dirname "$0")/sim_lib.sh"

sim_start --quiet

# --- model list (§1.5)
out=$(sim_models)
check "model list: 200" [ "$(http_status)" = 200 ]
check "model list: bare object with the four scenes" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert set(d) == {"chat", "inline", "developer", "assistant"}, d.keys()
keys = {m["key"]: m for m in d["chat"]}
for k in ("kmodel", "mmodel", "dashscope_qwen3_coder", "dashscope_qmodel",
          "dashscope_qwen_max_latest", "dashscope_qwen_plus_20250428_thinking"):
    assert k in keys, k
assert keys["kmodel"]["display_name"] == "Kimi-K2.6"
assert keys["dashscope_qwen_plus_20250428_thinking"]["is_reasoning"] is True
assert any(m["is_vl"] for m in d["chat"])
for m in d["chat"]:
    for f in ("key", "display_name", "model", "enable", "format", "source", "order", "is_vl",
              "is_reasoning", "max_input_tokens"):
        assert f in m, (m["key"], f)
' "$out"

# --- default chat stream (§1.7)
body=$(chat_body kmodel sess-A "[$(user_msg 'Say hi')]")
out=$(sim_chat "$body")
check "chat: 200" [ "$(http_status)" = 200 ]
check "chat: text/event-stream" contains "$(header_value Content-Type)" text/event-stream
check "chat: echo reply" [ "$(content_of <<<"$out")" = "echo: Say hi" ]
check "chat: envelope shape, 4 content chunks, finish + usage, bare [DONE] last" python3 -c '
import json, sys
lines = [l for l in sys.argv[1].split("\n") if l]
assert all(l.startswith("data:") for l in lines), lines
assert lines[-1] == "data:[DONE]", lines[-1]
chunks = []
for l in lines[:-1]:
    env = json.loads(l[5:])
    assert env["statusCodeValue"] == 200 and env["statusCode"] == "OK" and env["headers"] == {}
    assert isinstance(env["body"], str)
    chunks.append(json.loads(env["body"]))
assert all(c["object"] == "chat.completion.chunk" for c in chunks)
content = [c for c in chunks if c["choices"][0]["delta"].get("content")]
assert len(content) == 4, len(content)
fin = chunks[-1]
assert fin["choices"][0]["finish_reason"] == "stop"
u = fin["usage"]
assert u["prompt_tokens"] >= 1 and u["completion_tokens"] == len("echo: Say hi") // 4
assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
assert u["prompt_tokens_details"]["cached_tokens"] == 0
' "$out"

# --- prefix cache: the next turn of the same session extends it → cached_tokens
hist="$(user_msg 'Say hi'),{\"role\":\"assistant\",\"content\":\"echo: Say hi\"},$(user_msg 'And again, a bit longer this time')"
out=$(sim_chat "$(chat_body kmodel sess-A "[$hist]")")
cached=$(grep -o 'cached_tokens\\":[0-9]*' <<<"$out" | grep -o '[0-9]*$')
check "session extension: cached_tokens = previous prompt_tokens (1)" [ "$cached" = 1 ]
out=$(sim_chat "$(chat_body kmodel sess-B "[$hist]")")
cached=$(grep -o 'cached_tokens\\":[0-9]*' <<<"$out" | grep -o '[0-9]*$')
check "other session: no cached tokens" [ "$cached" = 0 ]

# --- verification failures → 401 JSON, recorded with a reason
cosy_headers "$CHAT_PATH" "$body"
curl -sS --max-time 5 -D "$SIM_TMP/headers" "${HDRS[@]}" --data-binary "${body/Say hi/Say ho}" \
    "$SIM_URL$CHAT_PATH?$CHAT_QUERY" >"$SIM_TMP/resp"
check "tampered body: 401" [ "$(http_status)" = 401 ]
check "tampered body: JSON error naming the signature" grep -q '"errorCode":"401".*signature' "$SIM_TMP/resp"

cosy_headers "$CHAT_PATH" "$body" $(($(date +%s) - 1000))
curl -sS --max-time 5 -D "$SIM_TMP/headers" "${HDRS[@]}" --data-binary "$body" \
    "$SIM_URL$CHAT_PATH?$CHAT_QUERY" >"$SIM_TMP/resp"
check "stale Cosy-Date: 401" [ "$(http_status)" = 401 ]
check "stale Cosy-Date: reason" grep -q 'cosy-date' "$SIM_TMP/resp"

cosy_headers "$CHAT_PATH" "$body"
auth=${HDRS[1]}
[[ ${auth: -1} == 0 ]] && HDRS[1]="${auth%?}1" || HDRS[1]="${auth%?}0"
curl -sS --max-time 5 -D "$SIM_TMP/headers" "${HDRS[@]}" --data-binary "$body" \
    "$SIM_URL$CHAT_PATH?$CHAT_QUERY" >"$SIM_TMP/resp"
check "bad signature: 401" [ "$(http_status)" = 401 ]

cosy_headers "$CHAT_PATH" "$body"
HDRS=("${HDRS[@]/#Cosy-Version: */Cosy-Version: 9.9.9}")
curl -sS --max-time 5 -D "$SIM_TMP/headers" "${HDRS[@]}" --data-binary "$body" \
    "$SIM_URL$CHAT_PATH?$CHAT_QUERY" >"$SIM_TMP/resp"
check "Cosy-Version header != payload cosyVersion: 401" [ "$(http_status)" = 401 ]

SIM_USER= sim_chat "$body" >/dev/null
check "empty Cosy-User: 401" [ "$(http_status)" = 401 ]

curl -sS --max-time 5 -D "$SIM_TMP/headers" --data-binary "$body" "$SIM_URL$CHAT_PATH?$CHAT_QUERY" >/dev/null
check "no Authorization: 401" [ "$(http_status)" = 401 ]

# --- body validation → HTTP 200 + in-stream 400 INVALID_REQUEST
out=$(sim_chat "$(chat_body no_such_model sess-C "[$(user_msg hi)]")")
check "unknown model: in-stream 400 model not found" python3 -c '
import json, sys
env = json.loads(sys.argv[1].split("\n")[0][5:])
assert env["statusCodeValue"] == 400, env
assert json.loads(env["body"]) == {"code": "INVALID_REQUEST", "message": "model not found"}
' "$out"
out=$(sim_chat "$(chat_body '' sess-C "[$(user_msg hi)]")")
check "model key \"\" (auto) accepted" [ "$(content_of <<<"$out")" = "echo: hi" ]
out=$(sim_chat "$(chat_body org_auto sess-C "[$(user_msg hi)]")")
check "model key org_auto accepted" [ "$(content_of <<<"$out")" = "echo: hi" ]
out=$(sim_chat "$(chat_body kmodel sess-C '[]')")
check "empty messages: in-stream 400" contains "$out" '"statusCodeValue":400'
nostream=$(chat_body kmodel sess-C "[$(user_msg hi)]")
out=$(sim_chat "${nostream/\"stream\":true/\"stream\":false}")
check "stream:false: in-stream 400" contains "$out" 'stream must be true'

out=$(sim_chat "$(chat_body kmodel sess-C '[{"content":"no role"}]')")
check "message without role: in-stream 400" contains "$out" 'string role'

# --- request log
log=$(sim_requests)
check "log: verified chat with session_id, account, model, roles" python3 -c '
import json, sys
reqs = json.loads(sys.argv[1])["requests"]
ok = [r for r in reqs if r["verified"] and r["session_id"] == "sess-A"]
assert len(ok) == 2, ok
r = ok[0]
assert r["account"] == "1001" and r["machine_id"] == "machine-test-1" and r["model"] == "kmodel"
assert r["roles"] == ["user"] and r["n_messages"] == 1 and r["status"] == 200
assert r["stream"] and r["finished"] and not r["client_closed"] and r["closed_at_ms"] >= r["time_ms"]
assert ok[1]["cached_tokens"] == 1 and ok[1]["roles"] == ["user", "assistant", "user"]
bad = [r for r in reqs if not r["verified"]]
reasons = " | ".join(r["reason"] or "" for r in bad)
for want in ("signature", "cosy-date", "cosyVersion", "cosy-user", "authorization: missing", "model not found"):
    assert want in reasons, (want, reasons)
' "$log"
check "log: ?full=1 carries the parsed body" python3 -c '
import json, sys
reqs = json.loads(sys.argv[1])["requests"]
assert any(isinstance(r.get("body"), dict) and r["body"]["stream"] is True for r in reqs)
' "$(sim_requests '?full=1')"
last=$(sim_requests | jq_py 'd["requests"][-1]["seq"]')
check "log: ?since=SEQ returns nothing newer" [ "$(sim_requests "?since=$last" | jq_py 'len(d["requests"])')" = 0 ]
curl -sS --max-time 5 -X DELETE "$SIM_URL/_sim/requests" >/dev/null
check "log: DELETE clears" [ "$(sim_requests | jq_py 'len(d["requests"])')" = 0 ]

# --- unknown path → 404 NoSuchKey (wrong base URL)
curl -sS --max-time 5 -D "$SIM_TMP/headers" "$SIM_URL/v1/chat/completions" >"$SIM_TMP/resp"
check "unknown path: 404 NoSuchKey" grep -q NoSuchKey "$SIM_TMP/resp"

# --- --reject-style html: bad signature → 302 /login → 200 HTML
sim_stop
sim_start --quiet --reject-style html
cosy_headers "$CHAT_PATH" "$body"
curl -sS --max-time 5 -D "$SIM_TMP/headers" "${HDRS[@]}" --data-binary "${body/Say hi/Say ho}" \
    "$SIM_URL$CHAT_PATH?$CHAT_QUERY" >/dev/null
check "html style: 302" [ "$(http_status)" = 302 ]
check "html style: Location /login" contains "$(header_value Location)" /login
cosy_headers "$CHAT_PATH" "$body"
out=$(curl -sS --max-time 5 -L -D "$SIM_TMP/headers" "${HDRS[@]}" --data-binary "${body/Say hi/Say ho}" \
    "$SIM_URL$CHAT_PATH?$CHAT_QUERY")
check "html style: following the redirect gives a 200 HTML page without data: lines" \
    bash -c '[[ "$1" == *"<html>"* || "$1" == *"<!DOCTYPE html>"* ]] && [[ "$1" != *"data:"* ]]' _ "$out"
check "html style: valid requests still served" [ "$(content_of <<<"$(sim_chat "$body")")" = "echo: Say hi" ]

# --- --skew
sim_stop
sim_start --quiet --skew 5
cosy_headers "$CHAT_PATH" "$body" $(($(date +%s) - 30))
curl -sS --max-time 5 -D "$SIM_TMP/headers" "${HDRS[@]}" --data-binary "$body" "$SIM_URL$CHAT_PATH?$CHAT_QUERY" >/dev/null
check "--skew 5: a 30 s old Cosy-Date is rejected" [ "$(http_status)" = 401 ]

sim_stop
finish
