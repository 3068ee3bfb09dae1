import * as assert from "assert";
import { migrate, MigrateOptions } from "../../migration/modelVersion";
import { migrateExperiment, ExperimentMigrationReport } from "../../migration/experiments";
import { isIncompleteMigration } from "../../migration/failure";
import { resolveEndpoint } from "../../migration/endpoint";
import { mlflowClient } from "../../clients/mlflow";
import { renderReport } from "../../cli/migrate";
import { liveServers } from "../fixtures/liveServers";
import { FaultProxy } from "../fixtures/faultProxy";
import { FixtureInfo, MlflowServer, seedFixture } from "../../devenv/localMlflow";

const FAST_RETRY = { attempts: 3, backoffMs: 20 };
const oss = (url: string, side: "from" | "to" = "to") => resolveEndpoint(url, side, {});
const journal = /\/_migration\/progress\.json$/;
const uploads = /^\/api\/2\.0\/mlflow-artifacts\/artifacts\/.*\/model\//;

describe("failure is explicit: no partial or unreported failure looks like success", function () {
  this.timeout(600000);
  let a: MlflowServer;
  let b: MlflowServer;
  let fixture: FixtureInfo;
  let proxy: FaultProxy;
  const base = (toModel: string): MigrateOptions => ({
    from: oss(a.url, "from"),
    to: oss(proxy.url),
    model: fixture.model,
    select: { alias: fixture.alias },
    toModel,
    retry: FAST_RETRY,
  });
  const versionsOf = async (model: string) => {
    const c = mlflowClient(oss(b.url));
    return (await c.getRegisteredModel(model)) ? (await c.listVersions(model)).map((v) => v.version) : [];
  };

  before(async () => {
    ({ a, b } = await liveServers());
    fixture = seedFixture(a, "explicit-failure-model", { sizeMb: 1, shards: 1, experiment: "explicit-failure-exp" });
    proxy = new FaultProxy(() => b.port);
    await proxy.start();
  });
  afterEach(() => proxy.clear());
  after(() => proxy.stop());

  it("a failed rollback names the model version it left registered, so the user can delete it", async () => {
    // Registration fails after the version exists (setting its alias), and deleting it fails too.
    proxy.add({ method: "POST", path: /\/registered-models\/alias$/, action: { kind: "status", status: 400 }, times: 1 });
    proxy.add({ method: "DELETE", path: /\/model-versions\/delete$/, action: { kind: "status", status: 500 }, times: Infinity });
    await assert.rejects(migrate(base("explicit-rollback-left")), (e: Error & { leftBehind?: unknown }) => {
      assert.match(e.message, /registered-models\/alias failed: 400 TEMPORARILY_UNAVAILABLE: injected fault/, "the cause comes first");
      assert.match(
        e.message,
        /the rollback failed too \(.*model-versions\/delete failed: 500 .*\(gave up after 3 attempts\)\), so model 'explicit-rollback-left' version 1 is left registered on http:\/\/127\.0\.0\.1:\d+ .*delete it before migrating again/,
      );
      assert.deepStrictEqual(e.leftBehind, { model: "explicit-rollback-left", version: "1", where: proxy.url });
      return true;
    });
    assert.deepStrictEqual(await versionsOf("explicit-rollback-left"), ["1"], "the named version is indeed still there");
  });

  it("a rollback that works leaves nothing and says nothing of a leftover", async () => {
    proxy.add({ method: "POST", path: /\/registered-models\/alias$/, action: { kind: "status", status: 400 }, times: 1 });
    await assert.rejects(migrate(base("explicit-rollback-clean")), (e: Error & { leftBehind?: unknown }) => {
      assert.match(e.message, /registered-models\/alias failed: 400/);
      assert.ok(!/the rollback failed|left registered/.test(e.message), e.message);
      assert.strictEqual(e.leftBehind, undefined);
      return true;
    });
    assert.deepStrictEqual(await versionsOf("explicit-rollback-clean"), []);
  });

  it("a progress journal that cannot be saved is a warning in the report (and in the CLI's), never silent", async () => {
    proxy.add({ method: "PUT", path: journal, action: { kind: "status", status: 400 }, times: Infinity });
    const r = await migrate(base("explicit-journal-warning"));
    assert.strictEqual(r.adopted, false);
    assert.ok(r.targetVersion, "the version is migrated: every file was still verified");
    assert.strictEqual(r.warnings.length, 1, JSON.stringify(r.warnings));
    assert.match(
      r.warnings[0],
      /the progress journal of model 'explicit-failure-model' version \d+ in run [0-9a-f]+ on http:\/\/127\.0\.0\.1:\d+ could not be saved \(\d+ of its writes failed; last: .*progress\.json failed: 400/,
    );
    assert.match(renderReport(r), /\n {2}warning: the progress journal of model 'explicit-failure-model'/);
    proxy.clear();
    const clean = await migrate(base("explicit-journal-clean"));
    assert.deepStrictEqual(clean.warnings, [], "no warning when the journal is saved");
  });

  it("when the copy fails as well, the error says the journal was not saved either", async () => {
    proxy.add({ method: "PUT", path: journal, action: { kind: "status", status: 400 }, times: Infinity });
    proxy.add({ method: "PUT", path: uploads, action: { kind: "flip-request" }, times: Infinity });
    await assert.rejects(
      migrate(base("explicit-journal-and-copy")),
      /verification failed: .*; also, the progress journal of model 'explicit-failure-model' .* could not be saved .*, so a re-run copies those files again/s,
    );
    assert.deepStrictEqual(await versionsOf("explicit-journal-and-copy"), []);
  });

  it("a library caller of experiment migration cannot take failed runs for success: it throws, with the report", async () => {
    proxy.add({ method: "PUT", path: /\/mlflow-artifacts\/artifacts\/.*\/model\//, action: { kind: "flip-request" }, times: Infinity });
    const e = await migrateExperiment({
      from: oss(a.url, "from"),
      to: oss(proxy.url),
      experiment: "explicit-failure-exp",
      toExperiment: "explicit-failure-exp-copy",
      retry: FAST_RETRY,
    }).then(
      () => assert.fail("resolved although runs failed"),
      (x: unknown) => x,
    );
    assert.ok(isIncompleteMigration<ExperimentMigrationReport>(e), String(e));
    assert.ok(e instanceof AggregateError);
    const failed = e.report.runs.filter((r) => r.outcome === "failed");
    assert.ok(failed.length >= 1, "the run holding the model files failed");
    assert.deepStrictEqual(e.failures.map((f) => f.item).sort(), failed.map((r) => r.sourceRunId).sort());
    assert.strictEqual(e.errors.length, e.failures.length);
    assert.match(
      e.message,
      new RegExp(
        `experiment 'explicit-failure-exp' was not migrated completely to ${proxy.url.replace(/\./g, "\\.")}: ${failed.length} of ${e.report.runs.length} did not move \\(${failed.length} failed, 0 conflicts\\)\\n - failed: run [0-9a-f]+: .*verification failed`,
      ),
    );
  });
});
