import * as assert from "assert";
import * as fc from "fast-check";
import { Inventory, VersionInventory } from "../../migration/inventory";
import { concurrencySplit } from "../../migration/move";
import {
  MoveItem,
  MovePlan,
  parsePlan,
  parseShard,
  planFromInventory,
  PlanError,
  renderPlan,
  resolveItems,
  selectVersions,
  splitShards,
} from "../../migration/movePlan";

const version = (v: string, stage: string | undefined, bytes = 100, aliases: string[] = []): VersionInventory => ({
  version: v,
  stage,
  aliases,
  status: "READY",
  runId: `r${v}`,
  description: undefined,
  tags: {},
  files: 2,
  bytes,
});

const INV: Inventory = {
  source: "databricks://old",
  host: "https://old",
  registry: "workspace",
  models: [
    {
      name: "alpha",
      versions: [version("1", "Archived"), version("2", "Production", 5000), version("3", "Staging"), version("4", "None")],
    },
    { name: "beta", versions: [version("1", "None", 7000)] },
  ],
  experiments: [
    { id: "0", name: "Default", runs: [], artifactBytes: 0 },
    { id: "7", name: "/Users/a@x/exp", runs: [], artifactBytes: 9000 },
    { id: "8", name: "quant-platform-migrations", runs: [], artifactBytes: 50 },
  ],
  workspace: {
    paths: ["/Shared"],
    objects: [
      { path: "/Shared/a", type: "NOTEBOOK", size: 10 },
      { path: "/Shared/b", type: "FILE", size: 20 },
    ],
    directories: ["/Shared"],
    gitFolders: [],
    other: [],
  },
};

const problems = (yaml: string) => {
  try {
    parsePlan(yaml, "plan.yaml");
  } catch (e) {
    assert.ok(e instanceof PlanError, String(e));
    return e.message;
  }
  return "";
};

