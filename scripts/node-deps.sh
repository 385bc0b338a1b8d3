#!/usr/bin/env bash
# Installs the pinned official clients (openai, @anthropic-ai/sdk 1.x and 0.x, Claude Code)
# into tests/clients from the committed lockfile. Quiet and quick when already installed.
set -euo pipefail
cd "$(dirname "$0")/../tests/clients"
stamp=node_modules/.lockfile-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/claude ]; then
  exit 0
fi
echo "node-deps: installing test clients (npm ci)" >&2
npm ci --no-audit --no-fund --loglevel=error >/dev/null
# Claude Code's postinstall links its native binary; finish it if scripts were skipped.
if ! node_modules/.bin/claude --version >/dev/null 2>&1; then
  node node_modules/@anthropic-ai/claude-code/install.cjs >/dev/null 2>&1 || true
fi
echo "$want" > "$stamp"
