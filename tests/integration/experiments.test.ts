import * as assert from "assert";
import { ExperimentMigrationReport, leaseExperiment, leaseKey, migrateExperiment } from "../../migration/experiments";
import { resolveEndpoint } from "../../migration/endpoint";
import { mlflowClient, Run, tagMap } from "../../clients/mlflow";
import { verifyMove } from "../../migration/verifyMove";
import { datasetsOf } from "../../migration/inventory";
import { RUN_TAG, TAG } from "../../migration/provenance";
import { isIncompleteMigration } from "../../migration/failure";
import { liveServers } from "../fixtures/liveServers";
import { FixtureInfo, MlflowServer, python, seedFixture } from "../../devenv/localMlflow";
import { FaultProxy } from "../fixtures/faultProxy";
import { sleep } from "../../clients/http";
import { migrateCli } from "../../cli/migrate";
import { verifyMoveCli } from "../../cli/verifyMove";

const FAST_RETRY = { attempts: 3, backoffMs: 20 };
const oss = (url: string, side: "from" | "to" = "to") => resolveEndpoint(url, side, {});
const EXP = "exp-move-alpha";

/** A run's artifacts as the MLflow Python client downloads them (the migration journal left out). */
function downloadedRun(server: { url: string }, runId: string): { path: string; size: number; sha256: string }[] {
  return (
    JSON.parse(python("download_version.py", ["--tracking-uri", server.url, "--run-id", runId])) as {
      path: string;
      size: number;
      sha256: string;
    }[]
  ).filter((f) => !f.path.startsWith("_migration/"));
}

