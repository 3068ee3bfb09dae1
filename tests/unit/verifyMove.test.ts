import * as assert from "assert";
import {
  checkModelNames,
  compareInventories,
  manifestDifferences,
  parseModelMap,
  renderVerification,
  targetModelName,
} from "../../migration/verifyMove";
import { Endpoint, RegistryKind } from "../../clients/mlflow";
import { Inventory, RunInventory, VersionInventory } from "../../migration/inventory";
import { RUN_TAG, TAG } from "../../migration/provenance";

const SRC = "https://old.example";
const file = (path: string, sha = "a".repeat(64), size = 10) => ({ path, size, sha256: sha });

function version(over: Partial<VersionInventory> = {}): VersionInventory {
  return {
    version: "1",
    stage: "None",
    aliases: ["champion"],
    status: "READY",
    runId: "r1",
    description: "best",
    tags: { task: "cls" },
    files: 1,
    bytes: 10,
    manifest: [file("model/w.bin")],
    ...over,
  };
}
function run(over: Partial<RunInventory> = {}): RunInventory {
  return {
    runId: "s1",
    name: "iter-1",
    status: "FINISHED",
    startTime: 1,
    endTime: 2,
    params: { lr: "2e-5" },
    tags: { team: "quant" },
    metrics: {
      precision: [
        [0, 10, 0.8],
        [1, 20, 0.87],
      ],
    },
    metricKeys: ["precision"],
    files: 1,
    bytes: 10,
    manifest: [file("model/w.bin")],
    ...over,
  };
}
function source(): Inventory {
  return {
    source: "databricks://old",
    host: SRC,
    registry: "oss",
    models: [{ name: "alpha", versions: [version()] }],
    experiments: [{ id: "1", name: "quant-alpha", runs: [run()], artifactBytes: 10 }],
    workspace: {
      paths: ["/Shared"],
      objects: [{ path: "/Shared/nb", type: "NOTEBOOK", language: "PYTHON", size: 5, sha256: "n1" }],
      directories: ["/Shared"],
      gitFolders: ["/Repos/a/r"],
      other: [],
    },
  };
}
/** A target that holds exactly what the source does, with the provenance the migrations record. */
function target(): Inventory {
  const provenance = { [TAG.sourceHost]: SRC, [TAG.sourceModel]: "alpha", [TAG.sourceVersion]: "1", [TAG.fingerprint]: "fp" };
  return {
    source: "databricks://new",
    host: "https://new.example",
    registry: "oss",
    models: [{ name: "alpha", versions: [version({ version: "3", tags: { task: "cls", ...provenance } })] }],
    experiments: [
      {
        id: "7",
        name: "quant-alpha",
        runs: [
          run({ runId: "t1", tags: { team: "quant", [RUN_TAG.sourceHost]: SRC, [RUN_TAG.sourceRun]: "s1", [RUN_TAG.complete]: "fp" } }),
        ],
        artifactBytes: 10,
      },
    ],
    workspace: {
      paths: ["/Shared"],
      objects: [{ path: "/Shared/nb", type: "NOTEBOOK", language: "PYTHON", size: 5, sha256: "n1" }],
      directories: ["/Shared"],
      gitFolders: ["/Repos/a/r"],
      other: [],
    },
  };
}

