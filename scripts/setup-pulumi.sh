#!/usr/bin/env bash
# Makes the Pulumi toolchain the end-to-end tests run (CLI, Node.js language host, Databricks provider)
# available, and says where it is. In order:
#   1. `pulumi` already on PATH: use it (a normal machine; the engine fetches its own plugins there);
#   2. else the prebuilt toolchain in ../shared/pulumi: unpack it into .tools/bin (project-local,
#      git-ignored; idempotent, about 20 s the first time) and print the line that puts it on PATH;
#   3. else neither: print why and exit 0, so callers can skip the end-to-end layer with that reason.
# Output: one line `export PATH=...` when a toolchain was installed (eval it), otherwise one
# `setup-pulumi: ...` line on stderr. Exit status is 0 unless the install itself fails.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v pulumi >/dev/null 2>&1; then
  echo "setup-pulumi: using $(command -v pulumi) ($(pulumi version 2>/dev/null || echo 'version unknown')) from PATH" >&2
  if ! command -v pulumi-resource-databricks >/dev/null 2>&1; then
    echo "setup-pulumi: note: pulumi-resource-databricks is not on PATH; the engine will try to download it" >&2
  fi
  exit 0
fi
installer=../shared/pulumi/install.sh
if [ -x "$installer" ] || [ -f "$installer" ]; then
  bash "$installer" "$PWD/.tools/bin"
  exit 0
fi
echo "setup-pulumi: no pulumi on PATH and no prebuilt toolchain at $(cd .. && pwd)/shared/pulumi/install.sh; the end-to-end tests will be skipped" >&2
exit 0
