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
import { DEFAULT_RETRY, hasStatus, orUndefined, RetryPolicy } from "../clients/http";
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
  signOffNames,
  ValidationRequirement,
} from "./evidence";
import { migrationError } from "./failure";
import { mergeRequestSignOffText, TAG, versionFingerprint } from "./provenance";
import { listTree } from "./treeCopy";
import { transportFor } from "./transports/transportFor";
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
  /**
   * The workspaces earlier links of a version's provenance may live in (quant, for a quant_stg -> quant_lr
   * promotion), with credentials that may read their registries: the gate reads a copy's origin there.
   */
  origins?: Endpoint[];
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

/**
 * Who authored a version, as its own registry and tracking server record it: the version's `user_id` (who
 * registered it), the run's creator and the run's `mlflow.user` (who trained it). Of an origin, not of a copy:
 * see `provenanceChain`.
 */
export function authorsOf(version: ModelVersion, run: Run | undefined): string[] {
  const found = [version.user_id, run?.info.user_id, tagMap(run?.data.tags)["mlflow.user"]].filter((x): x is string => !!x);
  return [...new Map(found.map((x) => [lc(x), x])).values()];
}

/** One link of a version's provenance, as read where it lives. */
export interface ProvenanceLink {
  where: string;
  model: string;
  version: string;
  /** Who registered it (the version's `user_id`). */
  registeredBy: string | undefined;
}

/** A version's provenance, read link by link: the version itself first, its origin last, and the origin's authors. */
export interface ProvenanceChain {
  links: ProvenanceLink[];
  authors: string[];
}

const MAX_HOPS = 8;
const sameHost = (a: string, b: string) => a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();

/**
 * Follows a version's provenance back to its origin, reading every link where it lives with the credentials the
 * guard holds for that workspace (`origins`), and takes the authors from the origin: the person who registered
 * and trained the model in quant stays its author in quant_stg, quant_lr and any new environment. A copy names
 * its source in its provenance tags; the link holds only when the source's identity recomputed where it lives
 * (run, creation time, every file and its size) is the fingerprint recorded when it was copied. A chain that
 * cannot be followed (no credentials, a source gone, a fingerprint that does not match) is missing evidence,
 * never "no author".
 */
