# Shared by the bench scripts (sourced): a scratch directory removed at exit together with every
# process whose pid is in PIDS, a free loopback port, and a random account file the simulator
# accepts (it verifies signatures, not secrets).

# bench_workdir PREFIX: sets $work and the exit trap.
bench_workdir() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rand64() { head -c "$1" /dev/urandom | base64 -w0; }
# bench_account NAME: writes $work/accounts.json with one account.
bench_account() {
  cat > "$work/accounts.json" <<JSON
{"accounts":[{"name":"$1","user_id":"1001","machine_id":"$(cat /proc/sys/kernel/random/uuid)","cosy_key":"$(rand64 128)","encrypt_user_info":"$(rand64 480)"}]}
JSON
  chmod 600 "$work/accounts.json"
}
