/**
 * The four-eyes rule as a pure judgement: does a merge request into an environment branch carry enough
 * approvals by members allowed to approve there, none of them its author, and, into a production branch
 * with a sign-off rule, the consumer's sign-off by a signer other than its author? The approval-check job
 * (GitLab Free) and the flow audit (every tier, GitLab and GitHub) both ask it.
 */
import type { AccessPlan } from "./accessPlan";

export interface FourEyesVerdict {
  ok: boolean;
  /** Git usernames whose approvals count. */
  counted: string[];
  /** Git usernames whose approvals count as the consumer's sign-off (empty where no sign-off is required). */
  signedOff: string[];
  message: string;
}

const lc = (u: string) => u.toLowerCase();

/**
 * One approval requirement: who counts of `approvedBy` (each once), and who is refused and why. `whyNot`
 * says why someone not `eligible` is refused, or undefined when another requirement judges them.
 */
function tally(eligible: Map<string, string>, author: string, approvedBy: string[], whyNot: (u: string) => string | undefined) {
  const seen = new Set<string>();
  const counted: string[] = [];
  const refused: string[] = [];
  for (const u of approvedBy) {
    if (seen.has(lc(u))) continue;
    seen.add(lc(u));
    const why = eligible.has(lc(u)) ? undefined : whyNot(u);
    if (!eligible.has(lc(u)) && why === undefined) continue; // another requirement's to judge
    if (lc(u) === lc(author)) refused.push(`${u} (the author: an author's own approval never counts)`);
    else if (why === undefined) counted.push(u);
    else refused.push(`${u} (${why})`);
  }
  const allowed =
    [...eligible.keys()]
      .filter((u) => u !== lc(author))
      .sort()
      .join(", ") || "nobody";
  return { counted, refused, allowed };
}

/**
 * Judges the approvals (`approvedBy`, Git usernames) of a merge request by `author` into `target`, against
 * the plan's approvers and approval count for that branch and, where the branch has one, its sign-off rule:
 * two requirements, as GitLab's two approval rules are, which one approval by a member of both may meet.
 * Usernames compare case-insensitively, as GitLab's do.
 */
export function judgeApprovals(plan: AccessPlan, target: string, author: string, approvedBy: string[]): FourEyesVerdict {
  const rule = plan.branchRules.find((b) => b.branch === target);
  if (!rule) {
    return {
      ok: true,
      counted: [],
      signedOff: [],
      message: `${target} is not an environment branch: no approval rule applies (its protection lets nobody merge)`,
    };
  }
  const byUsername = (ids: string[]) => new Map(ids.map((id) => [lc(plan.gitMembers.find((m) => m.member === id)!.gitUsername), id]));
  const signers = byUsername(rule.signOff?.members ?? []);
  const approvers = byUsername(rule.approveMembers);
  // A signer's approval that is not an approver's is the sign-off, not a refused approval.
  const a = tally(approvers, author, approvedBy, (u) => (signers.has(lc(u)) ? undefined : `not allowed to approve merges into ${target}`));
  const need = rule.approvals;
  const approved = a.counted.length >= need;
  const approval = approved
    ? `approved: ${a.counted.join(", ")} approved this merge into ${target} (${a.counted.length} of ${need} needed), none of them its author ${author}`
    : `not approved: merges into ${target} need ${need} approval(s) by someone other than the author ${author} who may approve there (${a.allowed}); counted ${a.counted.length}${a.counted.length ? ` (${a.counted.join(", ")})` : ""}${a.refused.length ? `; not counted: ${a.refused.join("; ")}` : ""}${approvedBy.length === 0 ? "; nobody has approved it" : ""}`;
  if (!rule.signOff) return { ok: approved, counted: a.counted, signedOff: [], message: approval };

  const s = tally(signers, author, approvedBy, () => undefined);
  const roles = rule.signOff.roles.join(", ");
  const signedOff = s.counted.length >= rule.signOff.approvals;
  const signOff = signedOff
    ? `signed off: ${s.counted.join(", ")} (${roles}) gave the consumer sign-off, not the author ${author}`
    : `not signed off: merges into ${target} also need the consumer sign-off, ${rule.signOff.approvals} approval by a member of ${roles} other than the author ${author}, which one of ${s.allowed} may give${s.refused.length ? `; not counted: ${s.refused.join("; ")}` : ""}`;
  // What is missing first: the flow audit and the job's output lead with the reason a merge fails.
  const message = approved && !signedOff ? `${signOff}; ${approval}` : `${approval}; ${signOff}`;
  return { ok: approved && signedOff, counted: a.counted, signedOff: s.counted, message };
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
