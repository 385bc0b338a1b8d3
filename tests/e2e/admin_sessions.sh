#!/usr/bin/env bash
# Session export / import: GET /internal/sessions/export on gateway A, POST .../import into a
# second gateway process B (its own state file); conversations then continue on the same
# upstream sessions through B, an edited history still forks there, and B keeps the imported
# entries across its own restart. Also GET /internal/sessions and malformed import lines.
source "$(dirname "$0")/pool_lib.sh"

adm() {
    local m=$1 p=$2
    shift 2
    http "$m" "/internal/$p" -H "Authorization: Bearer $POOL_ADMIN" "$@"
}
last_session() { col 2 "$(sim_chats "$1")" | tail -1; }

step "gateway A: two conversations (three affinity entries)"
pool_start -- --api-keys k1 --state "$LGW_TMP/a.db"
A_URL="$GW_URL"
A_PID="$GW_PID"
since=$(sim_last_seq)
conv_new "export me"
conv_user "first question"
turn_ok openai k1
C1_T1="$CONV"
conv_user "second question"
turn_ok openai k1
C1="$CONV"
S1="$(last_session "$since")"
since=$(sim_last_seq)
conv_new "and me"
conv_user "another topic"
turn_ok anthropic k1
C2="$CONV"
S2="$(last_session "$since")"
adm GET sessions
assert_json "$BODY" count 3 "three entries"
assert_json "$BODY" recent.0.session_id "$S2" "newest first"

step "export: JSON lines, hashes and ids only"
adm GET sessions/export
assert_status 200 "export"
assert_contains "$(header content-type)" "application/x-ndjson" "content type"
printf '%s\n' "$BODY" >"$LGW_TMP/export.jsonl"
assert_eq 3 "$(grep -c . "$LGW_TMP/export.jsonl")" "three lines"
assert_file_not_contains "$LGW_TMP/export.jsonl" "question" "no conversation content"
assert_file_contains "$LGW_TMP/export.jsonl" "\"session_id\":\"$S1\"" "S1 exported"
assert_file_contains "$LGW_TMP/export.jsonl" '"continued":true' "the continued first turn"
python3 -c '
import json, re, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    assert set(e) == {"key","session_id","account","created_ms","last_used_ms","turns","continued"}, e
    assert re.fullmatch("[0-9a-f]{32}", e["key"]), e' "$LGW_TMP/export.jsonl" || fail "export line shape"
pass

step "gateway B (a second process, its own state): import"
gw_start LOG_LEVEL=info -- --upstream-url "$SIM_URL" --accounts "$POOL_ACCOUNTS" \
    --admin-token "$POOL_ADMIN" --api-keys k1 --state "$LGW_TMP/b.db"
B_URL="$GW_URL"
assert_ne "$A_URL" "$B_URL" "two gateways"
adm GET sessions
assert_json "$BODY" count 0 "B starts empty"
adm POST sessions/import --data-binary @"$LGW_TMP/export.jsonl"
assert_status 200 "import"
assert_json "$BODY" imported 3 "three imported"
assert_json "$BODY" skipped 0 "none skipped"
adm GET sessions
assert_json "$BODY" count 3 "B has the three entries"

step "conversations continue on their sessions through B; an edited history forks"
since=$(sim_last_seq)
CONV="$C1"
conv_user "third question, on B"
turn_ok openai k1
assert_eq "$S1" "$(last_session "$since")" "conversation 1 continues on S1 through B"
since=$(sim_last_seq)
CONV="$C2"
conv_user "more, on B"
turn_ok openai k1
assert_eq "$S2" "$(last_session "$since")" "conversation 2 continues on S2 (and across protocols)"
since=$(sim_last_seq)
CONV="$C1_T1"
conv_user "a different second question"
turn_ok openai k1
assert_ne "$S1" "$(last_session "$since")" "the edited history forks (continued flag imported)"

step "B keeps the imported entries across its own restart"
sleep 0.5
gw_stop
gw_start LOG_LEVEL=info -- --upstream-url "$SIM_URL" --accounts "$POOL_ACCOUNTS" \
    --admin-token "$POOL_ADMIN" --api-keys k1 --state "$LGW_TMP/b.db"
since=$(sim_last_seq)
CONV="$C2"
conv_user "more, on B"
conv_assistant "echo: more, on B"
conv_user "after B restarted"
turn_ok openai k1
assert_eq "$S2" "$(last_session "$since")" "still S2"

step "import: malformed lines are skipped and reported"
printf '%s\n' '{"key":"zz","session_id":"s","account":"acct-a","created_ms":1,"last_used_ms":1,"turns":1}' \
    'not json' '' "$(head -1 "$LGW_TMP/export.jsonl")" \
    '{"key":"00112233445566778899aabbccddeeff","session_id":"s x","account":"acct-a","created_ms":1,"last_used_ms":1,"turns":1}' \
    >"$LGW_TMP/bad.jsonl"
adm POST sessions/import --data-binary @"$LGW_TMP/bad.jsonl"
assert_status 200 "import with bad lines"
assert_json "$BODY" imported 1 "the good line"
assert_json "$BODY" skipped 3 "three bad lines"
assert_contains "$BODY" "line 1: \\\"key\\\" must be 32 hex digits" "line 1 reported"
assert_contains "$BODY" "line 5: bad \\\"session_id\\\"" "line 5 reported"
gw_stop
GW_PID="$A_PID"
gw_stop # gateway A
