/**
 * The model migration engine. Knows nothing of Pulumi: the dynamic provider and the CLI both call it.
 *
 * Resolve the source version -> list its artifact tree -> stream every file through SHA-256 into the
 * target (bounded memory, N files in parallel, retries) -> verify each file by reading it back -> write
 * and verify a manifest -> only then register the target version (from a target run that carries the
 * source run's params, metric history and tags), wait for READY, copy description, tags, aliases or
 * stage, and record provenance. Idempotent by source fingerprint; resumable from a progress journal.
 */
import { createHash } from "crypto";
import { Readable, Transform } from "stream";
import { DEFAULT_RETRY, httpError, isRetryable, RetryPolicy, sleep, withRetry } from "../clients/http";
import { Endpoint, isNotFound, Metric, mlflowClient, MlflowClient, ModelVersion, Run, Tag, tagMap } from "../clients/mlflow";
import { ArtifactRoot, ArtifactTransport } from "./transports/transport";
import { mlflowArtifactsTransport } from "./transports/mlflowArtifacts";
import { databricksTransport } from "./transports/databricks";
import { Edge, isEdge, allowedTargets } from "../plan/flow";

export type VersionSelector = { version: string } | { alias: string } | { stage: string };
export type VerifyMode = "full" | "size";

export interface ManifestEntry { path: string; size: number; sha256: string }

export interface MigrationGuard {
  flow: Edge[];
  fromEnv: string;
  toEnv: string;
  /** Promotion into production needs an approval by someone other than the version's author. */
  production: boolean;
  /** Who holds an approving role (emails or user names as the registry records them). */
  approvers: string[];
}

export interface Progress {
  phase: "listing" | "copying" | "registering" | "done";
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface MigrateOptions {
  from: Endpoint;
  to: Endpoint;
  model: string;
  select: VersionSelector;
  toModel?: string;
  concurrency?: number;
  verify?: VerifyMode;
  dryRun?: boolean;
  guard?: MigrationGuard;
  /** Target experiment that holds the migration runs. */
  experiment?: string;
  retry?: RetryPolicy;
  onProgress?: (p: Progress) => void;
  /** How long to wait for the target version to be READY. */
  readyTimeoutMs?: number;
}

export interface MigrationReport {
  sourceHost: string;
  sourceModel: string;
  sourceVersion: string;
  sourceRunId: string | undefined;
  targetModel: string;
  targetVersion: string | undefined;
  targetRunId: string | undefined;
  files: number;
  bytes: number;
  manifestDigest: string | undefined;
  fingerprint: string;
  adopted: boolean;
  /** Files found already verified in the target (a resumed run). */
  skippedFiles: number;
  dryRun: boolean;
  plannedFiles?: { path: string; size: number }[];
  durationMs: number;
}

export const TAG = {
  fingerprint: "quant.migration.fingerprint",
  targetModel: "quant.migration.target_model",
  sourceHost: "quant.migration.source_host",
  sourceModel: "quant.migration.source_model",
  sourceVersion: "quant.migration.source_version",
  sourceRun: "quant.migration.source_run_id",
  manifestDigest: "quant.migration.manifest_digest",
  files: "quant.migration.files",
  bytes: "quant.migration.bytes",
  lineageCopied: "quant.migration.lineage_copied",
  approvedBy: "quant.approval.approved_by",
} as const;

/** Files in flight at once: enough to hide per-request latency, few enough to keep memory flat. */
export const DEFAULT_CONCURRENCY = 8;

const MODEL_DIR = "model";
/** Where the progress journal and manifest of a migrated version or run live: never copied, never compared. */
export const JOURNAL_DIR = "_migration";
const DEFAULT_EXPERIMENT = "quant-platform-migrations";

export const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

/** The digest of a manifest: sha256 of its canonical JSON (files sorted by path). */
export function manifestDigest(files: ManifestEntry[]): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sha256(JSON.stringify(sorted.map((f) => [f.path, f.size, f.sha256])));
}

