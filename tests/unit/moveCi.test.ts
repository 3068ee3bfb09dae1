import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { PROJECT_DIR } from "../fixtures/config";

const yaml = (f: string) => YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, f), "utf8"), { merge: true });
const scriptOf = (job: { script: string[] }) => job.script.join("\n");

describe("moving an environment in CI: one plan, N shards at once, then one verify job", () => {
  it("GitLab (ci/gitlab/move.yml): the plan once, parallel: N shards of that plan, then --verify-only over it", () => {
    const ci = yaml("ci/gitlab/move.yml");
    assert.deepStrictEqual(ci.stages, ["move-plan", "move", "move-verify"]);
    assert.match(scriptOf(ci["move-plan"]), /move --from "\$MOVE_FROM" --to "\$MOVE_TO" --plan-out move-plan\.yaml/);
    assert.deepStrictEqual(ci["move-plan"].artifacts.paths, ["move-plan.yaml"]);
    assert.ok(Number.isInteger(ci.move.parallel) && ci.move.parallel > 1);
    assert.deepStrictEqual(ci.move.needs, ["move-plan"]);
    assert.match(scriptOf(ci.move), /--plan move-plan\.yaml --shard "\$CI_NODE_INDEX\/\$CI_NODE_TOTAL"/);
    assert.deepStrictEqual(ci["move-verify"].needs, ["move-plan", "move"]);
    assert.match(scriptOf(ci["move-verify"]), /--plan move-plan\.yaml --verify-only/);
    for (const j of ["move-plan", "move", "move-verify"]) assert.doesNotMatch(scriptOf(ci[j]), /--token|TOKEN=/, j);
  });

  it("GitHub Actions (.github/workflows/move.yml): a matrix of shards of the plan job's plan, then one verify job", () => {
    const w = yaml(".github/workflows/move.yml");
    const shards = w.jobs.move.strategy.matrix.shard as number[];
    assert.deepStrictEqual(
      shards,
      Array.from({ length: Number(w.env.SHARDS) }, (_, i) => i + 1),
      "the matrix numbers every shard of SHARDS",
    );
    assert.strictEqual(w.jobs.move.needs, "plan");
    assert.strictEqual(w.jobs.verify.needs, "move");
    const runs = (job: string) => (w.jobs[job].steps as { run?: string }[]).map((s) => s.run ?? "").join("\n");
    assert.match(runs("plan"), /--plan-out move-plan\.yaml/);
    assert.match(runs("move"), /--plan move-plan\.yaml --shard "\$\{\{ matrix\.shard \}\}\/\$SHARDS"/);
    assert.match(runs("verify"), /--plan move-plan\.yaml --verify-only/);
    assert.strictEqual(w.env.MIGRATE_FROM_TOKEN, "${{ secrets.MIGRATE_FROM_TOKEN }}");
  });
});

describe("local-env --experiments N --models M --versions K: the seed for rehearsing a whole move", () => {
  // Loaded here: cli/localEnv pulls in the stand-ins, which the CI checks above do not need.
  const { rehearsalSeed } = require("../../cli/localEnv") as typeof import("../../cli/localEnv");
  const { rehearsalStage } = require("../../devenv/localEnv") as typeof import("../../devenv/localEnv");
  const { UsageError } = require("../../cli/command") as typeof import("../../cli/command");

  it("no flags: the default seeding, unchanged; flags: whole numbers, --runs with --experiments, --versions with --models", () => {
    assert.strictEqual(rehearsalSeed({}), undefined);
    assert.deepStrictEqual(rehearsalSeed({ experiments: "20", runs: "10", models: "4", versions: "3" }), {
      experiments: 20,
      runs: 10,
      models: 4,
      versions: 3,
    });
    assert.deepStrictEqual(rehearsalSeed({ models: "2" }), { models: 2 });
    for (const [a, m] of [
      [{ experiments: "0" }, /--experiments is a whole number from 1 to 500, not '0'/],
      [{ models: "2.5" }, /--models is a whole number from 1 to 100/],
      [{ runs: "3" }, /--runs goes with --experiments/],
      [{ versions: "3" }, /--versions goes with --models/],
    ] as [Record<string, string>, RegExp][])
      assert.throws(
        () => rehearsalSeed(a),
        (e: Error) => e instanceof UsageError && m.test(e.message),
      );
  });

  it("the versions of a seeded model are in different stages: the newest Production, then Staging, Archived, None", () => {
    assert.deepStrictEqual(
      [1, 2, 3, 4, 5].map((v) => rehearsalStage(v, 5)),
      ["None", "None", "Archived", "Staging", "Production"],
    );
  });
});
