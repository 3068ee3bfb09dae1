/**
 * Reads, live, what one member's access in a Databricks workspace and on GitLab consists of, through the documented
 * APIs only (SCIM, Workspace get-status, Permissions, workspace-conf, Git credentials; GitLab users, members and
 * protected branches). Facts only: plan/doctor.ts judges them. A failed read throws an Error naming the call
 * (never the token); 404 means "absent" where the API uses it so.
 */
import { parseErrorBody, redact, USER_AGENT } from "./http";
import { AclJson, allGrants, directGrants } from "./permissionsAcl";
import { GIT_FOLDER_KEYS } from "../plan/workspaceSettings";
import { GitFacts, GitHubFacts, WorkspaceFacts } from "../plan/doctor";
import { readGitHubRights } from "./githubRights";

export type { GitFacts, GitHubFacts, WorkspaceFacts };

/** One Databricks or GitLab API root and the token to read it with. */
export interface ApiSide {
  baseUrl: string;
  token: string;
}

export interface CredentialFacts {
  credentials: { id: number; provider: string; username: string }[];
}

/** A refusal or absence the caller may take as "none" (orAbsent), with its status. */
class Unanswered extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function getJson<T>(side: ApiSide, path: string, what: string, headers: Record<string, string>): Promise<T> {
  const url = `${side.baseUrl.replace(/\/+$/, "")}${path}`;
  let r: Response;
  try {
    r = await fetch(url, { headers: { ...headers, "User-Agent": USER_AGENT }, signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new Error(`${what}: GET ${redact(url)} failed: ${(e as Error).message}`);
  }
  const text = await r.text();
  if (!r.ok) throw new Unanswered(r.status, `${what}: GET ${redact(url)} answered ${r.status}: ${parseErrorBody(text).message}`);
  return JSON.parse(text || "{}") as T;
}

/** What `p` reads, or undefined when the answer was one of `statuses` (404: not found). */
const orAbsent = async <T>(p: Promise<T>, statuses = [404]): Promise<T | undefined> => {
  try {
    return await p;
  } catch (e) {
    if (e instanceof Unanswered && statuses.includes(e.status)) return undefined;
    throw e;
  }
};

const dbx = <T>(side: ApiSide, path: string, what: string) => getJson<T>(side, path, what, { Authorization: `Bearer ${side.token}` });

interface ScimList<T> {
  Resources?: T[];
}
interface ScimUserJson {
  id: string;
  active?: boolean;
  entitlements?: { value: string }[];
}
interface ScimGroupJson {
  id: string;
  members?: { value: string }[];
  entitlements?: { value: string }[];
}

const scimFilter = (attr: string, value: string) => encodeURIComponent(`${attr} eq "${value.replace(/"/g, '\\"')}"`);

/** The member's user, the named groups, the direct ACLs of the named objects and the Git folder settings. */
export async function readWorkspaceFacts(
  side: ApiSide,
  q: { email: string; groups: string[]; objects: { path: string; type: "directory" | "repo" }[]; models?: string[] },
): Promise<WorkspaceFacts> {
  const scim = "/api/2.0/preview/scim/v2";
  const users = await dbx<ScimList<ScimUserJson>>(side, `${scim}/Users?filter=${scimFilter("userName", q.email)}`, `user ${q.email}`);
  const u = users.Resources?.[0];
  const groups: WorkspaceFacts["groups"] = {};
  for (const name of q.groups) {
    const found = await dbx<ScimList<ScimGroupJson>>(side, `${scim}/Groups?filter=${scimFilter("displayName", name)}`, `group ${name}`);
    const g = found.Resources?.[0];
    if (g)
      groups[name] = {
        id: g.id,
        members: (g.members ?? []).map((m) => m.value),
        entitlements: (g.entitlements ?? []).map((e) => e.value),
      };
  }
  const acls: WorkspaceFacts["acls"] = {};
  for (const o of q.objects) {
    const status = await orAbsent(
      dbx<{ object_id: number }>(side, `/api/2.0/workspace/get-status?path=${encodeURIComponent(o.path)}`, `object ${o.path}`),
    );
    if (!status) {
      acls[o.path] = undefined;
      continue;
    }
    const kind = o.type === "repo" ? "repos" : "directories";
    const acl = await dbx<AclJson>(side, `/api/2.0/permissions/${kind}/${status.object_id}`, `permissions of ${o.path}`);
    acls[o.path] = directGrants(acl);
  }
  // Each model's ACL in the workspace registry, inherited entries (the registry's root: admins) included.
  const registry: WorkspaceFacts["registry"] = {};
  for (const name of q.models ?? []) {
    const m = await orAbsent(
      dbx<{ registered_model_databricks: { id: string } }>(
        side,
        `/api/2.0/mlflow/databricks/registered-models/get?name=${encodeURIComponent(name)}`,
        `registered model ${name}`,
      ),
    );
    registry[name] = m
      ? allGrants(
          await dbx<AclJson>(
            side,
            `/api/2.0/permissions/registered-models/${m.registered_model_databricks.id}`,
            `permissions of model ${name}`,
          ),
        )
      : undefined;
  }
  const keys = Object.values(GIT_FOLDER_KEYS).join(",");
  const conf = await dbx<Record<string, string | null>>(side, `/api/2.0/workspace-conf?keys=${keys}`, "workspace Git folder settings");
  return {
    ...(u ? { user: { id: u.id, active: u.active !== false, entitlements: (u.entitlements ?? []).map((e) => e.value) } } : {}),
    groups,
    acls,
    ...(q.models ? { registry } : {}),
    conf: Object.fromEntries(Object.values(GIT_FOLDER_KEYS).map((k) => [k, conf[k] ?? null])),
  };
}

/** The caller's own Git credentials (the API lists nobody else's): read with the member's token. */
export async function readOwnCredentials(side: ApiSide): Promise<CredentialFacts> {
  const r = await dbx<{ credentials?: { credential_id: number; git_provider: string; git_username?: string }[] }>(
    side,
    "/api/2.0/git-credentials",
    "your Git credentials",
  );
  return {
    credentials: (r.credentials ?? []).map((c) => ({ id: c.credential_id, provider: c.git_provider, username: c.git_username ?? "" })),
  };
}

/** The member's GitLab account, their level on the project and the project's protected branches. */
export async function readGitLabFacts(side: ApiSide, q: { project: string; username: string }): Promise<GitFacts> {
  const gl = <T>(path: string, what: string) => getJson<T>(side, path, what, { "PRIVATE-TOKEN": side.token });
  const project = encodeURIComponent(q.project);
  const users = await gl<{ id: number; username: string; state?: string }[]>(
    `/users?username=${encodeURIComponent(q.username)}`,
    `GitLab user ${q.username}`,
  );
  const u = users.find((x) => x.username.toLowerCase() === q.username.toLowerCase());
  const member = u
    ? await orAbsent(gl<{ access_level: number }>(`/projects/${project}/members/${u.id}`, `membership of ${q.username}`))
    : undefined;
  type Entry = { access_level: number; user_id?: number | null };
  const branches = await gl<{ name: string; push_access_levels?: Entry[]; merge_access_levels?: Entry[] }[]>(
    `/projects/${project}/protected_branches?per_page=100`,
    `protected branches of ${q.project}`,
  );
  const entries = (l: Entry[] | undefined) => (l ?? []).map((e) => ({ accessLevel: e.access_level, userId: e.user_id ?? null }));
  // Premium's approval settings and rules; GitLab Free answers 403 (EE) or 404 (CE): none.
  const settings = await orAbsent(
    gl<{ merge_requests_author_approval?: boolean }>(`/projects/${project}/approvals`, `approval settings of ${q.project}`),
    [403, 404],
  );
  const rules = settings
    ? await gl<
        {
          name: string;
          approvals_required: number;
          eligible_approvers?: { id: number }[];
          protected_branches?: { name: string }[];
          applies_to_all_protected_branches?: boolean;
        }[]
      >(`/projects/${project}/approval_rules?per_page=100`, `approval rules of ${q.project}`)
    : [];
  return {
    ...(u ? { user: { id: u.id, username: u.username, state: u.state ?? "active" } } : {}),
    ...(member ? { accessLevel: member.access_level } : {}),
    protectedBranches: Object.fromEntries(branches.map((b) => [b.name, entries(b.push_access_levels)])),
    mergeBranches: Object.fromEntries(branches.map((b) => [b.name, entries(b.merge_access_levels)])),
    ...(settings
      ? {
          approvals: {
            authorApproval: settings.merge_requests_author_approval !== false,
            rules: rules.map((r) => ({
              name: r.name,
              required: r.approvals_required,
              eligible: (r.eligible_approvers ?? []).map((e) => e.id),
              branches: r.applies_to_all_protected_branches ? ("all" as const) : (r.protected_branches ?? []).map((b) => b.name),
            })),
          },
        }
      : {}),
  };
}

/**
 * The member's GitHub account (suspended or not), their permission on the repository (collaborators, affiliation
 * all: direct or through a team) and their rights per branch over the repository's rulesets.
 */
export async function readGitHubFacts(side: ApiSide, q: { repo: string; username: string; branches: string[] }): Promise<GitHubFacts> {
  const headers = { Authorization: `Bearer ${side.token}`, Accept: "application/vnd.github+json" };
  const gh = <T>(path: string) => getJson<T>(side, path, `GitHub ${path.replace(/\?.*/, "")}`, headers);
  const user = await orAbsent(gh<{ id: number; login: string; suspended_at?: string | null }>(`/users/${encodeURIComponent(q.username)}`));
  const collaborators: { login: string; role_name?: string; permissions?: Record<string, boolean> }[] = [];
  for (let page = 1; ; page++) {
    const rows = await gh<typeof collaborators>(`/repos/${q.repo}/collaborators?affiliation=all&per_page=100&page=${page}`);
    collaborators.push(...rows);
    if (rows.length < 100) break;
  }
  const mine = collaborators.find((c) => c.login.toLowerCase() === q.username.toLowerCase());
  const permission = mine?.permissions ? ["admin", "maintain", "push", "triage", "pull"].find((p) => mine.permissions![p]) : undefined;
  const rights = await readGitHubRights(gh, q.repo);
  return {
    ...(user ? { user: { id: user.id, login: user.login, suspended: !!user.suspended_at } } : {}),
    ...(permission ? { permission } : {}),
    rights: Object.fromEntries(q.branches.map((b) => [b, rights.rights(q.username, b)])),
  };
}
