/**
 * The access doctor's judgement: given what was read live (clients/memberAccess.ts) and the plan of each stack, every
 * check one member needs to clone, create, pull and push, each failed one with what is wrong and its fix (the config
 * key or stack to change, or the member's own step). Pure: no I/O.
 */
import { GIT_ACCESS_LEVELS, Member } from "../config/schema";
import { AccessPlan } from "./accessPlan";
import { allowListPrefixes, GIT_FOLDER_KEYS } from "./workspaceSettings";

/** The shapes plan/doctor reads; clients/memberAccess.ts produces them. */
export interface WorkspaceFacts {
  user?: { id: string; active: boolean; entitlements: string[] };
  groups: Record<string, { id: string; members: string[]; entitlements: string[] }>;
  acls: Record<string, { principal: string; kind: string; level: string }[] | undefined>;
  /** Each managed model's ACL in the workspace registry (inherited entries too); undefined: no such model. */
  registry?: Record<string, { principal: string; kind: string; level: string }[] | undefined>;
  conf: Record<string, string | null>;
}
export interface GitFacts {
  user?: { id: number; username: string; state: string };
  accessLevel?: number;
  protectedBranches: Record<string, { accessLevel: number; userId: number | null }[]>;
  /** Who may merge into each protected branch (its merge_access_levels), as the push entries. */
  mergeBranches: Record<string, { accessLevel: number; userId: number | null }[]>;
  /** The project's approval settings and rules (Premium); undefined where GitLab has none (Free). */
  approvals?: {
    authorApproval: boolean;
    rules: { name: string; required: number; eligible: number[]; branches: string[] | "all" }[];
  };
}

/** A member on a GitHub repository, as its API reports them (clients/memberAccess.ts readGitHubFacts). */
export interface GitHubFacts {
  user?: { id: number; login: string; suspended: boolean };
  /** Their highest permission on the repository (pull, triage, push, maintain, admin), direct or through a team. */
  permission?: string;
  /** Their rights per branch, evaluated over the repository's rulesets (clients/githubRights.ts). */
  rights: Record<string, { push: boolean; merge: boolean; approve: boolean }>;
}

const GITHUB_PERMISSIONS = ["pull", "triage", "push", "maintain", "admin"];

export type CheckStatus = "pass" | "fail" | "unchecked" | "unreadable";

export interface Check {
  /** The workspace (stack) or the Git host the check ran on. */
  side: string;
  check: string;
  status: CheckStatus;
  /** What was found (always), and for a failure what is wrong. */
  detail: string;
  /** For a failure or an unchecked item: what to change or do. */
  fix?: string;
}

export interface DoctorReport {
  member: string;
  checks: Check[];
  /** Failed checks. */
  findings: number;
  /** Sides that could not be read, with why. */
  unreadable: string[];
}

/** The Git URL of the project every stack's Git folders use: the host and project of the plan. */
export const projectUrl = (plan: AccessPlan) => `${plan.git.url}/${plan.git.project}.git`;

const LEVEL_NAMES: Record<number, string> = {
  0: "none",
  5: "Minimal",
  10: "Guest",
  20: "Reporter",
  30: "Developer",
  40: "Maintainer",
  50: "Owner",
};
const levelName = (l: number) => LEVEL_NAMES[l] ?? String(l);
/** Reporter is GitLab's lowest level that can clone and pull a private project. */
const CLONE_LEVEL = GIT_ACCESS_LEVELS.reporter;

