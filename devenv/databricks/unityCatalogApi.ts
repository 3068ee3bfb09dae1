/**
 * Unity Catalog registered models and their grants for tests:
 * - `POST /api/2.1/unity-catalog/models` `{catalog_name, schema_name, name, comment?}` -> RegisteredModelInfo
 *   `{name, catalog_name, schema_name, full_name, owner, comment, created_at, created_by, updated_at,
 *   updated_by, metastore_id, storage_location}`; the schema must exist (`state.ucSchemas`);
 * - `GET|PATCH|DELETE /api/2.1/unity-catalog/models/{full_name}` (PATCH: comment, owner);
 * - `GET /api/2.1/unity-catalog/permissions/function/{full_name}` -> `{privilege_assignments:
 *   [{principal, privileges}]}` (direct grants only; the provider's `model` grants use securable type
 *   `function`), and `PATCH` the same with `{changes: [{principal, add, remove}]}`, answering the result.
 * - The same for `catalog/{name}` and `schema/{catalog.schema}` (a catalog exists when a schema of it does), whose
 *   grants every model inside inherits (ucPrivileges.ts reads them).
 * Names compare case-insensitively; privileges are upper-cased with spaces as underscores. Registered
 * models take ALL_PRIVILEGES, APPLY_TAG, EXECUTE, MANAGE, BROWSE, CREATE_MODEL_VERSION; schemas and catalogs
 * besides the USE and CREATE privileges of their kind. Errors `{error_code, message}`: 404
 * SCHEMA_DOES_NOT_EXIST, 404 RESOURCE_DOES_NOT_EXIST (model), 409 RESOURCE_ALREADY_EXISTS, 404
 * PRINCIPAL_DOES_NOT_EXIST, 400 INVALID_PARAMETER_VALUE (privilege not applicable, missing field).
 * Other securable types answer 501.
 */
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";
import { ControlPlaneState, UcModel } from "./controlPlaneState";

const UC = "/api/2.1/unity-catalog/";
const MODEL_PRIVILEGES = ["ALL_PRIVILEGES", "APPLY_TAG", "EXECUTE", "MANAGE", "BROWSE", "CREATE_MODEL_VERSION"];
const SCHEMA_PRIVILEGES = [
  ...MODEL_PRIVILEGES,
  "USE_SCHEMA",
  "CREATE_MODEL",
  "CREATE_FUNCTION",
  "CREATE_TABLE",
  "CREATE_VOLUME",
  "SELECT",
  "MODIFY",
  "READ_VOLUME",
  "WRITE_VOLUME",
];
const CATALOG_PRIVILEGES = [...SCHEMA_PRIVILEGES, "USE_CATALOG", "CREATE_SCHEMA"];
const normalize = (p: string) => p.replace(/ /g, "_").toUpperCase();

export class UnityCatalogApi {
  constructor(private readonly state: ControlPlaneState) {}

  handle(req: ApiRequest): boolean {
    const p = req.url.pathname;
    if (!p.startsWith(UC)) return false;
    if (p === `${UC}models`) return req.method === "POST" ? this.create(req) : notImplemented(req.res, req.method, req.url);
    const model = /^\/api\/2\.1\/unity-catalog\/models\/([^/]+)$/.exec(p);
    if (model) return this.model(req, decodeURIComponent(model[1]));
    const perms = /^\/api\/2\.1\/unity-catalog\/permissions\/([^/]+)\/([^/]+)$/.exec(p);
    if (perms && ["function", "catalog", "schema"].includes(perms[1])) return this.grants(req, perms[1], decodeURIComponent(perms[2]));
    return notImplemented(req.res, req.method, req.url);
  }

  private info(m: UcModel) {
    return {
      name: m.name,
      catalog_name: m.catalogName,
      schema_name: m.schemaName,
      full_name: m.fullName,
      owner: m.owner,
      ...(m.comment ? { comment: m.comment } : {}),
      created_at: m.createdAt,
      created_by: m.createdBy,
      updated_at: m.updatedAt,
      updated_by: m.updatedBy,
      metastore_id: this.state.metastoreId,
      storage_location: m.storageLocation,
    };
  }

  private create(req: ApiRequest): boolean {
    const b = jsonBody(req);
    if (!b) return true;
    for (const k of ["catalog_name", "schema_name", "name"]) {
      if (typeof b[k] !== "string" || !b[k]) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Missing required field: ${k}`);
    }
    const [catalogName, schemaName, name] = [b.catalog_name, b.schema_name, b.name] as string[];
    const schema = `${catalogName}.${schemaName}`.toLowerCase();
    if (!this.state.ucSchemas.has(schema)) return apiError(req.res, 404, "SCHEMA_DOES_NOT_EXIST", `Schema '${schema}' does not exist.`);
    const fullName = `${schema}.${name.toLowerCase()}`;
    if (this.state.ucModels.has(fullName))
      return apiError(req.res, 409, "RESOURCE_ALREADY_EXISTS", `Registered model '${fullName}' already exists.`);
    const now = Date.now();
    const m: UcModel = {
      catalogName: catalogName.toLowerCase(),
      schemaName: schemaName.toLowerCase(),
      name: name.toLowerCase(),
      fullName,
      comment: typeof b.comment === "string" && b.comment ? b.comment : undefined,
      owner: req.caller,
      createdAt: now,
      createdBy: req.caller,
      updatedAt: now,
      updatedBy: req.caller,
      storageLocation: `s3://metastore-root/${this.state.metastoreId}/models/${Buffer.from(fullName).toString("hex").slice(0, 32)}`,
    };
    this.state.ucModels.set(fullName, m);
    return sendJson(req.res, 200, this.info(m));
  }

