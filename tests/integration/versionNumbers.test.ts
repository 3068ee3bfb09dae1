/**
 * `move` keeps a model's version numbers (issue 35 item 7): into a target model that holds nothing of its own, each
 * version gets its source number, the numbers of versions deleted in the source are held by placeholders while the
 * later versions are registered and then deleted; a target model with versions of its own gives the next free
 * numbers, and the report maps old -> new. Between two real MLflow servers, which number versions as Databricks
 * does (one after another, a deleted version's number never given again).
 */
import * as assert from "assert";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { takeInventory } from "../../migration/inventory";
import { FILLER_TAG, move, MoveReport } from "../../migration/move";
import { MovePlan, resolveItems } from "../../migration/movePlan";
import { TAG } from "../../migration/provenance";
import { MlflowServer, seedFixture } from "../../devenv/localMlflow";
import { renderMove } from "../../cli/move";
import { liveServers } from "../fixtures/liveServers";

const oss = (url: string, side: "from" | "to") => resolveEndpoint(url, side, {});

describe("move keeps version numbers", function () {
  this.timeout(600000);
  const stamp = `${process.pid}-${Date.now()}`;
  const MODEL = `numbers-${stamp}`;
  const EXP = `numbers-exp-${stamp}`;
  let a: MlflowServer;
  let b: MlflowServer;

  before(async () => {
    ({ a, b } = await liveServers());
    seedFixture(a, MODEL, { sizeMb: 1, shards: 1, experiment: EXP });
    // Versions 1 to 5 of one training run, then 3 and 4 deleted: the source has 1, 2 and 5.
    const src = mlflowClient(oss(a.url, "from"));
    const v1 = await src.getModelVersion(MODEL, "1");
    for (let i = 2; i <= 5; i++) await src.createModelVersion({ name: MODEL, source: v1.source!, run_id: v1.run_id!, tags: [] });
    for (const v of ["3", "4"]) await src.deleteModelVersion(MODEL, v);
    assert.deepStrictEqual((await src.listVersions(MODEL)).map((v) => v.version).sort(), ["1", "2", "5"]);
  });

  async function moveInto(modelMap: Record<string, string>): Promise<MoveReport> {
    const from = oss(a.url, "from");
    const to = oss(b.url, "to");
    const inv = await takeInventory({ endpoint: from, models: [MODEL], experiments: [EXP] });
    const plan: MovePlan = { paths: [], experiments: [EXP], models: [{ name: MODEL, versions: "all" }], modelMap, stageAliases: {} };
    return move({ from, to, plan, items: resolveItems(plan, inv) });
  }

  it("into an empty target model, versions 1, 2 and 5 keep their numbers; the placeholders for 3 and 4 are gone; verify-move passes", async () => {
    const r = await moveInto({});
    assert.deepStrictEqual(r.totals.failed, 0, renderMove(r));
    const dst = mlflowClient(oss(b.url, "to"));
    const got = (await dst.listVersions(MODEL)).map((v) => [v.version, tagMap(v.tags)[TAG.sourceVersion], tagMap(v.tags)[FILLER_TAG]]);
    assert.deepStrictEqual(
      got.sort((x, y) => Number(x[0]) - Number(y[0])),
      [
        ["1", "1", undefined],
        ["2", "2", undefined],
        ["5", "5", undefined],
      ],
    );
    assert.strictEqual(r.renumbered, undefined);
    assert.deepStrictEqual(r.verification?.differences, []);
    // Again: everything adopted, nothing renumbered, no placeholder made.
    const again = await moveInto({});
    assert.deepStrictEqual(
      again.items.filter((i) => i.kind === "model-version").map((i) => i.outcome),
      ["adopted", "adopted", "adopted"],
    );
    assert.strictEqual((await dst.listVersions(MODEL)).length, 3);
  });

  it("into a target model with a version of its own, the versions take the next numbers, and the report maps old -> new", async () => {
    const dst = mlflowClient(oss(b.url, "to"));
    const team = `numbers-team-${stamp}`;
    await dst.ensureRegisteredModel(team);
    const own = (await dst.listVersions(MODEL))[0];
    await dst.createModelVersion({
      name: team,
      source: own.source!,
      run_id: own.run_id!,
      tags: [{ key: "team", value: "their own work" }],
    });
    const r = await moveInto({ [MODEL]: team });
    assert.deepStrictEqual(r.renumbered, [
      {
        model: MODEL,
        targetModel: team,
        versions: { "1": "2", "2": "3", "5": "4" },
        why: "the target model already held 1 version(s) of its own (1)",
      },
    ]);
    assert.match(
      renderMove(r),
      /renumbered: model 'numbers-\S+' -> 'numbers-team-\S+': version 1 is 2, version 2 is 3, version 5 is 4 \(the target model already held 1 version\(s\) of its own \(1\)\)/,
    );
  });
});
