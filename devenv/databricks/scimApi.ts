/**
 * The workspace SCIM 2.0 API (`/api/2.0/preview/scim/v2/`) for tests, as the Databricks provider and Go
 * SDK call it:
 * - `GET Me` (the caller; `attributes` / `excludedAttributes` honoured);
 * - `GET Users|Groups` with `filter=<attr> eq "<value>"` (the only filter form implemented; others 501),
 *   `attributes`, `excludedAttributes`, `startIndex`, `count` -> ListResponse with `Resources`;
 * - `POST Users|Groups` (201), `GET|PUT Users/{id}|Groups/{id}` (200), `DELETE` (204);
 * - `PATCH` (204) with PatchOp operations `add`/`remove` on `members` and `entitlements` (list values or
 *   `members[value eq "id"]` paths) and `replace` on `active`, `displayName`, `externalId`.
 * Errors use the SCIM body `{schemas:[...Error], detail, status}`: 404 "<Kind> with id X not found.",
 * 409 "Group with name X already exists." / "User with username X already exists." (the exact texts the
 * provider's `force` adoption matches), 400 for invalid values. Entitlement values are the documented
 * four (plus workspace-consume); `[{}]`, which the provider sends for "no entitlements", means none.
 * The built-in groups `admins` and `users` exist and cannot be created, renamed or deleted.
 * Service principals: `GET ServicePrincipals` (a filter such as `applicationId eq "<id>"`), `GET
 * ServicePrincipals/{id}`, and `POST ServicePrincipals {displayName, applicationId?}` (201; admins); a test adds them
 * with `state.addServicePrincipal`.
 */
import { isAdmin } from "./registryAcl";
import { ApiRequest, notImplemented, scimError, sendJson } from "./apiReply";
import { ControlPlaneState, ENTITLEMENTS, ScimGroup, ScimServicePrincipal, ScimUser } from "./controlPlaneState";

const PREFIX = "/api/2.0/preview/scim/v2/";
const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
const WORKSPACE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:workspace:2.0:User";
const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
const SERVICE_PRINCIPAL_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";
const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BUILTIN = new Set(["admins", "users"]);

type Json = Record<string, unknown>;
interface Complex {
  value?: unknown;
  display?: unknown;
}

export class ScimApi {
  constructor(private readonly state: ControlPlaneState) {}

  /** Serves one request under /api/2.0/preview/scim/v2/; false for any other path. */
  handle(req: ApiRequest): boolean {
    if (!req.url.pathname.startsWith(PREFIX)) return false;
    const parts = req.url.pathname.slice(PREFIX.length).split("/");
    const [kind, id, extra] = parts;
    const { method, res, url } = req;
    if (kind === "Me" && parts.length === 1 && method === "GET") {
      return sendJson(res, 200, this.project(this.userJson(this.state.userByName(req.caller)!), url));
    }
    if (kind === "ServicePrincipals" && method === "POST" && !id) {
      if (!isAdmin(this.state, req.caller))
        return scimError(res, 403, `Only workspace admins can add service principals; '${req.caller}' is not one.`);
      return this.createServicePrincipal(req);
    }
    if (kind === "ServicePrincipals" && method === "GET" && extra === undefined) {
      const sps = [...this.state.servicePrincipals.values()].map((sp) => this.servicePrincipalJson(sp));
      if (!id) return this.list(req, false, sps);
      const sp = sps.find((x) => x.id === id);
      return sp ? sendJson(res, 200, this.project(sp, url)) : scimError(res, 404, `ServicePrincipal with id ${id} not found.`);
    }
    if ((kind !== "Users" && kind !== "Groups") || extra !== undefined) return notImplemented(res, method, url);
    // Workspace-level SCIM writes are for workspace admins only
    // (https://docs.databricks.com/api/workspace/users and .../groups: "workspace admin" for create, update, delete).
    if (method !== "GET" && !isAdmin(this.state, req.caller))
      return scimError(res, 403, `Only workspace admins can change users and groups; '${req.caller}' is not one.`);
    const isUser = kind === "Users";
    if (id === undefined || id === "") {
      if (method === "GET") return this.list(req, isUser);
      if (method === "POST") return isUser ? this.createUser(req) : this.createGroup(req);
      return notImplemented(res, method, url);
    }
    const user = isUser ? this.state.users.get(id) : undefined;
    const group = isUser ? undefined : this.state.groups.get(id);
    if (!user && !group) return scimError(res, 404, `${isUser ? "User" : "Group"} with id ${id} not found.`);
    switch (method) {
      case "GET":
        return sendJson(res, 200, this.project(user ? this.userJson(user) : this.groupJson(group!), url));
      case "PUT":
        return user ? this.putUser(req, user) : this.putGroup(req, group!);
      case "PATCH":
        return this.patch(req, user ?? group!, !!user);
      case "DELETE": {
        if (group && BUILTIN.has(group.displayName)) return scimError(res, 400, `Cannot delete the built-in group ${group.displayName}.`);
        if (user) {
          this.state.users.delete(id);
          this.state.forgetPrincipal(id, "user", user.userName);
        } else {
          this.state.groups.delete(id);
          this.state.forgetPrincipal(id, "group", group!.displayName);
        }
        return sendJson(res, 204, undefined);
      }
      default:
        return notImplemented(res, method, url);
    }
  }

