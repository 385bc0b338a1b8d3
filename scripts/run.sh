#!/usr/bin/env bash
# Runs the gateway. With an accounts file or a login-cache directory configured (environment or
# ./.env), it serves the real Lingma upstream. Otherwise it starts DEMO MODE: the bundled
# Lingma simulator on a free port, a generated accounts file for it, and the gateway in front.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GW="$ROOT/build/lingma-gateway"
SIM="$ROOT/build/lingma-sim"

configured() {
  [ -n "${LINGMA_ACCOUNTS_FILE:-}" ] || [ -n "${LINGMA_CACHE_DIR:-}" ] && return 0
  [ -f .env ] && grep -Eq '^[[:space:]]*(export[[:space:]]+)?(LINGMA_ACCOUNTS_FILE|LINGMA_CACHE_DIR)=.+' .env && return 0
  return 1
}

if configured || [[ " $* " == *" --accounts "* || " $* " == *" --cache-dir "* ]]; then
  exec "$GW" "$@"
fi

work=$(mktemp -d)
cleanup() { [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM
"$SIM" --listen 127.0.0.1:0 --quiet > "$work/sim.out" &
SIM_PID=$!
for _ in $(seq 100); do grep -q '^listening on' "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
SIM_ADDR=$(sed -n 's/^listening on //p' "$work/sim.out")
[ -n "$SIM_ADDR" ] || { echo "demo: the simulator did not start" >&2; exit 1; }

rand64() { head -c "$1" /dev/urandom | base64 -w0; }
cat > "$work/accounts.json" <<JSON
{"accounts":[
 {"name":"demo-1","user_id":"1001","machine_id":"$(cat /proc/sys/kernel/random/uuid)","cosy_key":"$(rand64 128)","encrypt_user_info":"$(rand64 480)"},
 {"name":"demo-2","user_id":"1002","machine_id":"$(cat /proc/sys/kernel/random/uuid)","cosy_key":"$(rand64 128)","encrypt_user_info":"$(rand64 480)"}
]}
JSON
chmod 600 "$work/accounts.json"

cat >&2 <<BANNER
################################################################################
#  DEMO MODE: the upstream is the bundled Lingma SIMULATOR at http://$SIM_ADDR
#  (no accounts file or login cache configured). Replies are simulated echoes.
#  To use real Lingma accounts set LINGMA_ACCOUNTS_FILE or LINGMA_CACHE_DIR.
################################################################################
BANNER
"$GW" --upstream-url "http://$SIM_ADDR" --accounts "$work/accounts.json" "$@" &
GW_PID=$!
trap 'kill -TERM $GW_PID 2>/dev/null' INT TERM
wait $GW_PID || true
