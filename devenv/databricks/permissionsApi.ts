/**
 * The Permissions API (`/api/2.0/permissions/{type}/{id}`) for tests: `GET` (the object's whole ACL),
 * `PUT` (replace the direct entries; an empty list removes them all) and `PATCH` (add or change entries),
 * each answering the resulting ObjectPermissions `{object_id, object_type, access_control_list}`.
 * Object types: `directories` (`0` is the root), `repos`, `notebooks`, `files` (objects of the shared
 * WorkspaceApi tree, by object id) and `registered-models` (by the workspace-registry model id). Jobs, cluster
 * policies, instance pools and serving endpoints (`jobs`, `cluster-policies`, `instance-pools`, `serving-endpoints`)
 * are the types another API serves (`serve`: jobsApi.ts, computeApi.ts, servingApi.ts): their existence, levels
 * and the rule a new ACL must pass (a job's one owner) come from it, their entries from the same ACL map, admins'
 * level inherited from the type's root (`["/jobs/"]`). `GET .../{type}/{id}/permissionLevels` lists a type's levels.
 *
 * Like the real service, a response carries more than what was set, and the provider must not see it as
 * drift: every entry an object inherits from its folders (`inherited: true, inherited_from_object:
 * ["/directories/<id>"]`), from the root folder (`["/directories/"]`) or from the registry root
 * (`["/registered-models/root"]`), which includes the `admins` group's CAN_MANAGE, plus the direct
 * CAN_MANAGE of whoever created a Git folder or model. Entries are grouped per principal, each with
 * `all_permissions`. Errors: 404 RESOURCE_DOES_NOT_EXIST (no such object), 400 INVALID_PARAMETER_VALUE
 * (a level the object type does not have, a principal that does not exist, not exactly one of
 * user_name / group_name / service_principal_name, or the root left without `admins` CAN_MANAGE).
 */
import { EXPERIMENT_LEVELS as EXPERIMENT_LEVEL_NAMES, experimentFolder } from "./experimentAcl";
import { principalsOf } from "./registryAcl";
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";
import { AclEntry, aclKey, ControlPlaneState, PrincipalKind } from "./controlPlaneState";
import { WorkspaceApi } from "./workspaceApi";

const WORKSPACE_LEVELS = ["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"];
const MODEL_LEVELS = ["CAN_READ", "CAN_EDIT", "CAN_MANAGE_STAGING_VERSIONS", "CAN_MANAGE_PRODUCTION_VERSIONS", "CAN_MANAGE"];
const WORKSPACE_TYPES: Record<string, { objectType: string; node: string }> = {
  directories: { objectType: "directory", node: "DIRECTORY" },
  repos: { objectType: "repo", node: "REPO" },
  notebooks: { objectType: "notebook", node: "NOTEBOOK" },
  files: { objectType: "file", node: "FILE" },
};
const PRINCIPAL_FIELDS: [string, PrincipalKind][] = [
  ["user_name", "user"],
  ["group_name", "group"],
  ["service_principal_name", "servicePrincipal"],
];
const FIELD_OF: Record<PrincipalKind, string> = { user: "user_name", group: "group_name", servicePrincipal: "service_principal_name" };

/** The workspace-registry side: whether a model id names an existing model. */
export interface RegisteredModelLookup {
  modelExists(id: string): Promise<boolean>;
  /** The name of the active experiment an MLflow experiment id names, if any (`/permissions/experiments/{id}`). */
  experimentNamed?(id: string): Promise<string | undefined>;
}

/** A refusal another API decides: 400 INVALID_PARAMETER_VALUE or 403 PERMISSION_DENIED, and its message. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
}

/** An object type another API serves (jobs, cluster policies, instance pools), as permissions need it. */
export interface ServedObjects {
  /** The ObjectPermissions `object_type`, e.g. `job`. */
  objectType: string;
  /** The type's levels, lowest first. */
  levels: readonly string[];
  /** The levels that may change an object's permissions (admins always may); CAN_MANAGE unless given. */
  managers?: string[];
  /** The level the `admins` group inherits on every object of the type. */
  adminLevel: string;
  exists(id: string): boolean;
  /** The direct ACL to keep after a PUT or PATCH (`next` as the request leaves it), or why it is refused. */
  settle?(
    id: string,
    change: { method: "PUT" | "PATCH"; asked: AclEntry[]; next: AclEntry[]; previous: AclEntry[]; caller: string; callerIsAdmin: boolean },
  ): AclEntry[] | Refusal;
}

