/**
 * `status`: a model's lifecycle at a glance in one workspace, read live. Three phases: `statusScope` (pure:
 * where the stack sits in the project's flow and what each promotion from it needs), `readStatus` (I/O: the
 * versions, their runs, open transition requests and validation runs) and `judgeStatus` (pure: the evidence
 * judged with the gate's own functions, and what each version still lacks). `renderStatus` is a pure function
 * of the report.
 */
import { DEFAULT_RETRY, orUndefined, RetryPolicy } from "../clients/http";
import { Endpoint, mlflowClient, ModelVersion, registryOf, Run, tagMap } from "../clients/mlflow";
import type { AccessModel, Promotion } from "../config/schema";
import { approverEmails, validationRequirement } from "../plan/accessPlan";
import {
  approvalVerdict,
  judgeSignOffRequests,
  openRequests,
  judgeValidations,
  readValidations,
  RequestActivity,
  requestsTo,
  ValidationRequirement,
  ValidationRun,
} from "./evidence";
import { authorsOf, promotedStage } from "./guard";
import { ORIGIN_TAG, runIdsIn, SELECTION_TAG, TAG } from "./provenance";

/** One promotion that leaves the workspace's stack, and what it needs. */
export interface ScopePromotion {
  /** The target stack (`pulumi up` of it runs the promotion) and its environment. */
  toStack: string;
  toEnv: string;
  select: Promotion["select"];
  production: boolean;
  /** The consumer's validation and sign-off the promotion needs, when the model is validated here. */
  validation?: ValidationRequirement;
}

/** Where the workspace sits in the project's flow, from the config. */
export interface StatusScope {
  stack: string;
  environment: string;
  promotions: ScopePromotion[];
  /** Members of an approving role, by email. */
  approvers: string[];
}

/**
 * The scope of `modelName` in `stackName` from the project's config: the promotions that leave it, whether
 * each goes into production, and the validation it requires (`validationRequirement`, as the gate reads it).
 * Pure; throws naming the known stacks when the stack is unknown.
 */
export function statusScope(model: AccessModel, modelName: string, stackName: string): StatusScope {
  const stack = model.stacks.find((s) => s.name === stackName);
  if (!stack) throw new Error(`unknown stack '${stackName}'; expected one of: ${model.stacks.map((s) => s.name).join(", ")}`);
  const tierOf = (st: string) => model.environments.find((e) => e.name === (model.stacks.find((s) => s.name === st)?.branch ?? st))?.tier;
  const promotions = (model.models.find((m) => m.name === modelName)?.promotions ?? [])
    .filter((p) => p.from === stackName)
    .map((p) => {
      const validation = validationRequirement(model, modelName, stackName, model.stacks.find((s) => s.name === p.to)?.branch ?? p.to);
      return {
        toStack: p.to,
        toEnv: model.stacks.find((s) => s.name === p.to)?.branch ?? p.to,
        select: p.select,
        production: tierOf(p.to) === "production",
        ...(validation ? { validation } : {}),
      };
    });
  return { stack: stackName, environment: stack.branch, promotions, approvers: approverEmails(model) };
}

/** A validation run of a version, judged as the gate judges it. */
export interface StatusValidation {
  runId: string;
  by: string | undefined;
  verdict: string | undefined;
  metric: string | undefined;
  value: number | undefined;
  threshold: number | undefined;
  dataName: string | undefined;
  dataSha256: string | undefined;
  counted: boolean;
  reasons: string[];
}

/** An open transition request read as a sign-off (by a signer) or an approval (by anyone else). */
export interface StatusRequest {
  user: string;
  toStage: string;
  /** The validation runs its comment names (sign-offs). */
  runIds: string[];
  counted: boolean;
  /** Why it does not count, when it does not. */
  reason?: string;
}

export interface VersionStatus {
  version: string;
  stage: string;
  authors: string[];
  aliases: string[];
  selection?: { metric?: string; mode?: string; value?: string; rank?: string; candidates?: string };
  source?: { host?: string; model?: string; version?: string };
  manifestDigest?: string;
  /**
   * What the production gate accepted when it promoted this version here (its provenance tags): a record, not
   * evidence, since anyone who may tag the version could rewrite it.
   */
  accepted?: { validationRun?: string; validatedBy?: string; result?: string; data?: string; signedOffBy?: string; approvedBy?: string };
  /** This version's validation runs; undefined when nothing says where they are (no --stack, or not validated here). */
  validations?: StatusValidation[];
  signOffs: StatusRequest[];
  approvals: StatusRequest[];
  /** What the version still lacks for its next step, or that it is ready. */
  next: string;
}

