#!/usr/bin/env bash
# Session affinity end to end: one conversation = one upstream session on one account, across
# turns and across front protocols; scoped by API key; an edited or replayed history forks.
# Ground truth: the session_id / account of each chat request in the sim's request log.
source "$(dirname "$0")/pool_lib.sh"

pool_start -- --api-keys k1,k2

# ---------------------------------------------------------------------------------------------
step "three turns of one conversation → one session, one account"
since=$(sim_last_seq)
conv_new "You are a terse assistant."
conv_user "first question"
turn_ok openai k1
conv_user "second question"
turn_ok openai k1
conv_user "third question"
turn_ok openai k1
chats="$(sim_chats "$since")"
assert_eq 3 "$(wc -l <<<"$chats")" "three upstream requests"
assert_eq 1 "$(col 2 "$chats" | sort -u | wc -l)" "one session id for three turns [$(col 2 "$chats" | tr '\n' ' ')]"
assert_eq 1 "$(col 3 "$chats" | sort -u | wc -l)" "one account for three turns [$(col 3 "$chats" | tr '\n' ' ')]"
S1="$(col 2 "$chats" | head -1)"
conv3="$CONV"

# ---------------------------------------------------------------------------------------------
step "turn 1 through /v1/chat/completions, turn 2 through /v1/messages → same session"
since=$(sim_last_seq)
conv_new "You are a cross-protocol assistant."
conv_user "hello from openai"
turn_ok openai k1
conv_user "hello from anthropic"
turn_ok anthropic k1
conv_user "and back to openai"
turn_ok openai k1
chats="$(sim_chats "$since")"
assert_eq 3 "$(wc -l <<<"$chats")" "three upstream requests"
assert_eq 1 "$(col 2 "$chats" | sort -u | wc -l)" "one session across protocols [$(col 2 "$chats" | tr '\n' ' ')]"
assert_ne "$S1" "$(col 2 "$chats" | head -1)" "another conversation has another session"

# ---------------------------------------------------------------------------------------------
step "two API keys with identical conversations → different sessions"
since=$(sim_last_seq)
for key in k1 k2; do
    conv_new "Key scope check."
    conv_user "identical words"
    turn_ok openai "$key"
    conv_user "identical follow-up"
    turn_ok anthropic "$key"
done
chats="$(sim_chats "$since")"
assert_eq 4 "$(wc -l <<<"$chats")" "four upstream requests"
sessions=($(col 2 "$chats"))
assert_eq "${sessions[0]}" "${sessions[1]}" "k1: turn 2 continues its session"
assert_eq "${sessions[2]}" "${sessions[3]}" "k2: turn 2 continues its session"
assert_ne "${sessions[0]}" "${sessions[2]}" "k1 and k2 never share a session"

# ---------------------------------------------------------------------------------------------
step "an edited history (changed earlier message) → a fresh session"
since=$(sim_last_seq)
CONV="$("$PY" -c '
import json, sys
a = json.loads(sys.argv[1])
a[1]["content"] = "first question, edited"
print(json.dumps(a[:4] + [{"role": "user", "content": "second question again"}]))' "$conv3")"
turn_ok openai k1
chats="$(sim_chats "$since")"
assert_eq 1 "$(wc -l <<<"$chats")" "one upstream request"
assert_ne "$S1" "$(col 2 "$chats")" "edited history does not reuse the session"

step "replaying turn 2 after it completed → a fresh session (fork), turn 3 still continues"
since=$(sim_last_seq)
CONV="$("$PY" -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])[:4]))' "$conv3")"
turn_ok openai k1
CONV="$conv3"
conv_user "fourth question"
turn_ok openai k1
chats="$(sim_chats "$since")"
assert_eq 2 "$(wc -l <<<"$chats")" "two upstream requests"
assert_ne "$S1" "$(col 2 "$chats" | head -1)" "replayed turn 2 forks"
assert_eq "$S1" "$(col 2 "$chats" | tail -1)" "the original line of the conversation keeps its session"

step "streamed turns with a long reply (hashed as it streams, not held) → same session"
# stream_turn PROTO: the history as a streamed turn; $REPLY = the text the stream carried
stream_turn() {
    bg_turn s "$1" 1 k1
    bg_wait "$BG_PID"
    assert_eq 200 "$(cat "$LGW_TMP/s.status")" "streamed turn via $1"
    REPLY="$("$PY" -c '
import json, sys
out = []
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.startswith("data:") or line.strip() == "data: [DONE]":
        continue
    ev = json.loads(line[5:])
    if "choices" in ev:
        out += [c["delta"].get("content") or "" for c in ev["choices"]]
    elif ev.get("type") == "content_block_delta" and ev["delta"].get("type") == "text_delta":
        out.append(ev["delta"]["text"])
print("".join(out), end="")' "$LGW_TMP/s.body")"
    ((${#REPLY} > 1024)) || fail "the reply is only ${#REPLY} bytes: ${REPLY:0:200}"
    conv_assistant "$REPLY"
}
since=$(sim_last_seq)
conv_new "You are a long-winded assistant."
long="$("$PY" -c 'print(" ".join("word%d,\n\n   spaced\tout" % i for i in range(80)), end="")')"
# many small pieces, so some end inside a whitespace run (the hash holds that run's space back)
conv_user "$long"$'\n@sim chunks=97'
stream_turn openai
conv_user "and again, through the other protocol: $long"$'\n@sim chunks=89'
stream_turn anthropic
conv_user "third"
turn_ok openai k1
chats="$(sim_chats "$since")"
assert_eq 3 "$(wc -l <<<"$chats")" "three upstream requests"
assert_eq 1 "$(col 2 "$chats" | sort -u | wc -l)" "one session after long streamed replies [$(col 2 "$chats" | tr '\n' ' ')]"

step "the same conversation without a key scope is refused (auth on), not mixed in"
CONV="$conv3"
conv_user "no key"
turn_openai ""
assert_status 401 "no API key"

step "affinity counters"
http GET /metrics -H "Authorization: Bearer k1"
assert_status 200 "/metrics"
assert_match "$BODY" 'lingma_gateway_affinity_total\{result="hit"\} [1-9]' "hits counted"
assert_match "$BODY" 'lingma_gateway_affinity_total\{result="fork"\} [1-9]' "forks counted"
assert_match "$BODY" 'lingma_gateway_affinity_total\{result="miss"\} [1-9]' "misses counted"
gw_stop