/** The workspace checks of one stack for one member, from the facts read there (`credential`: read with the member's token). */
export function judgeWorkspace(
  plan: AccessPlan,
  member: Member,
  facts: WorkspaceFacts,
  credential: { credentials: { provider: string; username: string }[] } | "not-self",
  git?: GitFacts | GitHubFacts,
): Check[] {
  const side = plan.stack;
  const up = `pulumi up --refresh -s ${side}`;
  const { out, add } = checksOn(side);

  // The user, active.
  const u = facts.user;
  const userFix = plan.scimProvisioned
    ? `the workspace's users come from SCIM provisioning (workspace.scimProvisioned in Pulumi.${side}.yaml): assign ${member.email} in the identity provider`
    : `${up} adds every roster member (roster in Pulumi.yaml)`;
  add("user exists", !!u, u ? `${member.email} is user ${u.id}` : `${member.email} is not a user of the workspace`, userFix);
  if (!u) return out;
  add(
    "user active",
    u.active,
    u.active ? `${member.email} is active` : `${member.email} is deactivated: they cannot sign in or use a token`,
    `a workspace admin reactivates ${member.email} (Settings > Identity and access > Users, or SCIM PATCH active: true); the stacks do not manage account state`,
  );

  // Group membership, as the plan gives it.
  const mine = plan.memberships.filter((m) => m.member === member.id);
  for (const m of mine) {
    const g = facts.groups[m.group];
    const inIt = !!g && g.members.includes(u.id);
    add(
      `member of ${m.group}`,
      inIt,
      !g
        ? `group ${m.group} does not exist in the workspace`
        : inIt
          ? `in ${m.group} (role ${m.role})`
          : `not in ${m.group}, which role ${m.role} gives`,
      `${up} restores the group membership (roster: ${member.id} has role ${m.role} in Pulumi.yaml)`,
    );
  }

  // The workspace-access entitlement, the user's own or through a group they are in.
  const through = Object.entries(facts.groups)
    .filter(([, g]) => g.members.includes(u.id) && g.entitlements.includes("workspace-access"))
    .map(([n]) => n);
  const own = u.entitlements.includes("workspace-access");
  const planned = plan.groups.filter((g) => mine.some((m) => m.group === g.name) && g.entitlements.includes("workspace-access"));
  add(
    "workspace-access entitlement",
    own || through.length > 0,
    own
      ? "held directly"
      : through.length
        ? `through ${through.join(", ")}`
        : "neither the user nor any group they are in has workspace-access",
    planned.length
      ? `${up} restores it on ${planned.map((g) => g.name).join(", ")}`
      : `add workspace-access to roles.<role>.entitlements for ${side} in Pulumi.yaml (${member.id}: ${member.roles.join(", ")}), then ${up}`,
  );

  // The Git folder root and the shared Git folders: the level the plan grants each of the member's groups.
  const myGroups = new Set(mine.map((m) => m.group));
  const rootPaths = new Set(plan.directories.filter((d) => d.purpose === "git-folder-root").map((d) => d.path));
  for (const acl of plan.workspaceAcls.filter((a) => a.objectType === "repo" || rootPaths.has(a.path))) {
    const what = acl.objectType === "repo" ? `shared Git folder ${acl.path}` : `Git folder root ${acl.path}`;
    const live = facts.acls[acl.path];
    for (const g of acl.grants.filter((x) => myGroups.has(x.group))) {
      const has = (live ?? []).find((e) => e.kind === "group" && e.principal === g.group);
      const ok = !!live && has?.level === g.level;
      add(
        `${g.level} on ${what}`,
        ok,
        !live
          ? `${acl.path} does not exist in the workspace`
          : ok
            ? `${g.group} has ${g.level}`
            : `${g.group} has ${has ? has.level : "no direct permission"}; the plan grants ${g.level}`,
        `${up} restores the ACL (${acl.objectType === "repo" ? "roles.<role>.sharedGitFolders" : "organization.gitFolderRoot"} in Pulumi.yaml)`,
      );
    }
  }

  // Git folders enabled, and the project's URL allowed where an allow list is used.
  const enabled = facts.conf[GIT_FOLDER_KEYS.enabled];
  add(
    "Git folders enabled",
    enabled !== "false",
    `${GIT_FOLDER_KEYS.enabled} = ${enabled ?? "(default: enabled)"}`,
    `set workspace.gitFolders.enabled: true in Pulumi.${side}.yaml (or remove it; enabled is the default), then ${up}`,
  );
  const listOn = facts.conf[GIT_FOLDER_KEYS.allowListOn] === "true";
  const prefixes = allowListPrefixes(facts.conf[GIT_FOLDER_KEYS.allowList]);
  const planned2 = plan.workspaceSettings.find((w) => w.setting === GIT_FOLDER_KEYS.allowList);
  for (const url of [...new Set([projectUrl(plan), ...plan.gitFolders.map((f) => f.url)])]) {
    const ok = !listOn || prefixes.some((p) => url.startsWith(p));
    add(
      `Git URL allowed: ${url}`,
      ok,
      !listOn
        ? "the workspace uses no Git URL allow list"
        : ok
          ? `allowed by the allow list`
          : `not on the allow list (${prefixes.join(", ") || "empty"})`,
      planned2
        ? `add a prefix of ${url} to workspace.gitFolders.allowList in Pulumi.${side}.yaml, then ${up}`
        : `the stack declares no allow list (workspace.gitFolders.allowList in Pulumi.${side}.yaml): ${up} turns the out-of-band one off, or declare one that includes ${url}`,
    );
  }

  // The workspace registry: who may move the team's models between stages, from each model's ACL as read.
  if (facts.registry) out.push(...judgeRegistry(plan, member, u.id, facts));

  // The member's own Git credential: only their own token can list it.
  const wantProvider = plan.gitFolders[0]?.provider ?? (plan.git.provider === "gitlab" ? "gitLab" : "gitHub");
  const link = `${member.id} links a personal access token in workspace ${side}: Settings > Linked accounts, Git provider ${wantProvider}, Git username ${member.gitUsername}`;
  if (credential === "not-self") {
    out.push({
      side,
      check: "Git credential",
      status: "unchecked",
      detail: "only the member can check this: Databricks lists a Git credential to its owner alone",
      fix: `${member.id} runs \`quant-platform doctor --member ${member.id} --self\` with their own Databricks profile for ${side}`,
    });
    return out;
  }
  const c = credential.credentials[0];
  add(
    "Git credential linked",
    !!c,
    c ? `a ${c.provider} credential for ${c.username || "(no username)"}` : "no Git credential is linked",
    link,
  );
  if (!c) return out;
  add(
    "Git credential provider",
    c.provider.toLowerCase() === wantProvider.toLowerCase(),
    `${c.provider}; the Git folders use ${wantProvider}`,
    `${member.id} edits the credential under Settings > Linked accounts: Git provider ${wantProvider}`,
  );
  add(
    "Git credential username",
    c.username.toLowerCase() === member.gitUsername.toLowerCase(),
    `${c.username || "(none)"}; the roster says ${member.gitUsername}`,
    `${member.id} edits the credential under Settings > Linked accounts: Git username ${member.gitUsername} (or fix gitUsername in the roster, Pulumi.yaml)`,
  );
  if (git) {
    const onGitHub = "rights" in git;
    const reaches = onGitHub
      ? !!git.user && !git.user.suspended && git.permission !== undefined
      : git.user?.state === "active" && (git.accessLevel ?? 0) >= CLONE_LEVEL;
    add(
      `Git credential reaches ${plan.git.project}`,
      reaches,
      reaches
        ? `${member.gitUsername} is active with ${onGitHub ? git.permission : levelName(git.accessLevel!)} on ${plan.git.project}`
        : `${member.gitUsername} cannot read ${plan.git.project} (see the ${plan.git.provider} checks)`,
      onGitHub
        ? "fix the github checks below; the token itself needs the repo scope (classic) or Contents: read and write (fine-grained)"
        : `fix the ${plan.git.provider} checks below; the token itself must have the read_repository and write_repository scopes`,
    );
  }
  return out;
}

