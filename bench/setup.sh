#!/usr/bin/env bash
# The benchmark's own virtualenv (.venv-bench) with mlflow-export-import; cheap when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(sha256sum bench/requirements-export-import.txt | cut -d' ' -f1)
stamp=.venv-bench/.quant-platform-requirements
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "creating .venv-bench with mlflow-export-import ..." >&2
"${PYTHON:-python3}" -m venv .venv-bench
.venv-bench/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements-export-import.txt >&2
echo "$want" > "$stamp"
