import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ProviderHost } from "./host";
import { modelMigrationProvider } from "../../components/mlflow/modelMigration";
import { liveServers } from "../fixtures/liveServers";
import { FaultProxy } from "../fixtures/faultProxy";
import { MlflowServer, python, seedFixture } from "../../devenv/localMlflow";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { shippedModel } from "../fixtures/config";

const SRC_TOKEN = "dapi-source-5f1e";
const DST_TOKEN = "dapi-target-9c2d";

/**
 * The servers, the source model and the configured host are set up once; every test migrates into a target
 * model of its own, so any one test passes alone (`--grep`) and in any order.
 */
describe("ModelMigration dynamic provider, through the real dynamic-provider host over gRPC", function () {
  this.timeout(600000);
  let a: MlflowServer;
  let b: MlflowServer;
  let host: ProviderHost;
  const gates: FaultProxy[] = [];
  let inputs: Record<string, unknown>;
  const everything: unknown[] = [];
  const target = () => mlflowClient(resolveEndpoint(b.url, "to", {}));
  let made = 0;
  /** A migration into a fresh target model: its inputs and the state create left. */
  async function migrated(over: Record<string, unknown> = {}) {
    const i = { ...inputs, toModel: `prov-alpha-${process.pid}-${Date.now()}-${++made}`, ...over };
    const state: { id: string; props: Record<string, any> } = await host.create("m", i);
    everything.push(state);
    return { inputs: i, state };
  }

  before(async () => {
    ({ a, b } = await liveServers());
    seedFixture(a, "prov-alpha", { sizeMb: 1, shards: 2 });
    const [ga, gb] = [new FaultProxy(() => a.port), new FaultProxy(() => b.port)];
    ga.requireToken = SRC_TOKEN;
    gb.requireToken = DST_TOKEN;
    gates.push(ga, gb);
    inputs = {
      fromUri: await ga.start(),
      toUri: await gb.start(),
      fromEnv: "quant",
      toEnv: "quant_stg",
      model: "prov-alpha",
      alias: "champion",
      toModel: "prov-alpha",
      verify: "full",
      readVerify: "full",
      concurrency: 4,
      production: false,
      approvers: [],
      flow: shippedModel().flow,
      deleteOnDestroy: false,
    };
    host = await ProviderHost.start(modelMigrationProvider, "pulumi-nodejs:dynamic/mlflow:ModelMigration", {
      MIGRATE_FROM_TOKEN: "",
      MIGRATE_TO_TOKEN: "",
    });
    await host.configure({ "quant-platform:migrationSourceToken": SRC_TOKEN, "quant-platform:databricksToken": DST_TOKEN });
  });
  after(async () => {
    await host?.stop();
    for (const g of gates) await g.stop();
  });

  it("check refuses a migration that is not a flow edge, and two selectors", async () => {
    const r = await host.check("m", {}, { ...inputs, toEnv: "quant_live", version: "1" });
    assert.deepStrictEqual(r.failures.map((f) => f.property).sort(), ["toEnv", "version"]);
    assert.deepStrictEqual((await host.check("m", {}, inputs)).failures, []);
  });

  it("create migrates with tokens from stack config and outputs version, digest, files and bytes", async () => {
    const { inputs: i, state } = await migrated();
    assert.strictEqual(state.id, `${i.toModel}/1`);
    assert.strictEqual(state.props.targetVersion, "1");
    assert.ok(state.props.files > 10 && state.props.bytes > 1000000);
    assert.match(state.props.manifestDigest, /^[0-9a-f]{64}$/);
    const got = JSON.parse(python("download_version.py", ["--tracking-uri", b.url, "--model", i.toModel as string, "--version", "1"]));
    assert.strictEqual(got.length, state.props.files);
  });

  it("read re-checks the target with full hashes: no drift", async () => {
    const { inputs: i, state } = await migrated();
    const r = await host.read("m", state.id, state.props);
    everything.push(r);
    assert.deepStrictEqual([r.id, r.props.problems], [state.id, []]);
    assert.deepStrictEqual(await host.diff("m", state.id, r.props, i), { changes: false, replaces: [] });
  });

  it("drift: a file removed from the target store shows in read, and diff replaces the migration", async () => {
    const { inputs: i, state } = await migrated();
    const run = state.props.targetRunId;
    const file = path.join(b.dir, "artifacts");
    const victim = fs
      .readdirSync(file)
      .map((e) => path.join(file, e, run, "artifacts", "model", "model", "config.json"))
      .find((p) => fs.existsSync(p))!;
    fs.rmSync(victim);
    const r = await host.read("m", state.id, state.props);
    assert.match(r.props.problems.join("\n"), /'model\/config\.json': expected \d+ bytes, found no file/);
    const d = await host.diff("m", state.id, r.props, i);
    assert.deepStrictEqual(d, { changes: true, replaces: ["problems"] });
  });

  it("diff replaces when the alias now points at other content", async () => {
    const model = `prov-moving-${process.pid}-${Date.now()}`;
    seedFixture(a, model, { sizeMb: 0.5, shards: 1 });
    const { inputs: i, state } = await migrated({ model });
    assert.deepStrictEqual(await host.diff("m", state.id, state.props, i), { changes: false, replaces: [] }, "unchanged before");
    seedFixture(a, model, { sizeMb: 0.5, shards: 1 }); // a new best version takes the champion alias
    const d = await host.diff("m", state.id, state.props, i);
    assert.deepStrictEqual(d, { changes: true, replaces: ["fingerprint"] });
  });

  it("delete archives the target version (aliases removed, stage Archived) rather than destroying it", async () => {
    const { inputs: i, state } = await migrated();
    await host.delete("m", state.id, state.props);
    const v = await target().getModelVersion(i.toModel as string, "1");
    assert.deepStrictEqual([v.current_stage, v.aliases ?? []], ["Archived", []]);
    assert.match(tagMap(v.tags)["quant.migration.fingerprint"], /:retired$/);
  });

  it("a model-versions/create whose answer is lost leaves one version, the one create outputs", async () => {
    gates[1].add({ method: "POST", path: /model-versions\/create/, action: { kind: "drop-after" }, times: 1 });
    try {
      const { inputs: i, state } = await migrated();
      assert.strictEqual(gates[1].rules[0].fired, 1);
      assert.deepStrictEqual(
        (await target().listVersions(i.toModel as string)).map((v) => v.version),
        ["1"],
      );
      assert.strictEqual(state.id, `${i.toModel}/1`);
    } finally {
      gates[1].clear();
    }
  });

  it("a create that failed after its version was registered (the answer lost, every look for it refused): the next create adopts it", async () => {
    const toModel = `prov-lost-${process.pid}-${Date.now()}`;
    const i = { ...inputs, toModel };
    gates[1].add({ method: "POST", path: /model-versions\/create/, action: { kind: "drop-after" }, times: 1 });
    const first = host.create("m", i).then(
      () => undefined,
      (e: Error) => e,
    );
    // Once the registration was applied and its answer lost, every listing of the model's versions is refused.
    while (gates[1].rules[0].fired === 0) await new Promise((r) => setTimeout(r, 2));
    gates[1].add({
      method: "GET",
      path: /model-versions\/search/,
      action: { kind: "status", status: 503, retryAfter: 0 },
      times: Infinity,
    });
    const failed = await first;
    gates[1].clear();
    assert.ok(failed, "the first create failed");
    assert.deepStrictEqual(
      (await target().listVersions(toModel)).map((v) => v.version),
      ["1"],
      "the registration was applied",
    );
    const state: { id: string; props: Record<string, any> } = await host.create("m", i);
    everything.push(state);
    assert.strictEqual(state.id, `${toModel}/1`);
    assert.deepStrictEqual(
      (await target().listVersions(toModel)).map((v) => v.version),
      ["1"],
      "adopted, not registered again",
    );
    const r = await host.read("m", state.id, state.props);
    assert.deepStrictEqual(r.props.problems, []);
  });

  it("read reports a target version deleted outside Pulumi as gone", async () => {
    const { inputs: i, state } = await migrated();
    await target().deleteModelVersion(i.toModel as string, "1");
    const r = await host.read("m", state.id, state.props);
    assert.strictEqual(r.id, "");
  });

  it("the tokens never appear in the serialized provider, outputs, state or host logs", async () => {
    const { state } = await migrated();
    everything.push(await host.read("m", state.id, state.props));
    for (const t of [SRC_TOKEN, DST_TOKEN]) {
      assert.ok(!host.text.includes(t));
      assert.ok(!host.output.includes(t));
      assert.ok(!JSON.stringify(everything).includes(t));
    }
    assert.ok(gates[1].seen.length > 10, "the target gate saw the migration, with the right token");
  });
});
