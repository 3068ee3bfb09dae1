"""The consumer's sign-off: a transition request raised with the consumer's own credentials on a Databricks
workspace model registry, its comment naming the validation run. The registry records who raised it from the
token; the production gate reads it back (migration/guard.ts), never a tag.

    sign_off("quant-alpha-transformer", "3", "<validation run id>", to_env="quant_lr")

Host and token are the Databricks SDK's usual ones: DATABRICKS_HOST / DATABRICKS_TOKEN, DATABRICKS_CONFIG_PROFILE,
or the notebook's own context.
"""
import re

from .validation import TAG


class SignOffError(ValueError):
    """The sign-off was refused before anything was requested (a run that is not a passed validation of it)."""


def sign_off_comment(run_id: str, to_env: str) -> str:
    """The comment's exact form (migration/provenance.ts signOffComment), which the gate parses."""
    return f"validated: run {run_id}; signed off for {to_env}"


def check_validation_run(model: str, version: str, run_id: str) -> None:
    """The run must be a passed validation of this very version; signing off anything else is refused."""
    from mlflow import MlflowClient

    if not re.fullmatch(r"[0-9a-f]{32}", run_id):
        raise SignOffError(f"'{run_id}' is not an MLflow run id (32 hex digits)")
    run = MlflowClient().get_run(run_id)
    tags = run.data.tags
    named = (tags.get(TAG["model"]), tags.get(TAG["version"]))
    if named != (model, version):
        raise SignOffError(f"run {run_id} is not a validation of '{model}' version {version} (it names {named[0]!r} version {named[1]!r})")
    if tags.get(TAG["verdict"]) != "passed":
        raise SignOffError(
            f"run {run_id} did not pass ({TAG['verdict']}={tags.get(TAG['verdict'])!r}, {tags.get(TAG['metric'])} "
            f"{tags.get(TAG['value'])} against {tags.get(TAG['threshold'])}); only a passed validation can be signed off"
        )
    # As the production gate counts them (migration/evidence.ts): a sign-off follows the end of the validation it
    # names, and a validation names the data it scored.
    if run.info.status != "FINISHED" or not run.info.end_time:
        raise SignOffError(f"run {run_id} has not ended ({run.info.status}); sign off once the validation has finished")
    if not tags.get(TAG["data_sha256"]):
        raise SignOffError(f"run {run_id} records no hash of its data ({TAG['data_sha256']}); a validation counts only on data it names")


def sign_off(model: str, version, run_id: str, to_env: str, stage: str = "Production") -> dict:
    """Requests the transition of `model` version `version` to `stage` as the caller, naming the validation run.
    Returns the request as the registry recorded it (its user_id is who signed off)."""
    from databricks.sdk import WorkspaceClient

    version = str(version)
    check_validation_run(model, version, run_id)
    comment = sign_off_comment(run_id, to_env)
    response = WorkspaceClient().model_registry.create_transition_request(name=model, version=version, stage=stage, comment=comment)
    request = response.request.as_dict() if response.request is not None else {}
    return {"model": model, "version": version, "stage": stage, "comment": comment, "run_id": run_id, "request": request}
