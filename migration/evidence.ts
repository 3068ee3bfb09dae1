/**
 * The consumer's evidence a production promotion needs, read and judged: the validation runs of a model (who
 * created each, on which bytes and data, with which result) and the sign-off that names one. Reading is I/O;
 * judging is pure, so that the gate (guard.ts) and `status` give the same verdict and the same reasons.
 *
 * Who acted is always what the tracking server recorded (a run's `info.user_id`, a transition request's
 * `user_id`), never a tag: on Databricks both are the owner of the token that made the call.
 */
import { jsonRequest, RetryPolicy, withRetry } from "../clients/http";
import { Endpoint, MlflowClient, ModelVersion, Run, tagMap } from "../clients/mlflow";
import type { ValidationRequirement } from "../plan/accessPlan";
import { runIdsIn, VALIDATION_TAG } from "./provenance";

export type { ValidationRequirement };

/** A validation run as its tags and the server's record describe it. */
export interface ValidationRun {
  runId: string;
  /** The run's creator as the server recorded it (not the `mlflow.user` tag, which the client writes). */
  user: string | undefined;
  status: string;
  model: string;
  version: string;
  manifestDigest: string | undefined;
  dataSha256: string | undefined;
  dataName: string | undefined;
  /** The Delta table (and its version) the sample was read from, where the validator names one. */
  dataTable?: string;
  dataTableVersion?: string;
  metric: string | undefined;
  threshold: number | undefined;
  value: number | undefined;
  verdict: string | undefined;
  predictions: string | undefined;
  endTime: number | undefined;
}

/** One validation run and whether it counts for a version, with the reasons it does not. */
export interface JudgedValidation {
  run: ValidationRun;
  counted: boolean;
  reasons: string[];
}

const lc = (s: string | undefined) => (s ?? "").toLowerCase();
const numberOr = (s: string | undefined) => (s === undefined || s === "" || Number.isNaN(Number(s)) ? undefined : Number(s));

/** A run's validation record, or undefined when it is not a validation run. */
export function validationOf(run: Run): ValidationRun | undefined {
  const t = tagMap(run.data.tags);
  if (!t[VALIDATION_TAG.model]) return undefined;
  return {
    runId: run.info.run_id,
    user: run.info.user_id || undefined,
    status: run.info.status,
    model: t[VALIDATION_TAG.model],
    version: t[VALIDATION_TAG.version] ?? "",
    manifestDigest: t[VALIDATION_TAG.manifestDigest],
    dataSha256: t[VALIDATION_TAG.dataSha256],
    dataName: t[VALIDATION_TAG.dataName],
    dataTable: t[VALIDATION_TAG.dataTable],
    dataTableVersion: t[VALIDATION_TAG.dataTableVersion],
    metric: t[VALIDATION_TAG.metric],
    threshold: numberOr(t[VALIDATION_TAG.threshold]),
    value: numberOr(t[VALIDATION_TAG.value]),
    verdict: t[VALIDATION_TAG.verdict],
    predictions: t[VALIDATION_TAG.predictions],
    endTime: run.info.end_time,
  };
}

