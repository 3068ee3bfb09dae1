/**
 * The GitLab resources the branch policy needs, each as a ResourceKind for the shared reconcile cycle.
 * Endpoints and fields follow the GitLab REST API v4 documentation.
 */
import { GitLabApi } from "../../clients/gitlab";
import { hasStatus } from "../../clients/http";
import { CheckFailure, ProjectInputs, ResourceKind } from "./reconcile";

const sorted = (xs: string[]) => [...xs].sort();
const field = (i: object, k: string) => (i as Record<string, unknown>)[k];
const bool = (i: object, k: string): CheckFailure[] =>
  typeof field(i, k) === "boolean" ? [] : [{ property: k, reason: `${k} must be true or false` }];
const usernames = (i: object, k: string): CheckFailure[] =>
  Array.isArray(field(i, k)) && (field(i, k) as unknown[]).every((u) => typeof u === "string" && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(u))
    ? []
    : [{ property: k, reason: `${k} must be a list of GitLab usernames` }];
const VALID_LEVELS = [0, 30, 40, 60];
const levels = (i: object, k: string): CheckFailure[] =>
  Array.isArray(field(i, k)) && (field(i, k) as unknown[]).every((l) => VALID_LEVELS.includes(l as number))
    ? []
    : [{ property: k, reason: `${k} must list protected-branch access levels (0 no one, 30 developer, 40 maintainer, 60 admin)` }];

// ---------------------------------------------------------------- project membership

/** One member: 10 guest, 20 reporter, 30 developer, 40 maintainer, 50 owner. */
export interface Member {
  username: string;
  accessLevel: number;
}
export interface MembersInputs extends ProjectInputs {
  /** Every member the roster gives the project. Members added outside the roster are not touched. */
  members: Member[];
}
export interface MembersState {
  members: Member[];
}

const byUsername = (ms: Member[]) =>
  [...ms]
    .map((m) => ({ username: m.username, accessLevel: m.accessLevel }))
    .sort((a, b) => (a.username.toLowerCase() < b.username.toLowerCase() ? -1 : 1));

async function addOrSet(api: GitLabApi, m: Member, present: boolean): Promise<void> {
  const id = await api.userId(m.username);
  const what = `member ${m.username}`;
  if (!present) {
    try {
      await api.post(`${api.project}/members`, what, { user_id: id, access_level: m.accessLevel });
      return;
    } catch (e) {
      if (!hasStatus(e, 409)) throw e; // added meanwhile: adopt it
    }
  }
  await api.put(`${api.project}/members/${id}`, what, { access_level: m.accessLevel });
}

async function remove(api: GitLabApi, username: string): Promise<void> {
  // GitLab's default for a user is not to be a member of the project.
  const id = await api.userId(username);
  try {
    await api.del(`${api.project}/members/${id}`, `member ${username}`);
  } catch (e) {
    if (!hasStatus(e, 404)) throw e;
  }
}

/**
 * The project's members from the roster, as one resource: a member added to the roster changes this
 * resource instead of adding one, so a stack grows by no GitLab resource per member. Read lists the
 * project's direct members once (paged) and reports the declared ones; drift on any of them shows as a
 * change of `members`.
 */
export const projectMembers: ResourceKind<MembersInputs, MembersState> = {
  kind: "project members",
  name: () => "roster",
  replaceOn: ["baseUrl", "project"],
  check: (i) => {
    if (!Array.isArray(i.members)) return [{ property: "members", reason: "members must be a list of {username, accessLevel}" }];
    const failures: CheckFailure[] = [];
    const seen = new Set<string>();
    for (const m of i.members) {
      if (usernames({ u: [m?.username] }, "u").length)
        failures.push({ property: "members", reason: `'${m?.username}' is not a GitLab username` });
      else if (seen.has(m.username.toLowerCase())) failures.push({ property: "members", reason: `${m.username} is listed twice` });
      else seen.add(m.username.toLowerCase());
      if (![10, 20, 30, 40, 50].includes(m?.accessLevel))
        failures.push({ property: "members", reason: `${m?.username}: accessLevel must be 10, 20, 30, 40 or 50` });
    }
    return failures;
  },
  declared: (i) => ({ members: byUsername(i.members) }),
  async read(api, i) {
    const all = await api.list<{ username: string; access_level: number }>(`${api.project}/members`, "project members");
    const level = new Map(all.map((m) => [m.username.toLowerCase(), m.access_level]));
    return {
      members: byUsername(
        i.members
          .filter((m) => level.has(m.username.toLowerCase()))
          .map((m) => ({ username: m.username, accessLevel: level.get(m.username.toLowerCase())! })),
      ),
    };
  },
  async write(api, i, actual) {
    const have = new Map((actual?.members ?? []).map((m) => [m.username.toLowerCase(), m.accessLevel]));
    for (const m of i.members) {
      const level = have.get(m.username.toLowerCase());
      if (level !== m.accessLevel) await addOrSet(api, m, level !== undefined);
    }
  },
  async retire(api, olds, news) {
    const kept = new Set(news.members.map((m) => m.username.toLowerCase()));
    for (const m of olds.members ?? []) if (!kept.has(m.username.toLowerCase())) await remove(api, m.username);
  },
  async restore(api, i) {
    for (const m of i.members) await remove(api, m.username);
  },
};

