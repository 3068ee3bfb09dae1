"""The MLflow 3 logged-model routes the product calls (migration/loggedModels.ts): the Databricks SDK's typed methods
where it has them (`w.experiments.*_logged_model*`), MLflow's protos (DatabricksMlflowArtifactsService, MlflowService)
for the artifact routes, which MLflow's own `_LoggedModel` artifact resource calls. Run after sdk_contract.py's
cases, on their experiment and run (`x.experiment_id`, `x.run_id`)."""
import hashlib
import time

import requests
from databricks.sdk.service import ml
from google.protobuf.json_format import ParseDict
from mlflow.protos import databricks_artifacts_pb2 as arts
from mlflow.protos import service_pb2 as svc

from contract_runner import need

PATH = "model/weights.safetensors"


def proto(message, answer):
    """The answer, parsed strictly into MLflow's message for the route: a field the message lacks is refused."""
    ParseDict(answer, message(), ignore_unknown_fields=False)
    return answer


def register(case):
    def route(x, tail):
        return f"/api/2.0/mlflow/logged-models/{x.logged_model}{tail}"

    @case("POST /api/2.0/mlflow/logged-models")
    def create_logged_model(x):
        m = x.w.experiments.create_logged_model(
            x.experiment_id, name="contract-model", model_type="transformer", source_run_id=x.run_id,
            params=[ml.LoggedModelParameter(key="base_model", value="quant/alpha-bert")],
            tags=[ml.LoggedModelTag(key="team", value="quant")],
        ).model
        need(m.info.model_id.startswith("m-") and m.info.source_run_id == x.run_id and m.info.experiment_id == x.experiment_id, f"a new logged model: {m.info}")
        need(m.info.status == ml.LoggedModelStatus.LOGGED_MODEL_PENDING, f"a new logged model is PENDING: {m.info.status}")
        x.logged_model = m.info.model_id
        x.model_payload = b"safetensors " + str(time.time()).encode()
        return m.info.status.value

    @case("POST /api/2.0/mlflow/logged-models/{model_id}/params")
    def log_params(x):
        x.w.experiments.log_logged_model_params(x.logged_model, params=[ml.LoggedModelParameter(key="max_seq_len", value="512")])
        return "logged"

    @case("PATCH /api/2.0/mlflow/logged-models/{model_id}/tags")
    def set_tags(x):
        x.w.experiments.set_logged_model_tags(x.logged_model, tags=[ml.LoggedModelTag(key="quant.migration.source_model_id", value="m-0123456789abcdef")])
        return "set"

    @case("POST /api/2.0/mlflow/logged-models/{model_id}/artifacts/credentials-for-upload")
    def upload(x):
        body = {"model_id": x.logged_model, "paths": [PATH]}
        answer = proto(arts.GetCredentialsForLoggedModelUpload.Response, x.do("POST", route(x, "/artifacts/credentials-for-upload"), body=body))
        (c,) = answer["credentials"]
        info = c["credential_info"]
        need(info["path"] == PATH and info["signed_uri"], f"an upload credential: {c}")
        headers = {h["name"]: h["value"] for h in info.get("headers", [])}
        if info.get("type") in ("AZURE_SAS_URI", "AZURE_ADLS_GEN2_SAS_URI"):
            headers.setdefault("x-ms-blob-type", "BlockBlob")
        requests.put(info["signed_uri"], data=x.model_payload, headers=headers, timeout=30).raise_for_status()
        return info.get("type")

    @case("GET /api/2.0/mlflow/logged-models/{model_id}/artifacts/directories")
    def directories(x):
        answer = proto(svc.ListLoggedModelArtifacts.Response, x.do("GET", route(x, "/artifacts/directories"), query={"artifact_directory_path": "model"}))
        files = [(f["path"], f.get("is_dir", False), int(f.get("file_size", 0))) for f in answer.get("files", [])]
        need(files == [(PATH, False, len(x.model_payload))], f"the model's folder lists {files}")
        top = proto(svc.ListLoggedModelArtifacts.Response, x.do("GET", route(x, "/artifacts/directories")))
        need([(f["path"], f.get("is_dir", False)) for f in top.get("files", [])] == [("model", True)], f"the model's root lists {top}")
        return "listed"

    @case("POST /api/2.0/mlflow/logged-models/{model_id}/artifacts/credentials-for-download")
    def download(x):
        body = {"model_id": x.logged_model, "paths": [PATH]}
        answer = proto(arts.GetCredentialsForLoggedModelDownload.Response, x.do("POST", route(x, "/artifacts/credentials-for-download"), body=body))
        (c,) = answer["credentials"]
        info = c["credential_info"]
        got = requests.get(info["signed_uri"], headers={h["name"]: h["value"] for h in info.get("headers", [])}, timeout=30)
        got.raise_for_status()
        need(hashlib.sha256(got.content).digest() == hashlib.sha256(x.model_payload).digest(), "the bytes read back are the bytes written")
        return "read back"

    @case("PATCH /api/2.0/mlflow/logged-models/{model_id}")
    def finalize(x):
        m = x.w.experiments.finalize_logged_model(x.logged_model, ml.LoggedModelStatus.LOGGED_MODEL_READY).model
        need(m.info.model_id == x.logged_model and m.info.status == ml.LoggedModelStatus.LOGGED_MODEL_READY, f"the finalized model: {m.info}")
        return m.info.status.value

    @case("GET /api/2.0/mlflow/logged-models/{model_id}")
    def get_logged_model(x):
        # A model's metric is logged through its run's log-batch, linked by model_id and measured on a dataset.
        metric = ml.Metric(key="precision", value=0.91, timestamp=int(time.time() * 1000), step=2, model_id=x.logged_model, dataset_name="holdout", dataset_digest="5f1c2a9e")
        x.w.experiments.log_batch(run_id=x.run_id, metrics=[metric])
        m = x.w.experiments.get_logged_model(x.logged_model).model
        need({p.key: p.value for p in m.data.params} == {"base_model": "quant/alpha-bert", "max_seq_len": "512"}, f"the model's params: {m.data.params}")
        tags = {t.key: t.value for t in m.info.tags or []}
        need(tags.get("team") == "quant" and tags.get("quant.migration.source_model_id") == "m-0123456789abcdef", f"the model's tags: {tags}")
        got = [(k.key, k.value, k.step, k.dataset_name, k.dataset_digest, k.model_id, k.run_id) for k in m.data.metrics or []]
        need(got == [("precision", 0.91, 2, "holdout", "5f1c2a9e", x.logged_model, x.run_id)], f"the model's metrics: {got}")
        need(m.info.status == ml.LoggedModelStatus.LOGGED_MODEL_READY and "/logged_models/" in m.info.artifact_uri, f"the model: {m.info}")
        return "got"

    @case("POST /api/2.0/mlflow/logged-models/search")
    def search(x):
        found = x.w.experiments.search_logged_models(experiment_ids=[x.experiment_id], max_results=50)
        need([m.info.model_id for m in found.models or []] == [x.logged_model], f"the search found {[m.info.model_id for m in found.models or []]}")
        # A copy is found by its record of its source model (lineage.ts movedModelCopies), in any experiment.
        for source, want in [("m-0123456789abcdef", [x.logged_model]), ("m-fedcba9876543210", [])]:
            answer = proto(svc.SearchLoggedModels.Response, x.do("POST", "/api/2.0/mlflow/logged-models/search", body={
                "experiment_ids": [x.experiment_id], "filter": f"tags.`quant.migration.source_model_id` = '{source}'", "max_results": 50}))
            got = [m["info"]["model_id"] for m in answer.get("models", [])]
            need(got == want, f"the search by source model {source} found {got}")
        return "found"

    @case("POST /api/2.0/mlflow/runs/outputs")
    def log_outputs(x):
        # The run's model links: the model it produced (at a step; MLflow keeps one per run and model, and refuses a
        # second) and one it used (log-inputs' `models`, sent twice: one input).
        x.w.experiments.log_outputs(x.run_id, models=[ml.ModelOutput(model_id=x.logged_model, step=4)])
        for _ in range(2):
            x.w.experiments.log_inputs(x.run_id, models=[ml.ModelInput(model_id=x.logged_model)])
        answer = proto(svc.GetRun.Response, x.do("GET", "/api/2.0/mlflow/runs/get", query={"run_id": x.run_id}))["run"]
        outputs = [(m["model_id"], int(m["step"])) for m in answer.get("outputs", {}).get("model_outputs", [])]
        need(outputs == [(x.logged_model, 4)], f"the run's model outputs: {outputs}")
        inputs = [m["model_id"] for m in answer.get("inputs", {}).get("model_inputs", [])]
        need(inputs == [x.logged_model], f"the run's model inputs: {inputs}")
        # The SDK's Run has no `outputs` (MLflow's GetRun message above has): its typed read checks the inputs.
        run = x.w.experiments.get_run(x.run_id).run
        need([m.model_id for m in run.inputs.model_inputs] == [x.logged_model], f"the SDK reads the model inputs: {run.inputs}")
        return "logged"

    @case("DELETE /api/2.0/mlflow/logged-models/{model_id}")
    def delete(x):
        spare = x.w.experiments.create_logged_model(x.experiment_id, name="spare").model.info.model_id
        x.w.experiments.delete_logged_model(spare)
        left = [m.info.model_id for m in x.w.experiments.search_logged_models(experiment_ids=[x.experiment_id], max_results=50).models or []]
        need(left == [x.logged_model], f"after the delete the experiment holds {left}")
        return "deleted"
