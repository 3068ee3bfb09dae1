/**
 * `quant-platform select` against real MLflow servers: the transformer fixture logs three training iterations
 * through MLflow's own Python client, each with its own model and the precision it really has; select
 * registers the best, adopts it on a re-run, refuses a winner below the minimum, a winner without model files
 * and an empty experiment, and changes nothing in a dry run. Also through the Databricks workspace test server,
 * as a developer with their own token (the registry records them as the version's author). The command runs
 * as the binary runs it (runCommand), so the exit codes are the ones users see.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { mlflowClient, MlflowClient, tagMap } from "../../clients/mlflow";
import { Command, runCommand } from "../../cli/command";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { MlflowServer, python } from "../../devenv/localMlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { SELECTION_TAG } from "../../migration/provenance";
import { liveServers } from "../fixtures/liveServers";

interface Trained {
  experiment_id: string;
  runs: { run_id: string; precision: number }[];
  best_run_id: string;
}

/** Three iterations logged by MLflow's own client, each with its model; nothing registered. */
function train(server: MlflowServer, experiment: string): Trained {
  const out = path.join(os.tmpdir(), `trained-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  python("transformer_fixture.py", [
    ...["--tracking-uri", server.url, "--model", "unused", "--experiment", experiment],
    ...["--size-mb", "0.2", "--shards", "1", "--all-iterations", "--no-register", "--out", out],
  ]);
  const t = JSON.parse(fs.readFileSync(out, "utf8")) as Trained;
  fs.rmSync(out, { force: true });
  return t;
}

/** `quant-platform select ...` as the binary runs it: its exit code, stdout and stderr, with `env` set meanwhile. */
async function select(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const { command } = require("../../cli/select") as { command: Command };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const write = { out: process.stdout.write, err: process.stderr.write };
  let out = "";
  let err = "";
  Object.assign(process.env, env);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    const code = await runCommand(command, args);
    return { code, out, err };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

/** The versions of `model` registered from `runId`, and whether the registered model exists at all. */
async function registered(client: MlflowClient, model: string, runId: string) {
  const exists = !!(await client.getRegisteredModel(model));
  const versions = exists ? (await client.listVersions(model)).filter((v) => v.run_id === runId) : [];
  return { exists, versions };
}

describe("select: the best run by precision is registered (real MLflow servers)", function () {
  this.timeout(300000);
  let a: MlflowServer;
  let client: MlflowClient;
  const stamp = Date.now();
  const experiment = `/Teams/quant/experiments/alpha-${stamp}`;
  const model = `alpha-selected-${stamp}`;
  let trained: Trained;
  let best: { run_id: string; precision: number };
  before(async () => {
    ({ a } = await liveServers());
    client = mlflowClient(resolveEndpoint(a.url, "from", {}));
    trained = train(a, experiment);
    best = trained.runs.reduce((x, y) => (y.precision > x.precision ? y : x));
    assert.strictEqual(best.run_id, trained.best_run_id, "the fixture's own winner is the highest precision");
  });

  it("--dry-run prints the comparison, marks the winner, and creates neither the model nor a version", async () => {
    const r = await select(["--model", model, "--experiment", experiment, "--from", a.url, "--dry-run"]);
    assert.strictEqual(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^1\\s+alpha-iter-2\\s+${best.run_id}\\s+${best.precision}\\s.*<- selected$`, "m"));
    assert.strictEqual(r.out.match(/^[123]\s+alpha-iter-\d/gm)?.length, 3, "all three runs ranked");
    assert.match(
      r.out,
      new RegExp(`dry run: would register .*/${best.run_id}/artifacts/model as a new version of ${model}; nothing changed`),
    );
    assert.deepStrictEqual(await registered(client, model, best.run_id), { exists: false, versions: [] });
  });

  it("registers the winner's model (<artifact_uri>/model, run_id) tagged with the metric, mode, value, rank, candidates, runs compared, run and experiment; a re-run adopts it", async () => {
    const r = await select(["--model", model, "--experiment", experiment, "--from", a.url, "--json"]);
    assert.strictEqual(r.code, 0, r.err);
    const report = JSON.parse(r.out);
    assert.strictEqual(report.winner.runId, best.run_id);
    assert.strictEqual(report.adopted, false);
    const v = await client.getModelVersion(model, report.version);
    const run = await client.getRun(best.run_id);
    assert.strictEqual(v.source, `${run.info.artifact_uri}/model`, "what MLflow's client sends for runs:/<id>/model");
    assert.strictEqual(v.run_id, best.run_id);
    assert.strictEqual(v.status, "READY");
    const byPrecision = [...trained.runs].sort((x, y) => y.precision - x.precision);
    const t = tagMap(v.tags);
    const selectionTags = Object.fromEntries(Object.entries(t).filter(([k]) => k.startsWith("quant.selection.")));
    assert.deepStrictEqual(selectionTags, {
      [SELECTION_TAG.metric]: "precision",
      [SELECTION_TAG.mode]: "max",
      [SELECTION_TAG.value]: String(best.precision),
      [SELECTION_TAG.rank]: "1",
      [SELECTION_TAG.candidates]: "3",
      [SELECTION_TAG.compared]: byPrecision.map((x) => `${x.run_id}=${x.precision}`).join(","),
      [SELECTION_TAG.runId]: best.run_id,
      [SELECTION_TAG.experiment]: experiment,
    });

    const again = await select(["--model", model, "--experiment", experiment, "--from", a.url]);
    assert.strictEqual(again.code, 0, again.err);
    assert.match(again.out, new RegExp(`adopted ${model} version ${report.version}: already registered from run ${best.run_id}`));
    assert.strictEqual((await client.listVersions(model)).length, 1, "never a duplicate");
  });

  it("refuses (exit 1) when no run reaches the minimum, naming the best value and its run; nothing registered", async () => {
    const name = `${model}-strict`;
    const r = await select(["--model", name, "--experiment", experiment, "--from", a.url, "--minimum", "0.95"]);
    assert.strictEqual(r.code, 1, r.out);
    assert.match(
      r.err,
      new RegExp(
        `no run of experiment '${experiment}' on ${a.url} reaches precision >= 0.95: the best is ${best.precision} \\(run alpha-iter-2, ${best.run_id}\\); nothing was registered`,
      ),
    );
    assert.doesNotMatch(r.err, /\n\s+at /, "no stack trace");
    assert.deepStrictEqual(await registered(client, name, best.run_id), { exists: false, versions: [] });
  });

  it("refuses a winner with no files under --artifact-path; nothing registered", async () => {
    const name = `${model}-nofiles`;
    const r = await select(["--model", name, "--experiment", experiment, "--from", a.url, "--artifact-path", "not-logged"]);
    assert.strictEqual(r.code, 1, r.out);
    assert.match(
      r.err,
      new RegExp(`run alpha-iter-2 \\(${best.run_id}\\) of experiment '${experiment}' on ${a.url} has no files under 'not-logged'`),
    );
    assert.deepStrictEqual(await registered(client, name, best.run_id), { exists: false, versions: [] });
  });

  it("an experiment that does not exist, or has no finished runs, fails naming it and the workspace; usage errors exit 2", async () => {
    const missing = await select(["--model", model, "--experiment", "/nope", "--from", a.url]);
    assert.strictEqual(missing.code, 1);
    assert.match(missing.err, new RegExp(`there is no experiment '/nope' on ${a.url}`));
    const empty = `/Teams/quant/experiments/empty-${stamp}`;
    await client.createExperiment(empty);
    const none = await select(["--model", model, "--experiment", empty, "--from", a.url]);
    assert.strictEqual(none.code, 1);
    assert.match(none.err, new RegExp(`experiment '${empty}' on ${a.url} has no finished runs to compare`));

    for (const [args, why] of [
      [["--model", model, "--from", a.url], /--experiment is required/],
      [["--model", model, "--experiment", "x", "--from", a.url, "--minimum", "high"], /--minimum is a number, not 'high'/],
      [["--model", model, "--experiment", "x", "--from", a.url, "--mode", "best"], /--mode is max or min, not 'best'/],
      [["--model", model, "--experiment", "x", "--from", "ftp://host"], /is not a tracking URI/],
    ] as const) {
      const u = await select([...args]);
      assert.strictEqual(u.code, 2, u.err);
      assert.match(u.err, why);
    }
  });

  it("refuses a Unity Catalog registry before reading anything (select does not upload a pending version's files)", async () => {
    const r = await select(["--model", "main.quant.alpha", "--experiment", experiment, "--from", "databricks-uc+http://127.0.0.1:9"], {
      DATABRICKS_TOKEN: "dapi-unused",
    });
    assert.strictEqual(r.code, 1);
    assert.match(r.err, /not Unity Catalog .* select in the workspace, then migrate the version to Unity Catalog; nothing was registered/);
  });

  describe("through a Databricks workspace registry, as a developer", () => {
    let dbx: DatabricksTestServer;
    let ws: MlflowClient;
    const DEV = "ana.ruiz@quantfirm.example";
    const name = "quant-alpha-transformer"; // the model Pulumi.yaml declares, with its selection
    before(async () => {
      dbx = new DatabricksTestServer(a.url, "dapi-platform", "backend");
      dbx.addUser("dapi-ana", DEV);
      await dbx.start();
      ws = mlflowClient(resolveEndpoint(`databricks+${dbx.url}`, "from", { DATABRICKS_TOKEN: "dapi-ana" }));
    });
    after(() => dbx?.stop());
    const from = () => `databricks+${dbx.url}`;
    const ANA = { DATABRICKS_TOKEN: "dapi-ana" };

    it("--dry-run changes nothing in the workspace", async () => {
      const before = await registered(ws, name, best.run_id);
      const r = await select(["--model", name, "--experiment", experiment, "--from", from(), "--dry-run"], ANA);
      assert.strictEqual(r.code, 0, r.err);
      assert.match(r.out, /dry run: would register .* nothing changed/);
      assert.deepStrictEqual(await registered(ws, name, best.run_id), before);
      assert.strictEqual(before.versions.length, 0);
    });

    it("refuses below the config's minimum overridden to 0.95; nothing registered", async () => {
      const r = await select(["--model", `${name}-strict`, "--experiment", experiment, "--from", from(), "--minimum", "0.95"], ANA);
      assert.strictEqual(r.code, 1);
      assert.match(r.err, new RegExp(`the best is ${best.precision} \\(run alpha-iter-2, ${best.run_id}\\); nothing was registered`));
      assert.deepStrictEqual(await registered(ws, `${name}-strict`, best.run_id), { exists: false, versions: [] });
    });

    it("registers the best with the config's selection (precision, max, minimum 0.8), authored by the developer; a re-run adopts it", async () => {
      const r = await select(["--model", name, "--experiment", experiment, "--from", from(), "--json"], ANA);
      assert.strictEqual(r.code, 0, r.err);
      const report = JSON.parse(r.out);
      assert.deepStrictEqual(report.selection, { metric: "precision", mode: "max", minimum: 0.8 });
      const v = await ws.getModelVersion(name, report.version);
      assert.strictEqual(v.user_id, DEV);
      assert.strictEqual(v.run_id, best.run_id);
      assert.strictEqual(v.status, "READY");
      assert.strictEqual(v.source, `${(await ws.getRun(best.run_id)).info.artifact_uri}/model`);
      assert.strictEqual(tagMap(v.tags)[SELECTION_TAG.runId], best.run_id);
      assert.strictEqual(tagMap(v.tags)[SELECTION_TAG.experiment], experiment);

      const again = await select(["--model", name, "--experiment", experiment, "--from", from()], ANA);
      assert.strictEqual(again.code, 0, again.err);
      assert.match(again.out, new RegExp(`adopted ${name} version ${report.version}`));
      assert.strictEqual((await registered(ws, name, best.run_id)).versions.length, 1, "never a duplicate");
    });
  });
});