/**
 * The stages a workspace-registry level may move a version to ("MLflow Model permissions",
 * https://docs.databricks.com/en/mlflow/models-acl.html): Staging takes Can Manage Staging Versions or more,
 * Production Can Manage Production Versions or more.
 */
const REGISTRY_LEVELS = ["CAN_READ", "CAN_EDIT", "CAN_MANAGE_STAGING_VERSIONS", "CAN_MANAGE_PRODUCTION_VERSIONS", "CAN_MANAGE"];
const STAGE_NEEDS: [string, string][] = [
  ["Staging", "CAN_MANAGE_STAGING_VERSIONS"],
  ["Production", "CAN_MANAGE_PRODUCTION_VERSIONS"],
];
const rank = (level: string | undefined) => (level === undefined ? -1 : REGISTRY_LEVELS.indexOf(level));

/**
 * For each model the stack governs in its workspace registry: can the member move a version to Staging, to
 * Production? Live: the highest level among the model's ACL entries (inherited ones too) that name the member, a
 * group they are in as read, or `users`. Planned: the highest level the plan grants the member's groups (admins
 * manage every model).
 */
function judgeRegistry(plan: AccessPlan, member: Member, uid: string, facts: WorkspaceFacts): Check[] {
  const side = plan.stack;
  const { out, add } = checksOn(side);
  const mine = new Set(plan.memberships.filter((m) => m.member === member.id).map((m) => m.group));
  const inGroup = (g: string) => g === "users" || (facts.groups[g]?.members ?? []).includes(uid);
  for (const acl of plan.registryAcls) {
    const entries = facts.registry?.[acl.model];
    if (!entries) {
      out.push({
        side,
        check: `model ${acl.model}`,
        status: "fail",
        detail: `${acl.model} is not in the workspace registry`,
        fix: `pulumi up -s ${side} registers it (models in Pulumi.yaml)`,
      });
      continue;
    }
    const live = entries
      .filter((e) => (e.kind === "group" ? inGroup(e.principal) : e.principal.toLowerCase() === member.email.toLowerCase()))
      .reduce<string | undefined>((best, e) => (rank(e.level) > rank(best) ? e.level : best), undefined);
    const planned = mine.has("admins")
      ? "CAN_MANAGE"
      : acl.grants
          .filter((g) => mine.has(g.group))
          .reduce<string | undefined>((best, g) => (rank(g.level) > rank(best) ? g.level : best), undefined);
    for (const [stage, needs] of STAGE_NEEDS) {
      const can = rank(live) >= rank(needs);
      const should = rank(planned) >= rank(needs);
      add(
        `${should ? "can" : "cannot"} move ${acl.model} to ${stage}`,
        can === should,
        `${can ? "can" : "cannot"} move ${acl.model} to ${stage} (${live ?? "no permission"}); the plan gives ${planned ?? "no permission"}`,
        `pulumi up --refresh -s ${side} restores the model's permissions (roles.<role>.registry.${side} in Pulumi.yaml)`,
      );
    }
  }
  return out;
}