/** An experiment's levels ("MLflow experiment ACLs", experimentAcl.ts); a folder's CAN_RUN reads as CAN_READ on it. */
const EXPERIMENT_LEVELS: string[] = [...EXPERIMENT_LEVEL_NAMES];

interface Resolved {
  key: string;
  objectType: string;
  levels: string[];
  /** Inherited levels read as another of `levels` (a folder's CAN_RUN on an experiment in it). */
  alias?: Record<string, string>;
  /** Inherited direct ACLs, closest first: the ACL key they come from and how the response names it. */
  inheritedFrom: { key: string; name: string }[];
  isRoot: boolean;
  /** The other API serving the object, for its managers, admins' level and ACL rule. */
  served?: ServedObjects;
}

export class PermissionsApi {
  constructor(
    private readonly state: ControlPlaneState,
    private readonly workspace: WorkspaceApi,
    private readonly models: RegisteredModelLookup,
  ) {
    // Admins manage everything: the root folder and the registry root carry their CAN_MANAGE directly.
    if (!state.acls.has(aclKey("directories", 0)))
      state.acls.set(aclKey("directories", 0), [{ kind: "group", name: "admins", level: "CAN_MANAGE" }]);
    if (!state.acls.has(aclKey("registered-models", "root")))
      state.acls.set(aclKey("registered-models", "root"), [{ kind: "group", name: "admins", level: "CAN_MANAGE" }]);
  }

  private readonly served = new Map<string, ServedObjects>();

  /** Serves permissions on the objects of `type` (`jobs`...) that another API holds; admins get its adminLevel from the root. */
  serve(type: string, objects: ServedObjects): void {
    this.served.set(type, objects);
    if (!this.state.acls.has(aclKey(type, "")))
      this.state.acls.set(aclKey(type, ""), [{ kind: "group", name: "admins", level: objects.adminLevel }]);
  }

