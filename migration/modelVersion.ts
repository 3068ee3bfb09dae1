/**
 * Model version migration, the engine's entry point for the dynamic provider and the CLI (it knows nothing
 * of Pulumi).
 *
 * Resolve the source version -> guard the move -> list its artifact tree -> copy and verify every file
 * (./treeCopy) -> write and verify a manifest -> only then register the target version (from a target run
 * that carries the source run's params, metric history and tags), wait for READY, copy description, tags,
 * aliases or stage, and record provenance. Idempotent by source fingerprint; resumable from the journal.
 * Also: retire a migrated version, and re-check one in the target (drift).
 */
import { DEFAULT_RETRY, isNotFound, orUndefined, RetryPolicy, sleep } from "../clients/http";
import { Endpoint, mlflowClient, MlflowClient, ModelVersion, RegisteredModel, registryOf, Run, Tag, tagMap } from "../clients/mlflow";
import { DEFAULT_CONCURRENCY } from "./concurrency";
import { migrationError } from "./failure";
import { checkEdge, checkProduction, MigrationGuard, ProductionEvidence } from "./guard";
import { hashFiles, ManifestEntry, manifestDigest } from "./hashing";
import { HOLDS, LifecyclePlan, planLifecycle, REGISTRY_NAME } from "./lifecycle";
import { copyInputs, copyLineage } from "./lineage";
import { movedModelSource, MovedModelSource, sourceModelIdOf } from "./loggedModels";
import { migrationsExperimentFor, originTags, RUN_TAG, RunManifest, TAG, versionFingerprint } from "./provenance";
import { copyTree, JOURNAL_DIR, listTree, Progress, readJson, refuseStoreVerify, VerifyMode, writeManifest } from "./treeCopy";
import { ucVersionRoot } from "./transports/unityCatalog";
import { ArtifactRoot, ArtifactTransport, readWhole } from "./transports/transport";
import { StoreSettings } from "../clients/objectStore";
import { parse as parseYaml } from "yaml";
import { transportFor } from "./transports/transportFor";

export type VersionSelector = { version: string } | { alias: string } | { stage: string };

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
  /**
   * How long to wait for the target version to be READY, and for a concurrent migration of the same source
   * version that registered first to complete.
   */
  readyTimeoutMs?: number;
  /**
   * Stage -> alias, e.g. `{ Production: "champion" }`: between a registry without aliases (a Databricks
   * workspace registry) and one with them (Unity Catalog, an OSS server), the stage becomes that alias and
   * back. OSS -> OSS keeps both and maps nothing.
   */
  stageAliases?: Record<string, string>;
  /** Cloud stores (Unity Catalog, a workspace's signed URLs): part size, single-request limit, parts in flight, endpoints. */
  storeSettings?: Partial<StoreSettings>;
  /**
   * A version whose files are its run's own (`runs:/<run>/<path>`), when that run was migrated already (move:
   * experiments before models): registered from the migrated run, where its files are, instead of copying them
   * again into a run of its own. Not into Unity Catalog, which takes files only at the version's own location.
   */
  reuseMovedRuns?: boolean;
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
  /** The stage and aliases of the target version, and how the source's were carried over (mapped, dropped). */
  lifecycle: LifecyclePlan;
  /** Files found already verified in the target (a resumed run). */
  skippedFiles: number;
  dryRun: boolean;
  plannedFiles?: { path: string; size: number }[];
  /** Problems that did not stop the migration (a progress journal that could not be saved). */
  warnings: string[];
  /** The approval evidence a production promotion was let through on (recorded on the target version too). */
  approval?: ProductionEvidence["approval"];
  /** The consumer's validation and sign-off it was let through on, where the model is validated. */
  validation?: ProductionEvidence["validation"];
  signOff?: ProductionEvidence["signOff"];
  durationMs: number;
  /**
   * Wall time of each phase of this migration, in ms (see Phase). `copy` (which includes the read-back of
   * every file) and `lineage` run at the same time, so the phases add up to more than durationMs.
   */
  phasesMs: Partial<Record<Phase, number>>;
}

/**
 * The phases of a migration, in order: resolve the source version (and guard it), list its files, prepare
 * the target (idempotence check, experiment, target run), copy and verify the files while the lineage is
 * copied, write the manifest, register the version, wait for READY, elect among concurrent migrations, and
 * set aliases, stage and the final tags.
 */
export type Phase =
  "resolve" | "listing" | "prepare" | "copy" | "lineage" | "manifest" | "registration" | "readyWait" | "election" | "lifecycle";

/**
 * How long to wait before the n-th (from 0) poll for READY: 25 ms doubling to 500 ms. Registries that
 * answer READY at once (OSS) or within milliseconds are not kept waiting a fixed half second.
 */
export function readyPollDelayMs(attempt: number): number {
  return Math.min(25 * 2 ** Math.max(0, attempt), 500);
}

/** Records each phase's wall time into `into`. */
function phaseClock(into: Partial<Record<Phase, number>>) {
  return async <T>(phase: Phase, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      into[phase] = Math.round((into[phase] ?? 0) + performance.now() - t0);
    }
  };
}

/** The provenance a production promotion records on the target version: what the guard accepted. */
function evidenceTags(e: ProductionEvidence | undefined): Tag[] {
  if (!e) return [];
  const v = e.validation;
  const s = e.signOff;
  return [
    { key: TAG.approvalKind, value: e.approval.kind },
    { key: TAG.approvalRef, value: e.approval.ref },
    { key: TAG.approvedBy, value: e.approval.approver },
    ...(v
      ? [
          { key: TAG.validationRun, value: v.runId },
          { key: TAG.validatedBy, value: v.by },
          { key: TAG.validationResult, value: `${v.metric} ${v.value} >= ${v.threshold}` },
          { key: TAG.validationData, value: `${v.dataName ?? ""} sha256:${v.dataSha256}` },
        ]
      : []),
    ...(s
      ? [
          { key: TAG.signedOffBy, value: s.signer },
          { key: TAG.signOffRef, value: s.ref },
        ]
      : []),
  ];
}

/** Left in the target when registration failed and the rollback failed too: the user must remove it. */
export interface LeftBehind {
  model: string;
  version: string;
  where: string;
}

const MODEL_DIR = "model";

