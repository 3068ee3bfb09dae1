/**
 * The migration guard: a model moves only along an edge of the promotion flow, and into production only
 * with an approval recorded by a system that knows who acted, by an approving member who is not the
 * version's author. Checked before any copy.
 *
 * A tag on the version (`quant.approval.approved_by`) is never evidence: whoever may tag the version, its
 * author included, can write any name into it. The evidence is one of:
 * - source on a Databricks workspace registry (stages): a transition request to the promoted stage on the
 *   source version, whose creator Databricks records (`user_id`, the token's owner), raised by an approving
 *   member other than the author. Read with `GET transition-requests/list`, the one documented read of
 *   registry activities: Databricks documents no read of past activities (APPROVED_REQUEST and the like), so
 *   an approval that already closed its request cannot be read back; the approver's open request is the
 *   sign-off (see `stageEvidence`).
 * - any other source (OSS, Unity Catalog: aliases): the change to the project's config that declared the
 *   promotion was merged through a merge request (GitLab) or pull request (GitHub) approved by an approving
 *   member who is neither its author nor the version's author, read from the Git host's API.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { githubApi } from "../clients/github";
import { gitlabApi } from "../clients/gitlab";
import { DEFAULT_RETRY, RetryPolicy } from "../clients/http";
import { Endpoint, mlflowClient, ModelVersion, registryOf, Run, tagMap } from "../clients/mlflow";
import { approvalsFromReviews } from "../plan/fourEyes";
import { allowedTargets, Edge, isEdge } from "../plan/flow";
import {
  approvalVerdict,
  judgeSignOffRequests,
  judgeValidations,
  openRequests,
  readValidations,
  RequestActivity,
  requestsTo,
  ValidationRequirement,
} from "./evidence";
import { migrationError } from "./failure";
import { TAG } from "./provenance";
import type { VersionSelector } from "./modelVersion";

/** A team member as the guard needs them: the email a registry records, the Git username a host records. */
export interface GuardMember {
  email: string;
  gitUsername?: string;
}

/**
 * Where the change that declared a promotion lives: the Git host's API, the project, a working copy of the
 * repository (to find the commit with `git blame`), and the promotion entry in the config file.
 */
export interface GitEvidenceSource {
  provider: "gitlab" | "github";
  /** The API root: https://gitlab.example.com/api/v4, or https://api.github.com. */
  apiUrl: string;
  /** group/name (GitLab) or owner/name (GitHub). */
  project: string;
  /** Read at run time, never stored in state. */
  token: string;
  /** A working copy of the repository whose history holds the config file. */
  repoDir: string;
  /** The file that declares the promotion, relative to repoDir (Pulumi.yaml). */
  configPath: string;
  /** The promotion entry: the model, and the source and target stacks as the file names them. */
  model: string;
  fromStack: string;
  toStack: string;
}

export interface MigrationGuard {
  flow: Edge[];
  fromEnv: string;
  toEnv: string;
  /** Promotion into production needs an approval by an approving member other than the version's author. */
  production: boolean;
  /** Who holds an approving role, by email (the Databricks user name a registry records). */
  approvers: string[];
  /** The roster's emails and Git usernames: who an approval on a Git host or an author is. */
  members?: GuardMember[];
  /** For sources without stages (OSS, Unity Catalog): where to read the merge request that declared the promotion. */
  git?: GitEvidenceSource;
  /** The consumer's validation and sign-off a production promotion from the validation stack needs. */
  validation?: ValidationRequirement;
}

/** What the guard accepted, recorded on the target version as provenance. */
export interface ApprovalEvidence {
  /** `transition-request` or `merge-request`. */
  kind: "transition-request" | "merge-request";
  /** Where: `<workspace> model 'm' version 3 request to Production`, or a merge request's web reference. */
  ref: string;
  /** Who approved (email for a registry, Git username for a merge request). */
  approver: string;
}