describe("verify-move comparison", () => {
  it("an exact copy has no differences, whatever the version numbers and run IDs became", () => {
    const v = compareInventories(source(), target());
    assert.deepStrictEqual(v.differences, []);
    assert.deepStrictEqual(v.checked, { modelVersions: 1, runs: 1, notebooks: 1, files: 2, bytes: 20 });
  });

  it("names each kind of difference", () => {
    const t = target();
    t.models[0].versions[0].manifest = [file("model/w.bin", "b".repeat(64)), file("extra.txt")];
    t.models[0].versions[0].aliases = [];
    t.experiments[0].runs[0].params = { lr: "3e-5" };
    t.experiments[0].runs[0].status = "FAILED";
    t.workspace!.objects[0] = { ...t.workspace!.objects[0], language: "SCALA" };
    t.workspace!.gitFolders = [];
    const d = compareInventories(source(), t).differences.map((x) => `${x.kind}: ${x.detail}`);
    assert.deepStrictEqual(d, [
      "model-version: 'model/w.bin' differs (sha256 bbbbbbbbbbbb…, the source's aaaaaaaaaaaa…)",
      "model-version: 'extra.txt' is in the target only",
      "model-version: alias 'champion' is missing",
      "run: status is FAILED, the source's FINISHED",
      "run: param 'lr' is '3e-5', the source's '2e-5'",
      "notebook: the target holds a scala notebook there, the source a python notebook",
      "git-folder: missing in the target: Git folders move through Git (the stack's Git folders, or a clone by the user)",
    ]);
  });

  it("a run's dataset inputs: one missing in the target, one there only, each named", () => {
    const s = source();
    const t = target();
    s.experiments[0].runs[0].datasets = ["history@ab12 (local s3://q/h.parquet) [mlflow.data.context=eval] schema - profile -"];
    t.experiments[0].runs[0].datasets = ["history@ff00 (local s3://q/h.parquet) [mlflow.data.context=eval] schema - profile -"];
    assert.deepStrictEqual(
      compareInventories(s, t).differences.map((x) => x.detail),
      [
        "dataset input history@ab12 (local s3://q/h.parquet) [mlflow.data.context=eval] schema - profile - is missing",
        "dataset input history@ff00 (local s3://q/h.parquet) [mlflow.data.context=eval] schema - profile - is in the target only",
      ],
    );
  });

  it("a run whose migration did not finish, a retired version, and another host's copies do not count as migrated", () => {
    const t = target();
    delete t.experiments[0].runs[0].tags[RUN_TAG.complete];
    t.models[0].versions[0].tags[TAG.fingerprint] = "fp:retired";
    const d = compareInventories(source(), t).differences.map((x) => `${x.kind}: ${x.detail}`);
    assert.deepStrictEqual(d, [
      "model-version: no version in databricks://new was migrated from it",
      "run: the migration of this run did not finish; run it again to resume",
    ]);
    const other = target();
    other.experiments[0].runs[0].tags[RUN_TAG.sourceHost] = "https://elsewhere.example";
    assert.match(compareInventories(source(), other).differences[0].detail, /no run in databricks:\/\/new was migrated from it/);
  });

  it("a missing experiment or notebook path is a difference, never an error", () => {
    const t = target();
    t.experiments = [];
    t.workspace = undefined;
    const d = compareInventories(source(), t).differences.map((x) => x.kind);
    assert.deepStrictEqual(d, ["experiment", "notebook", "git-folder"]);
  });

  it("manifest differences: missing, size, content, extra", () => {
    assert.deepStrictEqual(
      manifestDifferences([file("a"), file("b"), file("c")], [file("b", "a".repeat(64), 11), file("c", "c".repeat(64)), file("d")]),
      [
        "'a' is missing",
        "'b' is 11 bytes, the source's 10",
        "'c' differs (sha256 cccccccccccc…, the source's aaaaaaaaaaaa…)",
        "'d' is in the target only",
      ],
    );
  });
});

/** The source as a workspace registry (a stage, no aliases) and the target as Unity Catalog (aliases, no stage). */
function workspaceToUc(): { src: Inventory; dst: Inventory } {
  const src = source();
  src.registry = "workspace";
  src.models[0].versions[0] = version({ stage: "Production", aliases: [] });
  const dst = target();
  dst.registry = "unity-catalog";
  dst.models[0].name = "main.quant.alpha";
  Object.assign(dst.models[0].versions[0], { stage: undefined, aliases: ["champion"], storageLocation: "s3://b/m/v" });
  dst.models[0].versions[0].tags[TAG.state] = "complete";
  return { src, dst };
}
const ep = (uri: string, registry: RegistryKind): Endpoint => ({ uri, baseUrl: "http://x", transport: "databricks", registry });
const WS = ep("databricks://old", "workspace");
const UC = ep("databricks-uc://new", "unity-catalog");

