import * as assert from "assert";
import { migrate, MigrateOptions, MigrationReport } from "../../migration/modelVersion";
import { migrateExperiment } from "../../migration/experiments";
import { resolveEndpoint } from "../../migration/endpoint";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { RUN_TAG, TAG } from "../../migration/provenance";
import { liveServers } from "../fixtures/liveServers";
import { FixtureInfo, MlflowServer, PROJECT_DIR, seedFixture } from "../../devenv/localMlflow";
import { Ran, runAsync } from "../fixtures/process";

const RETRY = { attempts: 6, backoffMs: 100 };
const ROUNDS = 4;
const AT_ONCE = 5;
const oss = (url: string, side: "from" | "to" = "to") => resolveEndpoint(url, side, {});

/** The real CLI in a child process (as two CI jobs would run it). */
function cliProcess(args: string[]): Promise<Ran> {
  return runAsync("node", ["bin/quant-platform.js", "migrate", ...args], { cwd: PROJECT_DIR });
}

describe("concurrent migrations of the same source never duplicate (real MLflow servers)", function () {
  this.timeout(1800000);
  let a: MlflowServer;
  let b: MlflowServer;
  let fixture: FixtureInfo;
  const dst = () => mlflowClient(oss(b.url));

  /** Every version of the model in the target carrying this fingerprint (failed or not). */
  async function versionsWith(model: string, fingerprint: string) {
    return (await dst().listVersions(model)).filter((v) => tagMap(v.tags)[TAG.fingerprint] === fingerprint);
  }

  before(async () => {
    ({ a, b } = await liveServers());
    fixture = seedFixture(a, `race-${Date.now()}`, { sizeMb: 1, shards: 2, smallFiles: 6, experiment: `race-exp-${Date.now()}` });
  });

  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: ${AT_ONCE} migrations of one version started together leave exactly one target version, and all report it`, async () => {
      const toModel = `${fixture.model}-r${round}`;
      const opts: MigrateOptions = {
        from: oss(a.url, "from"),
        to: oss(b.url),
        model: fixture.model,
        select: { version: fixture.version },
        toModel,
        retry: RETRY,
        concurrency: 2,
        experiment: `race-migrations-r${round}`,
      };
      const reports: MigrationReport[] = await Promise.all(Array.from({ length: AT_ONCE }, () => migrate(opts)));
      const versions = await versionsWith(toModel, reports[0].fingerprint);
      assert.strictEqual(versions.length, 1, `versions left: ${versions.map((v) => v.version).join(", ")}`);
      assert.deepStrictEqual(
        new Set(reports.map((r) => r.targetVersion)),
        new Set([versions[0].version]),
        JSON.stringify(reports.map((r) => [r.targetVersion, r.adopted])),
      );
      assert.strictEqual(reports.filter((r) => !r.adopted).length, 1, "one migration registered it, the others adopted it");
      assert.strictEqual(tagMap(versions[0].tags)[TAG.state], "complete");
      assert.strictEqual((await dst().getRun(versions[0].run_id!)).info.status, "FINISHED");
      assert.deepStrictEqual(new Set(reports.map((r) => r.manifestDigest)), new Set([tagMap(versions[0].tags)[TAG.manifestDigest]]));
    });
  }

  it("3 CLI processes started together (as CI jobs): exit 0, one version, the same version in every report", async () => {
    const toModel = `${fixture.model}-cli`;
    // The binary rebuilds itself when a source is newer than its build; three processes building into the
    // same dist/ at once would race each other, so build first.
    assert.strictEqual((await cliProcess(["--help"])).status, 0);
    const runs = await Promise.all(
      Array.from({ length: 3 }, () =>
        cliProcess([
          "--from",
          a.url,
          "--to",
          b.url,
          "--model",
          fixture.model,
          "--version",
          fixture.version,
          "--to-model",
          toModel,
          "--json",
        ]),
      ),
    );
    for (const r of runs) assert.strictEqual(r.status, 0, r.stderr.slice(-3000));
    const reports = runs.map((r) => JSON.parse(r.stdout) as MigrationReport);
    const versions = await versionsWith(toModel, reports[0].fingerprint);
    assert.strictEqual(versions.length, 1);
    assert.deepStrictEqual(
      reports.map((r) => r.targetVersion),
      reports.map(() => versions[0].version),
    );
  });

  it("a version whose migration failed and could not be removed is never adopted as complete", async () => {
    const toModel = `${fixture.model}-leftover`;
    const first = await migrate({
      from: oss(a.url, "from"),
      to: oss(b.url),
      model: fixture.model,
      select: { version: fixture.version },
      toModel,
      retry: RETRY,
    });
    // What a failed rollback leaves: the version registered, its migration never completed.
    await dst().setModelVersionTag(toModel, first.targetVersion!, TAG.state, "failed");
    const again = await migrate({
      from: oss(a.url, "from"),
      to: oss(b.url),
      model: fixture.model,
      select: { version: fixture.version },
      toModel,
      retry: RETRY,
    });
    assert.strictEqual(again.adopted, false);
    assert.notStrictEqual(again.targetVersion, first.targetVersion);
  });

  for (let round = 1; round <= ROUNDS; round++) {
    it(`experiments, round ${round}: ${AT_ONCE} migrations started together leave one target run per source run, and all map it alike`, async () => {
      const target = `race-exp-target-r${round}`;
      const opts = {
        from: oss(a.url, "from"),
        to: oss(b.url),
        experiment: (await mlflowClient(oss(a.url)).getRun(fixture.best_run_id)).info.experiment_id,
        toExperiment: target,
        retry: RETRY,
        concurrency: 2,
      };
      const name = (await mlflowClient(oss(a.url)).searchExperiments()).find((e) => e.experiment_id === opts.experiment)!.name;
      const reports = await Promise.all(Array.from({ length: AT_ONCE }, () => migrateExperiment({ ...opts, experiment: name })));
      const exp = await dst().experimentByName(target);
      const runs = await dst().allRuns([exp!.experiment_id]);
      const bySource = new Map<string, string[]>();
      for (const r of runs) {
        const s = tagMap(r.data.tags)[RUN_TAG.sourceRun];
        bySource.set(s, [...(bySource.get(s) ?? []), r.info.run_id]);
      }
      assert.strictEqual(bySource.size, fixture.runs.length);
      for (const [s, ids] of bySource) assert.strictEqual(ids.length, 1, `source run ${s} has target runs ${ids.join(", ")}`);
      for (const r of runs) assert.ok(tagMap(r.data.tags)[RUN_TAG.complete], `target run ${r.info.run_id} is complete`);
      for (const rep of reports) {
        assert.deepStrictEqual(
          rep.runs.map((x) => [x.sourceRunId, x.targetRunId]).sort(),
          [...bySource].map(([s, ids]) => [s, ids[0]]).sort(),
        );
        assert.ok(
          rep.runs.every((x) => x.outcome === "migrated" || x.outcome === "adopted" || x.outcome === "resumed"),
          JSON.stringify(rep.runs),
        );
      }
    });
  }
});