/** What a production promotion was let through on: the approval, and the consumer's validation and sign-off when required. */
export interface ProductionEvidence {
  approval: ApprovalEvidence;
  validation?: {
    runId: string;
    /** Who created the validation run, as the tracking server recorded it. */
    by: string;
    metric: string;
    value: number;
    threshold: number;
    dataSha256: string;
    dataName?: string;
    /** The digest of the validated bytes: the migration refuses to register other bytes. */
    manifestDigest: string;
  };
  signOff?: { kind: "transition-request" | "merge-request"; ref: string; signer: string };
}

/** A check that found its evidence, or says what is missing and how to provide it. */
type Found<T> = { ok: T } | { missing: string };

/** Who authored a version: the registry's user_id, and the user who ran the source run; both are excluded as approvers. */
export function authorsOf(version: ModelVersion, run: Run | undefined): string[] {
  return [...new Set([version.user_id, tagMap(run?.data.tags)["mlflow.user"]].filter((x): x is string => !!x))];
}

/** The source -> target environments must be a promotion edge: checked before any request. */
export function checkEdge(g: MigrationGuard): void {
  if (!isEdge(g.flow, g.fromEnv, g.toEnv)) {
    const allowed = allowedTargets(g.flow, g.fromEnv);
    throw migrationError(
      `refusing to migrate from ${g.fromEnv} to ${g.toEnv}: not an edge of the promotion flow (allowed from ${g.fromEnv}: ${allowed.join(", ") || "none"})`,
    );
  }
}

const lc = (s: string) => s.toLowerCase();

/** The stage a production promotion of this version is approved into. */
export function promotedStage(version: ModelVersion, select: VersionSelector): string {
  if ("stage" in select) return select.stage;
  const s = version.current_stage;
  return s && !["none", "archived"].includes(lc(s)) ? s : "Production";
}

/**
 * Into production: evidence of an approval by an approving member who is not the version's author and, where
 * the model is validated (`g.validation`), a passed validation of these bytes by a signer and the signer's
 * sign-off, all read from systems that record who acted. Returns the evidence for the target's provenance;
 * throws, listing every missing piece and how to provide it, when any is missing. Nothing is copied before.
 */
export async function checkProduction(
  g: MigrationGuard,
  ctx: {
    from: Endpoint;
    version: ModelVersion;
    run: Run | undefined;
    select: VersionSelector;
    retry?: RetryPolicy;
  },
): Promise<ProductionEvidence | undefined> {
  if (!g.production) return undefined;
  const v = ctx.version;
  const authors = authorsOf(v, ctx.run);
  const retry = ctx.retry ?? DEFAULT_RETRY;
  const stages = registryOf(ctx.from) === "workspace";
  const validation = g.validation ? await validationEvidence(g.validation, ctx.from, v, retry) : undefined;
  const validated = validation && "ok" in validation ? validation.ok : [];
  let approval: Found<ApprovalEvidence>;
  let signOff: Found<NonNullable<ProductionEvidence["signOff"]> & { runId?: string }> | undefined;
  if (stages) {
    const stage = promotedStage(v, ctx.select);
    const requests = requestsTo(await openRequests(ctx.from, v, retry), stage);
    approval = stageApproval(g, ctx.from, v, stage, requests, authors);
    if (g.validation) signOff = stageSignOff(g, g.validation, ctx.from, v, stage, requests, authors, validated);
  } else {
    const judged = await mergeRequests(g, v, authors);
    approval = mergeRequestApproval(g, v, authors, judged);
    if (g.validation) signOff = mergeRequestSignOff(g.validation, g, v, authors, judged);
  }
  const missing = [validation, signOff, approval].flatMap((x) => (x && "missing" in x ? [x.missing] : []));
  if (missing.length) {
    const forged = tagMap(v.tags)["quant.approval.approved_by"];
    throw migrationError(
      `${refusal(g, v)}: ${missing.join("; ")}` +
        `${forged ? `; the tag quant.approval.approved_by=${forged} is not evidence (anyone who may tag the version can write it)` : ""}` +
        `${missing.length > 1 ? ` (${missing.length} pieces of evidence missing; nothing was copied)` : ""}`,
    );
  }
  const ok = <T>(x: Found<T> | undefined) => (x && "ok" in x ? x.ok : undefined);
  const signed = ok(signOff);
  // The validation on record is the one the sign-off names (a workspace registry), else the newest counted.
  const chosen = validated.find((x) => x.runId === signed?.runId) ?? validated[0];
  const signOffEvidence = signed && { kind: signed.kind, ref: signed.ref, signer: signed.signer };
  return { approval: ok(approval)!, ...optionalEvidence("validation", chosen), ...optionalEvidence("signOff", signOffEvidence) };
}