describe("verify-move between a workspace registry and Unity Catalog", () => {
  it("names: --uc-schema prefixes into Unity Catalog and strips out of it; --model-map wins; nothing given, any model", () => {
    const table: [string, Parameters<typeof targetModelName>[1], RegistryKind, RegistryKind, string | undefined][] = [
      ["alpha", { ucSchema: "main.quant" }, "workspace", "unity-catalog", "main.quant.alpha"],
      ["Alpha", { ucSchema: "Main.Quant" }, "workspace", "unity-catalog", "main.quant.alpha"],
      ["main.quant.alpha", { ucSchema: "main.quant" }, "unity-catalog", "workspace", "alpha"],
      ["main.quant.alpha", { ucSchema: "prod.quant" }, "unity-catalog", "unity-catalog", "prod.quant.alpha"],
      ["alpha", { ucSchema: "main.quant", map: { alpha: "main.quant.a2" } }, "workspace", "unity-catalog", "main.quant.a2"],
      ["beta", { map: { alpha: "main.quant.a2" } }, "workspace", "unity-catalog", undefined],
      ["alpha", {}, "workspace", "workspace", undefined],
    ];
    for (const [name, names, from, to, want] of table)
      assert.strictEqual(targetModelName(name, names, from, to), want, `${name} ${JSON.stringify(names)} ${from} -> ${to}`);
  });

  it("into Unity Catalog the names must be given, and every naming problem is reported at once", () => {
    assert.throws(
      () => checkModelNames({}, WS, UC),
      /databricks-uc:\/\/new is a Unity Catalog registry.*pass --uc-schema <catalog>\.<schema>/,
    );
    assert.throws(
      () => checkModelNames({ ucSchema: "main", map: { alpha: "alpha" } }, WS, UC),
      /Invalid model names:\n - --uc-schema 'main' is not <catalog>\.<schema>.*\n - --model-map alpha=alpha: Unity Catalog names models/,
    );
    assert.throws(() => checkModelNames({ ucSchema: "main.quant" }, WS, ep("databricks://new", "workspace")), /neither .* is one/);
    checkModelNames({ ucSchema: "main.quant" }, WS, UC);
    checkModelNames({}, UC, WS);
    assert.deepStrictEqual(parseModelMap(["a=main.quant.a,b=main.quant.beta"]), { a: "main.quant.a", b: "main.quant.beta" });
    assert.throws(() => parseModelMap(["a"]), /--model-map 'a' is not SOURCE=TARGET/);
  });

  it("stage Production is checked as alias 'champion' by --map-stage; without it, it is listed as not carried", () => {
    const { src, dst } = workspaceToUc();
    const mapped = compareInventories(src, dst, { names: { ucSchema: "main.quant" }, stageAliases: { Production: "champion" } });
    assert.deepStrictEqual([mapped.differences, mapped.notCarried], [[], []]);

    const unmapped = compareInventories(src, dst, { names: { ucSchema: "main.quant" } });
    assert.deepStrictEqual(unmapped.differences, []);
    assert.deepStrictEqual(unmapped.notCarried, [
      {
        subject: "model 'alpha' version 1 -> 'main.quant.alpha' version 3",
        detail: "stage Production: a Unity Catalog model registry cannot hold it (map it to an alias with --map-stage)",
      },
    ]);
    assert.match(
      renderVerification(unmapped),
      /not carried .*\n {2}model 'alpha' version 1 -> 'main.quant.alpha' version 3: stage Production/,
    );

    dst.models[0].versions[0].aliases = [];
    const missing = compareInventories(src, dst, { names: { ucSchema: "main.quant" }, stageAliases: { Production: "champion" } });
    assert.deepStrictEqual(
      missing.differences.map((d) => d.detail),
      ["alias 'champion' is missing (the source's stage Production, by --map-stage Production=champion)"],
    );
  });

  it("out of Unity Catalog, alias 'champion' must be stage Production by --map-stage", () => {
    const { src: ws, dst: uc } = workspaceToUc();
    const back = { ...ws, source: "databricks://newer", host: "https://newer.example" };
    back.models = [
      { name: "alpha", versions: [version({ version: "9", stage: "Staging", aliases: [], tags: { ...uc.models[0].versions[0].tags } })] },
    ];
    Object.assign(back.models[0].versions[0].tags, {
      [TAG.sourceHost]: uc.host,
      [TAG.sourceModel]: "main.quant.alpha",
      [TAG.sourceVersion]: "3",
    });
    uc.models[0].versions[0].tags = { task: "cls" };
    const v = compareInventories({ ...uc, experiments: [], workspace: undefined }, back, {
      names: { ucSchema: "main.quant" },
      stageAliases: { Production: "champion" },
    });
    assert.deepStrictEqual(
      v.differences.map((d) => `${d.subject}: ${d.detail}`),
      [
        "model 'main.quant.alpha' version 3 -> 'alpha' version 9: stage is Staging, expected Production (the source's alias 'champion', by --map-stage Production=champion)",
      ],
    );
  });

  it("a version migrated into another model, or whose migration did not finish, is not the copy; the message names what was expected", () => {
    const { src, dst } = workspaceToUc();
    const names = { ucSchema: "main.other" };
    assert.deepStrictEqual(
      compareInventories(src, dst, { names }).differences.map((d) => d.detail),
      [
        "no version of 'main.other.alpha' (its name there by --uc-schema main.other) in databricks://new was migrated from it; 'main.quant.alpha' version 3 was",
      ],
    );
    dst.models[0].versions[0].tags[TAG.state] = "uploading";
    dst.models[0].versions[0].status = "PENDING_REGISTRATION";
    assert.deepStrictEqual(
      compareInventories(src, dst, { names: { ucSchema: "main.quant" } }).differences.map((d) => d.detail),
      ["its migration did not finish (state uploading, status PENDING_REGISTRATION); run it again to resume"],
    );
    dst.models[0].versions[0].tags[TAG.state] = "failed";
    assert.match(
      compareInventories(src, dst, { names: { ucSchema: "main.quant" } }).differences[0].detail,
      /its migration failed and could not remove it: delete that version and migrate again/,
    );
  });
});

