import * as assert from "assert";
import { ProviderHost } from "./host";
import { modelMigrationProvider } from "../../components/mlflow/modelMigration";
import { liveServers } from "../fixtures/liveServers";
import { shippedModel } from "../fixtures/config";
import { expected, LIMIT, modelFiles, PART, TOKEN, UcWorld } from "../fixtures/unityCatalog";
import { mlflowClient } from "../../clients/mlflow";

/**
 * A `registry.flavour: unity-catalog` stack's promotion: ModelMigration through the real dynamic-provider host,
 * from a workspace registry on Azurite into Unity Catalog on moto, with the store endpoints and the lowered
 * limits from the environment the provider process inherits (as `pulumi up` passes its own).
 */
describe("ModelMigration into a Unity Catalog stack, through the real dynamic-provider host", function () {
  this.timeout(600000);
  let w: UcWorld;
  let host: ProviderHost | undefined;

  before(async () => {
    w = await UcWorld.create();
  });
  after(async () => {
    await host?.stop();
    await w?.stop();
  });

  it("create registers catalog.schema.model byte-identical (verify store), the stage as its alias; read reports a moved alias; delete archives it", async () => {
    const { a, b } = await liveServers();
    const files = modelFiles();
    const model = `prov-uc-${Date.now().toString(36)}`;
    const src = await w.workspaceSource("azure", model, files, a);
    const moved = await fetch(`${src.dbx.url}/api/2.0/mlflow/model-versions/transition-stage`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: model, version: "1", stage: "Production", archive_existing_versions: false }),
    });
    assert.strictEqual(moved.status, 200, await moved.text());
    const uc = await w.ucTarget("s3", b);
    host = await ProviderHost.start(modelMigrationProvider, "pulumi-nodejs:dynamic/mlflow:ModelMigration", {
      ...uc.env,
      STORAGE_PART_SIZE: String(PART),
      STORAGE_SINGLE_PUT_LIMIT: String(LIMIT),
      MIGRATE_FROM_TOKEN: "",
      MIGRATE_TO_TOKEN: "",
    });
    await host.configure({ "quant-platform:migrationSourceToken": TOKEN, "quant-platform:databricksToken": TOKEN });
    const toModel = `main.quant.${model}`;
    const inputs = {
      fromUri: `databricks+${src.dbx.url}`,
      toUri: `databricks-uc+${uc.dbx.url}`,
      fromEnv: "quant",
      toEnv: "quant_stg",
      model,
      stage: "Production",
      toModel,
      stageAliases: { Production: "champion" },
      verify: "store",
      readVerify: "full",
      concurrency: 4,
      production: false,
      approvers: [],
      flow: shippedModel().flow,
      deleteOnDestroy: false,
    };
    const check = await host.check("m", {}, inputs);
    assert.deepStrictEqual(check.failures ?? [], []);
    const state: { id: string; props: Record<string, any> } = await host.create("m", inputs);
    assert.strictEqual(state.id, `${toModel}/1`);
    const target = mlflowClient(uc.endpoint("to"));
    const v = await target.getModelVersion(toModel, "1");
    assert.strictEqual(v.status, "READY");
    assert.deepStrictEqual(v.aliases, ["champion"], "the source's Production became alias champion");
    assert.deepStrictEqual(await w.readBack(v.storage_location!), expected(files));
    assert.ok((uc.gate.counts["upload-part"] ?? 0) >= 4, JSON.stringify(uc.gate.counts));

    const read = await host.read("m", state.id, state.props);
    assert.deepStrictEqual(read.props.problems, []);
    // Drift: the alias moved away outside Pulumi.
    await target.deleteAlias(toModel, "champion");
    const drifted = await host.read("m", state.id, state.props);
    assert.deepStrictEqual(drifted.props.problems, [`alias 'champion' no longer points at ${toModel} version 1`]);

    await host.delete("m", state.id, state.props);
    const after = await target.getModelVersion(toModel, "1");
    assert.match(after.tags?.find((t) => t.key === "quant.migration.fingerprint")?.value ?? "", /:retired$/);
  });
});
