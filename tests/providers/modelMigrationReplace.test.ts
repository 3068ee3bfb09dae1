/**
 * "A refusal changes nothing": a ModelMigration whose promoted version changes, through the real dynamic-provider
 * host. The production gate runs before anything is replaced or deleted (check for a first deployment, diff for a
 * replacement), so preview shows its refusal; a replacement is create before delete, and the version deployed so
 * far leaves its place only once its successor is registered and complete.
 *
 * The source is a Databricks workspace registry (the Databricks test server over a real MLflow server) where every
 * member acts with a token of their own, so the registry records who registered a version and who requested its
 * transition; the target is a real MLflow server, which holds both stages and aliases. Every test promotes a model
 * of its own, so any one passes alone and in any order.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ProviderHost } from "./host";
import { modelMigrationProvider } from "../../components/mlflow/modelMigration";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { MlflowServer, python } from "../../devenv/localMlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { DEPLOYMENT_TAG } from "../../migration/modelVersion";
import { TAG } from "../../migration/provenance";
import { approverEmails } from "../../plan/accessPlan";
import { shippedModel } from "../fixtures/config";
import { FaultProxy } from "../fixtures/faultProxy";
import { liveServers } from "../fixtures/liveServers";
import { mlflowAs } from "../fixtures/member";
import { assertUnchanged, refusedWithoutWrites, targetSnapshot } from "../fixtures/targetSnapshot";

const PLATFORM = "platform@quantfirm.example";
const ANA = "ana.ruiz@quantfirm.example"; // developer
const CHEN = "chen.wei@quantfirm.example"; // developer and approver
const DARA = "dara.singh@quantfirm.example"; // approver
const TOKEN: Record<string, string> = Object.fromEntries(
  [PLATFORM, ANA, CHEN, DARA].map((u) => [u, `dapi-${u.split("@")[0].replace(".", "-")}-replace`]),
);
const CHEN_SELF_APPROVED = /not counted: [^;]*chen\.wei@quantfirm\.example \(the version's author/;

describe("ModelMigration replaced: the gate before anything is replaced or deleted, create before delete (dynamic-provider host)", function () {
  this.timeout(600000);
  const stamp = Date.now().toString(36);
  const shipped = shippedModel();
  let a: MlflowServer;
  let b: MlflowServer;
  let dbx: DatabricksTestServer;
  let src: FaultProxy;
  let dst: FaultProxy;
  let host: ProviderHost;
  let work: string;
  let runId: string;
  const target = () => mlflowClient(resolveEndpoint(b.url, "to", {}));
  const targetEndpoint = () => resolveEndpoint(b.url, "to", {});

  const call = (as: string, method: string, p: string, body?: Record<string, unknown>) => mlflowAs(dbx.url, TOKEN[as], method, p, body);
  /** A version of `name` registered by `author` (with their own token) and moved to `stage` by the platform. */
  async function register(name: string, author: string, stage: string): Promise<string> {
    const info = (await call(PLATFORM, "GET", `runs/get?run_id=${runId}`)).run.info;
    await call(author, "POST", "registered-models/create", { name }).catch(() => undefined);
    const v = (await call(author, "POST", "model-versions/create", { name, source: `${info.artifact_uri}/model`, run_id: runId }))
      .model_version.version as string;
    await call(PLATFORM, "POST", "databricks/model-versions/transition-stage", {
      name,
      version: v,
      stage,
      archive_existing_versions: false,
    });
    return v;
  }
  /** The approval: an open transition request to Production, raised with the member's own token. */
  const approve = (as: string, name: string, v: string) =>
    call(as, "POST", "transition-requests/create", { name, version: v, stage: "Production", comment: "approved for quant_lr" });
  /** Its creator withdraws it (as an approval that was acted on is closed). */
  const withdraw = (as: string, name: string, v: string) =>
    call(as, "DELETE", `transition-requests/delete?${new URLSearchParams({ name, version: v, stage: "Production", creator: as })}`);

  /** The promotion quant_stg -> quant_lr of `name`'s Production version, as the stack declares it. */
  const production = (name: string): Record<string, unknown> => ({
    fromUri: `databricks+${src.url}`,
    toUri: dst.url,
    fromEnv: "quant_stg",
    toEnv: "quant_lr",
    model: name,
    stage: "Production",
    toModel: `${name}-lr`,
    stageAliases: { Production: "champion" },
    verify: "full",
    readVerify: "size",
    concurrency: 4,
    production: true,
    approvers: approverEmails(shipped),
    members: shipped.roster.map((m) => ({ email: m.email, gitUsername: m.gitUsername })),
    flow: shipped.flow,
    deleteOnDestroy: false,
  });
  /** A target version as it stands: stage, aliases, fingerprint retired or live, migration state, deployment. */
  async function standing(model: string, version: string) {
    const v = await target().getModelVersion(model, version);
    const t = tagMap(v.tags);
    return {
      stage: v.current_stage,
      aliases: v.aliases ?? [],
      live: !t[TAG.fingerprint]?.endsWith(":retired"),
      state: t[TAG.state],
      deployment: t[DEPLOYMENT_TAG],
    };
  }
  const promoted = { stage: "Production", aliases: ["champion"], live: true, state: "complete" };

  before(async () => {
    ({ a, b } = await liveServers());
    work = fs.mkdtempSync(path.join(os.tmpdir(), "replace-"));
    const info = path.join(work, "trained.json");
    python("transformer_fixture.py", [
      ...["--tracking-uri", a.url, "--model", "unused", "--experiment", `/Teams/quant/experiments/replace-${stamp}`],
      ...["--size-mb", "0.3", "--shards", "1", "--all-iterations", "--no-register", "--out", info],
    ]);
    runId = (JSON.parse(fs.readFileSync(info, "utf8")) as { runs: { run_id: string }[] }).runs[1].run_id;
    dbx = new DatabricksTestServer(a.url, TOKEN[PLATFORM], "backend", PLATFORM);
    for (const [who, token] of Object.entries(TOKEN)) dbx.addUser(token, who);
    await dbx.start();
    src = new FaultProxy(() => Number(new URL(dbx.url).port));
    dst = new FaultProxy(() => b.port);
    await Promise.all([src.start(), dst.start()]);
    host = await ProviderHost.start(modelMigrationProvider, "pulumi-nodejs:dynamic/mlflow:ModelMigration", {
      MIGRATE_FROM_TOKEN: "",
      MIGRATE_TO_TOKEN: "",
    });
    await host.configure({ "quant-platform:migrationSourceToken": TOKEN[PLATFORM] });
  });
  after(async () => {
    await host?.stop();
    await src?.stop();
    await dst?.stop();
    await dbx?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });
  afterEach(() => dst?.clear());

  it("check: a first deployment into production is refused at check time, so preview shows it, and the target is not written to", async () => {
    const name = `repl-first-${stamp}`;
    const v = await register(name, CHEN, "Production");
    await approve(CHEN, name, v);
    const before = await targetSnapshot(targetEndpoint());
    const r = await host.check("m", {}, production(name));
    assert.strictEqual(r.failures.length, 1, JSON.stringify(r.failures));
    assert.strictEqual(r.failures[0].property, "");
    assert.match(
      r.failures[0].reason,
      new RegExp(`^refusing to promote model '${name}' version ${v} into production environment quant_lr`),
    );
    assert.match(r.failures[0].reason, CHEN_SELF_APPROVED);
    assertUnchanged(before, await targetSnapshot(targetEndpoint()), "quant_lr");
  });

  it("diff of an unchanged deployed promotion does not run the gate: its approval withdrawn since, it shows no change, and no request is read", async () => {
    const name = `repl-steady-${stamp}`;
    const v = await register(name, ANA, "Production");
    await approve(DARA, name, v);
    const i = production(name);
    const state = await host.create("m", i);
    await withdraw(DARA, name, v);
    const seen = src.seen.length;
    assert.deepStrictEqual(await host.diffWithOrder("m", state.id, state.props, i), {
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
    const read = src.seen.slice(seen).map((s) => s.path);
    assert.ok(read.length > 0, "the diff fingerprinted the source");
    assert.deepStrictEqual(
      read.filter((p) => /transition-requests/.test(p)),
      [],
      "the gate's evidence was not read",
    );
  });

  it("diff of a deployed promotion whose source changed and whose gate refuses fails with the refusal alone, before anything is replaced or deleted; a refused create leaves the target exactly as it was", async () => {
    const name = `repl-refused-${stamp}`;
    const v1 = await register(name, ANA, "Production");
    await approve(DARA, name, v1);
    const i = production(name);
    const state = await host.create("m", i);
    // Chen registers the next version and raises its production approval himself.
    const v2 = await register(name, CHEN, "Production");
    await approve(CHEN, name, v2);
    const before = await targetSnapshot(targetEndpoint());
    const printedBefore = host.output.length;
    const refusal = await host.diff("m", state.id, state.props, i).then(
      () => assert.fail("the diff let the replacement through"),
      (e: Error) => e.message,
    );
    assert.match(refusal, new RegExp(`refusing to promote model '${name}' version ${v2} into production environment quant_lr`));
    assert.match(refusal, CHEN_SELF_APPROVED);
    // What the engine shows besides the resource's error: the host's line for a failed diff, one sentence.
    const printed = host.output.slice(printedBefore);
    assert.match(printed, /stopped before anything was replaced or deleted: refusing to promote/);
    assert.doesNotMatch(printed, /^\s+at .+:\d+:\d+\)?$/m, `no stack trace:\n${printed}`);
    assertUnchanged(before, await targetSnapshot(targetEndpoint()), "quant_lr");
    // Were the engine to create the replacement all the same, the create refuses it and writes nothing.
    const e = await refusedWithoutWrites(targetEndpoint(), () => host.create("m", i), "quant_lr");
    assert.match(e.message, CHEN_SELF_APPROVED);
    assert.deepStrictEqual(await standing(`${name}-lr`, state.props.targetVersion), { ...promoted, deployment: state.props.deployment });
  });

  it("a replacement is create before delete: the old version stays live until the new one is complete, even when the new one never completes", async () => {
    const name = `repl-replace-${stamp}`;
    const toModel = `${name}-lr`;
    await approve(DARA, name, await register(name, ANA, "Production"));
    const i = production(name);
    const old = await host.create("m", i);
    const oldVersion = old.props.targetVersion as string;
    await approve(DARA, name, await register(name, ANA, "Production"));
    assert.deepStrictEqual(await host.diffWithOrder("m", old.id, old.props, i), {
      changes: true,
      replaces: ["fingerprint"],
      deleteBeforeReplace: false,
    });

    // The new version cannot be moved into Production (the deployer's permission was taken away): it never completes.
    dst.add({ method: "POST", path: /model-versions\/transition-stage/, action: { kind: "status", status: 403 }, times: Infinity });
    await assert.rejects(host.create("m", i));
    dst.clear();
    assert.deepStrictEqual(await standing(toModel, oldVersion), { ...promoted, deployment: old.props.deployment });
    assert.deepStrictEqual(
      (await target().listVersions(toModel)).map((v) => v.version),
      [oldVersion],
      "the incomplete version was rolled back",
    );

    // Watched throughout the create: the old version is never seen retired while a newer one is incomplete. (The
    // old one is read first: a state read later that is not complete was not complete when the old one was read.)
    const violations: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const o = await standing(toModel, oldVersion);
        const others = (await target().listVersions(toModel)).filter((v) => v.version !== oldVersion);
        if (o.stage !== "Production" || !o.live)
          for (const n of others)
            if (tagMap(n.tags)[TAG.state] !== "complete")
              violations.push(`old ${JSON.stringify(o)} while version ${n.version} is incomplete`);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const created = await host.create("m", i).finally(() => (watching = false));
    await watcher;
    assert.deepStrictEqual(violations, []);
    const newVersion = created.props.targetVersion as string;
    assert.notStrictEqual(newVersion, oldVersion);
    assert.deepStrictEqual(await standing(toModel, newVersion), { ...promoted, deployment: created.props.deployment });
    assert.deepStrictEqual(await standing(toModel, oldVersion), {
      stage: "Archived",
      aliases: [],
      live: false,
      state: "complete",
      deployment: old.props.deployment,
    });
    // Then the engine deletes the replaced resource: nothing more happens to either version.
    await host.delete("m", old.id, old.props);
    assert.deepStrictEqual(await standing(toModel, newVersion), { ...promoted, deployment: created.props.deployment });
    assert.strictEqual((await standing(toModel, oldVersion)).stage, "Archived");
  });

  it("a replacement that adopts the same version (the selector now names it by number) is not undone by the replaced resource's delete", async () => {
    const name = `repl-adopt-${stamp}`;
    const v = await register(name, ANA, "Production");
    await approve(DARA, name, v);
    const i = production(name);
    const old = await host.create("m", i);
    const byNumber: Record<string, unknown> = { ...i, version: v };
    delete byNumber.stage;
    const d = await host.diffWithOrder("m", old.id, old.props, byNumber);
    assert.deepStrictEqual([d.replaces.sort(), d.deleteBeforeReplace], [["stage", "version"], false]);
    const created = await host.create("m", byNumber);
    assert.strictEqual(created.props.targetVersion, old.props.targetVersion, "the same version, adopted");
    await host.delete("m", old.id, old.props);
    assert.deepStrictEqual(await standing(`${name}-lr`, created.props.targetVersion), {
      ...promoted,
      deployment: created.props.deployment,
    });
    // Destroying the stack later retires it: it is the new resource's now.
    await host.delete("m", created.id, created.props);
    assert.strictEqual((await standing(`${name}-lr`, created.props.targetVersion)).stage, "Archived");
  });

  it("quant_stg: a Staging version a release manager has moved into Production since is released by the replacement, not archived, and the replaced resource's delete leaves it", async () => {
    const name = `repl-moved-${stamp}`;
    const toModel = `${name}-stg`;
    const s = {
      ...production(name),
      fromEnv: "quant",
      toEnv: "quant_stg",
      stage: "Staging",
      toModel,
      stageAliases: {},
      production: false,
    };
    await register(name, ANA, "Staging");
    const old = await host.create("m", s);
    await target().transitionStage(toModel, old.props.targetVersion, "Production");
    await register(name, ANA, "Staging");
    assert.deepStrictEqual((await host.diffWithOrder("m", old.id, old.props, s)).replaces, ["fingerprint"]);
    const created = await host.create("m", s);
    await host.delete("m", old.id, old.props);
    assert.deepStrictEqual(await standing(toModel, created.props.targetVersion), {
      stage: "Staging",
      aliases: [],
      live: true,
      state: "complete",
      deployment: created.props.deployment,
    });
    assert.deepStrictEqual(await standing(toModel, old.props.targetVersion), {
      stage: "Production",
      aliases: [],
      live: true,
      state: "complete",
      deployment: `released:${toModel} version ${created.props.targetVersion}`,
    });
  });

  it("a damaged deployed version (a file gone from the target store) is repaired by a fresh copy, without the gate at diff and without a gap", async () => {
    const name = `repl-damaged-${stamp}`;
    const toModel = `${name}-lr`;
    const v = await register(name, ANA, "Production");
    await approve(DARA, name, v);
    const i = production(name);
    const old = await host.create("m", i);
    const store = path.join(b.dir, "artifacts");
    const victim = fs
      .readdirSync(store)
      .map((e) => path.join(store, e, old.props.targetRunId, "artifacts", "model", "MLmodel"))
      .find((p) => fs.existsSync(p))!;
    fs.rmSync(victim);
    const refreshed = await host.read("m", old.id, old.props);
    assert.match(refreshed.props.problems.join("\n"), /'MLmodel': expected \d+ bytes, found no file/);
    // The approval was acted on and closed: the repair of the version let through before is not refused at diff.
    await withdraw(DARA, name, v);
    assert.deepStrictEqual(await host.diffWithOrder("m", old.id, refreshed.props, i), {
      changes: true,
      replaces: ["problems"],
      deleteBeforeReplace: false,
    });
    // Create gates the copy as always: with the approval back, the source is copied afresh, not the damaged copy adopted.
    await approve(DARA, name, v);
    const created = await host.create("m", { ...i });
    assert.notStrictEqual(created.props.targetVersion, old.props.targetVersion);
    assert.deepStrictEqual((await host.read("m", created.id, created.props)).props.problems, []);
    assert.deepStrictEqual(await standing(toModel, created.props.targetVersion), { ...promoted, deployment: created.props.deployment });
    await host.delete("m", old.id, refreshed.props);
    assert.deepStrictEqual(
      [await standing(toModel, old.props.targetVersion)].map((o) => [o.stage, o.live]),
      [["Archived", false]],
    );
    assert.deepStrictEqual(await standing(toModel, created.props.targetVersion), { ...promoted, deployment: created.props.deployment });
  });
});
