/**
 * Experiment migration: every active run of an experiment, not only registered versions. Each run's
 * params, full metric histories, tags, status and times, and its whole artifact tree move to a run in the
 * target experiment, with the model engine's guarantees: artifacts streamed through SHA-256, read back and
 * verified, a manifest written and read back; idempotent by source fingerprint (a re-run adds nothing);
 * resumable (a run interrupted part-way is finished, not duplicated). Run IDs change: every target run
 * records its source run, and the report maps one to the other.
 */
import { DEFAULT_RETRY, RetryPolicy, sleep } from "../clients/http";
import { Endpoint, Metric, mlflowClient, MlflowClient, Run, Tag, tagMap } from "../clients/mlflow";
import { DEFAULT_CONCURRENCY, forEachLimited, mapLimited } from "./concurrency";
import { incompleteMigration, ItemFailure, migrationError } from "./failure";
import { manifestDigest, sha256 } from "./hashing";
import { copyLineage, metricHistories } from "./lineage";
import { RUN_TAG, TAG } from "./provenance";
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
   * How long to wait for a concurrent migration that claimed a run first; after that its claim counts as
   * abandoned and this migration resumes the run (default 10 minutes).
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
  const runs = await src.allRuns([exp.experiment_id]);

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

  // Target runs already tied to a source run of this host, found once.
  const existing = new Map<string, Run>();
  if (targetExpId) {
    for (const r of await dst.allRuns([targetExpId])) {
      const t = tagMap(r.data.tags);
      if (t[RUN_TAG.sourceHost] === o.from.baseUrl && t[RUN_TAG.sourceRun]) existing.set(t[RUN_TAG.sourceRun], r);
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
  const finished = new Map<string, Promise<void>>();
  const done = new Map<string, () => void>();
  for (const r of runs) finished.set(r.info.run_id, new Promise<void>((resolve) => done.set(r.info.run_id, resolve)));

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
    const known = existing.get(sourceRunId);
    if (known && tagMap(known.data.tags)[RUN_TAG.complete]) {
      adopt(known);
      return;
    }
    if (o.dryRun) return;
    let claim: Run | undefined;
    let target: Run | undefined;
    try {
      const parent = parentOf(run);
      if (parent) await finished.get(parent);
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
      ];
      const claimed = await claimTargetRun(
        dst,
        targetExpId!,
        sourceRunId,
        o.from.baseUrl,
        () =>
          dst.createRun(targetExpId!, run.info.run_name ?? sourceRunId, run.info.start_time ?? Date.now(), [
            ...tags,
            { key: RUN_TAG.claim, value: "choosing" },
          ]),
        o.claimTimeoutMs ?? 600000,
        o.to.uri,
      );
      if ("adopt" in claimed) {
        adopt(claimed.adopt);
        return;
      }
      claim = claimed.claim;
      target = claimed.resume;
      // A partial target run of an older source state is discarded: it was never complete.
      if (target && tagMap(target.data.tags)[TAG.fingerprint] !== fingerprint) {
        await dst.deleteRun(target.info.run_id);
        target = undefined;
      }
      entry.outcome = target ? "resumed" : "migrated";
      target ??= claim;
      const targetRunId = target.info.run_id;
      entry.targetRunId = targetRunId;
      mapped.set(sourceRunId, targetRunId);
      // The lineage's last batch carries the tag that says it is whole (a batch is one write).
      if (tagMap(target.data.tags)[TAG.lineageCopied] !== "true")
        await copyLineage(src, dst, run, targetRunId, false, histories, [{ key: TAG.lineageCopied, value: "true" }]);
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
        },
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
      // The claim was only a ticket when an earlier partial run was resumed instead.
      if (claim && claim.info.run_id !== targetRunId) await dst.deleteRun(claim.info.run_id);
    } catch (e) {
      entry.outcome = "failed";
      entry.problem = `${(e as Error).message}; run the migration again to resume`;
      // Give the claim up, so that a concurrent or later migration resumes the run instead of waiting for it.
      if (claim) {
        await (target === claim ? dst.setRunTag(claim.info.run_id, RUN_TAG.claim, "failed") : dst.deleteRun(claim.info.run_id)).catch(
          (r: Error) => {
            entry.problem += ` (its claim ${claim?.info.run_id} could not be released: ${r.message}; another migration takes it over after the claim timeout)`;
          },
        );
      }
    }
  };
  await forEachLimited(order, runsAtOnce, async ({ i }) => {
    try {
      await migrateRun(i);
    } finally {
      done.get(runs[i].info.run_id)!();
    }
  });
  report.runs.push(...entries);
  report.durationMs = Date.now() - started;
  const failures: ItemFailure[] = report.runs
    .filter((r) => r.outcome === "failed" || r.outcome === "conflict")
    .map((r) => ({
      item: r.sourceRunId,
      outcome: r.outcome as ItemFailure["outcome"],
      problem: r.outcome === "conflict" ? r.problem! : `run ${r.sourceRunId}: ${r.problem}`,
    }));
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
 * One target run per source run, whatever number of migrations run at once. MLflow has no lock and run ids
 * have no order, so the migrations draw tickets (Lamport's bakery): each creates a claim run (ticket
 * `choosing`), reads the highest ticket of the source run's claims, takes the next number, then waits until
 * no claim is still choosing; the lowest (ticket, run id) wins. A claim created after a winner read the
 * claims draws a higher ticket, so every migration elects the same winner. The winner migrates (resuming an
 * earlier partial run when there is one, else into its claim); the others wait for a complete run, adopt it
 * and delete their claims. A winner that fails marks its claim `failed` (resumable); one that stops without
 * a word is taken over after `timeoutMs`.
 */
