"""Seeds the benchmark's old environment on an MLflow server: experiments of runs (params, metric history,
tags, a few artifact files each) and registered models with versions in stages, one of them large.

usage: seed_env.py --tracking-uri URI --experiments N --runs R --models M --versions K --large-mb L --out FILE
Writes {experiments, runs, models, versions, files, bytes} to FILE.
"""
import argparse
import json
import os
import tempfile
import time

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

STAGES = ["None", "Staging", "Production"]


def write(path, size, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    block = bytes((seed * 31 + i) % 251 for i in range(4096))
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[: min(left, 4096)])
            left -= 4096
    return size


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tracking-uri", required=True)
    p.add_argument("--experiments", type=int, required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--models", type=int, required=True)
    p.add_argument("--versions", type=int, required=True)
    p.add_argument("--large-mb", type=float, required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    c = MlflowClient(a.tracking_uri)
    files = 0
    nbytes = 0
    runs = 0
    now = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        for e in range(a.experiments):
            exp = c.create_experiment(f"bench-env/experiment-{e:02d}")
            for r in range(a.runs):
                run = c.create_run(exp, run_name=f"run-{r:02d}", start_time=now)
                rid = run.info.run_id
                c.log_batch(
                    rid,
                    metrics=[Metric(k, (e + r + s) / 100.0, now + s, s) for k in ("loss", "accuracy") for s in range(10)],
                    params=[Param(f"param_{i}", str(e * 100 + r * 10 + i)) for i in range(5)],
                    tags=[RunTag("team", f"quant-{e % 4}")],
                )
                d = os.path.join(tmp, rid)
                nbytes += write(os.path.join(d, "metrics.csv"), 4096, r)
                nbytes += write(os.path.join(d, "plots", "curve.bin"), 65536, e)
                files += 2
                c.log_artifacts(rid, d)
                c.set_terminated(rid, "FINISHED", now + 1000)
                runs += 1
        exp = c.create_experiment("bench-env/models")
        for m in range(a.models):
            name = f"bench-env-model-{m}"
            c.create_registered_model(name, description=f"benchmark model {m}")
            for v in range(a.versions):
                run = c.create_run(exp, run_name=f"{name}-v{v + 1}", start_time=now)
                rid = run.info.run_id
                c.log_batch(rid, params=[Param("alpha", str(v))], metrics=[Metric("auc", 0.8 + v / 100, now, 0)])
                d = os.path.join(tmp, rid, "model")
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, "MLmodel"), "w") as f:
                    f.write(f"artifact_path: model\nflavors:\n  python_function:\n    loader_module: bench\nrun_id: {rid}\n")
                # Model 0's last version is the large one; the others are 1 MiB.
                size = int(a.large_mb * 1048576) if (m == 0 and v == a.versions - 1) else 1048576
                nbytes += write(os.path.join(d, "model.bin"), size, m * 10 + v)
                nbytes += os.path.getsize(os.path.join(d, "MLmodel"))
                files += 2
                c.log_artifacts(rid, d, "model")
                c.set_terminated(rid, "FINISHED", now + 1000)
                runs += 1
                mv = c.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=rid)
                # The last version in Production, the first (of several) in none, the ones between in Staging.
                stage = "Production" if v == a.versions - 1 else STAGES[min(v, 1)]
                if stage != "None":
                    c.transition_model_version_stage(name, mv.version, stage)
    with open(a.out, "w") as f:
        json.dump(
            {
                "experiments": a.experiments + 1,
                "runs": runs,
                "models": a.models,
                "versions": a.models * a.versions,
                "files": files,
                "bytes": nbytes,
            },
            f,
        )


if __name__ == "__main__":
    main()