describe("move plan: written, validated, resolved and split", () => {
  it("written from an inventory, it reads back as the same plan (every path, experiment and model, versions: all)", () => {
    const plan = planFromInventory(INV, { modelMap: { alpha: "main.quant.alpha" }, stageAliases: { Production: "champion" } });
    assert.deepStrictEqual(plan.experiments, ["/Users/a@x/exp"], "neither the engine's journals nor an empty Default move");
    assert.deepStrictEqual(parsePlan(renderPlan(plan, INV)), plan);
  });

  it("a bad entry is named with what was expected and what it got, every problem at once", () => {
    const msg = problems(
      [
        "paths: [Shared]",
        "experiments: [/e, /e]",
        "models:",
        "  - name: a",
        "    versions: all",
        "  - name: b",
        "  - name: c",
        "    versions: lates",
        "  - name: d",
        "    versions: [1, x]",
        "  - {name: e, version: all}",
        "stageAliases: {Production: 3}",
        "ucSchema: main",
        "extra: 1",
      ].join("\n"),
    );
    for (const m of [
      'paths[0]: expected an absolute workspace path, got "Shared"',
      'experiments[1]: "/e" is listed twice',
      'models[2].versions: expected all, latest-per-stage or a list of version numbers, got "lates"',
      'models[3].versions[1]: expected a version number, got "x"',
      "models[4].version: unknown key; expected name, versions",
      "stageAliases.Production: expected a name, got 3",
      'ucSchema: expected <catalog>.<schema> (for example main.quant), got "main"',
      "extra: unknown key",
    ])
      assert.ok(msg.includes(m), `${m}\nin\n${msg}`);
    assert.ok(!msg.includes("models[1]"), "versions default to all");
    assert.match(problems("models: {a: 1}"), /models: expected a list, got \{"a":1\}/);
    assert.match(problems("- a"), /expected a mapping with paths, experiments and models/);
    assert.match(problems("paths: [\n"), /plan.yaml is not YAML/);
  });

  it("versions: all leaves archived ones out; latest-per-stage takes the newest of each stage; a list, those", () => {
    const alpha = INV.models[0];
    assert.deepStrictEqual(
      selectVersions(alpha, "all").map((v) => v.version),
      ["2", "3", "4"],
    );
    const many = {
      name: "m",
      versions: [version("1", "Production"), version("2", "Production"), version("3", "None"), version("4", "Archived")],
    };
    assert.deepStrictEqual(
      selectVersions(many, "latest-per-stage").map((v) => v.version),
      ["2", "3"],
    );
    const aliased = { name: "m", versions: [version("1", undefined, 1, ["champion"]), version("2", undefined), version("3", undefined)] };
    assert.deepStrictEqual(
      selectVersions(aliased, "latest-per-stage").map((v) => v.version),
      ["1", "3"],
      "without stages: every aliased version and the newest",
    );
    assert.deepStrictEqual(
      selectVersions(alpha, ["1", "3"]).map((v) => v.version),
      ["1", "3"],
      "a list may name an archived version",
    );
    assert.deepStrictEqual(
      selectVersions(alpha, "all", { includeArchived: true }).map((v) => v.version),
      ["1", "2", "3", "4"],
      "includeArchived: all takes archived versions too",
    );
    assert.deepStrictEqual(
      selectVersions(many, "latest-per-stage", { includeArchived: true }).map((v) => v.version),
      ["2", "3"],
      "latest-per-stage never takes an archived one",
    );
  });

  it("includeArchived: --include-archived as plan data, written, read back and resolved; anything but a boolean is refused", () => {
    const plan = planFromInventory(INV, { modelMap: {}, stageAliases: {}, includeArchived: true });
    assert.deepStrictEqual(parsePlan(renderPlan(plan, INV)), plan);
    assert.strictEqual(parsePlan(renderPlan(planFromInventory(INV, { modelMap: {}, stageAliases: {} }), INV)).includeArchived, undefined);
    const keys = (p: MovePlan) => resolveItems(p, INV).flatMap((i) => (i.kind === "model-version" ? [i.version] : []));
    assert.deepStrictEqual(keys(parsePlan("models: [{name: alpha}]")), ["2", "3", "4"]);
    assert.deepStrictEqual(keys(parsePlan("models: [{name: alpha}]\nincludeArchived: true")), ["1", "2", "3", "4"]);
    assert.throws(() => parsePlan("includeArchived: yes please"), /includeArchived: expected true or false, got "yes please"/);
  });

  it("items resolved against the source name every entry it lacks", () => {
    const items = resolveItems(parsePlan("paths: [/Shared]\nexperiments: [/Users/a@x/exp]\nmodels: [{name: alpha}]"), INV);
    assert.deepStrictEqual(
      items.map((i) => [i.key, i.bytes]),
      [
        ["notebooks:/Shared", 30],
        ["experiment:/Users/a@x/exp", 9000],
        ["model:alpha#000002", 5000],
        ["model:alpha#000003", 100],
        ["model:alpha#000004", 100],
      ],
    );
    assert.throws(
      () => resolveItems(parsePlan("experiments: [/nope]\nmodels: [{name: alpha, versions: [9]}, {name: gamma}]"), INV),
      (e: Error) =>
        e instanceof PlanError &&
        e.message.includes('experiments[0]: "/nope" does not exist in databricks://old') &&
        e.message.includes('models[0].versions[0]: "alpha" has no version 9') &&
        e.message.includes('models[1].name: "gamma" does not exist'),
    );
  });

  it("--shard is i/N with 1 <= i <= N", () => {
    assert.deepStrictEqual(parseShard("2/3"), { index: 2, count: 3 });
    for (const bad of ["0/2", "3/2", "2", "a/b", "1/0"]) assert.throws(() => parseShard(bad), /--shard is i\/N/, bad);
  });

  it("shards: largest first onto the lightest shard, in the move's order within each", () => {
    const items = resolveItems(planFromInventory(INV, { modelMap: {}, stageAliases: {} }), INV);
    const [a, b] = splitShards(items, 2);
    // 9000 -> 1; 7000 -> 2; 5000 -> 2 (12000); 100, 100 and 30 -> 1 (9230).
    assert.deepStrictEqual(
      a.map((i) => i.key),
      ["notebooks:/Shared", "experiment:/Users/a@x/exp", "model:alpha#000003", "model:alpha#000004"],
    );
    assert.deepStrictEqual(
      b.map((i) => i.key),
      ["model:alpha#000002", "model:beta#000001"],
    );
  });

  it("shards: a version goes with the experiment that holds its run, so its files cross once", () => {
    const inv: Inventory = {
      ...INV,
      experiments: INV.experiments.map((e) =>
        e.id === "7" ? { ...e, runs: [{ runId: "r2" } as Inventory["experiments"][number]["runs"][number]] } : e,
      ),
    };
    const items = resolveItems(planFromInventory(inv, { modelMap: {}, stageAliases: {} }), inv);
    const v2 = items.find((i) => i.key === "model:alpha#000002");
    assert.strictEqual(v2?.kind === "model-version" ? v2.withRun : undefined, "experiment:/Users/a@x/exp");
    const [a, b] = splitShards(items, 2);
    // The experiment and alpha v2 are one unit (9000: v2's files are the run's) -> 1; 7000, 100, 100 and 30 -> 2 (7230).
    assert.deepStrictEqual(
      a.map((i) => i.key),
      ["experiment:/Users/a@x/exp", "model:alpha#000002"],
    );
    assert.deepStrictEqual(
      b.map((i) => i.key),
      ["notebooks:/Shared", "model:alpha#000003", "model:alpha#000004", "model:beta#000001"],
    );
  });

  const arbItems = fc
    .uniqueArray(
      fc.tuple(fc.string({ minLength: 1, maxLength: 6 }), fc.nat(1_000_000), fc.constantFrom("notebooks", "experiment", "model-version")),
      {
        selector: (t) => t[0],
        maxLength: 40,
      },
    )
    .map((ts) =>
      ts.map(([k, bytes, kind]) =>
        kind === "notebooks"
          ? ({ kind, key: `${kind}:${k}`, path: `/${k}`, objects: 1, bytes } as MoveItem)
          : kind === "experiment"
            ? ({ kind, key: `${kind}:${k}`, name: k, runs: 1, files: 1, bytes } as MoveItem)
            : ({ kind, key: `${kind}:${k}`, model: k, version: "1", stage: undefined, files: 1, bytes } as MoveItem),
      ),
    );

  it("property: the shards are disjoint, cover every item, and do not depend on the input order", () => {
    fc.assert(
      fc.property(arbItems, fc.integer({ min: 1, max: 8 }), (items, n) => {
        const shards = splitShards(items, n);
        const keys = shards.flatMap((s) => s.map((i) => i.key));
        assert.strictEqual(new Set(keys).size, items.length);
        assert.deepStrictEqual(keys.sort(), items.map((i) => i.key).sort());
        assert.deepStrictEqual(splitShards([...items].reverse(), n), shards);
      }),
    );
  });

  it("property: balanced by bytes, no shard exceeds the lightest by more than the largest item", () => {
    fc.assert(
      fc.property(arbItems, fc.integer({ min: 1, max: 8 }), (items, n) => {
        const loads = splitShards(items, n).map((s) => s.reduce((t, i) => t + i.bytes, 0));
        const largest = Math.max(0, ...items.map((i) => i.bytes));
        assert.ok(Math.max(...loads) - Math.min(...loads) <= largest, JSON.stringify(loads));
      }),
    );
  });

  it("concurrency: items in flight times files each stays within the one limit", () => {
    for (let n = 1; n <= 64; n++)
      for (const items of [1, 3, 50]) {
        const s = concurrencySplit(n, items);
        assert.ok(s.items * s.filesPerItem <= n && s.items >= 1 && s.items <= items, `${n} ${items}`);
      }
    assert.deepStrictEqual(concurrencySplit(8, 50), { items: 4, filesPerItem: 2 });
    assert.deepStrictEqual(concurrencySplit(8, 1), { items: 1, filesPerItem: 8 });
  });
});
