#!/usr/bin/env bash
# Many clients that leave at random moments — before the upstream answers, while queued for a
# global or a session slot, mid-stream, after the end — across both protocols, streaming or not,
# on shared and separate conversations. Afterwards every slot is free (accounts, sessions,
# global), the gateway still serves, and it exits cleanly (sanitizer builds check for leaks).
source "$(dirname "$0")/pool_lib.sh"

pool_start MAX_INFLIGHT=12 INFLIGHT_POLICY=wait INFLIGHT_WAIT_MS=2000

N=80
mkdir -p "$LGW_TMP/chaos"
bodies="$LGW_TMP/chaos"
"$PY" - "$bodies" "$N" <<'PY'
import json, random, sys
out, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
for i in range(n):
    shared = i % 4 == 0  # a quarter of the clients share one conversation (session waits)
    text = "shared conversation" if shared else f"conversation {i}"
    d = f"@sim first_byte_delay_ms={random.choice([0, 50, 200])} chunks={random.randint(2, 8)} delay_ms={random.choice([10, 40, 80])}"
    stream = random.random() < 0.7
    if i % 2:
        body = {"model": "gpt-4o", "stream": stream,
                "messages": [{"role": "user", "content": text + "\n" + d}]}
        path = "/v1/chat/completions"
    else:
        body = {"model": "claude-x", "max_tokens": 64, "stream": stream,
                "messages": [{"role": "user", "content": [{"type": "text", "text": text + "\n" + d}]}]}
        path = "/v1/messages"
    cut = random.choice([0.02, 0.1, 0.25, 0.5, 1.0, 5.0])  # 5 s: runs to the end
    open(f"{out}/{i}.json", "w").write(json.dumps(body))
    open(f"{out}/{i}.meta", "w").write(f"{path} {cut}\n")
PY

step "$N clients, cut off at random moments"
pids=()
for ((i = 0; i < N; i++)); do
    read -r path cut <"$bodies/$i.meta"
    curl -sN --max-time "$cut" -o /dev/null -H 'content-type: application/json' \
        -H 'anthropic-version: 2023-06-01' --data-binary @"$bodies/$i.json" "$GW_URL$path" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
gw_alive || fail "the gateway died under the disconnects"
gone=$(grep -c '"status":499' "$GW_LOG" || true)
done_ok=$(grep -c '"status":200' "$GW_LOG" || true)
echo "clients gone before their response: $gone; answered: $done_ok" >&2
((gone >= 10)) || fail "only $gone clients left early: the test did not exercise disconnects"
((done_ok >= 5)) || fail "only $done_ok clients were answered"
pass

step "every slot is released"
inflight_total() {
    pool_json | "$PY" -c 'import json,sys; print(sum(a["inflight"] for a in json.load(sys.stdin)["accounts"]))'
}
no_turns() { [[ "$(inflight_total)" == 0 ]]; }
wait_for 15 "accounts to hold no turns" no_turns
pass
http GET /internal/stats -H "Authorization: Bearer $POOL_ADMIN"
assert_status 200 "stats"
json_val "$BODY" inflight_turns
assert_eq 0 "$JV" "global in-flight turns"

step "the shared conversation is not stuck"
http POST /v1/chat/completions -H 'content-type: application/json' \
    --data-binary '{"model":"gpt-4o","messages":[{"role":"user","content":"shared conversation"}]}'
assert_status 200 "a turn on the shared conversation"
http GET /health
assert_status 200 "health"
gw_stop
