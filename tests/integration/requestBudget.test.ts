/**
 * One request budget per workspace (`move --max-rps`, issue 35 item 9): a move under a target that answers 429
 * over its rate limit, as a Databricks workspace does. Within the budget the target never has to refuse; with no
 * budget it refuses many requests, each retried after its Retry-After, and nothing is lost either way.
 */
import * as assert from "assert";
import { setRequestBudget } from "../../clients/http";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { takeInventory } from "../../migration/inventory";
import { move } from "../../migration/move";
import { MovePlan, resolveItems } from "../../migration/movePlan";
import { RUN_TAG } from "../../migration/provenance";
import { MlflowServer, seedFixture } from "../../devenv/localMlflow";
import { renderMove } from "../../cli/move";
import { FaultProxy } from "../fixtures/faultProxy";
import { liveServers } from "../fixtures/liveServers";

const LIMIT = 12;

describe("move --max-rps: one request budget per workspace under a rate-limited target", function () {
  this.timeout(600000);
  const stamp = `${process.pid}-${Date.now()}`;
  let a: MlflowServer;
  let b: MlflowServer;
  let proxy: FaultProxy;

  before(async () => {
    ({ a, b } = await liveServers());
    proxy = new FaultProxy(() => Number(new URL(b.url).port));
    await proxy.start();
    proxy.rateLimit = { rps: LIMIT };
    for (const e of ["within", "over"])
      seedFixture(a, `budget-${e}-${stamp}`, { sizeMb: 1, shards: 2, experiment: `budget-${e}-${stamp}` });
  });
  after(async () => {
    setRequestBudget(proxy.url, 0);
    await proxy?.stop();
  });

  async function moveExperiment(which: string) {
    const from = resolveEndpoint(a.url, "from", {});
    const to = resolveEndpoint(proxy.url, "to", {});
    const name = `budget-${which}-${stamp}`;
    const inv = await takeInventory({ endpoint: from, experiments: [name], models: [name] });
    const plan: MovePlan = { paths: [], experiments: [name], models: [{ name, versions: "all" }], modelMap: {}, stageAliases: {} };
    const before = proxy.seen.length;
    const t0 = Date.now();
    const r = await move({ from, to, plan, items: resolveItems(plan, inv) });
    const seen = proxy.seen.slice(before);
    return { r, name, refused: seen.filter((s) => s.fault === "status-429").length, requests: seen.length, ms: Date.now() - t0 };
  }

  /** One complete target run per source run, the version there, and verify-move identical: nothing lost. */
  async function nothingLost(r: Awaited<ReturnType<typeof moveExperiment>>) {
    assert.strictEqual(r.r.totals.failed, 0, renderMove(r.r));
    assert.deepStrictEqual(r.r.verification?.differences, [], renderMove(r.r));
    const src = mlflowClient(resolveEndpoint(a.url, "from", {}));
    const dst = mlflowClient(resolveEndpoint(b.url, "to", {}));
    const sourceRuns = (await src.allRuns([(await src.experimentByName(r.name))!.experiment_id])).map((x) => x.info.run_id).sort();
    const targetRuns = await dst.allRuns([(await dst.experimentByName(r.name))!.experiment_id]);
    assert.deepStrictEqual(targetRuns.map((x) => tagMap(x.data.tags)[RUN_TAG.sourceRun]).sort(), sourceRuns);
    assert.strictEqual((await dst.listVersions(r.name)).length, 1);
  }

  it(`within a budget under the limit (${LIMIT - 2}/s), the target refuses nothing, and everything moves`, async () => {
    setRequestBudget(proxy.url, LIMIT - 2);
    const r = await moveExperiment("within");
    assert.strictEqual(r.refused, 0, `429s within the budget (${r.requests} requests in ${r.ms} ms)`);
    assert.ok(r.requests / (r.ms / 1000) <= LIMIT, `${r.requests} requests in ${r.ms} ms`);
    await nothingLost(r);
  });

  it("with no budget, the target refuses many requests with 429, each is retried after its Retry-After, and nothing is lost", async () => {
    setRequestBudget(proxy.url, 0);
    const r = await moveExperiment("over");
    assert.ok(r.refused > 0, `the move went over the limit (${r.requests} requests in ${r.ms} ms, none refused)`);
    await nothingLost(r);
  });
});
