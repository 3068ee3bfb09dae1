/**
 * The refusal tests' check that a target was left as it was (tests/fixtures/targetSnapshot.ts), checked itself on
 * a real MLflow server: a "refused" call that wrote anything at all, of any kind, is caught and named.
 */
import * as assert from "assert";
import { mlflowClient, MlflowClient } from "../../clients/mlflow";
import { MlflowServer } from "../../devenv/localMlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { MIGRATIONS_EXPERIMENT } from "../../migration/provenance";
import { liveServers } from "../fixtures/liveServers";
import { refusedWithoutWrites } from "../fixtures/targetSnapshot";

describe("a refusal that wrote to the target is caught (tests/fixtures/targetSnapshot.ts)", function () {
  this.timeout(120000);
  const stamp = Date.now();
  const model = `snapshot-check-${stamp}`;
  let b: MlflowServer;
  let c: MlflowClient;
  let runId: string;
  let migrationRun: { id: string; prefix: string };

  /** A call that writes, then is refused. */
  const refusedAfter = (write: () => Promise<unknown>) => async () => {
    await write();
    throw new Error("refusing: test");
  };
  const caught = async (write: () => Promise<unknown>, named: RegExp) => {
    const e = await refusedWithoutWrites(resolveEndpoint(b.url, "to", {}), refusedAfter(write), "the target").then(
      () => assert.fail(`the write was not caught (${named})`),
      (x: Error) => x,
    );
    assert.match(e.message, /^the target was written to \(\d+ differences?\):/);
    assert.match(e.message, named);
  };

  before(async () => {
    ({ b } = await liveServers());
    c = mlflowClient(resolveEndpoint(b.url, "to", {}));
    const exp = await c.ensureExperiment(`snapshot-check-${stamp}`);
    runId = (await c.createRun(exp, "a run", Date.now(), [])).info.run_id;
    await c.createRegisteredModel(model);
    await c.createModelVersion({ name: model, source: `runs:/${runId}/model`, run_id: runId, tags: [] });
    const run = await c.createRun(await c.ensureExperiment(MIGRATIONS_EXPERIMENT), "a migration", Date.now(), []);
    migrationRun = { id: run.info.run_id, prefix: run.info.artifact_uri.replace(/^mlflow-artifacts:\/*/, "") };
  });

  it("a refusal that wrote nothing passes, and its error is returned for the test's own checks", async () => {
    const e = await refusedWithoutWrites(
      resolveEndpoint(b.url, "to", {}),
      refusedAfter(() => c.getRun(runId)),
    );
    assert.strictEqual(e.message, "refusing: test");
  });

  it("a created experiment or run, a tag, a finished or deleted run are caught", async () => {
    await caught(() => c.createExperiment(`snapshot-check-${stamp}-new`), /^\+ experiment \d+ 'snapshot-check-\d+-new'/m);
    await caught(() => c.setRunTag(runId, "k", "v"), new RegExp(`^~ run ${runId} `, "m"));
    await caught(() => c.updateRun(runId, "FINISHED", Date.now()), new RegExp(`^~ run ${runId} `, "m"));
    await caught(
      () => c.deleteRun(runId),
      new RegExp(`^~ run ${runId} [^\\n]*\\n\\s+before [^\\n]*"active"[^\\n]*\\n\\s+after [^\\n]*"deleted"`, "m"),
    );
  });

  it("a run created and deleted at once is caught: deleted runs are snapshotted too", async () => {
    const exp = (await c.experimentByName(`snapshot-check-${stamp}`))!.experiment_id;
    await caught(async () => c.deleteRun((await c.createRun(exp, "gone", Date.now(), [])).info.run_id), /^\+ run [0-9a-f]{32} .*'gone'/m);
  });

  it("a registered model, a version, a version's tag or stage are caught", async () => {
    await caught(() => c.createRegisteredModel(`${model}-new`), new RegExp(`^\\+ registered model '${model}-new'`, "m"));
    await caught(
      () => c.createModelVersion({ name: model, source: `runs:/${runId}/model`, run_id: runId, tags: [] }),
      new RegExp(`^\\+ model '${model}' version 2`, "m"),
    );
    await caught(() => c.setModelVersionTag(model, "1", "k", "v"), new RegExp(`^~ model '${model}' version 1`, "m"));
    await caught(() => c.transitionStage(model, "1", "Staging"), new RegExp(`^~ model '${model}' version 1`, "m"));
  });

  it("a file written into a run of the migrations experiment is caught", async () => {
    await caught(
      () =>
        fetch(`${b.url}/api/2.0/mlflow-artifacts/artifacts/${migrationRun.prefix}/_migration/progress.json`, { method: "PUT", body: "{}" }),
      new RegExp(`^\\+ artifact '_migration/progress\\.json' of run ${migrationRun.id} in ${MIGRATIONS_EXPERIMENT}: 2$`, "m"),
    );
  });
});
