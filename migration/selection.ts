/**
 * Selection: the best of an experiment's finished runs by the team's metric is registered as a model version.
 * Ranking, the comparison table and the tags are pure; `selectBest` reads the runs, checks the winner's model
 * files, and registers (or adopts) one version: resolve -> rank -> guard -> register -> finish.
 */
import { sleep } from "../clients/http";
import { Endpoint, mlflowClient, MlflowClient, ModelVersion, registryOf, Run, Tag, tagMap } from "../clients/mlflow";
import type { Selection } from "../config/schema";
import { migrationError } from "./failure";
import { readyPollDelayMs } from "./modelVersion";
import { SELECTION_TAG } from "./provenance";
import { transportFor } from "./transports/transportFor";

/** One finished run as the selection compares it. */
export interface Candidate {
  runId: string;
  runName: string;
  /** The metric's latest value; undefined when the run did not log it. */
  value: number | undefined;
  endTime: number;
  params: Record<string, string>;
}

export interface RankedCandidate extends Candidate {
  /** 1 for the best; undefined for runs without the metric. */
  rank: number | undefined;
  reachesMinimum: boolean;
}

export interface Ranking {
  candidates: RankedCandidate[];
  /** The best run reaching the minimum, if any. */
  winner: RankedCandidate | undefined;
  /** Runs tied with the best, broken by earlier end time, then run id. */
  tiedWith: string[];
}

/** Compares candidates by the metric: best first; ties broken by the earlier end time, then the run id. Pure. */
export function rankRuns(candidates: Candidate[], sel: Selection): Ranking {
  const better = (a: number, b: number) => (sel.mode === "max" ? b - a : a - b);
  const scored = candidates
    .filter((c) => c.value !== undefined && Number.isFinite(c.value))
    .sort((a, b) => better(a.value!, b.value!) || a.endTime - b.endTime || a.runId.localeCompare(b.runId));
  const reaches = (v: number | undefined) =>
    v !== undefined && (sel.minimum === undefined || (sel.mode === "max" ? v >= sel.minimum : v <= sel.minimum));
  const ranked: RankedCandidate[] = [
    ...scored.map((c, i) => ({ ...c, rank: i + 1, reachesMinimum: reaches(c.value) })),
    ...candidates
      .filter((c) => !scored.includes(c))
      .sort((a, b) => a.runId.localeCompare(b.runId))
      .map((c) => ({ ...c, rank: undefined, reachesMinimum: false })),
  ];
  const best = ranked[0]?.rank === 1 ? ranked[0] : undefined;
  const winner = best?.reachesMinimum ? best : undefined;
  const tiedWith = best
    ? scored
        .slice(1)
        .filter((c) => c.value === best.value)
        .map((c) => c.runId)
    : [];
  return { candidates: ranked, winner, tiedWith };
}

/** The runs compared, best first, as `<run_id>=<value>` within a tag's `max` characters (then `…+N`). Pure. */
export function comparedTag(r: Ranking, max = 5000): string {
  const items = r.candidates.filter((c) => c.rank !== undefined).map((c) => `${c.runId}=${c.value}`);
  let out = "";
  for (let i = 0; i < items.length; i++) {
    const rest = items.length - i - 1;
    const next = `${out ? `${out},` : ""}${items[i]}`;
    const suffix = rest > 0 ? `,…+${rest}` : "";
    if (next.length + (rest > 0 ? suffix.length : 0) > max) return `${out},…+${items.length - i}`;
    out = next;
  }
  return out;
}

