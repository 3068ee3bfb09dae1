/**
 * What each GitLab tier can enforce of the team's Git rules, and how the branch policy enforces each rule
 * on a given tier. Pure: the branch-policy component, the plan view, the access diff and the README table
 * all read this one table.
 *
 * Facts it rests on (GitLab docs): approval rules, the project approval settings (author and committer
 * approval, reset on push, per-MR override) and per-user "allowed to push/merge" on protected branches are
 * Premium and Ultimate features. Free has protected branches by role (No one, Developers + Maintainers,
 * Maintainers), "pipelines must succeed", and optional approvals readable through the MR approvals API.
 */
import { GIT_ACCESS_LEVELS, GitTier } from "../config/schema";
import type { AccessPlan, BranchRuleEntry } from "./accessPlan";

/**
 * How a rule holds: GitLab refuses the action, a blocking pipeline job refuses the merge, the flow audit
 * reports it afterwards, or the production gate of the model migration refuses the promotion it leads to.
 */
export type Enforcement = "native" | "pipeline job" | "flow audit" | "production gate" | "not enforced";

export interface TierRule {
  id: string;
  rule: string;
  /** Per tier: how it is enforced, and by what. */
  free: { how: Enforcement[]; by: string };
  premium: { how: Enforcement[]; by: string };
  /** Whether the rule exists in a plan (absent: always); the README table lists every rule. */
  appliesTo?: (plan: AccessPlan) => boolean;
  /**
   * How a GitHub repository holds the rule, where that is not the rulesets the README's host table lists
   * (there GitHub enforces the rule natively, as GitLab Premium does).
   */
  github?: { how: Enforcement[]; by: string };
}

/** The GitLab approval rule that asks a production branch's merge requests for the consumer's sign-off. */
export const signOffRuleName = (branch: string) => `consumer sign-off (${branch})`;

/** The mission's Git rules against the tiers. Ultimate enforces exactly what Premium does. */
export const TIER_RULES: TierRule[] = [
  {
    id: "pull",
    rule: "every member can pull and clone",
    free: { how: ["native"], by: "project membership (Developer floor)" },
    premium: { how: ["native"], by: "project membership (Developer floor)" },
  },
  {
    id: "push-dev-only",
    rule: "only the development branch takes pushes",
    free: { how: ["native"], by: "protected branches: push No one on every other environment branch" },
    premium: { how: ["native"], by: "protected branches: push No one on every other environment branch" },
  },
  {
    id: "push-who",
    rule: "only the roles allowed to push push to the development branch",
    free: { how: ["native"], by: "protected branch by role (Developers + Maintainers): wider than the plan, see 'Free tier widening'" },
    premium: { how: ["native"], by: "protected branch: allowed to push, per user" },
  },
  {
    id: "merge-who",
    rule: "only members with merge rights merge into an environment branch",
    free: {
      how: ["native", "flow audit"],
      by: "protected branch by role (Maintainers or Developers + Maintainers): wider than the plan; flow-audit reports merges by others",
    },
    premium: { how: ["native", "flow audit"], by: "protected branch: allowed to merge, per user; flow-audit reports merges by others" },
  },
  {
    id: "no-force-push",
    rule: "nobody force-pushes",
    free: { how: ["native"], by: "protected branches: allow_force_push off" },
    premium: { how: ["native"], by: "protected branches: allow_force_push off" },
  },
  {
    id: "four-eyes",
    rule: "a merge needs an approval by an approving member who is not the author",
    free: {
      how: ["pipeline job", "flow audit"],
      by: "approval-check job (reads the MR approvals API) with pipelines must succeed; flow-audit reports merges without one",
    },
    premium: {
      how: ["native", "flow audit"],
      by: "approval rule per branch, author approval off, committers' approval off; flow-audit reports merges without one",
    },
  },
  {
    id: "consumer-sign-off",
    rule: "a merge into a production branch needs the consumer's sign-off: an approval by a signer who is not the author",
    free: {
      how: ["pipeline job", "flow audit"],
      by: "approval-check job also requires an approval by a member of a signer role; flow-audit reports merges without one",
    },
    premium: {
      how: ["native", "flow audit"],
      by: "a second approval rule per production branch, 'consumer sign-off (<branch>)': 1 approval by the signers; flow-audit reports merges without one",
    },
    appliesTo: (plan) => plan.branchRules.some((b) => b.signOff),
    // @pulumi/github 6.15 does have `required_reviewers` (beta), which the review rulesets already use for the
    // approving team; the GitHub branch policy does not declare a signer team there yet (components/github/rights.ts).
    github: {
      how: ["production gate", "flow audit"],
      by: "not asked for on the pull request; the production gate refuses a promotion without a signer's sign-off (an approval of the declaring pull request, or on a workspace registry a transition request), never the author's; flow-audit reports merges without one",
    },
  },
  {
    id: "reset-on-push",
    rule: "approvals are reset when new commits are pushed",
    free: { how: ["not enforced"], by: "Premium setting; on Free an approval given before a later push still counts" },
    premium: { how: ["native"], by: "approval settings: reset approvals on push" },
  },
  {
    id: "no-override",
    rule: "a merge request cannot lower its own approval requirements",
    free: { how: ["pipeline job"], by: "approval-check takes approvers and counts from the plan, never from the MR" },
    premium: { how: ["native"], by: "approval settings: overriding approvers per MR off" },
  },
  {
    id: "pipeline",
    rule: "merging waits for a successful pipeline; skipped pipelines do not count",
    free: { how: ["native"], by: "merge checks: pipelines must succeed, skipped pipelines fail" },
    premium: { how: ["native"], by: "merge checks: pipelines must succeed, skipped pipelines fail" },
  },
  {
    id: "flow",
    rule: "merge requests only follow the promotion flow",
    free: {
      how: ["pipeline job", "flow audit"],
      by: "branch-flow job; a retargeted MR keeps its old green pipeline, so flow-audit reports merges outside the flow",
    },
    premium: {
      how: ["pipeline job", "flow audit"],
      by: "branch-flow job; a retargeted MR keeps its old green pipeline, so flow-audit reports merges outside the flow",
    },
  },
];