  private body(req: ApiRequest): Json | undefined {
    try {
      const v = JSON.parse(req.body.toString("utf8") || "{}");
      if (v && typeof v === "object" && !Array.isArray(v)) return v as Json;
    } catch {
      /* below */
    }
    scimError(req.res, 400, "Request is unparsable, syntactically incorrect, or violates schema.");
    return undefined;
  }

  /** The entitlement values of a request's `entitlements`, or an error text. Empty values (`[{}]`) mean none. */
  private entitlements(v: unknown): Set<string> | string {
    if (v === undefined || v === null) return new Set();
    if (!Array.isArray(v)) return "entitlements must be a list of {value}";
    const out = new Set<string>();
    for (const e of v as Complex[]) {
      const value = e?.value;
      if (value === undefined || value === "") continue;
      if (typeof value !== "string" || !(ENTITLEMENTS as readonly string[]).includes(value))
        return `Invalid entitlement value: ${JSON.stringify(value)}`;
      out.add(value);
    }
    return out;
  }

  private memberIds(v: unknown): string[] | string {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return "members must be a list of {value}";
    const ids: string[] = [];
    for (const m of v as Complex[]) {
      const id = String(m?.value ?? "");
      if (!this.state.users.has(id) && !this.state.groups.has(id)) return `Member with id ${id} does not exist.`;
      ids.push(id);
    }
    return ids;
  }

  private createUser(req: ApiRequest): boolean {
    const b = this.body(req);
    if (!b) return true;
    if (typeof b.userName !== "string" || !b.userName)
      return scimError(req.res, 400, "Request is unparsable, syntactically incorrect, or violates schema: userName is required.");
    if (this.state.userByName(b.userName)) return scimError(req.res, 409, `User with username ${b.userName} already exists.`);
    const ents = this.entitlements(b.entitlements);
    if (typeof ents === "string") return scimError(req.res, 400, ents);
    const u = this.state.addUser(b.userName, {
      displayName: typeof b.displayName === "string" && b.displayName ? b.displayName : undefined,
      externalId: typeof b.externalId === "string" && b.externalId ? b.externalId : undefined,
      active: b.active === undefined ? true : b.active === true,
    });
    u.entitlements = ents;
    return sendJson(req.res, 201, this.userJson(u));
  }