/** A counted validation as the gate records it on the target. */
type Validated = NonNullable<ProductionEvidence["validation"]>;

const optionalEvidence = <K extends string, T>(k: K, v: T | undefined) => (v === undefined ? {} : ({ [k]: v } as { [P in K]: T }));

const who = (v: ModelVersion) => `model '${v.name}' version ${v.version}`;
const refusal = (g: MigrationGuard, v: ModelVersion) => `refusing to promote ${who(v)} into production environment ${g.toEnv}`;
const authorText = (authors: string[]) => (authors.length ? `the author ${authors.join(" / ")}` : "the author (unknown)");

/**
 * The consumer's validation: a counted validation run of this version in the validation experiment. The
 * version's manifest digest is its provenance tag where it was migrated here; the migration checks the digest
 * again against the bytes it copies, before anything is registered.
 */
async function validationEvidence(
  req: ValidationRequirement,
  from: Endpoint,
  v: ModelVersion,
  retry: RetryPolicy,
): Promise<Found<Validated[]>> {
  const runs = await readValidations(mlflowClient(from, retry), req.experiment, v.name);
  const judged = judgeValidations(runs, req, { version: v.version, digest: tagMap(v.tags)[TAG.manifestDigest] });
  const counted = judged
    .filter((j) => j.counted)
    .sort((a, b) => (b.run.endTime ?? 0) - (a.run.endTime ?? 0))
    .map(({ run: r }) => ({
      runId: r.runId,
      by: r.user!,
      metric: r.metric!,
      value: r.value!,
      threshold: r.threshold!,
      dataSha256: r.dataSha256 ?? "",
      ...(r.dataName ? { dataName: r.dataName } : {}),
      manifestDigest: r.manifestDigest!,
    }));
  if (counted.length) return { ok: counted };
  const notCounted = judged.map((j) => `run ${j.run.runId} (${j.reasons.join(", ")})`);
  return {
    missing:
      `no passed validation of ${who(v)} by a signer (${req.signers.join(", ") || "nobody"}) in experiment '${req.experiment}' on ${from.uri}` +
      `${notCounted.length ? `; not counted: ${notCounted.join("; ")}` : ""}` +
      `: a signer validates it on historical data with their own token, \`quant-platform validate --model '${v.name}' --version ${v.version} --from ${from.uri} --data FILE --label COLUMN\`` +
      ` (${req.metric} must reach ${req.threshold})`,
  };
}

/**
 * Workspace registry: an open transition request to `stage` on the source version by an approving member
 * who is not its author. Databricks records the request's creator from the token used, so nobody can raise
 * one in another's name, and only its creator can cancel it.
 */
function stageApproval(
  g: MigrationGuard,
  from: Endpoint,
  v: ModelVersion,
  stage: string,
  toStage: RequestActivity[],
  authors: string[],
): Found<ApprovalEvidence> {
  const signers = new Set((g.validation?.signers ?? []).map(lc));
  const excluded = new Set(authors.map(lc));
  const counted = toStage.find((r) => approvalVerdict(r.user_id, g.approvers, authors).counted);
  if (counted)
    return {
      ok: {
        kind: "transition-request",
        ref: `${from.baseUrl} ${who(v)}: transition request to ${stage} by ${counted.user_id} (${new Date(counted.creation_timestamp ?? 0).toISOString()})`,
        approver: counted.user_id!,
      },
    };
  // A signer's request is their sign-off, judged as such; any other that does not count is named.
  const notCounted = toStage
    .filter((r) => !signers.has(lc(r.user_id ?? "")) || excluded.has(lc(r.user_id ?? "")))
    .map((r) => `${r.user_id} (${approvalVerdict(r.user_id, g.approvers, authors).reason})`);
  const others = g.approvers.filter((a) => !excluded.has(lc(a)));
  return {
    missing:
      `no transition request to ${stage} on ${from.uri} by an approving member other than ${authorText(authors)}` +
      `${notCounted.length ? `; not counted: ${notCounted.join(", ")}` : ""}` +
      `: an approving member (${others.join(", ") || "nobody"}) signs off by requesting it with their own token, e.g. \`databricks model-registry create-transition-request '${v.name}' ${v.version} ${stage} --comment "approved for ${g.toEnv}"\`` +
      ` (Databricks documents no read of past approvals, so the open request is the evidence: leave it open until the promotion is deployed)`,
  };
}