/**
 * Whether a protected branch lets a user with `level` (and id `uid`) push. GitLab lets nobody below Developer push,
 * whatever the branch's entries say; an unprotected branch takes pushes from every Developer.
 */
function canPush(entries: { accessLevel: number; userId: number | null }[] | undefined, uid: number, level: number): boolean {
  if (level < GIT_ACCESS_LEVELS.developer) return false;
  if (!entries) return true;
  return entries.some((e) => (e.userId !== null ? e.userId === uid : e.accessLevel > 0 && level >= e.accessLevel));
}

/** The checks of one side, and how one is recorded: passed, or failed with its fix. */
function checksOn(side: string) {
  const out: Check[] = [];
  const add = (check: string, ok: boolean, detail: string, fix?: string) =>
    out.push({ side, check, status: ok ? "pass" : "fail", detail, ...(ok ? {} : { fix }) });
  return { out, add };
}

/** The GitLab checks for one member: an active account, enough access to clone and pull, push where the plan says only. */
export function judgeGitLab(plan: AccessPlan, owner: string, member: Member, facts: GitFacts): Check[] {
  const side = `gitlab ${plan.git.project}`;
  const up = `pulumi up --refresh -s ${owner}`;
  const { out, add } = checksOn(side);
  const u = facts.user;
  add(
    "account exists",
    !!u,
    u ? `${member.gitUsername} is user ${u.id}` : `no GitLab user ${member.gitUsername}`,
    `create the account, or correct ${member.id}'s gitUsername in the roster (Pulumi.yaml)`,
  );
  if (!u) return out;
  add(
    "account active",
    u.state === "active",
    `${member.gitUsername} is ${u.state}`,
    `a GitLab administrator unblocks ${member.gitUsername} (Admin Area > Users); the stacks do not manage account state`,
  );
  const want = plan.gitMembers.find((m) => m.member === member.id);
  const wantLevel = want ? GIT_ACCESS_LEVELS[want.access] : CLONE_LEVEL;
  const level = facts.accessLevel;
  const fixLevel = `${up} restores ${member.gitUsername}'s access (roles.<role>.git.access in Pulumi.yaml; ${member.id}: ${member.roles.join(", ")})`;
  add(
    "can clone and pull",
    level !== undefined && level >= CLONE_LEVEL,
    level === undefined
      ? `${member.gitUsername} is not a member of ${plan.git.project}`
      : `${levelName(level)} on ${plan.git.project}${level < CLONE_LEVEL ? `: ${levelName(level)} cannot clone or pull a private project (Reporter or more can)` : ""}`,
    fixLevel,
  );
  if (level !== undefined && level >= CLONE_LEVEL)
    add(
      `project access ${want?.access ?? "reporter"}`,
      level >= wantLevel,
      `${levelName(level)}; the plan gives ${levelName(wantLevel)}`,
      fixLevel,
    );
  // A blocked account can do nothing; its pushes follow once it is unblocked.
  if (u.state !== "active") return out;
  for (const rule of plan.branchRules.filter((b) => b.branch !== "*")) {
    const expected = rule.pushMembers.includes(member.id);
    const can = canPush(facts.protectedBranches[rule.branch], u.id, level ?? 0);
    // GitLab Free protects by role only, so the plan itself widens pushes there (the plan view lists who).
    if (!expected && plan.git.tier === "free") continue;
    add(
      expected ? `can push to ${rule.branch}` : `cannot push to ${rule.branch}`,
      can === expected,
      `${can ? "can" : "cannot"} push to ${rule.branch}${facts.protectedBranches[rule.branch] ? "" : " (not protected)"}; the plan says ${expected ? "push" : "no push"}`,
      `${up} restores the protected branch ${rule.branch} (roles.<role>.git.push in Pulumi.yaml)`,
    );
  }
  for (const rule of plan.branchRules.filter((b) => b.branch !== "*" && b.merge.length)) {
    const expected = rule.mergeMembers.includes(member.id);
    const can = canPush(facts.mergeBranches[rule.branch], u.id, level ?? 0);
    if (!expected && plan.git.tier === "free") continue;
    add(
      expected ? `can merge into ${rule.branch}` : `cannot merge into ${rule.branch}`,
      can === expected,
      `${can ? "can" : "cannot"} merge into ${rule.branch}${facts.mergeBranches[rule.branch] ? "" : " (not protected)"}; the plan says ${expected ? "merge" : "no merge"}`,
      `${up} restores the protected branch ${rule.branch} (roles.<role>.git.merge in Pulumi.yaml)`,
    );
    if (can && rule.approvals > 0) out.push(fourEyesOn(plan, up, member, u.id, rule.branch, rule.approvals, facts.approvals));
  }
  return out;
}

