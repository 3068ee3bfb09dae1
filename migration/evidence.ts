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
 * member of a signer role, measured the configured metric against at least the configured threshold, passed
 * (its value reaching the configured threshold, whatever its verdict tag says), and names the version's
 * manifest digest (`digest`, when known: the bytes being promoted). Pure.
 */
export function judgeValidations(
  runs: ValidationRun[],
  req: ValidationRequirement,
  target: { version: string; digest?: string },
): JudgedValidation[] {
  const signers = new Set(req.signers.map(lc));
  return runs.map((run) => {
    const reasons: string[] = [];
    if (run.version !== target.version) reasons.push(`of version ${run.version || "(none)"}, not ${target.version}`);
    if (run.status !== "FINISHED") reasons.push(`not finished (${run.status})`);
    if (!run.user || !signers.has(lc(run.user))) reasons.push(`by ${run.user ?? "(unknown)"}, not a member of a signer role`);
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

/**
 * The consumer's sign-off on a workspace registry: an open transition request to `stage`, raised by a signer
 * who is not the version's author, whose comment names a counted validation run. Pure.
 */
export function judgeSignOffRequests(
  requests: RequestActivity[],
  req: ValidationRequirement,
  authors: string[],
  countedRuns: string[],
): { counted?: { user: string; runId: string; request: RequestActivity }; refused: string[] } {
  const signers = new Set(req.signers.map(lc));
  const excluded = new Set(authors.map(lc));
  const refused: string[] = [];
  for (const r of requests) {
    const named = runIdsIn(r.comment);
    if (!r.user_id || !signers.has(lc(r.user_id))) continue; // an approver's request: judged as the approval
    if (excluded.has(lc(r.user_id))) {
      refused.push(`${r.user_id} (the version's author)`);
      continue;
    }
    const run = named.find((id) => countedRuns.includes(id));
    if (run) return { counted: { user: r.user_id, runId: run, request: r }, refused };
    refused.push(
      `${r.user_id} (${named.length ? `names run ${named.join(", ")}, not a counted validation` : "names no validation run in its comment"})`,
    );
  }
  return { refused };
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
