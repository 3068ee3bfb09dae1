/**
 * What the GitLab test server permits, apart from its HTTP layer: who may push to a branch (force included),
 * who may merge into it, whose approval counts, and when a merge request may be merged. Each rule follows
 * GitLab's documentation, cited beside it, and the refusals carry GitLab's own messages.
 */

/** Project roles: https://docs.gitlab.com/user/permissions/ (10 guest ... 50 owner); 60 is an instance admin. */
export const ROLE = { guest: 10, reporter: 20, developer: 30, maintainer: 40, owner: 50, admin: 60 } as const;

export interface AccessEntry {
  access_level: number;
  user_id: number | null;
}
export interface BranchProtection {
  name: string;
  push_access_levels: AccessEntry[];
  merge_access_levels: AccessEntry[];
  allow_force_push: boolean;
}
export interface ApprovalRule {
  name: string;
  approvals_required: number;
  user_ids: number[];
  /** Empty: the rule applies to every branch. */
  protected_branch_ids: number[];
}
export interface Pipeline {
  id: number;
  sha: string;
  ref: string;
  status: "pending" | "running" | "success" | "failed" | "canceled" | "skipped";
  /** Each job the pipeline ran, with its status and what it printed. */
  jobs: { name: string; status: "success" | "failed"; log: string }[];
}

/** The parts of a project the rules read. */
export interface RuleProject {
  members: Map<number, number>;
  protectedBranches: Map<string, BranchProtection & { id: number }>;
  rules: ApprovalRule[];
  approvals: Record<string, boolean>;
  only_allow_merge_if_pipeline_succeeds: boolean;
  allow_merge_on_skipped_pipeline: boolean;
}
export interface RuleMergeRequest {
  state: string;
  target_branch: string;
  author_id?: number;
  approved_by?: number[];
  /** Who pushed the commits it carries (user ids). */
  committers?: number[];
  pipeline?: Pipeline;
}

export type Verdict = { ok: true } | { ok: false; status: number; message: string };
const OK: Verdict = { ok: true };
const no = (status: number, message: string): Verdict => ({ ok: false, status, message });

/** A user's role in the project; the server's own admin token acts as an instance admin. */
export const roleOf = (p: RuleProject, user: number | "admin"): number => (user === "admin" ? ROLE.admin : (p.members.get(user) ?? 0));

/**
 * Whether an access list (a protected branch's "allowed to push" or "allowed to merge") lets this user in.
 * https://docs.gitlab.com/user/project/repository/branches/protected/: a role entry admits that role and
 * above (0 is "No one"); on Premium, a user entry admits that user, who must be a member with at least the
 * Developer role.
 */
function admits(entries: AccessEntry[], p: RuleProject, user: number | "admin"): boolean {
  const role = roleOf(p, user);
  return entries.some((e) =>
    e.user_id !== null ? user !== "admin" && e.user_id === user && role >= ROLE.developer : e.access_level > 0 && role >= e.access_level,
  );
}

/**
 * A push of new commits to `branch`, by the commits API or `git push`. Unprotected branches take pushes
 * from Developers and above; a protected branch from whoever its "allowed to push" list admits, and a force
 * push only where "allowed to force push" is on (https://docs.gitlab.com/user/project/repository/branches/protected/).
 * Messages: GitLab's API (`authorize_push_to_branch!`) and its push checks (Gitlab::Checks::ChangeAccess).
 */
export function mayPush(p: RuleProject, user: number | "admin", branch: string, force: boolean): Verdict {
  const pb = p.protectedBranches.get(branch);
  if (roleOf(p, user) < ROLE.developer) return no(403, "403 Forbidden - You are not allowed to push into this branch");
  if (!pb) return OK;
  if (!admits(pb.push_access_levels, p, user)) return no(403, "403 Forbidden - You are not allowed to push into this branch");
  if (force && !pb.allow_force_push) return no(400, "You are not allowed to force push code to a protected branch on this project.");
  return OK;
}

/**
 * Whether the user may merge into `target` (MergeRequest#can_be_merged_by?): the protected branch's "allowed
 * to merge" list, or Developer and above on an unprotected branch. Refused: 401, as the merge API answers.
 */
