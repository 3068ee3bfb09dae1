"""Independent check through MLflow's own Databricks client, the upload side: logs the files of a local
directory as artifacts of a new run in a Databricks workspace (tracking URI "databricks") with
`mlflow.log_artifact`, one file at a time, then downloads them back with
`mlflow.artifacts.download_artifacts` into a fresh directory and prints what it got:

  DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi-... \
      python upload_databricks.py --experiment /Users/me/name --src DIR [--artifact-path model]

prints {"run_id": ..., "artifact_uri": ..., "downloaded": [{path, size, sha256}, ...]} (paths relative to
the artifact path). How MLflow uploads is MLflow's business and set by its environment variables: Azure SAS
URIs go up as Put Block / Put Block List in MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE blocks; S3 presigned URLs as
one PUT, or above MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE through the workspace's multipart endpoints.
"""
import argparse
import json
import os
import tempfile

import mlflow

from transformer_fixture import manifest  # the same manifest the other checks print


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--artifact-path", default="model")
    a = ap.parse_args()
    # Host and token come from DATABRICKS_HOST / DATABRICKS_TOKEN, read by the Databricks SDK inside MLflow.
    mlflow.set_tracking_uri("databricks")
    mlflow.set_experiment(a.experiment)
    with mlflow.start_run() as run:
        for d, _, files in os.walk(a.src):
            for name in sorted(files):
                rel = os.path.relpath(d, a.src).replace(os.sep, "/")
                sub = a.artifact_path if rel == "." else f"{a.artifact_path}/{rel}"
                mlflow.log_artifact(os.path.join(d, name), artifact_path=sub)
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=a.artifact_path, dst_path=tmp)
        downloaded = manifest(local)
    print(json.dumps({"run_id": run.info.run_id, "artifact_uri": run.info.artifact_uri, "downloaded": downloaded}))


if __name__ == "__main__":
    main()
