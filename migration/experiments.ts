/**
 * Experiment migration: every active run of an experiment, not only registered versions. Each run's
 * params, full metric histories, tags, status and times, and its whole artifact tree move to a run in the
 * target experiment, with the model engine's guarantees: artifacts streamed through SHA-256, read back and
 * verified, a manifest written and read back; idempotent by source fingerprint (a re-run adds nothing);
 * resumable (a run interrupted part-way is finished, not duplicated). Run IDs change: every target run
 * records its source run, and the report maps one to the other.
 */
import { DEFAULT_RETRY, RetryPolicy } from "../clients/http";
import { Endpoint, Metric, mlflowClient, Run, Tag, tagMap } from "../clients/mlflow";
import { DEFAULT_CONCURRENCY } from "./concurrency";
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
}

/** Tags as they are copied: the run's own, without the provenance of an earlier hop. */
const copiedTags = (run: Run): Tag[] => (run.data.tags ?? []).filter((t) => !t.key.startsWith("quant.migration."));

/** What a run is, for idempotence: a source run whose fingerprint changed is a different run state. */
function fingerprintOf(host: string, run: Run, histories: Map<string, Metric[]>, files: { path: string; size: number }[]): string {
  const sorted = <T extends { key: string }>(xs: T[] | undefined) => [...(xs ?? [])].sort((a, b) => (a.key < b.key ? -1 : 1));
  return sha256(JSON.stringify({
    host, run: run.info.run_id, status: run.info.status, start: run.info.start_time ?? null, end: run.info.end_time ?? null,
    params: sorted(run.data.params).map((p) => [p.key, p.value]), tags: sorted(copiedTags(run)).map((t) => [t.key, t.value]),
    metrics: [...histories].map(([key, h]) => [key, h.length, h.map((m) => [m.step, m.timestamp, m.value])]), files: files.map((f) => [f.path, f.size]),
  }));
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
    sourceHost: o.from.baseUrl, sourceExperiment: o.experiment, sourceExperimentId: exp.experiment_id, targetExperiment: targetName,
    targetExperimentId: undefined, runs: [], warnings: [], files: 0, bytes: 0, dryRun: !!o.dryRun, durationMs: 0,
  };
  const targetExp = await dst.experimentByName(targetName);
  if (targetExp?.lifecycle_stage === "deleted") {
    throw migrationError(`experiment '${targetName}' exists on ${o.to.uri} but is deleted (MLflow keeps the name); restore it there, or pass --to-experiment with another name`);
  }
  const targetExpId = targetExp?.experiment_id ?? (o.dryRun ? undefined : await dst.createExperiment(targetName));
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

  for (const run of runs) {
    const sourceRunId = run.info.run_id;
    const { root: srcRoot, files } = await runFiles(srcT, sourceRunId);
    const bytes = files.reduce((s, f) => s + f.size, 0);
    const histories = await metricHistories(src, run);
    const fingerprint = fingerprintOf(o.from.baseUrl, run, histories, files);
    const metricPoints = [...histories.values()].reduce((s, h) => s + h.length, 0);
    const entry: RunMapping = {
      sourceRunId, targetRunId: undefined, runName: run.info.run_name, status: run.info.status, params: run.data.params?.length ?? 0,
      metricPoints, files: files.length, bytes, outcome: "planned",
    };
    report.runs.push(entry);
    report.files += files.length;
    report.bytes += bytes;
    let target = existing.get(sourceRunId);
    const targetTags = tagMap(target?.data.tags);
    if (target && targetTags[RUN_TAG.complete]) {
      entry.targetRunId = target.info.run_id;
      mapped.set(sourceRunId, target.info.run_id);
      if (targetTags[RUN_TAG.complete] === fingerprint) {
        entry.outcome = "adopted";
        entry.manifestDigest = targetTags[TAG.manifestDigest];
      } else {
        entry.outcome = "conflict";
        entry.problem = `source run ${sourceRunId} changed after it was migrated to run ${target.info.run_id}; the target run was left as it is`;
      }
      continue;
    }
    if (o.dryRun) continue;
    try {
      // A partial target run of an older source state is discarded: it was never complete.
      if (target && targetTags[TAG.fingerprint] !== fingerprint) {
        await dst.deleteRun(target.info.run_id);
        target = undefined;
      }
      entry.outcome = target ? "resumed" : "migrated";
      const parent = tagMap(run.data.tags)["mlflow.parentRunId"];
      const tags: Tag[] = [
        ...copiedTags(run).filter((t) => t.key !== "mlflow.parentRunId"),
        ...(parent ? [{ key: "mlflow.parentRunId", value: mapped.get(parent) ?? parent }, { key: RUN_TAG.sourceParent, value: parent }] : []),
        { key: RUN_TAG.sourceRun, value: sourceRunId },
        { key: RUN_TAG.sourceHost, value: o.from.baseUrl },
        { key: RUN_TAG.sourceExperiment, value: exp.experiment_id },
        { key: TAG.fingerprint, value: fingerprint },
      ];
      target ??= await dst.createRun(targetExpId!, run.info.run_name ?? sourceRunId, run.info.start_time ?? Date.now(), tags);
      const targetRunId = target.info.run_id;
      entry.targetRunId = targetRunId;
      mapped.set(sourceRunId, targetRunId);
      if (tagMap(target.data.tags)[TAG.lineageCopied] !== "true") {
        await copyLineage(src, dst, run, targetRunId, false, histories);
        await dst.setRunTag(targetRunId, TAG.lineageCopied, "true");
      }
      const journalRoot = await dstT.runRoot(targetRunId, JOURNAL_DIR);
      const progress: Progress = { phase: "copying", filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
      const { files: manifestFiles, warnings } = await copyTree({
        srcT, srcRoot, dstT, dstRoot: await dstT.runRoot(targetRunId, ""), journalRoot, listed: files,
        fingerprint, verify: o.verify ?? "full", retry, concurrency: o.concurrency ?? DEFAULT_CONCURRENCY,
        what: (p) => `'${p}' of run ${sourceRunId} (experiment '${o.experiment}')`, tree: `run ${sourceRunId} (target run ${targetRunId})`,
        progress, tell: () => o.onProgress?.({ ...progress, run: sourceRunId }),
      });
      if (warnings.length) {
        entry.warnings = warnings;
        report.warnings.push(...warnings.map((w) => `run ${sourceRunId}: ${w}`));
      }
      const digest = manifestDigest(manifestFiles);
      await writeManifest(dstT, journalRoot, { fingerprint, manifestDigest: digest, source: { host: o.from.baseUrl, experiment: exp.experiment_id, run: sourceRunId }, files: manifestFiles },
        `the manifest of run ${sourceRunId}`, o.to.uri);
      await dst.updateRun(targetRunId, run.info.status, run.info.end_time);
      await dst.setRunTag(targetRunId, TAG.manifestDigest, digest);
      await dst.setRunTag(targetRunId, RUN_TAG.complete, fingerprint);
      entry.manifestDigest = digest;
    } catch (e) {
      entry.outcome = "failed";
      entry.problem = `${(e as Error).message}; run the migration again to resume`;
    }
  }
  report.durationMs = Date.now() - started;
  const failures: ItemFailure[] = report.runs
    .filter((r) => r.outcome === "failed" || r.outcome === "conflict")
    .map((r) => ({ item: r.sourceRunId, outcome: r.outcome as ItemFailure["outcome"], problem: r.outcome === "conflict" ? r.problem! : `run ${r.sourceRunId}: ${r.problem}` }));
  if (failures.length) throw incompleteMigration(`experiment '${o.experiment}' was not migrated completely to ${o.to.uri}`, report.runs.length, report, failures);
  return report;
}