export async function provenanceChain(
  origins: Endpoint[],
  from: Endpoint,
  version: ModelVersion,
  run: Run | undefined,
  retry: RetryPolicy = DEFAULT_RETRY,
): Promise<Found<ProvenanceChain>> {
  const link = (e: Endpoint, v: ModelVersion): ProvenanceLink => ({
    where: e.uri,
    model: v.name,
    version: v.version,
    registeredBy: v.user_id || undefined,
  });
  const links = [link(from, version)];
  let [at, v, r] = [from, version, run];
  for (;;) {
    const t = tagMap(v.tags);
    const host = t[TAG.sourceHost];
    if (!host) return { ok: { links, authors: authorsOf(v, r) } };
    const named = `model '${t[TAG.sourceModel]}' version ${t[TAG.sourceVersion]} on ${host}`;
    const copy = `${who(v)} on ${at.uri}`;
    const cannot = (why: string) => ({
      missing: `the provenance of ${who(version)} on ${from.uri} cannot be followed to its origin, so its author cannot be established: ${copy} names ${named} as its source, and ${why}`,
    });
    if (links.length > MAX_HOPS) return cannot(`the chain is longer than ${MAX_HOPS} hops`);
    const there = [from, ...origins].find((e) => sameHost(e.baseUrl, host));
    if (!there)
      return cannot(
        `the gate holds no credentials for that workspace: declare a read-only token for it in the target stack (quant-platform:originTokens.<stack>, a secret), or a Databricks profile for the CLI`,
      );
    const client = mlflowClient(there, retry);
    let source: ModelVersion | undefined;
    try {
      source = await orUndefined(client.getModelVersion(t[TAG.sourceModel] ?? "", t[TAG.sourceVersion] ?? ""));
    } catch (e) {
      if (hasStatus(e, 401) || hasStatus(e, 403)) return cannot(`the credentials for it may not read it (${(e as Error).message})`);
      throw e;
    }
    if (!source) return cannot("that version no longer exists");
    const sourceRun = source.run_id ? await orUndefined(client.getRun(source.run_id)) : undefined;
    const transport = transportFor(client);
    const listed = await listTree(transport, await transport.versionRoot(source, await client.getDownloadUri(source.name, source.version)));
    const recorded = (t[TAG.fingerprint] ?? "").replace(/:(retired|superseded)$/, "");
    if (versionFingerprint(host, source.name, source, listed) !== recorded)
      return cannot(
        "that version's identity (its run, creation time, files and sizes) is not the one recorded when it was copied: the copy's provenance tags were changed, or the source was",
      );
    links.push(link(there, source));
    [at, v, r] = [there, source, sourceRun];
  }
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
 * the model is validated (`g.validation`), a passed validation of these bytes on named data by a signer who is
 * not an author, and that signer's sign-off, raised after the validation ended: all read from systems that record
 * who acted. The authors are the origin's, read through the version's whole provenance (`provenanceChain`), and
 * the approval and the sign-off are two different people's. Returns the evidence for the target's provenance;
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
    /** The digest of the version's bytes as they are now (hashed on demand): what a validation must have scored. */
    sourceDigest?: () => Promise<string>;
  },
): Promise<ProductionEvidence | undefined> {
  if (!g.production) return undefined;
  const v = ctx.version;
  const retry = ctx.retry ?? DEFAULT_RETRY;
  const chain = await provenanceChain(g.origins ?? [], ctx.from, v, ctx.run, retry);
  // An unfollowable chain is refused; the rest is still judged against the authors known so far, so that the
  // refusal lists everything else that is missing too.
  const authors = "ok" in chain ? chain.ok.authors : authorsOf(v, ctx.run);
  const stages = registryOf(ctx.from) === "workspace";
  const validation = g.validation ? await validationEvidence(g.validation, ctx.from, v, authors, retry, ctx.sourceDigest) : undefined;
  const validated = validation && "ok" in validation ? validation.ok : [];
  let judged: { approval: Found<ApprovalEvidence>; signOff?: Found<SignOffEvidence> };
  if (stages) {
    const stage = promotedStage(v, ctx.select);
    judged = stageEvidence(g, ctx.from, v, stage, requestsTo(await openRequests(ctx.from, v, retry), stage), authors, validated);
  } else {
    judged = mergeRequestEvidence(g, v, authors, validated, await mergeRequests(g, v, authors));
  }
  const { approval, signOff } = judged;
  const missing = [chain, validation, signOff, approval].flatMap((x) => (x && "missing" in x ? [x.missing] : []));
  if (missing.length) {
    const forged = tagMap(v.tags)["quant.approval.approved_by"];
    throw migrationError(
      `${refusal(g, v)}: ${missing.join("; ")}` +
        `${forged ? `; the tag quant.approval.approved_by=${forged} is not evidence (anyone who may tag the version can write it)` : ""}` +
        `${"ok" in chain ? `; ${originText(chain.ok)}: an author never approves, validates or signs off their own model` : ""}` +
        `${missing.length > 1 ? ` (${missing.length} pieces of evidence missing; nothing was copied)` : ""}`,
    );
  }
  const ok = <T>(x: Found<T> | undefined) => (x && "ok" in x ? x.ok : undefined);
  const signed = ok(signOff);
  // The validation on record is the one the sign-off names, else the newest counted.
  const chosen = validated.find((x) => x.runId === signed?.runId) ?? validated[0];
  const signOffEvidence = signed && { kind: signed.kind, ref: signed.ref, signer: signed.signer };
  return { approval: ok(approval)!, ...optionalEvidence("validation", chosen), ...optionalEvidence("signOff", signOffEvidence) };
}

/** A counted validation as the gate records it on the target, with when its run ended (a sign-off must come after). */
type Validated = NonNullable<ProductionEvidence["validation"]> & { endTime?: number };
/** A counted sign-off, with the validation run it names. */
type SignOffEvidence = NonNullable<ProductionEvidence["signOff"]> & { runId: string };

const optionalEvidence = <K extends string, T>(k: K, v: T | undefined) => (v === undefined ? {} : ({ [k]: v } as { [P in K]: T }));

const who = (v: ModelVersion) => `model '${v.name}' version ${v.version}`;
const refusal = (g: MigrationGuard, v: ModelVersion) => `refusing to promote ${who(v)} into production environment ${g.toEnv}`;
const authorText = (authors: string[]) => (authors.length ? `the author ${authors.join(" / ")}` : "the author (unknown)");
/** Where a copy came from and who its authors are, for the refusal. */
const originText = (c: ProvenanceChain) => {
  const o = c.links[c.links.length - 1];
  const by = c.authors.join(" / ") || "(unknown)";
  return c.links.length > 1
    ? `the version's authors, read at its origin (model '${o.model}' version ${o.version} on ${o.where}): ${by}`
    : `the version's authors: ${by}`;
};
const lcEq = (a: string | undefined, b: string | undefined) => lc(a ?? "") === lc(b ?? "");

