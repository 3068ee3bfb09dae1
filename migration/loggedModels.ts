/**
 * MLflow 3 logged models (`models:/m-...`) move with their experiment: each model's params, tags, metrics (every
 * step, per dataset, linked to the model) and its whole artifact tree, with its link to the run that produced it
 * mapped to that run's copy. The files get the engine's guarantees (treeCopy.ts): streamed through SHA-256, read
 * back and verified, a manifest written into the producing run's journal; the copy is finalized (READY) only
 * after that. Idempotent: the copy carries its source model's id, so a second move adopts it; a copy left PENDING
 * by a move that stopped is completed, not duplicated.
 *
 * Both transports: an OSS server's artifacts are under the model's `artifact_uri` through the mlflow-artifacts
 * proxy; a Databricks workspace's through MLflow's logged-model artifact routes (`logged-models/{id}/artifacts/
 * directories`, `credentials-for-download` / `-upload`, the fallback MLflow's own client uses), signed URLs: the
 * Databricks transport's (transports/databricks.ts), which reads a version registered from a logged model the same way.
 */
import { randomUUID } from "crypto";
import { Readable } from "stream";
import { createOnce, DEFAULT_RETRY, jsonRequest, orUndefined, RetryPolicy, withRetry } from "../clients/http";
import { CREATE_TAG, Endpoint, Metric, mlflowClient, MlflowClient, ModelVersion, Tag, tagMap } from "../clients/mlflow";
import { DEFAULT_CONCURRENCY } from "./concurrency";
import { incompleteMigration, ItemFailure } from "./failure";
import { hashFiles, ManifestEntry, manifestDigest, sha256 } from "./hashing";
import { LOG_BATCH } from "./lineage";
import { MODEL_TAG, PENDING, RUN_TAG, TAG } from "./provenance";
import { copyTree, JOURNAL_DIR, listTree, VerifyMode, writeManifest } from "./treeCopy";
import { databricksTransport } from "./transports/databricks";
import { mlflowArtifactsTransport } from "./transports/mlflowArtifacts";
import { ArtifactRoot, ArtifactTransport, joinPath, sourceModelIdOf } from "./transports/transport";

export { sourceModelIdOf };

/** A metric as a logged model holds it: a point of the producing run's history, maybe of one dataset. */
export interface ModelMetric extends Metric {
  dataset_name?: string;
  dataset_digest?: string;
  model_id?: string;
  run_id?: string;
}

/** MLflow's LoggedModel as the REST API answers it. */
export interface LoggedModel {
  info: {
    model_id: string;
    experiment_id: string;
    name: string;
    artifact_uri: string;
    /** `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY` or `LOGGED_MODEL_UPLOAD_FAILED`. */
    status?: string;
    model_type?: string;
    source_run_id?: string;
    creation_timestamp_ms?: number;
    tags?: Tag[];
  };
  data?: { params?: Tag[]; metrics?: ModelMetric[] };
}

export { MODEL_TAG, PENDING };

/** The registry's record on a model of the versions registered from it: the source's own, never copied or compared. */
const MODEL_VERSIONS_TAG = "mlflow.modelVersions";

/** The tags a copy carries and verify-move compares: the model's own, without the registry's record and any migration's. */
export const userTags = (tags: Tag[] | undefined): Tag[] =>
  (tags ?? []).filter((t) => t.key !== MODEL_VERSIONS_TAG && !t.key.startsWith("quant.migration."));

