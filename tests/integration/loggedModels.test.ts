/**
 * MLflow 3 logged models move with their experiment (migration/loggedModels.ts), between two real MLflow servers
 * and between two Databricks test workspaces fronting them. MLflow's own Python client logs the models (a
 * transformer-like tree with a 4 MB weights file, params, per-step and per-dataset metrics, tags) and reads the
 * copies back in the target: the files it downloads hash as the ones logged, and the model it loads predicts alike.
 * A version registered from a logged model moves too, registered from the model's copy (`move` between workspaces).
 */
import * as assert from "assert";
import * as path from "path";
import { renderMove } from "../../cli/move";
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
import { Inventory, takeInventory } from "../../migration/inventory";
import { migrate, MigrationReport } from "../../migration/modelVersion";
import { move } from "../../migration/move";
import { MovePlan, resolveItems } from "../../migration/movePlan";
import { TAG } from "../../migration/provenance";
import { compareInventories, verifyMove } from "../../migration/verifyMove";
import { JOURNAL_DIR, listTree } from "../../migration/treeCopy";
import { transportFor } from "../../migration/transports/transportFor";
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

/** Registers a logged model in a workspace's registry with MLflow's client (`mlflow.register_model("models:/m-...")`). */
const REGISTER = `
import json, sys
import mlflow
a = json.loads(sys.argv[1])
mlflow.set_tracking_uri(a["tracking_uri"])
mlflow.set_registry_uri("databricks")
mv = mlflow.register_model(f"models:/{a['model_id']}", a["name"])
print(json.dumps({"version": mv.version, "source": mv.source, "model_id": mv.model_id}))
`;

/**
 * Logs, through MLflow's client, a training experiment whose run used a base logged model (`log_inputs(models=...)`:
 * the client's, as MLflow's fluent API takes model inputs only on Databricks)
 * and produced a tuned one (`log_outputs`, at step 7), and a validation experiment whose run read a dataset and the
 * tuned model: a consumer's validation run, linked to another experiment's model. Prints the ids.
 */
const LINKS_FIXTURE = `
import json, os, sys, tempfile
import mlflow, pandas as pd
from mlflow.entities import LoggedModelInput, LoggedModelOutput
a = json.loads(sys.argv[1])
mlflow.set_tracking_uri(a["tracking_uri"])
client = mlflow.MlflowClient()
def model(name, experiment_id, run_id=None):
    lm = mlflow.initialize_logged_model(name=name, source_run_id=run_id, experiment_id=experiment_id, model_type="transformer")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"name": name}, f)
        client.log_model_artifacts(lm.model_id, d)
    mlflow.finalize_logged_model(lm.model_id, "READY")
    return lm.model_id
out = {}
train = mlflow.set_experiment(a["train"]).experiment_id
out["base"] = model("alpha-base", train)
with mlflow.start_run(run_name="finetune") as run:
    out["finetune"] = run.info.run_id
    client.log_inputs(run.info.run_id, models=[LoggedModelInput(out["base"])])
    out["tuned"] = model("alpha-tuned", train, run.info.run_id)
    mlflow.log_outputs(models=[LoggedModelOutput(out["tuned"], step=7)])
mlflow.set_experiment(a["validate"])
holdout = mlflow.data.from_pandas(pd.DataFrame({"text": ["tok1 tok2"], "label": [1]}), name="holdout-2024")
with mlflow.start_run(run_name="validation") as run:
    out["validation"] = run.info.run_id
    mlflow.log_input(holdout, context="validation")
    client.log_inputs(run.info.run_id, models=[LoggedModelInput(out["tuned"])])
print(json.dumps(out))
`;

/** Reads runs back through MLflow's client: each one's model inputs, model outputs (with their steps) and datasets. */
const READ_LINKS = `
import json, sys
import mlflow
a = json.loads(sys.argv[1])
mlflow.set_tracking_uri(a["tracking_uri"])
out = {}
for run_id in a["runs"]:
    r = mlflow.get_run(run_id)
    out[run_id] = {
        "inputs": sorted(m.model_id for m in r.inputs.model_inputs),
        "outputs": sorted([m.model_id, m.step] for m in r.outputs.model_outputs),
        "datasets": sorted(d.dataset.name for d in r.inputs.dataset_inputs),
    }
print(json.dumps(out))
`;