/** The source version by number, alias or stage; a missing model, version, alias or stage is named. */
export async function resolveVersion(
  src: MlflowClient,
  model: string,
  select: VersionSelector,
  stageAliases: Record<string, string> = {},
): Promise<ModelVersion> {
  const where = src.endpoint.uri;
  const registry = registryOf(src.endpoint);
  // Refused before any call: a workspace registry answers the alias endpoints 404 ENDPOINT_NOT_FOUND.
  if ("alias" in select && !HOLDS[registry].aliases) {
    const stage = Object.entries(stageAliases).find(([, a]) => a === select.alias)?.[0];
    throw migrationError(
      `cannot select model '${model}' by alias '${select.alias}' on ${where}: it is ${REGISTRY_NAME[registry]}, which has no aliases (aliases are a Unity Catalog feature); select the version with --stage${stage ? ` ${stage} (the stage --map-stage maps to '${select.alias}')` : ""} or --version`,
    );
  }
  if ("stage" in select && !HOLDS[registry].stages) {
    throw migrationError(
      `cannot select model '${model}' by stage '${select.stage}' on ${where}: it is ${REGISTRY_NAME[registry]}, which has no stages; select the version with --alias or --version`,
    );
  }
  try {
    if ("version" in select) return await src.getModelVersion(model, select.version);
    if ("alias" in select) return await src.getVersionByAlias(model, select.alias);
    const latest = await src.getLatestByStage(model, select.stage);
    if (!latest.length) throw migrationError(`model '${model}' has no version in stage '${select.stage}' on ${where}`);
    return latest[0];
  } catch (e) {
    // A missing alias is a 400 INVALID_PARAMETER_VALUE "... not found" rather than a 404.
    const aliasMissing =
      "alias" in select && (e as { code?: string }).code === "INVALID_PARAMETER_VALUE" && /not found/i.test((e as Error).message);
    if (!isNotFound(e) && !aliasMissing) throw e;
    if (!(await src.getRegisteredModel(model))) throw migrationError(`model '${model}' does not exist on ${where}`);
    const which =
      "version" in select ? `version ${select.version}` : "alias" in select ? `alias '${select.alias}'` : `stage '${select.stage}'`;
    throw migrationError(`model '${model}' has no ${which} on ${where}`);
  }
}

/**
 * Migrates one model version. Throws when anything fails, with nothing registered in the target; should
 * the rollback of a half-registered version fail too, the error says which version was left behind
 * (`leftBehind`) so it can be deleted: a re-run would otherwise adopt it.
 *
 * The story, one phase a function below: resolve the source version -> guard what the target will not take ->
 * plan (fingerprint, lifecycle, report) -> claim the target -> copy the files and lineage -> register the
 * version -> finish its lifecycle.
 */
export async function migrate(o: MigrateOptions): Promise<MigrationReport> {
  const m = startMigration(o);
  const source = await resolve(m);
  const listed = await guard(m, source);
  const plan = planMigration(m, source, listed);
  if (o.dryRun) return dryRunReport(m, plan);
  const target = await claimTarget(m, source, plan);
  if ("adopted" in target) return target.adopted;
  const outcome = await rollingBack(m, target, async () => {
    const copied = await copy(m, source, plan, target);
    const registered = await register(m, source, plan, target, copied);
    if ("adopted" in registered) return registered;
    await finish(m, plan, target, registered.mine);
    return { copied, mine: registered.mine };
  });
  if ("adopted" in outcome) return outcome.adopted;
  return doneReport(m, plan, target, outcome.copied, outcome.mine);
}

/** What every phase of one migration shares: its options, both registries and stores, its progress and phase clock. */
interface Migration {
  o: MigrateOptions;
  started: number;
  retry: RetryPolicy;
  verify: VerifyMode;
  toModel: string;
  src: MlflowClient;
  dst: MlflowClient;
  srcT: ArtifactTransport;
  dstT: ArtifactTransport;
  ucTarget: boolean;
  progress: Progress;
  tell: () => void;
  phasesMs: Partial<Record<Phase, number>>;
  timed: ReturnType<typeof phaseClock>;
}

/** The source version as resolved: its run, the root of its files, and the evidence a production move rests on. */
interface Source {
  version: ModelVersion;
  run: Run | undefined;
  evidence: ProductionEvidence | undefined;
  srcRoot: ArtifactRoot;
}

type ListedFile = { path: string; size: number };
type ReportBase = Omit<
  MigrationReport,
  "targetVersion" | "targetRunId" | "manifestDigest" | "adopted" | "skippedFiles" | "warnings" | "durationMs" | "phasesMs"
>;

/** What the migration will do, decided before the target is touched. */
interface Plan {
  listed: ListedFile[];
  lifecycle: LifecyclePlan;
  bytesTotal: number;
  /** The source version's identity: every target version and run of this migration carries it. */
  fingerprint: string;
  provenance: Tag[];
  base: ReportBase;
}

/**
 * The target side once claimed: the target run, where the files go and, once registered (first, in Unity
 * Catalog), the target version, which a failure rolls back.
 */
interface Target {
  targetRun: Run;
  targetRunId: string;
  journalRoot: ArtifactRoot;
  /** The target run was created by this migration: it holds no journal yet. */
  fresh: boolean;
  modelRoot: ArtifactRoot;
  created: ModelVersion | undefined;
  /** This migration finalized the Unity Catalog version (another one that resumed it may have instead). */
  finalizedHere: boolean;
  /** The version was registered by an earlier or concurrent attempt and is finished here: it is reported as adopted. */
  finishesLeft?: boolean;
  /** The tags every target version is registered with: the user's, provenance and approval. */
  versionTags: Tag[];
  /**
   * The target run is the source run's migrated run, which holds the version's files under `path` (verified when
   * that run was migrated, or read back here): nothing is copied, and the run itself is left as it is.
   */
  reused?: { path: string; files: ManifestEntry[] };
  /**
   * The version was registered from an MLflow 3 logged model, which moved with its experiment (loggedModels.ts): the
   * target version is registered from that copy, whose files are the version's (see modelFiles).
   */
  fromModel?: MovedModelSource;
}

/** The files as copied and verified, and the manifest digest written for them. */
interface Copied {
  files: ManifestEntry[];
  skippedFiles: number;
  warnings: string[];
  digest: string;
}

