/**
 * Lineage: a source run's params, full metric histories, tags, dataset inputs and its links to the MLflow 3 logged
 * models it used and produced, copied onto a target run, so the precision history a model was chosen by, and the
 * record of what a validation run read, survive the move.
 */
import { hasStatus } from "../clients/http";
import { DatasetInput, Metric, MlflowClient, ModelOutput, Run, Tag, tagMap } from "../clients/mlflow";
import { DEFAULT_CONCURRENCY, mapLimited } from "./concurrency";
import { MODEL_TAG, PENDING } from "./provenance";
import { originKey, SYSTEM_LINEAGE, TAG } from "./provenance";

/** Every metric's full history of a run, by key (sorted); the histories are read a few at a time. */
export async function metricHistories(src: MlflowClient, run: Run): Promise<Map<string, Metric[]>> {
  const keys = [...new Set((run.data.metrics ?? []).map((m) => m.key))].sort();
  const histories = await mapLimited(keys, DEFAULT_CONCURRENCY, (key) => src.metricHistory(run.info.run_id, key));
  return new Map(keys.map((k, i) => [k, histories[i]]));
}

/** The limits of one `runs/log-batch` call (MLflow's): 1000 entities in all, at most 100 params and 100 tags. */
export const LOG_BATCH = { total: 1000, params: 100, tags: 100 };

/**
 * Params, metrics and tags packed into as few `runs/log-batch` calls as the limits allow, in order (params,
 * then metrics by key and step order, then tags): a run with a few params, a few metric histories and a few
 * tags is one call.
 */
export function lineageBatches(params: Tag[], metrics: Metric[], tags: Tag[]): { params: Tag[]; metrics: Metric[]; tags: Tag[] }[] {
  const out: { params: Tag[]; metrics: Metric[]; tags: Tag[] }[] = [];
  let p = 0;
  let m = 0;
  let t = 0;
  while (p < params.length || m < metrics.length || t < tags.length) {
    const b = { params: params.slice(p, p + LOG_BATCH.params), metrics: [] as Metric[], tags: [] as Tag[] };
    p += b.params.length;
    const room = LOG_BATCH.total - b.params.length - Math.min(LOG_BATCH.tags, tags.length - t);
    b.metrics = metrics.slice(m, m + room);
    m += b.metrics.length;
    b.tags = tags.slice(t, t + Math.min(LOG_BATCH.tags, LOG_BATCH.total - b.params.length - b.metrics.length));
    t += b.tags.length;
    out.push(b);
  }
  return out;
}

/**
 * Params, full metric histories and tags of the source run, copied onto the target run with the batch
 * endpoint (up to 1000 entities a call). `histories`, when the caller has read them already, saves reading
 * them again. `doneTags` go in the last batch: present only once every batch before them was written.
 */
export async function copyLineage(
  src: MlflowClient,
  dst: MlflowClient,
  run: Run,
  targetRunId: string,
  copyTags = true,
  histories?: Map<string, Metric[]>,
  doneTags: Tag[] = [],
): Promise<void> {
  const params = run.data.params ?? [];
  const metrics = [...(histories ?? (await metricHistories(src, run)))].flatMap(([key, history]) =>
    history.map((m) => ({ key, value: m.value, timestamp: m.timestamp, step: m.step })),
  );
  const tags = [...(copyTags ? keptTags(run) : []), ...doneTags];
  // One after another: batches of one run written at once contend for the same rows of the tracking store.
  for (const b of lineageBatches(params, metrics, tags)) {
    const body = (t: Tag[]) => ({
      ...(b.params.length ? { params: b.params } : {}),
      ...(b.metrics.length ? { metrics: b.metrics } : {}),
      ...(t.length ? { tags: t } : {}),
    });
    try {
      await dst.logBatch(targetRunId, body(b.tags));
    } catch (e) {
      // A target that reserves a system key refuses the batch: the origin keys hold the same values, so the
      // batch is written again without the `mlflow.*` keys (nothing of it was applied: a batch is one write).
      const reserved = b.tags.filter((t) => t.key.startsWith("mlflow."));
      if ((e as { code?: string }).code !== "INVALID_PARAMETER_VALUE" || !reserved.length) throw e;
      await dst.logBatch(targetRunId, body(b.tags.filter((t) => !t.key.startsWith("mlflow."))));
    }
  }
}

/**
 * The run's dataset inputs (name, digest, source, schema, profile and the input's tags, such as its context),
 * logged on the target run, so that a validation run keeps its record of the data it read. Sent before the
 * lineage is marked whole: a resumed copy sends them again, which MLflow takes as the same inputs (one per dataset
 * and context). A few a call, as MLflow's client logs them.
 */
