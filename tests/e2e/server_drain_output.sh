#!/usr/bin/env bash
# Graceful shutdown does not cut a response that is already complete but still being written:
# a large non-streaming answer to a client that reads slowly is finished by the handler (access
# log written) while most of it still sits in the gateway's output buffer. SIGTERM must let it
# drain (bounded by the drain timeout) instead of closing the connection at once.
source "$(dirname "${BASH_SOURCE[0]}")/pool_lib.sh"

step "SIGTERM while a finished response is still draining to a slow reader"
pool_start -- --drain-timeout-ms 20000
"$PY" - "$GW_PORT" "$GW_LOG" >client.out 2>client.err <<'PYEOF' &
import json, os, signal, socket, sys, time
port, log = int(sys.argv[1]), sys.argv[2]
text = "x" * (6 * 1024 * 1024)
body = json.dumps({"model": "gpt-4o", "messages": [
    {"role": "user", "content": "@sim chunk_size=65536\n" + text}]}).encode()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # a slow reader: small window
s.connect(("127.0.0.1", port))
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
# wait (without reading) until the gateway has finished the exchange
deadline = time.time() + 60
while '"path":"/v1/chat/completions","status":200' not in open(log, errors="replace").read():
    if time.time() > deadline:
        print("TIMEOUT waiting for the access log"); sys.exit(1)
    time.sleep(0.1)
print("FINISHED", flush=True)
open("finished.flag", "w").close()
while not os.path.exists("term.flag"):
    time.sleep(0.05)
time.sleep(0.3)
s.settimeout(30)
data = b""
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    data += b
head, _, rest = data.partition(b"\r\n\r\n")
cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
want = int(cl[0].split(b":")[1]) if cl else -1
print("GOT", len(rest), "WANT", want)
PYEOF
CLIENT_PID=$!
LGW_PIDS+=("$CLIENT_PID")
finished() { [[ -f finished.flag ]]; }
wait_for 60 "the gateway to finish the large response" finished
kill -TERM "$GW_PID"
touch term.flag
wait "$CLIENT_PID" || fail "client failed: $(cat client.out client.err)"
out="$(cat client.out)"
assert_contains "$out" "FINISHED" "the exchange finished before SIGTERM"
got="$(awk '/^GOT/ { print $2 }' client.out)"
want="$(awk '/^GOT/ { print $4 }' client.out)"
((want > 6000000)) || fail "unexpected Content-Length [$want]: $out"
assert_eq "$want" "$got" "body bytes received after SIGTERM"
gw_wait_exit 30
assert_eq 0 "$GW_EXIT" "exit status after draining"