/**
 * The consumer's validation: a counted validation run of this version in the validation experiment. The
 * version's manifest digest is its provenance tag where it was migrated here; the migration checks the digest
 * again against the bytes it copies, before anything is registered.
 */
async function validationEvidence(
  req: ValidationRequirement,
  from: Endpoint,
  v: ModelVersion,
  authors: string[],
  retry: RetryPolicy,
  sourceDigest?: () => Promise<string>,
): Promise<Found<Validated[]>> {
  const runs = await readValidations(mlflowClient(from, retry), req.experiment, v.name);
  // The bytes the version holds now, not a tag that says what they were: hashed only when there is a validation to compare.
  const mine = runs.some((r) => r.version === v.version);
  const digest = mine && sourceDigest ? await sourceDigest() : tagMap(v.tags)[TAG.manifestDigest];
  const judged = judgeValidations(runs, req, { version: v.version, digest }, authors);
  const counted = judged
    .filter((j) => j.counted)
    .sort((a, b) => (b.run.endTime ?? 0) - (a.run.endTime ?? 0))
    .map(({ run: r }) => ({
      runId: r.runId,
      by: r.user!,
      metric: r.metric!,
      value: r.value!,
      threshold: r.threshold!,
      dataSha256: r.dataSha256!,
      ...(r.dataName ? { dataName: r.dataName } : {}),
      manifestDigest: r.manifestDigest!,
      ...(r.endTime !== undefined ? { endTime: r.endTime } : {}),
    }));
  if (counted.length) return { ok: counted };
  const notCounted = judged.map((j) => `run ${j.run.runId} (${j.reasons.join(", ")})`);
  const signers = req.signers.filter((s) => !authors.some((a) => lcEq(a, s)));
  return {
    missing:
      `no passed validation of ${who(v)} by a signer (${signers.join(", ") || "nobody"}) in experiment '${req.experiment}' on ${from.uri}` +
      `${notCounted.length ? `; not counted: ${notCounted.join("; ")}` : ""}` +
      `: a signer validates it on historical data with their own token, \`quant-platform validate --model '${v.name}' --version ${v.version} --from ${from.uri} --data FILE --label COLUMN\`` +
      ` (${req.metric} must reach ${req.threshold}${req.data ? `, on ${"sha256" in req.data ? `the sample with sha256 ${req.data.sha256}` : `${req.data.table} version ${req.data.version}`}` : ""})`,
  };
}

/**
 * Workspace registry: the approval, an open transition request to `stage` on the source version by an approving
 * member who is not an author, and (where the model is validated) the sign-off, an open request by a signer who
 * is not an author naming a counted validation run, raised after it ended. Databricks records a request's creator
 * from the token used, so nobody can raise one in another's name, and only its creator can cancel it. Within one
 * promotion the approval and the sign-off are two people's, and one request never counts twice.
 */
