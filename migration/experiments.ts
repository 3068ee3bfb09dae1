/**
 * Experiment migration: every active run of an experiment, not only registered versions. Each run's
 * params, full metric histories, tags, status and times, and its whole artifact tree move to a run in the
 * target experiment, with the model engine's guarantees: artifacts streamed through SHA-256, read back and
 * verified, a manifest written and read back; idempotent by source fingerprint (a re-run adds nothing);
 * resumable (a run interrupted part-way is finished, not duplicated). Run IDs change: every target run
 * records its source run, and the report maps one to the other.
 */
import { DEFAULT_RETRY, hasStatus, isNotFound, RetryPolicy, sleep } from "../clients/http";
import { Endpoint, Metric, mlflowClient, MlflowClient, Run, Tag, tagMap } from "../clients/mlflow";
import { DEFAULT_CONCURRENCY, forEachLimited, mapLimited } from "./concurrency";
import { incompleteMigration, isIncompleteMigration, ItemFailure, migrationError } from "./failure";
import { LoggedModelsReport, moveLoggedModels } from "./loggedModels";
import { manifestDigest, sha256 } from "./hashing";
import { copyInputs, copyLineage, copyModelLinks, metricHistories } from "./lineage";
import { RUN_TAG, runOriginTags, RunManifest, TAG } from "./provenance";
import { copyTree, JOURNAL_DIR, Progress, runFiles, VerifyMode, writeManifest } from "./treeCopy";
import { transportFor } from "./transports/transportFor";

export type RunOutcome = "migrated" | "resumed" | "adopted" | "conflict" | "failed" | "planned";

export interface RunMapping {
  sourceRunId: string;
  targetRunId: string | undefined;
  runName: string | undefined;
  status: string;
  params: number;
  metricPoints: number;
  files: number;
  bytes: number;
  outcome: RunOutcome;
  manifestDigest?: string;
  problem?: string;
  /** Problems that did not stop this run's migration (a progress journal that could not be saved). */
  warnings?: string[];
  /** Target runs of this source run removed as leftovers of an interrupted migration (partial or spare copies). */
  removed?: string[];
  /** Links to MLflow 3 logged models (model inputs and outputs) this migration logged on the target run. */
  modelLinksLogged?: number;
}

export interface ExperimentMigrationReport {
  sourceHost: string;
  sourceExperiment: string;
  sourceExperimentId: string;
  targetExperiment: string;
  targetExperimentId: string | undefined;
  runs: RunMapping[];
  /** Problems that did not stop the migration, by run (progress journals that could not be saved). */
  warnings: string[];
  files: number;
  bytes: number;
  dryRun: boolean;
  durationMs: number;
  /** The experiment's MLflow 3 logged models, moved after its runs (absent on a dry run or where the API is missing). */
  loggedModels?: LoggedModelsReport;
}

export interface ExperimentMigrationOptions {
  from: Endpoint;
  to: Endpoint;
  experiment: string;
  toExperiment?: string;
  concurrency?: number;
  verify?: VerifyMode;
  dryRun?: boolean;
  retry?: RetryPolicy;
  onProgress?: (p: Progress & { run: string }) => void;
  /**
   * How long a concurrent migration of the same experiment, holding its lease, may stay silent (it beats every
   * tenth of this); after that its lease counts as abandoned and this migration resumes its runs (default 2 minutes).
   */
  claimTimeoutMs?: number;
}

/** Tags as they are copied: the run's own, without the provenance of an earlier hop. */
const copiedTags = (run: Run): Tag[] => (run.data.tags ?? []).filter((t) => !t.key.startsWith("quant.migration."));