export interface StatusReport {
  model: string;
  workspace: string;
  registry: "oss" | "workspace" | "unity-catalog";
  scope?: StatusScope;
  versions: VersionStatus[];
}

/** What `readStatus` reads for one version. */
export interface VersionRecord {
  version: ModelVersion;
  run: Run | undefined;
  /** Its open transition requests (a workspace registry), [] elsewhere. */
  requests: RequestActivity[];
}

/** What `readStatus` reads: the versions and, where the model is validated here, its validation runs. */
export interface StatusRecords {
  model: string;
  workspace: string;
  registry: StatusReport["registry"];
  versions: VersionRecord[];
  validations: ValidationRun[];
}

const lc = (s: string) => s.toLowerCase();
const numeric = (a: ModelVersion, b: ModelVersion) => Number(a.version) - Number(b.version);

/**
 * Reads the model's non-archived versions in the workspace, each with its run (for its author) and its open
 * transition requests, and the validation runs where the scope says the model is validated. Throws naming the
 * workspace when the model does not exist there.
 */
export async function readStatus(
  from: Endpoint,
  model: string,
  scope?: StatusScope,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<StatusRecords> {
  const client = mlflowClient(from, retry);
  if (!(await client.getRegisteredModel(model))) throw new Error(`model '${model}' not found on ${from.uri}`);
  const registry = registryOf(from);
  const versions = (await client.listVersions(model)).filter((v) => lc(v.current_stage ?? "None") !== "archived").sort(numeric);
  const records: VersionRecord[] = [];
  for (const v of versions) {
    const run = v.run_id ? await orUndefined(client.getRun(v.run_id)) : undefined;
    records.push({ version: v, run, requests: registry === "workspace" ? await openRequests(from, v, retry) : [] });
  }
  const experiment = scope?.promotions.find((p) => p.validation)?.validation?.experiment;
  const validations = experiment ? await readValidations(client, experiment, model) : [];
  return { model, workspace: from.uri, registry, versions: records, validations };
}

/** Whether a promotion's selector picks this version. */
const picks = (p: ScopePromotion, v: ModelVersion) =>
  "stage" in p.select
    ? lc(v.current_stage ?? "None") === lc(p.select.stage)
    : "version" in p.select
      ? v.version === p.select.version
      : (v.aliases ?? []).includes(p.select.alias);

const selectorText = (s: Promotion["select"]) =>
  "stage" in s ? `stage ${s.stage}` : "version" in s ? `version ${s.version}` : `alias ${s.alias}`;

/**
 * Judges every version: its validation runs with `judgeValidations`, its open requests with
 * `judgeSignOffRequests` (sign-offs) and the gate's approval rule (an approving member who is not the author),
 * and what it still lacks for the promotion that leaves this stack. Pure.
 */
export function judgeStatus(records: StatusRecords, scope?: StatusScope): StatusReport {
  return {
    model: records.model,
    workspace: records.workspace,
    registry: records.registry,
    ...(scope ? { scope } : {}),
    versions: records.versions.map((r) => judgeVersion(r, records, scope)),
  };
}

function judgeVersion(r: VersionRecord, records: StatusRecords, scope: StatusScope | undefined): VersionStatus {
  const v = r.version;
  const t = tagMap(v.tags);
  // As the gate, the origin's authors too; here as the copy's origin tags say (status reads one workspace: the
  // gate reads the origin itself, with authority).
  const authors = [
    ...new Map(
      [...authorsOf(v, r.run), t[ORIGIN_TAG.author], t[ORIGIN_TAG.runUser]].filter((x): x is string => !!x).map((x) => [lc(x), x]),
    ).values(),
  ];
  const promotion =
    scope && (scope.promotions.find((p) => picks(p, v)) ?? (scope.promotions.length === 1 ? scope.promotions[0] : undefined));
  const req = promotion?.validation;
  const judged = req
    ? judgeValidations(
        records.validations.filter((x) => x.version === v.version),
        req,
        { version: v.version, digest: t[TAG.manifestDigest] },
        authors,
      )
    : undefined;
  // As the gate (guard.ts stageEvidence): a sign-off counts when it names any counted validation, raised after it ended.
  const countedRuns = (judged ?? []).filter((j) => j.counted).map((j) => ({ runId: j.run.runId, endTime: j.run.endTime }));
  const stage = promotion ? promotedStage(v, promotion.select) : "Production";
  const toStage = requestsTo(r.requests, stage);
  const signers = new Set((req?.signers ?? []).map(lc));
  const signOffs: StatusRequest[] = req
    ? toStage
        .filter((x) => x.user_id && signers.has(lc(x.user_id)))
        .map((x) => {
          const one = judgeSignOffRequests([x], req, authors, countedRuns);
          const reason = one.refused[0]?.replace(/^[^ ]+ \((.*)\)$/, "$1");
          return {
            user: x.user_id!,
            toStage: x.to_stage ?? stage,
            runIds: runIdsIn(x.comment),
            counted: one.counted.length > 0,
            ...(reason ? { reason } : {}),
          };
        })
    : [];
  // As the gate: any request by an approving member is judged as an approval; a signer's, as a sign-off only.
  const approving = new Set((scope?.approvers ?? []).map(lc));
  const approvals = toStage
    .filter((x) => approving.has(lc(x.user_id ?? "")) || !signers.has(lc(x.user_id ?? "")))
    .map((x) => judgeApproval(x, stage, scope?.approvers ?? [], authors));
  const selection = pick({
    metric: t[SELECTION_TAG.metric],
    mode: t[SELECTION_TAG.mode],
    value: t[SELECTION_TAG.value],
    rank: t[SELECTION_TAG.rank],
    candidates: t[SELECTION_TAG.candidates],
  });
  const source = pick({ host: t[TAG.sourceHost], model: t[TAG.sourceModel], version: t[TAG.sourceVersion] });
  const accepted = pick({
    validationRun: t[TAG.validationRun],
    validatedBy: t[TAG.validatedBy],
    result: t[TAG.validationResult],
    data: t[TAG.validationData],
    signedOffBy: t[TAG.signedOffBy],
    approvedBy: t[TAG.approvedBy],
  });
  const status: VersionStatus = {
    version: v.version,
    stage: v.current_stage ?? "None",
    authors,
    aliases: v.aliases ?? [],
    ...(selection ? { selection } : {}),
    ...(source ? { source } : {}),
    ...(t[TAG.manifestDigest] ? { manifestDigest: t[TAG.manifestDigest] } : {}),
    ...(accepted ? { accepted } : {}),
    ...(judged
      ? {
          validations: judged.map((j) => ({
            runId: j.run.runId,
            by: j.run.user,
            verdict: j.run.verdict,
            metric: j.run.metric,
            value: j.run.value,
            threshold: j.run.threshold,
            dataName: j.run.dataName,
            dataSha256: j.run.dataSha256,
            counted: j.counted,
            reasons: j.reasons,
          })),
        }
      : {}),
    signOffs,
    approvals,
    next: "",
  };
  return { ...status, next: nextStep(status, v, records.registry, scope, promotion) };
}

/** One request judged by the gate's approval rule (evidence.ts approvalVerdict). */
function judgeApproval(x: RequestActivity, stage: string, approvers: string[], authors: string[]): StatusRequest {
  const verdict = approvalVerdict(x.user_id, approvers, authors);
  return {
    user: x.user_id ?? "(unknown)",
    toStage: x.to_stage ?? stage,
    runIds: runIdsIn(x.comment),
    counted: verdict.counted,
    ...(verdict.reason ? { reason: verdict.reason } : {}),
  };
}

/** The object without its undefined fields, or undefined when none is left. */
function pick<T extends Record<string, string | undefined>>(o: T): { [K in keyof T]?: string } | undefined {
  const out = Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined && x !== ""));
  return Object.keys(out).length ? (out as { [K in keyof T]?: string }) : undefined;
}