describe("verify-move sees what the target holds beyond the copies (issue 33)", () => {
  const findings = (v: ReturnType<typeof compareInventories>) =>
    v.differences.filter((d) => d.finding).map((d) => [d.kind, d.finding, d.id, d.name, d.detail.split(":")[0]]);
  const copyOf = (sourceRun: string, over: Partial<RunInventory> = {}) =>
    run({
      runId: `t-${sourceRun}`,
      tags: { team: "quant", [RUN_TAG.sourceHost]: SRC, [RUN_TAG.sourceRun]: sourceRun, [RUN_TAG.complete]: "fp" },
      ...over,
    });
  const rows: { what: string; add: (t: Inventory) => void; expect: unknown[][] }[] = [
    {
      what: "the team's own run in the target: extra",
      add: (t) => t.experiments[0].runs.push(run({ runId: "own", name: "tuning", tags: { team: "quant" } })),
      expect: [["run", "extra", "own", "tuning", "extra"]],
    },
    {
      what: "a second, unfinished copy of a source run that has its copy: duplicate",
      add: (t) =>
        t.experiments[0].runs.unshift(copyOf("s1", { runId: "spare", tags: { [RUN_TAG.sourceHost]: SRC, [RUN_TAG.sourceRun]: "s1" } })),
      expect: [["run", "duplicate", "spare", "iter-1", "duplicate"]],
    },
    {
      what: "a migration's lease run: orphaned lease",
      add: (t) =>
        t.experiments[0].runs.push(run({ runId: "lease", name: "lease", tags: { [RUN_TAG.lease]: "k", [RUN_TAG.leaseTicket]: "3" } })),
      expect: [["run", "orphaned-lease", "lease", "lease", "orphaned lease"]],
    },
    {
      what: "a copy from another host: extra",
      add: (t) =>
        t.experiments[0].runs.push(
          copyOf("s9", { runId: "other", tags: { [RUN_TAG.sourceHost]: "https://elsewhere", [RUN_TAG.sourceRun]: "s9" } }),
        ),
      expect: [["run", "extra", "other", "iter-1", "extra"]],
    },
    {
      what: "a version the team registered in the target model, and a second copy of the source's version",
      add: (t) => {
        const copy = t.models[0].versions[0];
        t.models[0].versions.push(version({ version: "4", tags: { task: "cls" } }), { ...copy, version: "5", tags: { ...copy.tags } });
      },
      expect: [
        ["model-version", "extra", "4", "alpha", "extra"],
        ["model-version", "duplicate", "5", "alpha", "duplicate"],
      ],
    },
    {
      what: "a notebook made in the target under a covered folder",
      add: (t) => t.workspace!.objects.push({ path: "/Shared/new", type: "NOTEBOOK", language: "PYTHON", size: 1, sha256: "x" }),
      expect: [["notebook", "extra", "/Shared/new", "new", "extra"]],
    },
  ];
  for (const row of rows)
    it(`${row.what}: a difference (exit 3), named with kind, id and name`, () => {
      const t = target();
      row.add(t);
      const v = compareInventories(source(), t);
      assert.deepStrictEqual(findings(v), row.expect);
      assert.strictEqual(v.differences.length, row.expect.length, "nothing else differs: the copy is still found and identical");
    });

  it("the copy is the complete one whatever order the target lists them in; without extras there are none", () => {
    const t = target();
    t.experiments[0].runs.push(copyOf("s1", { runId: "spare", tags: { [RUN_TAG.sourceHost]: SRC, [RUN_TAG.sourceRun]: "s1" } }));
    assert.deepStrictEqual(findings(compareInventories(source(), t)), [["run", "duplicate", "spare", "iter-1", "duplicate"]]);
    assert.deepStrictEqual(compareInventories(source(), target()).differences, []);
  });

  it("a retired version, a copy of a version out of scope, and copies in models the move does not cover are no findings", () => {
    const src = source();
    src.models[0].versions.push(version({ version: "2", stage: "Archived" }));
    const t = target();
    const copy = t.models[0].versions[0];
    t.models[0].versions.push(
      { ...copy, version: "6", tags: { ...copy.tags, [TAG.fingerprint]: "fp:retired" } },
      { ...copy, version: "7", tags: { ...copy.tags, [TAG.sourceVersion]: "2" } },
    );
    t.models.push({ name: "not-moved", versions: [version({ version: "1", tags: {} })] });
    assert.deepStrictEqual(compareInventories(src, t).differences, []);
  });
});

