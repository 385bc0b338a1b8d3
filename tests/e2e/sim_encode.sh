# lingma-sim: Encode=1 bodies (§1.4) — variant Q, the LA fallback, and that the signature covers
# the encoded bytes on the wire.
set -u
source "$(dirname "$0")/sim_lib.sh"

sim_start --quiet

# A body long enough that the Q and LA layouts differ (checked below).
body=$(chat_body kmodel sess-E "[$(user_msg 'encoded hello')]")
q=$(encode1_q "$body")
la=$(encode1_la "$body")
check "test setup: Q and LA encodings differ for this body" [ "$q" != "$la" ]

out=$(sim_chat "$q" "&Encode=1")
check "Encode=1 (Q): 200 and the echo" bash -c '[ "$1" = 200 ] && [ "$2" = "echo: encoded hello" ]' _ "$(http_status)" "$(content_of <<<"$out")"
out=$(sim_chat "$la" "&Encode=1")
check "Encode=1 (LA layout): accepted by the fallback" [ "$(content_of <<<"$out")" = "echo: encoded hello" ]

# The spec's vector {"stream":true} decodes fine — then fails validation for lack of messages.
out=$(sim_chat 'CYJSFWKL#Sw*lEmYK^JZ' "&Encode=1")
check "spec vector decodes (then: messages missing)" contains "$out" 'messages must be a non-empty array'
out=$(sim_chat 'this is not encoded' "&Encode=1")
check "undecodable Encode=1 body: in-stream 400" contains "$out" 'does not decode'

# Signing the decoded JSON instead of the bytes on the wire must fail.
cosy_headers "$CHAT_PATH" "$body"
curl -sS --max-time 5 -D "$SIM_TMP/headers" "${HDRS[@]}" --data-binary "$q" \
    "$SIM_URL$CHAT_PATH?$CHAT_QUERY&Encode=1" >/dev/null
check "signature over the decoded body: 401" [ "$(http_status)" = 401 ]

# Without Encode=1 an encoded body is just invalid JSON.
out=$(sim_chat "$q")
check "encoded body without Encode=1: in-stream 400" contains "$out" '"statusCodeValue":400'

check "log: encoded requests with their layout" python3 -c '
import json, sys
reqs = json.loads(sys.argv[1])["requests"]
v = [r["encode_variant"] for r in reqs if r["encoded"] and r["verified"]]
assert v[:2] == ["Q", "LA"], v
assert all(r["session_id"] == "sess-E" for r in reqs if r["encode_variant"] and r["n_messages"])
' "$(sim_requests)"

sim_stop
finish
