"""The consumer's validation of a registered model version on a historical sample, recorded as one MLflow run.

In a Databricks notebook (the repository checked out as a Git folder):

    %pip install /Workspace/Repos/<user>/quant-research/python

    from quant_lifecycle import validate, sign_off
    result = validate("quant-alpha-transformer", "3", "/Volumes/main/quant/samples/ticks-2024.parquet",
                      label_column="label", metric="precision", threshold=0.8,
                      experiment="/Teams/quant/experiments/validation/quant-alpha-transformer",
                      registry_uri="databricks")   # "databricks-uc" for Unity Catalog
    result["verdict"], result["value"], result["run_id"]

    # once the report (the run's validation_report.md) is read and the verdict is `passed`:
    sign_off("quant-alpha-transformer", "3", result["run_id"], to_env="quant_lr")

From a terminal, the same functions (`quant-platform validate` wraps this with the workspace's credentials):

    python -m quant_lifecycle validate --model M --version 3 --data sample.csv --label label [--predictions p.csv]
    python -m quant_lifecycle sign-off --model M --version 3 --run <run id> --to-env quant_lr

What the run records, whichever way it is started (the tag keys are migration/provenance.ts VALIDATION_TAG):
the sample as an MLflow dataset input; `quant.validation.*` tags naming the version, its manifest digest (a
SHA-256 over the files downloaded and scored, with the migration engine's formula), the SHA-256 of the
sample file's bytes, the metric, threshold, value and verdict; the metrics of `mlflow.models.evaluate`; the
threshold as a param; and the report for the consumer (validation_report.md and validation_report.json:
metric table, confusion matrix, the first wrong predictions). Who validated is the run's creator, recorded by
the workspace from the token, never a tag.
"""
import hashlib
import io
import json
import math
import os
import tempfile

import pandas as pd

TAG = {
    "model": "quant.validation.model",
    "version": "quant.validation.version",
    "manifest_digest": "quant.validation.manifest_digest",
    "data_sha256": "quant.validation.data_sha256",
    "data_name": "quant.validation.data_name",
    "label_column": "quant.validation.label_column",
    "metric": "quant.validation.metric",
    "threshold": "quant.validation.threshold",
    "value": "quant.validation.value",
    "verdict": "quant.validation.verdict",
    "predictions": "quant.validation.predictions",
}

# The metrics a threshold may name, as the team says them and as mlflow.models.evaluate's classifier names them.
METRICS = {"precision": "precision_score", "recall": "recall_score", "f1": "f1_score", "accuracy": "accuracy_score"}

# Written locally by MLflow's download of a models:/ URI; not one of the version's files.
REGISTERED_MODEL_META = "registered_model_meta"
REPORT_MD = "validation_report.md"
REPORT_JSON = "validation_report.json"
WRONG_SHOWN = 10


class ValidationInputError(ValueError):
    """The inputs cannot be validated (a missing file or column, an unknown metric): nothing was recorded."""


# Where the sample is an export of a Delta table at a version (time travel): which, so that a model whose
# validation.data pins a table version can be judged (migration/evidence.ts). The file's SHA-256 is recorded too.
TABLE_TAG = {
    "data_table": "quant.validation.data_table",
    "data_table_version": "quant.validation.data_table_version",
}


def parse_data_table(spec) -> dict:
    """`catalog.schema.table@version` -> the facts recorded for it; {} when not given."""
    if spec is None:
        return {}
    name, sep, ver = spec.rpartition("@")
    if not sep or not name or not ver.isdigit():
        raise ValidationInputError(f"--data-table '{spec}' is not <catalog.schema.table>@<version> (a Delta table version, e.g. main.quant.ticks@42)")
    return {"data_table": name, "data_table_version": int(ver)}


def default_experiment(model: str) -> str:
    """The team's convention for where a model's validation runs live."""
    return f"/Teams/quant/experiments/validation/{model}"


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest(root: str) -> list:
    """Every file under root as {path, size, sha256}, paths relative to root with `/`, without the local
    registered_model_meta."""
    out = []
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            if rel != REGISTERED_MODEL_META:
                out.append({"path": rel, "size": os.path.getsize(p), "sha256": sha256_file(p)})
    return out


def manifest_digest(files: list) -> str:
    """migration/hashing.ts manifestDigest: sha256 of JSON.stringify of [path, size, sha256] triples sorted by
    path as JavaScript compares strings (UTF-16 code units, hence the utf-16-be sort key)."""
    rows = sorted(([f["path"], f["size"], f["sha256"]] for f in files), key=lambda r: r[0].encode("utf-16-be"))
    return hashlib.sha256(json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode("utf-8")).hexdigest()


def metric_key(metric: str) -> str:
    """The evaluate() metric a threshold names: `precision` or `precision_score` alike."""
    if metric in METRICS:
        return METRICS[metric]
    if metric in METRICS.values():
        return metric
    raise ValidationInputError(f"metric '{metric}' is not one a classifier validation computes; use one of: {', '.join(METRICS)}")