/**
 * Whether the member's own merge request into `branch` needs another person's approval, as GitLab decides it: the
 * author's approval must not count (merge_requests_author_approval false), and the rules that apply to the branch
 * must require at least the plan's approvals, each from people other than the author. On Free there are no
 * approval rules: the approval-check job enforces it, which this reading cannot see.
 */
function fourEyesOn(
  plan: AccessPlan,
  up: string,
  member: Member,
  uid: number,
  branch: string,
  approvals: number,
  facts: GitFacts["approvals"],
): Check {
  const check = `own merge requests into ${branch} need another approver`;
  const side = `gitlab ${plan.git.project}`;
  if (!facts)
    return {
      side,
      check,
      status: "unchecked",
      detail: `GitLab ${plan.git.tier} has no approval rules: the approval-check job of the merge request pipeline enforces it`,
      fix: `a merge request's pipeline shows it (ci/gitlab/approval-check.yml)`,
    };
  const rules = facts.rules.filter((r) => r.branches === "all" || r.branches.includes(branch));
  const required = rules.reduce((n, r) => n + r.required, 0);
  const short = rules.filter((r) => r.eligible.filter((id) => id !== uid).length < r.required).map((r) => r.name);
  const ok = !facts.authorApproval && required >= approvals && short.length === 0;
  const detail = [
    facts.authorApproval
      ? "the author's own approval counts (merge_requests_author_approval is on)"
      : "the author's own approval does not count",
    `${required} approval(s) required by ${rules.map((r) => r.name).join(", ") || "no rule"}; the plan says ${approvals}`,
    ...(short.length ? [`without ${member.gitUsername}, too few eligible approvers in ${short.join(", ")}`] : []),
  ].join("; ");
  return {
    side,
    check,
    status: ok ? "pass" : "fail",
    detail,
    ...(ok ? {} : { fix: `${up} restores the approval settings and rules of ${branch}` }),
  };
}

/**
 * The GitHub checks for one member: an active (not suspended) account, read access to the repository, the
 * permission the plan's teams give, and on every branch push rights exactly where the plan gives them.
 */
