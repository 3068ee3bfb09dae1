"""MLflow's own Unity Catalog registry client (registry URI "databricks-uc") as the judge of a test server's
UC registry: registers a small model from a local directory, sets aliases and tags, reads them back and
downloads the version by alias and by number, then prints one JSON report of what MLflow's client saw.

  DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi-... MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:MOTO \
      AWS_DEFAULT_REGION=us-east-1 python uc_registry_client.py --name main.quant.alpha --work DIR \
      [--run-tracking-uri http://127.0.0.1:MLFLOW]

The model files are transformer_fixture.py's (safetensors shards, tokenizer, a 0-byte file, a unicode name);
the registered copy carries a signature in MLmodel, an unsigned copy is offered first and MLflow must refuse
it before calling the server. With --run-tracking-uri (the MLflow server behind the workspace) the model is also
logged as a run's artifacts straight to that server, as a training job's files already are, and registered
from `runs:/<run>/model` through the workspace: MLflow fetches the run and downloads its files through the
workspace's tracking API before uploading them to the registry's storage.
Every step that MLflow's client refuses ends the script with a non-zero exit and its message.
"""
import argparse
import json
import os
import shutil
import tempfile

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from transformer_fixture import build_model_dir, manifest

SIGNATURE = (
    "signature:\n"
    "  inputs: '[{\"type\": \"string\", \"name\": \"text\", \"required\": true}]'\n"
    "  outputs: '[{\"type\": \"long\", \"name\": \"label\", \"required\": true}]'\n"
    "  params: null\n"
)


def download(uri: str, dst: str):
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst)
    # registered_model_meta is written locally by MLflow's download of a models:/ URI, not a model file.
    return [f for f in manifest(local) if f["path"] != "registered_model_meta"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True, help="catalog.schema.model")
    ap.add_argument("--work", required=True, help="a directory for the model files and downloads")
    ap.add_argument("--alias", default="champion")
    ap.add_argument("--size-mb", type=float, default=0.5)
    ap.add_argument("--run-tracking-uri", help="log a run here and register a second version from it")
    a = ap.parse_args()
    # Host and token come from DATABRICKS_HOST / DATABRICKS_TOKEN, read by the Databricks SDK inside MLflow.
    mlflow.set_tracking_uri("databricks")
    mlflow.set_registry_uri("databricks-uc")
    client = MlflowClient()
    report = {}

    unsigned = os.path.join(a.work, "unsigned")
    signed = os.path.join(a.work, "model")
    build_model_dir(unsigned, a.size_mb, 2, 0)
    shutil.copytree(unsigned, signed)
    with open(os.path.join(signed, "MLmodel"), "a") as f:
        f.write(SIGNATURE)
    report["files"] = manifest(signed)

    rm = client.create_registered_model(a.name, tags={"team": "quant"}, description="Alpha signal model")
    report["created"] = {"name": rm.name, "description": rm.description, "tags": rm.tags}
    try:
        client.create_model_version(a.name, source=unsigned)
        report["unsigned"] = {"registered": True}
    except MlflowException as e:
        report["unsigned"] = {"registered": False, "error": str(e)}

    # register_model creates the registered model again and goes on when told it already exists.
    mv = mlflow.register_model(signed, a.name, tags={"validated_on": "ticks-2019-2024"})
    report["registered"] = {"version": mv.version, "status": mv.status}
    client.set_registered_model_alias(a.name, a.alias, mv.version)
    client.set_registered_model_alias(a.name, "challenger", mv.version)
    client.delete_registered_model_alias(a.name, "challenger")
    client.set_model_version_tag(a.name, mv.version, "precision", "0.87")
    client.set_registered_model_tag(a.name, "stage", "research")
    client.update_model_version(a.name, mv.version, description="best of three")

    rm = client.get_registered_model(a.name)
    v = client.get_model_version(a.name, mv.version)
    report["model"] = {"name": rm.name, "description": rm.description, "aliases": rm.aliases, "tags": rm.tags}
    report["version"] = {
        "version": v.version,
        "status": v.status,
        "aliases": v.aliases,
        "tags": v.tags,
        "description": v.description,
        "source": v.source,
    }
    report["by_alias"] = client.get_model_version_by_alias(a.name, a.alias).version
    try:
        client.get_model_version_by_alias(a.name, "challenger")
        report["deleted_alias"] = None
    except MlflowException as e:
        report["deleted_alias"] = {"error_code": e.error_code, "message": e.message}
    report["search"] = [{"version": x.version, "status": x.status} for x in client.search_model_versions(f"name='{a.name}'")]
    report["download_uri"] = client.get_model_version_download_uri(a.name, mv.version)

    if a.run_tracking_uri:
        mlflow.set_tracking_uri(a.run_tracking_uri)
        mlflow.set_experiment(f"/Users/uc-registry/{a.name}-{os.getpid()}")
        with mlflow.start_run() as run:
            mlflow.log_artifacts(signed, "model")
        mlflow.set_tracking_uri("databricks")
        mv2 = mlflow.register_model(f"runs:/{run.info.run_id}/model", a.name)
        v2 = client.get_model_version(a.name, mv2.version)
        report["from_run"] = {"run_id": run.info.run_id, "version": v2.version, "status": v2.status, "run": v2.run_id, "source": v2.source}
        with tempfile.TemporaryDirectory(dir=a.work) as tmp:
            report["from_run"]["download"] = download(f"models:/{a.name}/{mv2.version}", tmp)

    with tempfile.TemporaryDirectory(dir=a.work) as tmp:
        report["download_alias"] = download(f"models:/{a.name}@{a.alias}", tmp)
    with tempfile.TemporaryDirectory(dir=a.work) as tmp:
        report["download_version"] = download(f"models:/{a.name}/{mv.version}", tmp)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
