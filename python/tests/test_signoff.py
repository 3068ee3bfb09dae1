"""The consumer's sign-off (quant_lifecycle.sign_off): the notebook path, validate then sign off, raises one
transition request in the consumer's name naming the run; every run that is not a passed, ended validation of this
very version naming its data is refused before anything is requested, from a notebook and from the terminal alike."""
import hashlib
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow import MlflowClient

from conftest import ANA, GRACE, PLATFORM, ROOT
from quant_lifecycle import TAG, SignOffError, manifest_digest, sign_off, sign_off_comment, validate

STAMP = str(int(time.time() * 1000))
MODEL = f"lifecycle-alpha-{STAMP}"
EXPERIMENT = f"/Teams/quant/experiments/validation/{MODEL}"
ROWS = 40
FILES = {"MLmodel": b"flavors: {}\n", "weights.bin": bytes(range(256)) * 8}


@pytest.fixture(scope="session")
def version(ws, mlflow_server) -> str:
    """Version 1 of MODEL, registered by its author (ana) from a run whose model files are in the workspace's store."""
    exp = ws.call(ANA, "POST", "experiments/create", {"name": f"/Users/{ANA}/{MODEL}"})["experiment_id"]
    run = ws.call(ANA, "POST", "runs/create", {"experiment_id": exp, "start_time": int(time.time() * 1000)})["run"]["info"]
    # The workspace reports dbfs:/databricks/mlflow-tracking/<exp>/<run>/artifacts; the files are in the tracking
    # server's own store under <exp>/<run>/artifacts.
    prefix = run["artifact_uri"].split("mlflow-tracking/", 1)[1]
    for path, body in FILES.items():
        put = urllib.request.Request(f"{mlflow_server}/api/2.0/mlflow-artifacts/artifacts/{prefix}/model/{path}", data=body, method="PUT")
        with urllib.request.urlopen(put, timeout=60) as r:
            assert r.status == 200, path
    ws.call(ANA, "POST", "registered-models/create", {"name": MODEL})
    v = ws.call(ANA, "POST", "model-versions/create", {"name": MODEL, "source": f"{run['artifact_uri']}/model", "run_id": run["run_id"]})
    return v["model_version"]["version"]


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> dict:
    """A historical sample and the predictions made for it elsewhere: precision 20/22 (2 false positives)."""
    d = tmp_path_factory.mktemp("sample")
    labels = [i % 2 for i in range(ROWS)]
    predicted = [1 if i in (0, 2) else y for i, y in enumerate(labels)]
    data, predictions = d / "ticks-2024.csv", d / "predictions.csv"
    data.write_text("spread,volume,label\n" + "".join(f"{i * 0.01:.2f},{100 + i},{y}\n" for i, y in enumerate(labels)))
    predictions.write_text("prediction\n" + "".join(f"{p}\n" for p in predicted))
    return {"data": str(data), "predictions": str(predictions)}


def run_validation(version: str, sample: dict, threshold: float) -> dict:
    """The notebook's validation cell, with the predictions given (the model is not loaded)."""
    return validate(MODEL, version, sample["data"], "label", metric="precision", threshold=threshold, experiment=EXPERIMENT,
                    predictions=sample["predictions"], registry_uri="databricks")


@pytest.fixture(scope="session")
def passed(version, sample) -> dict:
    return run_validation(version, sample, 0.8)


@pytest.fixture(scope="session")
def failed(version, sample) -> dict:
    return run_validation(version, sample, 0.95)


def tagged_run(tags: dict, ended: bool = True) -> str:
    """A run in the validation experiment carrying `tags` and nothing else, created as the consumer; finished
    unless told otherwise."""
    c = MlflowClient()
    exp = c.get_experiment_by_name(EXPERIMENT)
    run = c.create_run(exp.experiment_id, tags=tags)
    if ended:
        c.set_terminated(run.info.run_id)
    return run.info.run_id


def validation_tags(model: str, version: str, verdict: str, **drop) -> dict:
    """The tags of a passed (or not) validation of `model` version `version`, less the ones named in `drop`."""
    tags = {TAG["model"]: model, TAG["version"]: version, TAG["metric"]: "precision", TAG["threshold"]: "0.8",
            TAG["value"]: "0.9", TAG["verdict"]: verdict, TAG["data_sha256"]: "e" * 64, TAG["data_name"]: "ticks-2024.csv"}
    return {k: v for k, v in tags.items() if k not in {TAG[d] for d in drop}}