/** Sets up one migration: both clients and transports, defaults, progress reporting and the phase clock. */
function startMigration(o: MigrateOptions): Migration {
  const retry = o.retry ?? DEFAULT_RETRY;
  const src = mlflowClient(o.from, retry);
  const dst = mlflowClient(o.to, retry);
  const progress: Progress = { phase: "listing", filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
  const phasesMs: Partial<Record<Phase, number>> = {};
  return {
    o,
    started: Date.now(),
    retry,
    verify: o.verify ?? "full",
    toModel: o.toModel ?? o.model,
    src,
    dst,
    srcT: transportFor(src, o.storeSettings),
    dstT: transportFor(dst, o.storeSettings),
    ucTarget: registryOf(o.to) === "unity-catalog",
    progress,
    tell: () => o.onProgress?.({ ...progress }),
    phasesMs,
    timed: phaseClock(phasesMs),
  };
}

/** Which source version moves (refusing a forbidden edge before any call), its run, its files' root, and its production evidence. */
async function resolve(m: Migration): Promise<Source> {
  const { o, src, srcT, retry } = m;
  if (o.guard) checkEdge(o.guard);
  const source = await m.timed("resolve", async () => {
    const version = await resolveVersion(src, o.model, o.select, o.stageAliases);
    // The run and the download URI are independent reads: asked for at once.
    const [run, downloadUri] = await Promise.all([
      version.run_id ? src.getRun(version.run_id) : undefined,
      src.getDownloadUri(o.model, version.version),
    ]);
    const srcRoot = await srcT.versionRoot(version, downloadUri);
    // The digest of the bytes being promoted, read and hashed only when a validation must be compared with them:
    // a validation of other bytes is refused before anything is written to the target.
    const sourceDigest = async () => manifestDigest(await hashFiles(srcT, srcRoot, await listTree(srcT, srcRoot), o.concurrency));
    const evidence = o.guard
      ? await checkProduction(o.guard, { from: o.from, version, run, select: o.select, retry, sourceDigest })
      : undefined;
    return { version, run, evidence, srcRoot };
  });
  m.tell();
  return source;
}

/** Whether the target can take the version's files at all: refused before anything is copied, naming every file it will not take. */
async function guard(m: Migration, { version, srcRoot }: Source): Promise<ListedFile[]> {
  const { o, srcT, dstT } = m;
  const listed = await m.timed("listing", () => listTree(srcT, srcRoot));
  if (listed.length === 0) throw migrationError(`model '${o.model}' version ${version.version} on ${o.from.uri} has no artifact files`);
  const refused = listed.map((f) => ({ f, why: dstT.refuses(f.path) })).filter((x) => x.why);
  if (refused.length) {
    throw migrationError(
      `cannot migrate model '${o.model}' version ${version.version} to ${o.to.uri}: ${refused.map((x) => `'${x.f.path}' (${x.why})`).join("; ")}; nothing was copied`,
    );
  }
  refuseStoreVerify(dstT, m.verify, o.to.uri);
  if (m.ucTarget)
    await unityCatalogPreflight(srcT, srcRoot, listed, m.toModel, `model '${o.model}' version ${version.version} on ${o.from.uri}`);
  return listed;
}

/** The source's fingerprint (what makes re-runs idempotent), the stage and aliases the target gets, and the report's fixed part. */
function planMigration(m: Migration, { version, run, evidence }: Source, listed: ListedFile[]): Plan {
  const { o } = m;
  const lifecycle = planLifecycle(
    registryOf(o.from),
    registryOf(o.to),
    version.current_stage,
    [...(version.aliases ?? []), ...("alias" in o.select ? [o.select.alias] : [])],
    o.stageAliases,
  );
  const bytesTotal = listed.reduce((s, f) => s + f.size, 0);
  const fingerprint = versionFingerprint(o.from.baseUrl, o.model, version, listed);
  // The immediate source, and the origin every hop carries (who registered and trained it, from which code).
  const provenance: Tag[] = [
    { key: TAG.fingerprint, value: fingerprint },
    { key: TAG.sourceHost, value: o.from.baseUrl },
    { key: TAG.sourceModel, value: o.model },
    { key: TAG.sourceVersion, value: version.version },
    { key: TAG.sourceRun, value: version.run_id ?? "" },
    ...originTags(o.from.baseUrl, version, run?.data.tags),
  ];
  const base: ReportBase = {
    sourceHost: o.from.baseUrl,
    sourceModel: o.model,
    sourceVersion: version.version,
    sourceRunId: version.run_id,
    targetModel: m.toModel,
    files: listed.length,
    bytes: bytesTotal,
    fingerprint,
    lifecycle,
    dryRun: !!o.dryRun,
    ...(evidence ?? {}),
  };
  return { listed, lifecycle, bytesTotal, fingerprint, provenance, base };
}

/** The report of a dry run: what would be copied, with nothing touched in the target. */
function dryRunReport(m: Migration, plan: Plan): MigrationReport {
  return {
    ...plan.base,
    targetVersion: undefined,
    targetRunId: undefined,
    manifestDigest: undefined,
    adopted: false,
    skippedFiles: 0,
    plannedFiles: plan.listed,
    warnings: [],
    durationMs: Date.now() - m.started,
    phasesMs: m.phasesMs,
  };
}

/** The report of a migration that adopted a complete target version of the same source instead of registering its own. */
function adoptedReport(m: Migration, plan: Plan, v: ModelVersion, skipped: number, warnings: string[]): MigrationReport {
  return {
    ...plan.base,
    targetVersion: v.version,
    targetRunId: v.run_id,
    manifestDigest: tagMap(v.tags)[TAG.manifestDigest],
    adopted: true,
    skippedFiles: skipped,
    warnings,
    durationMs: Date.now() - m.started,
    phasesMs: m.phasesMs,
  };
}

/**
 * Whether this source is already migrated (then adopted); otherwise the target run to copy into, and, in Unity
 * Catalog, the pending version whose storage location takes the files.
 *
 * Idempotent, also under concurrency: every version of this fingerprint is a claim, the lowest version number
 * wins (numbers only grow, so a later claim never wins), and only a complete version is adopted.
 */
async function claimTarget(
  m: Migration,
  { version, run, evidence, srcRoot }: Source,
  plan: Plan,
): Promise<Target | { adopted: MigrationReport }> {
  const { o, dst, dstT, toModel } = m;
  const { fingerprint, provenance } = plan;
  // The target run: reused when a previous attempt created it and copied its lineage (resume). One whose
  // lineage is not copied yet may be another migration's, copying it right now: two copies of the same params
  // at once collide, so this migration then takes a run of its own (the election keeps one version).
  const prepareTargetRun = async () => {
    const expId = await dst.ensureExperiment(o.experiment ?? migrationsExperimentFor(o.to.transport));
    const quoted = toModel.replace(/'/g, "\\'");
    const found = (
      await dst.searchRuns([expId], `tags.\`${TAG.fingerprint}\` = '${fingerprint}' and tags.\`${TAG.targetModel}\` = '${quoted}'`)
    ).find((r) => !run || tagMap(r.data.tags)[TAG.lineageCopied] === "true");
    const targetRun =
      found ??
      (await dst.createRun(
        expId,
        `${run?.info.run_name ?? "migrated"} (${o.model} v${version.version})`,
        run?.info.start_time ?? Date.now(),
        [...provenance, { key: TAG.targetModel, value: toModel }],
      ));
    const [runId, uri] = [targetRun.info.run_id, targetRun.info.artifact_uri];
    const [modelRoot, journalRoot] = await Promise.all([dstT.runRoot(runId, MODEL_DIR, uri), dstT.runRoot(runId, JOURNAL_DIR, uri)]);
    return { targetRun, modelRoot, journalRoot, fresh: !found };
  };
  const prepared = await m.timed("prepare", async () => {
    const first = (await claimsOf(dst, toModel, fingerprint))[0];
    if (first && (await completeVersion(dst, first))) return { done: first } as const;
    // Not into Unity Catalog, which takes a version's files only at the version's own storage location.
    const fromModel = m.ucTarget ? undefined : await movedModelOf(m, version, plan.listed);
    const moved = !fromModel && o.reuseMovedRuns && !m.ucTarget && run ? await movedRunOf(m, run, srcRoot, plan.listed) : undefined;
    return { done: undefined, fromModel, ...(moved ?? { ...(await prepareTargetRun()), reused: undefined }) } as const;
  });
  if (prepared.done) {
    m.progress.phase = "done";
    m.tell();
    return { adopted: adoptedReport(m, plan, prepared.done, plan.listed.length, []) };
  }
  const { targetRun, journalRoot } = prepared;
  const targetRunId = targetRun.info.run_id;
  // Approval tags of the source are never copied: the target's record only what this guard verified.
  // The origin tags come with the provenance (taken from the source's own where it is a copy).
  const userTags = (version.tags ?? []).filter((t) => !/^quant\.(migration|approval|origin)\./.test(t.key));
  const versionTags = [...userTags, ...provenance, ...evidenceTags(evidence)];
  const target: Target = {
    targetRun,
    targetRunId,
    journalRoot,
    fresh: prepared.fresh,
    modelRoot: prepared.modelRoot,
    created: undefined,
    finalizedHere: false,
    versionTags: prepared.reused ? [...versionTags, { key: TAG.runPath, value: prepared.reused.path }] : versionTags,
    ...(prepared.reused ? { reused: prepared.reused } : {}),
    ...(prepared.fromModel ? { fromModel: prepared.fromModel } : {}),
  };
  // Unity Catalog takes files only into a pending version, at the storage location it gives: the version is
  // created first (or a pending one left by an interrupted run of this same source is resumed), written,
  // verified, then finalized. Everywhere else the files go into the target run and the version comes last.
  if (m.ucTarget) {
    const created = await m.timed("registration", async () => {
      const pending = (await claimsOf(dst, toModel, fingerprint)).find((v) => v.status === "PENDING_REGISTRATION");
      if (pending) return pending;
      await dst.ensureRegisteredModel(toModel);
      return dst.createModelVersion({
        name: toModel,
        source: srcRoot.model ? srcRoot.path : `${targetRun.info.artifact_uri.replace(/\/+$/, "")}/${MODEL_DIR}`,
        run_id: targetRunId,
        description: version.description,
        tags: [...versionTags, { key: TAG.state, value: "uploading" }],
      });
    });
    target.created = created;
    if (!created.storage_location)
      throw migrationError(`${o.to.uri} gave model '${toModel}' version ${created.version} no storage_location to write its files to`);
    target.modelRoot = ucVersionRoot(toModel, created.version, created.storage_location, true);
  }
  return target;
}

/**
 * The moved copy of the logged model the version was registered from, when it holds the version's files (the same
 * paths at the same sizes; their bytes are compared in modelFiles). Undefined when the version names no logged model,
 * its experiment has not moved, or the copy holds other files: the files are then copied as for any version, and the
 * version is registered from them.
 */
async function movedModelOf(m: Migration, version: ModelVersion, listed: ListedFile[]): Promise<MovedModelSource | undefined> {
  const moved = await movedModelSource(m.o, version);
  if (!moved) return undefined;
  const there = new Map((await listTree(m.dstT, moved.root)).map((f) => [f.path, f.size]));
  return there.size === listed.length && listed.every((f) => there.get(f.path) === f.size) ? moved : undefined;
}

/**
 * The source run's migrated run in the target, when it holds exactly the version's files: complete, migrated from
 * this host, and its manifest lists the version's files (the source's, under the version's path in its run) at
 * their sizes, as the target still lists them. Their digests are the manifest's when that run was migrated with
 * the verification asked for now (or stronger), else the files are read back and hashed here. Undefined when
 * any of that does not hold: the files are then copied as usual.
 */
async function movedRunOf(
  m: Migration,
  run: Run,
  srcRoot: ArtifactRoot,
  listed: ListedFile[],
): Promise<
  | { targetRun: Run; modelRoot: ArtifactRoot; journalRoot: ArtifactRoot; fresh: false; reused: { path: string; files: ManifestEntry[] } }
  | undefined
> {
  const { o, src, dst, srcT, dstT } = m;
  const runId = run.info.run_id;
  if (srcRoot.model || srcRoot.loggedModel || (srcRoot.runId !== undefined && srcRoot.runId !== runId)) return undefined;
  const base = (await srcT.runRoot(runId, "", run.info.artifact_uri)).path;
  const path =
    base === ""
      ? srcRoot.path
      : srcRoot.path === base
        ? ""
        : srcRoot.path.startsWith(`${base}/`)
          ? srcRoot.path.slice(base.length + 1)
          : undefined;
  if (path === undefined || path === JOURNAL_DIR || path.startsWith(`${JOURNAL_DIR}/`)) return undefined;
  const experiment = (await src.searchExperiments()).find((e) => e.experiment_id === run.info.experiment_id);
  const targetExp = experiment && (await dst.experimentByName(experiment.name));
  if (!targetExp) return undefined;
  const quotedHost = o.from.baseUrl.replace(/'/g, "\\'");
  const targetRun = (
    await dst.searchRuns(
      [targetExp.experiment_id],
      `tags.\`${RUN_TAG.sourceRun}\` = '${runId}' and tags.\`${RUN_TAG.sourceHost}\` = '${quotedHost}'`,
    )
  ).find((r) => tagMap(r.data.tags)[RUN_TAG.complete]);
  if (!targetRun) return undefined;
  const uri = targetRun.info.artifact_uri;
  const [modelRoot, journalRoot] = await Promise.all([
    dstT.runRoot(targetRun.info.run_id, path, uri),
    dstT.runRoot(targetRun.info.run_id, JOURNAL_DIR, uri),
  ]);
  const manifest = await readJson<RunManifest>(dstT, journalRoot, "manifest.json");
  if (!manifest) return undefined;
  const prefix = path ? `${path}/` : "";
  const under = new Map(manifest.files.filter((f) => f.path.startsWith(prefix)).map((f) => [f.path.slice(prefix.length), f]));
  const there = new Map((await listTree(dstT, modelRoot)).map((f) => [f.path, f.size]));
  if (under.size !== listed.length || there.size !== listed.length) return undefined;
  if (!listed.every((f) => under.get(f.path)?.size === f.size && there.get(f.path) === f.size)) return undefined;
  const files = listed.map((f) => ({ path: f.path, size: f.size, sha256: under.get(f.path)!.sha256 }));
  // Verified as strongly as asked when the run was migrated; otherwise read back now, and it must match.
  const strength: Record<string, number> = { size: 0, store: 1, full: 2 };
  if ((strength[manifest.verify ?? "size"] ?? 0) < strength[m.verify]) {
    const back = new Map((await hashFiles(dstT, modelRoot, listed, o.concurrency ?? DEFAULT_CONCURRENCY)).map((h) => [h.path, h]));
    if (!files.every((f) => back.get(f.path)?.sha256 === f.sha256 && back.get(f.path)?.size === f.size)) return undefined;
  }
  return { targetRun, modelRoot, journalRoot, fresh: false, reused: { path, files } };
}

/**
 * Runs the copy, register and finish phases; when one of them fails after a target version exists, that version is
 * rolled back (or, if that fails too, named as left behind), and the failure is thrown.
 */
async function rollingBack<T>(m: Migration, target: Target, phases: () => Promise<T>): Promise<T> {
  const { o, dst, toModel } = m;
  try {
    return await phases();
  } catch (e) {
    const created = target.created;
    if (!created) throw e;
    // Unity Catalog: a version another migration of the same source finalized (it resumed this pending one) is
    // theirs to finish, never deleted from under them; a re-run adopts it once complete.
    if (
      m.ucTarget &&
      !target.finalizedHere &&
      (await dst.getModelVersion(toModel, created.version).catch(() => undefined))?.status === "READY"
    )
      throw e;
    // Never leave a half-finished version registered (in Unity Catalog: a pending one); when that fails too,
    // say exactly what is left. It is marked failed first, so that no other migration adopts it or waits for it.
    const marked = await dst.setModelVersionTag(toModel, created.version, TAG.state, "failed").then(
      () => true,
      () => false,
    );
    try {
      await dst.deleteModelVersion(toModel, created.version);
    } catch (r) {
      if (isNotFound(r)) throw e;
      const leftBehind: LeftBehind = { model: toModel, version: created.version, where: o.to.uri };
      const err = e instanceof Error ? e : new Error(String(e));
      throw Object.assign(err, {
        leftBehind,
        message: `${err.message}; the rollback failed too (${(r as Error).message}), so model '${toModel}' version ${created.version} is left registered on ${o.to.uri} without its aliases or stage: delete it before migrating again${marked ? ` (it is tagged ${TAG.state}=failed, so no migration adopts it)` : ", or a re-run waits for it to complete and then fails"}`,
      });
    }
    throw e;
  }
}

/**
 * Copies and verifies every file while the run's lineage is copied, then writes the manifest; refuses a
 * production promotion whose validation was of other bytes. Nothing is registered before this completes.
 */
async function copy(m: Migration, { version, run, evidence, srcRoot }: Source, plan: Plan, target: Target): Promise<Copied> {
  const { o, src, dst, srcT, dstT, toModel, timed } = m;
  const { targetRun, targetRunId, journalRoot, fresh, modelRoot, created, reused, fromModel } = target;
  const { listed, fingerprint } = plan;
  if (reused) {
    // Already in the target with its run, and verified there: the version is registered from it as it is.
    m.progress.filesTotal = m.progress.filesDone = reused.files.length;
    m.progress.bytesTotal = m.progress.bytesDone = plan.bytesTotal;
    m.tell();
    const digest = manifestDigest(reused.files);
    refuseOtherBytes(m, version, evidence, digest);
    return { files: reused.files, skippedFiles: reused.files.length, warnings: [], digest };
  }
  // Lineage and files are copied at once; the version is registered (or, in Unity Catalog, finalized) only
  // after both finished and every file was verified. The lineage tag is set only once the lineage is
  // complete, so a re-run reuses this run (and resumes its files from the journal) only when it is whole.
  const lineageDone =
    run && tagMap(targetRun.data.tags)[TAG.lineageCopied] !== "true"
      ? timed("lineage", async () => {
          await copyInputs(dst, run, targetRunId);
          await copyLineage(src, dst, run, targetRunId, true, undefined, [{ key: TAG.lineageCopied, value: "true" }]);
        })
      : Promise.resolve();
  const copied = timed("copy", () =>
    fromModel
      ? modelFiles(m, version, srcRoot, listed, fromModel)
      : copyTree({
          srcT,
          srcRoot,
          dstT,
          dstRoot: modelRoot,
          journalRoot,
          fresh,
          listed,
          fingerprint,
          verify: m.verify,
          retry: m.retry,
          concurrency: o.concurrency ?? DEFAULT_CONCURRENCY,
          partConcurrency: o.storeSettings?.partConcurrency,
          what: (p) => `'${p}' of model '${o.model}' version ${version.version}`,
          tree: `model '${o.model}' version ${version.version} in ${created ? `${toModel} version ${created.version}` : `run ${targetRunId}`} on ${o.to.uri}`,
          progress: m.progress,
          tell: m.tell,
        }),
  );
  // Both are awaited before either failure is thrown: nothing keeps writing behind the caller's back.
  const [lineageOutcome, copyOutcome] = await Promise.allSettled([lineageDone, copied]);
  if (copyOutcome.status === "rejected") throw copyOutcome.reason;
  if (lineageOutcome.status === "rejected") throw lineageOutcome.reason;
  const { files, skippedFiles, warnings } = copyOutcome.value;

  // The manifest, verified by reading it back, before anything is registered.
  const digest = manifestDigest(files);
  refuseOtherBytes(m, version, evidence, digest);
  await timed("manifest", () =>
    writeManifest(
      dstT,
      journalRoot,
      {
        fingerprint,
        manifestDigest: digest,
        source: { host: o.from.baseUrl, model: o.model, version: version.version, run: version.run_id ?? null },
        ...(created ? { target: { model: toModel, version: created.version, storageLocation: modelRoot.path } } : {}),
        ...(fromModel ? { target: { loggedModel: fromModel.model_id } } : {}),
        files,
      },
      `the manifest of model '${o.model}' version ${version.version}`,
      o.to.uri,
    ),
  );
  return { files, skippedFiles, warnings, digest };
}

/**
 * The version's files where its moved logged model holds them: nothing is written. Its registration names that copy
 * (`models:/<copy>`), so MLflow reads the version's files there; the logged-model move wrote them and verified them
 * with its own manifest, so a copy of the version's own in the migration run would be a second copy of the same bytes
 * that nothing reads, and twice the writes. They are checked here as a copy is: the source's files are read and hashed
 * (the version's manifest, which a production validation is compared with) and, unless `--verify size`, the copy's
 * read back, file by file; any difference fails the migration before anything is registered.
 */
async function modelFiles(
  m: Migration,
  version: ModelVersion,
  srcRoot: ArtifactRoot,
  listed: ListedFile[],
  fromModel: MovedModelSource,
): Promise<{ files: ManifestEntry[]; skippedFiles: number; warnings: string[] }> {
  const { o, srcT, dstT, progress } = m;
  const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
  Object.assign(progress, { phase: "copying", filesTotal: listed.length, bytesTotal: listed.reduce((s, f) => s + f.size, 0) });
  m.tell();
  const [files, back] = await Promise.all([
    hashFiles(srcT, srcRoot, listed, concurrency),
    m.verify === "size" ? undefined : hashFiles(dstT, fromModel.root, listed, concurrency),
  ]);
  const differ = listed.filter(
    (f, i) => files[i].size !== f.size || (back && (back[i].size !== f.size || back[i].sha256 !== files[i].sha256)),
  );
  if (differ.length)
    throw migrationError(
      `model '${o.model}' version ${version.version} on ${o.from.uri} and the logged model it was registered from as moved to ${o.to.uri} (${fromModel.model_id}) hold different bytes at ${differ.map((f) => `'${f.path}'`).join(", ")}; nothing was registered: move the model's experiment again (verify-move names what differs), then this version`,
    );
  Object.assign(progress, { filesDone: files.length, bytesDone: progress.bytesTotal });
  m.tell();
  return { files, skippedFiles: files.length, warnings: [] };
}

/** A validation is of bytes: other bytes (changed after it, or never validated) are not let through. */
function refuseOtherBytes(m: Migration, version: ModelVersion, evidence: ProductionEvidence | undefined, digest: string): void {
  if (evidence?.validation && evidence.validation.manifestDigest !== digest)
    throw migrationError(
      `refusing to promote model '${m.o.model}' version ${version.version} into production environment ${m.o.guard?.toEnv}: the validation run ${evidence.validation.runId} validated other bytes (manifest digest ${evidence.validation.manifestDigest}) than the version holds now (${digest}); validate this version again`,
    );
}

/**
 * Which target version stands for the source: registers (or, in Unity Catalog, finalizes) this one and waits
 * for READY, unless a concurrent migration of the same source got there first; then that one is adopted.
 */
async function register(
  m: Migration,
  { version }: Source,
  plan: Plan,
  target: Target,
  { files, skippedFiles, warnings, digest }: Copied,
): Promise<{ mine: ModelVersion } | { adopted: MigrationReport }> {
  const { o, dst, toModel, timed } = m;
  const { fingerprint } = plan;
  const { targetRun, targetRunId } = target;
  const recordTags: Tag[] = [
    { key: TAG.manifestDigest, value: digest },
    { key: TAG.files, value: String(files.length) },
    { key: TAG.bytes, value: String(plan.bytesTotal) },
    { key: TAG.state, value: "registering" },
  ];

  m.progress.phase = "registering";
  m.tell();
  if (target.created) {
    const pending = target.created;
    target.created = await timed("registration", async () => {
      for (const t of recordTags) await dst.setModelVersionTag(toModel, pending.version, t.key, t.value);
      try {
        const ready = await dst.finalizeModelVersion(toModel, pending.version);
        target.finalizedHere = true;
        return ready;
      } catch (e) {
        // A concurrent migration of the same source resumed this pending version and finalized it first.
        const now = await orUndefined(dst.getModelVersion(toModel, pending.version));
        if (now?.status === "READY") return now;
        throw e;
      }
    });
  } else {
    const registered = await timed("registration", async () => {
      const claims = await claimsOf(dst, toModel, fingerprint);
      const raced = claims[0];
      if (raced && (await completeVersion(dst, raced))) return { raced } as const;
      // A version an earlier attempt registered from this same run with these same files and then left before it
      // was complete (the registration's answer lost, the attempt stopped): it is this migration's to finish.
      const left = claims.find((v) => {
        const t = tagMap(v.tags);
        return v.run_id === targetRunId && t[TAG.state] === "registering" && t[TAG.manifestDigest] === digest;
      });
      if (left) return { raced: undefined, made: left, left: true } as const;
      await dst.ensureRegisteredModel(toModel);
      const made = await dst.createModelVersion({
        name: toModel,
        // From the moved logged model it was registered from (`models:/<copy>`, or its storage location in a workspace
        // registry, with its `model_id`), whose files modelFiles compared; else from the files in the run (which, as
        // created or found, carries its artifact URI).
        source:
          target.fromModel?.source ??
          [targetRun.info.artifact_uri.replace(/\/+$/, ""), target.reused ? target.reused.path : MODEL_DIR].filter(Boolean).join("/"),
        run_id: targetRunId,
        description: version.description,
        tags: [...target.versionTags, ...recordTags],
        ...(target.fromModel ? { model_id: target.fromModel.model_id } : {}),
      });
      return { raced: undefined, made, left: false } as const;
    });
    if (registered.raced) return { adopted: adoptedReport(m, plan, registered.raced, skippedFiles, warnings) };
    target.created = registered.made;
    target.finishesLeft = registered.left;
  }
  const mine = target.created;
  const timeoutMs = o.readyTimeoutMs ?? 300000;
  const deadline = Date.now() + timeoutMs;
  await timed("readyWait", async () => {
    let status = mine.status;
    for (let attempt = 0; status !== "READY"; attempt++) {
      if (status === "FAILED_REGISTRATION")
        throw migrationError(`the target registry failed to register model '${toModel}' version ${mine.version}`);
      if (Date.now() > deadline)
        throw migrationError(`model '${toModel}' version ${mine.version} did not become READY in time (status ${status})`);
      await sleep(readyPollDelayMs(attempt));
      status = (await dst.getModelVersion(toModel, mine.version)).status;
    }
  });
  const winner = await timed("election", () => electVersion(dst, toModel, fingerprint, mine.version, Date.now() + timeoutMs, o.to.uri));
  if (winner) {
    // Another migration of the same source registered first: give this version up and adopt that one. A version
    // already gone was given up by a concurrent migration that took it over as an earlier attempt's leftover.
    await orUndefined(dst.deleteModelVersion(toModel, mine.version));
    // A run of its own is marked superseded; a migrated run the version was registered from is the team's, untouched.
    if (winner.run_id !== targetRunId && !target.reused) {
      await dst.setRunTag(targetRunId, TAG.supersededBy, `${toModel} version ${winner.version}`);
      await dst.setRunTag(targetRunId, TAG.fingerprint, `${fingerprint}:superseded`);
      await dst.updateRun(targetRunId, "KILLED", Date.now());
    }
    m.progress.phase = "done";
    m.tell();
    return { adopted: adoptedReport(m, plan, winner, skippedFiles, warnings) };
  }
  return { mine };
}

/** Makes the registered version complete: its aliases and stage, the finished run, and last the state tag other migrations wait on. */
async function finish(m: Migration, plan: Plan, target: Target, mine: ModelVersion): Promise<void> {
  const { dst, toModel } = m;
  const { targetRunId } = target;
  await m.timed("lifecycle", async () => {
    // The run is finished alongside the aliases and stage (independent writes, both awaited); the state tag
    // comes last, since it is what makes the version complete for every other migration.
    const settled = await Promise.allSettled([
      (async () => {
        for (const alias of plan.lifecycle.aliases) await dst.setAlias(toModel, alias, mine.version);
        if (plan.lifecycle.stage) await dst.transitionStage(toModel, mine.version, plan.lifecycle.stage);
      })(),
      // A migrated run the version was registered from keeps the status its source run has.
      target.reused ? Promise.resolve() : dst.updateRun(targetRunId, "FINISHED", Date.now()),
    ]);
    for (const s of settled) if (s.status === "rejected") throw s.reason;
    await dst.setModelVersionTag(toModel, mine.version, TAG.state, "complete");
  });
}

/** The report of a migration that registered its own version, once that version is complete. */
function doneReport(m: Migration, plan: Plan, target: Target, copied: Copied, mine: ModelVersion): MigrationReport {
  m.progress.phase = "done";
  m.tell();
  return {
    ...plan.base,
    targetVersion: mine.version,
    targetRunId: target.targetRunId,
    manifestDigest: copied.digest,
    adopted: !!target.finishesLeft,
    skippedFiles: copied.skippedFiles,
    warnings: copied.warnings,
    durationMs: Date.now() - m.started,
    phasesMs: m.phasesMs,
  };
}

/** Unity Catalog's three-part model name: catalog.schema.model. */
export const UC_NAME = /^[^.\s/]+\.[^.\s/]+\.[^.\s/]+$/;

/**
 * What Unity Catalog will not take, refused before anything is copied: a name that is not three-part, and a
 * model without a signature (MLflow's Unity Catalog client refuses to register one). The message names the fix.
 */
export async function unityCatalogPreflight(
  srcT: ArtifactTransport,
  srcRoot: ArtifactRoot,
  listed: { path: string }[],
  toModel: string,
  what: string,
): Promise<void> {
  if (!UC_NAME.test(toModel))
    throw migrationError(
      `cannot migrate ${what} into Unity Catalog as '${toModel}': Unity Catalog names models <catalog>.<schema>.<model>; pass --to-model <catalog>.<schema>.${toModel.split(".").pop()} (the stack's registry catalog and schema)`,
    );
  if (!listed.some((f) => f.path === "MLmodel"))
    throw migrationError(
      `cannot migrate ${what} into Unity Catalog: it has no MLmodel file at its root, so it is not an MLflow model Unity Catalog can register`,
    );
  const mlmodel = await readText(srcT, srcRoot, "MLmodel");
  let doc: { signature?: { inputs?: unknown; outputs?: unknown } } | undefined;
  try {
    doc = parseYaml(mlmodel) as typeof doc;
  } catch (e) {
    throw migrationError(`cannot migrate ${what} into Unity Catalog: its MLmodel file is not valid YAML (${(e as Error).message})`);
  }
  if (!doc?.signature?.inputs || !doc.signature.outputs)
    throw migrationError(
      `cannot migrate ${what} into Unity Catalog: the model has no signature (Unity Catalog requires both input and output signatures); log it again with one (mlflow.<flavor>.log_model(..., signature=mlflow.models.infer_signature(inputs, outputs)) or input_example=...), register that version, and migrate it`,
    );
}

async function readText(t: ArtifactTransport, root: ArtifactRoot, path: string): Promise<string> {
  return (await readWhole(t, root, path)).toString("utf8");
}

/** Versions of `model` claiming this fingerprint (not failed), lowest version number first. */
async function claimsOf(dst: MlflowClient, model: string, fingerprint: string): Promise<ModelVersion[]> {
  if (!(await dst.getRegisteredModel(model))) return [];
  return (await dst.listVersions(model))
    .filter((v) => {
      const t = tagMap(v.tags);
      return t[TAG.fingerprint] === fingerprint && t[TAG.state] !== "failed" && v.status !== "FAILED_REGISTRATION";
    })
    .sort((a, b) => Number(a.version) - Number(b.version));
}

/**
 * A version is complete when its migration set the state tag last; one migrated before that tag existed,
 * when its target run FINISHED (a version left by a failed rollback never is).
 */
async function completeVersion(dst: MlflowClient, v: ModelVersion): Promise<boolean> {
  const state = tagMap(v.tags)[TAG.state];
  if (state !== undefined) return state === "complete";
  if (!v.run_id) return false;
  return (await orUndefined(dst.getRun(v.run_id)))?.info.status === "FINISHED";
}

/**
 * The election among concurrent migrations of one source version: undefined when `mine` is the lowest
 * claim (it wins); otherwise the winner, once it is complete. A winner that disappears (its migration
 * failed and removed it) is replaced by the next lowest claim.
 */
async function electVersion(
  dst: MlflowClient,
  model: string,
  fingerprint: string,
  mine: string,
  deadline: number,
  where: string,
): Promise<ModelVersion | undefined> {
  for (;;) {
    const lower = (await claimsOf(dst, model, fingerprint)).filter((v) => Number(v.version) < Number(mine));
    if (!lower.length) return undefined;
    if (await completeVersion(dst, lower[0])) return lower[0];
    if (Date.now() > deadline) {
      throw migrationError(
        `model '${model}' version ${lower[0].version} on ${where} was registered from the same source by another migration, which did not complete it in time; if no migration is running, it was left by one that stopped: delete it and migrate again`,
      );
    }
    await sleep(500);
  }
}

/**
 * Retires a migrated version: archived (aliases removed, stage Archived where the registry has stages,
 * its fingerprint retired so a later migration copies afresh), or deleted when `hardDelete`. Idempotent: a
 * version already retired (by the replacement that superseded it) is written to no further.
 */
export async function retireVersion(
  to: Endpoint,
  model: string,
  version: string,
  hardDelete: boolean,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<void> {
  const dst = mlflowClient(to, retry);
  const v = await orUndefined(dst.getModelVersion(model, version));
  if (v) await retire(dst, v, hardDelete);
}

async function retire(dst: MlflowClient, v: ModelVersion, hardDelete: boolean): Promise<void> {
  const { name: model, version } = v;
  if (hardDelete) return void (await dst.deleteModelVersion(model, version));
  const holds = HOLDS[registryOf(dst.endpoint)];
  if (holds.aliases) for (const alias of v.aliases ?? []) await dst.deleteAlias(model, alias);
  if (holds.stages && v.current_stage !== "Archived") await dst.transitionStage(model, version, "Archived");
  await retireFingerprint(dst, v);
}

/** Marks a version's fingerprint (and its run's) retired: no migration adopts it or resumes into its run again. */
async function retireFingerprint(dst: MlflowClient, v: ModelVersion): Promise<void> {
  const fp = tagMap(v.tags)[TAG.fingerprint];
  if (!fp || fp.endsWith(":retired")) return;
  await dst.setModelVersionTag(v.name, v.version, TAG.fingerprint, `${fp}:retired`);
  if (v.run_id) await dst.setRunTag(v.run_id, TAG.fingerprint, `${fp}:retired`);
}

/**
 * On a promoted version: the deployment that holds it (a ModelMigration resource's `deployment`), or
 * `released:<model> version <n>` once a later deployment let it go. A replaced resource's delete retires its
 * version only while this still names that resource, so a replacement that adopted the same version, or left a
 * version that had moved on in place, is not undone by the delete that follows it. Bookkeeping, never evidence.
 */
export const DEPLOYMENT_TAG = "quant.migration.deployment";

/** A promotion's version once it is registered and complete, and what the promotion gives it. */
export interface Deployment {
  /** The target model, and the version this deployment holds. */
  model: string;
  version: string;
  /** The promotion's source, as the provenance tags of every version it placed name it. */
  sourceHost: string;
  sourceModel: string;
  /** The stage and aliases the promotion gives its version (the migration's lifecycle plan). */
  lifecycle: Pick<LifecyclePlan, "stage" | "aliases">;
  /** Written to the version as DEPLOYMENT_TAG. */
  id: string;
}

/** The places a version holds in its registry: its stage (None and Archived are none) and its aliases. */
const placesOf = (stage: string | undefined, aliases: string[]) => [
  ...(stage && stage !== "None" && stage !== "Archived" ? [`stage ${stage}`] : []),
  ...aliases.map((a) => `alias ${a}`),
];

/**
 * Makes a complete version the promotion's deployed one, and only then lets its predecessors go. An adopted
 * version (a replacement that did not change the content) gets the aliases the promotion gives that it lacks, and
 * its stage if it has none; a stage it was moved to since is left as it is. Every other version this promotion
 * placed (same source, by its provenance tags) that holds no place but the ones the promotion gives is
 * superseded: retired (archived, never deleted here). One that was moved elsewhere since (into Production by a
 * release manager, another alias) is someone's decision: it is released, tagged so, and left where it is.
 * Versions of the same source still being migrated (not complete) are left alone. Idempotent.
 */
export async function takeOver(
  to: Endpoint,
  d: Deployment,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<{ retired: string[]; released: string[] }> {
  const dst = mlflowClient(to, retry);
  const holds = HOLDS[registryOf(to)];
  const mine = await dst.getModelVersion(d.model, d.version);
  if (holds.aliases)
    for (const alias of d.lifecycle.aliases) if (!(mine.aliases ?? []).includes(alias)) await dst.setAlias(d.model, alias, d.version);
  if (holds.stages && d.lifecycle.stage && (!mine.current_stage || mine.current_stage === "None"))
    await dst.transitionStage(d.model, d.version, d.lifecycle.stage);
  const given = new Set(placesOf(d.lifecycle.stage, d.lifecycle.aliases));
  const retired: string[] = [];
  const released: string[] = [];
  for (const found of await dst.listVersions(d.model)) {
    const f = tagMap(found.tags);
    if (found.version === d.version || f[TAG.sourceHost] !== d.sourceHost || f[TAG.sourceModel] !== d.sourceModel) continue;
    // Read whole: a search of versions leaves their aliases out on an OSS server.
    const v = await dst.getModelVersion(d.model, found.version);
    const t = tagMap(v.tags);
    if (t[TAG.state] !== undefined && t[TAG.state] !== "complete") continue;
    const held = placesOf(v.current_stage, v.aliases ?? []);
    const live = !!t[TAG.fingerprint] && !t[TAG.fingerprint].endsWith(":retired");
    if (!held.length && !live) continue;
    if (held.every((p) => given.has(p))) {
      await retire(dst, v, false);
      retired.push(v.version);
    } else if (!t[DEPLOYMENT_TAG]?.startsWith("released:")) {
      await dst.setModelVersionTag(d.model, v.version, DEPLOYMENT_TAG, `released:${d.model} version ${d.version}`);
      released.push(v.version);
    }
  }
  await dst.setModelVersionTag(d.model, d.version, DEPLOYMENT_TAG, d.id);
  return { retired, released };
}

/**
 * What a deployment's delete does: retires its version (retireVersion) while the version is still the
 * deployment's (DEPLOYMENT_TAG names it, or names nobody: versions deployed before the tag existed). A version a
 * later deployment took over (adopted, or released after it moved on) is left as it is.
 */
export async function retireDeployed(
  to: Endpoint,
  model: string,
  version: string,
  deployment: string | undefined,
  hardDelete: boolean,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<"retired" | "gone" | "taken over"> {
  const dst = mlflowClient(to, retry);
  const v = await orUndefined(dst.getModelVersion(model, version));
  if (!v) return "gone";
  const holder = tagMap(v.tags)[DEPLOYMENT_TAG];
  if (holder !== undefined && holder !== deployment) return "taken over";
  await retire(dst, v, hardDelete);
  return "retired";
}

/** Where each alias of a target model points: what a create that fails must leave as it found it (restoreAliases). */
export async function aliasHolders(to: Endpoint, model: string, retry: RetryPolicy = DEFAULT_RETRY): Promise<Record<string, string>> {
  if (!HOLDS[registryOf(to)].aliases) return {};
  // The registered model lists its aliases (a search of its versions leaves them out on an OSS server).
  const found = (await mlflowClient(to, retry).getRegisteredModel(model)) as { registered_model?: RegisteredModel } | undefined;
  return Object.fromEntries((found?.registered_model?.aliases ?? []).map((a) => [a.alias, String(a.version)]));
}

/**
 * After a failed migration: the aliases it had moved onto its own version (finish sets them before the version is
 * complete), which the rollback deleted or left incomplete, point at the versions they pointed at before again. An
 * alias that now points at another complete version, or at a version not migrated by the engine, was moved by
 * someone else meanwhile and is left. Returns the aliases put back.
 */
export async function restoreAliases(
  to: Endpoint,
  model: string,
  before: Record<string, string>,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<string[]> {
  if (!Object.keys(before).length) return [];
  const dst = mlflowClient(to, retry);
  const now = await aliasHolders(to, model, retry);
  const restored: string[] = [];
  for (const [alias, version] of Object.entries(before)) {
    const at = now[alias];
    if (at === version) continue;
    if (at !== undefined) {
      const state = tagMap((await orUndefined(dst.getModelVersion(model, at)))?.tags)[TAG.state];
      if (state === undefined || state === "complete") continue;
    }
    if (!(await orUndefined(dst.getModelVersion(model, version)))) continue;
    await dst.setAlias(model, alias, version);
    restored.push(alias);
  }
  return restored;
}

/**
 * Sets a damaged version aside: its fingerprint retired, so that the next migration of its source copies afresh
 * instead of adopting it, while it keeps its stage and aliases until that copy is complete (takeOver retires it).
 */
export async function setAsideVersion(to: Endpoint, model: string, version: string, retry: RetryPolicy = DEFAULT_RETRY): Promise<void> {
  const dst = mlflowClient(to, retry);
  const v = await orUndefined(dst.getModelVersion(model, version));
  if (v) await retireFingerprint(dst, v);
}

/** What checkTarget found: the version's state, and every way its files differ from its manifest. */
export interface TargetCheck {
  exists: boolean;
  aliases: string[];
  stage: string | undefined;
  manifestDigest: string | undefined;
  problems: string[];
}

/** Re-checks a migrated version in the target: it exists, its aliases, and its files by size or hash. */
export async function checkTarget(
  to: Endpoint,
  model: string,
  version: string,
  verify: VerifyMode,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<TargetCheck> {
  const dst = mlflowClient(to, retry);
  let v: ModelVersion;
  try {
    v = await dst.getModelVersion(model, version);
  } catch (e) {
    if (isNotFound(e))
      return {
        exists: false,
        aliases: [],
        stage: undefined,
        manifestDigest: undefined,
        problems: [`model '${model}' version ${version} no longer exists on ${to.uri}`],
      };
    throw e;
  }
  const t = transportFor(dst);
  const problems: string[] = [];
  const recorded = tagMap(v.tags)[TAG.manifestDigest];
  if (v.run_id) {
    // Registered from a migrated run (move): the run's manifest, under the version's path in it.
    const runPath = tagMap(v.tags)[TAG.runPath];
    const read = await readJson<{ files: ManifestEntry[] }>(t, await t.runRoot(v.run_id, JOURNAL_DIR), "manifest.json");
    const prefix = runPath ? `${runPath}/` : "";
    const manifest =
      read && runPath !== undefined
        ? { files: read.files.filter((f) => f.path.startsWith(prefix)).map((f) => ({ ...f, path: f.path.slice(prefix.length) })) }
        : read;
    if (!manifest) problems.push(`the manifest of model '${model}' version ${version} is missing`);
    else {
      // Unity Catalog keeps the files at the version's storage location; a version registered from a moved logged
      // model has the model's (where its download URI points); elsewhere they are in the run.
      const root =
        registryOf(to) === "unity-catalog" && v.storage_location
          ? ucVersionRoot(model, version, v.storage_location, false)
          : sourceModelIdOf(v)
            ? await t.versionRoot(v, await dst.getDownloadUri(model, version))
            : await t.runRoot(v.run_id, runPath ?? MODEL_DIR);
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
