/**
 * The four-eyes rule as a pure judgement: does a merge request into an environment branch carry enough
 * approvals by members allowed to approve there, none of them its author? The approval-check job (GitLab
 * Free) and the flow audit (every tier, GitLab and GitHub) both ask it.
 */
import type { AccessPlan } from "./accessPlan";

export interface FourEyesVerdict {
  ok: boolean;
  /** Git usernames whose approvals count. */
  counted: string[];
  message: string;
}

/**
 * Judges the approvals (`approvedBy`, Git usernames) of a merge request by `author` into `target`, against
 * the plan's approvers and approval count for that branch. Usernames compare case-insensitively, as GitLab's do.
 */
export function judgeApprovals(plan: AccessPlan, target: string, author: string, approvedBy: string[]): FourEyesVerdict {
  const rule = plan.branchRules.find((b) => b.branch === target);
  if (!rule) {
    return {
      ok: true,
      counted: [],
      message: `${target} is not an environment branch: no approval rule applies (its protection lets nobody merge)`,
    };
  }
  const lc = (u: string) => u.toLowerCase();
  const approvers = new Map(rule.approveMembers.map((id) => [lc(plan.gitMembers.find((m) => m.member === id)!.gitUsername), id]));
  const seen = new Set<string>();
  const counted: string[] = [];
  const refused: string[] = [];
  for (const u of approvedBy) {
    if (seen.has(lc(u))) continue;
    seen.add(lc(u));
    if (lc(u) === lc(author)) refused.push(`${u} (the author: an author's own approval never counts)`);
    else if (!approvers.has(lc(u))) refused.push(`${u} (not allowed to approve merges into ${target})`);
    else counted.push(u);
  }
  const need = rule.approvals;
  const ok = counted.length >= need;
  const allowed =
    [...approvers.keys()]
      .filter((u) => u !== lc(author))
      .sort()
      .join(", ") || "nobody";
  const message = ok
    ? `approved: ${counted.join(", ")} approved this merge into ${target} (${counted.length} of ${need} needed), none of them its author ${author}`
    : `not approved: merges into ${target} need ${need} approval(s) by someone other than the author ${author} who may approve there (${allowed}); counted ${counted.length}${counted.length ? ` (${counted.join(", ")})` : ""}${refused.length ? `; not counted: ${refused.join("; ")}` : ""}${approvedBy.length === 0 ? "; nobody has approved it" : ""}`;
  return { ok, counted, message };
}

/** A GitHub pull request review as the reviews API lists it (oldest first). */
export interface Review {
  user: string;
  state: string;
}

/**
 * Who approves a GitHub pull request now, from its reviews (oldest first): each reviewer's latest review
 * that decides (APPROVED, CHANGES_REQUESTED or DISMISSED) counts, as on GitHub, where a later comment leaves
 * an approval standing but a request for changes or a dismissal (stale reviews dismissed on push) withdraws it.
 */
export function approvalsFromReviews(reviews: Review[]): string[] {
  const latest = new Map<string, { user: string; state: string }>();
  for (const r of reviews) {
    if (["APPROVED", "CHANGES_REQUESTED", "DISMISSED"].includes(r.state)) latest.set(r.user.toLowerCase(), r);
  }
  return [...latest.values()].filter((r) => r.state === "APPROVED").map((r) => r.user);
}

/**
 * Whether `username` may land a merge into `target`: a member with merge rights there, or with push rights,
 * since whoever may push can push the merge commit. Usernames compare case-insensitively.
 */
export function mayMerge(plan: AccessPlan, target: string, username: string): boolean {
  const rule = plan.branchRules.find((b) => b.branch === target);
  if (!rule) return false;
  const ids = new Set([...rule.mergeMembers, ...rule.pushMembers]);
  return plan.gitMembers.some((m) => ids.has(m.member) && m.gitUsername.toLowerCase() === username.toLowerCase());
}