  async handle(req: ApiRequest): Promise<boolean> {
    const m = /^\/api\/2\.0\/permissions\/([a-z-]+)\/([^/]+)(\/permissionLevels)?$/.exec(req.url.pathname);
    if (!req.url.pathname.startsWith("/api/2.0/permissions/")) return false;
    if (!m) return notImplemented(req.res, req.method, req.url);
    const [, type, id, levels] = m;
    const resolved = await this.resolve(type, decodeURIComponent(id));
    if (resolved === "unsupported") return notImplemented(req.res, req.method, req.url, `permissions on ${type} objects`);
    if (!resolved) return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `${type.replace(/s$/, "")} ${id} does not exist.`);
    if (levels && req.method === "GET")
      return sendJson(req.res, 200, { permission_levels: resolved.levels.map((permission_level) => ({ permission_level })) });
    if (levels) return notImplemented(req.res, req.method, req.url);
    if (req.method === "GET") return sendJson(req.res, 200, this.render(resolved));
    if (req.method !== "PUT" && req.method !== "PATCH") return notImplemented(req.res, req.method, req.url);
    // Changing permissions needs CAN_MANAGE on the object, inherited or direct; admins have it everywhere
    // (https://docs.databricks.com/en/security/auth/access-control/index.html, and for models
    // https://docs.databricks.com/en/mlflow/models-acl.html: "Modify permissions": Can Manage).
    if (!(resolved.served?.managers ?? ["CAN_MANAGE"]).includes(this.levelOf(resolved, req.caller) ?? ""))
      return apiError(
        req.res,
        403,
        "PERMISSION_DENIED",
        `User '${req.caller}' does not have CAN_MANAGE permission on ${resolved.objectType} ${type}/${id}, which is needed to change its permissions.`,
      );
    const b = jsonBody(req);
    if (!b) return true;
    const list = b.access_control_list ?? [];
    if (!Array.isArray(list)) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "access_control_list must be a list");
    const entries: AclEntry[] = [];
    for (const raw of list as Record<string, unknown>[]) {
      const named = PRINCIPAL_FIELDS.filter(([f]) => typeof raw?.[f] === "string" && raw[f] !== "");
      if (named.length !== 1)
        return apiError(
          req.res,
          400,
          "INVALID_PARAMETER_VALUE",
          `Each access control entry needs exactly one of user_name, group_name, service_principal_name: ${JSON.stringify(raw)}`,
        );
      const [field, kind] = named[0];
      const name = String(raw[field]);
      const level = String(raw.permission_level ?? "");
      if (!resolved.levels.includes(level))
        return apiError(
          req.res,
          400,
          "INVALID_PARAMETER_VALUE",
          `Permission level ${level || "(none)"} is not supported for ${resolved.objectType} objects; allowed: ${resolved.levels.join(", ")}`,
        );
      if (!this.state.principalExists(kind, name))
        return apiError(
          req.res,
          400,
          "INVALID_PARAMETER_VALUE",
          `Principal: ${kind === "group" ? "GroupName" : kind === "user" ? "UserName" : "ServicePrincipalName"}(${name}) does not exist`,
        );
      if (kind === "group" && name === "admins" && level !== (resolved.served?.adminLevel ?? "CAN_MANAGE"))
        return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Cannot change permissions for group 'admins' to ${level}.`);
      entries.push({ kind, name, level });
    }
    const same = (a: AclEntry, b: AclEntry) => a.kind === b.kind && a.name.toLowerCase() === b.name.toLowerCase();
    let next =
      req.method === "PUT" ? entries : [...this.state.acl(resolved.key).filter((e) => !entries.some((n) => same(n, e))), ...entries];
    if (resolved.served?.settle) {
      const settled = resolved.served.settle(id, {
        method: req.method as "PUT" | "PATCH",
        asked: entries,
        next,
        previous: this.state.acl(resolved.key),
        caller: req.caller,
        callerIsAdmin: this.isAdmin(req.caller),
      });
      if (!Array.isArray(settled)) return apiError(req.res, settled.status, settled.code, settled.message);
      next = settled;
    }
    if (resolved.isRoot && !next.some((e) => e.kind === "group" && e.name === "admins" && e.level === "CAN_MANAGE")) {
      return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Cannot change permissions for group 'admins' to None.");
    }
    this.state.acls.set(
      resolved.key,
      next.filter((e, i) => next.findIndex((o) => same(o, e) && o.level === e.level) === i),
    );
    return sendJson(req.res, 200, this.render(resolved));
  }

  /**
   * The caller's level on the workspace object at `path`, or on its nearest existing folder when there is none
   * there (what creating it needs): its direct and inherited entries, admins CAN_MANAGE everywhere, and every
   * user CAN_MANAGE in their own home folder (https://docs.databricks.com/en/security/auth/access-control/index.html,
   * "Folder ACLs"; "users have Can Manage permission on their home folder").
   */
  workspaceLevel(path: string, caller: string): string | undefined {
    let at = path.replace(/\/+$/, "") || "/";
    if (this.inHome(at, caller)) return "CAN_MANAGE";
    while (!this.workspace.nodes.has(at)) at = parentOf(at);
    const n = this.workspace.nodes.get(at)!;
    const type = Object.entries(WORKSPACE_TYPES).find(([, t]) => t.node === n.type)?.[0] ?? "directories";
    const inheritedFrom = at === "/" ? [] : this.folderChain(parentOf(at));
    return this.levelOf({ key: aclKey(type, n.id), objectType: type, levels: WORKSPACE_LEVELS, inheritedFrom, isRoot: at === "/" }, caller);
  }

  /**
   * The caller's level on the workspace experiment `id` named `name`: its direct entries (its creator's CAN_MANAGE
   * among them), the folders' it lies in, admins CAN_MANAGE, and CAN_MANAGE in the caller's own home folder.
   */
  experimentLevel(id: string, name: string, caller: string): string | undefined {
    if (this.inHome(name, caller)) return "CAN_MANAGE";
    return this.levelOf(this.experimentResolved(id, name), caller);
  }

  /** A user's home folder always exists on Databricks (here it may not yet): its user manages all of it. */
  private inHome(path: string, caller: string): boolean {
    const home = `/Users/${caller}`.toLowerCase();
    return path.toLowerCase() === home || path.toLowerCase().startsWith(`${home}/`);
  }

  /** The ACLs an object in `folder` inherits: its nearest existing folder's and every one above, closest first, the root last. */
  private folderChain(folder: string): { key: string; name: string }[] {
    let at = folder.replace(/\/+$/, "") || "/";
    while (!this.workspace.nodes.has(at)) at = parentOf(at);
    const chain: { key: string; name: string }[] = [];
    for (let q = at; q !== "/"; q = parentOf(q)) {
      const n = this.workspace.nodes.get(q);
      if (n) {
        const key = aclKey(n.type === "REPO" ? "repos" : "directories", n.id);
        chain.push({ key, name: key });
      }
    }
    chain.push({ key: aclKey("directories", 0), name: "/directories/" });
    return chain;
  }

  private experimentResolved(id: string, name: string): Resolved {
    return {
      key: aclKey("experiments", id),
      objectType: "mlflowExperiment",
      levels: EXPERIMENT_LEVELS,
      alias: { CAN_RUN: "CAN_READ" },
      inheritedFrom: this.folderChain(experimentFolder(name)),
      isRoot: false,
    };
  }

  private isAdmin(caller: string): boolean {
    return principalsOf(this.state, caller).groups.has("admins");
  }

  /** The caller's own level on an object: the highest of its direct and inherited entries naming them or a group of theirs. */
  private levelOf(r: Resolved, caller: string): string | undefined {
    const who = principalsOf(this.state, caller);
    if (who.groups.has("admins")) return "CAN_MANAGE";
    let best = -1;
    for (const key of [r.key, ...r.inheritedFrom.map((f) => f.key)])
      for (const e of this.state.acl(key)) {
        const mine = e.kind === "group" ? who.groups.has(e.name) : e.name.toLowerCase() === who.user.toLowerCase();
        if (mine) best = Math.max(best, r.levels.indexOf(r.alias?.[e.level] ?? e.level));
      }
    return best < 0 ? undefined : r.levels[best];
  }

  private async resolve(type: string, id: string): Promise<Resolved | undefined | "unsupported"> {
    if (type === "registered-models") {
      if (id === "root") return "unsupported";
      if (!(await this.models.modelExists(id))) return undefined;
      return {
        key: aclKey(type, id),
        objectType: "registered-model",
        levels: MODEL_LEVELS,
        inheritedFrom: [{ key: aclKey(type, "root"), name: aclKey(type, "root") }],
        isRoot: false,
      };
    }
    const served = this.served.get(type);
    if (served) {
      if (!served.exists(id)) return undefined;
      const root = { key: aclKey(type, ""), name: aclKey(type, "") };
      return {
        key: aclKey(type, id),
        objectType: served.objectType,
        levels: [...served.levels],
        inheritedFrom: [root],
        isRoot: false,
        served,
      };
    }
    if (type === "experiments") {
      if (!this.models.experimentNamed) return "unsupported";
      const name = await this.models.experimentNamed(id);
      return name === undefined ? undefined : this.experimentResolved(id, name);
    }
    const t = WORKSPACE_TYPES[type];
    if (!t) return "unsupported";
    if (type === "directories" && id === "0")
      return { key: aclKey(type, 0), objectType: t.objectType, levels: WORKSPACE_LEVELS, inheritedFrom: [], isRoot: true };
    const hit = [...this.workspace.nodes].find(([, n]) => String(n.id) === id && n.type === t.node);
    if (!hit) return undefined;
    const inheritedFrom: { key: string; name: string }[] = [];
    for (let p = parentOf(hit[0]); p !== "/"; p = parentOf(p)) {
      const n = this.workspace.nodes.get(p);
      if (n) {
        const key = aclKey(n.type === "REPO" ? "repos" : "directories", n.id);
        inheritedFrom.push({ key, name: key });
      }
    }
    inheritedFrom.push({ key: aclKey("directories", 0), name: "/directories/" });
    return { key: aclKey(type, id), objectType: t.objectType, levels: WORKSPACE_LEVELS, inheritedFrom, isRoot: false };
  }

  private render(r: Resolved) {
    const byPrincipal = new Map<
      string,
      { entry: Record<string, unknown>; perms: { permission_level: string; inherited: boolean; inherited_from_object?: string[] }[] }
    >();
    const add = (e: AclEntry, from?: string) => {
      const k = `${e.kind}:${e.name.toLowerCase()}`;
      let p = byPrincipal.get(k);
      if (!p) {
        const u = e.kind === "user" ? this.state.userByName(e.name) : undefined;
        p = { entry: { [FIELD_OF[e.kind]]: e.name, ...(u ? { display_name: u.displayName } : {}) }, perms: [] };
        byPrincipal.set(k, p);
      }
      const same = p.perms.find((x) => x.permission_level === e.level && x.inherited === (from !== undefined));
      if (!same)
        p.perms.push({
          permission_level: e.level,
          inherited: from !== undefined,
          ...(from !== undefined ? { inherited_from_object: [from] } : {}),
        });
      else if (from !== undefined && !same.inherited_from_object!.includes(from)) same.inherited_from_object!.push(from);
    };
    for (const e of this.state.acl(r.key)) add(e);
    for (const src of r.inheritedFrom) for (const e of this.state.acl(src.key)) add(e, src.name);
    return {
      object_id: r.key,
      object_type: r.objectType,
      access_control_list: [...byPrincipal.values()].map((p) => ({ ...p.entry, all_permissions: p.perms })),
    };
  }
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}