def read_table(path: str, what: str):
    """A CSV or Parquet file (a table export is one of these), and the SHA-256 of the very bytes it was read from."""
    if not os.path.isfile(path):
        raise ValidationInputError(f"{what} {path} does not exist")
    lower = path.lower()
    if not lower.endswith((".parquet", ".csv")):
        raise ValidationInputError(f"{what} {path} is neither .csv nor .parquet (export the table as one of these)")
    with open(path, "rb") as f:
        content = f.read()
    try:
        df = pd.read_parquet(io.BytesIO(content)) if lower.endswith(".parquet") else pd.read_csv(io.BytesIO(content))
    except Exception as e:
        raise ValidationInputError(f"{what} {path} cannot be read: {e}") from None
    return df, hashlib.sha256(content).hexdigest()


def need_column(df: pd.DataFrame, column: str, what: str, path: str) -> None:
    if column not in df.columns:
        found = ", ".join(str(c) for c in df.columns) or "none"
        raise ValidationInputError(f"{what} column '{column}' is not in {path}; columns found: {found}")


def check_inputs(data: str, label_column: str, metric: str, threshold, predictions, prediction_column: str) -> dict:
    """Everything that can be wrong with the inputs, checked before anything is downloaded or recorded."""
    key = metric_key(metric)
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ValidationInputError(f"threshold '{threshold}' is not a number") from None
    if not math.isfinite(threshold):
        raise ValidationInputError(f"threshold '{threshold}' is not a finite number")
    sample, data_sha256 = read_table(data, "data file")
    need_column(sample, label_column, "label", data)
    if len(sample) == 0:
        raise ValidationInputError(f"data file {data} has no rows")
    if prediction_column in sample.columns:
        raise ValidationInputError(f"data file {data} already has a column '{prediction_column}'; name the predictions otherwise")
    given = None
    if predictions is not None:
        pred, _ = read_table(predictions, "predictions file")
        need_column(pred, prediction_column, "prediction", predictions)
        if len(pred) != len(sample):
            raise ValidationInputError(
                f"predictions file {predictions} has {len(pred)} rows, the data file {data} {len(sample)}; they must be the same rows in the same order"
            )
        given = pred[prediction_column].to_numpy()
    return {"metric_key": key, "threshold": threshold, "sample": sample, "data_sha256": data_sha256, "given": given}


def model_predictions(local: str, features: pd.DataFrame):
    """Scores the downloaded version with MLflow's pyfunc: one prediction per row."""
    import mlflow.pyfunc

    out = mlflow.pyfunc.load_model(local).predict(features)
    if isinstance(out, pd.DataFrame):
        if out.shape[1] != 1 and "label" not in out.columns:
            raise ValueError(f"the model returned columns {list(out.columns)}; expected one column, or a 'label' column")
        out = out["label"] if "label" in out.columns else out.iloc[:, 0]
    values = pd.Series(out).to_numpy().reshape(-1)
    if len(values) != len(features):
        raise ValueError(f"the model returned {len(values)} predictions for {len(features)} rows")
    return values


def confusion(labels: pd.Series, predicted: pd.Series) -> dict:
    """Rows: the true label; columns: the predicted one, over every label seen on either side."""
    classes = sorted(set(labels.tolist()) | set(predicted.tolist()), key=lambda x: (str(type(x)), x))
    counts = {(t, p): 0 for t in classes for p in classes}
    for t, p in zip(labels.tolist(), predicted.tolist()):
        counts[(t, p)] += 1
    return {"labels": [_plain(c) for c in classes], "matrix": [[counts[(t, p)] for p in classes] for t in classes]}


def _plain(v):
    """A numpy scalar as the Python value JSON can write."""
    return v.item() if hasattr(v, "item") else v


def build_report(facts: dict, metrics: dict, scored: pd.DataFrame, label_column: str, prediction_column: str) -> dict:
    wrong = scored[scored[label_column] != scored[prediction_column]].head(WRONG_SHOWN)
    return {
        **facts,
        "metrics": {k: float(v) for k, v in sorted(metrics.items())},
        "confusion_matrix": confusion(scored[label_column], scored[prediction_column]),
        "wrong_predictions": {
            "count": int((scored[label_column] != scored[prediction_column]).sum()),
            "first": [{k: _plain(v) for k, v in row.items()} for row in wrong.reset_index().to_dict("records")],
        },
    }


