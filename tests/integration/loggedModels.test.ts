/**
 * MLflow 3 logged models move with their experiment (migration/loggedModels.ts), between two real MLflow servers
 * and between two Databricks test workspaces fronting them. MLflow's own Python client logs the models (a
 * transformer-like tree with a 4 MB weights file, params, per-step and per-dataset metrics, tags) and reads the
 * copies back in the target: the files it downloads hash as the ones logged, and the model it loads predicts alike.
 */
import * as assert from "assert";
import * as path from "path";
import { Endpoint, mlflowClient, tagMap } from "../../clients/mlflow";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { MlflowServer, PROJECT_DIR } from "../../devenv/localMlflow";
import { ExperimentMigrationReport, migrateExperiment } from "../../migration/experiments";
import { incompleteMigration, isIncompleteMigration } from "../../migration/failure";
import {
  compareLoggedModels,
  LoggedModelsReport,
  loggedModelInventory,
  loggedModelsClient,
  MODEL_TAG,
  targetModelSource,
} from "../../migration/loggedModels";
import { migrate } from "../../migration/modelVersion";
import { TAG } from "../../migration/provenance";
import { FaultProxy } from "../fixtures/faultProxy";
import { liveServers } from "../fixtures/liveServers";
import { runAsync } from "../fixtures/process";

const PYTHON = path.join(PROJECT_DIR, ".venv", "bin", "python");
const FAST_RETRY = { attempts: 3, backoffMs: 20 };
const TEXTS = ["tok1 tok7 tok12 tok400", "tok55 tok3 tok1999", "tok100 tok101 tok102 tok103"];

/**
 * Logs, through MLflow's client, one training run that produces two logged models from a transformer-like tree
 * (transformer_fixture.build_model_dir: a 4 MB safetensors shard, tokenizer, configs, a pyfunc loader; the second
 * model adds a quantization file), each with params, tags, `loss` per step and `precision` per step on a dataset;
 * with a registered model name, version 1 of it is registered from the first logged model. Prints what it logged.
 */
const LOG_FIXTURE = `
import json, os, sys, tempfile
import mlflow, pandas as pd
from mlflow import MlflowClient
from transformer_fixture import build_model_dir, manifest
a = json.loads(sys.argv[1])
mlflow.set_tracking_uri(a["tracking_uri"])
client = MlflowClient()
exp = mlflow.set_experiment(a["experiment"])
holdout = mlflow.data.from_pandas(pd.DataFrame({"text": ["tok1 tok2", "tok3 tok4"], "label": [1, 0]}), name="holdout-2024")
out = {"experiment_id": exp.experiment_id, "models": []}
with tempfile.TemporaryDirectory() as d, mlflow.start_run(run_name="alpha-finetune") as run:
    out["run_id"] = run.info.run_id
    mlflow.log_params({"learning_rate": "2e-5", "epochs": "3"})
    build_model_dir(d, 4, 1, 0)
    for name, extra in [("alpha-bert", {}), ("alpha-bert-int8", {"quantization": "int8"})]:
        if extra:
            with open(os.path.join(d, "model", "quantization.json"), "w") as f:
                json.dump(extra, f)
        lm = mlflow.initialize_logged_model(
            name=name, source_run_id=run.info.run_id, experiment_id=exp.experiment_id, model_type="transformer",
            params={"base_model": "quant/alpha-bert", "max_seq_len": "512", **extra},
            tags={"team": "quant", "task": "text-classification"},
        )
        client.log_model_artifacts(lm.model_id, d)
        for step in range(3):
            mlflow.log_metric("loss", round(0.9 - 0.2 * step, 4), step=step, model_id=lm.model_id)
            mlflow.log_metric("precision", round(0.8 + 0.02 * step, 4), step=step, model_id=lm.model_id, dataset=holdout)
        mlflow.finalize_logged_model(lm.model_id, "READY")
        out["models"].append({"model_id": lm.model_id, "name": name, "files": manifest(d)})
if a.get("register"):
    client.create_registered_model(a["register"])
    first = out["models"][0]["model_id"]
    mv = client.create_model_version(a["register"], f"models:/{first}", run_id=out["run_id"], model_id=first)
    out["version"] = mv.version
print(json.dumps(out))
`;