export async function copyInputs(dst: MlflowClient, run: Run, targetRunId: string): Promise<void> {
  const datasets: DatasetInput[] = (run.inputs?.dataset_inputs ?? []).map((d) => ({
    tags: d.tags ?? [],
    dataset: {
      name: d.dataset.name,
      digest: d.dataset.digest,
      source_type: d.dataset.source_type,
      source: d.dataset.source,
      ...(d.dataset.schema !== undefined ? { schema: d.dataset.schema } : {}),
      ...(d.dataset.profile !== undefined ? { profile: d.dataset.profile } : {}),
    },
  }));
  for (let i = 0; i < datasets.length; i += 100) await dst.logInputs(targetRunId, datasets.slice(i, i + 100));
}

/** A run's links to MLflow 3 logged models: those it used (`inputs.model_inputs`) and produced (`outputs.model_outputs`). */
export interface ModelLinks {
  inputs: string[];
  outputs: ModelOutput[];
}

/** The run's model links, as `runs/get` answers them (a search answers no model inputs). */
export function modelLinksOf(run: Run): ModelLinks {
  return {
    inputs: [...new Set((run.inputs?.model_inputs ?? []).map((m) => m.model_id))],
    outputs: (run.outputs?.model_outputs ?? []).map((m) => ({ model_id: m.model_id, step: Number(m.step ?? 0) })),
  };
}

/**
 * What the target run lacks of the source run's model links, each model mapped to its copy by `copyOf`; `unmapped`
 * names the source's links whose model has no copy. Pure. MLflow keeps one output per run and model: an output the
 * target has of that model, at whatever step, is not sent again (verify-move names a step that differs).
 */
export function missingModelLinks(
  source: ModelLinks,
  target: ModelLinks,
  copyOf: (sourceModelId: string) => string | undefined,
): { inputs: string[]; outputs: ModelOutput[]; unmapped: string[] } {
  const unmapped: string[] = [];
  const mapped = <T>(id: string, what: string, link: (copy: string) => T): T[] => {
    const copy = copyOf(id);
    if (!copy) unmapped.push(what);
    return copy ? [link(copy)] : [];
  };
  const hasInput = new Set(target.inputs);
  const hasOutput = new Set(target.outputs.map((m) => m.model_id));
  return {
    inputs: [...new Set(source.inputs.flatMap((id) => mapped(id, `model input ${id}`, (c) => c)))].filter((c) => !hasInput.has(c)),
    outputs: source.outputs
      .flatMap((m) => mapped(m.model_id, `model output ${m.model_id} (step ${m.step})`, (c) => ({ model_id: c, step: m.step })))
      .filter((m) => !hasOutput.has(m.model_id)),
    unmapped,
  };
}

/** What copyModelLinks did for one run: links logged, links it could not carry, and why it failed (a re-run completes it). */
export interface ModelLinksOutcome {
  logged: number;
  warnings: string[];
  problem?: string;
}

/** Experiment ids per logged-models search. */
const SEARCH_EXPERIMENTS = 100;

/**
 * The target's complete copies of source models (`quant.migration.source_model_id`, this source host's), looked up in
 * every active experiment of the target: for a run's link to a model the move did not move with it (one of another
 * experiment). A target without the logged-models API holds none.
 */
export async function movedModelCopies(dst: MlflowClient, sourceHost: string, sourceModelIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ids = sourceModelIds.filter((id) => /^[\w.-]+$/.test(id));
  if (!ids.length) return out;
  const experiments = (await dst.searchExperiments()).map((e) => e.experiment_id);
  try {
    for (const id of ids)
      for (let i = 0; i < experiments.length && !out.has(id); i += SEARCH_EXPERIMENTS) {
        const found = await dst.searchLoggedModels(
          experiments.slice(i, i + SEARCH_EXPERIMENTS),
          `tags.\`${MODEL_TAG.sourceModel}\` = '${id}'`,
        );
        const copy = found.find((m) => tagMap(m.info.tags)[TAG.sourceHost] === sourceHost && (m.info.status ?? PENDING) !== PENDING);
        if (copy) out.set(id, copy.info.model_id);
      }
  } catch (e) {
    if (!hasStatus(e, 404) && !hasStatus(e, 501)) throw e;
  }
  return out;
}