function nextStep(
  s: VersionStatus,
  v: ModelVersion,
  registry: StatusReport["registry"],
  scope: StatusScope | undefined,
  p: ScopePromotion | undefined,
): string {
  if (!scope) return "unknown: give --stack to judge the evidence against the project's flow";
  if (!p) return `nothing: no promotion of '${v.name}' leaves ${scope.stack}`;
  const lacking: string[] = [];
  if (p.production) {
    if (p.validation) {
      if (!s.validations?.some((x) => x.counted)) lacking.push("validation by a signer");
      if (registry !== "workspace") lacking.push("sign-off (approval of the promotion's merge request by a signer, read at pulumi up)");
      else if (!s.signOffs.some((x) => x.counted)) lacking.push("sign-off");
    }
    if (registry !== "workspace")
      lacking.push("approval of the promotion's merge request by an approving member other than the author (read at pulumi up)");
    else if (!s.approvals.some((x) => x.counted)) lacking.push("approval by an approving member other than the author");
  }
  if (!picks(p, v))
    lacking.push(
      `moving to ${selectorText(p.select)} (the promotion to ${p.toStack} takes the version in ${selectorText(p.select)}${p.production && registry === "workspace" ? "; leave the requests open" : ""})`,
    );
  return lacking.length ? `${lacking.join("; ")}, for pulumi up of ${p.toStack}` : `ready for pulumi up of ${p.toStack}`;
}

