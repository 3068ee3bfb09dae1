/**
 * Who can do what in a Databricks workspace, read back through its documented HTTP APIs (SCIM, Workspace,
 * Repos, Permissions, the registry's Databricks ids): what `npm start` prints at the end and what the
 * end-to-end tests compare with the plan. Nothing here reads a test server's memory, so it says what any
 * client of the workspace would see, every direct entry included (users as well as groups).
 */
import * as https from "https";
import { AclJson, DirectGrant, directGrants } from "../clients/permissionsAcl";

export type { DirectGrant };

export interface WorkspaceAccessReadback {
  /** Team groups (display name -> members' user names and entitlements), the built-in ones left out. */
  groups: Record<string, { members: string[]; entitlements: string[] }>;
  /** Users: user name -> display name, active, and their own entitlements. */
  users: Record<string, { displayName: string; active: boolean; entitlements: string[] }>;
  /** Folders and Git folders by path: object type and the direct ACL (inherited entries left out). */
  objects: Record<string, { type: string; grants: DirectGrant[]; url?: string; branch?: string }>;
  /** Registered models by name: the direct ACL. */
  models: Record<string, DirectGrant[]>;
}

type Json = Record<string, unknown>;

/** A JSON GET over HTTPS with `headers`, trusting `ca` (the local platform's certificate); throws on a non-2xx answer. */
export function httpsGetJson<T = Json>(url: string, headers: Record<string, string>, ca?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const r = https.request(url, { headers, ...(ca ? { ca } : {}) }, (res) => {
      let d = "";
      res.on("data", (c) => (d += c));
      res.on("end", () =>
        (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300
          ? resolve(JSON.parse(d || "{}") as T)
          : reject(new Error(`GET ${new URL(url).pathname}: ${res.statusCode} ${d.slice(0, 300)}`)),
      );
    });
    r.on("error", reject);
    r.end();
  });
}

const BUILTIN_GROUPS = new Set(["admins", "users"]);

/**
 * Reads a workspace back: SCIM users and groups, the given folders and every Git folder under them (with
 * their direct ACLs), and the given registered models' ACLs.
 */
export async function readWorkspaceAccess(
  base: string,
  token: string,
  opts: { folders: string[]; models: string[]; ca?: string },
): Promise<WorkspaceAccessReadback> {
  const get = <T = Json>(p: string) => httpsGetJson<T>(`${base}${p}`, { Authorization: `Bearer ${token}` }, opts.ca);
  type ScimList<T> = { Resources?: T[] };
  const [users, groups] = await Promise.all([
    get<ScimList<{ id: string; userName: string; displayName?: string; active?: boolean; entitlements?: { value: string }[] }>>(
      "/api/2.0/preview/scim/v2/Users?count=1000",
    ),
    get<ScimList<{ id: string; displayName: string; members?: { value: string }[]; entitlements?: { value: string }[] }>>(
      "/api/2.0/preview/scim/v2/Groups?count=1000",
    ),
  ]);
  const userName = new Map((users.Resources ?? []).map((u) => [u.id, u.userName]));
  const groupName = new Map((groups.Resources ?? []).map((g) => [g.id, g.displayName]));
  const out: WorkspaceAccessReadback = { groups: {}, users: {}, objects: {}, models: {} };
  for (const u of users.Resources ?? [])
    out.users[u.userName] = {
      displayName: u.displayName ?? "",
      active: u.active !== false,
      entitlements: (u.entitlements ?? []).map((e) => e.value).sort(),
    };
  for (const g of groups.Resources ?? []) {
    if (BUILTIN_GROUPS.has(g.displayName)) continue;
    out.groups[g.displayName] = {
      members: (g.members ?? []).map((m) => userName.get(m.value) ?? groupName.get(m.value) ?? m.value).sort(),
      entitlements: (g.entitlements ?? []).map((e) => e.value).sort(),
    };
  }
  for (const folder of opts.folders) {
    const status = await get<{ object_id: number; object_type: string }>(
      `/api/2.0/workspace/get-status?path=${encodeURIComponent(folder)}`,
    );
    out.objects[folder] = {
      type: status.object_type,
      grants: directGrants(await get<AclJson>(`/api/2.0/permissions/directories/${status.object_id}`)),
    };
    const repos = await get<{ repos?: { id: number; path: string; url: string; branch?: string }[] }>(
      `/api/2.0/repos?path_prefix=${encodeURIComponent(folder)}`,
    );
    for (const r of repos.repos ?? [])
      out.objects[r.path] = {
        type: "REPO",
        url: r.url,
        ...(r.branch ? { branch: r.branch } : {}),
        grants: directGrants(await get<AclJson>(`/api/2.0/permissions/repos/${r.id}`)),
      };
  }
  for (const name of opts.models) {
    const m = await get<{ registered_model_databricks?: { id: string } }>(
      `/api/2.0/mlflow/databricks/registered-models/get?name=${encodeURIComponent(name)}`,
    );
    const id = m.registered_model_databricks?.id;
    if (id) out.models[name] = directGrants(await get<AclJson>(`/api/2.0/permissions/registered-models/${id}`));
  }
  return out;
}

/** "Who can do what" for people: one block per workspace, the groups with their members and what they hold. */
export function renderAccess(stack: string, r: WorkspaceAccessReadback): string {
  const lines = [`${stack}:`];
  const held = (principal: string) => [
    ...Object.entries(r.objects).flatMap(([p, o]) =>
      o.grants.filter((g) => g.principal === principal).map((g) => `${g.level} on ${o.type === "REPO" ? "Git folder " : ""}${p}`),
    ),
    ...Object.entries(r.models).flatMap(([m, gs]) => gs.filter((g) => g.principal === principal).map((g) => `${g.level} on model ${m}`)),
  ];
  for (const [name, g] of Object.entries(r.groups).sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${name} (${g.members.length}): ${g.members.join(", ") || "nobody"}`);
    lines.push(`    entitlements: ${g.entitlements.join(", ") || "none"}`);
    for (const h of held(name)) lines.push(`    ${h}`);
  }
  const userGrants = Object.entries(r.objects)
    .flatMap(([p, o]) => o.grants.filter((g) => g.kind === "user").map((g) => `${g.principal} ${g.level} on ${p}`))
    .concat(
      Object.entries(r.models).flatMap(([m, gs]) =>
        gs.filter((g) => g.kind === "user").map((g) => `${g.principal} ${g.level} on model ${m}`),
      ),
    );
  if (userGrants.length) lines.push(`  direct user entries: ${userGrants.join("; ")}`);
  const repos = Object.entries(r.objects).filter(([, o]) => o.type === "REPO");
  for (const [p, o] of repos) lines.push(`  Git folder ${p}: ${o.url} at ${o.branch ?? "(detached)"}`);
  return lines.join("\n");
}