/** Chooses the artifact transport once, from the endpoint. */
export function transportFor(client: MlflowClient): ArtifactTransport {
  return client.endpoint.transport === "databricks" ? databricksTransport(client) : mlflowArtifactsTransport(client);
}

/** A migration that cannot start or must stop: nothing has been registered in the target. */
export function migrationError(message: string): Error {
  return Object.assign(new Error(message), { migration: true });
}

/** A pass-through that hashes and counts, and fails when the stream is not exactly `expected` bytes. */
function hashTap(expected: number, what: string): Transform & { digest(): string; count(): number } {
  const h = createHash("sha256");
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > expected) return cb(httpError(0, `${what}: the source sent more than the ${expected} bytes it listed`, true));
      h.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      cb(n === expected ? null : httpError(0, `${what}: the source stream ended after ${n} of ${expected} bytes (truncated)`, true));
    },
  });
  return Object.assign(t, { digest: () => h.digest("hex"), count: () => n });
}

/** Hashes a whole stream. */
export async function hashStream(body: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of body) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest("hex"), size };
}

/** Reads and hashes the given files of a tree, a few at a time; entries come back in the order given. */
export async function hashFiles(t: ArtifactTransport, root: ArtifactRoot, files: { path: string }[], concurrency = 4): Promise<ManifestEntry[]> {
  const out = new Map<string, ManifestEntry>();
  await pool(files, concurrency, async (f) => {
    const h = await hashStream((await t.download(root, f.path)).body);
    out.set(f.path, { path: f.path, size: h.size, sha256: h.sha256 });
  });
  return files.map((f) => out.get(f.path)!);
}