  private createServicePrincipal(req: ApiRequest): boolean {
    const b = this.body(req);
    if (!b) return true;
    if (typeof b.displayName !== "string" || !b.displayName)
      return scimError(req.res, 400, "Request is unparsable, syntactically incorrect, or violates schema: displayName is required.");
    const appId = typeof b.applicationId === "string" && b.applicationId ? b.applicationId : undefined;
    if (appId && this.state.principalExists("servicePrincipal", appId))
      return scimError(req.res, 409, `Service principal with application id ${appId} already exists.`);
    const ents = this.entitlements(b.entitlements);
    if (typeof ents === "string") return scimError(req.res, 400, ents);
    const sp = this.state.addServicePrincipal(b.displayName, { applicationId: appId, entitlements: [...ents] });
    return sendJson(req.res, 201, this.servicePrincipalJson(sp));
  }

  private createGroup(req: ApiRequest): boolean {
    const b = this.body(req);
    if (!b) return true;
    if (typeof b.displayName !== "string" || !b.displayName)
      return scimError(req.res, 400, "Request is unparsable, syntactically incorrect, or violates schema: displayName is required.");
    if (this.state.groupByName(b.displayName)) return scimError(req.res, 409, `Group with name ${b.displayName} already exists.`);
    const ents = this.entitlements(b.entitlements);
    if (typeof ents === "string") return scimError(req.res, 400, ents);
    const members = this.memberIds(b.members);
    if (typeof members === "string") return scimError(req.res, 400, members);
    const g = this.state.addGroup(b.displayName, {
      externalId: typeof b.externalId === "string" && b.externalId ? b.externalId : undefined,
      members,
    });
    g.entitlements = ents;
    return sendJson(req.res, 201, this.groupJson(g));
  }

  /** PUT replaces the user; `groups` and `roles` are read-only here (memberships are changed on groups). */
  private putUser(req: ApiRequest, u: ScimUser): boolean {
    const b = this.body(req);
    if (!b) return true;
    if (typeof b.userName === "string" && b.userName && b.userName.toLowerCase() !== u.userName.toLowerCase()) {
      if (this.state.userByName(b.userName)) return scimError(req.res, 409, `User with username ${b.userName} already exists.`);
      u.userName = b.userName;
    }
    const ents = this.entitlements(b.entitlements);
    if (typeof ents === "string") return scimError(req.res, 400, ents);
    u.entitlements = ents;
    u.displayName = typeof b.displayName === "string" && b.displayName ? b.displayName : u.userName;
    u.active = b.active === undefined ? true : b.active === true;
    u.externalId = typeof b.externalId === "string" && b.externalId ? b.externalId : undefined;
    return sendJson(req.res, 200, this.userJson(u));
  }

  private putGroup(req: ApiRequest, g: ScimGroup): boolean {
    const b = this.body(req);
    if (!b) return true;
    if (typeof b.displayName !== "string" || !b.displayName)
      return scimError(req.res, 400, "Request is unparsable, syntactically incorrect, or violates schema: displayName is required.");
    if (b.displayName !== g.displayName) {
      if (BUILTIN.has(g.displayName)) return scimError(req.res, 400, `Cannot rename the built-in group ${g.displayName}.`);
      if (this.state.groupByName(b.displayName)) return scimError(req.res, 409, `Group with name ${b.displayName} already exists.`);
    }
    const ents = this.entitlements(b.entitlements);
    if (typeof ents === "string") return scimError(req.res, 400, ents);
    const members = this.memberIds(b.members);
    if (typeof members === "string") return scimError(req.res, 400, members);
    g.displayName = b.displayName;
    g.entitlements = ents;
    g.members = new Set(members);
    g.externalId = typeof b.externalId === "string" && b.externalId ? b.externalId : undefined;
    return sendJson(req.res, 200, this.groupJson(g));
  }