describe("experiment migration between two real MLflow servers", function () {
  this.timeout(900000);
  let a: MlflowServer;
  let b: MlflowServer;
  let fixture: FixtureInfo;
  let report: Awaited<ReturnType<typeof migrateExperiment>>;

  before(async () => {
    ({ a, b } = await liveServers());
    fixture = seedFixture(a, "exp-move-model", { sizeMb: 3, layout: "run", shards: 2, experiment: EXP });
    report = await migrateExperiment({ from: oss(a.url, "from"), to: oss(b.url), experiment: EXP, retry: FAST_RETRY });
  });

  it("nested runs, migrated side by side, point at their parents' target runs, whatever order they are listed in", async () => {
    const src = mlflowClient(oss(a.url, "from"));
    const dst = mlflowClient(oss(b.url));
    const exp = await src.ensureExperiment("exp-move-nested");
    // Children start before their parents, so MLflow lists them first (runs are listed by start time).
    const t0 = Date.now();
    const parent = await src.createRun(exp, "sweep", t0 + 2000, []);
    const child = (name: string, of: string, start: number) => src.createRun(exp, name, start, [{ key: "mlflow.parentRunId", value: of }]);
    const kids = await Promise.all([0, 1, 2].map((i) => child(`trial-${i}`, parent.info.run_id, t0 + 1000 + i)));
    const grandchild = await child("trial-0-fold-1", kids[0].info.run_id, t0);
    const r = await migrateExperiment({
      from: oss(a.url, "from"),
      to: oss(b.url),
      experiment: "exp-move-nested",
      concurrency: 8,
      retry: FAST_RETRY,
    });
    const target = new Map(r.runs.map((x) => [x.sourceRunId, x.targetRunId!]));
    assert.strictEqual(target.size, 5);
    for (const [run, of] of [...kids.map((k) => [k, parent] as const), [grandchild, kids[0]] as const]) {
      const t = tagMap((await dst.getRun(target.get(run.info.run_id)!)).data.tags);
      assert.strictEqual(t["mlflow.parentRunId"], target.get(of.info.run_id), `${run.info.run_name} points at its parent's target run`);
      assert.strictEqual(t[RUN_TAG.sourceParent], of.info.run_id);
    }
    assert.strictEqual(tagMap((await dst.getRun(target.get(parent.info.run_id)!)).data.tags)["mlflow.parentRunId"], undefined);
    // The report keeps the source's order.
    assert.deepStrictEqual(
      r.runs.map((x) => x.sourceRunId),
      (await src.allRuns([exp])).map((x) => x.info.run_id),
    );
  });

  it("a run's dataset inputs move with it (name, digest, source, schema, profile, context), once, and verify-move compares them", async () => {
    const src = mlflowClient(oss(a.url, "from"));
    const dst = mlflowClient(oss(b.url));
    const exp = await src.ensureExperiment("exp-move-inputs");
    const run = await src.createRun(exp, "validation", Date.now(), []);
    const sample = {
      name: "history-2019-2024",
      digest: "5f1c2a9e",
      source_type: "local",
      source: JSON.stringify({ uri: "s3://quant-data/history/2019-2024.parquet" }),
      schema: JSON.stringify({ mlflow_colspec: [{ type: "double", name: "ret_1d" }] }),
      profile: JSON.stringify({ num_rows: 12000 }),
    };
    await src.logInputs(run.info.run_id, [
      { tags: [{ key: "mlflow.data.context", value: "validation" }], dataset: sample },
      { tags: [{ key: "mlflow.data.context", value: "training" }], dataset: { ...sample, name: "train-2015-2018", digest: "0a0b0c0d" } },
    ]);
    await src.updateRun(run.info.run_id, "FINISHED", Date.now());
    const source = datasetsOf(await src.getRun(run.info.run_id));
    assert.strictEqual(source.length, 2);
    for (let i = 0; i < 2; i++) {
      const r = await migrateExperiment({ from: oss(a.url, "from"), to: oss(b.url), experiment: "exp-move-inputs", retry: FAST_RETRY });
      const target = await dst.getRun(r.runs[0].targetRunId!);
      assert.deepStrictEqual(datasetsOf(target), source, `attempt ${i + 1}: the target run's inputs are the source's, each once`);
    }
    const v = await verifyMove({ from: oss(a.url, "from"), to: oss(b.url), experiments: ["exp-move-inputs"], models: [] });
    assert.deepStrictEqual(v.differences, []);
  });

  it("moves all three training runs, mapping each source run to a new target run", async () => {
    assert.deepStrictEqual(
      report.runs.map((r) => r.outcome),
      ["migrated", "migrated", "migrated"],
    );
    assert.deepStrictEqual(report.runs.map((r) => r.sourceRunId).sort(), fixture.runs.map((r) => r.run_id).sort());
    const dst = mlflowClient(oss(b.url));
    for (const r of report.runs) {
      assert.notStrictEqual(r.targetRunId, r.sourceRunId);
      const t = tagMap((await dst.getRun(r.targetRunId!)).data.tags);
      assert.strictEqual(t[RUN_TAG.sourceRun], r.sourceRunId, "the mapping is recorded on the target run");
      assert.strictEqual(t[RUN_TAG.sourceHost], a.url);
      assert.ok(t[RUN_TAG.complete]);
    }
  });

  it("each run keeps its params, full precision history, tags, status and times", async () => {
    const src = mlflowClient(oss(a.url, "from"));
    const dst = mlflowClient(oss(b.url));
    for (const r of report.runs) {
      const [s, t] = [await src.getRun(r.sourceRunId), await dst.getRun(r.targetRunId!)];
      assert.deepStrictEqual(tagMap(t.data.params), tagMap(s.data.params));
      for (const key of ["precision", "recall", "loss"]) {
        const pts = (h: { step: number; value: number; timestamp: number }[]) => h.map((m) => [m.step, m.timestamp, m.value]).sort();
        assert.deepStrictEqual(pts(await dst.metricHistory(t.info.run_id, key)), pts(await src.metricHistory(s.info.run_id, key)), key);
      }
      const st = tagMap(s.data.tags);
      const tt = tagMap(t.data.tags);
      for (const k of ["team", "iteration", "dataset", "mlflow.runName", "mlflow.user"]) assert.strictEqual(tt[k], st[k], k);
      assert.deepStrictEqual(
        [t.info.status, t.info.start_time, t.info.end_time, t.info.run_name],
        [s.info.status, s.info.start_time, s.info.end_time, s.info.run_name],
      );
    }
    // The team's comparison survives the move: the best run by precision is the same iteration.
    const best = report.runs.find((r) => r.sourceRunId === fixture.best_run_id)!;
    const finalPrecision = async (runId: string) => (await dst.getRun(runId)).data.metrics!.find((m) => m.key === "precision")!.value;
    const scores = await Promise.all(report.runs.map(async (r) => [r.targetRunId, await finalPrecision(r.targetRunId!)] as const));
    assert.strictEqual([...scores].sort((x, y) => y[1] - x[1])[0][0], best.targetRunId);
  });

  it("the best run's artifacts arrive byte-identical, checked with the MLflow Python client", () => {
    const best = report.runs.find((r) => r.sourceRunId === fixture.best_run_id)!;
    assert.ok(best.files > 10);
    assert.deepStrictEqual(downloadedRun(b, best.targetRunId!), downloadedRun(a, fixture.best_run_id));
    assert.deepStrictEqual(
      downloadedRun(b, best.targetRunId!).map((f) => f.path),
      fixture.files.map((f) => `model/${f.path}`),
    );
  });

  it("a re-run adds nothing: every run is adopted and the target experiment still has three runs", async () => {
    const again = await migrateExperiment({ from: oss(a.url, "from"), to: oss(b.url), experiment: EXP, retry: FAST_RETRY });
    assert.deepStrictEqual(
      again.runs.map((r) => r.outcome),
      ["adopted", "adopted", "adopted"],
    );
    assert.deepStrictEqual(
      again.runs.map((r) => r.targetRunId),
      report.runs.map((r) => r.targetRunId),
    );
    const dst = mlflowClient(oss(b.url));
    assert.strictEqual((await dst.allRuns([report.targetExperimentId!])).length, 3);
  });

  it("verify-move finds the experiment identical (exit 0), then names a tampered metric (exit 3)", async () => {
    const v = await verifyMove({ from: oss(a.url, "from"), to: oss(b.url), experiments: [EXP], models: [], retry: FAST_RETRY });
    assert.deepStrictEqual(v.differences, []);
    assert.strictEqual(v.checked.runs, 3);
    const out: string[] = [];
    assert.strictEqual(
      await verifyMoveCli(["--from", a.url, "--to", b.url, "--experiment", EXP, "--model", "exp-move-model"], {}, (s) => out.push(s)),
      3,
      "the registered version was not moved, so verify-move with the model in scope differs",
    );
    assert.match(out.join("\n"), /model 'exp-move-model' version 1: no version in .* was migrated from it/);
    const target = report.runs[0].targetRunId!;
    await mlflowClient(oss(b.url)).logBatch(target, { metrics: [{ key: "precision", value: 0.99, timestamp: Date.now(), step: 9 }] });
    const after = await verifyMove({ from: oss(a.url, "from"), to: oss(b.url), experiments: [EXP], models: [], retry: FAST_RETRY });
    assert.deepStrictEqual(
      after.differences.map((d) => [d.kind, d.detail]),
      [["run", "metric 'precision' history differs (4 points, the source's 3)"]],
    );
  });

  it("a source run changed after its migration is reported as a conflict and left alone (exit 1)", async () => {
    const src = mlflowClient(oss(a.url, "from"));
    const changed = report.runs[1];
    await src.setRunTag(changed.sourceRunId, "reviewed", "yes");
    const out: string[] = [];
    const code = await migrateCli(
      ["--from", a.url, "--to", b.url, "--experiment", EXP, "--json"],
      {},
      (s) => out.push(s),
      () => undefined,
      false,
    );
    assert.strictEqual(code, 1);
    const r = JSON.parse(out.join("")) as typeof report;
    const c = r.runs.find((x) => x.sourceRunId === changed.sourceRunId)!;
    assert.strictEqual(c.outcome, "conflict");
    assert.match(c.problem!, /changed after it was migrated/);
    assert.strictEqual(tagMap((await mlflowClient(oss(b.url)).getRun(c.targetRunId!)).data.tags).reviewed, undefined);
  });

  it("a missing experiment is named; a dry run creates nothing", async () => {
    await assert.rejects(
      migrateExperiment({ from: oss(a.url, "from"), to: oss(b.url), experiment: "no-such-exp", retry: FAST_RETRY }),
      /experiment 'no-such-exp' does not exist on http:\/\/127\.0\.0\.1:\d+/,
    );
    const dry = await migrateExperiment({
      from: oss(a.url, "from"),
      to: oss(b.url),
      experiment: EXP,
      toExperiment: "exp-move-dry",
      dryRun: true,
      retry: FAST_RETRY,
    });
    assert.deepStrictEqual([dry.runs.length, dry.targetExperimentId, dry.runs.every((r) => r.outcome === "planned")], [3, undefined, true]);
    assert.strictEqual(await mlflowClient(oss(b.url)).experimentByName("exp-move-dry"), undefined);
  });

  it("interrupted by corruption on the wire, the runs fail verification; a re-run resumes them without duplicates", async () => {
    const proxy = new FaultProxy(() => b.port);
    await proxy.start();
    try {
      proxy.add({ method: "PUT", path: /\/mlflow-artifacts\/artifacts\/.*\/model\//, action: { kind: "flip-request" }, times: Infinity });
      const thrown = await migrateExperiment({
        from: oss(a.url, "from"),
        to: oss(proxy.url),
        experiment: EXP,
        toExperiment: "exp-move-resume",
        retry: FAST_RETRY,
      }).then(
        () => assert.fail("a migration with failed runs must not resolve"),
        (e: unknown) => e,
      );
      assert.ok(isIncompleteMigration<ExperimentMigrationReport>(thrown), String(thrown));
      const broken = thrown.report;
      const best = broken.runs.find((r) => r.sourceRunId === fixture.best_run_id)!;
      assert.deepStrictEqual(
        thrown.failures.map((f) => [f.item, f.outcome]).sort(),
        broken.runs
          .filter((r) => r.outcome === "failed")
          .map((r) => [r.sourceRunId, "failed"])
          .sort(),
      );
      assert.strictEqual(best.outcome, "failed");
      assert.match(best.problem!, /verification failed.*run the migration again to resume/s);
      assert.ok(
        !tagMap((await mlflowClient(oss(b.url)).getRun(best.targetRunId!)).data.tags)[RUN_TAG.complete],
        "the failed run is not marked complete",
      );
    } finally {
      await proxy.stop();
    }
    const resumed = await migrateExperiment({
      from: oss(a.url, "from"),
      to: oss(b.url),
      experiment: EXP,
      toExperiment: "exp-move-resume",
      retry: FAST_RETRY,
    });
    const best = resumed.runs.find((r) => r.sourceRunId === fixture.best_run_id)!;
    assert.strictEqual(best.outcome, "resumed");
    const dst = mlflowClient(oss(b.url));
    assert.strictEqual((await dst.allRuns([resumed.targetExperimentId!])).length, 3, "no duplicate run");
    assert.deepStrictEqual(downloadedRun(b, best.targetRunId!), downloadedRun(a, fixture.best_run_id));
    assert.strictEqual(tagMap((await dst.getRun(best.targetRunId!)).data.tags)[TAG.manifestDigest], best.manifestDigest);
  });

  describe("one migration of an experiment at a time: the lease", () => {
    const LEASE_RUN = "quant-platform migration lease (deleted when the migration ends)";
    const ticketOf = (r: Run) => tagMap(r.data.tags)[RUN_TAG.leaseTicket] ?? "";
    /**
     * Polls the lease runs until another migration holds a numbered ticket behind `holder` and the holder's beat
     * has since advanced `beats` times; returns the beats read. Fails when the holder's lease run is gone (taken
     * over though it beat), when `done()` (the waiter gave up waiting), or after a minute.
     */
    async function queuedBehind(leases: () => Promise<Run[]>, holder: string, beats: number, done: () => boolean): Promise<string[]> {
      const deadline = Date.now() + 60000;
      const heard: string[] = [];
      let first: number | undefined;
      for (;;) {
        const rs = await leases();
        const mine = rs.find((r) => r.info.run_id === holder);
        assert.ok(mine, `the live holder's lease run ${holder} was taken over (beats read: ${heard.join(", ")})`);
        const beat = tagMap(mine.data.tags)[RUN_TAG.leaseBeat];
        const queued = rs.some((r) => r.info.run_id !== holder && /^\d+$/.test(ticketOf(r)));
        if (queued && beat !== undefined) {
          if (heard.at(-1) !== beat) heard.push(beat);
          first ??= Number(beat);
          if (Number(beat) - first >= beats) return heard;
        }
        assert.ok(!done(), "the waiting migration ended while the holder still beat");
        assert.ok(
          Date.now() < deadline,
          `within a minute, no migration queued behind the holder for ${beats} of its beats (queued: ${queued}, beats read: ${heard.join(", ")})`,
        );
        await sleep(100);
      }
    }
    const setup = async (target: string) => {
      const dst = mlflowClient(oss(b.url));
      const srcExp = (await mlflowClient(oss(a.url, "from")).experimentByName(EXP))!.experiment_id;
      const expId = await dst.ensureExperiment(target);
      const leases = async () => (await dst.allRuns([expId])).filter((r) => r.info.run_name === LEASE_RUN);
      return { dst, expId, key: leaseKey(a.url, srcExp), leases };
    };
    const migrateInto = (target: string, claimTimeoutMs: number) =>
      migrateExperiment({
        from: oss(a.url, "from"),
        to: oss(b.url),
        experiment: EXP,
        toExperiment: target,
        claimTimeoutMs,
        retry: FAST_RETRY,
      });

    it("a lease left by a killed migration (it never beats) is taken over after the timeout of silence, and removed", async () => {
      const { dst, expId, key, leases } = await setup("exp-lease-abandoned");
      await dst.createRun(expId, LEASE_RUN, Date.now(), [
        { key: RUN_TAG.lease, value: key },
        { key: RUN_TAG.leaseTicket, value: "1" },
      ]);
      const t0 = Date.now();
      const r = await migrateInto("exp-lease-abandoned", 1500);
      assert.ok(Date.now() - t0 >= 1500, `waited ${Date.now() - t0} ms for the silent lease`);
      assert.deepStrictEqual(
        r.runs.map((x) => x.outcome),
        ["migrated", "migrated", "migrated"],
      );
      assert.deepStrictEqual(await leases(), [], "no lease run is left");
      assert.strictEqual((await dst.allRuns([expId])).length, 3);
    });

    it("a live holder beats: it is waited for past the timeout, and the runs it completed are then adopted", async () => {
      const { dst, expId, key, leases } = await setup("exp-lease-live");
      const holder = await leaseExperiment(dst, expId, key, { timeoutMs: 800, where: "test" });
      const [held] = await leases();
      let finished = false;
      const waiting = migrateInto("exp-lease-live", 800).finally(() => (finished = true));
      // Waited for on the target, not by the clock: the migration has drawn its ticket behind the holder, and the
      // holder's beat counter has since gone up by 30 (it beats every tenth of the timeout: 3 timeouts of 800 ms).
      const beats = await queuedBehind(leases, held.info.run_id, 30, () => finished);
      assert.strictEqual(finished, false, `the migration still waits for the live holder after its beats ${beats.join(", ")}`);
      // The holder ends its lease: the waiting migration takes it and moves the runs; a later one adopts them.
      await holder.release();
      const first = await waiting;
      assert.deepStrictEqual(
        first.runs.map((x) => x.outcome),
        ["migrated", "migrated", "migrated"],
      );
      const again = await migrateInto("exp-lease-live", 800);
      assert.deepStrictEqual(
        again.runs.map((x) => x.outcome),
        ["adopted", "adopted", "adopted"],
      );
      assert.deepStrictEqual(await leases(), []);
    });

    it("a holder whose lease was taken over finds out at its next beat and stops before it writes again", async () => {
      const { dst, expId, key } = await setup("exp-lease-lost");
      const holder = await leaseExperiment(dst, expId, key, { timeoutMs: 500, where: "experiment 'exp-lease-lost'" });
      holder.check();
      const mine = (await dst.allRuns([expId], `tags.\`${RUN_TAG.lease}\` = '${key}'`))[0];
      await dst.deleteRun(mine.info.run_id);
      await sleep(600);
      assert.throws(() => holder.check(), /lease of this migration on experiment 'exp-lease-lost' was taken over/);
      await holder.release();
    });
  });
});
