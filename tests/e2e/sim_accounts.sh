# lingma-sim: per-account scripts (--config and /_sim/accounts), per-account catalogs, config
# defaults, /_sim/reset, and the cancellation record (client_closed, closed_at_ms).
set -u
source "$(dirname "$0")/sim_lib.sh"

cat >"$SIM_TMP/config.json" <<'JSON'
{
  "accounts": {
    "1001": {"error": "429", "times": 2, "retry_after": 3},
    "1002": {"error": "login"},
    "1003": {"catalog": [{"key": "only_model", "display_name": "Only Model"}]}
  },
  "defaults": {"chunks": 2}
}
JSON
sim_start --quiet --config "$SIM_TMP/config.json"
hello() { chat_body "${1:-kmodel}" "sess-$SIM_USER" "[$(user_msg hello)]"; }

SIM_USER=1001
sim_models >/dev/null
check "1001 (429 x2, chat scope): model list unaffected" [ "$(http_status)" = 200 ]
sim_chat "$(hello)" >/dev/null
check "1001: first chat 429" bash -c '[ "$1" = 429 ] && [ "$2" = 3 ]' _ "$(http_status)" "$(header_value Retry-After)"
sim_chat "$(hello)" >/dev/null
check "1001: second chat 429" [ "$(http_status)" = 429 ]
out=$(sim_chat "$(hello)")
check "1001: third chat served" bash -c '[ "$1" = 200 ] && [ "$2" = "echo: hello" ]' _ "$(http_status)" "$(content_of <<<"$out")"
check "defaults chunks=2 apply" [ "$(grep -c '\\"content\\"' <<<"$out")" = 2 ]

SIM_USER=1002
sim_models >/dev/null
check "1002 (login, forever): model list 302" [ "$(http_status)" = 302 ]
sim_chat "$(hello)" >/dev/null
check "1002: chat 302" [ "$(http_status)" = 302 ]

SIM_USER=1003
out=$(sim_models)
check "1003: its own catalog" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert [m["key"] for m in d["chat"]] == ["only_model"] and d["chat"][0]["display_name"] == "Only Model"
' "$out"
check "1003: kmodel not in its catalog" contains "$(sim_chat "$(hello)")" 'model not found'
check "1003: its model works" [ "$(content_of <<<"$(sim_chat "$(hello only_model)")")" = "echo: hello" ]

# Runtime control
SIM_USER=1004
r=$(curl -sS --max-time 5 -d '{"error":"env403_105","times":1}' "$SIM_URL/_sim/accounts/1004")
check "POST /_sim/accounts/1004: ok" contains "$r" '"ok":true'
check "1004: scripted env403_105 once" contains "$(sim_chat "$(hello)")" '\"code\":\"105\"'
check "1004: then normal service" [ "$(content_of <<<"$(sim_chat "$(hello)")")" = "echo: hello" ]
curl -sS --max-time 5 -d '{"error":"503"}' "$SIM_URL/_sim/accounts/1004" >/dev/null
sim_chat "$(hello)" >/dev/null
check "1004: replaced script (503)" [ "$(http_status)" = 503 ]
curl -sS --max-time 5 -d '{}' "$SIM_URL/_sim/accounts/1004" >/dev/null
sim_chat "$(hello)" >/dev/null
check "1004: {} clears" [ "$(http_status)" = 200 ]
r=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -d '{"error":"nope"}' "$SIM_URL/_sim/accounts/1004")
check "bad script: 400" [ "$r" = 400 ]
r=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -d 'not json' "$SIM_URL/_sim/accounts/1004")
check "bad JSON: 400" [ "$r" = 400 ]

check "log: scripted requests flagged, accounts recorded" python3 -c '
import json, sys
reqs = json.loads(sys.argv[1])["requests"]
s = [(r["account"], r["status"]) for r in reqs if r["script"]]
assert ("1001", 429) in s and ("1002", 302) in s and ("1004", 200) in s, s
' "$(sim_requests)"

# Reset: config scripts come back with fresh budgets, the log is empty.
curl -sS --max-time 5 -X POST "$SIM_URL/_sim/reset" >/dev/null
check "reset: log cleared" [ "$(sim_requests | jq_py 'len(d["requests"])')" = 0 ]
SIM_USER=1001 sim_chat "$(SIM_USER=1001 hello)" >/dev/null
check "reset: 1001 is rate limited again" [ "$(http_status)" = 429 ]

# Cancellation: the client leaves mid-stream; the record says so, with the time.
SIM_USER=1005
body=$(chat_body kmodel sess-cancel "[$(user_msg $'slow\n@sim chunks=20 delay_ms=200')]")
t0=$(date +%s%3N)
sim_chat "$body" "" --max-time 0.5 >/dev/null 2>&1
t1=$(date +%s%3N)
sleep 0.2
check "cancel: client_closed, not finished, closed within 100 ms of the client" python3 -c '
import json, sys
r = [r for r in json.loads(sys.argv[1])["requests"] if r["session_id"] == "sess-cancel"][0]
t0, t1 = int(sys.argv[2]), int(sys.argv[3])
assert r["client_closed"] and not r["finished"] and r["stream"], r
assert t0 <= r["closed_at_ms"] <= t1 + 100, (t0, r["closed_at_ms"], t1)
assert 0 < r["bytes_sent"] and r["duration_ms"] < 2000, r
' "$(sim_requests)" "$t0" "$t1"

sim_stop
finish