async function claimTargetRun(
  dst: MlflowClient,
  expId: string,
  sourceRunId: string,
  host: string,
  create: () => Promise<Run>,
  timeoutMs: number,
  where: string,
): Promise<{ adopt: Run } | { claim: Run; resume: Run | undefined }> {
  const forSource = () =>
    dst.allRuns(
      [expId],
      `tags.\`${RUN_TAG.sourceRun}\` = '${sourceRunId}' and tags.\`${RUN_TAG.sourceHost}\` = '${host.replace(/'/g, "\\'")}'`,
    );
  const complete = (rs: Run[]) => rs.find((r) => tagMap(r.data.tags)[RUN_TAG.complete]);
  const ticketOf = (r: Run) => tagMap(r.data.tags)[RUN_TAG.claim];
  const numbered = (r: Run) => /^\d+$/.test(ticketOf(r) ?? "");
  // No search first: the caller adopts a complete run it already listed, and one completed since is found below.
  const claim = await create();
  const me = claim.info.run_id;
  const drawn = 1 + Math.max(0, ...(await forSource()).filter(numbered).map((r) => Number(ticketOf(r))));
  await dst.setRunTag(me, RUN_TAG.claim, String(drawn));
  let waitingFor: string | undefined;
  let since = 0;
  for (;;) {
    const rs = await forSource();
    const done = complete(rs);
    if (done) {
      await dst.deleteRun(me);
      return { adopt: done };
    }
    const choosing = rs.find((r) => r.info.run_id !== me && ticketOf(r) === "choosing");
    const live = rs.filter(numbered).sort((a, b) => Number(ticketOf(a)) - Number(ticketOf(b)) || (a.info.run_id < b.info.run_id ? -1 : 1));
    if (!live.some((r) => r.info.run_id === me))
      throw migrationError(
        `run ${sourceRunId}: the claim ${me} of this migration in ${where} was given up by another migration that took it for abandoned; run the migration again`,
      );
    if (!choosing && live[0].info.run_id === me) {
      const resume = rs.filter((r) => r.info.run_id !== me && (ticketOf(r) === undefined || ticketOf(r) === "failed"))[0];
      return { claim, resume };
    }
    const blocker = choosing?.info.run_id ?? live[0].info.run_id;
    if (blocker !== waitingFor) {
      waitingFor = blocker;
      since = Date.now();
    }
    if (Date.now() - since > timeoutMs) {
      // Abandoned (its migration stopped without a word): make it resumable, and elect again.
      await dst.setRunTag(blocker, RUN_TAG.claim, "failed");
      waitingFor = undefined;
    }
    await sleep(300 + Math.random() * 300);
  }
}
