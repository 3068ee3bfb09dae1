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
import { Endpoint, mlflowClient, MlflowClient, ModelVersion, registryOf, Tag, tagMap } from "../clients/mlflow";
import { DEFAULT_CONCURRENCY } from "./concurrency";
import { migrationError } from "./failure";
import { checkEdge, checkProduction, MigrationGuard, ProductionEvidence } from "./guard";
import { hashFiles, ManifestEntry, manifestDigest, sha256 } from "./hashing";
import { HOLDS, LifecyclePlan, planLifecycle, REGISTRY_NAME } from "./lifecycle";
import { copyLineage } from "./lineage";
import { TAG } from "./provenance";
import { copyTree, JOURNAL_DIR, listTree, Progress, readJson, refuseStoreVerify, VerifyMode, writeManifest } from "./treeCopy";
import { ucVersionRoot } from "./transports/unityCatalog";
import { ArtifactRoot, ArtifactTransport } from "./transports/transport";
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
const DEFAULT_EXPERIMENT = "quant-platform-migrations";

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
 */
export async function migrate(o: MigrateOptions): Promise<MigrationReport> {
  const started = Date.now();
  const retry = o.retry ?? DEFAULT_RETRY;
  const verify = o.verify ?? "full";
  const toModel = o.toModel ?? o.model;
  const src = mlflowClient(o.from, retry);
  const dst = mlflowClient(o.to, retry);
  const srcT = transportFor(src, o.storeSettings);
  const dstT = transportFor(dst, o.storeSettings);
  const ucTarget = registryOf(o.to) === "unity-catalog";
  const progress: Progress = { phase: "listing", filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
  const tell = () => o.onProgress?.({ ...progress });
  const phasesMs: Partial<Record<Phase, number>> = {};
  const timed = phaseClock(phasesMs);

  if (o.guard) checkEdge(o.guard);
  const { version, run, evidence, srcRoot } = await timed("resolve", async () => {
    const version = await resolveVersion(src, o.model, o.select, o.stageAliases);
    // The run and the download URI are independent reads: asked for at once.
    const [run, downloadUri] = await Promise.all([
      version.run_id ? src.getRun(version.run_id) : undefined,
      src.getDownloadUri(o.model, version.version),
    ]);
    const evidence = o.guard ? await checkProduction(o.guard, { from: o.from, version, run, select: o.select, retry }) : undefined;
    return { version, run, evidence, srcRoot: await srcT.versionRoot(version, downloadUri) };
  });
  tell();
  const listed = await timed("listing", () => listTree(srcT, srcRoot));
  if (listed.length === 0) throw migrationError(`model '${o.model}' version ${version.version} on ${o.from.uri} has no artifact files`);
  const refused = listed.map((f) => ({ f, why: dstT.refuses(f.path) })).filter((x) => x.why);
  if (refused.length) {
    throw migrationError(
      `cannot migrate model '${o.model}' version ${version.version} to ${o.to.uri}: ${refused.map((x) => `'${x.f.path}' (${x.why})`).join("; ")}; nothing was copied`,
    );
  }
  refuseStoreVerify(dstT, verify, o.to.uri);
  if (ucTarget)
    await unityCatalogPreflight(srcT, srcRoot, listed, toModel, `model '${o.model}' version ${version.version} on ${o.from.uri}`);
  const lifecycle = planLifecycle(
    registryOf(o.from),
    registryOf(o.to),
    version.current_stage,
    [...(version.aliases ?? []), ...("alias" in o.select ? [o.select.alias] : [])],
    o.stageAliases,
  );
  const bytesTotal = listed.reduce((s, f) => s + f.size, 0);
  const fingerprint = sha256(
    JSON.stringify({
      host: o.from.baseUrl,
      model: o.model,
      version: version.version,
      run: version.run_id ?? null,
      created: version.creation_timestamp ?? null,
      files: listed.map((f) => [f.path, f.size]),
    }),
  );
  const base: Omit<
    MigrationReport,
    "targetVersion" | "targetRunId" | "manifestDigest" | "adopted" | "skippedFiles" | "warnings" | "durationMs" | "phasesMs"
  > = {
    sourceHost: o.from.baseUrl,
    sourceModel: o.model,
    sourceVersion: version.version,
    sourceRunId: version.run_id,
    targetModel: toModel,
    files: listed.length,
    bytes: bytesTotal,
    fingerprint,
    lifecycle,
    dryRun: !!o.dryRun,
    ...(evidence ?? {}),
  };
  if (o.dryRun) {
    return {
      ...base,
      targetVersion: undefined,
      targetRunId: undefined,
      manifestDigest: undefined,
      adopted: false,
      skippedFiles: 0,
      plannedFiles: listed,
      warnings: [],
      durationMs: Date.now() - started,
      phasesMs,
    };
  }

  // Idempotent, also under concurrency: every version of this fingerprint is a claim, the lowest version
  // number wins (numbers only grow, so a later claim never wins), and only a complete version is adopted.
  const claims = () => claimsOf(dst, toModel, fingerprint);
  const isComplete = (v: ModelVersion) => completeVersion(dst, v);
  const adopted = (v: ModelVersion, skipped: number, warnings: string[]): MigrationReport => ({
    ...base,
    targetVersion: v.version,
    targetRunId: v.run_id,
    manifestDigest: tagMap(v.tags)[TAG.manifestDigest],
    adopted: true,
    skippedFiles: skipped,
    warnings,
    durationMs: Date.now() - started,
    phasesMs,
  });
  const provenance: Tag[] = [
    { key: TAG.fingerprint, value: fingerprint },
    { key: TAG.sourceHost, value: o.from.baseUrl },
    { key: TAG.sourceModel, value: o.model },
    { key: TAG.sourceVersion, value: version.version },
    { key: TAG.sourceRun, value: version.run_id ?? "" },
  ];
  // The target run: reused when a previous attempt created it and copied its lineage (resume). One whose
  // lineage is not copied yet may be another migration's, copying it right now: two copies of the same params
  // at once collide, so this migration then takes a run of its own (the election below keeps one version).
  const prepareTargetRun = async () => {
    const expId = await dst.ensureExperiment(o.experiment ?? DEFAULT_EXPERIMENT);
    const quoted = toModel.replace(/'/g, "\\'");
    let targetRun = (
      await dst.searchRuns([expId], `tags.\`${TAG.fingerprint}\` = '${fingerprint}' and tags.\`${TAG.targetModel}\` = '${quoted}'`)
    ).find((r) => !run || tagMap(r.data.tags)[TAG.lineageCopied] === "true");
    targetRun ??= await dst.createRun(
      expId,
      `${run?.info.run_name ?? "migrated"} (${o.model} v${version.version})`,
      run?.info.start_time ?? Date.now(),
      [...provenance, { key: TAG.targetModel, value: toModel }],
    );
    const runId = targetRun.info.run_id;
    const [modelRoot, journalRoot] = await Promise.all([dstT.runRoot(runId, MODEL_DIR), dstT.runRoot(runId, JOURNAL_DIR)]);
    return { targetRun, modelRoot, journalRoot };
  };
  const prepared = await timed("prepare", async () => {
    const first = (await claims())[0];
    if (first && (await isComplete(first))) return { done: first } as const;
    return { done: undefined, ...(await prepareTargetRun()) } as const;
  });
  if (prepared.done) {
    progress.phase = "done";
    tell();
    return adopted(prepared.done, listed.length, []);
  }
  const { targetRun, journalRoot } = prepared;
  const targetRunId = targetRun.info.run_id;
  // Approval tags of the source are never copied: the target's record only what this guard verified.
  const userTags = (version.tags ?? []).filter((t) => !t.key.startsWith("quant.migration.") && !t.key.startsWith("quant.approval."));
  const approvalTags = evidenceTags(evidence);

  // Unity Catalog takes files only into a pending version, at the storage location it gives: the version is
  // created first (or a pending one left by an interrupted run of this same source is resumed), written,
  // verified, then finalized. Everywhere else the files go into the target run and the version comes last.
  let created: ModelVersion | undefined;
  let finalizedHere = false;
  let modelRoot = prepared.modelRoot;
  if (ucTarget) {
    created = await timed("registration", async () => {
      const pending = (await claims()).find((v) => v.status === "PENDING_REGISTRATION");
      if (pending) return pending;
      await dst.ensureRegisteredModel(toModel);
      return dst.createModelVersion({
        name: toModel,
        source: srcRoot.model ? srcRoot.path : `${targetRun.info.artifact_uri.replace(/\/+$/, "")}/${MODEL_DIR}`,
        run_id: targetRunId,
        description: version.description,
        tags: [...userTags, ...provenance, ...approvalTags, { key: TAG.state, value: "uploading" }],
      });
    });
    if (!created.storage_location)
      throw migrationError(`${o.to.uri} gave model '${toModel}' version ${created.version} no storage_location to write its files to`);
    modelRoot = ucVersionRoot(toModel, created.version, created.storage_location, true);
  }

  const timeoutMs = o.readyTimeoutMs ?? 300000;
  let skippedFiles = 0;
  let warnings: string[] = [];
  let digest = "";
  try {
    // Lineage and files are copied at once; the version is registered (or, in Unity Catalog, finalized) only
    // after both finished and every file was verified. The lineage tag is set only once the lineage is
    // complete, so a re-run reuses this run (and resumes its files from the journal) only when it is whole.
    const lineageDone =
      run && tagMap(targetRun.data.tags)[TAG.lineageCopied] !== "true"
        ? timed("lineage", async () => {
            await copyLineage(src, dst, run, targetRunId);
            await dst.setRunTag(targetRunId, TAG.lineageCopied, "true");
          })
        : Promise.resolve();
    const copied = timed("copy", () =>
      copyTree({
        srcT,
        srcRoot,
        dstT,
        dstRoot: modelRoot,
        journalRoot,
        listed,
        fingerprint,
        verify,
        retry,
        concurrency: o.concurrency ?? DEFAULT_CONCURRENCY,
        partConcurrency: o.storeSettings?.partConcurrency,
        what: (p) => `'${p}' of model '${o.model}' version ${version.version}`,
        tree: `model '${o.model}' version ${version.version} in ${created ? `${toModel} version ${created.version}` : `run ${targetRunId}`} on ${o.to.uri}`,
        progress,
        tell,
      }),
    );
    // Both are awaited before either failure is thrown: nothing keeps writing behind the caller's back.
    const [lineageOutcome, copyOutcome] = await Promise.allSettled([lineageDone, copied]);
    if (copyOutcome.status === "rejected") throw copyOutcome.reason;
    if (lineageOutcome.status === "rejected") throw lineageOutcome.reason;
    const { files } = copyOutcome.value;
    ({ skippedFiles, warnings } = copyOutcome.value);

    // The manifest, verified by reading it back, before anything is registered.
    digest = manifestDigest(files);
    // A validation is of bytes: other bytes (changed after it, or never validated) are not let through.
    if (evidence?.validation && evidence.validation.manifestDigest !== digest)
      throw migrationError(
        `refusing to promote model '${o.model}' version ${version.version} into production environment ${o.guard?.toEnv}: the validation run ${evidence.validation.runId} validated other bytes (manifest digest ${evidence.validation.manifestDigest}) than the version holds now (${digest}); validate this version again`,
      );
    await timed("manifest", () =>
      writeManifest(
        dstT,
        journalRoot,
        {
          fingerprint,
          manifestDigest: digest,
          source: { host: o.from.baseUrl, model: o.model, version: version.version, run: version.run_id ?? null },
          ...(created ? { target: { model: toModel, version: created.version, storageLocation: modelRoot.path } } : {}),
          files,
        },
        `the manifest of model '${o.model}' version ${version.version}`,
        o.to.uri,
      ),
    );
    const recordTags: Tag[] = [
      { key: TAG.manifestDigest, value: digest },
      { key: TAG.files, value: String(files.length) },
      { key: TAG.bytes, value: String(bytesTotal) },
      { key: TAG.state, value: "registering" },
    ];

    progress.phase = "registering";
    tell();
    if (created) {
      const pending = created;
      created = await timed("registration", async () => {
        for (const t of recordTags) await dst.setModelVersionTag(toModel, pending.version, t.key, t.value);
        try {
          const ready = await dst.finalizeModelVersion(toModel, pending.version);
          finalizedHere = true;
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
        const raced = (await claims())[0];
        if (raced && (await isComplete(raced))) return { raced } as const;
        await dst.ensureRegisteredModel(toModel);
        const made = await dst.createModelVersion({
          name: toModel,
          // The run as created or found carries its artifact URI: it is not read again.
          source: `${targetRun.info.artifact_uri.replace(/\/+$/, "")}/${MODEL_DIR}`,
          run_id: targetRunId,
          description: version.description,
          tags: [...userTags, ...provenance, ...approvalTags, ...recordTags],
        });
        return { raced: undefined, made } as const;
      });
      if (registered.raced) return adopted(registered.raced, skippedFiles, warnings);
      created = registered.made;
    }
    const mine = created;
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
      // Another migration of the same source registered first: give this version up and adopt that one.
      await dst.deleteModelVersion(toModel, mine.version);
      if (winner.run_id !== targetRunId) {
        await dst.setRunTag(targetRunId, TAG.supersededBy, `${toModel} version ${winner.version}`);
        await dst.setRunTag(targetRunId, TAG.fingerprint, `${fingerprint}:superseded`);
        await dst.updateRun(targetRunId, "KILLED", Date.now());
      }
      progress.phase = "done";
      tell();
      return adopted(winner, skippedFiles, warnings);
    }
    await timed("lifecycle", async () => {
      // The run is finished alongside the aliases and stage (independent writes, both awaited); the state tag
      // comes last, since it is what makes the version complete for every other migration.
      const settled = await Promise.allSettled([
        (async () => {
          for (const alias of lifecycle.aliases) await dst.setAlias(toModel, alias, mine.version);
          if (lifecycle.stage) await dst.transitionStage(toModel, mine.version, lifecycle.stage);
        })(),
        dst.updateRun(targetRunId, "FINISHED", Date.now()),
      ]);
      for (const s of settled) if (s.status === "rejected") throw s.reason;
      await dst.setModelVersionTag(toModel, mine.version, TAG.state, "complete");
    });
  } catch (e) {
    if (!created) throw e;
    // Unity Catalog: a version another migration of the same source finalized (it resumed this pending one) is
    // theirs to finish, never deleted from under them; a re-run adopts it once complete.
    if (ucTarget && !finalizedHere && (await dst.getModelVersion(toModel, created.version).catch(() => undefined))?.status === "READY")
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
  progress.phase = "done";
  tell();
  return {
    ...base,
    targetVersion: created!.version,
    targetRunId,
    manifestDigest: digest,
    adopted: false,
    skippedFiles,
    warnings,
    durationMs: Date.now() - started,
    phasesMs,
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
  const chunks: Buffer[] = [];
  for await (const c of (await t.download(root, path)).body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
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
 * its fingerprint retired so a later migration copies afresh), or deleted when `hardDelete`.
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
  if (!v) return;
  if (hardDelete) return void (await dst.deleteModelVersion(model, version));
  if (HOLDS[registryOf(to)].aliases) for (const alias of v.aliases ?? []) await dst.deleteAlias(model, alias);
  if (HOLDS[registryOf(to)].stages) await dst.transitionStage(model, version, "Archived");
  const fp = tagMap(v.tags)[TAG.fingerprint];
  if (fp && !fp.endsWith(":retired")) {
    await dst.setModelVersionTag(model, version, TAG.fingerprint, `${fp}:retired`);
    if (v.run_id) await dst.setRunTag(v.run_id, TAG.fingerprint, `${fp}:retired`);
  }
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
    const manifest = await readJson<{ files: ManifestEntry[] }>(t, await t.runRoot(v.run_id, JOURNAL_DIR), "manifest.json");
    if (!manifest) problems.push(`the manifest of model '${model}' version ${version} is missing`);
    else {
      // Unity Catalog keeps the files at the version's storage location; elsewhere they are in the run.
      const root =
        registryOf(to) === "unity-catalog" && v.storage_location
          ? ucVersionRoot(model, version, v.storage_location, false)
          : await t.runRoot(v.run_id, MODEL_DIR);
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
