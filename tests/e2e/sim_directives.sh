# lingma-sim: the `@sim` directives of the last user message (syntax in sim/directives.c).
set -u
source "$(dirname "$0")/sim_lib.sh"

sim_start --quiet

# turn DIRECTIVE [curl args...]: a signed chat whose last user message is "hello\n@sim DIRECTIVE".
turn() { sim_chat "$(chat_body kmodel "sess-$RANDOM" "[$(user_msg $'hello\n'"@sim $1")]")" "" "${@:2}"; }

# Parses a stream with envelopes into a JSON summary for the checks below.
summary() { python3 -c '
import json, sys
s = {"content": "", "reasoning": "", "tools": {}, "finish": None, "usage": None, "done": False,
     "done_envelope": False, "errors": [], "n_content": 0, "keepalive": 0, "space": False,
     "after_done": False, "max_line": 0, "events": [], "tool_order": []}
for line in sys.stdin:
    line = line.rstrip("\n")
    s["max_line"] = max(s["max_line"], len(line))
    if line.startswith(":"): s["keepalive"] += 1; continue
    if not line.startswith("data:"): continue
    if s["done"]: s["after_done"] = True
    data = line[5:]
    if data.startswith(" "): s["space"] = True
    data = data.strip()
    if data == "[DONE]": s["done"] = True; s["events"].append("done"); continue
    env = json.loads(data)
    if env["body"] == "[DONE]": s["done"] = s["done_envelope"] = True; s["events"].append("done"); continue
    if env["statusCodeValue"] >= 400:
        s["errors"].append([env["statusCodeValue"], json.loads(env["body"])]); s["events"].append("error"); continue
    c = json.loads(env["body"])
    ch = c["choices"][0]; d = ch["delta"]
    if d.get("content"): s["content"] += d["content"]; s["n_content"] += 1; s["events"].append("content")
    if d.get("reasoning_content"): s["reasoning"] += d["reasoning_content"]; s["events"].append("reasoning")
    for tc in d.get("tool_calls") or []:
        t = s["tools"].setdefault(str(tc["index"]), {"id": None, "name": None, "args": "", "frags": 0})
        if "id" in tc: t["id"] = tc["id"]; t["name"] = tc["function"]["name"]
        if tc["function"].get("arguments"): t["args"] += tc["function"]["arguments"]; t["frags"] += 1
        s["tool_order"].append(("h" if "id" in tc else "a") + str(tc["index"]))
        s["events"].append("tool")
    if ch.get("finish_reason"): s["finish"] = ch["finish_reason"]; s["usage"] = c["usage"]; s["events"].append("finish")
print(json.dumps(s))
'; }
# q SUMMARY PYTHON_EXPR: evaluates EXPR with s = the summary.
q() { python3 -c "import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$1"; }

s=$(turn 'chunks=2' | summary)
check "chunks=2: two content chunks, directive line not echoed" q "$s" 's["n_content"]==2 and s["content"]=="echo: hello"'
s=$(turn 'chunk_size=3 reply="abcdefgh"' | summary)
check "chunk_size=3 reply=: 3 chunks of the reply" q "$s" 's["n_content"]==3 and s["content"]=="abcdefgh"'
s=$(turn 'reply="héllo wörld ✓" chunk_size=1' | summary)
check "chunk_size never splits UTF-8" q "$s" 's["content"]=="héllo wörld ✓"'

s=$(turn 'tool=read_file args={"path":"main.c","n":[1,2]} arg_chunk=5' | summary)
check "tool=: one call, id + name first, args in 5-byte fragments, finish tool_calls" q "$s" '
(t := s["tools"]["0"])["name"]=="read_file" and t["id"].startswith("call_")
and json.loads(t["args"])=={"path":"main.c","n":[1,2]}
and t["frags"]==(len(t["args"])+4)//5 and s["finish"]=="tool_calls" and s["content"]=="" and s["done"]'
s=$(turn 'tool=a args={"x":1} tool2=b args2="not json{" reply="calling"' | summary)
check "tool2=: two calls with indexes 0/1, raw string args, content first" q "$s" '
s["tools"]["0"]["name"]=="a" and s["tools"]["1"]["name"]=="b" and s["tools"]["1"]["args"]=="not json{"
and s["content"]=="calling" and s["events"].index("content") < s["events"].index("tool")'

s=$(turn 'tool=a args={"x":1} tool2=b args2={"yy":22} arg_chunk=4 interleave=1' | summary)
check "interleave=1: both heads, then argument fragments round-robin" q "$s" '
s["tool_order"]==["h0","h1","a0","a1","a0","a1","a1"] and json.loads(s["tools"]["0"]["args"])=={"x":1}
and json.loads(s["tools"]["1"]["args"])=={"yy":22} and s["finish"]=="tool_calls" and s["done"]'

s=$(turn 'reasoning="thinking hard" reply="ok"' | summary)
check "reasoning=: reasoning deltas before content" q "$s" '
s["reasoning"]=="thinking hard" and s["content"]=="ok" and s["events"].index("reasoning") < s["events"].index("content")'
s=$(turn 'usage=off' | summary)
check "usage=off: no usage object" q "$s" 's["usage"] is None and s["finish"]=="stop"'
s=$(turn 'finish=length' | summary)
check "finish=length" q "$s" 's["finish"]=="length"'

turn 'error=429 retry_after=7' >"$SIM_TMP/resp"
check "error=429: HTTP 429" [ "$(http_status)" = 429 ]
check "error=429: Retry-After" [ "$(header_value Retry-After)" = 7 ]
check "error=429: JSON body" grep -q '"success":false,"errorCode":"429"' "$SIM_TMP/resp"
for st in 401 403 500 503; do
    turn "error=$st" >/dev/null
    check "error=$st: HTTP $st" [ "$(http_status)" = "$st" ]
done
turn 'error=login' >/dev/null
check "error=login: 302 to /login" bash -c '[ "$1" = 302 ] && [[ "$2" == /login* ]]' _ "$(http_status)" "$(header_value Location)"
out=$(turn 'error=login' -L)
check "error=login followed: 200 HTML, zero data: lines" bash -c '[ "$1" = 200 ] && [[ "$2" == *"<html>"* && "$2" != *"data:"* ]]' _ "$(http_status)" "$out"

s=$(turn 'error=env403_105' | summary)
check "error=env403_105: envelope 403 code 105 Login expired, HTTP 200" q "$s" \
    's["errors"]==[[403,{"code":"105","message":"Login expired"}]] and not s["done"] and s["finish"] is None'
check "error=env*: HTTP status stays 200" [ "$(http_status)" = 200 ]
s=$(turn 'error=env403_110' | summary); check "env403_110" q "$s" 's["errors"][0][0]==403 and s["errors"][0][1]["code"]=="110"'
s=$(turn 'error=env403_112' | summary); check "env403_112" q "$s" 's["errors"][0][0]==403 and s["errors"][0][1]["code"]=="112"'
s=$(turn 'error=env429_10605' | summary)
check "env429_10605: isQueued" q "$s" 's["errors"][0][0]==429 and json.loads(s["errors"][0][1]["message"])=={"isQueued":True}'
s=$(turn 'error=env500' | summary); check "env500" q "$s" 's["errors"][0][0]==500'
s=$(turn 'error=env400' | summary); check "env400: INVALID_REQUEST" q "$s" 's["errors"][0]==[400,{"code":"INVALID_REQUEST","message":"invalid request"}]'

s=$(turn 'error_after_finish=1' | summary)
check "error_after_finish=1: finish, then an error envelope, then [DONE]" q "$s" 's["events"][-3:]==["finish","error","done"]'
s=$(turn 'truncate=1' | summary)
check "truncate=1: content then EOF, no finish, no [DONE]" q "$s" 's["content"]=="echo: hello" and s["finish"] is None and not s["done"]'
s=$(turn 'no_done=1' | summary)
check "no_done=1: finish but no [DONE]" q "$s" 's["finish"]=="stop" and not s["done"]'
s=$(turn 'done=envelope' | summary)
check "done=envelope: [DONE] inside an envelope body" q "$s" 's["done_envelope"]'
s=$(turn 'keepalive=1' | summary)
check "keepalive=1: comment lines interleaved" q "$s" 's["keepalive"]>=5 and s["content"]=="echo: hello" and s["done"]'
s=$(turn 'space=1' | summary)
check "space=1: data: with a space" q "$s" 's["space"] and s["content"]=="echo: hello"'
s=$(turn 'long_line=100000' | summary)
check "long_line=100000: one content chunk of 100000 bytes" q "$s" 's["n_content"]==1 and len(s["content"])==100000 and s["max_line"]>100000'

t0=$(date +%s%3N); turn 'delay_ms=100 chunks=4' >/dev/null; t1=$(date +%s%3N)
check "delay_ms=100: ≥ 500 ms for 6 events" [ $((t1 - t0)) -ge 500 ]
t0=$(date +%s%3N); turn 'first_byte_delay_ms=300' >/dev/null; t1=$(date +%s%3N)
check "first_byte_delay_ms=300" [ $((t1 - t0)) -ge 300 ]
turn 'first_byte_delay_ms=2000' --max-time 0.5 >/dev/null 2>&1
check "first_byte_delay_ms: a client timeout sees no headers" [ -z "$(http_status)" ]
t0=$(date +%s%3N); turn 'stall_ms=400' >"$SIM_TMP/resp"; t1=$(date +%s%3N)
check "stall_ms=400: stream pauses after the first event, then completes" \
    bash -c '[ $1 -ge 400 ] && grep -q "data:\[DONE\]" "$2"' _ $((t1 - t0)) "$SIM_TMP/resp"

s=$(turn 'chunks=x' | summary)
check "bad directive value: in-stream 400 naming it" q "$s" 's["errors"][0][0]==400 and "chunks" in s["errors"][0][1]["message"]'
s=$(turn 'bogus=1' | summary)
check "unknown key: in-stream 400" q "$s" '"unknown key" in s["errors"][0][1]["message"]'

# Tool round trip: the directive's tool call, then the tool-result turn gets a final text reply.
call="$(user_msg $'read it\n@sim tool=read_file args={"path":"a"} after_tool="done reading"')"
asst='{"role":"assistant","content":"","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a\"}"}}]}'
res='{"role":"tool","tool_call_id":"call_1","content":"file contents"}'
s=$(sim_chat "$(chat_body kmodel sess-T "[$call,$asst,$res]")" | summary)
check "tool result turn: after_tool reply, finish stop" q "$s" 's["content"]=="done reading" and s["finish"]=="stop" and not s["tools"]'
call="$(user_msg $'read it\n@sim tool=read_file')"
long=$(printf 'x%.0s' $(seq 300))
s=$(sim_chat "$(chat_body kmodel sess-T "[$call,$asst,{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"$long\"}]")" | summary)
check "tool result turn: default reply quotes 200 chars" q "$s" 's["content"]=="tool result received: "+"x"*200'

log=$(sim_requests)
check "log: directive recorded" python3 -c '
import json, sys
reqs = json.loads(sys.argv[1])["requests"]
assert any(r["directive"] == {"error": "429", "retry_after": 7} or r["directive"] == {"retry_after": 7, "error": "429"} for r in reqs), [r["directive"] for r in reqs]
' "$log"

sim_stop
finish