// ---------------------------------------------------------------- protected branch

export interface ProtectedBranchInputs extends ProjectInputs {
  branch: string;
  /** Access levels allowed to push (0 = no one), besides the named users. */
  pushLevels: number[];
  pushUsernames: string[];
  mergeLevels: number[];
  mergeUsernames: string[];
  allowForcePush: boolean;
}
export interface ProtectedBranchState {
  pushLevels: number[];
  pushUsernames: string[];
  mergeLevels: number[];
  mergeUsernames: string[];
  allowForcePush: boolean;
}

interface AccessEntry {
  id: number;
  access_level: number;
  user_id?: number | null;
  group_id?: number | null;
  deploy_key_id?: number | null;
}
interface ProtectedBranchBody {
  id: number;
  name: string;
  push_access_levels: AccessEntry[];
  merge_access_levels: AccessEntry[];
  allow_force_push: boolean;
}

const isLevelEntry = (e: AccessEntry) => !e.user_id && !e.group_id && !e.deploy_key_id;

async function entriesState(api: GitLabApi, entries: AccessEntry[]) {
  const levels = entries
    .filter(isLevelEntry)
    .map((e) => e.access_level)
    .sort((a, b) => a - b);
  const users = sorted(await Promise.all(entries.filter((e) => e.user_id).map((e) => api.username(e.user_id!))));
  return { levels, users };
}

/** The PATCH entries that turn `current` into the declared levels and users. */
async function entryChanges(api: GitLabApi, current: AccessEntry[], wantLevels: number[], wantUsers: string[]) {
  const wantIds = await Promise.all(wantUsers.map((u) => api.userId(u)));
  const ops: Record<string, unknown>[] = [];
  for (const e of current) {
    const keep = isLevelEntry(e) ? wantLevels.includes(e.access_level) : e.user_id ? wantIds.includes(e.user_id) : false;
    if (!keep) ops.push({ id: e.id, _destroy: true });
  }
  for (const l of wantLevels) if (!current.some((e) => isLevelEntry(e) && e.access_level === l)) ops.push({ access_level: l });
  for (const id of wantIds) if (!current.some((e) => e.user_id === id)) ops.push({ user_id: id });
  return ops;
}

const branchPath = (api: GitLabApi, b: string) => `${api.project}/protected_branches/${encodeURIComponent(b)}`;

export const protectedBranch: ResourceKind<ProtectedBranchInputs, ProtectedBranchState> = {
  kind: "protected branch",
  name: (i) => i.branch,
  replaceOn: ["baseUrl", "project", "branch"],
  check: (i) => [
    ...(typeof i.branch === "string" && i.branch.length > 0
      ? []
      : [{ property: "branch", reason: "branch (a name or wildcard) is required" }]),
    ...levels(i, "pushLevels"),
    ...levels(i, "mergeLevels"),
    ...usernames(i, "pushUsernames"),
    ...usernames(i, "mergeUsernames"),
    ...bool(i, "allowForcePush"),
  ],
  declared: (i) => ({
    pushLevels: [...i.pushLevels].sort((a, b) => a - b),
    pushUsernames: sorted(i.pushUsernames),
    mergeLevels: [...i.mergeLevels].sort((a, b) => a - b),
    mergeUsernames: sorted(i.mergeUsernames),
    allowForcePush: i.allowForcePush,
  }),
  async read(api, i) {
    const b = await api.find<ProtectedBranchBody>(branchPath(api, i.branch), `protected branch ${i.branch}`);
    if (!b) return undefined;
    const push = await entriesState(api, b.push_access_levels);
    const merge = await entriesState(api, b.merge_access_levels);
    return {
      pushLevels: push.levels,
      pushUsernames: push.users,
      mergeLevels: merge.levels,
      mergeUsernames: merge.users,
      allowForcePush: b.allow_force_push,
    };
  },
  async write(api, i) {
    const what = `protected branch ${i.branch}`;
    const existing = await api.find<ProtectedBranchBody>(branchPath(api, i.branch), what);
    if (!existing) {
      try {
        const userIds = async (us: string[]) => (await Promise.all(us.map((u) => api.userId(u)))).map((user_id) => ({ user_id }));
        await api.post(`${api.project}/protected_branches`, what, {
          name: i.branch,
          push_access_level: i.pushLevels[0] ?? 0,
          merge_access_level: i.mergeLevels[0] ?? 0,
          allow_force_push: i.allowForcePush,
          allowed_to_push: [...i.pushLevels.slice(1).map((access_level) => ({ access_level })), ...(await userIds(i.pushUsernames))],
          allowed_to_merge: [...i.mergeLevels.slice(1).map((access_level) => ({ access_level })), ...(await userIds(i.mergeUsernames))],
        });
        return;
      } catch (e) {
        if (!hasStatus(e, 409)) throw e; // protected meanwhile: update it instead
      }
    }
    // Adopt: bring the existing protection to the declared state in place, never unprotecting it first.
    const current = existing ?? (await api.get<ProtectedBranchBody>(branchPath(api, i.branch), what));
    await api.patch(branchPath(api, i.branch), what, {
      allow_force_push: i.allowForcePush,
      allowed_to_push: await entryChanges(api, current.push_access_levels, i.pushLevels, i.pushUsernames),
      allowed_to_merge: await entryChanges(api, current.merge_access_levels, i.mergeLevels, i.mergeUsernames),
    });
  },
  async restore(api, i) {
    // GitLab's default for a branch is unprotected.
    try {
      await api.del(branchPath(api, i.branch), `protected branch ${i.branch}`);
    } catch (e) {
      if (!hasStatus(e, 404)) throw e;
    }
  },
};