/** Reads a logged model back through MLflow's client: the model, its files (downloaded and hashed) and what it predicts. */
const READ_BACK = `
import json, sys, tempfile
import mlflow, pandas as pd
from transformer_fixture import manifest
a = json.loads(sys.argv[1])
mlflow.set_tracking_uri(a["tracking_uri"])
m = mlflow.get_logged_model(a["model_id"])
with tempfile.TemporaryDirectory() as tmp:
    local = mlflow.artifacts.download_artifacts(f"models:/{a['model_id']}", dst_path=tmp)
    files = [f for f in manifest(local) if f["path"] != "registered_model_meta"]
    labels = mlflow.pyfunc.load_model(local).predict(pd.DataFrame({"text": a["texts"]}))["label"].tolist()
print(json.dumps({
    "name": m.name, "status": m.status.to_proto(), "source_run_id": m.source_run_id, "experiment_id": m.experiment_id,
    "params": m.params, "tags": m.tags, "files": files, "labels": labels,
    "metrics": sorted([[x.key, x.step, x.timestamp, x.value, x.dataset_name, x.dataset_digest, x.model_id, x.run_id] for x in m.metrics]),
}))
`;

interface Logged {
  experiment_id: string;
  run_id: string;
  models: { model_id: string; name: string; files: { path: string; size: number; sha256: string }[] }[];
  version?: string;
}
interface ReadBack {
  name: string;
  status: number;
  source_run_id: string | null;
  experiment_id: string;
  params: Record<string, string>;
  tags: Record<string, string>;
  files: { path: string; size: number; sha256: string }[];
  labels: number[];
  metrics: [string, number, number, number, string | null, string | null, string, string][];
}

/** Runs MLflow's Python client on a script of this file; `tracking` is an OSS URL, or a workspace (tracking URI "databricks"). */
async function py<T>(script: string, args: object, tracking: { url: string } | { workspace: string; token: string }): Promise<T> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MLFLOW_ENABLE_TELEMETRY: "false",
    PYTHONPATH: path.join(PROJECT_DIR, "devenv", "python"),
    ...("workspace" in tracking
      ? { DATABRICKS_HOST: tracking.workspace, DATABRICKS_TOKEN: tracking.token, DATABRICKS_CONFIG_FILE: "/dev/null" }
      : {}),
  };
  const uri = "workspace" in tracking ? "databricks" : tracking.url;
  const ran = await runAsync(PYTHON, ["-c", script, JSON.stringify({ ...args, tracking_uri: uri })], { env });
  assert.strictEqual(ran.status, 0, ran.stderr.slice(-3000));
  return JSON.parse(ran.stdout.trim().split("\n").pop()!) as T;
}

/** What a copy must equal of its source, as MLflow's client reads both: the metrics without the ids that differ. */
const comparable = (r: ReadBack) => ({
  name: r.name,
  status: r.status,
  params: r.params,
  tags: Object.fromEntries(Object.entries(r.tags).filter(([k]) => k !== "mlflow.modelVersions" && !k.startsWith("quant.migration."))),
  files: r.files,
  labels: r.labels,
  metrics: r.metrics.map((m) => m.slice(0, 6)),
});

/**
 * Moves an experiment as `move` does (migrateExperiment: its runs, then its logged models); the logged models' report,
 * or, when some did not move, an IncompleteMigration carrying it and their failures. `through`: the target as reached
 * for the whole move (a faulty network in front of it).
 */
async function moveExperiment(from: Endpoint, to: Endpoint, experiment: string, through: Endpoint = to): Promise<LoggedModelsReport> {
  try {
    const r = await migrateExperiment({ from, to: through, experiment, retry: FAST_RETRY });
    assert.ok(r.loggedModels, "the experiment's move reports its logged models");
    return r.loggedModels;
  } catch (e) {
    if (isIncompleteMigration<ExperimentMigrationReport>(e) && e.report.loggedModels)
      throw incompleteMigration(e.message, e.report.loggedModels.models.length, e.report.loggedModels, e.failures);
    throw e;
  }
}

