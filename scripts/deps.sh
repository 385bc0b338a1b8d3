#!/usr/bin/env bash
# Installs the Debian 12 packages the build and tests need, only those missing.
# Idempotent and quiet when everything is present.
set -euo pipefail
PKGS=(cmake ninja-build clang llvm libclang-rt-14-dev pkg-config
      libuv1-dev node-llhttp libjson-c-dev libssl-dev
      libxxhash-dev libsqlite3-dev libcmocka-dev curl wrk nodejs npm
      clang-tidy clang-format cppcheck python3 openssl
      prometheus) # prometheus: for promtool, the /metrics format check (tests/e2e/admin_metrics.sh)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
# nodejs/npm may come from outside Debian on some machines: accept any working node.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]}")
  [ ${#missing[@]} -eq 0 ] && exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