interface Links {
  base: string;
  tuned: string;
  finetune: string;
  validation: string;
}
type RunLinks = Record<string, { inputs: string[]; outputs: [string, number][]; datasets: string[] }>;

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

    it("move: a version registered from a logged model is registered from its moved copy, MLflow's client downloads the same files from both, verify-move finds no difference, and a second move adopts it", async () => {
      const [source, name] = [logged.models[0], `${experiment.slice("/Shared/".length)}-workspace-registry`];
      const registered = await py<{ version: string; source: string; model_id: string }>(
        REGISTER,
        { model_id: source.model_id, name },
        { workspace: dbxA.url, token: dbxA.token },
      );
      // A workspace registry takes no `models:/` source: MLflow's client registers the model's storage location.
      assert.match(registered.source, new RegExp(`/logged_models/${source.model_id}/artifacts$`));
      const plan: MovePlan = {
        paths: [],
        experiments: [experiment],
        models: [{ name, versions: [registered.version] }],
        modelMap: {},
        stageAliases: {},
      };
      const moveAll = async () => {
        const inv = await takeInventory({ endpoint: workspace(dbxA), experiments: [experiment], models: [name] });
        const r = await move({ from: workspace(dbxA), to: workspace(dbxB), plan, items: resolveItems(plan, inv) });
        assert.strictEqual(r.totals.failed, 0, renderMove(r));
        assert.deepStrictEqual(r.verification?.differences, [], renderMove(r));
        assert.strictEqual(r.verification?.checked.modelVersions, 1, renderMove(r));
        return { r, version: r.items.find((i) => i.kind === "model-version")! };
      };
      const first = await moveAll();
      assert.strictEqual(first.version.outcome, "moved", renderMove(first.r));
      const targetVersion = (first.version.report as MigrationReport).targetVersion!;
      const copyId = report.modelMap.get(source.model_id)!;
      const dst = mlflowClient(workspace(dbxB));
      const v = await dst.getModelVersion(name, targetVersion);
      const copy = await loggedModelsClient(workspace(dbxB)).get(copyId);
      assert.strictEqual(v.source, copy.info.artifact_uri, "registered from the moved logged model, as MLflow's client registers one");
      assert.deepStrictEqual(JSON.parse(tagMap(copy.info.tags)["mlflow.modelVersions"] ?? "[]"), [
        { name, version: Number(targetVersion) },
      ]);
      // Its files are the copy's: the migration run holds no copy of its own, only the journal with its manifest.
      const t = transportFor(dst);
      const own = await listTree(t, await t.runRoot(v.run_id!, ""));
      assert.deepStrictEqual(
        own.filter((f) => !f.path.startsWith(`${JOURNAL_DIR}/`)),
        [],
        "the version's files were copied into its run as well",
      );
      const download = (s: DatabricksTestServer, version: string) =>
        runAsync(PYTHON, [path.join(PROJECT_DIR, "devenv", "python", "download_databricks.py"), "--model", name, "--version", version], {
          env: {
            ...process.env,
            MLFLOW_ENABLE_TELEMETRY: "false",
            DATABRICKS_HOST: s.url,
            DATABRICKS_TOKEN: s.token,
            DATABRICKS_CONFIG_FILE: "/dev/null",
          },
        });
      const [fromSource, fromTarget] = await Promise.all([download(dbxA, registered.version), download(dbxB, targetVersion)]);
      assert.strictEqual(fromSource.status, 0, fromSource.stderr.slice(-2000));
      assert.strictEqual(fromTarget.status, 0, fromTarget.stderr.slice(-2000));
      assert.deepStrictEqual(
        JSON.parse(fromTarget.stdout),
        JSON.parse(fromSource.stdout),
        "MLflow downloads the same files from both versions",
      );
      assert.deepStrictEqual(JSON.parse(fromTarget.stdout), source.files, "the files MLflow downloads are the files logged");

      const again = await moveAll();
      assert.strictEqual(again.version.outcome, "adopted", renderMove(again.r));
      assert.strictEqual((again.version.report as MigrationReport).targetVersion, targetVersion);
      assert.deepStrictEqual(
        (await dst.listVersions(name)).map((x) => x.version),
        [targetVersion],
        "the second move registered no new version",
      );
    });
  });

  for (const kind of ["two MLflow servers", "two Databricks test workspaces"] as const)
    describe(`a run's model inputs and outputs move with it, naming the moved models (between ${kind})`, () => {
      const dbx = kind !== "two MLflow servers";
      const stamp = `${Date.now()}`;
      const [train, validate] = ["train", "validate"].map((x) => `${dbx ? "/Shared/" : ""}links-${x}-${stamp}`);
      let servers: { a: MlflowServer; b: MlflowServer };
      let workspaces: DatabricksTestServer[] = [];
      let from: Endpoint;
      let to: Endpoint;
      let ids: Links;
      let validateFirst: ExperimentMigrationReport;
      let trainMove: ExperimentMigrationReport;
      let validateAgain: ExperimentMigrationReport;
      const tracking = (side: 0 | 1) =>
        dbx ? { workspace: workspaces[side].url, token: workspaces[side].token } : { url: [servers.a, servers.b][side].url };
      const migrateOne = (experiment: string) => migrateExperiment({ from, to, experiment, retry: FAST_RETRY });
      const copyOf = (id: string) => trainMove.loggedModels!.modelMap.get(id)!;
      const targetRun = (r: ExperimentMigrationReport) => r.runs[0].targetRunId!;

      before(async () => {
        servers = await liveServers();
        if (dbx) {
          workspaces = [
            new DatabricksTestServer(servers.a.url, "dapi-links-source", "backend"),
            new DatabricksTestServer(servers.b.url, "dapi-links-target", "backend"),
          ];
          await Promise.all(workspaces.map((w) => w.start()));
        }
        const endpoint = (side: 0 | 1): Endpoint =>
          dbx
            ? { uri: workspaces[side].url, baseUrl: workspaces[side].url, token: workspaces[side].token, transport: "databricks" }
            : { uri: [servers.a, servers.b][side].url, baseUrl: [servers.a, servers.b][side].url, transport: "mlflow-artifacts" };
        [from, to] = [endpoint(0), endpoint(1)];
        ids = await py<Links>(LINKS_FIXTURE, { train, validate }, tracking(0));
        // The consumer first, before the model it read has a copy; then the producer; then the consumer again.
        validateFirst = await migrateOne(validate);
        trainMove = await migrateOne(train);
        validateAgain = await migrateOne(validate);
      });
      after(() => Promise.all(workspaces.map((w) => w.stop())));

      it("a link to a model with no copy in the target yet is named in the run's warnings, not dropped; once the model moved, the next move carries it", () => {
        const [first] = validateFirst.runs;
        assert.strictEqual(first.outcome, "migrated");
        assert.deepStrictEqual(first.warnings, [
          `model input ${ids.tuned} has no moved copy in the target, so the link was not carried (move that model's experiment, then this one again)`,
        ]);
        assert.ok(validateFirst.warnings.some((w) => w.startsWith(`run ${ids.validation}: model input ${ids.tuned} has no moved copy`)));
        const [again] = validateAgain.runs;
        assert.deepStrictEqual([again.outcome, again.modelLinksLogged, again.warnings], ["adopted", 1, undefined]);
      });

      it("MLflow's client reads the moved runs' model inputs and outputs, and they name the copies", async () => {
        assert.deepStrictEqual(
          trainMove.runs.map((r) => [r.runName, r.outcome, r.modelLinksLogged, r.warnings]),
          [["finetune", "migrated", 2, undefined]],
        );
        const [source, target] = await Promise.all([
          py<RunLinks>(READ_LINKS, { runs: [ids.finetune, ids.validation] }, tracking(0)),
          py<RunLinks>(READ_LINKS, { runs: [targetRun(trainMove), targetRun(validateAgain)] }, tracking(1)),
        ]);
        assert.deepStrictEqual(source[ids.finetune], { inputs: [ids.base], outputs: [[ids.tuned, 7]], datasets: [] });
        assert.deepStrictEqual(source[ids.validation], { inputs: [ids.tuned], outputs: [], datasets: ["holdout-2024"] });
        assert.ok(copyOf(ids.base) && copyOf(ids.tuned) && copyOf(ids.base) !== ids.base, "both models moved");
        assert.deepStrictEqual(target[targetRun(trainMove)], {
          inputs: [copyOf(ids.base)],
          outputs: [[copyOf(ids.tuned), 7]],
          datasets: [],
        });
        assert.deepStrictEqual(target[targetRun(validateAgain)], {
          inputs: [copyOf(ids.tuned)],
          outputs: [],
          datasets: ["holdout-2024"],
        });
        if (dbx) assert.ok(workspaces[1].calls.includes("POST /api/2.0/mlflow/runs/outputs"), "the workspace served the outputs");
      });

      it("a second move of both experiments adds nothing", async () => {
        const again = [await migrateOne(train), await migrateOne(validate)];
        assert.deepStrictEqual(
          again.flatMap((r) => r.runs.map((x) => [x.outcome, x.modelLinksLogged, x.warnings])),
          [
            ["adopted", undefined, undefined],
            ["adopted", undefined, undefined],
          ],
        );
        const target = await py<RunLinks>(READ_LINKS, { runs: [targetRun(trainMove), targetRun(validateAgain)] }, tracking(1));
        assert.deepStrictEqual(target[targetRun(trainMove)].inputs, [copyOf(ids.base)]);
        assert.deepStrictEqual(target[targetRun(trainMove)].outputs, [[copyOf(ids.tuned), 7]]);
        assert.deepStrictEqual(target[targetRun(validateAgain)].inputs, [copyOf(ids.tuned)]);
      });

      it("verify-move finds the links equal, and names one missing, one pointing at the wrong model, and one in the target only", async () => {
        const scope = { from, to, experiments: [train, validate], models: [] as string[], retry: FAST_RETRY };
        const runDifferences = (v: { differences: { kind: string; detail: string }[] }) =>
          v.differences.filter((d) => d.kind === "run").map((d) => d.detail);
        assert.deepStrictEqual(runDifferences(await verifyMove(scope)), []);
        // The pure comparison, on inventories as verify-move takes them: one link removed, one pointing at the wrong model.
        const [src, dst] = await Promise.all(
          [from, to].map((endpoint) => takeInventory({ endpoint, experiments: [train, validate], models: [], hashes: true })),
        );
        assert.deepStrictEqual(runDifferences(compareInventories(src, dst)), []);
        const broken: Inventory = {
          ...dst,
          experiments: dst.experiments.map((e) => ({
            ...e,
            runs: e.runs.map((r) => ({
              ...r,
              models:
                r.runId === targetRun(validateAgain)
                  ? []
                  : r.models?.map((l) => ({ ...l, movedFrom: l.kind === "output" ? ids.base : l.movedFrom })),
            })),
          })),
        };
        assert.deepStrictEqual(
          runDifferences(compareInventories(src, broken)).sort(),
          [
            `model input ${ids.tuned} is missing`,
            `model output ${copyOf(ids.tuned)} (step 7) (a copy of ${ids.base}) is in the target only`,
            `model output ${ids.tuned} (step 7) is missing`,
          ].sort(),
        );
        // A link the source run has not, logged on the copy: verify-move names it.
        await mlflowClient(to).logModelInputs(targetRun(validateAgain), [{ model_id: copyOf(ids.base) }]);
        assert.deepStrictEqual(runDifferences(await verifyMove(scope)), [
          `model input ${copyOf(ids.base)} (a copy of ${ids.base}) is in the target only`,
        ]);
      });
    });
});