/** Every validation run of `model` in the experiment, oldest first ([] when the experiment does not exist yet). */
export async function readValidations(client: MlflowClient, experiment: string, model: string): Promise<ValidationRun[]> {
  const exp = await client.experimentByName(experiment);
  if (!exp) return [];
  const quoted = model.replace(/'/g, "\\'");
  const runs = await client.allRuns([exp.experiment_id], `tags.\`${VALIDATION_TAG.model}\` = '${quoted}'`);
  return runs.map(validationOf).filter((v): v is ValidationRun => !!v);
}

/**
 * Judges validation runs for one version: a run counts when it is of this version, finished, created by a
 * member of a signer role who is not one of the version's `authors` (resolved through its provenance), measured
 * the configured metric against at least the configured threshold, passed (its value reaching the configured
 * threshold, whatever its verdict tag says), names the version's manifest digest (`digest`, when known: the bytes
 * being promoted), and records the SHA-256 of the data it scored, the pinned data where `req.data` pins it. Pure.
 */
export function judgeValidations(
  runs: ValidationRun[],
  req: ValidationRequirement,
  target: { version: string; digest?: string },
  authors: string[] = [],
): JudgedValidation[] {
  const signers = new Set(req.signers.map(lc));
  const excluded = new Set(authors.map(lc));
  return runs.map((run) => {
    const reasons: string[] = [];
    if (run.version !== target.version) reasons.push(`of version ${run.version || "(none)"}, not ${target.version}`);
    if (run.status !== "FINISHED") reasons.push(`not finished (${run.status})`);
    if (!run.user || !signers.has(lc(run.user))) reasons.push(`by ${run.user ?? "(unknown)"}, not a member of a signer role`);
    else if (excluded.has(lc(run.user))) reasons.push(`by ${run.user}, the version's author (an author never validates their own model)`);
    reasons.push(...dataReasons(run, req.data));
    if (run.metric !== req.metric) reasons.push(`measured ${run.metric ?? "nothing"}, not ${req.metric}`);
    else if (run.threshold === undefined || run.threshold < req.threshold)
      reasons.push(`against threshold ${run.threshold ?? "(none)"}, below the configured ${req.threshold}`);
    if (run.value === undefined || run.value < req.threshold || run.verdict !== "passed")
      reasons.push(`failed: ${req.metric} ${run.value ?? "(none)"} < ${req.threshold}`);
    if (!run.manifestDigest) reasons.push("names no manifest digest");
    else if (target.digest && run.manifestDigest !== target.digest)
      reasons.push(`of other bytes (manifest digest ${run.manifestDigest.slice(0, 12)}, the version's is ${target.digest.slice(0, 12)})`);
    return { run, counted: reasons.length === 0, reasons };
  });
}

/**
 * Why a validation's data does not count: it records no hash of what it scored (a validation must name its data),
 * or the configuration pins the historical sample (by SHA-256, or by a Delta table and version) and this is other
 * data; both hashes, or both tables, are named.
 */
function dataReasons(run: ValidationRun, pin: ValidationRequirement["data"]): string[] {
  if (!run.dataSha256)
    return [`records no hash of its data (${VALIDATION_TAG.dataSha256}): a validation counts only on data it names by SHA-256`];
  if (pin && "sha256" in pin && lc(run.dataSha256) !== lc(pin.sha256))
    return [`on other data than the pinned sample (sha256 ${run.dataSha256}; validation.data pins sha256 ${pin.sha256})`];
  if (pin && "table" in pin && (lc(run.dataTable) !== lc(pin.table) || run.dataTableVersion !== String(pin.version)))
    return [
      `on other data than the pinned table (${run.dataTable ? `${run.dataTable} version ${run.dataTableVersion ?? "(none)"}` : "no table named"}; validation.data pins ${pin.table} version ${pin.version})`,
    ];
  return [];
}

/** A transition request as `transition-requests/list` returns it. */
export interface RequestActivity {
  activity_type?: string;
  to_stage?: string;
  user_id?: string;
  creation_timestamp?: number;
  comment?: string;
}

/** The gate's approval rule for one transition request: raised by an approving member who is not the version's author. Pure. */
export function approvalVerdict(user: string | undefined, approvers: string[], authors: string[]): { counted: boolean; reason?: string } {
  if (user && authors.some((a) => lc(a) === lc(user))) return { counted: false, reason: "the version's author" };
  if (!user || !approvers.some((a) => lc(a) === lc(user))) return { counted: false, reason: "not an approving member" };
  return { counted: true };
}

/** The requests to `stage` among the open ones. */
export const requestsTo = (requests: RequestActivity[], stage: string) =>
  requests.filter((r) => (r.activity_type ?? "REQUESTED_TRANSITION") === "REQUESTED_TRANSITION" && lc(r.to_stage) === lc(stage));

/** A sign-off that counts: who raised it, the validation run it names, and the request itself. */
export interface SignOffCandidate {
  user: string;
  runId: string;
  request: RequestActivity;
}

/**
 * The consumer's sign-offs on a workspace registry: open transition requests to `stage`, each raised by a signer
 * who is not one of the version's authors, whose comment names a counted validation run, and raised after that
 * run ended (a sign-off of a validation nobody could have seen the result of yet is no sign-off). Every request
 * that counts, in order, and why each other signer's does not. Pure.
 */
export function judgeSignOffRequests(
  requests: RequestActivity[],
  req: ValidationRequirement,
  authors: string[],
  counted: { runId: string; endTime?: number }[],
): { counted: SignOffCandidate[]; refused: string[] } {
  const signers = new Set(req.signers.map(lc));
  const excluded = new Set(authors.map(lc));
  const out: SignOffCandidate[] = [];
  const refused: string[] = [];
  for (const r of requests) {
    const named = runIdsIn(r.comment);
    if (!r.user_id || !signers.has(lc(r.user_id))) continue; // an approver's request: judged as the approval
    if (excluded.has(lc(r.user_id))) {
      refused.push(`${r.user_id} (the version's author)`);
      continue;
    }
    const runs = counted.filter((c) => named.includes(c.runId));
    const after = runs.find((c) => (r.creation_timestamp ?? 0) > (c.endTime ?? Infinity));
    if (after) out.push({ user: r.user_id, runId: after.runId, request: r });
    else if (runs.length)
      refused.push(
        `${r.user_id} (raised at ${iso(r.creation_timestamp)}, before validation run ${runs[0].runId} ended at ${iso(runs[0].endTime)}: a sign-off counts only once the validation it names has ended)`,
      );
    else
      refused.push(
        `${r.user_id} (${named.length ? `names run ${named.join(", ")}, not a counted validation` : "names no validation run in its comment"})`,
      );
  }
  return { counted: out, refused };
}

const iso = (ms: number | undefined) => (ms === undefined ? "(unknown)" : new Date(ms).toISOString());

/**
 * What a sign-off on the merge-request path names: the model versions (`version N`) and the validation runs
 * (`run <id>`) of its text, a merge request's description or a signer's note (see `mergeRequestSignOffText`).
 */
export function signOffNames(text: string | undefined): { versions: string[]; runs: string[] } {
  return { versions: [...(text ?? "").matchAll(/\bversion (\d+)\b/g)].map((m) => m[1]), runs: runIdsIn(text) };
}

/**
 * The open transition requests of a version (`transition-requests/list`): the one documented read of a
 * workspace registry's activities, which the gate and `status` both judge.
 */
export async function openRequests(from: Endpoint, v: ModelVersion, retry: RetryPolicy): Promise<RequestActivity[]> {
  const headers: Record<string, string> = from.token ? { Authorization: `Bearer ${from.token}` } : {};
  const q = new URLSearchParams({ name: v.name, version: v.version }).toString();
  const listed = await withRetry(retry, () =>
    jsonRequest<{ requests?: RequestActivity[] }>(
      "GET",
      `${from.baseUrl}/api/2.0/mlflow/transition-requests/list?${q}`,
      headers,
      undefined,
      `${from.uri}: transition requests of model '${v.name}' version ${v.version}`,
    ),
  );
  return listed.requests ?? [];
}
