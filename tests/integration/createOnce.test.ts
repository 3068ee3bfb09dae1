/**
 * Issue 33 (1): every request that creates something is safe to send twice. Each row puts one fault on the first
 * create of its kind, between the client and a real MLflow server (or the Databricks workspace test server): the
 * server applies the request and the answer is lost (the connection dropped, or the answer cut short). The
 * object must then exist exactly once, read from the server directly, and the client must hand back that one.
 */
import * as assert from "assert";
import { workspaceClient } from "../../clients/databricksWorkspace";
import { mlflowClient, MlflowClient, tagMap } from "../../clients/mlflow";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { resolveEndpoint } from "../../migration/endpoint";
import { migrateExperiment } from "../../migration/experiments";
import { RUN_TAG } from "../../migration/provenance";
import { FaultAction, FaultProxy } from "../fixtures/faultProxy";
import { liveServers } from "../fixtures/liveServers";

const FAST_RETRY = { attempts: 4, backoffMs: 20 };
const LOST: FaultAction[] = [{ kind: "drop-after" }, { kind: "truncate-response" }];
const oss = (url: string) => resolveEndpoint(url, "to", {});

describe("a create whose answer is lost is adopted, never made twice", function () {
  this.timeout(120000);
  let proxy: FaultProxy;
  let direct: MlflowClient;
  let through: MlflowClient;
  let source: MlflowClient;
  let sourceUrl: string;
  const stamp = Date.now();

  before(async () => {
    const { a, b } = await liveServers();
    proxy = new FaultProxy(() => Number(new URL(b.url).port));
    await proxy.start();
    direct = mlflowClient(oss(b.url), FAST_RETRY);
    through = mlflowClient(oss(proxy.url), FAST_RETRY);
    source = mlflowClient(oss(a.url), FAST_RETRY);
    sourceUrl = a.url;
  });
  afterEach(() => proxy.clear());
  after(() => proxy?.stop());

  /** Puts `action` on the first request matching `path`, runs `act`, and checks the fault fired. */
  async function lostOnce<T>(action: FaultAction, path: RegExp, act: () => Promise<T>): Promise<T> {
    proxy.add({ method: "POST", path, action, times: 1 });
    const out = await act();
    assert.strictEqual(proxy.rules[0].fired, 1, `the ${action.kind} fault on ${path} fired`);
    return out;
  }

  for (const action of LOST) {
    it(`runs/create (${action.kind}): one run, the one handed back`, async () => {
      const expId = await direct.ensureExperiment(`create-once-runs-${action.kind}-${stamp}`);
      const run = await lostOnce(action, /runs\/create/, () => through.createRun(expId, "r", Date.now(), [{ key: "k", value: "v" }]));
      const runs = await direct.allRuns([expId]);
      assert.deepStrictEqual(
        runs.map((r) => r.info.run_id),
        [run.info.run_id],
      );
      assert.strictEqual(tagMap(runs[0].data.tags).k, "v");
    });

    it(`model-versions/create (${action.kind}): one version, the one handed back`, async () => {
      const model = `create-once-${action.kind}-${stamp}`;
      const expId = await direct.ensureExperiment(`create-once-versions-${action.kind}-${stamp}`);
      const run = await direct.createRun(expId, "r", Date.now(), []);
      await direct.ensureRegisteredModel(model);
      const v = await lostOnce(action, /model-versions\/create/, () =>
        through.createModelVersion({ name: model, source: `${run.info.artifact_uri}/model`, run_id: run.info.run_id, tags: [] }),
      );
      assert.deepStrictEqual(
        (await direct.listVersions(model)).map((x) => x.version),
        [v.version],
      );
    });

    it(`experiments/create and registered-models/create (${action.kind}): found by name`, async () => {
      const name = `create-once-named-${action.kind}-${stamp}`;
      const id = await lostOnce(action, /experiments\/create/, () => through.ensureExperiment(name));
      assert.strictEqual((await direct.experimentByName(name))?.experiment_id, id);
      await lostOnce(action, /registered-models\/create/, () => through.ensureRegisteredModel(name));
      assert.ok(await direct.getRegisteredModel(name));
    });
  }

  it("an experiment's migration whose lease run's create answer is lost leaves no lease and one run per source run", async () => {
    const name = `create-once-lease-${stamp}`;
    const srcExp = await source.ensureExperiment(name);
    for (const r of ["a", "b"]) await source.createRun(srcExp, r, Date.now(), []);
    // The first runs/create of a migration is its lease run's; the second, its first run's.
    proxy.add({ method: "POST", path: /runs\/create/, action: { kind: "drop-after" }, times: 2 });
    await migrateExperiment({ from: oss(sourceUrl), to: oss(proxy.url), experiment: name, retry: FAST_RETRY });
    assert.strictEqual(proxy.rules[0].fired, 2);
    const runs = await direct.allRuns([(await direct.experimentByName(name))!.experiment_id]);
    assert.deepStrictEqual(runs.filter((r) => tagMap(r.data.tags)[RUN_TAG.lease]).length, 0, "no lease run is left");
    assert.deepStrictEqual(runs.map((r) => r.info.run_name).sort(), ["a", "b"]);
  });

  it("a workspace import whose answer is lost: the object is there once, and the import is not refused as existing", async () => {
    const ws = new DatabricksTestServer("http://127.0.0.1:9", "dapi-create-once");
    await ws.start();
    const gate = new FaultProxy(() => Number(new URL(ws.url).port));
    await gate.start();
    try {
      gate.add({ method: "POST", path: /workspace\/import/, action: { kind: "drop-after" }, times: 1 });
      const c = workspaceClient(resolveEndpoint(`databricks+${gate.url}`, "to", { DATABRICKS_TOKEN: "dapi-create-once" }), FAST_RETRY);
      const body = Buffer.from("# Databricks notebook source\nprint(1)\n");
      await c.mkdirs("/Shared/once");
      await c.import({ path: "/Shared/once/nb", object_type: "NOTEBOOK", language: "PYTHON" }, body, false);
      assert.strictEqual(gate.rules[0].fired, 1);
      assert.strictEqual(ws.workspace.nodes.get("/Shared/once/nb")?.content?.toString("utf8"), body.toString("utf8"));
      // Something else at the path is not adopted: the import is refused as the API refuses it.
      gate.add({ method: "POST", path: /workspace\/import/, action: { kind: "drop-after" }, times: 1 });
      await assert.rejects(
        c.import({ path: "/Shared/once/nb", object_type: "NOTEBOOK", language: "PYTHON" }, Buffer.from("# other\n"), false),
        /RESOURCE_ALREADY_EXISTS/,
      );
    } finally {
      await gate.stop();
      await ws.stop();
    }
  });
});
