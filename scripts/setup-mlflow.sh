#!/usr/bin/env bash
# Creates the project-local Python virtualenv (.venv) with the pinned MLflow the tests run as real servers.
# Re-runs are cheap: it reinstalls only when requirements-mlflow.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
want=$(sha256sum requirements-mlflow.txt | cut -d' ' -f1)
stamp=.venv/.quant-platform-requirements
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && .venv/bin/python -c "import mlflow" 2>/dev/null; then
  exit 0
fi
echo "creating .venv with $(grep -E '^mlflow==' requirements-mlflow.txt) ..." >&2
"$py" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-mlflow.txt >&2
echo "$want" > "$stamp"