/** The enforcement of `rule` on `tier` (Ultimate as Premium). */
export function enforcementOn(rule: TierRule, tier: GitTier): { how: Enforcement[]; by: string } {
  return tier === "free" ? rule.free : rule.premium;
}

/** "native + flow audit". */
export const showHow = (how: Enforcement[]) => how.join(" + ");

/** The lowest project access level (30 developer, 40 maintainer) among `members`: what a role-only protection must allow. */
function lowestLevel(plan: AccessPlan, members: string[]): number {
  if (members.length === 0) return 0;
  return Math.min(...members.map((id) => GIT_ACCESS_LEVELS[plan.gitMembers.find((m) => m.member === id)!.access]));
}

/** Members whose project access reaches `level` (0: nobody). */
function reaching(plan: AccessPlan, level: number): string[] {
  return level === 0
    ? []
    : plan.gitMembers
        .filter((m) => GIT_ACCESS_LEVELS[m.access] >= level)
        .map((m) => m.member)
        .sort();
}

export interface FreeBranchProtection {
  branch: string;
  /** Protected-branch access levels Free can express: 0 no one, 30 developers + maintainers, 40 maintainers. */
  pushLevel: number;
  mergeLevel: number;
  /** Who GitLab Free lets push or merge beyond the plan (role levels cannot name people). */
  extraPush: string[];
  extraMerge: string[];
}

/**
 * A branch rule as GitLab Free can protect it: by the lowest project role among the allowed members, so
 * nobody the plan allows is locked out. Whoever else holds that role is reported as widening.
 */
export function freeProtection(plan: AccessPlan, b: BranchRuleEntry): FreeBranchProtection {
  const pushLevel = lowestLevel(plan, b.pushMembers);
  const mergeLevel = lowestLevel(plan, b.mergeMembers);
  return {
    branch: b.branch,
    pushLevel,
    mergeLevel,
    extraPush: reaching(plan, pushLevel).filter((m) => !b.pushMembers.includes(m)),
    extraMerge: reaching(plan, mergeLevel).filter((m) => !b.mergeMembers.includes(m)),
  };
}

/** The rules that exist in `plan`. */
export const rulesOf = (plan: AccessPlan): TierRule[] => TIER_RULES.filter((r) => !r.appliesTo || r.appliesTo(plan));

/**
 * One row per rule: how the configured tier enforces it, or each tier's way when the tier is detected at
 * deploy. On GitHub, the rules its rulesets do not hold natively, and how they hold instead.
 */
export function enforcementRows(plan: AccessPlan): string[][] {
  if (plan.git.provider === "github") return rulesOf(plan).flatMap((r) => (r.github ? [[r.rule, showHow(r.github.how), r.github.by]] : []));
  if (plan.git.provider !== "gitlab") return [];
  const tier = plan.git.tier;
  return rulesOf(plan).map((r) =>
    tier ? [r.rule, showHow(enforcementOn(r, tier).how), enforcementOn(r, tier).by] : [r.rule, showHow(r.premium.how), showHow(r.free.how)],
  );
}

/** The columns of enforcementRows for `plan`. */
export function enforcementColumns(plan: AccessPlan): string[] {
  if (plan.git.provider === "github") return ["rule (not native on GitHub)", "how", "by"];
  return plan.git.tier ? ["rule", `on ${plan.git.tier}`, "by"] : ["rule", "premium / ultimate", "free"];
}

/** The README table: every rule against every tier. */
export function tierTableMarkdown(): string {
  const lines = ["| rule | Free | Premium | Ultimate |", "|---|---|---|---|"];
  for (const r of TIER_RULES)
    lines.push(
      `| ${r.rule} | ${showHow(r.free.how)}: ${r.free.by} | ${showHow(r.premium.how)}: ${r.premium.by} | ${showHow(r.premium.how)} (as Premium) |`,
    );
  return lines.join("\n") + "\n";
}