/** Workspace registry: the consumer's sign-off, an open transition request by a signer naming a counted validation run. */
function stageSignOff(
  g: MigrationGuard,
  req: ValidationRequirement,
  from: Endpoint,
  v: ModelVersion,
  stage: string,
  toStage: RequestActivity[],
  authors: string[],
  validated: Validated[],
): Found<NonNullable<ProductionEvidence["signOff"]> & { runId: string }> {
  const judged = judgeSignOffRequests(
    toStage,
    req,
    authors,
    validated.map((x) => x.runId),
  );
  if (judged.counted)
    return {
      ok: {
        kind: "transition-request",
        ref: `${from.baseUrl} ${who(v)}: transition request to ${stage} by ${judged.counted.user} naming validation run ${judged.counted.runId}`,
        signer: judged.counted.user,
        runId: judged.counted.runId,
      },
    };
  const others = req.signers.filter((s) => !authors.map(lc).includes(lc(s)));
  const runId = validated[0]?.runId;
  return {
    missing:
      `no sign-off: no transition request to ${stage} on ${from.uri} by a signer other than ${authorText(authors)} naming ${runId ? `a passed validation run (${validated.map((x) => x.runId).join(", ")})` : "a passed validation run"}` +
      `${judged.refused.length ? `; not counted: ${judged.refused.join(", ")}` : ""}` +
      `: a signer (${others.join(", ") || "nobody"}) signs off with their own token, \`quant-platform sign-off --model '${v.name}' --version ${v.version} --run ${runId ?? "<validation run id>"} --from ${from.uri} --to-env ${g.toEnv}\``,
  };
}

/**
 * The commit that last changed the promotion entry of `src.model` (from -> to) in the config file, by
 * `git blame` on the working copy: undefined when the file declares no such entry.
 */
export function promotionCommit(src: GitEvidenceSource): { sha: string; line: number } | undefined {
  const file = path.join(src.repoDir, src.configPath);
  const lines = fs.readFileSync(file, "utf8").split("\n");
  const indent = (s: string) => s.length - s.trimStart().length;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const nameRe = new RegExp(`^\\s*-?\\s*name:\\s*["']?${esc(src.model)}["']?\\s*$`);
  const start = lines.findIndex((l) => nameRe.test(l));
  if (start < 0) return undefined;
  const block = indent(lines[start].replace(/^(\s*)-\s*/, "$1  "));
  const entryLines: number[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i];
    if (l.trim() && indent(l) < block) break;
    if (/^\s*-\s*name:/.test(l) && indent(l) <= indent(lines[start])) break;
    const fromRe = new RegExp(`\\bfrom:\\s*["']?${esc(src.fromStack)}["']?\\s*[,}]?`);
    const toRe = new RegExp(`\\bto:\\s*["']?${esc(src.toStack)}["']?\\s*[,}]?`);
    if (fromRe.test(l) && toRe.test(l)) entryLines.push(i + 1);
    else if (fromRe.test(l) && /^\s*-\s*from:/.test(l)) {
      // A block-style entry: its lines up to the next item.
      const own = [i + 1];
      for (let j = i + 1; j < lines.length && lines[j].trim() && indent(lines[j]) > indent(l) && !/^\s*-/.test(lines[j]); j++)
        own.push(j + 1);
      if (own.some((n) => toRe.test(lines[n - 1]))) entryLines.push(...own);
    }
  }
  if (!entryLines.length) return undefined;
  let newest: { sha: string; line: number; time: number } | undefined;
  for (const n of entryLines) {
    const out = execFileSync("git", ["blame", "--porcelain", "-L", `${n},${n}`, "--", src.configPath], {
      cwd: src.repoDir,
      encoding: "utf8",
    });
    const sha = out.split(/\s/)[0];
    const time = Number(/^committer-time (\d+)$/m.exec(out)?.[1] ?? 0);
    if (!newest || time > newest.time) newest = { sha, line: n, time };
  }
  if (!newest || /^0+$/.test(newest.sha)) return undefined;
  return { sha: newest.sha, line: newest.line };
}

