"""The terminal shell over quant_lifecycle: the same functions a notebook calls, the result as JSON on stdout.

  python -m quant_lifecycle validate --model M --version V --data FILE --label COL [--metric precision]
      [--threshold 0.8] [--experiment NAME] [--predictions FILE] [--prediction-column prediction]
      [--registry-uri databricks|databricks-uc]
  python -m quant_lifecycle sign-off --model M --version V --run RUN_ID --to-env ENV [--stage Production]

Exit 0: passed (validate) or requested (sign-off); 3: below the threshold (the run is recorded, verdict
failed); 1: an error, one line on stderr (bad inputs leave no run behind); 2: usage.
"""
import argparse
import contextlib
import json
import sys

PASSED, ERROR, BELOW_THRESHOLD = 0, 1, 3


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m quant_lifecycle", description="The consumer's validation and sign-off.")
    sub = ap.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="score a model version on a historical sample and record the run")
    v.add_argument("--model", required=True)
    v.add_argument("--version", required=True)
    v.add_argument("--data", required=True, help="the historical sample: a .csv or .parquet file")
    v.add_argument("--label", required=True, help="the sample's label column")
    v.add_argument("--metric", default="precision")
    v.add_argument("--threshold", default="0.8")
    v.add_argument("--experiment", help="default /Teams/quant/experiments/validation/<model>")
    v.add_argument("--predictions", help="predictions made elsewhere (same rows, same order); the model is not loaded")
    v.add_argument("--prediction-column", default="prediction")
    v.add_argument("--registry-uri", help="databricks (workspace registry) or databricks-uc; default MLflow's")
    v.add_argument("--data-table", help="the Delta table and version the sample was exported from, <catalog.schema.table>@<version>")
    s = sub.add_parser("sign-off", help="request the transition to production, naming the validation run")
    s.add_argument("--model", required=True)
    s.add_argument("--version", required=True)
    s.add_argument("--run", required=True, help="the validation run id")
    s.add_argument("--to-env", required=True)
    s.add_argument("--stage", default="Production")
    return ap


def run(a: argparse.Namespace) -> tuple:
    from . import sign_off, validate

    if a.command == "validate":
        r = validate(a.model, a.version, a.data, a.label, metric=a.metric, threshold=a.threshold, experiment=a.experiment,
                     predictions=a.predictions, prediction_column=a.prediction_column, registry_uri=a.registry_uri,
                     data_table=a.data_table)
        return r, PASSED if r["verdict"] == "passed" else BELOW_THRESHOLD
    return sign_off(a.model, a.version, a.run, a.to_env, a.stage), PASSED


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON result alone
            result, code = run(a)
    except Exception as e:  # an expected failure is one line; the message names what to fix
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        return ERROR
    print(json.dumps(result, indent=2))
    return code


if __name__ == "__main__":
    sys.exit(main())