export function judgeGitHub(plan: AccessPlan, owner: string, member: Member, facts: GitHubFacts, teamPermission: string): Check[] {
  const side = `github ${plan.git.project}`;
  const up = `pulumi up --refresh -s ${owner}`;
  const { out, add } = checksOn(side);
  const u = facts.user;
  add(
    "account exists",
    !!u,
    u ? `${member.gitUsername} is user ${u.id}` : `no GitHub user ${member.gitUsername}`,
    `correct ${member.id}'s gitUsername in the roster (Pulumi.yaml), or have them create the account`,
  );
  if (!u) return out;
  add(
    "account active",
    !u.suspended,
    `${member.gitUsername} is ${u.suspended ? "suspended" : "active"}`,
    `a site administrator unsuspends ${member.gitUsername} (GitHub Enterprise: Site admin > Users); the stacks do not manage account state`,
  );
  const rank = (p?: string) => (p === undefined ? -1 : GITHUB_PERMISSIONS.indexOf(p));
  const fixTeam = `${up} restores ${member.gitUsername}'s team memberships and the teams' repository access (roles of ${member.id}: ${member.roles.join(", ")})`;
  add(
    "can clone and pull",
    rank(facts.permission) >= 0,
    facts.permission ? `${facts.permission} on ${plan.git.project}` : `${member.gitUsername} has no access to ${plan.git.project}`,
    fixTeam,
  );
  if (rank(facts.permission) >= 0)
    add(
      `repository permission ${teamPermission}`,
      rank(facts.permission) >= rank(teamPermission),
      `${facts.permission}; the plan gives ${teamPermission}`,
      fixTeam,
    );
  if (u.suspended) return out;
  for (const rule of plan.branchRules.filter((b) => b.branch !== "*")) {
    const expected = rule.pushMembers.includes(member.id);
    const can = facts.rights[rule.branch]?.push ?? false;
    add(
      expected ? `can push to ${rule.branch}` : `cannot push to ${rule.branch}`,
      can === expected,
      `${can ? "can" : "cannot"} push to ${rule.branch}; the plan says ${expected ? "push" : "no push"}`,
      `${up} restores the rulesets of ${rule.branch} and their bypass actors (roles.<role>.git.push in Pulumi.yaml)`,
    );
  }
  for (const rule of plan.branchRules.filter((b) => b.branch !== "*" && b.merge.length)) {
    const expected = rule.mergeMembers.includes(member.id);
    const can = facts.rights[rule.branch]?.merge ?? false;
    add(
      expected ? `can merge into ${rule.branch}` : `cannot merge into ${rule.branch}`,
      can === expected,
      `${can ? "can" : "cannot"} merge a pull request into ${rule.branch}; the plan says ${expected ? "merge" : "no merge"}`,
      `${up} restores the rulesets of ${rule.branch} and their bypass actors (roles.<role>.git.merge in Pulumi.yaml)`,
    );
  }
  return out;
}

/** The report over every side: findings counted, unreadable sides listed. */
export function doctorReport(member: string, checks: Check[]): DoctorReport {
  return {
    member,
    checks,
    findings: checks.filter((c) => c.status === "fail").length,
    unreadable: checks.filter((c) => c.status === "unreadable").map((c) => `${c.side}: ${c.detail}`),
  };
}

/** 0 all pass, 3 findings, 1 a side could not be read (the other sides are still reported). */
export const doctorExitCode = (r: DoctorReport): number => (r.unreadable.length ? 1 : r.findings ? 3 : 0);

/** The report for people: each side's checks, failures with their fix. */
export function renderDoctor(r: DoctorReport): string {
  const mark: Record<CheckStatus, string> = { pass: "ok  ", fail: "FAIL", unchecked: "--  ", unreadable: "????" };
  const lines = [`Access doctor for ${r.member}`];
  let side = "";
  for (const c of r.checks) {
    if (c.side !== side) lines.push("", `== ${(side = c.side)}`);
    lines.push(`${mark[c.status]} ${c.check}: ${c.detail}`);
    if (c.fix && c.status !== "pass") lines.push(`     fix: ${c.fix}`);
  }
  lines.push(
    "",
    r.unreadable.length
      ? `Could not read: ${r.unreadable.length} side(s); ${r.findings} finding(s) on the rest.`
      : r.findings
        ? `${r.findings} finding(s).`
        : "Everything needed to clone, pull and push is in place.",
  );
  return lines.join("\n") + "\n";
}