  private patch(req: ApiRequest, target: ScimUser | ScimGroup, isUser: boolean): boolean {
    const b = this.body(req);
    if (!b) return true;
    if (!Array.isArray(b.schemas) || !b.schemas.includes(PATCH_SCHEMA))
      return scimError(
        req.res,
        400,
        `Request is unparsable, syntactically incorrect, or violates schema: schemas must contain ${PATCH_SCHEMA}.`,
      );
    const ops = b.Operations ?? b.operations;
    if (!Array.isArray(ops) || ops.length === 0)
      return scimError(req.res, 400, "Request is unparsable, syntactically incorrect, or violates schema: Operations is required.");
    // Validate every operation before applying any, so a refused PATCH changes nothing.
    const apply: (() => void)[] = [];
    // An operation without `path` carries the attributes to change as the keys of its value (RFC 7644 3.5.2.1 and
    // 3.5.2.3): one operation per attribute.
    const expanded = (ops as Json[]).flatMap((o) =>
      typeof o.path !== "string" && o.value && typeof o.value === "object" && !Array.isArray(o.value)
        ? Object.entries(o.value as Json).map(([path, value]) => ({ op: o.op, path, value }) as Json)
        : [o],
    );
    for (const o of expanded) {
      const op = String(o.op ?? "").toLowerCase();
      const path = typeof o.path === "string" ? o.path : "";
      const filter = /^(members|entitlements)\[value eq "([^"]*)"\]$/.exec(path);
      const attr = filter ? filter[1] : path;
      const values = filter ? [filter[2]] : Array.isArray(o.value) ? (o.value as Complex[]).map((v) => String(v?.value ?? "")) : undefined;
      if (attr === "members" && !isUser && (op === "add" || op === "remove") && values) {
        const g = target as ScimGroup;
        if (op === "add") {
          const missing = values.find((id) => !this.state.users.has(id) && !this.state.groups.has(id));
          if (missing !== undefined) return scimError(req.res, 400, `Member with id ${missing} does not exist.`);
          apply.push(() => values.forEach((id) => g.members.add(id)));
        } else apply.push(() => values.forEach((id) => g.members.delete(id)));
      } else if (attr === "entitlements" && (op === "add" || op === "remove") && values) {
        const bad = values.find((v) => v !== "" && !(ENTITLEMENTS as readonly string[]).includes(v));
        if (op === "add" && bad !== undefined) return scimError(req.res, 400, `Invalid entitlement value: ${JSON.stringify(bad)}`);
        apply.push(() =>
          values.filter(Boolean).forEach((v) => (op === "add" ? target.entitlements.add(v) : target.entitlements.delete(v))),
        );
      } else if (op === "replace" && ((path === "active" && isUser) || path === "displayName" || path === "externalId")) {
        const raw = Array.isArray(o.value) ? (o.value as Complex[])[0]?.value : o.value;
        if (path === "active")
          apply.push(() => {
            (target as ScimUser).active = raw === true || raw === "true";
          });
        else if (path === "externalId")
          apply.push(() => {
            target.externalId = raw ? String(raw) : undefined;
          });
        else {
          if (typeof raw !== "string" || !raw) return scimError(req.res, 400, "displayName must be a non-empty string.");
          apply.push(() => {
            target.displayName = raw;
          });
        }
      } else {
        return notImplemented(req.res, req.method, req.url, `PatchOp ${JSON.stringify({ op: o.op, path: o.path })}`);
      }
    }
    apply.forEach((f) => f());
    return sendJson(req.res, 204, undefined);
  }

  private list(req: ApiRequest, isUser: boolean, given?: Json[]): boolean {
    const { url, res } = req;
    const filter = url.searchParams.get("filter");
    let items: Json[] =
      given ??
      (isUser
        ? [...this.state.users.values()].map((u) => this.userJson(u))
        : [...this.state.groups.values()].map((g) => this.groupJson(g)));
    if (filter) {
      const m = /^\s*([A-Za-z.]+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(filter);
      if (!m)
        return notImplemented(res, req.method, url, `SCIM filter ${JSON.stringify(filter)} (only <attribute> eq "<value>" is implemented)`);
      const attr = m[1].toLowerCase();
      const want = m[2].replace(/\\(.)/g, "$1");
      // userName, emails and displayName compare case-insensitively on Databricks; ids exactly.
      const ci = ["username", "emails.value", "displayname"].includes(attr);
      items = items.filter((i) => {
        const have =
          attr === "emails.value"
            ? ((i.emails as { value: string }[] | undefined)?.map((e) => e.value) ?? [])
            : [Object.entries(i).find(([k]) => k.toLowerCase() === attr)?.[1]].filter((v) => v !== undefined).map(String);
        return have.some((h) => (ci ? h.toLowerCase() === want.toLowerCase() : h === want));
      });
    }
    const total = items.length;
    const start = Math.max(1, Number(url.searchParams.get("startIndex") ?? 1) || 1);
    const count = url.searchParams.has("count") ? Math.max(0, Number(url.searchParams.get("count")) || 0) : 10000;
    const page = items.slice(start - 1, start - 1 + count).map((i) => this.project(i, url));
    return sendJson(res, 200, {
      totalResults: total,
      startIndex: start,
      itemsPerPage: page.length,
      schemas: [LIST_SCHEMA],
      ...(page.length ? { Resources: page } : {}),
    });
  }

  /** Applies `attributes` (id and schemas always kept) or `excludedAttributes` to a resource. */
  private project(item: Json, url: URL): Json {
    const names = (p: string | null) =>
      (p ?? "")
        .split(",")
        .map((s) => s.trim().split(".")[0].toLowerCase())
        .filter(Boolean);
    const only = names(url.searchParams.get("attributes"));
    const except = names(url.searchParams.get("excludedAttributes"));
    return Object.fromEntries(
      Object.entries(item).filter(([k]) => {
        const key = k.toLowerCase();
        if (only.length) return key === "id" || key === "schemas" || only.includes(key);
        return !except.includes(key);
      }),
    );
  }

  private ref(id: string): { value: string; display: string; $ref: string } {
    const u = this.state.users.get(id);
    if (u) return { value: id, display: u.displayName, $ref: `Users/${id}` };
    const g = this.state.groups.get(id);
    return { value: id, display: g?.displayName ?? "", $ref: `Groups/${id}` };
  }

  private groupsOf(id: string) {
    return [...this.state.groups.values()]
      .filter((g) => g.members.has(id))
      .map((g) => ({ display: g.displayName, type: "direct", value: g.id, $ref: `Groups/${g.id}` }));
  }

  private userJson(u: ScimUser): Json {
    const groups = this.groupsOf(u.id);
    return {
      id: u.id,
      userName: u.userName,
      displayName: u.displayName,
      active: u.active,
      emails: [{ type: "work", value: u.userName, primary: true }],
      ...(u.externalId ? { externalId: u.externalId } : {}),
      ...(groups.length ? { groups } : {}),
      ...(u.entitlements.size ? { entitlements: [...u.entitlements].map((value) => ({ value })) } : {}),
      schemas: [USER_SCHEMA, WORKSPACE_USER_SCHEMA],
    };
  }

  private servicePrincipalJson(sp: ScimServicePrincipal): Json {
    const groups = this.groupsOf(sp.id);
    return {
      id: sp.id,
      applicationId: sp.applicationId,
      displayName: sp.displayName,
      active: sp.active,
      ...(groups.length ? { groups } : {}),
      ...(sp.entitlements.size ? { entitlements: [...sp.entitlements].map((value) => ({ value })) } : {}),
      schemas: [SERVICE_PRINCIPAL_SCHEMA],
    };
  }

  private groupJson(g: ScimGroup): Json {
    const groups = this.groupsOf(g.id);
    return {
      id: g.id,
      displayName: g.displayName,
      ...(g.externalId ? { externalId: g.externalId } : {}),
      ...(g.members.size ? { members: [...g.members].map((m) => this.ref(m)) } : {}),
      ...(groups.length ? { groups } : {}),
      ...(g.entitlements.size ? { entitlements: [...g.entitlements].map((value) => ({ value })) } : {}),
      schemas: [GROUP_SCHEMA],
      meta: { resourceType: "WorkspaceGroup" },
    };
  }
}
