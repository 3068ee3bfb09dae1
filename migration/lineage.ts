/**
 * Lineage: a source run's params, full metric histories and tags, copied onto a target run, so the
 * precision history a model was chosen by survives the move.
 */
import { Metric, MlflowClient, Run } from "../clients/mlflow";

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
export async function copyLineage(
  src: MlflowClient,
  dst: MlflowClient,
  run: Run,
  targetRunId: string,
  copyTags = true,
  histories?: Map<string, Metric[]>,
): Promise<void> {
  const params = run.data.params ?? [];
  for (let i = 0; i < params.length; i += 100) await dst.logBatch(targetRunId, { params: params.slice(i, i + 100) });
  for (const [key, history] of histories ?? (await metricHistories(src, run))) {
    for (let i = 0; i < history.length; i += 1000) {
      await dst.logBatch(targetRunId, {
        metrics: history.slice(i, i + 1000).map((m) => ({ key, value: m.value, timestamp: m.timestamp, step: m.step })),
      });
    }
  }
  if (!copyTags) return;
  const tags = (run.data.tags ?? []).filter((t) => !t.key.startsWith("mlflow.") || t.key === "mlflow.note.content");
  for (let i = 0; i < tags.length; i += 100) await dst.logBatch(targetRunId, { tags: tags.slice(i, i + 100) });
}