def render_markdown(r: dict, label_column: str, prediction_column: str) -> str:
    cm = r["confusion_matrix"]
    lines = [
        f"# Validation of {r['model']} version {r['version']}: {r['verdict'].upper()}",
        "",
        f"{r['metric']} = {r['value']:.4f} against a threshold of {r['threshold']} ({r['verdict']}).",
        "",
        f"- data: {r['data_name']} ({r['rows']} rows, label column `{label_column}`), sha256 `{r['data_sha256']}`",
        f"- model version files: manifest digest `{r['manifest_digest']}`",
        f"- predictions: {'scored with the version loaded through MLflow pyfunc' if r['predictions'] == 'model' else 'from the file ' + str(r['predictions_file'])}",
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "| --- | --- |",
        *[f"| {k} | {v:.6g} |" for k, v in r["metrics"].items()],
        "",
        "## Confusion matrix",
        "",
        "| true \\ predicted | " + " | ".join(str(c) for c in cm["labels"]) + " |",
        "| --- | " + " | ".join("---" for _ in cm["labels"]) + " |",
        *[f"| {t} | " + " | ".join(str(n) for n in row) + " |" for t, row in zip(cm["labels"], cm["matrix"])],
        "",
        f"## Wrong predictions: the first {len(r['wrong_predictions']['first'])} of {r['wrong_predictions']['count']}",
        "",
    ]
    first = r["wrong_predictions"]["first"]
    if first:
        cols = list(first[0].keys())
        lines += ["| " + " | ".join("row" if c == "index" else str(c) for c in cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
        lines += ["| " + " | ".join(str(row[c]).replace("|", "\\|") for c in cols) + " |" for row in first]
    else:
        lines.append("none")
    return "\n".join(lines) + "\n"


def validate(
    model: str,
    version,
    data: str,
    label_column: str,
    metric: str = "precision",
    threshold=0.8,
    experiment: str = None,
    predictions: str = None,
    prediction_column: str = "prediction",
    registry_uri: str = None,
    pos_label=None,
    data_table: str = None,
) -> dict:
    """Validates `model` version `version` on the sample `data` and records one run in `experiment` (default
    /Teams/quant/experiments/validation/<model>). Returns run_id, verdict (`passed` or `failed`), value,
    threshold, metric, manifest_digest, data_sha256 and the report's artifact URI. Bad inputs raise
    ValidationInputError before any run is started."""
    import mlflow

    version = str(version)
    table = parse_data_table(data_table)
    checked = check_inputs(data, label_column, metric, threshold, predictions, prediction_column)
    experiment = experiment or default_experiment(model)
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{model}/{version}", dst_path=tmp, registry_uri=registry_uri)
        digest = manifest_digest(manifest(local))
        sample = checked["sample"]
        if checked["given"] is None:
            predicted = model_predictions(local, sample.drop(columns=[label_column]))
        else:
            predicted = checked["given"]
    scored = sample.assign(**{prediction_column: predicted})
    facts = {
        "model": model,
        "version": version,
        "manifest_digest": digest,
        "data_name": os.path.basename(data),
        "data_sha256": checked["data_sha256"],
        "rows": len(sample),
        "label_column": label_column,
        "metric": metric,
        "threshold": checked["threshold"],
        "predictions": "model" if predictions is None else "file",
        "predictions_file": None if predictions is None else os.path.basename(predictions),
        **table,
    }
    return record(facts, scored, os.path.abspath(data), checked["metric_key"], experiment, prediction_column, pos_label)


def record(facts: dict, scored: pd.DataFrame, source: str, key: str, experiment: str, prediction_column: str, pos_label) -> dict:
    """The one run: the dataset input, evaluate()'s metrics, the verdict by MLflow's threshold API, the tags
    and the report."""
    import mlflow
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    label = facts["label_column"]
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"validate {facts['model']} v{facts['version']}") as run:
        dataset = mlflow.data.from_pandas(
            scored, source=source, name=facts["data_name"], targets=label, predictions=prediction_column
        )
        mlflow.log_input(dataset, context="validation")
        config = {"log_model_explainability": False, **({"pos_label": pos_label} if pos_label is not None else {})}
        result = mlflow.models.evaluate(data=dataset, model_type="classifier", evaluator_config=config)
        if key not in result.metrics:
            raise ValueError(f"mlflow.models.evaluate computed no {key} (it computed {', '.join(sorted(result.metrics))})")
        value = float(result.metrics[key])
        try:
            mlflow.validate_evaluation_results({key: MetricThreshold(threshold=facts["threshold"], greater_is_better=True)}, result)
            verdict = "passed"
        except ModelValidationFailedException:
            verdict = "failed"
        facts = {**facts, "value": value, "verdict": verdict, "run_id": run.info.run_id}
        mlflow.log_params({"threshold": facts["threshold"], "metric": facts["metric"]})
        report = build_report(facts, result.metrics, scored, label, prediction_column)
        mlflow.log_text(render_markdown(report, label, prediction_column), REPORT_MD)
        mlflow.log_text(json.dumps(report, indent=2, ensure_ascii=False), REPORT_JSON)
        mlflow.set_tags({TAG[k]: str(facts[k]) for k in TAG})
        mlflow.set_tags({TABLE_TAG[k]: str(facts[k]) for k in TABLE_TAG if k in facts})
        report_uri = f"{run.info.artifact_uri.rstrip('/')}/{REPORT_MD}"
    return {
        "run_id": facts["run_id"],
        "verdict": verdict,
        "value": value,
        "threshold": facts["threshold"],
        "metric": facts["metric"],
        "model": facts["model"],
        "version": facts["version"],
        "manifest_digest": facts["manifest_digest"],
        "data_sha256": facts["data_sha256"],
        "predictions": facts["predictions"],
        "experiment_id": run.info.experiment_id,
        "report": report_uri,
    }