// ---------------------------------------------------------------- merge request approval settings

export interface ApprovalSettingsInputs extends ProjectInputs {
  resetApprovalsOnPush: boolean;
  disableOverridingApproversPerMergeRequest: boolean;
  mergeRequestsAuthorApproval: boolean;
  mergeRequestsDisableCommittersApproval: boolean;
}
export type ApprovalSettingsState = Omit<ApprovalSettingsInputs, keyof ProjectInputs>;
interface ApprovalsBody {
  reset_approvals_on_push: boolean;
  disable_overriding_approvers_per_merge_request: boolean;
  merge_requests_author_approval: boolean;
  merge_requests_disable_committers_approval: boolean;
}
const toApprovalsBody = (s: ApprovalSettingsState): ApprovalsBody => ({
  reset_approvals_on_push: s.resetApprovalsOnPush,
  disable_overriding_approvers_per_merge_request: s.disableOverridingApproversPerMergeRequest,
  merge_requests_author_approval: s.mergeRequestsAuthorApproval,
  merge_requests_disable_committers_approval: s.mergeRequestsDisableCommittersApproval,
});
/** GitLab's documented defaults for a new project, restored on delete. */
export const APPROVAL_SETTINGS_DEFAULTS: ApprovalSettingsState = {
  resetApprovalsOnPush: true,
  disableOverridingApproversPerMergeRequest: false,
  mergeRequestsAuthorApproval: false,
  mergeRequestsDisableCommittersApproval: false,
};

export const approvalSettings: ResourceKind<ApprovalSettingsInputs, ApprovalSettingsState> = {
  kind: "merge request approval settings",
  name: () => "approvals",
  replaceOn: ["baseUrl", "project"],
  check: (i) => (Object.keys(APPROVAL_SETTINGS_DEFAULTS) as string[]).flatMap((k) => bool(i, k)),
  declared: (i) => ({
    resetApprovalsOnPush: i.resetApprovalsOnPush,
    disableOverridingApproversPerMergeRequest: i.disableOverridingApproversPerMergeRequest,
    mergeRequestsAuthorApproval: i.mergeRequestsAuthorApproval,
    mergeRequestsDisableCommittersApproval: i.mergeRequestsDisableCommittersApproval,
  }),
  async read(api) {
    const b = await api.get<ApprovalsBody>(`${api.project}/approvals`, "merge request approval settings");
    return {
      resetApprovalsOnPush: b.reset_approvals_on_push,
      disableOverridingApproversPerMergeRequest: b.disable_overriding_approvers_per_merge_request,
      mergeRequestsAuthorApproval: b.merge_requests_author_approval,
      mergeRequestsDisableCommittersApproval: b.merge_requests_disable_committers_approval,
    };
  },
  async write(api, i) {
    await api.post(`${api.project}/approvals`, "merge request approval settings", toApprovalsBody(approvalSettings.declared(i)));
  },
  async restore(api) {
    await api.post(`${api.project}/approvals`, "merge request approval settings", toApprovalsBody(APPROVAL_SETTINGS_DEFAULTS));
  },
};

// ---------------------------------------------------------------- approval rule

export interface ApprovalRuleInputs extends ProjectInputs {
  ruleName: string;
  branch: string;
  approvalsRequired: number;
  approverUsernames: string[];
}
export interface ApprovalRuleState {
  branches: string[];
  approvalsRequired: number;
  approverUsernames: string[];
}
interface RuleBody {
  id: number;
  name: string;
  approvals_required: number;
  users: { id: number; username: string }[];
  protected_branches: { id: number; name: string }[];
}