export function mayMergeInto(p: RuleProject, user: number | "admin", target: string): Verdict {
  const pb = p.protectedBranches.get(target);
  const allowed = pb ? admits(pb.merge_access_levels, p, user) : roleOf(p, user) >= ROLE.developer;
  return allowed ? OK : no(401, "401 Unauthorized");
}

/** The approval rules that apply to a target branch (rules scoped to protected branches, or to all branches). */
export function rulesFor(p: RuleProject, target: string): ApprovalRule[] {
  const pb = p.protectedBranches.get(target);
  return p.rules.filter((r) => r.protected_branch_ids.length === 0 || (pb !== undefined && r.protected_branch_ids.includes(pb.id)));
}

/**
 * Whether this user's approval can count at all. https://docs.gitlab.com/user/project/merge_requests/approvals/settings/:
 * with "Prevent approval by author" (merge_requests_author_approval false) the author cannot approve; with
 * "Prevent approvals by users who add commits" the committers cannot. The approve API answers 401 to an
 * ineligible approver (MergeRequests::ApprovalService returns nothing, the API calls unauthorized!).
 */
export function mayApprove(p: RuleProject, mr: RuleMergeRequest, user: number | "admin"): Verdict {
  if (mr.state !== "opened") return no(401, "401 Unauthorized");
  if (user === "admin" || roleOf(p, user) < ROLE.reporter) return no(401, "401 Unauthorized");
  if ((mr.approved_by ?? []).includes(user)) return no(401, "401 Unauthorized");
  if (user === mr.author_id && !p.approvals.merge_requests_author_approval) return no(401, "401 Unauthorized");
  if ((mr.committers ?? []).includes(user) && p.approvals.merge_requests_disable_committers_approval) return no(401, "401 Unauthorized");
  return OK;
}

/**
 * The rules still unmet: each needs `approvals_required` approvals from its eligible approvers, and an
 * approval the settings exclude (author, committers) never counts, even if it was given before a setting
 * changed (https://docs.gitlab.com/user/project/merge_requests/approvals/rules/).
 */
export function rulesLeft(p: RuleProject, mr: RuleMergeRequest): { rule: string; left: number }[] {
  const counted = (mr.approved_by ?? []).filter((u) => mayCount(p, mr, u));
  return rulesFor(p, mr.target_branch)
    .map((r) => ({ rule: r.name, left: Math.max(0, r.approvals_required - counted.filter((u) => r.user_ids.includes(u)).length) }))
    .filter((r) => r.left > 0);
}

const mayCount = (p: RuleProject, mr: RuleMergeRequest, user: number) =>
  !(user === mr.author_id && !p.approvals.merge_requests_author_approval) &&
  !((mr.committers ?? []).includes(user) && p.approvals.merge_requests_disable_committers_approval);

/**
 * `PUT /merge_requests/:iid/merge` (lib/api/merge_requests.rb): 401 when the user may not merge into the
 * target, then 405 when the merge request is not mergeable: not open, approval rules unmet, or, with
 * "Pipelines must succeed", no successful pipeline for its head (a skipped one counts only with
 * allow_merge_on_skipped_pipeline) (https://docs.gitlab.com/user/project/merge_requests/auto_merge/#require-a-successful-pipeline-for-merge).
 * `tier` free: approvals are optional, GitLab Free has no approval rules to meet.
 */
export function mayMerge(p: RuleProject, mr: RuleMergeRequest, user: number | "admin", tier: "free" | "premium" | "ultimate"): Verdict {
  const who = mayMergeInto(p, user, mr.target_branch);
  if (!who.ok) return who;
  if (mr.state !== "opened") return no(405, "405 Method Not Allowed");
  if (tier !== "free" && rulesLeft(p, mr).length) return no(405, "405 Method Not Allowed");
  if (p.only_allow_merge_if_pipeline_succeeds) {
    const s = mr.pipeline?.status;
    if (!(s === "success" || (s === "skipped" && p.allow_merge_on_skipped_pipeline))) return no(405, "405 Method Not Allowed");
  }
  return OK;
}
