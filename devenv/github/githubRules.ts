/**
 * What the GitHub test server permits, apart from its HTTP layer: repository permissions from teams and
 * collaborators, and repository rulesets with their bypass actors, applied to a push (the contents API, a new
 * ref) and to merging a pull request. Each rule follows GitHub's documentation, cited beside it.
 */
import { GitHubOrganization, OrgRepo } from "./githubOrgApi";

const ORDER = ["none", "pull", "triage", "push", "maintain", "admin"];
export type Permission = "none" | "pull" | "triage" | "push" | "maintain" | "admin";

/**
 * A user's permission on a repository: the highest of their teams' and their own as a collaborator; an
 * organization owner has admin (https://docs.github.com/en/organizations/managing-user-access-to-your-organizations-repositories/managing-repository-roles/repository-roles-for-an-organization).
 */
export function permissionOf(org: GitHubOrganization, repo: OrgRepo, login: string): Permission {
  const user = login.toLowerCase();
  if (org.owners.has(user)) return "admin";
  const full = `${repo.owner}/${repo.name}`.toLowerCase();
  const held = [
    repo.collaborators.get(user),
    ...[...org.teams.values()].filter((t) => t.members.has(user)).map((t) => t.repos.get(full)),
  ].filter((p): p is string => p !== undefined);
  return held.reduce<Permission>((best, p) => (ORDER.indexOf(p) > ORDER.indexOf(best) ? (p as Permission) : best), "none");
}
export const atLeast = (p: Permission, want: Permission) => ORDER.indexOf(p) >= ORDER.indexOf(want);

interface Rule {
  type: string;
  parameters?: Record<string, any>;
}
interface Ruleset {
  enforcement: string;
  target?: string;
  conditions?: { ref_name?: { include?: string[]; exclude?: string[] } };
  rules: Rule[];
  bypass_actors: { actor_id: number | null; actor_type: string; bypass_mode: string }[];
}

/** fnmatch as rulesets use it for ref names: `*` within a path segment, `**` across; ~ALL and ~DEFAULT_BRANCH. */
function refMatches(pattern: string, ref: string, defaultBranch: string): boolean {
  if (pattern === "~ALL") return true;
  if (pattern === "~DEFAULT_BRANCH") return ref === `refs/heads/${defaultBranch}`;
  const re = new RegExp(
    `^${pattern
      .split("**")
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*"))
      .join(".*")}$`,
  );
  return re.test(ref);
}

/**
 * The active branch rulesets whose conditions take `branch` (https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-rulesets/creating-rulesets-for-a-repository#using-fnmatch-syntax):
 * included by a pattern and excluded by none. "evaluate" and "disabled" rulesets enforce nothing.
 */
export function rulesetsFor(repo: OrgRepo, branch: string, defaultBranch: string): Ruleset[] {
  const ref = `refs/heads/${branch}`;
  return ([...repo.rulesets.values()] as unknown as Ruleset[]).filter(
    (r) =>
      r.enforcement === "active" &&
      (r.target ?? "branch") === "branch" &&
      (r.conditions?.ref_name?.include ?? []).some((p) => refMatches(p, ref, defaultBranch)) &&
      !(r.conditions?.ref_name?.exclude ?? []).some((p) => refMatches(p, ref, defaultBranch)),
  );
}

/**
 * Whether `login` bypasses a ruleset, and how. https://docs.github.com/en/rest/repos/rules: a bypass actor in
 * mode "always" skips the ruleset for pushes and merges; in mode "pull_request" only when merging a pull request.
 * Teams bypass through membership; RepositoryRole 5 is the admin role, OrganizationAdmin the owners.
 */
function bypasses(org: GitHubOrganization, repo: OrgRepo, rs: Ruleset, login: string, merging: boolean): boolean {
  const user = login.toLowerCase();
  return rs.bypass_actors.some((a) => {
    if (a.bypass_mode === "pull_request" && !merging) return false;
    if (a.actor_type === "Team") return org.teams.get(Number(a.actor_id))?.members.has(user) ?? false;
    if (a.actor_type === "OrganizationAdmin") return org.owners.has(user);
    if (a.actor_type === "RepositoryRole") return Number(a.actor_id) === 5 && permissionOf(org, repo, login) === "admin";
    return false;
  });
}

export type Verdict = { ok: true } | { ok: false; status: number; message: string };
const violations = (status: number, found: string[]): Verdict =>
  found.length ? { ok: false, status, message: `Repository rule violations found\n\n${found.join("\n\n")}\n\n` } : { ok: true };

