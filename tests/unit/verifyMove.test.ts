import * as assert from "assert";
import { compareInventories, manifestDifferences } from "../../migration/verifyMove";
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