/** A merged change request and who approved it, as read from the Git host. */
interface MergedChange {
  ref: string;
  author: string;
  approvedBy: string[];
}

async function mergedChanges(src: GitEvidenceSource, sha: string): Promise<MergedChange[]> {
  if (src.provider === "gitlab") {
    const api = gitlabApi({ baseUrl: src.apiUrl, project: src.project, token: src.token });
    const mrs = await api.get<{ iid: number; state: string; web_url?: string; author: { username: string } | null }[]>(
      `${api.project}/repository/commits/${encodeURIComponent(sha)}/merge_requests`,
      `merge requests of commit ${sha.slice(0, 12)}`,
    );
    const out: MergedChange[] = [];
    for (const mr of mrs.filter((m) => m.state === "merged")) {
      const a = await api.get<{ approved_by: { user: { username: string } }[] }>(
        `${api.project}/merge_requests/${mr.iid}/approvals`,
        `approvals of merge request !${mr.iid}`,
      );
      out.push({
        ref: `${src.project}!${mr.iid}`,
        author: mr.author?.username ?? "",
        approvedBy: a.approved_by.map((x) => x.user.username),
      });
    }
    return out;
  }
  const api = githubApi({ baseUrl: src.apiUrl, repository: src.project, token: src.token });
  const out: MergedChange[] = [];
  for (const pr of (await api.commitPullRequests(sha)).filter((p) => p.merged_at)) {
    const reviews = (await api.reviews(pr.number)).filter((r) => r.user).map((r) => ({ user: r.user!.login, state: r.state }));
    out.push({ ref: `${src.project}#${pr.number}`, author: pr.user?.login ?? "", approvedBy: approvalsFromReviews(reviews) });
  }
  return out;
}

/**
 * Judges one merged change: the approvals that count are by approving members who are neither its author
 * nor the version's author (Git usernames and emails compare case-insensitively). Pure.
 */
export function judgeChange(
  change: MergedChange,
  approvers: string[],
  members: GuardMember[],
  versionAuthors: string[],
  role = "an approving member",
): { counted: string[]; refused: string[] } {
  const byUser = new Map(members.filter((m) => m.gitUsername).map((m) => [lc(m.gitUsername!), lc(m.email)]));
  const approving = new Set(approvers.map(lc));
  const authorEmails = new Set(versionAuthors.map(lc));
  const counted: string[] = [];
  const refused: string[] = [];
  const seen = new Set<string>();
  for (const u of change.approvedBy) {
    if (seen.has(lc(u))) continue;
    seen.add(lc(u));
    const email = byUser.get(lc(u));
    if (lc(u) === lc(change.author)) refused.push(`${u} (the author of ${change.ref})`);
    else if ((email && authorEmails.has(email)) || authorEmails.has(lc(u))) refused.push(`${u} (the version's author)`);
    else if (!email || !approving.has(email)) refused.push(`${u} (not ${role})`);
    else counted.push(u);
  }
  return { counted, refused };
}

/** The merge requests that declared the promotion, read from the Git host; or what is missing to read them. */
type DeclaringChanges = Found<{ src: GitEvidenceSource; commit: { sha: string; line: number }; changes: MergedChange[] }>;