/**
 * A push to `branch` (the contents API, or creating the ref): write permission, then every ruleset the pusher
 * does not bypass always (https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-rulesets/available-rules-for-rulesets):
 * creation and update restrict creating and updating the ref to bypass actors, a pull request rule or required
 * status checks mean changes come through pull requests, non_fast_forward refuses a force push.
 */
export function mayPush(
  org: GitHubOrganization,
  repo: OrgRepo,
  login: string,
  push: { branch: string; creating: boolean; force: boolean; defaultBranch: string },
): Verdict {
  if (!atLeast(permissionOf(org, repo, login), "push"))
    return { ok: false, status: 403, message: "Resource not accessible by personal access token" };
  const found = new Set<string>();
  for (const rs of rulesetsFor(repo, push.branch, push.defaultBranch)) {
    if (bypasses(org, repo, rs, login, false)) continue;
    for (const r of rs.rules) {
      if (r.type === "creation" && push.creating) found.add("Cannot create ref due to creations being restricted.");
      if (r.type === "update" && !push.creating) found.add("Cannot update this protected ref.");
      if (r.type === "pull_request") found.add("Changes must be made through a pull request.");
      if (r.type === "required_status_checks")
        for (const c of r.parameters?.required_status_checks ?? []) found.add(`Required status check "${c.context}" is expected.`);
      if (r.type === "non_fast_forward" && push.force) found.add("Cannot force-push to this branch");
    }
  }
  return violations(409, [...found]);
}

export interface PullState {
  author: string;
  base: string;
  /** The latest review of each reviewer, oldest first. */
  reviews: { user: string; state: string }[];
  /** Who pushed the head's last commit. */
  lastPusher?: string;
  /** The head commit's statuses: context -> state. */
  statuses: Map<string, string>;
}

/**
 * Merging a pull request (PUT /pulls/{n}/merge): write permission, then each ruleset on the base branch that the
 * merger does not bypass (either mode): update restricts merging too; the pull request rule needs
 * `required_approving_review_count` approvals by reviewers with write access, never the author's, and with
 * require_last_push_approval not the last pusher's, and each required reviewer team's minimum; required status
 * checks must have succeeded on the head. GitHub refuses with 405 and lists the violations.
 */
export function mayMerge(org: GitHubOrganization, repo: OrgRepo, login: string, pr: PullState, defaultBranch: string): Verdict {
  if (!atLeast(permissionOf(org, repo, login), "push"))
    return { ok: false, status: 403, message: "Resource not accessible by personal access token" };
  const latest = new Map<string, string>();
  for (const r of pr.reviews) if (r.state !== "COMMENTED") latest.set(r.user.toLowerCase(), r.state);
  const found = new Set<string>();
  for (const rs of rulesetsFor(repo, pr.base, defaultBranch)) {
    if (bypasses(org, repo, rs, login, true)) continue;
    for (const r of rs.rules) {
      if (r.type === "update") found.add("Cannot update this protected ref.");
      if (r.type === "pull_request") {
        const p = r.parameters ?? {};
        const counted = [...latest]
          .filter(([, s]) => s === "APPROVED")
          .map(([u]) => u)
          .filter((u) => u !== pr.author.toLowerCase() && atLeast(permissionOf(org, repo, u), "push"))
          .filter((u) => !(p.require_last_push_approval && u === pr.lastPusher?.toLowerCase()));
        const need = Number(p.required_approving_review_count ?? 0);
        if (counted.length < need)
          found.add(`At least ${need} approving review${need === 1 ? " is" : "s are"} required by reviewers with write access.`);
        for (const rr of p.required_reviewers ?? []) {
          const team = org.teams.get(Number(rr.reviewer?.id));
          const n = counted.filter((u) => team?.members.has(u)).length;
          if (n < Number(rr.minimum_approvals ?? 0)) found.add(`Approval from ${team?.slug ?? rr.reviewer?.id} is required.`);
        }
      }
      if (r.type === "required_status_checks")
        for (const c of r.parameters?.required_status_checks ?? []) {
          const s = pr.statuses.get(c.context);
          if (s !== "success")
            found.add(`Required status check "${c.context}" ${s === undefined || s === "pending" ? "is expected" : "is failing"}.`);
        }
    }
  }
  return violations(405, [...found]);
}
