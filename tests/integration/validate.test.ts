/**
 * The consumer's validation and sign-off, written by MLflow's own Python client through a Databricks
 * workspace (the Databricks test server over a real MLflow server) with the consumer's own token: the run
 * that records the evidence, its creator as the workspace recorded it, and the transition request that signs
 * off. The model is the fixture's, a real pyfunc model, loaded and scored for real. Run artifacts live in
 * Azurite, as on an Azure workspace: MLflow's client writes them through SAS URLs in blocks.
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { signOffCli, command as signOffCommand } from "../../cli/signOff";
import { command as validateCommand, validateCli, ValidationResult } from "../../cli/validate";
import { HelpRequested, UsageError } from "../../cli/command";
import { AzuriteHandle, startAzurite } from "../../devenv/stores/cloudEmulators";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { FixtureInfo, MlflowServer, PROJECT_DIR, python, VENV_BIN } from "../../devenv/localMlflow";
import { manifestDigest } from "../../migration/hashing";
import { runIdsIn, signOffComment, VALIDATION_TAG } from "../../migration/provenance";
import { liveServers } from "../fixtures/liveServers";
import { memberEnv } from "../fixtures/member";

const PLATFORM = "platform@quantfirm.example";
const ANA = "ana.ruiz@quantfirm.example"; // developer, the version's author
const GRACE = "grace.lee@quantfirm.example"; // consumer
const TOKENS: Record<string, string> = { [PLATFORM]: "dapi-platform", [ANA]: "dapi-ana", [GRACE]: "dapi-grace" };
const sha256 = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");

describe("the consumer validates a version on historical data and signs off, as herself, with MLflow's own client", function () {
  this.timeout(600000);
  const stamp = Date.now();
  const MODEL = `validate-alpha-${stamp}`;
  const EXPERIMENT = `/Teams/quant/experiments/validation/${MODEL}`;
  let a: MlflowServer;
  let azurite: AzuriteHandle;
  let dbx: DatabricksTestServer;
  let fixture: FixtureInfo;
  let work: string;
  let sample: string;
  let shifted: string;
  let passed: ValidationResult;
  let failed: ValidationResult;

  /** One REST call through the workspace as `as`: status and JSON. */
  async function api(as: string, method: string, p: string, body?: Record<string, unknown>) {
    const r = await fetch(`${dbx.url}/api/2.0/mlflow/${p}`, {
      method,
      headers: { Authorization: `Bearer ${TOKENS[as]}`, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, json: (await r.json()) as Record<string, any> };
  }
  async function ok(as: string, method: string, p: string, body?: Record<string, unknown>) {
    const r = await api(as, method, p, body);
    assert.strictEqual(r.status, 200, JSON.stringify(r.json));
    return r.json;
  }
  const getRun = async (runId: string) => (await ok(PLATFORM, "GET", `runs/get?run_id=${runId}`)).run;
  const tagsOf = (run: any): Record<string, string> => Object.fromEntries((run.data.tags ?? []).map((t: any) => [t.key, t.value]));
  const validationTags = (run: any) => Object.fromEntries(Object.entries(tagsOf(run)).filter(([k]) => k.startsWith("quant.validation.")));
  async function runsIn(experiment: string): Promise<string[] | undefined> {
    const e = await api(PLATFORM, "GET", `experiments/get-by-name?experiment_name=${encodeURIComponent(experiment)}`);
    if (e.status === 404) return undefined;
    const r = await ok(PLATFORM, "POST", "runs/search", { experiment_ids: [e.json.experiment.experiment_id] });
    return (r.runs ?? []).map((x: any) => x.info.run_id);
  }
  /** A run artifact as the MLflow server behind the workspace holds it (the fixture logged it there). */
  async function backendArtifact(runId: string, p: string): Promise<Buffer> {
    const run = (await (await fetch(`${a.url}/api/2.0/mlflow/runs/get?run_id=${runId}`)).json()) as any;
    const prefix = (run.run.info.artifact_uri as string).replace(/^mlflow-artifacts:\/*/, "");
    const r = await fetch(`${a.url}/api/2.0/mlflow-artifacts/artifacts/${prefix}/${p.split("/").map(encodeURIComponent).join("/")}`);
    assert.strictEqual(r.status, 200, `${p} of run ${runId}`);
    return Buffer.from(await r.arrayBuffer());
  }
  /** A run artifact as the workspace serves it: read credentials, then the signed URL. */
  async function artifact(runId: string, p: string): Promise<string> {
    const c = await ok(PLATFORM, "POST", "artifacts/credentials-for-read", { run_id: runId, path: [p] });
    const r = await fetch(c.credential_infos[0].signed_uri);
    assert.strictEqual(r.status, 200, `${p} of run ${runId}`);
    return r.text();
  }
  const asGrace = (): NodeJS.ProcessEnv => memberEnv(TOKENS[GRACE]);
  async function cli(run: typeof validateCli, args: string[]): Promise<{ code: number; out: string; error?: string }> {
    let out = "";
    try {
      const code = await run([...args, "--from", `databricks+${dbx.url}`, "--json"], asGrace(), (s) => (out += s));
      return { code, out };
    } catch (e) {
      return { code: 1, out, error: (e as Error).message };
    }
  }
  const validate = (args: string[]) => cli(validateCli, ["--model", MODEL, ...args]);

  before(async () => {
    ({ a } = await liveServers());
    work = fs.mkdtempSync(path.join(os.tmpdir(), "validate-"));
    const info = path.join(work, "fixture.json");
    // The three iterations, each with its own classifier and the precision it really has on the holdout.
    python("transformer_fixture.py", [
      ...["--tracking-uri", a.url, "--model", `${MODEL}-seed`, "--experiment", `validate-exp-${stamp}`],
      ...["--size-mb", "0.5", "--shards", "1", "--all-iterations", "--out", info],
    ]);
    fixture = JSON.parse(fs.readFileSync(info, "utf8")) as FixtureInfo;
    sample = path.join(work, "ticks-2024.csv");
    shifted = path.join(work, "ticks-2025-shifted.parquet");
    python("historical_sample.py", ["--out", sample, "--rows", "400", "--seed", "7"]);
    python("historical_sample.py", ["--out", shifted, "--rows", "400", "--seed", "7", "--shift", "0.6"]);

    azurite = await startAzurite();
    dbx = new DatabricksTestServer(a.url, TOKENS[PLATFORM], "memory", PLATFORM);
    dbx.storage = { kind: "azure", azurite, container: `validate-${stamp}` };
    for (const [who, token] of Object.entries(TOKENS)) dbx.addUser(token, who);
    await dbx.start();
    // The winning run's model files, as the workspace's store holds them; the author registers them: version 1.
    for (const f of fixture.files)
      await dbx.putArtifact(fixture.best_run_id, `model/${f.path}`, await backendArtifact(fixture.best_run_id, `model/${f.path}`));
    const best = await getRun(fixture.best_run_id);
    await ok(ANA, "POST", "registered-models/create", { name: MODEL });
    await ok(ANA, "POST", "model-versions/create", { name: MODEL, source: `${best.info.artifact_uri}/model`, run_id: fixture.best_run_id });
  });
  after(async () => {
    await dbx?.stop();
    await azurite?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("the fixture's three iterations log their own models and the precision each really has; iteration 2 wins", async () => {
    assert.deepStrictEqual(
      fixture.runs.map((r) => r.precision),
      [0.8097, 0.8661, 0.8449],
    );
    assert.strictEqual(fixture.best_run_id, fixture.runs[1].run_id);
    const classifiers = await Promise.all(
      fixture.runs.map(async (r) => sha256(await backendArtifact(r.run_id, "model/model/classifier.safetensors"))),
    );
    assert.strictEqual(new Set(classifiers).size, 3, "each iteration logged its own classifier");
    assert.strictEqual(classifiers[1], fixture.files.find((f) => f.path === "model/classifier.safetensors")!.sha256);
  });

  it("a passing validation is a run created by the consumer, with every tag, the version's digest, the data's sha256 and a report", async () => {
    const r = await validate(["--version", "1", "--data", sample, "--label", "label", "--metric", "precision", "--threshold", "0.8"]);
    assert.strictEqual(r.code, 0, r.error);
    passed = JSON.parse(r.out) as ValidationResult;
    assert.strictEqual(passed.verdict, "passed");
    assert.ok(passed.value > 0.8, `precision ${passed.value}`);
    const run = await getRun(passed.run_id);
    assert.strictEqual(run.info.user_id, GRACE, "the workspace recorded the consumer, from her token");
    const t = validationTags(run);
    // Every tag but the Delta table's, which a validation records only when told the table (--data-table).
    const table: string[] = [VALIDATION_TAG.dataTable, VALIDATION_TAG.dataTableVersion];
    assert.deepStrictEqual(
      Object.keys(t).sort(),
      Object.values(VALIDATION_TAG)
        .filter((k) => !table.includes(k))
        .sort(),
    );
    assert.deepStrictEqual(
      [t[VALIDATION_TAG.model], t[VALIDATION_TAG.version], t[VALIDATION_TAG.verdict], t[VALIDATION_TAG.predictions]],
      [MODEL, "1", "passed", "model"],
    );
    assert.strictEqual(t[VALIDATION_TAG.manifestDigest], manifestDigest(fixture.files), "the bytes the fixture logged");
    assert.strictEqual(t[VALIDATION_TAG.dataSha256], sha256(fs.readFileSync(sample)));
    assert.deepStrictEqual(
      [t[VALIDATION_TAG.dataName], t[VALIDATION_TAG.labelColumn], t[VALIDATION_TAG.metric], t[VALIDATION_TAG.threshold]],
      ["ticks-2024.csv", "label", "precision", "0.8"],
    );
    assert.strictEqual(Number(t[VALIDATION_TAG.value]), passed.value);
    const metrics = Object.fromEntries(run.data.metrics.map((m: any) => [m.key, m.value]));
    assert.strictEqual(metrics.precision_score, passed.value, "evaluate's metric, logged");
    assert.strictEqual(metrics.true_positives / (metrics.true_positives + metrics.false_positives), passed.value);
    assert.deepStrictEqual(
      run.data.params.find((p: any) => p.key === "threshold"),
      { key: "threshold", value: "0.8" },
    );
    assert.deepStrictEqual(
      run.inputs.dataset_inputs.map((d: any) => d.dataset.name),
      ["ticks-2024.csv"],
    );
    const exp = await ok(PLATFORM, "GET", `experiments/get?experiment_id=${run.info.experiment_id}`);
    assert.strictEqual(exp.experiment.name, EXPERIMENT, "the team's convention when --experiment is not given");
    const md = await artifact(passed.run_id, "validation_report.md");
    assert.match(md, /## Confusion matrix/);
    assert.ok(md.includes(`| 1 | ${metrics.false_negatives} | ${metrics.true_positives} |`), md);
    assert.ok(md.includes(`| 0 | ${metrics.true_negatives} | ${metrics.false_positives} |`), md);
    assert.match(md, /## Wrong predictions: the first 10 of \d+/);
    const report = JSON.parse(await artifact(passed.run_id, "validation_report.json"));
    assert.strictEqual(report.wrong_predictions.first.length, 10);
    for (const w of report.wrong_predictions.first) {
      assert.notStrictEqual(w.label, w.prediction);
      assert.match(w.text, /^tok\d+( tok\d+)+$/, "the wrong prediction's input columns");
    }
  });

  it("a validation on shifted data is recorded as failed and exits 3", async () => {
    const r = await validate(["--version", "1", "--data", shifted, "--label", "label", "--threshold", "0.8", "--metric", "precision"]);
    assert.strictEqual(r.code, 3, r.error);
    failed = JSON.parse(r.out) as ValidationResult;
    assert.deepStrictEqual([failed.verdict, failed.value < 0.8], ["failed", true]);
    const t = validationTags(await getRun(failed.run_id));
    assert.deepStrictEqual(
      [t[VALIDATION_TAG.verdict], t[VALIDATION_TAG.dataSha256], t[VALIDATION_TAG.dataName]],
      ["failed", sha256(fs.readFileSync(shifted)), "ticks-2025-shifted.parquet"],
    );
  });

  it("--predictions: the consumer's own predictions are scored, and the model is never loaded", async () => {
    // Version 2: files that MLflow's pyfunc cannot load (its loader module does not exist).
    const mlmodel = "flavors:\n  python_function:\n    loader_module: no_such_loader\n";
    const exp = await ok(ANA, "POST", "experiments/create", { name: `/Users/${ANA}/broken-${stamp}` });
    const run = (await ok(ANA, "POST", "runs/create", { experiment_id: exp.experiment_id, start_time: Date.now() })).run;
    await dbx.putArtifact(run.info.run_id, "model/MLmodel", Buffer.from(mlmodel));
    await dbx.putArtifact(run.info.run_id, "model/weights.bin", Buffer.from("w".repeat(1024)));
    await ok(ANA, "POST", "model-versions/create", { name: MODEL, source: `${run.info.artifact_uri}/model`, run_id: run.info.run_id });
    // Predictions made elsewhere: the truth, except that the first 20 negatives are called positive.
    const rows = fs.readFileSync(sample, "utf8").trim().split("\n").slice(1);
    const labels = rows.map((l) => Number(l.split(",").at(-1)));
    let flipped = 0;
    const predicted = labels.map((y) => (y === 0 && flipped < 20 ? (flipped++, 1) : y));
    const predictions = path.join(work, "predictions.csv");
    fs.writeFileSync(predictions, `prediction\n${predicted.join("\n")}\n`);
    const positives = labels.filter((y) => y === 1).length;

    const r = await validate(["--version", "2", "--data", sample, "--label", "label", "--predictions", predictions, "--threshold", "0.8"]);
    assert.strictEqual(r.code, 0, r.error);
    const res = JSON.parse(r.out) as ValidationResult;
    assert.strictEqual(res.value, positives / (positives + 20));
    assert.strictEqual(res.predictions, "file");
    const t = validationTags(await getRun(res.run_id));
    assert.deepStrictEqual([t[VALIDATION_TAG.predictions], t[VALIDATION_TAG.version]], ["file", "2"]);
    assert.strictEqual(
      t[VALIDATION_TAG.manifestDigest],
      manifestDigest([
        { path: "MLmodel", size: Buffer.byteLength(mlmodel), sha256: sha256(mlmodel) },
        { path: "weights.bin", size: 1024, sha256: sha256("w".repeat(1024)) },
      ]),
    );
    // Without --predictions the same version must be loaded, and cannot be: an error, and no run.
    const before = await runsIn(EXPERIMENT);
    const bad = await validate(["--version", "2", "--data", sample, "--label", "label", "--threshold", "0.8"]);
    assert.strictEqual(bad.code, 1);
    assert.match(bad.error!, /no_such_loader/);
    assert.deepStrictEqual(await runsIn(EXPERIMENT), before, "no run left behind");
  });

  it("bad input: a missing label column is an error naming it and the columns found, and no run is created", async () => {
    const experiment = `${EXPERIMENT}-bad-input`;
    const r = await validate([
      "--version",
      "1",
      "--data",
      sample,
      "--label",
      "outcome",
      "--experiment",
      experiment,
      "--threshold",
      "0.8",
      "--metric",
      "precision",
    ]);
    assert.strictEqual(r.code, 1);
    assert.strictEqual(r.out, "");
    assert.match(r.error!, /^label column 'outcome' is not in .*ticks-2024\.csv; columns found: text, label$/);
    assert.strictEqual(await runsIn(experiment), undefined, "not even the experiment was created");
    // --help (exit 0 through runCommand) and usage errors (exit 2) never reach Python.
    await assert.rejects(validateCommand.run(["--help"]) as Promise<number>, HelpRequested);
    await assert.rejects(signOffCommand.run(["--help"]) as Promise<number>, HelpRequested);
    await assert.rejects(
      validateCli(["--model", MODEL], asGrace(), () => undefined),
      (e: Error) => e instanceof UsageError && /--version is required/.test(e.message),
    );
  });

  it("the notebook path (import quant_lifecycle, call validate) writes the same evidence as the CLI", async () => {
    const code = [
      "import json",
      "from quant_lifecycle import validate",
      `r = validate(${JSON.stringify(MODEL)}, "1", ${JSON.stringify(sample)}, "label", metric="precision", threshold=0.8, registry_uri="databricks")`,
      "print(json.dumps(r))",
    ].join("\n");
    // Asynchronously: the workspace it talks to is served by this very process.
    const p = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        path.join(VENV_BIN, "python"),
        ["-c", code],
        {
          encoding: "utf8",
          maxBuffer: 64 * 1024 * 1024,
          env: {
            ...asGrace(),
            DATABRICKS_HOST: dbx.url,
            MLFLOW_TRACKING_URI: "databricks",
            PYTHONPATH: path.join(PROJECT_DIR, "python"),
            MLFLOW_ENABLE_TELEMETRY: "false",
          },
        },
        (e, stdout, stderr) => resolve({ status: e ? Number(e.code ?? 1) : 0, stdout, stderr }),
      ),
    );
    assert.strictEqual(p.status, 0, p.stderr.slice(-3000));
    const nb = JSON.parse(p.stdout.trim().split("\n").at(-1)!) as ValidationResult;
    const [fromNotebook, fromCli] = [await getRun(nb.run_id), await getRun(passed.run_id)];
    assert.strictEqual(fromNotebook.info.user_id, GRACE);
    assert.deepStrictEqual(validationTags(fromNotebook), validationTags(fromCli));
    const metrics = (run: any) => Object.fromEntries(run.data.metrics.map((m: any) => [m.key, m.value]));
    assert.deepStrictEqual(metrics(fromNotebook), metrics(fromCli));
    assert.strictEqual(fromNotebook.info.experiment_id, fromCli.info.experiment_id);
    assert.strictEqual(await artifact(nb.run_id, "validation_report.md"), await artifact(passed.run_id, "validation_report.md"));
  });

  it("sign-off: a transition request to Production raised by the consumer, naming the validation run; a failed run is refused", async () => {
    let out = "";
    const code = await signOffCli(
      ["--model", MODEL, "--version", "1", "--run", passed.run_id, "--from", `databricks+${dbx.url}`, "--to-env", "quant_lr", "--json"],
      asGrace(),
      (s) => (out += s),
    );
    assert.strictEqual(code, 0);
    assert.strictEqual(JSON.parse(out).request.user_id, GRACE);
    const open = (await ok(PLATFORM, "GET", `transition-requests/list?name=${MODEL}&version=1`)).requests as any[];
    assert.deepStrictEqual(
      open.map((x) => [x.to_stage, x.user_id, x.comment]),
      [["Production", GRACE, signOffComment(passed.run_id, "quant_lr")]],
    );
    assert.deepStrictEqual(runIdsIn(open[0].comment), [passed.run_id]);
    // The failed validation of version 1 cannot be signed off: refused before anything is requested.
    await assert.rejects(
      signOffCli(
        ["--model", MODEL, "--version", "1", "--run", failed.run_id, "--from", `databricks+${dbx.url}`],
        asGrace(),
        () => undefined,
      ),
      /did not pass .*only a passed validation can be signed off/,
    );
    assert.strictEqual((await ok(PLATFORM, "GET", `transition-requests/list?name=${MODEL}&version=1`)).requests.length, 1);
  });
});