def test_the_notebook_path_validates_then_signs_off_as_the_consumer_naming_the_run(ws, version, passed):
    assert (passed["verdict"], passed["metric"], passed["value"]) == ("passed", "precision", pytest.approx(20 / 22))
    files = [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for p, b in FILES.items()]
    assert passed["manifest_digest"] == manifest_digest(files), "the validation names the very bytes of version 1"
    run = ws.call(PLATFORM, "GET", f"runs/get?run_id={passed['run_id']}")["run"]
    assert run["info"]["user_id"] == GRACE, "the workspace recorded who validated, from the token"

    before = ws.transition_requests(MODEL, version)
    result = sign_off(MODEL, version, passed["run_id"], to_env="quant_lr")

    comment = sign_off_comment(passed["run_id"], "quant_lr")
    assert (result["model"], result["version"], result["stage"], result["comment"]) == (MODEL, version, "Production", comment)
    assert result["request"]["user_id"] == GRACE
    raised = [r for r in ws.transition_requests(MODEL, version) if r not in before]
    assert [(r["to_stage"], r["user_id"], r["comment"]) for r in raised] == [("Production", GRACE, comment)]


REFUSALS = {
    "not a run id": (lambda version, failed: "run-42", r"'run-42' is not an MLflow run id \(32 hex digits\)"),
    "a validation that did not pass": (
        lambda version, failed: failed["run_id"],
        r"run [0-9a-f]{32} did not pass \(quant\.validation\.verdict='failed', precision 0\.9\d* against 0\.95\); only a passed validation can be signed off",
    ),
    "a passed validation of another version": (
        lambda version, failed: tagged_run(validation_tags(MODEL, "2", "passed")),
        rf"run [0-9a-f]{{32}} is not a validation of '{MODEL}' version 1 \(it names '{MODEL}' version '2'\)",
    ),
    "a passed validation of another model": (
        lambda version, failed: tagged_run(validation_tags("quant-beta-transformer", "1", "passed")),
        rf"is not a validation of '{MODEL}' version 1 \(it names 'quant-beta-transformer' version '1'\)",
    ),
    "a passed validation of this version that has not ended": (
        lambda version, failed: tagged_run(validation_tags(MODEL, version, "passed"), ended=False),
        r"run [0-9a-f]{32} has not ended \(RUNNING\); sign off once the validation has finished",
    ),
    "a passed validation of this version that names no data": (
        lambda version, failed: tagged_run(validation_tags(MODEL, version, "passed", data_sha256=True)),
        r"run [0-9a-f]{32} records no hash of its data \(quant\.validation\.data_sha256\); a validation counts only on data it names",
    ),
    "a run that is no validation at all": (
        lambda version, failed: tagged_run({"mlflow.runName": "training"}),
        rf"is not a validation of '{MODEL}' version 1 \(it names None version None\)",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_sign_off_of_anything_but_a_passed_validation_of_this_version_is_refused_and_requests_nothing(ws, version, failed, case):
    run_of, message = REFUSALS[case]
    run_id = run_of(version, failed)
    before = ws.transition_requests(MODEL, version)

    with pytest.raises(SignOffError, match=message):
        sign_off(MODEL, version, run_id, to_env="quant_lr")

    assert ws.transition_requests(MODEL, version) == before, "nothing was requested"


def test_from_the_terminal_a_refusal_is_one_line_on_stderr_exit_1_and_requests_nothing(ws, version, failed):
    before = ws.transition_requests(MODEL, version)
    p = subprocess.run(
        [sys.executable, "-m", "quant_lifecycle", "sign-off", "--model", MODEL, "--version", version, "--run", failed["run_id"],
         "--to-env", "quant_lr"],
        cwd=ROOT / "python", capture_output=True, text=True, timeout=300,
    )
    assert p.returncode == 1, p.stderr
    assert p.stdout == ""
    assert p.stderr.strip().splitlines()[-1].startswith(f"error: run {failed['run_id']} did not pass"), p.stderr
    assert "Traceback" not in p.stderr, "one line, no traceback"
    assert ws.transition_requests(MODEL, version) == before