/** The comparison as a table for people: rank, run, the metric and the params that differ. Pure. */
export function renderRanking(r: Ranking, sel: Selection): string {
  const varying = [...new Set(r.candidates.flatMap((c) => Object.keys(c.params)))]
    .filter((k) => new Set(r.candidates.map((c) => c.params[k])).size > 1)
    .sort()
    .slice(0, 4);
  const head = ["rank", "run", "run id", sel.metric, ...varying, ""];
  const rows = r.candidates.map((c) => [
    c.rank === undefined ? "-" : String(c.rank),
    c.runName,
    c.runId,
    c.value === undefined ? `no ${sel.metric}` : String(c.value),
    ...varying.map((k) => c.params[k] ?? ""),
    c === r.winner ? "<- selected" : c.rank !== undefined && !c.reachesMinimum ? `below minimum ${sel.minimum}` : "",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((x, i) => x.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

/** The candidates of an experiment: its finished runs with the metric's latest value and their params. */
export function candidateOf(run: Run, metric: string): Candidate {
  const m = (run.data.metrics ?? []).filter((x) => x.key === metric).sort((a, b) => b.step - a.step || b.timestamp - a.timestamp)[0];
  return {
    runId: run.info.run_id,
    runName: run.info.run_name ?? run.info.run_id.slice(0, 8),
    value: m?.value,
    endTime: run.info.end_time ?? 0,
    params: tagMap(run.data.params),
  };
}

export interface SelectOptions {
  from: Endpoint;
  model: string;
  experiment: string;
  selection: Selection;
  /** Where the run logged its model (default `model`). */
  artifactPath?: string;
  dryRun?: boolean;
  readyTimeoutMs?: number;
}

export interface SelectionReport {
  workspace: string;
  model: string;
  experiment: string;
  selection: Selection;
  ranking: Ranking;
  /** The version registered or adopted; undefined in a dry run. */
  version: string | undefined;
  adopted: boolean;
  dryRun: boolean;
  source: string;
}

/** Ranks an experiment's finished runs and registers the winner's model, or adopts the version already registered from it. */
export async function selectBest(o: SelectOptions): Promise<SelectionReport> {
  const client = mlflowClient(o.from);
  const sub = o.artifactPath ?? "model";
  const where = `experiment '${o.experiment}' on ${o.from.uri}`;
  // A Unity Catalog version is created pending and its files uploaded by the client before finalize; select
  // does not do that upload, so it refuses before reading anything rather than leave a pending version.
  if (registryOf(o.from) === "unity-catalog")
    throw migrationError(
      `select registers into a workspace or OSS registry, not Unity Catalog ('${o.from.uri}'): select in the workspace, then migrate the version to Unity Catalog; nothing was registered`,
    );
  const exp = await client.experimentByName(o.experiment);
  if (!exp) throw migrationError(`there is no ${where}`);
  const runs = await client.allRuns([exp.experiment_id], "attributes.status = 'FINISHED'");
  if (!runs.length) throw migrationError(`${where} has no finished runs to compare`);
  const ranking = rankRuns(
    runs.map((r) => candidateOf(r, o.selection.metric)),
    o.selection,
  );
  const best = ranking.candidates[0];
  if (!ranking.winner) {
    throw migrationError(
      best?.rank === undefined
        ? `no finished run of ${where} logged ${o.selection.metric}; nothing was registered`
        : `no run of ${where} reaches ${o.selection.metric} ${o.selection.mode === "max" ? ">=" : "<="} ${o.selection.minimum}: the best is ${best.value} (run ${best.runName}, ${best.runId}); nothing was registered`,
    );
  }
  const winner = ranking.winner;
  const run = runs.find((r) => r.info.run_id === winner.runId)!;
  const source = `${run.info.artifact_uri.replace(/\/+$/, "")}/${sub}`;
  const report = { workspace: o.from.uri, model: o.model, experiment: o.experiment, selection: o.selection, ranking, source };
  // The winner must have logged a model where the version will point: an empty version is worse than none.
  const transport = transportFor(client);
  const files = await transport.list(await transport.runRoot(winner.runId, sub), "");
  if (!files.length)
    throw migrationError(
      `run ${winner.runName} (${winner.runId}) of ${where} has no files under '${sub}': log its model there (or name the path with --artifact-path); nothing was registered`,
    );
  const existing = await registeredFrom(client, o.model, winner.runId);
  if (o.dryRun || existing) {
    // A version adopted while the first select is still waiting for it is READY before it is reported.
    if (existing && !o.dryRun) await waitReady(client, o.model, existing, o.readyTimeoutMs ?? 300000);
    return { ...report, version: existing?.version, adopted: !!existing, dryRun: !!o.dryRun };
  }

  const tags: Tag[] = [
    { key: SELECTION_TAG.metric, value: o.selection.metric },
    { key: SELECTION_TAG.mode, value: o.selection.mode },
    { key: SELECTION_TAG.value, value: String(winner.value) },
    { key: SELECTION_TAG.rank, value: String(winner.rank) },
    { key: SELECTION_TAG.candidates, value: String(ranking.candidates.filter((c) => c.rank !== undefined).length) },
    { key: SELECTION_TAG.compared, value: comparedTag(ranking) },
    { key: SELECTION_TAG.runId, value: winner.runId },
    { key: SELECTION_TAG.experiment, value: o.experiment },
  ];
  await client.ensureRegisteredModel(o.model);
  const made = await client.createModelVersion({
    name: o.model,
    source,
    run_id: winner.runId,
    tags,
    description: `Selected by ${o.selection.metric} (${o.selection.mode}): ${winner.value}, rank 1 of ${tags[4].value} finished runs of ${o.experiment}.`,
  });
  await waitReady(client, o.model, made, o.readyTimeoutMs ?? 300000);
  return { ...report, version: made.version, adopted: false, dryRun: false };
}

/** The version already registered from this run (one `select` made, preferably), if any. */
async function registeredFrom(client: MlflowClient, model: string, runId: string): Promise<ModelVersion | undefined> {
  const versions = (await client.listVersions(model).catch((e) => (e.status === 404 ? [] : Promise.reject(e)))) as ModelVersion[];
  const fromRun = versions.filter((v) => v.run_id === runId && v.current_stage !== "Archived" && v.status !== "FAILED_REGISTRATION");
  return fromRun.find((v) => tagMap(v.tags)[SELECTION_TAG.runId] === runId) ?? fromRun[0];
}

async function waitReady(client: MlflowClient, model: string, v: ModelVersion, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let status = v.status;
  for (let attempt = 0; status !== "READY"; attempt++) {
    if (status === "FAILED_REGISTRATION") throw migrationError(`the registry failed to register model '${model}' version ${v.version}`);
    if (Date.now() > deadline)
      throw migrationError(`model '${model}' version ${v.version} did not become READY in time (status ${status})`);
    await sleep(readyPollDelayMs(attempt));
    status = (await client.getModelVersion(model, v.version)).status;
  }
}