/** Aliases: the merged merge requests that introduced the promotion entry into the config. */
async function mergeRequests(g: MigrationGuard, v: ModelVersion, authors: string[]): Promise<DeclaringChanges> {
  const src = g.git;
  if (!src) {
    return {
      missing: `no approval evidence: a version without stages reaches production only through a change to the project config merged through an approved merge request, and no Git context was given to check it: set GITLAB_TOKEN (or quant-platform:gitlabToken) or GITHUB_TOKEN, so that the merge request can be read from the target stack's quant-platform:git project`,
    };
  }
  const entry = `the promotion of '${src.model}' ${src.fromStack} -> ${src.toStack} in ${src.configPath}`;
  const commit = promotionCommit(src);
  if (!commit)
    return {
      missing: `${src.configPath} in ${src.repoDir} declares no promotion of '${src.model}' from ${src.fromStack} to ${src.toStack}; a production promotion must be declared there and merged through an approved merge request`,
    };
  const changes = await mergedChanges(src, commit.sha);
  const kind = src.provider === "gitlab" ? "merge request" : "pull request";
  if (!changes.length)
    return {
      missing: `commit ${commit.sha.slice(0, 12)}, which introduced ${entry} (line ${commit.line}), was not merged through a ${kind} of ${src.project}: open one and have an approving member other than its author and ${authorText(authors)} approve it`,
    };
  return { ok: { src, commit, changes } };
}

/** Aliases: the declaring merge request was approved by an approving member who is neither its author nor the version's. */
function mergeRequestApproval(g: MigrationGuard, v: ModelVersion, authors: string[], declared: DeclaringChanges): Found<ApprovalEvidence> {
  if ("missing" in declared) return declared;
  const { src, commit, changes } = declared.ok;
  const kind = src.provider === "gitlab" ? "merge request" : "pull request";
  const judged = changes.map((c) => ({ c, ...judgeChange(c, g.approvers, g.members ?? [], authors) }));
  const ok = judged.find((j) => j.counted.length > 0);
  if (ok) return { ok: { kind: "merge-request", ref: ok.c.ref, approver: ok.counted[0] } };
  const detail = judged
    .map((j) => `${j.c.ref} by ${j.c.author}: ${j.refused.length ? `not counted ${j.refused.join(", ")}` : "nobody approved it"}`)
    .join("; ");
  const others = (g.members ?? [])
    .filter((m) => g.approvers.map(lc).includes(lc(m.email)) && !authors.map(lc).includes(lc(m.email)))
    .map((m) => m.gitUsername ?? m.email);
  return {
    missing: `the promotion of '${src.model}' ${src.fromStack} -> ${src.toStack} in ${src.configPath} (commit ${commit.sha.slice(0, 12)}) was merged without an approval by an approving member other than the ${kind}'s author and ${authorText(authors)} (${detail}); an approving member (${others.join(", ") || "nobody"}) must approve a ${kind} that declares it`,
  };
}

/** Aliases: the consumer signs off by approving the declaring merge request (a consumer approval rule asks for it). */
function mergeRequestSignOff(
  req: ValidationRequirement,
  g: MigrationGuard,
  v: ModelVersion,
  authors: string[],
  declared: DeclaringChanges,
): Found<NonNullable<ProductionEvidence["signOff"]>> | undefined {
  if ("missing" in declared) return undefined; // the approval says what is missing on the Git side
  const { src, changes } = declared.ok;
  const kind = src.provider === "gitlab" ? "merge request" : "pull request";
  const judged = changes.map((c) => ({ c, ...judgeChange(c, req.signers, g.members ?? [], authors, "a signer") }));
  const ok = judged.find((j) => j.counted.length > 0);
  if (ok) return { ok: { kind: "merge-request", ref: ok.c.ref, signer: ok.counted[0] } };
  const signers = (g.members ?? [])
    .filter((m) => req.signers.map(lc).includes(lc(m.email)) && !authors.map(lc).includes(lc(m.email)))
    .map((m) => m.gitUsername ?? m.email);
  return {
    missing: `no sign-off: ${judged.map((j) => j.c.ref).join(", ")} was not approved by a signer (${signers.join(", ") || "nobody"}) other than its author and ${authorText(authors)}; a signer approves the ${kind} that declares the promotion once their validation passed`,
  };
}