/** What a run is, for idempotence: a source run whose fingerprint changed is a different run state. */
function fingerprintOf(host: string, run: Run, histories: Map<string, Metric[]>, files: { path: string; size: number }[]): string {
  const sorted = <T extends { key: string }>(xs: T[] | undefined) => [...(xs ?? [])].sort((a, b) => (a.key < b.key ? -1 : 1));
  return sha256(
    JSON.stringify({
      host,
      run: run.info.run_id,
      status: run.info.status,
      start: run.info.start_time ?? null,
      end: run.info.end_time ?? null,
      params: sorted(run.data.params).map((p) => [p.key, p.value]),
      tags: sorted(copiedTags(run)).map((t) => [t.key, t.value]),
      metrics: [...histories].map(([key, h]) => [key, h.length, h.map((m) => [m.step, m.timestamp, m.value])]),
      files: files.map((f) => [f.path, f.size]),
    }),
  );
}

/**
 * Migrates every active run of one experiment. A run that fails (resumable by a re-run) or conflicts (its
 * source changed after it was migrated) does not stop the others; but then the migration throws an
 * `IncompleteMigration` carrying this report and the failed runs, so it is never taken for success.
 */
export async function migrateExperiment(o: ExperimentMigrationOptions): Promise<ExperimentMigrationReport> {
  const started = Date.now();
  const retry = o.retry ?? DEFAULT_RETRY;
  const src = mlflowClient(o.from, retry);
  const dst = mlflowClient(o.to, retry);
  const srcT = transportFor(src);
  const dstT = transportFor(dst);
  const targetName = o.toExperiment ?? o.experiment;
  const exp = await src.experimentByName(o.experiment);
  if (!exp) throw migrationError(`experiment '${o.experiment}' does not exist on ${o.from.uri}`);
  // A lease left in the source by a migration into it that was stopped is no run of the team's.
  const runs = (await src.allRuns([exp.experiment_id])).filter((r) => !tagMap(r.data.tags)[RUN_TAG.lease]);

  const report: ExperimentMigrationReport = {
    sourceHost: o.from.baseUrl,
    sourceExperiment: o.experiment,
    sourceExperimentId: exp.experiment_id,
    targetExperiment: targetName,
    targetExperimentId: undefined,
    runs: [],
    warnings: [],
    files: 0,
    bytes: 0,
    dryRun: !!o.dryRun,
    durationMs: 0,
  };
  // Every run's listing first: an unsafe path anywhere stops the migration before anything is copied.
  const listings = await mapLimited(runs, DEFAULT_CONCURRENCY, (r) => runFiles(srcT, r.info.run_id, r.info.artifact_uri));
  const targetExp = await dst.experimentByName(targetName);
  if (targetExp?.lifecycle_stage === "deleted") {
    throw migrationError(
      `experiment '${targetName}' exists on ${o.to.uri} but is deleted (MLflow keeps the name); restore it there, or pass --to-experiment with another name`,
    );
  }
  const targetExpId = targetExp?.experiment_id ?? (o.dryRun ? undefined : await dst.ensureExperiment(targetName));
  report.targetExperimentId = targetExpId;

  // One migration of this source experiment into this target at a time: within the lease nothing else writes
  // these runs, so each run needs no claim of its own. A dry run writes nothing and takes none.
  const lease =
    targetExpId && !o.dryRun
      ? await leaseExperiment(dst, targetExpId, leaseKey(o.from.baseUrl, exp.experiment_id), {
          timeoutMs: o.claimTimeoutMs ?? DEFAULT_LEASE_TIMEOUT_MS,
          where: `experiment '${targetName}' on ${o.to.uri}`,
        })
      : undefined;
  const modelFailures: ItemFailure[] = [];
  try {
    // Target runs already tied to a source run of this host, found once the lease is held: complete ones are
    // adopted, a partial one (left by a migration that stopped) is resumed.
    const existing = new Map<string, Run[]>();
    if (targetExpId) {
      for (const r of await dst.allRuns([targetExpId])) {
        const t = tagMap(r.data.tags);
        if (t[RUN_TAG.sourceHost] === o.from.baseUrl && t[RUN_TAG.sourceRun])
          existing.set(t[RUN_TAG.sourceRun], [...(existing.get(t[RUN_TAG.sourceRun]) ?? []), r]);
      }
    }
    const mapped = new Map<string, string>();
    // Runs side by side, each with its share of files in flight. A child run waits for its parent's, so that it
    // points at the parent's target run; parents are taken first, so a waiting child never holds up its parent.
    const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
    const runsAtOnce = Math.max(1, Math.min(runs.length, concurrency));
    const filesPerRun = Math.max(1, Math.floor(concurrency / runsAtOnce));
    const parentOf = (r: Run) => tagMap(r.data.tags)["mlflow.parentRunId"];
    const byId = new Map(runs.map((r, i) => [r.info.run_id, i]));
    const depth = (r: Run, seen = new Set<string>()): number => {
      const p = parentOf(r);
      if (!p || !byId.has(p) || seen.has(p)) return 0;
      seen.add(p);
      return 1 + depth(runs[byId.get(p)!], seen);
    };
    const order = runs.map((r, i) => ({ i, d: depth(r) })).sort((a, b) => a.d - b.d || a.i - b.i);
    const entries: RunMapping[] = new Array(runs.length);
    // Each run's migration once started (a parent's starts before its child's: they are taken in that order).
    const tasks = new Map<string, Promise<unknown>>();

    const migrateRun = async (i: number) => {
      const run = runs[i];
      const sourceRunId = run.info.run_id;
      const { root: srcRoot, files } = listings[i];
      const bytes = files.reduce((s, f) => s + f.size, 0);
      const histories = await metricHistories(src, run);
      const fingerprint = fingerprintOf(o.from.baseUrl, run, histories, files);
      const metricPoints = [...histories.values()].reduce((s, h) => s + h.length, 0);
      const entry: RunMapping = {
        sourceRunId,
        targetRunId: undefined,
        runName: run.info.run_name,
        status: run.info.status,
        params: run.data.params?.length ?? 0,
        metricPoints,
        files: files.length,
        bytes,
        outcome: "planned",
      };
      entries[i] = entry;
      report.files += files.length;
      report.bytes += bytes;
      const adopt = (target: Run) => {
        const targetTags = tagMap(target.data.tags);
        entry.targetRunId = target.info.run_id;
        mapped.set(sourceRunId, target.info.run_id);
        if (targetTags[RUN_TAG.complete] === fingerprint) {
          entry.outcome = "adopted";
          entry.manifestDigest = targetTags[TAG.manifestDigest];
        } else {
          entry.outcome = "conflict";
          entry.problem = `source run ${sourceRunId} changed after it was migrated to run ${target.info.run_id}; the target run was left as it is`;
        }
      };
      const found = existing.get(sourceRunId) ?? [];
      // The complete run of this source state first; then any complete one (its source changed since: a conflict).
      const completeTag = (r: Run) => tagMap(r.data.tags)[RUN_TAG.complete];
      const complete = found.find((r) => completeTag(r) === fingerprint) ?? found.find(completeTag);
      if (complete) {
        adopt(complete);
        if (o.dryRun) return;
        // Spare runs beside it (a runs/create applied whose answer was lost, sent again; a migration stopped part way)
        // are leftovers of this engine: within the lease nothing else writes them, so they go, or verify-move would
        // find two target runs for one source run however often the move ran again.
        const spare = found.filter((r) => r !== complete);
        if (!spare.length) return;
        try {
          lease?.check();
          entry.removed = await removeRuns(dst, spare);
        } catch (e) {
          entry.outcome = "failed";
          entry.problem = `spare target runs of this source run could not be removed: ${(e as Error).message}; run the migration again`;
        }
        return;
      }
      if (o.dryRun) return;
      try {
        const parent = parentOf(run);
        if (parent) await tasks.get(parent);
        lease?.check();
        const tags: Tag[] = [
          ...copiedTags(run).filter((t) => t.key !== "mlflow.parentRunId"),
          ...(parent
            ? [
                { key: "mlflow.parentRunId", value: mapped.get(parent) ?? parent },
                { key: RUN_TAG.sourceParent, value: parent },
              ]
            : []),
          { key: RUN_TAG.sourceRun, value: sourceRunId },
          { key: RUN_TAG.sourceHost, value: o.from.baseUrl },
          { key: RUN_TAG.sourceExperiment, value: exp.experiment_id },
          { key: TAG.fingerprint, value: fingerprint },
          ...runOriginTags(o.from.baseUrl, run),
        ];
        // Partial runs of this source, left by migrations that stopped: the first of this source state is resumed,
        // the others (of an older state, or spare) removed.
        let target = found.find((r) => tagMap(r.data.tags)[TAG.fingerprint] === fingerprint);
        const spare = await removeRuns(
          dst,
          found.filter((r) => r !== target),
        );
        if (spare.length) entry.removed = spare;
        entry.outcome = target ? "resumed" : "migrated";
        target ??= await dst.createRun(targetExpId!, run.info.run_name ?? sourceRunId, run.info.start_time ?? Date.now(), tags);
        const targetRunId = target.info.run_id;
        entry.targetRunId = targetRunId;
        mapped.set(sourceRunId, targetRunId);
        // The lineage's last batch carries the tag that says it is whole (a batch is one write).
        if (tagMap(target.data.tags)[TAG.lineageCopied] !== "true") {
          await copyInputs(dst, run, targetRunId);
          await copyLineage(src, dst, run, targetRunId, false, histories, [{ key: TAG.lineageCopied, value: "true" }]);
        }
        const [dstRoot, journalRoot] = await Promise.all([
          dstT.runRoot(targetRunId, "", target.info.artifact_uri),
          dstT.runRoot(targetRunId, JOURNAL_DIR, target.info.artifact_uri),
        ]);
        const progress: Progress = { phase: "copying", filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
        const { files: manifestFiles, warnings } = await copyTree({
          srcT,
          srcRoot,
          dstT,
          dstRoot,
          journalRoot,
          // A run this migration has just created holds nothing yet: no journal to read.
          fresh: entry.outcome === "migrated",
          listed: files,
          fingerprint,
          verify: o.verify ?? "full",
          retry,
          concurrency: filesPerRun,
          what: (p) => `'${p}' of run ${sourceRunId} (experiment '${o.experiment}')`,
          tree: `run ${sourceRunId} (target run ${targetRunId})`,
          progress,
          tell: () => o.onProgress?.({ ...progress, run: sourceRunId }),
        });
        if (warnings.length) {
          entry.warnings = warnings;
          report.warnings.push(...warnings.map((w) => `run ${sourceRunId}: ${w}`));
        }
        const digest = manifestDigest(manifestFiles);
        await writeManifest(
          dstT,
          journalRoot,
          {
            fingerprint,
            manifestDigest: digest,
            source: { host: o.from.baseUrl, experiment: exp.experiment_id, run: sourceRunId },
            files: manifestFiles,
            verify: o.verify ?? "full",
          } satisfies RunManifest,
          `the manifest of run ${sourceRunId}`,
          o.to.uri,
        );
        await dst.updateRun(targetRunId, run.info.status, run.info.end_time);
        // Both in one write: the run is complete exactly when it carries its manifest digest.
        await dst.logBatch(targetRunId, {
          tags: [
            { key: TAG.manifestDigest, value: digest },
            { key: RUN_TAG.complete, value: fingerprint },
          ],
        });
        entry.manifestDigest = digest;
      } catch (e) {
        // The partial run stays: a re-run resumes it.
        entry.outcome = "failed";
        entry.problem = `${(e as Error).message}; run the migration again to resume`;
      }
    };
    await forEachLimited(order, runsAtOnce, ({ i }) => {
      const task = migrateRun(i);
      tasks.set(
        runs[i].info.run_id,
        task.catch(() => undefined),
      );
      return task;
    });
    report.runs.push(...entries);
    // The logged models (models:/m-...), each linked to its producing run's copy: after the runs, within the lease.
    if (!o.dryRun && targetExpId) {
      try {
        report.loggedModels = await moveLoggedModels({
          from: o.from,
          to: o.to,
          sourceExperimentId: exp.experiment_id,
          targetExperimentId: targetExpId,
          runMap: mapped,
          concurrency: o.concurrency,
          verify: o.verify,
          retry,
        });
      } catch (e) {
        if (isIncompleteMigration<LoggedModelsReport>(e)) {
          report.loggedModels = e.report;
          modelFailures.push(...e.failures);
        } else if (!hasStatus(e, 404) && !hasStatus(e, 501)) throw e;
      }
    }
    // --- MLflow 3 model inputs and outputs (lineage.ts copyModelLinks): each moved run's links to the logged models it
    // used and produced, to their copies; after the logged models, whose copies' ids are known only now. ---
    if (!o.dryRun && targetExpId) {
      lease?.check();
      const moved = report.runs.filter((r) => r.targetRunId && ["migrated", "resumed", "adopted"].includes(r.outcome));
      const links = await copyModelLinks({
        src,
        dst,
        runs: moved.map((r) => ({ sourceRunId: r.sourceRunId, targetRunId: r.targetRunId! })),
        modelMap: report.loggedModels?.modelMap ?? new Map(),
        sourceHost: o.from.baseUrl,
        concurrency: o.concurrency,
      });
      for (const r of moved) {
        const l = links.get(r.sourceRunId)!;
        if (l.logged) r.modelLinksLogged = l.logged;
        if (l.warnings.length) r.warnings = [...(r.warnings ?? []), ...l.warnings];
        report.warnings.push(...l.warnings.map((w) => `run ${r.sourceRunId}: ${w}`));
        if (l.problem) [r.outcome, r.problem] = ["failed", `${l.problem}; run the migration again to complete them`];
      }
    }
    // --- end of model inputs and outputs ---
  } finally {
    await lease?.release();
  }
  report.durationMs = Date.now() - started;
  const failures: ItemFailure[] = [
    ...report.runs
      .filter((r) => r.outcome === "failed" || r.outcome === "conflict")
      .map((r) => ({
        item: r.sourceRunId,
        outcome: r.outcome as ItemFailure["outcome"],
        problem: r.outcome === "conflict" ? r.problem! : `run ${r.sourceRunId}: ${r.problem}`,
      })),
    ...modelFailures,
  ];
  if (failures.length)
    throw incompleteMigration(
      `experiment '${o.experiment}' was not migrated completely to ${o.to.uri}`,
      report.runs.length,
      report,
      failures,
    );
  return report;
}

/**
 * Deletes target runs left by an interrupted migration; their ids. A delete whose answer was lost and that was
 * sent again finds the run deleted already: that is the outcome wanted, not a failure.
 */
async function removeRuns(dst: MlflowClient, runs: Run[]): Promise<string[]> {
  for (const r of runs) {
    try {
      await dst.deleteRun(r.info.run_id);
    } catch (e) {
      const now = await dst.getRun(r.info.run_id).catch((g: Error) => (isNotFound(g) ? undefined : Promise.reject(e)));
      if (now && now.info.lifecycle_stage !== "deleted") throw e;
    }
  }
  return runs.map((r) => r.info.run_id);
}

/** What a lease is for: one source experiment (of one host). */
export const leaseKey = (host: string, sourceExperimentId: string) => sha256(`${host} ${sourceExperimentId}`).slice(0, 32);

/** How long a lease holder may stay silent before its lease counts as abandoned (it beats every tenth of this). */
export const DEFAULT_LEASE_TIMEOUT_MS = 120000;

export interface Lease {
  /** Throws when another migration took the lease over (this one was silent too long): stop writing. */
  check(): void;
  /** Ends the lease (deletes its run); never throws. */
  release(): Promise<void>;
}

/**
 * One migration of a source experiment into a target experiment at a time, whatever number run at once. MLflow
 * has no lock and run ids have no order, so the migrations draw tickets (Lamport's bakery) on lease runs in the
 * target experiment: each creates one (ticket `choosing`), reads the highest ticket of the lease's runs, takes
 * the next number, then waits until none is still choosing; the lowest (ticket, run id) holds the lease. A lease
 * run created after the holder read the others draws a higher ticket, so every migration elects the same holder.
 * The holder migrates the runs, beating (a tag it rewrites) every tenth of `timeoutMs`, and deletes its lease run
 * when done; the next holder then finds the runs complete and adopts them. One that stops without a word stops
 * beating: after `timeoutMs` of silence its lease run is deleted and the election goes on. Should that holder
 * still be alive, its next beat fails, and it stops before it creates another run.
 */
export async function leaseExperiment(
  dst: MlflowClient,
  expId: string,
  key: string,
  o: { timeoutMs: number; where: string },
): Promise<Lease> {
  const runs = () => dst.allRuns([expId], `tags.\`${RUN_TAG.lease}\` = '${key}'`);
  const ticketOf = (r: Run) => tagMap(r.data.tags)[RUN_TAG.leaseTicket];
  const numbered = (r: Run) => /^\d+$/.test(ticketOf(r) ?? "");
  const mine = await dst.createRun(expId, "quant-platform migration lease (deleted when the migration ends)", Date.now(), [
    { key: RUN_TAG.lease, value: key },
    { key: RUN_TAG.leaseTicket, value: "choosing" },
  ]);
  const me = mine.info.run_id;
  try {
    const drawn = 1 + Math.max(0, ...(await runs()).filter(numbered).map((r) => Number(ticketOf(r))));
    await dst.setRunTag(me, RUN_TAG.leaseTicket, String(drawn));
    let waitingFor: string | undefined;
    let heard: string | undefined;
    let since = 0;
    for (;;) {
      const rs = await runs();
      const choosing = rs.find((r) => r.info.run_id !== me && ticketOf(r) === "choosing");
      const live = rs
        .filter(numbered)
        .sort((a, b) => Number(ticketOf(a)) - Number(ticketOf(b)) || (a.info.run_id < b.info.run_id ? -1 : 1));
      if (!live.some((r) => r.info.run_id === me))
        throw migrationError(
          `the lease of this migration on ${o.where} was taken over by another migration that took it for abandoned; run the migration again`,
        );
      if (!choosing && live[0].info.run_id === me) break;
      const blocker = choosing ?? live[0];
      const beat = tagMap(blocker.data.tags)[RUN_TAG.leaseBeat];
      if (blocker.info.run_id !== waitingFor || beat !== heard) {
        [waitingFor, heard, since] = [blocker.info.run_id, beat, Date.now()];
      } else if (Date.now() - since > o.timeoutMs) {
        // Silent for longer than the timeout: its migration stopped. Its lease ends; the election goes on.
        await dst.deleteRun(blocker.info.run_id);
        waitingFor = undefined;
      }
      await sleep(300 + Math.random() * 300);
    }
  } catch (e) {
    await dst.deleteRun(me).catch(() => undefined);
    throw e;
  }
  let lost = false;
  let beats = 0;
  let beating: Promise<unknown> = Promise.resolve();
  const timer = setInterval(
    () => {
      beating = dst.setRunTag(me, RUN_TAG.leaseBeat, String(++beats)).catch(async () => {
        // A failed beat is only a lost lease when the lease run is gone (taken over); a network blip is not.
        const now = await dst.getRun(me).catch((e: Error) => (isNotFound(e) ? undefined : mine));
        if (!now || now.info.lifecycle_stage === "deleted") lost = true;
      });
    },
    Math.max(100, Math.floor(o.timeoutMs / 10)),
  );
  timer.unref();
  return {
    check() {
      if (lost)
        throw migrationError(
          `the lease of this migration on ${o.where} was taken over by another migration after ${o.timeoutMs / 1000} s without a beat; run the migration again`,
        );
    },
    async release() {
      clearInterval(timer);
      await beating;
      await dst.deleteRun(me).catch(() => undefined);
    },
  };
}