function stageEvidence(
  g: MigrationGuard,
  from: Endpoint,
  v: ModelVersion,
  stage: string,
  toStage: RequestActivity[],
  authors: string[],
  validated: Validated[],
): { approval: Found<ApprovalEvidence>; signOff?: Found<SignOffEvidence> } {
  const approvals = toStage.filter((r) => approvalVerdict(r.user_id, g.approvers, authors).counted);
  const signOffs = g.validation ? judgeSignOffRequests(toStage, g.validation, authors, validated) : undefined;
  const pairs = signOffs
    ? signOffs.counted.flatMap((s) => approvals.filter((a) => a !== s.request && !lcEq(a.user_id, s.user)).map((a) => ({ s, a })))
    : approvals.map((a) => ({ s: undefined, a }));
  // Without a sign-off to pair with, the approval is judged alone (the sign-off is what is missing).
  const pair = pairs[0] ?? (signOffs && !signOffs.counted.length && approvals.length ? { s: undefined, a: approvals[0] } : undefined);
  const when = (r: RequestActivity) => new Date(r.creation_timestamp ?? 0).toISOString();
  const signOff = signOffs && (pair?.s ?? signOffs.counted[0]);
  const signOffFound: Found<SignOffEvidence> | undefined = !signOffs
    ? undefined
    : signOff
      ? {
          ok: {
            kind: "transition-request",
            ref: `${from.baseUrl} ${who(v)}: transition request to ${stage} by ${signOff.user} naming validation run ${signOff.runId} (${when(signOff.request)})`,
            signer: signOff.user,
            runId: signOff.runId,
          },
        }
      : { missing: stageSignOffMissing(g, g.validation!, from, v, stage, authors, validated, signOffs.refused) };
  if (pair)
    return {
      approval: {
        ok: {
          kind: "transition-request",
          ref: `${from.baseUrl} ${who(v)}: transition request to ${stage} by ${pair.a.user_id} (${when(pair.a)})`,
          approver: pair.a.user_id!,
        },
      },
      ...(signOffFound ? { signOff: signOffFound } : {}),
    };
  // Not counted: requests of non-approving members and authors, by the rule they break; and an approving member
  // whose request is already the sign-off (or who signed off too).
  const signers = new Set((g.validation?.signers ?? []).map(lc));
  const notCounted = [
    ...toStage
      .filter((r) => !approvals.includes(r) && (!signers.has(lc(r.user_id ?? "")) || authors.some((a) => lcEq(a, r.user_id))))
      .map((r) => `${r.user_id} (${approvalVerdict(r.user_id, g.approvers, authors).reason})`),
    ...(signOff
      ? approvals.map(
          (a) =>
            `${a.user_id} (${a === signOff.request ? "this request is the sign-off" : "signed off this promotion"}: within one promotion the approval and the sign-off come from two different people, and one request never counts twice)`,
        )
      : []),
  ];
  const others = g.approvers.filter((a) => !authors.some((x) => lcEq(x, a)) && !lcEq(a, signOff?.user));
  return {
    approval: {
      missing:
        `no transition request to ${stage} on ${from.uri} by an approving member other than ${authorText(authors)}${signOff ? ` and the signer ${signOff.user}` : ""}` +
        `${notCounted.length ? `; not counted: ${notCounted.join(", ")}` : ""}` +
        `: an approving member (${others.join(", ") || "nobody"}) signs off by requesting it with their own token, e.g. \`databricks model-registry create-transition-request '${v.name}' ${v.version} ${stage} --comment "approved for ${g.toEnv}"\`` +
        ` (Databricks documents no read of past approvals, so the open request is the evidence: leave it open until the promotion is deployed)`,
    },
    ...(signOffFound ? { signOff: signOffFound } : {}),
  };
}

