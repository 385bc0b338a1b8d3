#!/usr/bin/env bash
# count_tokens is calibrated against the upstream's reported usage: for CJK text our estimator
# says ~1 token per character while lingma-sim reports bytes/4 (0.75 per character). After a few
# completed turns, count_tokens for a request lands near what the upstream reports for it.
source "$(dirname "$0")/pool_lib.sh"

pool_start

cjk() { # N repetitions of a 10-character CJK phrase
    local i out=
    for ((i = 0; i < $1; i++)); do out+="通义灵码网关测试文本。"; done
    printf '%s' "$out"
}
count_body() {
    printf '{"model":"claude-x","messages":[{"role":"user","content":"%s"}]}' "$1"
}
msg_body() {
    printf '{"model":"claude-x","max_tokens":20,"messages":[{"role":"user","content":"%s"}]}' "$1"
}

TEXT="$(cjk 60)"
http POST /v1/messages/count_tokens -H 'anthropic-version: 2023-06-01' --data-binary "$(count_body "$TEXT")"
assert_status 200 "count_tokens before"
json_val "$BODY" input_tokens
before=$JV

http POST /v1/messages -H 'anthropic-version: 2023-06-01' --data-binary "$(msg_body "$TEXT")"
assert_status 200 "the turn"
json_val "$BODY" usage.input_tokens
reported=$JV
json_val "$BODY" usage.cache_read_input_tokens
reported=$((reported + ${JV/<missing>/0}))
for n in 50 70 80 90; do # more turns of the same kind of text
    http POST /v1/messages -H 'anthropic-version: 2023-06-01' --data-binary "$(msg_body "$(cjk $n)")"
    assert_status 200 "calibration turn $n"
done

http POST /v1/messages/count_tokens -H 'anthropic-version: 2023-06-01' --data-binary "$(count_body "$TEXT")"
assert_status 200 "count_tokens after"
json_val "$BODY" input_tokens
after=$JV

echo "count_tokens before=$before after=$after upstream reported=$reported" >&2
err_before=$(((before - reported) * 100 / reported))
err_after=$(((after - reported) * 100 / reported))
((${err_before#-} > 15)) || fail "the uncalibrated estimate should differ here (before=$before reported=$reported)"
((${err_after#-} <= 10)) || fail "calibrated estimate $after is not within 10 % of the upstream's $reported"
pass
gw_stop
