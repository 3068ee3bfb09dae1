/**
 * The Databricks Secrets API 2.0 for tests (https://docs.databricks.com/api/workspace/secrets), Databricks-backed
 * scopes only:
 * - `POST /api/2.0/secrets/scopes/create {scope, initial_manage_principal?}`: 400 RESOURCE_ALREADY_EXISTS for a
 *   taken name, 400 INVALID_PARAMETER_VALUE for a name that is not 1-128 letters, digits, `-`, `_`, `.`; the
 *   creator gets MANAGE (or `users`, with `initial_manage_principal: users`);
 * - `GET /api/2.0/secrets/scopes/list` -> `{scopes: [{name, backend_type: "DATABRICKS"}]}`;
 * - `POST /api/2.0/secrets/scopes/delete {scope}`;
 * - `POST /api/2.0/secrets/put {scope, key, string_value | bytes_value}`: WRITE; a key of 1-128 letters,
 *   digits, `-`, `_`, `.`; a value of at most 128 KB; 404 RESOURCE_DOES_NOT_EXIST for no such scope;
 * - `GET /api/2.0/secrets/list ?scope` -> `{secrets: [{key, last_updated_timestamp}]}`: READ. Values are never
 *   listed;
 * - `POST /api/2.0/secrets/delete {scope, key}`: WRITE;
 * - `POST /api/2.0/secrets/acls/put {scope, principal, permission: READ|WRITE|MANAGE}`, `GET .../acls/list ?scope`
 *   -> `{items: [{principal, permission}]}`, `GET .../acls/get ?scope&principal`, `POST .../acls/delete`: MANAGE.
 *   A principal the workspace does not know (a user or group by name, a service principal by application id;
 *   `users` always) is 400 INVALID_PARAMETER_VALUE, as the API documents for an invalid principal.
 * Levels: MANAGE > WRITE > READ, for the user or a group of theirs (`users`: everyone); admins hold MANAGE on
 * every scope. A refusal is 403 PERMISSION_DENIED and changes nothing.
 *
 * `GET /api/2.0/secrets/get` is not served: the tools never read a secret's value (the operator supplies values).
 */
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";

export type SecretPermission = "READ" | "WRITE" | "MANAGE";
const LEVELS: SecretPermission[] = ["READ", "WRITE", "MANAGE"];
const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const MAX_VALUE_BYTES = 128 * 1024;

export interface SecretScope {
  name: string;
  /** key -> the value's bytes and when it was last written. */
  secrets: Map<string, { value: Buffer; updated: number }>;
  acls: Map<string, SecretPermission>;
}

export class SecretsApi {
  readonly scopes = new Map<string, SecretScope>();

  constructor(
    /** Whether the caller is a workspace admin (MANAGE on every scope); a host with SCIM state sets its own. */
    public isAdmin: (caller: string) => boolean,
    /** The groups a caller belongs to (`users` is added for everyone). */
    public groupsOf: (caller: string) => string[] = () => [],
    /** Whether the workspace knows a principal; a host with SCIM state sets its own (without one, every name is taken). */
    public principalExists: (name: string) => boolean = () => true,
  ) {}

  /** The caller's permission on a scope (undefined: none). */
  levelOf(scope: SecretScope, caller: string): SecretPermission | undefined {
    if (this.isAdmin(caller)) return "MANAGE";
    const mine = new Set([caller.toLowerCase(), "users", ...this.groupsOf(caller)]);
    let best = -1;
    for (const [principal, p] of scope.acls)
      if (mine.has(principal.toLowerCase()) || mine.has(principal)) best = Math.max(best, LEVELS.indexOf(p));
    return best < 0 ? undefined : LEVELS[best];
  }

