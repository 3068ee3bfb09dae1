import * as assert from "assert";
import { parseStageAliases, planLifecycle } from "../../migration/lifecycle";

describe("stages and aliases between registries (planLifecycle)", () => {
  const map = { Production: "champion", Staging: "challenger" };
  const cases: [string, Parameters<typeof planLifecycle>, Partial<ReturnType<typeof planLifecycle>>][] = [
    [
      "OSS -> OSS keeps both and maps nothing",
      ["oss", "oss", "Staging", ["champion"], map],
      { stage: "Staging", aliases: ["champion"], mapped: [], dropped: [] },
    ],
    [
      "workspace -> OSS: the stage is kept and becomes its alias",
      ["workspace", "oss", "Production", [], map],
      { stage: "Production", aliases: ["champion"], mapped: [{ from: "stage", name: "Production", to: "champion" }] },
    ],
    [
      "workspace -> Unity Catalog: the stage becomes its alias",
      ["workspace", "unity-catalog", "Production", [], map],
      { stage: undefined, aliases: ["champion"], dropped: [] },
    ],
    [
      "Unity Catalog -> workspace: the alias becomes its stage",
      ["unity-catalog", "workspace", undefined, ["champion"], map],
      { stage: "Production", aliases: [], mapped: [{ from: "alias", name: "champion", to: "Production" }] },
    ],
    [
      "OSS -> workspace: the version's own stage wins over a mapped alias, which is dropped",
      ["oss", "workspace", "Staging", ["champion", "challenger"], map],
      { stage: "Staging", aliases: [] },
    ],
    [
      "-> Unity Catalog without a mapping: the stage is dropped",
      ["oss", "unity-catalog", "Production", [], {}],
      { stage: undefined, aliases: [] },
    ],
  ];
  for (const [name, args, expected] of cases) {
    it(name, () => {
      const p = planLifecycle(...args);
      for (const [k, v] of Object.entries(expected)) assert.deepStrictEqual(p[k as keyof typeof p], v, k);
      assert.ok(!(args[1] === "workspace" && p.aliases.length), "a workspace registry never gets an alias");
      assert.ok(!(args[1] === "unity-catalog" && p.stage), "Unity Catalog never gets a stage");
    });
  }

  it("every source alias and stage is either carried over, mapped or reported dropped", () => {
    const p = planLifecycle("oss", "workspace", "Staging", ["champion", "challenger", "shadow"], map);
    assert.deepStrictEqual(p.dropped.map((d) => d.name).sort(), ["champion", "shadow"]);
    assert.deepStrictEqual(p.mapped, [{ from: "alias", name: "challenger", to: "Staging" }]);
  });

  it("--map-stage: repeated or comma-separated, stage names in any case; bad entries are named", () => {
    assert.deepStrictEqual(parseStageAliases(["production=champion,Staging=challenger", "Archived=old"]), {
      Production: "champion",
      Staging: "challenger",
      Archived: "old",
    });
    assert.throws(() => parseStageAliases(["Prod=champion"]), /'Prod' is not a stage/);
    assert.throws(() => parseStageAliases(["Production=a", "Production=b"]), /maps stage Production twice/);
    assert.throws(() => parseStageAliases(["Production"]), /is not STAGE=ALIAS/);
  });
});
