#!/usr/bin/env bash
# Installs the Node dependencies from the lockfile when they are missing or stale. Cheap when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.quant-platform-lock
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing Node dependencies from package-lock.json ..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi
