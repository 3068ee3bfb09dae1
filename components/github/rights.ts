/**
 * The plan's Git rights as GitHub declarations: pure data (no Pulumi, no I/O) that the GitHub branch
 * policy loops over, so the mapping from "who may push, merge and approve" to teams, repository permissions
 * and rulesets lives in one place and is tested on its own.
 *
 * GitHub facts this rests on (GitHub REST docs for rulesets, terraform-provider-github's schema):
 * - every active ruleset that targets a branch applies, and their rules add up;
 * - bypass is per ruleset: a bypass actor skips *every* rule of that ruleset. `always` covers direct pushes
 *   and pull requests; `pull_request` only pull requests (merging one), never a direct push;
 * - the `update` rule lets only bypass actors update the branch, and merging a pull request updates it;
 * - merging a pull request, and an approval that counts, both need write (`push`) on the repository;
 * - `required_reviewers` (a pull_request parameter, in preview) requires N approvals from one team, and a
 *   repository ruleset may only name a team that has direct access to the repository.
 * So who may update a branch, and how a pull request is reviewed, sit in separate rulesets: the merging
 * teams bypass the first through pull requests and never the second, which holds the review rules.
 */
import type { AccessPlan, BranchRuleEntry } from "../../plan/accessPlan";

export type RepoPermission = "pull" | "push";
export type BypassMode = "always" | "pull_request";

/** A GitHub team: one per role, plus one per set of several roles that approve a branch together. */
export interface TeamSpec {
  key: string;
  name: string;
  description: string;
  roles: string[];
  /** GitHub usernames. */
  members: string[];
  /** Least permission that serves the team: `push` only for roles that push, merge or approve somewhere. */
  permission: RepoPermission;
}

export interface RulesetSpec {
  key: string;
  name: string;
  /** The environment branch, or `*` for every other branch. */
  branch: string;
  includes: string[];
  excludes: string[];
  rules: {
    creation?: boolean;
    update?: boolean;
    deletion: true;
    nonFastForward: true;
    pullRequest?: {
      requiredApprovingReviewCount: number;
      requireLastPushApproval: true;
      dismissStaleReviewsOnPush: true;
      requiredReviewThreadResolution: false;
      requireCodeOwnerReview: false;
      /** Team key whose members' approvals count, and how many are needed. */
      requiredReviewers: { team: string; minimumApprovals: number }[];
    };
    requiredStatusChecks?: { requiredChecks: { context: string }[]; strictRequiredStatusChecksPolicy: true };
  };
  /** Team keys and the mode in which they bypass this ruleset. */
  bypass: { team: string; mode: BypassMode }[];
}

export interface GitHubAccess {
  repository: string;
  teams: TeamSpec[];
  rulesets: RulesetSpec[];
}

const roleTeamKey = (role: string) => `team:${role}`;
const unionTeamKey = (roles: string[]) => `team:${roles.join("+")}`;

/** The team whose members' approvals count on `b`: the role's own team, or the union of its approving roles. */
function approvingTeam(b: BranchRuleEntry): string | undefined {
  if (b.approveMembers.length === 0) return undefined;
  return b.approve.length === 1 ? roleTeamKey(b.approve[0]) : unionTeamKey(b.approve);
}

/**
 * Teams, repository permissions and rulesets that grant on GitHub exactly the push, merge and approve
 * rights `plan` grants per branch. `check` is the status check the branch-flow guard reports as.
 */
export function githubAccess(plan: AccessPlan, check = "branch-flow"): GitHubAccess {
  const repository = plan.git.project.split("/").pop()!;
  const username = (id: string) => plan.gitMembers.find((m) => m.member === id)!.gitUsername;
  const environments = plan.branchRules.filter((b) => b.tier !== "other");
  const withRights = new Set(environments.flatMap((b) => [...b.push, ...b.merge, ...b.approve]));

  const teams: TeamSpec[] = plan.groups.map((g) => ({
    key: roleTeamKey(g.role),
    name: g.name,
    description: `quant-platform: members of role ${g.role}`,
    roles: [g.role],
    members: plan.memberships
      .filter((m) => m.role === g.role)
      .map((m) => username(m.member))
      .sort(),
    permission: withRights.has(g.role) ? ("push" as const) : ("pull" as const),
  }));
  for (const b of environments.filter((x) => x.approve.length > 1 && x.approveMembers.length > 0)) {
    const key = unionTeamKey(b.approve);
    if (teams.some((t) => t.key === key)) continue;
    teams.push({
      key,
      name: b.approve.map((r) => plan.groups.find((g) => g.role === r)!.name).join(" + "),
      description: `quant-platform: members of any of the roles ${b.approve.join(", ")}, who approve together`,
      roles: [...b.approve],
      members: b.approveMembers.map(username).sort(),
      permission: "push",
    });
  }

  const rulesets: RulesetSpec[] = [];
  for (const b of environments) {
    const ref = [`refs/heads/${b.branch}`];
    const pushers = b.push.map((r) => ({ team: roleTeamKey(r), mode: "always" as const }));
    const mergers = b.merge.filter((r) => !b.push.includes(r)).map((r) => ({ team: roleTeamKey(r), mode: "pull_request" as const }));
    const reviewers = approvingTeam(b);
    rulesets.push({
      key: `${b.key}:update`,
      branch: b.branch,
      includes: ref,
      excludes: [],
      name: `${b.branch}: only ${b.push.length ? "its pushers and mergers" : "its mergers, through pull requests,"} update it`,
      rules: { creation: true, update: true, deletion: true, nonFastForward: true },
      bypass: [...pushers, ...mergers],
    });
    rulesets.push({
      key: `${b.key}:review`,
      branch: b.branch,
      includes: ref,
      excludes: [],
      name: `${b.branch}: reviewed pull request`,
      rules: {
        deletion: true,
        nonFastForward: true,
        pullRequest: {
          requiredApprovingReviewCount: b.approvals,
          requireLastPushApproval: true,
          dismissStaleReviewsOnPush: true,
          requiredReviewThreadResolution: false,
          requireCodeOwnerReview: false,
          requiredReviewers: reviewers ? [{ team: reviewers, minimumApprovals: b.approvals }] : [],
        },
        requiredStatusChecks: { requiredChecks: [{ context: check }], strictRequiredStatusChecksPolicy: true },
      },
      // Whoever may push directly need not open a pull request; nobody else skips the review.
      bypass: pushers,
    });
    // Pushers bypass both rulesets above, so history is kept by one nobody bypasses.
    if (pushers.length) {
      rulesets.push({
        key: `${b.key}:history`,
        branch: b.branch,
        includes: ref,
        excludes: [],
        name: `${b.branch}: no force-push or deletion`,
        rules: { deletion: true, nonFastForward: true },
        bypass: [],
      });
    }
  }
  const other = plan.branchRules.find((b) => b.tier === "other")!;
  rulesets.push({
    key: `${other.key}:update`,
    branch: other.branch,
    includes: ["~ALL"],
    excludes: environments.map((b) => `refs/heads/${b.branch}`),
    name: "other branches: no pushes",
    rules: { creation: true, update: true, deletion: true, nonFastForward: true },
    bypass: [],
  });
  return { repository, teams, rulesets };
}
