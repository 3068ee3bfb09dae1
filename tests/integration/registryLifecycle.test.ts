import * as assert from "assert";
import { migrate, MigrateOptions } from "../../migration/modelVersion";
import { resolveEndpoint } from "../../migration/endpoint";
import { mlflowClient } from "../../clients/mlflow";
import { migrateCli } from "../../cli/migrate";
import { liveServers } from "../fixtures/liveServers";
import { FixtureInfo, MlflowServer, seedFixture } from "../../devenv/localMlflow";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";

const FAST_RETRY = { attempts: 4, backoffMs: 50 };
const TOKEN = "dapi-lifecycle";

describe("stages and aliases: a Databricks workspace registry has stages only, an MLflow server both", function () {
  this.timeout(600000);
  let a: MlflowServer;
  let b: MlflowServer;
  let fixture: FixtureInfo;
  let dbx: DatabricksTestServer;
  let ws: ReturnType<typeof resolveEndpoint>;
  const oss = (url: string, side: "from" | "to" = "to") => resolveEndpoint(url, side, {});
  const aliasCalls = () => dbx.calls.filter((c) => c.includes("registered-models/alias"));
  const base = (over: Partial<MigrateOptions>): MigrateOptions => ({
    from: oss(a.url, "from"),
    to: ws,
    model: fixture.model,
    select: { alias: "champion" },
    retry: FAST_RETRY,
    ...over,
  });

  before(async () => {
    ({ a, b } = await liveServers());
    fixture = seedFixture(a, `lifecycle-${Date.now()}`, { sizeMb: 1, shards: 1 });
    dbx = new DatabricksTestServer(b.url, TOKEN);
    await dbx.start();
    ws = resolveEndpoint(`databricks+${dbx.url}`, "to", { DATABRICKS_TOKEN: TOKEN });
  });
  after(() => dbx?.stop());

  it("OSS -> workspace registry with Production=champion: the alias becomes stage Production, reported; no alias endpoint is called", async () => {
    const r = await migrate(base({ toModel: `${fixture.model}-ws`, stageAliases: { Production: "champion" } }));
    const v = await mlflowClient(ws).getModelVersion(`${fixture.model}-ws`, r.targetVersion!);
    assert.strictEqual(v.current_stage, "Production");
    assert.deepStrictEqual(r.lifecycle, {
      stage: "Production",
      aliases: [],
      mapped: [{ from: "alias", name: "champion", to: "Production" }],
      dropped: [],
    });
    assert.deepStrictEqual(aliasCalls(), []);
  });

  it("OSS -> workspace registry without a mapping: the alias is dropped and the report says why", async () => {
    const r = await migrate(base({ toModel: `${fixture.model}-ws-plain` }));
    assert.strictEqual(r.lifecycle.stage, undefined);
    assert.deepStrictEqual(
      r.lifecycle.dropped.map((d) => [d.kind, d.name]),
      [["alias", "champion"]],
    );
    assert.match(
      r.lifecycle.dropped[0].reason,
      /a Databricks workspace model registry cannot hold it \(map a stage to it with --map-stage\)/,
    );
    assert.deepStrictEqual(aliasCalls(), []);
  });

  it("an alias selector on a workspace registry is refused before any call, naming the fix", async () => {
    const calls = dbx.calls.length;
    await assert.rejects(
      migrate(
        base({
          from: { ...ws, uri: `databricks+${dbx.url}` },
          to: oss(a.url),
          model: `${fixture.model}-ws`,
          select: { alias: "champion" },
          stageAliases: { Production: "champion" },
        }),
      ),
      /cannot select model '.*-ws' by alias 'champion' on databricks\+http:\/\/127\.0\.0\.1:\d+: it is a Databricks workspace model registry, which has no aliases \(aliases are a Unity Catalog feature\); select the version with --stage Production \(the stage --map-stage maps to 'champion'\) or --version/,
    );
    assert.strictEqual(dbx.calls.length, calls, "nothing was asked of the workspace");
  });

  it("workspace registry -> OSS by stage: the stage is copied and, mapped, becomes alias champion too (the OSS server keeps both)", async () => {
    const target = `${fixture.model}-back`;
    const r = await migrate(
      base({
        from: { ...ws, uri: `databricks+${dbx.url}` },
        to: oss(a.url),
        model: `${fixture.model}-ws`,
        select: { stage: "Production" },
        toModel: target,
        stageAliases: { Production: "champion" },
      }),
    );
    const v = await mlflowClient(oss(a.url)).getModelVersion(target, r.targetVersion!);
    assert.deepStrictEqual([v.current_stage, v.aliases], ["Production", ["champion"]]);
    assert.deepStrictEqual(r.lifecycle.mapped, [{ from: "stage", name: "Production", to: "champion" }]);
    assert.deepStrictEqual(aliasCalls(), []);
  });

  it("OSS -> OSS keeps both and maps nothing", async () => {
    const r = await migrate(base({ to: oss(b.url), toModel: `${fixture.model}-oss`, stageAliases: { Production: "champion" } }));
    assert.deepStrictEqual(r.lifecycle, { stage: undefined, aliases: ["champion"], mapped: [], dropped: [] });
  });

  it("the CLI takes --map-stage repeated or comma-separated and prints what was mapped", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const env = { DATABRICKS_TOKEN: TOKEN };
    const code = await migrateCli(
      [
        "--from",
        a.url,
        "--to",
        `databricks+${dbx.url}`,
        "--model",
        fixture.model,
        "--alias",
        "champion",
        "--to-model",
        `${fixture.model}-cli`,
        "--map-stage",
        "Staging=challenger",
        "--map-stage=Production=champion,Archived=retired",
      ],
      env,
      (s) => out.push(s),
      (s) => err.push(s),
      false,
    );
    assert.strictEqual(code, 0, err.join(""));
    assert.match(out.join("\n"), /stage Production, aliases -\n {2}alias 'champion' became stage Production/);
    await assert.rejects(
      migrateCli(
        ["--from", a.url, "--to", `databricks+${dbx.url}`, "--model", fixture.model, "--alias", "champion", "--map-stage", "Prod"],
        env,
        () => undefined,
        () => undefined,
        false,
      ),
      /--map-stage 'Prod' is not STAGE=ALIAS/,
    );
  });
});