/**
 * The source runs' links to MLflow 3 logged models, logged on their copies once the experiment's logged models have
 * moved: each model mapped through `modelMap` (source model id -> its copy), else to its copy found in the target
 * (movedModelCopies). A link whose model has no copy is not carried, and says so in the run's warnings. Idempotent:
 * the target run's links are read first and only the missing ones are sent. In phases: read the source runs (a search
 * answers no model inputs) -> resolve the models not in `modelMap` -> per run, read its copy and log what it lacks.
 */
export async function copyModelLinks(o: {
  src: MlflowClient;
  dst: MlflowClient;
  runs: { sourceRunId: string; targetRunId: string }[];
  modelMap: Map<string, string>;
  sourceHost: string;
  concurrency?: number;
}): Promise<Map<string, ModelLinksOutcome>> {
  const out = new Map<string, ModelLinksOutcome>(o.runs.map((r) => [r.sourceRunId, { logged: 0, warnings: [] }]));
  const fail = (id: string, e: unknown, what: string) => {
    out.get(id)!.problem = `its model inputs and outputs ${what}: ${(e as Error).message}`;
  };
  const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
  const sources = await mapLimited(o.runs, concurrency, async (r) => {
    try {
      return modelLinksOf(await o.src.getRun(r.sourceRunId));
    } catch (e) {
      fail(r.sourceRunId, e, "could not be read");
      return { inputs: [], outputs: [] };
    }
  });
  const linked = o.runs.map((r, i) => ({ ...r, links: sources[i] })).filter((r) => r.links.inputs.length || r.links.outputs.length);
  const unknown = [...new Set(linked.flatMap((r) => [...r.links.inputs, ...r.links.outputs.map((m) => m.model_id)]))].filter(
    (id) => !o.modelMap.has(id),
  );
  let found: Map<string, string>;
  try {
    found = await movedModelCopies(o.dst, o.sourceHost, unknown);
  } catch (e) {
    for (const r of linked) fail(r.sourceRunId, e, "could not be mapped (looking up the moved models)");
    return out;
  }
  const copyOf = (id: string) => o.modelMap.get(id) ?? found.get(id);
  await mapLimited(linked, concurrency, async (r) => {
    const outcome = out.get(r.sourceRunId)!;
    try {
      const missing = missingModelLinks(r.links, modelLinksOf(await o.dst.getRun(r.targetRunId)), copyOf);
      outcome.warnings.push(
        ...missing.unmapped.map(
          (l) => `${l} has no moved copy in the target, so the link was not carried (move that model's experiment, then this one again)`,
        ),
      );
      for (let i = 0; i < missing.inputs.length; i += 100)
        await o.dst.logModelInputs(
          r.targetRunId,
          missing.inputs.slice(i, i + 100).map((model_id) => ({ model_id })),
        );
      for (let i = 0; i < missing.outputs.length; i += 100) {
        const batch = missing.outputs.slice(i, i + 100);
        try {
          await o.dst.logOutputs(r.targetRunId, batch);
        } catch (e) {
          // A call whose answer was lost and that was sent again is refused (MLflow keeps one output per run and model):
          // the outputs being there is the outcome wanted.
          const now = new Set(modelLinksOf(await o.dst.getRun(r.targetRunId)).outputs.map((m) => m.model_id));
          if (!batch.every((m) => now.has(m.model_id))) throw e;
        }
      }
      outcome.logged = missing.inputs.length + missing.outputs.length;
    } catch (e) {
      fail(r.sourceRunId, e, "could not be logged");
    }
  });
  return out;
}

/**
 * The tags a copy of `run` keeps: the team's own, the note, and the system lineage (who trained it, from which
 * notebook and commit: `SYSTEM_LINEAGE`), the latter also under its origin key; other `mlflow.*` keys describe the
 * source run itself (its parent, its logged models) and are not carried, nor is the source run's own migration
 * record (`quant.migration.*`: a copy of a copy has its own). The origin keys the run already carries
 * (a copy of a copy) are kept as they are.
 */
export function keptTags(run: Run): Tag[] {
  const all = run.data.tags ?? [];
  const has = new Set(all.map((t) => t.key));
  const system = all.filter((t) => (SYSTEM_LINEAGE as readonly string[]).includes(t.key));
  return [
    ...all.filter((t) => (!t.key.startsWith("mlflow.") && !t.key.startsWith("quant.migration.")) || t.key === "mlflow.note.content"),
    ...system,
    ...system.filter((t) => !has.has(originKey(t.key))).map((t) => ({ key: originKey(t.key), value: t.value })),
  ];
}
