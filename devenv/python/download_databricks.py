"""Independent check through MLflow's own Databricks client: downloads a registered model version from a
Databricks workspace model registry (registry URI "databricks", or "databricks-uc" for Unity Catalog) with
`mlflow.artifacts.download_artifacts("models:/NAME/VERSION")` and prints the manifest (path, size, sha256)
of what it got, the same JSON shape as download_version.py.

  DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi-... \
      python download_databricks.py --model NAME --version N [--registry-uri databricks]

  python download_databricks.py --model NAME --alias ALIAS   # MlflowClient().get_model_version_by_alias

With --alias it prints {"version": ...} or {"error": "<MLflow's message>"} and exits 0 either way, so the
caller can assert on what MLflow's client said.
"""
import argparse
import json
import tempfile

import mlflow
from mlflow import MlflowClient

from transformer_fixture import manifest  # the same manifest the fixture computes of what it logged


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--version")
    ap.add_argument("--alias")
    ap.add_argument("--registry-uri", default="databricks")
    a = ap.parse_args()
    # Host and token come from DATABRICKS_HOST / DATABRICKS_TOKEN, read by the Databricks SDK inside MLflow.
    mlflow.set_tracking_uri("databricks")
    mlflow.set_registry_uri(a.registry_uri)
    if a.alias:
        try:
            v = MlflowClient().get_model_version_by_alias(a.model, a.alias)
            print(json.dumps({"version": v.version}))
        except Exception as e:  # what MLflow's client says is the result
            print(json.dumps({"error": str(e)}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{a.model}/{a.version}", dst_path=tmp)
        # registered_model_meta is written locally by MLflow's download of a models:/ URI, not a model file.
        files = [f for f in manifest(local) if f["path"] != "registered_model_meta"]
    print(json.dumps(files))


if __name__ == "__main__":
    main()