describe("MLflow 3 logged models move with their experiment", function () {
  this.timeout(600000);

  describe("between two MLflow servers", () => {
    let a: MlflowServer;
    let b: MlflowServer;
    let gate: FaultProxy;
    let logged: Logged;
    const experiment = `logged-models-${Date.now()}`;
    const registered = `${experiment}-registered`;
    const from = () => ({ uri: a.url, baseUrl: a.url, transport: "mlflow-artifacts" }) as Endpoint;
    const to = () => ({ uri: b.url, baseUrl: b.url, transport: "mlflow-artifacts" }) as Endpoint;
    const gated = () => ({ uri: gate.url, baseUrl: gate.url, transport: "mlflow-artifacts" }) as Endpoint;
    let targetExperimentId: string;
    let firstMove: unknown;
    let report: LoggedModelsReport;

    before(async () => {
      ({ a, b } = await liveServers());
      gate = new FaultProxy(() => b.port);
      await gate.start();
      logged = await py<Logged>(LOG_FIXTURE, { experiment, register: registered }, { url: a.url });
      // The first move is interrupted after the first model's files: its finalize fails on every attempt.
      gate.add({
        method: "PATCH",
        path: /\/api\/2\.0\/mlflow\/logged-models\/m-[0-9a-f]+$/,
        action: { kind: "status", status: 503 },
        times: 3,
      });
      firstMove = await moveExperiment(from(), to(), experiment, gated()).catch((e: unknown) => e);
      targetExperimentId = (await mlflowClient(to()).experimentByName(experiment))!.experiment_id;
    });
    after(() => gate?.stop());

    it("a move interrupted at the finalize leaves that copy PENDING with its files, and fails loudly naming it", async () => {
      assert.ok(isIncompleteMigration<LoggedModelsReport>(firstMove), `the first move was taken for success: ${String(firstMove)}`);
      const { report: partial, failures } = firstMove;
      assert.deepStrictEqual(
        failures.map((f) => f.item),
        [logged.models[0].model_id],
      );
      assert.deepStrictEqual(
        partial.models.map((m) => m.outcome),
        ["failed", "created"],
      );
      const left = await loggedModelsClient(to()).search([targetExperimentId]);
      const copy = left.find((m) => tagMap(m.info.tags)[MODEL_TAG.sourceModel] === logged.models[0].model_id)!;
      assert.strictEqual(copy.info.status, "LOGGED_MODEL_PENDING");
      assert.ok(tagMap(copy.info.tags)[TAG.manifestDigest], "the interrupted copy's files were verified before its finalize");
    });

    it("the move run again completes the PENDING copy instead of making another, and adopts the complete one", async () => {
      report = await moveExperiment(from(), to(), experiment);
      assert.deepStrictEqual(
        report.models.map((m) => [m.sourceModelId, m.outcome]),
        logged.models.map((m, i) => [m.model_id, i === 0 ? "resumed" : "adopted"]),
      );
      const there = await loggedModelsClient(to()).search([targetExperimentId]);
      assert.deepStrictEqual(
        there.map((m) => [tagMap(m.info.tags)[MODEL_TAG.sourceModel], m.info.status]).sort(),
        logged.models.map((m) => [m.model_id, "LOGGED_MODEL_READY"]).sort(),
        "one READY copy per source model",
      );
      assert.deepStrictEqual([...report.modelMap.keys()].sort(), logged.models.map((m) => m.model_id).sort());
    });

    it("MLflow's client reads each copy back in the target: data, the link to the moved run, files that hash as logged, and the same predictions", async () => {
      const targetRun = (await mlflowClient(to()).allRuns([targetExperimentId])).find((r) => r.info.run_name === "alpha-finetune")!;
      for (const m of logged.models) {
        const copyId = report.modelMap.get(m.model_id)!;
        const [source, copy] = await Promise.all([
          py<ReadBack>(READ_BACK, { model_id: m.model_id, texts: TEXTS }, { url: a.url }),
          py<ReadBack>(READ_BACK, { model_id: copyId, texts: TEXTS }, { url: b.url }),
        ]);
        assert.deepStrictEqual(copy.files, m.files, `${m.name}: the files MLflow downloads from the copy are the files logged`);
        assert.deepStrictEqual(comparable(copy), comparable(source), `${m.name}: the copy reads as its source`);
        assert.strictEqual(copy.source_run_id, targetRun.info.run_id, `${m.name}: produced by the moved run`);
        assert.strictEqual(copy.experiment_id, targetExperimentId);
        assert.strictEqual(copy.metrics.length, 6);
        assert.ok(
          copy.metrics.every((x) => x[6] === copyId && x[7] === targetRun.info.run_id),
          `${m.name}: every metric is the copy's, logged by the moved run: ${JSON.stringify(copy.metrics)}`,
        );
        assert.deepStrictEqual(
          copy.metrics.filter((x) => x[4]).map((x) => [x[0], x[4]]),
          [0, 1, 2].map(() => ["precision", "holdout-2024"]),
        );
      }
    });

    it("verify-move's comparison finds the copies equal, and names a tag, a metric point and a file that differ", async () => {
      const inventories = () =>
        Promise.all([loggedModelInventory(from(), [logged.experiment_id]), loggedModelInventory(to(), [targetExperimentId])]);
      const [source, target] = await inventories();
      assert.deepStrictEqual(compareLoggedModels(source, target, report.modelMap), []);
      assert.deepStrictEqual(
        source.map((s) => s.artifacts.map((f) => [f.path, f.size, f.sha256])),
        logged.models.map((m) => m.files.map((f) => [f.path, f.size, f.sha256])),
      );
      const copyId = report.modelMap.get(logged.models[1].model_id)!;
      await loggedModelsClient(to()).setTags(copyId, [{ key: "team", value: "somebody-else" }]);
      try {
        const retagged = (await inventories())[1];
        const broken = retagged.map((t) =>
          t.modelId === copyId
            ? { ...t, metrics: t.metrics.slice(1), artifacts: t.artifacts.map((f, i) => (i === 0 ? { ...f, sha256: "0".repeat(64) } : f)) }
            : t,
        );
        const differences = compareLoggedModels(source, broken, report.modelMap).map((d) => d.detail);
        assert.strictEqual(differences.length, 3, differences.join("\n"));
        assert.match(
          differences[0],
          /^logged model 'alpha-bert-int8' \(m-[0-9a-f]+\): tag 'team' is 'somebody-else', the source's 'quant'$/,
        );
        assert.match(differences[1], /: metric loss step 0 at \d+ = 0\.9 is missing$/);
        assert.match(differences[2], /: file 'MLmodel' holds \d+ bytes with sha256 000000000000…, the source's \d+ with [0-9a-f]{12}…$/);
      } finally {
        await loggedModelsClient(to()).setTags(copyId, [{ key: "team", value: "quant" }]);
      }
    });

    it("a third move adopts every copy and adds nothing", async () => {
      const again = await moveExperiment(from(), to(), experiment);
      assert.deepStrictEqual(
        again.models.map((m) => m.outcome),
        ["adopted", "adopted"],
      );
      assert.deepStrictEqual(again.modelMap, report.modelMap);
      assert.strictEqual((await loggedModelsClient(to()).search([targetExperimentId])).length, 2);
    });

    it("a version registered from a logged model is registered from its moved copy in the target", async () => {
      const version = await mlflowClient(from()).getModelVersion(registered, logged.version!);
      assert.strictEqual(version.source, `models:/${logged.models[0].model_id}`);
      const copyId = report.modelMap.get(logged.models[0].model_id)!;
      assert.deepStrictEqual(targetModelSource(version, report.modelMap), { source: `models:/${copyId}`, model_id: copyId });
      const moved = await migrate({ from: from(), to: to(), model: registered, select: { version: logged.version! }, retry: FAST_RETRY });
      const v = await mlflowClient(to()).getModelVersion(registered, moved.targetVersion!);
      assert.strictEqual(v.source, `models:/${copyId}`);
      const copy = await loggedModelsClient(to()).get(copyId);
      assert.deepStrictEqual(JSON.parse(tagMap(copy.info.tags)["mlflow.modelVersions"] ?? "[]"), [
        { name: registered, version: Number(v.version) },
      ]);
      const ran = await runAsync(
        PYTHON,
        [
          path.join(PROJECT_DIR, "devenv", "python", "download_version.py"),
          "--tracking-uri",
          b.url,
          "--model",
          registered,
          "--version",
          v.version,
        ],
        { env: { ...process.env, MLFLOW_ENABLE_TELEMETRY: "false" } },
      );
      assert.strictEqual(ran.status, 0, ran.stderr.slice(-2000));
      assert.deepStrictEqual(JSON.parse(ran.stdout), logged.models[0].files);
    });
  });

  describe("between two Databricks test workspaces", () => {
    let dbxA: DatabricksTestServer;
    let dbxB: DatabricksTestServer;
    let logged: Logged;
    const experiment = `/Shared/logged-models-${Date.now()}`;
    const workspace = (s: DatabricksTestServer): Endpoint => ({ uri: s.url, baseUrl: s.url, token: s.token, transport: "databricks" });
    let report: LoggedModelsReport;

    before(async () => {
      const { a, b } = await liveServers();
      dbxA = new DatabricksTestServer(a.url, "dapi-lm-source", "backend");
      dbxB = new DatabricksTestServer(b.url, "dapi-lm-target", "backend");
      await Promise.all([dbxA.start(), dbxB.start()]);
      logged = await py<Logged>(LOG_FIXTURE, { experiment }, { workspace: dbxA.url, token: dbxA.token });
      report = await moveExperiment(workspace(dbxA), workspace(dbxB), experiment);
    });
    after(() => Promise.all([dbxA?.stop(), dbxB?.stop()]));

    it("MLflow's Databricks client logged through the workspace's logged-model routes (its Files API try answered 501, then the signed-URL fallback)", () => {
      const calls = dbxA.calls.map((c) => c.replace(/m-[0-9a-f]+/, "{id}"));
      for (const route of [
        "POST /api/2.0/mlflow/logged-models",
        "POST /api/2.0/mlflow/logged-models/{id}/artifacts/credentials-for-upload",
        "PATCH /api/2.0/mlflow/logged-models/{id}",
      ])
        assert.ok(calls.includes(route), `MLflow's client did not call ${route}`);
    });

    it("each model moves once, and MLflow's Databricks client reads the copy back in the target workspace: data, the moved run, files and predictions", async () => {
      assert.deepStrictEqual(
        report.models.map((m) => m.outcome),
        ["created", "created"],
      );
      const targetExp = (await mlflowClient(workspace(dbxB)).experimentByName(experiment))!.experiment_id;
      const targetRun = (await mlflowClient(workspace(dbxB)).allRuns([targetExp])).find((r) => r.info.run_name === "alpha-finetune")!;
      for (const m of logged.models) {
        const copyId = report.modelMap.get(m.model_id)!;
        const [source, copy] = await Promise.all([
          py<ReadBack>(READ_BACK, { model_id: m.model_id, texts: TEXTS }, { workspace: dbxA.url, token: dbxA.token }),
          py<ReadBack>(READ_BACK, { model_id: copyId, texts: TEXTS }, { workspace: dbxB.url, token: dbxB.token }),
        ]);
        assert.deepStrictEqual(copy.files, m.files, `${m.name}: the files MLflow downloads from the copy are the files logged`);
        assert.deepStrictEqual(comparable(copy), comparable(source));
        assert.strictEqual(copy.source_run_id, targetRun.info.run_id);
      }
      const product = dbxB.calls.filter((c) => /logged-models\/m-[0-9a-f]+\/artifacts\/credentials-for-download/.test(c));
      assert.ok(product.length > 0, "the copies were read through the logged-model credential route");
      const [source, target] = await Promise.all([
        loggedModelInventory(workspace(dbxA), [logged.experiment_id]),
        loggedModelInventory(workspace(dbxB), [targetExp]),
      ]);
      assert.deepStrictEqual(compareLoggedModels(source, target, report.modelMap), []);
    });

    it("a second move between the workspaces adopts both copies", async () => {
      const again = await moveExperiment(workspace(dbxA), workspace(dbxB), experiment);
      assert.deepStrictEqual(
        again.models.map((m) => m.outcome),
        ["adopted", "adopted"],
      );
      assert.deepStrictEqual(again.modelMap, report.modelMap);
    });
  });
});