/** The logged-models API of one tracking server (OSS or a Databricks workspace: the same routes). */
export function loggedModelsClient(ep: Endpoint, retry: RetryPolicy = DEFAULT_RETRY) {
  const headers: Record<string, string> = ep.token ? { Authorization: `Bearer ${ep.token}` } : {};
  const once = <T>(method: string, path: string, what: string, body?: unknown) =>
    jsonRequest<T>(method, `${ep.baseUrl}/api/2.0/mlflow/logged-models${path}`, headers, body, `${ep.uri}: ${what}`);
  const call = <T>(method: string, path: string, what: string, body?: unknown) => withRetry(retry, () => once<T>(method, path, what, body));
  const id = (modelId: string) => `/${encodeURIComponent(modelId)}`;
  /** Every active model of the experiments, oldest first, following page tokens (Databricks answers at most 50 a page). */
  const search = async (experimentIds: string[]): Promise<LoggedModel[]> => {
    const out: LoggedModel[] = [];
    let token: string | undefined;
    do {
      const r = await call<{ models?: LoggedModel[]; next_page_token?: string }>(
        "POST",
        "/search",
        `logged models of experiments ${experimentIds.join(", ")}`,
        { experiment_ids: experimentIds, max_results: 50, page_token: token },
      );
      out.push(...(r.models ?? []));
      token = r.next_page_token || undefined;
    } while (token);
    return out.sort((a, b) => (a.info.creation_timestamp_ms ?? 0) - (b.info.creation_timestamp_ms ?? 0));
  };
  return {
    endpoint: ep,
    headers,
    search,
    get: async (modelId: string) => (await call<{ model: LoggedModel }>("GET", id(modelId), `logged model ${modelId}`)).model,
    /** Safe to send twice (createOnce): a model an attempt made whose answer was lost is found by its create tag. */
    create: async (body: {
      experiment_id: string;
      name: string;
      model_type?: string;
      source_run_id?: string;
      params: Tag[];
      tags: Tag[];
    }) => {
      const made = randomUUID();
      const what = `new logged model '${body.name}' in experiment ${body.experiment_id}`;
      return createOnce(
        retry,
        async () =>
          (await once<{ model: LoggedModel }>("POST", "", what, { ...body, tags: [...body.tags, { key: CREATE_TAG, value: made }] })).model,
        async () => (await search([body.experiment_id])).find((m) => tagMap(m.info.tags)[CREATE_TAG] === made),
      );
    },
    logParams: (modelId: string, params: Tag[]) =>
      call("POST", `${id(modelId)}/params`, `params of logged model ${modelId}`, { model_id: modelId, params }),
    setTags: (modelId: string, tags: Tag[]) =>
      call("PATCH", `${id(modelId)}/tags`, `tags of logged model ${modelId}`, { model_id: modelId, tags }),
    finalize: async (modelId: string, status: string) =>
      (await call<{ model: LoggedModel }>("PATCH", id(modelId), `finalizing logged model ${modelId}`, { model_id: modelId, status })).model,
    remove: (modelId: string) => call("DELETE", id(modelId), `logged model ${modelId}`, { model_id: modelId }),
  };
}
export type LoggedModelsClient = ReturnType<typeof loggedModelsClient>;