const short = (s: string | undefined, n = 12) => (s ? s.slice(0, n) : "-");

/** The report as text: one block per version, ending with its `next:` line. Pure. */
export function renderStatus(r: StatusReport): string {
  const where = r.scope ? ` (stack ${r.scope.stack}, environment ${r.scope.environment})` : "";
  const lines = [`model '${r.model}' on ${r.workspace}${where}`];
  if (!r.versions.length) lines.push("  no versions (other than archived ones)");
  for (const v of r.versions) {
    lines.push(
      `version ${v.version}  stage ${v.stage}${v.aliases.length ? `  aliases ${v.aliases.join(", ")}` : ""}  by ${v.authors.join(" / ") || "(unknown)"}`,
    );
    if (v.selection) {
      const s = v.selection;
      lines.push(
        `  selected     ${s.metric ?? "?"} ${s.value ?? "?"}${s.mode ? ` (${s.mode})` : ""}${s.rank ? `, rank ${s.rank}${s.candidates ? ` of ${s.candidates}` : ""}` : ""}`,
      );
    }
    if (v.source) lines.push(`  from         ${v.source.host ?? "?"} model '${v.source.model ?? "?"}' version ${v.source.version ?? "?"}`);
    lines.push(`  manifest     ${v.manifestDigest ? `sha256 ${v.manifestDigest}` : "(no digest tag)"}`);
    if (v.accepted) {
      const a = v.accepted;
      lines.push(
        `  promoted on  ${a.validationRun ? `validation run ${a.validationRun} by ${a.validatedBy ?? "?"} (${a.result ?? "?"}, ${a.data ?? "?"}); ` : ""}${a.signedOffBy ? `signed off by ${a.signedOffBy}; ` : ""}approved by ${a.approvedBy ?? "?"}`,
      );
    }
    if (v.validations) {
      if (!v.validations.length) lines.push("  validation   none");
      for (const x of v.validations) {
        const cmp = x.value !== undefined && x.threshold !== undefined ? (x.value >= x.threshold ? ">=" : "<") : "vs";
        lines.push(
          `  validation   run ${x.runId} ${x.verdict ?? "(no verdict)"}: ${x.metric ?? "?"} ${x.value ?? "?"} ${cmp} ${x.threshold ?? "?"} on ${x.dataName ?? "?"} (sha256 ${short(x.dataSha256)}) by ${x.by ?? "(unknown)"}: ${x.counted ? "counted" : `not counted (${x.reasons.join(", ")})`}`,
        );
      }
    }
    for (const x of v.signOffs)
      lines.push(
        `  sign-off     ${x.user} to ${x.toStage}${x.runIds.length ? ` naming run ${x.runIds.join(", ")}` : ""}: ${x.counted ? "counted" : `not counted (${x.reason ?? "?"})`}`,
      );
    for (const x of v.approvals)
      lines.push(`  approval     ${x.user} to ${x.toStage}: ${x.counted ? "counted" : `not counted (${x.reason ?? "?"})`}`);
    lines.push(`  next: ${v.next}`);
  }
  return lines.join("\n");
}