async function findRule(api: GitLabApi, name: string): Promise<RuleBody | undefined> {
  return (await api.list<RuleBody>(`${api.project}/approval_rules`, `approval rule ${name}`)).find((r) => r.name === name);
}

export const approvalRule: ResourceKind<ApprovalRuleInputs, ApprovalRuleState> = {
  kind: "approval rule",
  name: (i) => i.ruleName,
  replaceOn: ["baseUrl", "project", "ruleName"],
  check: (i) => [
    ...(typeof i.ruleName === "string" && i.ruleName ? [] : [{ property: "ruleName", reason: "ruleName is required" }]),
    ...(typeof i.branch === "string" && i.branch ? [] : [{ property: "branch", reason: "branch is required" }]),
    ...(Number.isInteger(i.approvalsRequired) && i.approvalsRequired >= 1
      ? []
      : [{ property: "approvalsRequired", reason: "at least 1 approval is required: the author's own never counts" }]),
    ...usernames(i, "approverUsernames"),
    ...(Array.isArray(i.approverUsernames) && i.approverUsernames.length >= i.approvalsRequired
      ? []
      : [{ property: "approverUsernames", reason: `${i.approvalsRequired} approvals need at least as many eligible approvers` }]),
  ],
  declared: (i) => ({ branches: [i.branch], approvalsRequired: i.approvalsRequired, approverUsernames: sorted(i.approverUsernames) }),
  async read(api, i) {
    const r = await findRule(api, i.ruleName);
    return (
      r && {
        branches: sorted(r.protected_branches.map((b) => b.name)),
        approvalsRequired: r.approvals_required,
        approverUsernames: sorted(r.users.map((u) => u.username)),
      }
    );
  },
  async write(api, i) {
    const what = `approval rule ${i.ruleName}`;
    const pb = await api.get<{ id: number }>(branchPath(api, i.branch), `protected branch ${i.branch} (for ${what})`);
    const body = {
      name: i.ruleName,
      approvals_required: i.approvalsRequired,
      user_ids: await Promise.all(i.approverUsernames.map((u) => api.userId(u))),
      group_ids: [],
      protected_branch_ids: [pb.id],
    };
    const existing = await findRule(api, i.ruleName);
    if (existing) await api.put(`${api.project}/approval_rules/${existing.id}`, what, body);
    else await api.post(`${api.project}/approval_rules`, what, body);
  },
  async restore(api, i) {
    // GitLab's default is no approval rule.
    const r = await findRule(api, i.ruleName);
    if (r) await api.del(`${api.project}/approval_rules/${r.id}`, `approval rule ${i.ruleName}`);
  },
};

// ---------------------------------------------------------------- merge checks

export interface MergeChecksInputs extends ProjectInputs {
  onlyAllowMergeIfPipelineSucceeds: boolean;
  allowMergeOnSkippedPipeline: boolean;
}
export type MergeChecksState = Omit<MergeChecksInputs, keyof ProjectInputs>;

export const mergeChecks: ResourceKind<MergeChecksInputs, MergeChecksState> = {
  kind: "merge checks",
  name: () => "merge-checks",
  replaceOn: ["baseUrl", "project"],
  check: (i) => [...bool(i, "onlyAllowMergeIfPipelineSucceeds"), ...bool(i, "allowMergeOnSkippedPipeline")],
  declared: (i) => ({
    onlyAllowMergeIfPipelineSucceeds: i.onlyAllowMergeIfPipelineSucceeds,
    allowMergeOnSkippedPipeline: i.allowMergeOnSkippedPipeline,
  }),
  async read(api) {
    const p = await api.get<{ only_allow_merge_if_pipeline_succeeds: boolean; allow_merge_on_skipped_pipeline: boolean }>(
      api.project,
      "merge checks",
    );
    return {
      onlyAllowMergeIfPipelineSucceeds: p.only_allow_merge_if_pipeline_succeeds,
      allowMergeOnSkippedPipeline: p.allow_merge_on_skipped_pipeline,
    };
  },
  async write(api, i) {
    await api.put(api.project, "merge checks", {
      only_allow_merge_if_pipeline_succeeds: i.onlyAllowMergeIfPipelineSucceeds,
      allow_merge_on_skipped_pipeline: i.allowMergeOnSkippedPipeline,
    });
  },
  async restore(api) {
    // GitLab's defaults: merging does not wait for a pipeline, and skipped pipelines would count.
    await api.put(api.project, "merge checks", { only_allow_merge_if_pipeline_succeeds: false, allow_merge_on_skipped_pipeline: false });
  },
};