/** `mlflow-artifacts:/1/models/m-.../artifacts` (or `mlflow-artifacts://host/...`) -> `1/models/m-.../artifacts`. */
function proxyPath(uri: string, modelId: string): string {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/*(.*)$/.exec(uri);
  if (!m) throw new Error(`logged model ${modelId} stores its files at ${uri}, which the mlflow-artifacts proxy does not serve`);
  return m[1].replace(/\/+$/, "");
}

/**
 * Where a logged model's files are, for its side's transport: a workspace's through its logged-model artifact routes
 * (transports/databricks.ts), an OSS server's under its artifact URI through the mlflow-artifacts proxy.
 */
export function loggedModelRoot(ep: Endpoint, m: LoggedModel): ArtifactRoot {
  return ep.transport === "databricks"
    ? { loggedModel: m.info.model_id, path: "" }
    : { path: proxyPath(m.info.artifact_uri, m.info.model_id) };
}

/** How one side's logged-model files (and its runs' journals) are reached, and where a model's root is. */
function modelArtifacts(client: MlflowClient, retry: RetryPolicy): { t: ArtifactTransport; root: (m: LoggedModel) => ArtifactRoot } {
  return {
    t: client.endpoint.transport === "databricks" ? databricksTransport(client, undefined, retry) : mlflowArtifactsTransport(client),
    root: (m) => loggedModelRoot(client.endpoint, m),
  };
}

/** A journal nobody keeps: a model without a run has nowhere to write one (its copy is then not resumable file by file). */
const NO_JOURNAL: ArtifactRoot = { path: "" };
function droppingJournal(t: ArtifactTransport): ArtifactTransport {
  return {
    ...t,
    async upload(root, path, body, length) {
      if (root !== NO_JOURNAL) return t.upload(root, path, body, length);
      for await (const chunk of body as Readable) void chunk;
    },
    async download(root, path) {
      if (root !== NO_JOURNAL) return t.download(root, path);
      return { body: Readable.from([]), length: 0 };
    },
  };
}

export interface LoggedModelInventory {
  modelId: string;
  name: string;
  experimentId: string;
  modelType?: string;
  sourceRunId?: string;
  /** The producing run's own source (its `quant.migration.source_run_id`), when that run is a moved copy. */
  sourceRunMovedFrom?: string;
  /** The source model this one is a moved copy of (its `quant.migration.source_model_id`). */
  movedFrom?: string;
  status: string;
  params: Record<string, string>;
  /** The model's own tags (userTags). */
  tags: Record<string, string>;
  /** Every point, sorted: key, step, timestamp, value, and the dataset it was measured on. */
  metrics: { key: string; step: number; timestamp: number; value: number; dataset?: string }[];
  /** Path -> size and sha256 of every file. */
  artifacts: ManifestEntry[];
}

const metricOf = (m: ModelMetric) => ({
  key: m.key,
  step: Number(m.step ?? 0),
  timestamp: Number(m.timestamp ?? 0),
  value: m.value,
  ...(m.dataset_name ? { dataset: `${m.dataset_name}@${m.dataset_digest ?? ""}` } : {}),
});
const metricLine = (m: LoggedModelInventory["metrics"][number]) =>
  `${m.key} step ${m.step} at ${m.timestamp} = ${m.value}${m.dataset ? ` on ${m.dataset}` : ""}`;

/** What the experiments hold of logged models: each active one, its data and its files (read and hashed). */
export async function loggedModelInventory(
  ep: Endpoint,
  experimentIds: string[],
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<LoggedModelInventory[]> {
  const lm = loggedModelsClient(ep, retry);
  const client = mlflowClient(ep, retry);
  const { t, root } = modelArtifacts(client, retry);
  const out: LoggedModelInventory[] = [];
  for (const summary of await lm.search(experimentIds)) {
    // A search may answer a model without all of its data: each is read whole.
    const m = await lm.get(summary.info.model_id);
    const tags = tagMap(m.info.tags);
    const run = m.info.source_run_id ? await orUndefined(client.getRun(m.info.source_run_id)) : undefined;
    const files = await listTree(t, root(m));
    out.push({
      modelId: m.info.model_id,
      name: m.info.name,
      experimentId: m.info.experiment_id,
      ...(m.info.model_type ? { modelType: m.info.model_type } : {}),
      ...(m.info.source_run_id ? { sourceRunId: m.info.source_run_id } : {}),
      ...(run && tagMap(run.data.tags)[RUN_TAG.sourceRun] ? { sourceRunMovedFrom: tagMap(run.data.tags)[RUN_TAG.sourceRun] } : {}),
      ...(tags[MODEL_TAG.sourceModel] ? { movedFrom: tags[MODEL_TAG.sourceModel] } : {}),
      status: m.info.status ?? PENDING,
      params: Object.fromEntries((m.data?.params ?? []).map((p) => [p.key, p.value])),
      tags: tagMap(userTags(m.info.tags)),
      metrics: (m.data?.metrics ?? []).map(metricOf).sort((a, b) => (metricLine(a) < metricLine(b) ? -1 : 1)),
      artifacts: await hashFiles(t, root(m), files, DEFAULT_CONCURRENCY),
    });
  }
  return out;
}

/**
 * Each source model against its copy (by `modelMap`, else by the copy's record of its source): name, type, status,
 * params, tags, every metric point, the producing run (the copy's run must be that run's copy) and every file's
 * size and sha256. A source model still PENDING is not compared (a move skips it).
 */
export function compareLoggedModels(
  source: LoggedModelInventory[],
  target: LoggedModelInventory[],
  modelMap: Map<string, string>,
): { subject: string; detail: string }[] {
  const out: { subject: string; detail: string }[] = [];
  for (const s of source) {
    if (s.status === PENDING) continue;
    const subject = `logged model '${s.name}' (${s.modelId})`;
    const differs = (what: string) => out.push({ subject, detail: `${subject}${what}` });
    const mapped = modelMap.get(s.modelId);
    const t = target.find((x) => (mapped ? x.modelId === mapped : x.movedFrom === s.modelId));
    if (!t) {
      differs(mapped ? `: its copy ${mapped} is missing` : " is missing");
      continue;
    }
    if (t.name !== s.name) differs(`: named '${t.name}' in the target`);
    if ((t.modelType ?? "") !== (s.modelType ?? "")) differs(`: model type '${t.modelType ?? ""}', the source's '${s.modelType ?? ""}'`);
    if (t.status !== s.status) differs(`: status ${t.status}, the source's ${s.status}`);
    if (!s.sourceRunId !== !t.sourceRunId)
      differs(t.sourceRunId ? ": linked to a run the source model has not" : ": not linked to the run that produced it");
    else if (s.sourceRunId && t.sourceRunMovedFrom !== s.sourceRunId)
      differs(`: produced by run ${t.sourceRunId}, which is not the copy of the source's run ${s.sourceRunId}`);
    const pairs = (what: string, a: Record<string, string>, b: Record<string, string>) => {
      for (const [k, v] of Object.entries(a))
        if (b[k] !== v) differs(`: ${what} '${k}' is ${b[k] === undefined ? "missing" : `'${b[k]}'`}, the source's '${v}'`);
      for (const k of Object.keys(b)) if (!(k in a)) differs(`: ${what} '${k}' is in the target only`);
    };
    pairs("param", s.params, t.params);
    pairs("tag", s.tags, t.tags);
    const tm = new Set(t.metrics.map(metricLine));
    const sm = new Set(s.metrics.map(metricLine));
    for (const m of sm) if (!tm.has(m)) differs(`: metric ${m} is missing`);
    for (const m of tm) if (!sm.has(m)) differs(`: metric ${m} is in the target only`);
    const files = new Map(t.artifacts.map((f) => [f.path, f]));
    for (const f of s.artifacts) {
      const g = files.get(f.path);
      if (!g) differs(`: file '${f.path}' is missing`);
      else if (g.size !== f.size || g.sha256 !== f.sha256)
        differs(
          `: file '${f.path}' holds ${g.size} bytes with sha256 ${g.sha256.slice(0, 12)}…, the source's ${f.size} with ${f.sha256.slice(0, 12)}…`,
        );
    }
    const paths = new Set(s.artifacts.map((f) => f.path));
    for (const g of t.artifacts) if (!paths.has(g.path)) differs(`: file '${g.path}' is in the target only`);
  }
  return out;
}

export interface LoggedModelMove {
  sourceModelId: string;
  targetModelId?: string;
  name: string;
  /** `skipped`: the source model is still PENDING (being logged); it moves once it is finalized. */
  outcome: "created" | "resumed" | "adopted" | "skipped" | "failed";
  files: number;
  bytes: number;
  manifestDigest?: string;
  problem?: string;
  /** Spare PENDING copies of this source model, left by interrupted moves, that were deleted. */
  removed?: string[];
}

export interface LoggedModelsReport {
  models: LoggedModelMove[];
  /** Source model id -> target model id, for every model created, resumed or adopted. */
  modelMap: Map<string, string>;
  files: number;
  bytes: number;
}

export interface LoggedModelsMoveOptions {
  from: Endpoint;
  to: Endpoint;
  sourceExperimentId: string;
  targetExperimentId: string;
  /** Source run id -> its copy's id (migrateExperiment's report): the producing run, and the runs the metrics were logged by. */
  runMap: Map<string, string>;
  concurrency?: number;
  verify?: VerifyMode;
  retry?: RetryPolicy;
}

/**
 * Moves every logged model of the source experiment into the target experiment, one model at a time (its files
 * several at once). Call it once the experiment's runs have moved (their map is `runMap`), within the
 * experiment's lease. Every model is tried; then, when any failed, it throws an `IncompleteMigration` carrying
 * this report and the failed models (a re-run completes them).
 */
export async function moveLoggedModels(o: LoggedModelsMoveOptions): Promise<LoggedModelsReport> {
  const retry = o.retry ?? DEFAULT_RETRY;
  const src = { lm: loggedModelsClient(o.from, retry), ...modelArtifacts(mlflowClient(o.from, retry), retry) };
  const dstClient = mlflowClient(o.to, retry);
  const dst = { lm: loggedModelsClient(o.to, retry), client: dstClient, ...modelArtifacts(dstClient, retry) };
  const report: LoggedModelsReport = { models: [], modelMap: new Map(), files: 0, bytes: 0 };
  // The copies already in the target, by the source model they were made from (this host's only).
  const copies = new Map<string, LoggedModel[]>();
  for (const m of await dst.lm.search([o.targetExperimentId])) {
    const t = tagMap(m.info.tags);
    if (t[TAG.sourceHost] === o.from.baseUrl && t[MODEL_TAG.sourceModel])
      copies.set(t[MODEL_TAG.sourceModel], [...(copies.get(t[MODEL_TAG.sourceModel]) ?? []), m]);
  }
  for (const summary of await src.lm.search([o.sourceExperimentId])) {
    const entry: LoggedModelMove = { sourceModelId: summary.info.model_id, name: summary.info.name, outcome: "failed", files: 0, bytes: 0 };
    report.models.push(entry);
    try {
      await moveOne(o, src, dst, await src.lm.get(summary.info.model_id), copies.get(summary.info.model_id) ?? [], entry, retry);
      if (entry.targetModelId) report.modelMap.set(entry.sourceModelId, entry.targetModelId);
      report.files += entry.files;
      report.bytes += entry.bytes;
    } catch (e) {
      // The copy stays PENDING: a re-run completes it.
      entry.outcome = "failed";
      entry.problem = `${(e as Error).message}; move the experiment again to complete it`;
    }
  }
  const failures: ItemFailure[] = report.models
    .filter((m) => m.outcome === "failed")
    .map((m) => ({ item: m.sourceModelId, outcome: "failed", problem: `logged model '${m.name}' (${m.sourceModelId}): ${m.problem}` }));
  if (failures.length)
    throw incompleteMigration(
      `the logged models of experiment ${o.sourceExperimentId} were not moved completely to ${o.to.uri}`,
      report.models.length,
      report,
      failures,
    );
  return report;
}

type Side = { lm: LoggedModelsClient; t: ArtifactTransport; root: (m: LoggedModel) => ArtifactRoot };

/**
 * One model, in phases: resolve its copy (a complete one is adopted, a PENDING one resumed) -> guard -> create the
 * copy -> its data -> its files and manifest -> finalize, last.
 */
async function moveOne(
  o: LoggedModelsMoveOptions,
  src: Side,
  dst: Side & { client: MlflowClient },
  model: LoggedModel,
  found: LoggedModel[],
  entry: LoggedModelMove,
  retry: RetryPolicy,
): Promise<void> {
  const status = model.info.status ?? PENDING;
  if (status === PENDING) {
    entry.outcome = "skipped";
    entry.problem = "still PENDING in the source (being logged): it moves once it is finalized";
    return;
  }
  const listed = await listTree(src.t, src.root(model));
  entry.files = listed.length;
  entry.bytes = listed.reduce((s, f) => s + f.size, 0);
  const copy = await resolveCopy(dst.lm, found, entry);
  if (entry.outcome === "adopted") return;
  const links = guard(o, model, listed, dst.t);
  // A copy found PENDING is read again whole (a search may answer without all of its data).
  const target = copy ? await dst.lm.get(copy.info.model_id) : await createCopy(o, dst.lm, model, links.targetRun);
  entry.outcome = copy ? "resumed" : "created";
  entry.targetModelId = target.info.model_id;
  await copyData(o, dst, model, target, links.metricRuns);
  const digest = await copyFiles(o, src, dst, model, target, listed, links.targetRun, entry.outcome === "created", retry);
  await dst.lm.setTags(target.info.model_id, [{ key: TAG.manifestDigest, value: digest }]);
  // Finalized last, to the source's status: a READY copy is a complete one.
  await dst.lm.finalize(target.info.model_id, status);
  entry.manifestDigest = digest;
}

/**
 * The copies of this source model already in the target: a complete one is adopted (the entry says so); of the
 * PENDING ones left by interrupted moves, the oldest is returned to be completed, and the others are deleted.
 */
async function resolveCopy(lm: LoggedModelsClient, found: LoggedModel[], entry: LoggedModelMove): Promise<LoggedModel | undefined> {
  const complete = found.find((m) => (m.info.status ?? PENDING) !== PENDING);
  const pending = found.filter((m) => m !== complete);
  const resume = complete ? undefined : pending[0];
  const spare = pending.filter((m) => m !== resume);
  for (const m of spare) await lm.remove(m.info.model_id);
  if (spare.length) entry.removed = spare.map((m) => m.info.model_id);
  if (complete) {
    entry.outcome = "adopted";
    entry.targetModelId = complete.info.model_id;
    entry.manifestDigest = tagMap(complete.info.tags)[TAG.manifestDigest];
  }
  return resume;
}

/**
 * Before anything is written: the producing run and every run the metrics were logged by have moved (the copy
 * links to their copies, or it would link to none), and the target takes every file name.
 */
function guard(
  o: LoggedModelsMoveOptions,
  model: LoggedModel,
  listed: { path: string }[],
  dstT: ArtifactTransport,
): { targetRun: string | undefined; metricRuns: string[] } {
  const runOf = (runId: string | undefined, what: string) => {
    const mapped = runId && o.runMap.get(runId);
    if (!mapped) throw new Error(runId ? `${what} ${runId} did not move with the experiment` : `${what} is not known`);
    return mapped;
  };
  const targetRun = model.info.source_run_id ? runOf(model.info.source_run_id, "the run that produced it") : undefined;
  const metricRuns = (model.data?.metrics ?? []).map((m) =>
    runOf(m.run_id ?? model.info.source_run_id, `the run that logged its metric '${m.key}'`),
  );
  const refused = listed.map((f) => ({ f, why: dstT.refuses(f.path) })).filter((x) => x.why);
  if (refused.length) throw new Error(`the target cannot hold ${refused.map((x) => `'${x.f.path}' (${x.why})`).join("; ")}`);
  return { targetRun, metricRuns };
}

/** The model's own tags and where it came from: set on the copy at its creation and again on every resume. */
const copyTags = (o: LoggedModelsMoveOptions, model: LoggedModel): Tag[] => [
  ...userTags(model.info.tags),
  { key: TAG.sourceHost, value: o.from.baseUrl },
  { key: MODEL_TAG.sourceModel, value: model.info.model_id },
  ...(model.info.source_run_id ? [{ key: TAG.sourceRun, value: model.info.source_run_id }] : []),
];

/** A new PENDING copy in the target experiment, linked to the producing run's copy, with its first 100 params. */
function createCopy(
  o: LoggedModelsMoveOptions,
  lm: LoggedModelsClient,
  model: LoggedModel,
  targetRun: string | undefined,
): Promise<LoggedModel> {
  return lm.create({
    experiment_id: o.targetExperimentId,
    name: model.info.name,
    ...(model.info.model_type ? { model_type: model.info.model_type } : {}),
    ...(targetRun ? { source_run_id: targetRun } : {}),
    params: (model.data?.params ?? []).slice(0, 100),
    tags: copyTags(o, model),
  });
}

/**
 * The params the copy lacks (a param is written once), every tag, then the metrics, once: logged through the runs
 * that logged them (a model's metric is a run's metric too), linked to the copy, with their dataset. Sent again
 * after an interruption, MLflow keeps one of each point.
 */
async function copyData(
  o: LoggedModelsMoveOptions,
  dst: { lm: LoggedModelsClient; client: MlflowClient },
  model: LoggedModel,
  target: LoggedModel,
  metricRuns: string[],
): Promise<void> {
  const targetId = target.info.model_id;
  const has = new Set((target.data?.params ?? []).map((p) => p.key));
  const missing = (model.data?.params ?? []).filter((p) => !has.has(p.key));
  for (let i = 0; i < missing.length; i += 100) await dst.lm.logParams(targetId, missing.slice(i, i + 100));
  await dst.lm.setTags(targetId, copyTags(o, model));
  if (tagMap(target.info.tags)[MODEL_TAG.metricsCopied] === "true") return;
  const byRun = new Map<string, ModelMetric[]>();
  (model.data?.metrics ?? []).forEach((m, i) =>
    byRun.set(metricRuns[i], [
      ...(byRun.get(metricRuns[i]) ?? []),
      {
        key: m.key,
        value: m.value,
        timestamp: m.timestamp,
        step: Number(m.step ?? 0),
        model_id: targetId,
        ...(m.dataset_name ? { dataset_name: m.dataset_name, dataset_digest: m.dataset_digest ?? "" } : {}),
      },
    ]),
  );
  for (const [runId, points] of byRun)
    for (let i = 0; i < points.length; i += LOG_BATCH.total)
      await dst.client.logBatch(runId, { metrics: points.slice(i, i + LOG_BATCH.total) });
  await dst.lm.setTags(targetId, [{ key: MODEL_TAG.metricsCopied, value: "true" }]);
}

/**
 * Streams every file into the copy, each verified, journalled in the producing run's copy (never in the model's own
 * tree, which MLflow's client downloads whole), and writes the manifest there, read back; its digest.
 */
async function copyFiles(
  o: LoggedModelsMoveOptions,
  src: Side,
  dst: Side,
  model: LoggedModel,
  target: LoggedModel,
  listed: { path: string; size: number }[],
  targetRun: string | undefined,
  fresh: boolean,
  retry: RetryPolicy,
): Promise<string> {
  const sourceId = model.info.model_id;
  const fingerprint = sha256(JSON.stringify({ host: o.from.baseUrl, model: sourceId, files: listed.map((f) => [f.path, f.size]) }));
  const journalRoot = targetRun ? await dst.t.runRoot(targetRun, joinPath(JOURNAL_DIR, "logged-models", sourceId)) : NO_JOURNAL;
  const dstT = targetRun ? dst.t : droppingJournal(dst.t);
  const { files } = await copyTree({
    srcT: src.t,
    srcRoot: src.root(model),
    dstT,
    dstRoot: dst.root(target),
    journalRoot,
    fresh: fresh || !targetRun,
    listed,
    fingerprint,
    verify: o.verify ?? "full",
    retry,
    concurrency: o.concurrency ?? DEFAULT_CONCURRENCY,
    what: (p) => `'${p}' of logged model ${sourceId}`,
    tree: `logged model ${sourceId} (target ${target.info.model_id})`,
  });
  const digest = manifestDigest(files);
  if (targetRun)
    await writeManifest(
      dstT,
      journalRoot,
      { fingerprint, manifestDigest: digest, source: { host: o.from.baseUrl, loggedModel: sourceId }, files, verify: o.verify ?? "full" },
      `the manifest of logged model ${sourceId}`,
      o.to.uri,
    );
  return digest;
}

/**
 * What a target version of `version` is registered from when `version` was registered from a logged model that
 * moved (`modelMap`: source model id -> target model id): the moved model (`models:/<target>` with `model_id`).
 * Undefined otherwise: then it is registered from the files the version's migration copied.
 */
export function targetModelSource(
  version: ModelVersion & { model_id?: string },
  modelMap: Map<string, string>,
): { source: string; model_id: string } | undefined {
  const sourceId = sourceModelIdOf(version);
  const targetId = sourceId && modelMap.get(sourceId);
  return targetId ? { source: `models:/${targetId}`, model_id: targetId } : undefined;
}

/** What a version registered from a moved logged model is registered from in the target, and where that copy's files are. */
export interface MovedModelSource {
  source: string;
  model_id: string;
  root: ArtifactRoot;
}

/**
 * `targetModelSource` for a version migration that holds no map: the version's logged model is looked up in the
 * target, in the experiment of the same name, by the record its copy carries of it (this source host's; a complete
 * copy only). No call is made for a version that was not registered from a logged model. A Databricks workspace
 * registry takes no `models:/` source: there the version is registered from the copy's storage location, with its
 * `model_id`, as MLflow's own client registers a logged model there.
 */
export async function movedModelSource(
  o: { from: Endpoint; to: Endpoint; retry?: RetryPolicy },
  version: ModelVersion & { model_id?: string },
): Promise<MovedModelSource | undefined> {
  const sourceId = sourceModelIdOf(version);
  if (!sourceId) return undefined;
  const model = await orUndefined(loggedModelsClient(o.from, o.retry).get(sourceId));
  if (!model) return undefined;
  const name = (await mlflowClient(o.from, o.retry).searchExperiments()).find((e) => e.experiment_id === model.info.experiment_id)?.name;
  const targetExp = name ? await mlflowClient(o.to, o.retry).experimentByName(name) : undefined;
  if (!targetExp) return undefined;
  const copy = (await loggedModelsClient(o.to, o.retry).search([targetExp.experiment_id])).find((m) => {
    const t = tagMap(m.info.tags);
    return t[MODEL_TAG.sourceModel] === sourceId && t[TAG.sourceHost] === o.from.baseUrl && (m.info.status ?? PENDING) !== PENDING;
  });
  const registered = copy && targetModelSource(version, new Map([[sourceId, copy.info.model_id]]));
  if (!copy || !registered) return undefined;
  return {
    ...registered,
    ...(o.to.transport === "databricks" ? { source: copy.info.artifact_uri } : {}),
    root: loggedModelRoot(o.to, copy),
  };
}