describe("verify-move checks what move moves, and says what it skipped (issue 33)", () => {
  it("archived versions, the engine's journals, the empty Default experiment and source lease runs are skipped, by kind with a count and names", () => {
    const src = source();
    src.models[0].versions.push(version({ version: "2", stage: "Archived" }), version({ version: "3", status: "FAILED_REGISTRATION" }));
    src.experiments.push(
      { id: "0", name: "Default", runs: [], artifactBytes: 0 },
      { id: "9", name: "quant-platform-migrations", runs: [run({ runId: "j" })], artifactBytes: 10 },
    );
    src.experiments[0].runs.push(run({ runId: "l", tags: { [RUN_TAG.lease]: "k" } }));
    const v = compareInventories(src, target());
    assert.deepStrictEqual(v.differences, [], "none of them is reported as not migrated");
    assert.deepStrictEqual(
      v.skipped.map((s) => [s.kind, s.count, s.names]),
      [
        ["model-version", 1, ["alpha version 2"]],
        ["model-version", 1, ["alpha version 3"]],
        ["run", 1, ["l of experiment 'quant-alpha'"]],
        ["experiment", 1, ["Default"]],
        ["experiment", 1, ["quant-platform-migrations"]],
      ],
    );
    assert.deepStrictEqual(
      renderVerification(v)
        .split("\n")
        .filter((l) => l.startsWith("skipped")),
      [
        "skipped, as move does: model versions (1): archived (move takes archived versions with --include-archived)",
        "skipped, as move does: model versions (1): not READY in the source (its registration did not finish)",
        "skipped, as move does: runs (1): a migration's lease run (left by a migration into the source), not a run of the team's",
        "skipped, as move does: experiments (1): the empty Default experiment every MLflow server has",
        "skipped, as move does: experiments (1): the migration engine's journals, not the team's",
      ],
    );
  });

  it("with --include-archived an archived version is checked (its copy keeps stage Archived); a plan's selection checks exactly those versions", () => {
    const src = source();
    src.models[0].versions.push(version({ version: "2", stage: "Archived" }));
    const withArchived = compareInventories(src, target(), { includeArchived: true });
    assert.deepStrictEqual(
      withArchived.differences.map((d) => [d.subject, d.detail]),
      [["model 'alpha' version 2", "no version in databricks://new was migrated from it"]],
    );
    const t = target();
    t.models[0].versions.push(
      version({ version: "4", stage: "Archived", tags: { ...t.models[0].versions[0].tags, [TAG.sourceVersion]: "2" } }),
    );
    assert.deepStrictEqual(compareInventories(src, t, { includeArchived: true }).differences, []);
    t.models[0].versions[1].stage = "None";
    assert.deepStrictEqual(
      compareInventories(src, t, { includeArchived: true }).differences.map((d) => d.detail),
      ["stage is None, the source's Archived"],
    );
    const selected = compareInventories(src, target(), { versions: { alpha: ["2"] } });
    assert.deepStrictEqual(
      [selected.checked.modelVersions, selected.skipped.map((s) => [s.why, s.names])],
      [1, [["not selected by the move's plan", ["alpha version 1"]]]],
    );
  });
});