/** Lists a tree recursively (listings are one level deep), a few directories at a time. */
export async function listTree(t: ArtifactTransport, root: ArtifactRoot): Promise<{ path: string; size: number }[]> {
  const files: { path: string; size: number }[] = [];
  let dirs = [""];
  while (dirs.length) {
    const next: string[] = [];
    for (let i = 0; i < dirs.length; i += 8) {
      const listings = await Promise.all(dirs.slice(i, i + 8).map((d) => t.list(root, d)));
      for (const entries of listings) {
        for (const e of entries) {
          if (e.isDir) next.push(e.path);
          else files.push({ path: e.path, size: e.size ?? 0 });
        }
      }
    }
    dirs = next;
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++];
      try { await fn(item); } catch (e) { failed ??= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}

async function resolveVersion(src: MlflowClient, model: string, select: VersionSelector): Promise<ModelVersion> {
  const where = src.endpoint.uri;
  try {
    if ("version" in select) return await src.getModelVersion(model, select.version);
    if ("alias" in select) return await src.getVersionByAlias(model, select.alias);
    const latest = await src.getLatestByStage(model, select.stage);
    if (!latest.length) throw migrationError(`model '${model}' has no version in stage '${select.stage}' on ${where}`);
    return latest[0];
  } catch (e) {
    // A missing alias is a 400 INVALID_PARAMETER_VALUE "... not found" rather than a 404.
    const aliasMissing = "alias" in select && (e as { code?: string }).code === "INVALID_PARAMETER_VALUE" && /not found/i.test((e as Error).message);
    if (!isNotFound(e) && !aliasMissing) throw e;
    if (!(await src.getRegisteredModel(model))) throw migrationError(`model '${model}' does not exist on ${where}`);
    const which = "version" in select ? `version ${select.version}` : "alias" in select ? `alias '${select.alias}'` : `stage '${select.stage}'`;
    throw migrationError(`model '${model}' has no ${which} on ${where}`);
  }
}

/** Who authored a version: the registry's user_id, else the user who ran the source run. */
function authorOf(version: ModelVersion, run: Run | undefined): string | undefined {
  return version.user_id || tagMap(run?.data.tags)["mlflow.user"] || undefined;
}

/** The source -> target environments must be a promotion edge: checked before any request. */
function checkEdge(g: MigrationGuard): void {
  if (!isEdge(g.flow, g.fromEnv, g.toEnv)) {
    const allowed = allowedTargets(g.flow, g.fromEnv);
    throw migrationError(`refusing to migrate from ${g.fromEnv} to ${g.toEnv}: not an edge of the promotion flow (allowed from ${g.fromEnv}: ${allowed.join(", ") || "none"})`);
  }
}

/** Into production, the version needs an approval by an approver who is not its author. */
function checkApproval(g: MigrationGuard, version: ModelVersion, author?: string): void {
  if (!g.production) return;
  const approver = tagMap(version.tags)[TAG.approvedBy];
  const who = `model '${version.name}' version ${version.version}`;
  if (!approver) throw migrationError(`refusing to promote ${who} into production environment ${g.toEnv}: it has no approval tag ${TAG.approvedBy}`);
  if (author && approver.toLowerCase() === author.toLowerCase()) {
    throw migrationError(`refusing to promote ${who} into production environment ${g.toEnv}: it was approved by its own author ${approver}; another approver must sign off`);
  }
  if (!g.approvers.map((a) => a.toLowerCase()).includes(approver.toLowerCase())) {
    throw migrationError(`refusing to promote ${who} into production environment ${g.toEnv}: approver ${approver} does not hold an approving role`);
  }
}

/** Every metric's full history of a run, by key (sorted). */
export async function metricHistories(src: MlflowClient, run: Run): Promise<Map<string, Metric[]>> {
  const keys = [...new Set((run.data.metrics ?? []).map((m) => m.key))].sort();
  const out = new Map<string, Metric[]>();
  for (const key of keys) out.set(key, await src.metricHistory(run.info.run_id, key));
  return out;
}

/**
 * Params, full metric histories and tags of the source run, copied onto the target run. `histories`, when
 * the caller has read them already, saves reading them again.
 */
export async function copyLineage(src: MlflowClient, dst: MlflowClient, run: Run, targetRunId: string, copyTags = true, histories?: Map<string, Metric[]>): Promise<void> {
  const params = run.data.params ?? [];
  for (let i = 0; i < params.length; i += 100) await dst.logBatch(targetRunId, { params: params.slice(i, i + 100) });
  for (const [key, history] of histories ?? await metricHistories(src, run)) {
    for (let i = 0; i < history.length; i += 1000) {
      await dst.logBatch(targetRunId, { metrics: history.slice(i, i + 1000).map((m) => ({ key, value: m.value, timestamp: m.timestamp, step: m.step })) });
    }
  }
  if (!copyTags) return;
  const tags = (run.data.tags ?? []).filter((t) => !t.key.startsWith("mlflow.") || t.key === "mlflow.note.content");
  for (let i = 0; i < tags.length; i += 100) await dst.logBatch(targetRunId, { tags: tags.slice(i, i + 100) });
}

export async function readJson<T>(t: ArtifactTransport, root: ArtifactRoot, path: string): Promise<T | undefined> {
  try {
    const { body } = await t.download(root, path);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as T;
  } catch (e) {
    if (isNotFound(e) || (e as { status?: number }).status === 404) return undefined;
    throw e;
  }
}

async function writeJson(t: ArtifactTransport, root: ArtifactRoot, path: string, value: unknown): Promise<string> {
  const buf = Buffer.from(JSON.stringify(value, null, 2));
  await t.upload(root, path, Readable.from([buf]), buf.length);
  return sha256(buf);
}

/** What copyTree needs: both sides, the listed source files, and where the progress journal lives. */
export interface TreeCopyOptions {
  srcT: ArtifactTransport;
  srcRoot: ArtifactRoot;
  dstT: ArtifactTransport;
  dstRoot: ArtifactRoot;
  journalRoot: ArtifactRoot;
  listed: { path: string; size: number }[];
  fingerprint: string;
  verify: VerifyMode;
  retry: RetryPolicy;
  concurrency: number;
  /** Names a file in messages. */
  what: (path: string) => string;
  progress?: Progress;
  tell?: () => void;
}

/**
 * Streams every listed file through SHA-256 into the target, N at a time, and verifies each by reading it
 * back (full hash or listed size). Resumes from the journal: a file counts as done only while the journal
 * has it and the target still holds a file of that size. Returns the manifest entries in listing order.
 */
export async function copyTree(o: TreeCopyOptions): Promise<{ files: ManifestEntry[]; skippedFiles: number }> {
  const { srcT, srcRoot, dstT, dstRoot, journalRoot, listed, fingerprint, verify, retry } = o;
  const progress = o.progress ?? { phase: "copying", filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
  const tell = o.tell ?? (() => undefined);
  const journal = new Map<string, ManifestEntry>();
  for (const e of (await readJson<{ files: ManifestEntry[] }>(dstT, journalRoot, "progress.json"))?.files ?? []) journal.set(e.path, e);
  const present = journal.size ? new Map((await listTree(dstT, dstRoot)).map((f) => [f.path, f.size])) : new Map<string, number>();
  const verified = new Map<string, ManifestEntry>();
  for (const f of listed) {
    const j = journal.get(f.path);
    if (j && j.size === f.size && present.get(f.path) === f.size) verified.set(f.path, j);
  }
  const skippedFiles = verified.size;

  progress.phase = "copying";
  progress.filesTotal = listed.length;
  progress.bytesTotal = listed.reduce((s, f) => s + f.size, 0);
  progress.filesDone = verified.size;
  progress.bytesDone = [...verified.values()].reduce((s, f) => s + f.size, 0);
  tell();

  // The journal is rewritten every 2 s, or after a tenth of the files (at least 8), whichever comes first, in
  // the background: workers never wait for it. A crash loses little; and with thousands of small files the
  // growing journal is not uploaded more often than the files themselves.
  const every = Math.max(8, Math.ceil(listed.length / 10));
  let journalWritten = Date.now();
  let journalCount = verified.size;
  let journalWrite: Promise<unknown> = Promise.resolve();
  const saveJournal = (force: boolean) => {
    if (!force && verified.size === journalCount) return journalWrite;
    if (!force && Date.now() - journalWritten < 2000 && verified.size - journalCount < every) return journalWrite;
    journalWritten = Date.now();
    journalCount = verified.size;
    const snapshot = [...verified.values()];
    journalWrite = journalWrite.then(() => writeJson(dstT, journalRoot, "progress.json", { fingerprint, files: snapshot })).catch(() => undefined);
    return journalWrite;
  };

  const copyOne = async (f: { path: string; size: number }) => {
    const what = o.what(f.path);
    const entry = await withRetry(retry, async () => {
      const { body, length } = await srcT.download(srcRoot, f.path);
      if (length !== undefined && length !== f.size) {
        body.destroy();
        throw httpError(0, `${what}: the source now serves ${length} bytes, but listed ${f.size}`, true);
      }
      const tap = hashTap(f.size, what);
      body.on("error", (e) => tap.destroy(e));
      body.pipe(tap);
      await dstT.upload(dstRoot, f.path, tap, f.size);
      const sha = tap.digest();
      if (verify === "full") {
        const back = await hashStream((await dstT.download(dstRoot, f.path)).body);
        if (back.size !== f.size || back.sha256 !== sha) {
          throw httpError(0, `${what}: verification failed: the target holds ${back.size} bytes with sha256 ${back.sha256.slice(0, 12)}…, expected ${f.size} bytes with ${sha.slice(0, 12)}…`, true);
        }
      } else {
        const dir = f.path.includes("/") ? f.path.slice(0, f.path.lastIndexOf("/")) : "";
        const listedBack = (await dstT.list(dstRoot, dir)).find((e) => e.path === f.path);
        if (listedBack?.size !== f.size) throw httpError(0, `${what}: verification failed: the target lists ${listedBack?.size ?? "no file"} bytes, expected ${f.size}`, true);
      }
      return { path: f.path, size: f.size, sha256: sha };
    });
    verified.set(f.path, entry);
    progress.filesDone++;
    progress.bytesDone += f.size;
    tell();
    void saveJournal(false);
  };
  try {
    await pool(listed.filter((f) => !verified.has(f.path)), o.concurrency, copyOne);
  } finally {
    await saveJournal(true);
  }
  return { files: listed.map((f) => verified.get(f.path)!), skippedFiles };
}

/** Writes a manifest and reads it back: it must arrive intact before anything is registered. */
export async function writeManifest(t: ArtifactTransport, journalRoot: ArtifactRoot, manifest: unknown, what: string, where: string): Promise<void> {
  const written = await writeJson(t, journalRoot, "manifest.json", manifest);
  const back = await readJson<unknown>(t, journalRoot, "manifest.json");
  if (!back || sha256(Buffer.from(JSON.stringify(back, null, 2))) !== written) throw migrationError(`${what} did not read back intact from ${where}`);
}

/** Migrates one model version. Throws (with nothing registered in the target) when anything fails. */
export async function migrate(o: MigrateOptions): Promise<MigrationReport> {
  const started = Date.now();
  const retry = o.retry ?? DEFAULT_RETRY;
  const verify = o.verify ?? "full";
  const toModel = o.toModel ?? o.model;
  const src = mlflowClient(o.from, retry);
  const dst = mlflowClient(o.to, retry);
  const srcT = transportFor(src);
  const dstT = transportFor(dst);
  const progress: Progress = { phase: "listing", filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
  const tell = () => o.onProgress?.({ ...progress });

  if (o.guard) checkEdge(o.guard);
  const version = await resolveVersion(src, o.model, o.select);
  const run = version.run_id ? await src.getRun(version.run_id) : undefined;
  if (o.guard) checkApproval(o.guard, version, authorOf(version, run));
  const srcRoot = await srcT.versionRoot(version, await src.getDownloadUri(o.model, version.version));
  tell();
  const listed = await listTree(srcT, srcRoot);
  if (listed.length === 0) throw migrationError(`model '${o.model}' version ${version.version} on ${o.from.uri} has no artifact files`);
  const refused = listed.map((f) => ({ f, why: dstT.refuses(f.path) })).filter((x) => x.why);
  if (refused.length) {
    throw migrationError(`cannot migrate model '${o.model}' version ${version.version} to ${o.to.uri}: ${refused.map((x) => `'${x.f.path}' (${x.why})`).join("; ")}; nothing was copied`);
  }
  const bytesTotal = listed.reduce((s, f) => s + f.size, 0);
  const fingerprint = sha256(JSON.stringify({
    host: o.from.baseUrl, model: o.model, version: version.version, run: version.run_id ?? null,
    created: version.creation_timestamp ?? null, files: listed.map((f) => [f.path, f.size]),
  }));
  const base: Omit<MigrationReport, "targetVersion" | "targetRunId" | "manifestDigest" | "adopted" | "skippedFiles" | "durationMs"> = {
    sourceHost: o.from.baseUrl, sourceModel: o.model, sourceVersion: version.version, sourceRunId: version.run_id,
    targetModel: toModel, files: listed.length, bytes: bytesTotal, fingerprint, dryRun: !!o.dryRun,
  };
  if (o.dryRun) {
    return { ...base, targetVersion: undefined, targetRunId: undefined, manifestDigest: undefined, adopted: false, skippedFiles: 0, plannedFiles: listed, durationMs: Date.now() - started };
  }

  // Idempotent: a version already migrated from the same source is adopted, never duplicated.
  const existing = async () => (await dst.getRegisteredModel(toModel))
    ? (await dst.listVersions(toModel)).find((v) => tagMap(v.tags)[TAG.fingerprint] === fingerprint && v.status !== "FAILED_REGISTRATION")
    : undefined;
  const adopted = (v: ModelVersion, skipped: number): MigrationReport => ({
    ...base, targetVersion: v.version, targetRunId: v.run_id, manifestDigest: tagMap(v.tags)[TAG.manifestDigest],
    adopted: true, skippedFiles: skipped, durationMs: Date.now() - started,
  });
  const found = await existing();
  if (found) {
    progress.phase = "done";
    tell();
    return adopted(found, listed.length);
  }

  // The target run: reused when a previous attempt created it (resume), so lineage is copied once.
  const experiment = o.experiment ?? DEFAULT_EXPERIMENT;
  const expId = (await dst.experimentByName(experiment))?.experiment_id ?? (await dst.createExperiment(experiment));
  const provenance: Tag[] = [
    { key: TAG.fingerprint, value: fingerprint },
    { key: TAG.sourceHost, value: o.from.baseUrl },
    { key: TAG.sourceModel, value: o.model },
    { key: TAG.sourceVersion, value: version.version },
    { key: TAG.sourceRun, value: version.run_id ?? "" },
  ];
  const quoted = toModel.replace(/'/g, "\\'");
  let targetRun = (await dst.searchRuns([expId], `tags.\`${TAG.fingerprint}\` = '${fingerprint}' and tags.\`${TAG.targetModel}\` = '${quoted}'`))[0];
  targetRun ??= await dst.createRun(expId, `${run?.info.run_name ?? "migrated"} (${o.model} v${version.version})`, run?.info.start_time ?? Date.now(),
    [...provenance, { key: TAG.targetModel, value: toModel }]);
  const targetRunId = targetRun.info.run_id;
  if (run && tagMap(targetRun.data.tags)[TAG.lineageCopied] !== "true") {
    await copyLineage(src, dst, run, targetRunId);
    await dst.setRunTag(targetRunId, TAG.lineageCopied, "true");
  }

  const modelRoot = await dstT.runRoot(targetRunId, MODEL_DIR);
  const journalRoot = await dstT.runRoot(targetRunId, JOURNAL_DIR);
  const { files, skippedFiles } = await copyTree({
    srcT, srcRoot, dstT, dstRoot: modelRoot, journalRoot, listed, fingerprint, verify, retry, concurrency: o.concurrency ?? DEFAULT_CONCURRENCY,
    what: (p) => `'${p}' of model '${o.model}' version ${version.version}`, progress, tell,
  });

  // The manifest, verified by reading it back, before anything is registered.
  const digest = manifestDigest(files);
  await writeManifest(dstT, journalRoot, { fingerprint, manifestDigest: digest, source: { host: o.from.baseUrl, model: o.model, version: version.version, run: version.run_id ?? null }, files },
    `the manifest of model '${o.model}' version ${version.version}`, o.to.uri);

  progress.phase = "registering";
  tell();
  const raced = await existing();
  if (raced) return adopted(raced, skippedFiles);
  if (!(await dst.getRegisteredModel(toModel))) {
    try { await dst.createRegisteredModel(toModel); } catch (e) { if ((e as { code?: string }).code !== "RESOURCE_ALREADY_EXISTS") throw e; }
  }
  const targetRunInfo = await dst.getRun(targetRunId);
  const userTags = (version.tags ?? []).filter((t) => !t.key.startsWith("quant.migration."));
  const created = await dst.createModelVersion({
    name: toModel,
    source: `${targetRunInfo.info.artifact_uri.replace(/\/+$/, "")}/${MODEL_DIR}`,
    run_id: targetRunId,
    description: version.description,
    tags: [...userTags, ...provenance, { key: TAG.manifestDigest, value: digest }, { key: TAG.files, value: String(files.length) }, { key: TAG.bytes, value: String(bytesTotal) }],
  });
  try {
    const deadline = Date.now() + (o.readyTimeoutMs ?? 300000);
    let status = created.status;
    while (status !== "READY") {
      if (status === "FAILED_REGISTRATION") throw migrationError(`the target registry failed to register model '${toModel}' version ${created.version}`);
      if (Date.now() > deadline) throw migrationError(`model '${toModel}' version ${created.version} did not become READY in time (status ${status})`);
      await sleep(500);
      status = (await dst.getModelVersion(toModel, created.version)).status;
    }
    for (const alias of version.aliases ?? []) await dst.setAlias(toModel, alias, created.version);
    if ("alias" in o.select && !(version.aliases ?? []).includes(o.select.alias)) await dst.setAlias(toModel, o.select.alias, created.version);
    if (version.current_stage && version.current_stage !== "None") await dst.transitionStage(toModel, created.version, version.current_stage);
    await dst.updateRun(targetRunId, "FINISHED", Date.now());
  } catch (e) {
    // Never leave a half-finished version registered.
    await dst.deleteModelVersion(toModel, created.version).catch(() => undefined);
    throw e;
  }
  progress.phase = "done";
  tell();
  return { ...base, targetVersion: created.version, targetRunId, manifestDigest: digest, adopted: false, skippedFiles, durationMs: Date.now() - started };
}

/**
 * Retires a migrated version: archived (aliases removed, stage Archived where the registry has stages,
 * its fingerprint retired so a later migration copies afresh), or deleted when `hardDelete`.
 */
export async function retireVersion(to: Endpoint, model: string, version: string, hardDelete: boolean, retry: RetryPolicy = DEFAULT_RETRY): Promise<void> {
  const dst = mlflowClient(to, retry);
  let v: ModelVersion;
  try { v = await dst.getModelVersion(model, version); } catch (e) { if (isNotFound(e)) return; throw e; }
  if (hardDelete) return void (await dst.deleteModelVersion(model, version));
  for (const alias of v.aliases ?? []) await dst.deleteAlias(model, alias);
  try { await dst.transitionStage(model, version, "Archived"); } catch (e) { if (!isNotFound(e) && (e as { status?: number }).status !== 400) throw e; }
  const fp = tagMap(v.tags)[TAG.fingerprint];
  if (fp && !fp.endsWith(":retired")) {
    await dst.setModelVersionTag(model, version, TAG.fingerprint, `${fp}:retired`);
    if (v.run_id) await dst.setRunTag(v.run_id, TAG.fingerprint, `${fp}:retired`);
  }
}

/** Re-checks a migrated version in the target: it exists, its aliases, and its files by size or hash. */
export async function checkTarget(to: Endpoint, model: string, version: string, verify: VerifyMode, retry: RetryPolicy = DEFAULT_RETRY): Promise<{
  exists: boolean; aliases: string[]; stage: string | undefined; manifestDigest: string | undefined; problems: string[];
}> {
  const dst = mlflowClient(to, retry);
  let v: ModelVersion;
  try { v = await dst.getModelVersion(model, version); } catch (e) {
    if (isNotFound(e)) return { exists: false, aliases: [], stage: undefined, manifestDigest: undefined, problems: [`model '${model}' version ${version} no longer exists on ${to.uri}`] };
    throw e;
  }
  const t = transportFor(dst);
  const problems: string[] = [];
  const recorded = tagMap(v.tags)[TAG.manifestDigest];
  if (v.run_id) {
    const manifest = await readJson<{ files: ManifestEntry[] }>(t, await t.runRoot(v.run_id, JOURNAL_DIR), "manifest.json");
    if (!manifest) problems.push(`the manifest of model '${model}' version ${version} is missing`);
    else {
      const root = await t.runRoot(v.run_id, MODEL_DIR);
      const actual = new Map((await listTree(t, root)).map((f) => [f.path, f.size]));
      const sized = manifest.files.filter((f) => actual.get(f.path) === f.size);
      const hashed = new Map(verify === "full" ? (await hashFiles(t, root, sized)).map((h) => [h.path, h.sha256]) : []);
      for (const f of manifest.files) {
        if (actual.get(f.path) !== f.size) problems.push(`'${f.path}': expected ${f.size} bytes, found ${actual.get(f.path) ?? "no file"}`);
        else if (verify === "full" && hashed.get(f.path) !== f.sha256) problems.push(`'${f.path}': sha256 differs from the manifest`);
      }
      if (manifestDigest(manifest.files) !== recorded) problems.push("the manifest digest differs from the version's provenance tag");
    }
  }
  return { exists: true, aliases: v.aliases ?? [], stage: v.current_stage, manifestDigest: recorded, problems };
}

export { isRetryable };