  private model(req: ApiRequest, fullName: string): boolean {
    const m = this.state.ucModels.get(fullName.toLowerCase());
    if (!m) return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Registered model '${fullName}' does not exist.`);
    switch (req.method) {
      case "GET":
        return sendJson(req.res, 200, this.info(m));
      case "DELETE":
        this.state.ucModels.delete(m.fullName);
        this.state.ucGrants.delete(`function/${m.fullName}`);
        return sendJson(req.res, 200, {});
      case "PATCH": {
        const b = jsonBody(req);
        if (!b) return true;
        if (b.new_name !== undefined) return notImplemented(req.res, req.method, req.url, "renaming a registered model");
        if (typeof b.owner === "string" && b.owner) {
          if (!this.state.principalExists("user", b.owner) && !this.state.principalExists("group", b.owner))
            return apiError(req.res, 404, "PRINCIPAL_DOES_NOT_EXIST", `Could not find principal with name ${b.owner}.`);
          m.owner = b.owner;
        }
        if (b.comment !== undefined) m.comment = typeof b.comment === "string" && b.comment ? b.comment : undefined;
        Object.assign(m, { updatedAt: Date.now(), updatedBy: req.caller });
        return sendJson(req.res, 200, this.info(m));
      }
      default:
        return notImplemented(req.res, req.method, req.url);
    }
  }

  private assignments(key: string) {
    const grants = this.state.ucGrants.get(key) ?? new Map<string, Set<string>>();
    return [...grants]
      .filter(([, privs]) => privs.size > 0)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([principal, privs]) => ({ principal, privileges: [...privs].sort() }));
  }

  /** The securable a grants call is on: its ACL key, its privileges, and how errors name it; or the 404 to answer. */
  private securable(
    type: string,
    fullName: string,
  ): { key: string; privileges: string[]; entity: string } | { code: string; message: string } {
    const name = fullName.toLowerCase();
    if (type === "function") {
      const m = this.state.ucModels.get(name);
      return m
        ? { key: `function/${m.fullName}`, privileges: MODEL_PRIVILEGES, entity: `${m.fullName}:REGISTERED_MODEL` }
        : { code: "RESOURCE_DOES_NOT_EXIST", message: `Function '${fullName}' does not exist.` };
    }
    if (type === "schema")
      return this.state.ucSchemas.has(name)
        ? { key: `schema/${name}`, privileges: SCHEMA_PRIVILEGES, entity: `${name}:SCHEMA` }
        : { code: "SCHEMA_DOES_NOT_EXIST", message: `Schema '${fullName}' does not exist.` };
    return [...this.state.ucSchemas].some((s) => s.startsWith(`${name}.`))
      ? { key: `catalog/${name}`, privileges: CATALOG_PRIVILEGES, entity: `${name}:CATALOG` }
      : { code: "CATALOG_DOES_NOT_EXIST", message: `Catalog '${fullName}' does not exist.` };
  }

  private grants(req: ApiRequest, type: string, fullName: string): boolean {
    const on = this.securable(type, fullName);
    if ("code" in on) return apiError(req.res, 404, on.code, on.message);
    const key = on.key;
    if (req.method === "GET") {
      const principal = req.url.searchParams.get("principal");
      const all = this.assignments(key);
      return sendJson(req.res, 200, { privilege_assignments: principal ? all.filter((a) => a.principal === principal) : all });
    }
    if (req.method !== "PATCH") return notImplemented(req.res, req.method, req.url);
    const b = jsonBody(req);
    if (!b) return true;
    const changes = (b.changes ?? []) as { principal?: string; add?: string[]; remove?: string[] }[];
    if (!Array.isArray(changes)) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "changes must be a list");
    for (const c of changes) {
      if (typeof c.principal !== "string" || !c.principal)
        return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Each change needs a principal.");
      if (!this.state.principalExists("group", c.principal) && !this.state.principalExists("user", c.principal)) {
        return apiError(req.res, 404, "PRINCIPAL_DOES_NOT_EXIST", `Could not find principal with name ${c.principal}.`);
      }
      const bad = (c.add ?? []).map(normalize).find((p) => !on.privileges.includes(p));
      if (bad)
        return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Privilege ${bad} is not applicable to this entity [${on.entity}].`);
    }
    const grants = this.state.ucGrants.get(key) ?? new Map<string, Set<string>>();
    for (const c of changes) {
      const privs = grants.get(c.principal!) ?? new Set<string>();
      for (const p of c.add ?? []) privs.add(normalize(p));
      for (const p of c.remove ?? []) privs.delete(normalize(p));
      grants.set(c.principal!, privs);
    }
    this.state.ucGrants.set(key, grants);
    return sendJson(req.res, 200, b.omit_permissions_in_response ? {} : { privilege_assignments: this.assignments(key) });
  }
}
