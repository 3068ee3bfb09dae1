/**
 * Lineage: a source run's params, full metric histories and tags, copied onto a target run, so the
 * precision history a model was chosen by survives the move.
 */
import { DatasetInput, Metric, MlflowClient, Run, Tag } from "../clients/mlflow";
import { DEFAULT_CONCURRENCY, mapLimited } from "./concurrency";
import { originKey, SYSTEM_LINEAGE } from "./provenance";

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