/** What a missing workspace-registry sign-off lacks, with every signer's request that did not count and why. */
function stageSignOffMissing(
  g: MigrationGuard,
  req: ValidationRequirement,
  from: Endpoint,
  v: ModelVersion,
  stage: string,
  authors: string[],
  validated: Validated[],
  refused: string[],
): string {
  const others = req.signers.filter((s) => !authors.some((a) => lcEq(a, s)));
  const runId = validated[0]?.runId;
  return (
    `no sign-off: no transition request to ${stage} on ${from.uri} by a signer other than ${authorText(authors)} naming ${runId ? `a passed validation run (${validated.map((x) => x.runId).join(", ")})` : "a passed validation run"}, raised after it ended` +
    `${refused.length ? `; not counted: ${refused.join(", ")}` : ""}` +
    `: a signer (${others.join(", ") || "nobody"}) signs off with their own token, \`quant-platform sign-off --model '${v.name}' --version ${v.version} --run ${runId ?? "<validation run id>"} --from ${from.uri} --to-env ${g.toEnv}\``
  );
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

/** A merged change request: who opened and who approved it, its description, and its notes (reviews) with their authors. */
interface MergedChange {
  ref: string;
  author: string;
  approvedBy: string[];
  description: string;
  /** Notes on a GitLab merge request, review bodies on a GitHub pull request: who wrote them, when. */
  notes: { author: string; body: string; at: number | undefined }[];
}

const timeOf = (s: string | null | undefined) => (s ? Date.parse(s) : undefined);

async function mergedChanges(src: GitEvidenceSource, sha: string): Promise<MergedChange[]> {
  if (src.provider === "gitlab") {
    const api = gitlabApi({ baseUrl: src.apiUrl, project: src.project, token: src.token });
    const mrs = await api.get<{ iid: number; state: string; description?: string | null; author: { username: string } | null }[]>(
      `${api.project}/repository/commits/${encodeURIComponent(sha)}/merge_requests`,
      `merge requests of commit ${sha.slice(0, 12)}`,
    );
    const out: MergedChange[] = [];
    for (const mr of mrs.filter((m) => m.state === "merged")) {
      const [a, notes] = await Promise.all([
        api.get<{ approved_by: { user: { username: string } }[] }>(
          `${api.project}/merge_requests/${mr.iid}/approvals`,
          `approvals of merge request !${mr.iid}`,
        ),
        api.get<{ body: string; author?: { username: string } | null; created_at?: string }[]>(
          `${api.project}/merge_requests/${mr.iid}/notes?per_page=100&sort=asc`,
          `notes of merge request !${mr.iid}`,
        ),
      ]);
      out.push({
        ref: `${src.project}!${mr.iid}`,
        author: mr.author?.username ?? "",
        approvedBy: a.approved_by.map((x) => x.user.username),
        description: mr.description ?? "",
        notes: notes.filter((n) => n.author).map((n) => ({ author: n.author!.username, body: n.body, at: timeOf(n.created_at) })),
      });
    }
    return out;
  }
  const api = githubApi({ baseUrl: src.apiUrl, repository: src.project, token: src.token });
  const out: MergedChange[] = [];
  for (const pr of (await api.commitPullRequests(sha)).filter((p) => p.merged_at)) {
    const reviews = (await api.reviews(pr.number)).filter((r) => r.user);
    out.push({
      ref: `${src.project}#${pr.number}`,
      author: pr.user?.login ?? "",
      approvedBy: approvalsFromReviews(reviews.map((r) => ({ user: r.user!.login, state: r.state }))),
      description: pr.body ?? "",
      notes: reviews.filter((r) => r.body).map((r) => ({ author: r.user!.login, body: r.body!, at: timeOf(r.submitted_at) })),
    });
  }
  return out;
}

/**
 * Judges one merged change: the approvals that count are by approving members who are neither its author
 * nor the version's author (Git usernames and emails compare case-insensitively). Pure.
 */
export function judgeChange(
  change: Pick<MergedChange, "ref" | "author" | "approvedBy">,
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

/**
 * Whether a signer's approval of a merged change names this version and one of its counted validation runs: in
 * the change's description, or in a note the signer wrote after that run ended. Pure.
 */
export function signOffBinding(
  change: Pick<MergedChange, "ref" | "description" | "notes">,
  signer: string,
  version: string,
  validated: { runId: string; endTime?: number }[],
): { runId: string; where: string } | { refused: string } {
  const texts = [
    { where: `the description of ${change.ref}`, body: change.description, at: undefined as number | undefined, note: false },
    ...change.notes
      .filter((n) => lc(n.author) === lc(signer))
      .map((n) => ({ where: `${signer}'s note on ${change.ref}`, body: n.body, at: n.at, note: true })),
  ];
  const problems: string[] = [];
  for (const t of texts) {
    const named = signOffNames(t.body);
    if (!named.versions.length && !named.runs.length) continue;
    if (!named.versions.includes(version)) {
      problems.push(`${t.where} names version ${named.versions.join(", ") || "(none)"}, not ${version}`);
      continue;
    }
    const runs = validated.filter((x) => named.runs.includes(x.runId));
    if (!runs.length) {
      problems.push(`${t.where} names run ${named.runs.join(", ") || "(none)"}, not a counted validation of version ${version}`);
      continue;
    }
    const after = t.note ? runs.find((x) => (t.at ?? 0) > (x.endTime ?? Infinity)) : runs[0];
    if (after) return { runId: after.runId, where: t.where };
    problems.push(
      `${t.where} was written before validation run ${runs[0].runId} ended (a sign-off counts only once the validation it names has ended)`,
    );
  }
  return {
    refused: `${signer} (${problems.length ? problems.join("; ") : `nothing names version ${version} and its validation run`}: the sign-off names them as \`${mergeRequestSignOffText("<model>", version, validated[0]?.runId ?? "<validation run id>", "<env>")}\` in the description or an approval note)`,
  };
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

/**
 * Aliases: the declaring merge request was approved by an approving member who is neither its author nor the
 * version's and, where the model is validated, by a signer other than them whose approval names this version
 * and a counted validation run (the sign-off); the approval and the sign-off are two different people's.
 */
function mergeRequestEvidence(
  g: MigrationGuard,
  v: ModelVersion,
  authors: string[],
  validated: Validated[],
  declared: DeclaringChanges,
): { approval: Found<ApprovalEvidence>; signOff?: Found<SignOffEvidence> } {
  // Without the merge request the approval says what is missing on the Git side, the sign-off nothing more.
  if ("missing" in declared) return { approval: declared };
  const { src, commit, changes } = declared.ok;
  const kind = src.provider === "gitlab" ? "merge request" : "pull request";
  const req = g.validation;
  const members = g.members ?? [];
  const judged = changes.map((c) => {
    const approvers = judgeChange(c, g.approvers, members, authors);
    if (!req) return { c, approvers, signers: [] as { user: string; runId: string; where: string }[], notSigned: [] as string[] };
    const s = judgeChange(c, req.signers, members, authors, "a signer");
    const bound = s.counted.map((u) => ({ u, b: signOffBinding(c, u, v.version, validated) }));
    return {
      c,
      approvers,
      signers: bound.flatMap(({ u, b }) => ("runId" in b ? [{ user: u, runId: b.runId, where: b.where }] : [])),
      notSigned: [...s.refused, ...bound.flatMap(({ b }) => ("refused" in b ? [b.refused] : []))],
    };
  });
  // Within one promotion the approval and the sign-off are two people's: one Git approval never counts twice.
  type Signed = (typeof judged)[number]["signers"][number];
  const pick = judged.flatMap((j) =>
    j.approvers.counted.flatMap((a): { j: typeof j; a: string; s: Signed | undefined }[] =>
      req ? j.signers.filter((s) => !lcEq(s.user, a)).map((s) => ({ j, a, s })) : [{ j, a, s: undefined }],
    ),
  )[0];
  const firstSigned = judged.flatMap((j) => j.signers.map((s) => ({ j, s })))[0];
  const signed = pick?.s ? { j: pick.j, s: pick.s } : firstSigned;
  // Without a sign-off to pair with, the approval is judged alone (the sign-off is what is missing).
  const alone = !pick && !signed ? judged.flatMap((j) => j.approvers.counted.map((a) => ({ j, a })))[0] : undefined;
  const signOff: Found<SignOffEvidence> | undefined = !req
    ? undefined
    : signed
      ? { ok: { kind: "merge-request", ref: `${signed.j.c.ref} (${signed.s.where})`, signer: signed.s.user, runId: signed.s.runId } }
      : {
          missing: `no sign-off: ${judged.map((j) => `${j.c.ref}: ${j.notSigned.length ? `not counted ${j.notSigned.join(", ")}` : "no signer approved it"}`).join("; ")}; a signer (${
            members
              .filter((m) => req.signers.some((x) => lcEq(x, m.email)) && !authors.some((x) => lcEq(x, m.email)))
              .map((m) => m.gitUsername ?? m.email)
              .join(", ") || "nobody"
          }) other than its author and ${authorText(authors)} approves the ${kind} that declares the promotion once their validation passed, naming the version and the validation run`,
        };
  const approved = pick ?? alone;
  if (approved)
    return { approval: { ok: { kind: "merge-request", ref: approved.j.c.ref, approver: approved.a } }, ...(signOff ? { signOff } : {}) };
  const detail = judged
    .map((j) => {
      const twice = signed ? j.approvers.counted.filter((a) => lcEq(a, signed.s.user)) : [];
      const refused = [
        ...j.approvers.refused,
        ...twice.map(
          (a) => `${a} (signed off this promotion: within one promotion the approval and the sign-off come from two different people)`,
        ),
      ];
      return `${j.c.ref} by ${j.c.author}: ${refused.length ? `not counted ${refused.join(", ")}` : "nobody approved it"}`;
    })
    .join("; ");
  const others = members
    .filter((m) => g.approvers.some((x) => lcEq(x, m.email)) && !authors.some((x) => lcEq(x, m.email)))
    .map((m) => m.gitUsername ?? m.email);
  return {
    approval: {
      missing: `the promotion of '${src.model}' ${src.fromStack} -> ${src.toStack} in ${src.configPath} (commit ${commit.sha.slice(0, 12)}) was merged without an approval by an approving member other than the ${kind}'s author and ${authorText(authors)}${signed ? ` and the signer ${signed.s.user}` : ""} (${detail}); an approving member (${others.join(", ") || "nobody"}) must approve a ${kind} that declares it`,
    },
    ...(signOff ? { signOff } : {}),
  };
}