  /** Serves `/api/2.0/secrets/...`; false for any other path. */
  handle(req: ApiRequest): boolean {
    const m =
      /^\/api\/2\.0\/secrets\/(scopes\/create|scopes\/list|scopes\/delete|put|list|delete|acls\/put|acls\/list|acls\/get|acls\/delete|get)$/.exec(
        req.url.pathname,
      );
    if (!m) return req.url.pathname.startsWith("/api/2.0/secrets/") ? notImplemented(req.res, req.method, req.url) : false;
    const op = m[1];
    if (op === "get") return notImplemented(req.res, req.method, req.url, "the tools never read a secret's value");
    const reads = ["scopes/list", "list", "acls/list", "acls/get"].includes(op);
    if (req.method !== (reads ? "GET" : "POST"))
      return apiError(req.res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${req.method} /secrets/${op}'`);
    const p = reads ? Object.fromEntries(req.url.searchParams) : jsonBody(req);
    if (!p) return true;
    const bad = (message: string) => apiError(req.res, 400, "INVALID_PARAMETER_VALUE", message);
    if (op === "scopes/list")
      return sendJson(req.res, 200, {
        scopes: [...this.scopes.values()]
          .filter((s) => this.levelOf(s, req.caller))
          .map((s) => ({ name: s.name, backend_type: "DATABRICKS" })),
      });
    const name = typeof p.scope === "string" ? p.scope : "";
    if (op === "scopes/create") {
      if (!NAME.test(name))
        return bad(`Scope name '${name}' is invalid: it must be 1 to 128 letters, digits, dashes, underscores and periods.`);
      if (this.scopes.has(name)) return apiError(req.res, 400, "RESOURCE_ALREADY_EXISTS", `Scope ${name} already exists!`);
      const manager = p.initial_manage_principal === "users" ? "users" : req.caller;
      this.scopes.set(name, { name, secrets: new Map(), acls: new Map([[manager, "MANAGE"]]) });
      return sendJson(req.res, 200, {});
    }
    const scope = this.scopes.get(name);
    if (!scope) return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Scope ${name} does not exist!`);
    const need = (level: SecretPermission) => {
      const has = this.levelOf(scope, req.caller);
      if (has && LEVELS.indexOf(has) >= LEVELS.indexOf(level)) return false;
      apiError(req.res, 403, "PERMISSION_DENIED", `User ${req.caller} does not have ${level} permission on scope ${name}.`);
      return true;
    };
    const key = typeof p.key === "string" ? p.key : "";
    switch (op) {
      case "scopes/delete":
        if (need("MANAGE")) return true;
        this.scopes.delete(name);
        return sendJson(req.res, 200, {});
      case "put": {
        if (need("WRITE")) return true;
        if (!NAME.test(key))
          return bad(`Secret key '${key}' is invalid: it must be 1 to 128 letters, digits, dashes, underscores and periods.`);
        const has = (x: unknown) => typeof x === "string";
        if (has(p.string_value) === has(p.bytes_value)) return bad("Exactly one of string_value and bytes_value must be given.");
        const value = has(p.string_value) ? Buffer.from(p.string_value as string) : Buffer.from(p.bytes_value as string, "base64");
        if (value.length > MAX_VALUE_BYTES)
          return bad(`The secret value is ${value.length} bytes; at most ${MAX_VALUE_BYTES} are allowed.`);
        scope.secrets.set(key, { value, updated: Date.now() });
        return sendJson(req.res, 200, {});
      }
      case "list":
        if (need("READ")) return true;
        return sendJson(req.res, 200, {
          secrets: [...scope.secrets]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, s]) => ({ key: k, last_updated_timestamp: s.updated })),
        });
      case "delete":
        if (need("WRITE")) return true;
        if (!scope.secrets.delete(key)) return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Secret ${key} does not exist!`);
        return sendJson(req.res, 200, {});
      case "acls/put": {
        if (need("MANAGE")) return true;
        const permission = String(p.permission ?? "") as SecretPermission;
        if (!LEVELS.includes(permission)) return bad(`Permission '${p.permission}' is invalid: READ, WRITE or MANAGE.`);
        if (typeof p.principal !== "string" || !p.principal) return bad("Missing value for required parameter 'principal'.");
        if (p.principal !== "users" && !this.principalExists(p.principal)) return bad(`Principal ${p.principal} does not exist.`);
        scope.acls.set(p.principal, permission);
        return sendJson(req.res, 200, {});
      }
      case "acls/list":
        if (need("MANAGE")) return true;
        return sendJson(req.res, 200, {
          items: [...scope.acls].sort(([a], [b]) => a.localeCompare(b)).map(([principal, permission]) => ({ principal, permission })),
        });
      case "acls/get": {
        if (need("MANAGE")) return true;
        const permission = scope.acls.get(String(p.principal ?? ""));
        if (!permission) return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `No ACL for principal ${p.principal} on scope ${name}.`);
        return sendJson(req.res, 200, { principal: p.principal, permission });
      }
      default:
        if (need("MANAGE")) return true;
        scope.acls.delete(String(p.principal ?? ""));
        return sendJson(req.res, 200, {});
    }
  }
}
