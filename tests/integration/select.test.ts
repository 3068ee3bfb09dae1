/**
 * `quant-platform select` against real MLflow servers: the transformer fixture logs three training iterations,
 * each with its own model and the precision it really has; select registers the best, adopts it on a re-run,
 * refuses a winner below the minimum, and changes nothing in a dry run. Also through the Databricks workspace
 * test server, as a developer with their own token (the registry records them as the version's author).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { selectCli } from "../../cli/select";
import { DatabricksTestServer } from "../../devenv/databricksServer";
import { MlflowServer, python } from "../../devenv/localMlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { SELECTION_TAG } from "../../migration/provenance";
import { liveServers } from "../fixtures/liveServers";

interface Trained {
  experiment_id: string;
  runs: { run_id: string; precision: number }[];
  best_run_id: string;
  models: Record<string, { path: string; size: number; sha256: string }[]>;
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

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  let out = "";
  try {
    const code = await selectCli(args, env, (s) => (out += `${s}\n`));
    return { code, out };
  } catch (e) {
    return { code: 1, out: `${out}${(e as Error).message}` };
  }
}

describe("select: the best run by precision is registered (real MLflow servers)", function () {
  this.timeout(300000);
  let a: MlflowServer;
  const stamp = Date.now();
  const experiment = `/Teams/quant/experiments/alpha-${stamp}`;
  const model = `alpha-selected-${stamp}`;
  let trained: Trained;
  before(async () => {
    ({ a } = await liveServers());
    trained = train(a, experiment);
  });

  it("--dry-run prints the comparison, marks the winner, and registers nothing", async () => {
    const r = await cli(["--model", model, "--experiment", experiment, "--from", a.url, "--dry-run"]);
    assert.strictEqual(r.code, 0, r.out);
    const best = trained.runs.reduce((x, y) => (y.precision > x.precision ? y : x));
    assert.match(r.out, new RegExp(`^1\\s+alpha-iter-2\\s+${best.run_id}\\s+${best.precision}\\s.*<- selected$`, "m"));
    assert.match(r.out, /dry run: would register .* as a new version/);
    assert.strictEqual((await mlflowClient(resolveEndpoint(a.url, "from", {})).listVersions(model)).length, 0, "nothing registered");
  });

  it("registers the winner's model as a version tagged with the metric, value, rank and the runs compared; a re-run adopts it", async () => {
    const r = await cli(["--model", model, "--experiment", experiment, "--from", a.url, "--json"]);
    assert.strictEqual(r.code, 0, r.out);
    const report = JSON.parse(r.out);
    assert.strictEqual(report.winner.runId, trained.best_run_id);
    const client = mlflowClient(resolveEndpoint(a.url, "from", {}));
    const v = await client.getModelVersion(model, report.version);
    assert.strictEqual(v.run_id, trained.best_run_id);
    assert.strictEqual(v.status, "READY");
    const t = tagMap(v.tags);
    const best = trained.runs.find((x) => x.run_id === trained.best_run_id)!;
    assert.deepStrictEqual(
      [t[SELECTION_TAG.metric], t[SELECTION_TAG.mode], Number(t[SELECTION_TAG.value]), t[SELECTION_TAG.rank], t[SELECTION_TAG.candidates]],
      ["precision", "max", best.precision, "1", "3"],
    );
    assert.strictEqual(t[SELECTION_TAG.runId], trained.best_run_id);
    const compared = t[SELECTION_TAG.compared].split(",").map((x) => x.split("="));
    assert.deepStrictEqual(
      compared.map(([id]) => id),
      [...trained.runs].sort((x, y) => y.precision - x.precision).map((x) => x.run_id),
      "the runs compared, best first",
    );
    // The version points at the winner's own model files.
    const files = await fetch(`${a.url}/api/2.0/mlflow/artifacts/list?run_id=${trained.best_run_id}&path=model`).then((x) => x.json());
    assert.ok((files as { files: unknown[] }).files.length > 5);
    assert.match(v.source, new RegExp(`${trained.best_run_id}/artifacts/model$`));

    const again = await cli(["--model", model, "--experiment", experiment, "--from", a.url]);
    assert.strictEqual(again.code, 0, again.out);
    assert.match(again.out, new RegExp(`adopted ${model} version ${report.version}: already registered from run ${trained.best_run_id}`));
    assert.strictEqual((await client.listVersions(model)).length, 1, "never a duplicate");
  });

  it("refuses (exit 1) when no run reaches the minimum, naming the best value found; nothing registered", async () => {
    const name = `${model}-strict`;
    const r = await cli(["--model", name, "--experiment", experiment, "--from", a.url, "--minimum", "0.95"]);
    const best = trained.runs.reduce((x, y) => (y.precision > x.precision ? y : x));
    assert.strictEqual(r.code, 1);
    assert.match(
      r.out,
      new RegExp(
        `no run of experiment '${experiment}' on ${a.url} reaches precision >= 0.95: the best is ${best.precision} \\(run alpha-iter-2, ${best.run_id}\\); nothing was registered`,
      ),
    );
    assert.strictEqual((await mlflowClient(resolveEndpoint(a.url, "from", {})).listVersions(name)).length, 0);
  });

  it("an experiment that does not exist, and a usage error, say so", async () => {
    const r = await cli(["--model", model, "--experiment", "/nope", "--from", a.url]);
    assert.strictEqual(r.code, 1);
    assert.match(r.out, new RegExp(`there is no experiment '/nope' on ${a.url}`));
    await assert.rejects(
      selectCli(["--model", model, "--from", a.url], {}, () => undefined),
      /--experiment is required/,
    );
    await assert.rejects(
      selectCli(["--model", model, "--experiment", "x", "--from", a.url, "--minimum", "high"], {}, () => undefined),
      /--minimum is a number, not 'high'/,
    );
  });

  describe("through a Databricks workspace registry, as a developer", () => {
    let dbx: DatabricksTestServer;
    const DEV = "ana.ruiz@quantfirm.example";
    before(async () => {
      dbx = new DatabricksTestServer(a.url, "dapi-platform", "backend");
      dbx.addUser("dapi-ana", DEV);
      await dbx.start();
    });
    after(() => dbx?.stop());

    it("registers the best with the config's selection (precision, max, minimum 0.8); the workspace records the developer as its author", async () => {
      const name = "quant-alpha-transformer"; // the model Pulumi.yaml declares, with its selection
      const r = await cli(["--model", name, "--experiment", experiment, "--from", `databricks+${dbx.url}`, "--json"], {
        DATABRICKS_TOKEN: "dapi-ana",
      });
      assert.strictEqual(r.code, 0, r.out);
      const report = JSON.parse(r.out);
      assert.deepStrictEqual(report.selection, { metric: "precision", mode: "max", minimum: 0.8 });
      const v = await mlflowClient(resolveEndpoint(`databricks+${dbx.url}`, "from", { DATABRICKS_TOKEN: "dapi-ana" })).getModelVersion(
        name,
        report.version,
      );
      assert.strictEqual(v.user_id, DEV);
      assert.strictEqual(v.run_id, trained.best_run_id);
    });
  });
});
