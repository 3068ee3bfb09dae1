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
 *
 * Catalogs, schemas, tables and views, read-only (the Tables API reference; state.ucCatalogs, ucSchemas, ucTables, which
 * `addTable` seeds):
 * - `GET /api/2.1/unity-catalog/catalogs`, `GET .../schemas?catalog_name`, `GET .../tables?catalog_name&schema_name`
 *   (`omit_columns`, `omit_properties` honoured) and `GET .../{catalogs|schemas|tables}/{full_name}` -> CatalogInfo
 *   `{name, full_name, owner, catalog_type, isolation_mode, metastore_id}`, SchemaInfo `{name, catalog_name, full_name,
 *   owner, metastore_id}`, TableInfo `{name, catalog_name, schema_name, full_name, table_type, data_source_format,
 *   storage_location, properties, view_definition, columns, owner, created_at, updated_at, metastore_id}`. Listings
 *   page as documented: `max_results` absent answers all, 0 the server's page length (`listPageSize`), more at most
 *   that, less 400; `next_page_token` (opaque) until the last page; an empty list is left out, as proto3 JSON does.
 * - The catalog `system` is always there, and every Unity Catalog catalog has `information_schema`. The workspace's own
 *   Hive metastore is the catalog `hive_metastore` (schema `default` always, no metastore_id), which every caller reads in
 *   full: legacy table ACLs are not modelled.
 * - What a caller sees: a metastore admin (`admins`) everything; anyone else the catalogs they own or hold USE CATALOG on,
 *   in those the schemas they hold USE SCHEMA on, and in those the tables they own or hold SELECT on (ALL PRIVILEGES
 *   counts; grants on a catalog or schema are inherited; a table's are `table/<full name>` in state.ucGrants). Errors:
 *   404 CATALOG_DOES_NOT_EXIST, SCHEMA_DOES_NOT_EXIST, TABLE_DOES_NOT_EXIST; 403 PERMISSION_DENIED.
 * - `GET /api/2.1/unity-catalog/current-metastore-assignment` -> `{workspace_id, metastore_id, default_catalog_name}`.
 */
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";
import { ControlPlaneState, UcCatalog, UcModel, UcTable } from "./controlPlaneState";
import { principalsOf } from "./registryAcl";

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
const HIVE = "hive_metastore";
/** ColumnInfo.type_name of the SQL types whose name differs from it (the rest: the type's upper-cased name). */
const COLUMN_TYPE: Record<string, string> = { bigint: "LONG", integer: "INT", smallint: "SHORT", tinyint: "BYTE" };
const normalize = (p: string) => p.replace(/ /g, "_").toUpperCase();

export class UnityCatalogApi {
  /** The server's page length for catalog, schema and table listings (a test makes it small to have clients page). */
  listPageSize = 50;

  constructor(private readonly state: ControlPlaneState) {}

  handle(req: ApiRequest): boolean {
    const p = req.url.pathname;
    if (!p.startsWith(UC)) return false;
    const data = /^\/api\/2\.1\/unity-catalog\/(catalogs|schemas|tables|current-metastore-assignment)(?:\/([^/]+))?$/.exec(p);
    if (data)
      return req.method === "GET"
        ? this.read(req, data[1], data[2] && decodeURIComponent(data[2]))
        : notImplemented(req.res, req.method, req.url);
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
    return this.state.ucCatalogs.has(name) || [...this.state.ucSchemas].some((s) => s.startsWith(`${name}.`))
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

  /** Every catalog there is, with its settings: the metastore's, `system`, and the workspace's `hive_metastore`. */
  private catalogs(): Map<string, UcCatalog> {
    const out = new Map<string, UcCatalog>([["system", { name: "system", owner: "System user", catalogType: "SYSTEM_CATALOG" }]]);
    if (this.state.hiveMetastore) out.set(HIVE, { name: HIVE });
    for (const s of this.state.ucSchemas) if (!out.has(s.split(".")[0])) out.set(s.split(".")[0], { name: s.split(".")[0] });
    for (const [name, c] of this.state.ucCatalogs) out.set(name, { ...out.get(name), ...c });
    return out;
  }

  private schemasOf(catalog: string): string[] {
    const own = [...this.state.ucSchemas].filter((s) => s.startsWith(`${catalog}.`)).map((s) => s.slice(catalog.length + 1));
    const builtIn = catalog === HIVE ? ["default"] : catalog === "system" ? [] : ["information_schema"];
    return [...new Set([...builtIn, ...own])].sort();
  }

  /** What the caller may read, by Unity Catalog's rules (see the header). */
  private reader(caller: string) {
    const who = principalsOf(this.state, caller);
    const mine = (p: string | undefined) =>
      p !== undefined && (p.toLowerCase() === who.user.toLowerCase() || who.groups.has(p) || p === "account users");
    const has = (keys: string[], privilege: string) =>
      keys.some((k) =>
        [...(this.state.ucGrants.get(k) ?? [])].some(([p, privs]) => mine(p) && (privs.has(privilege) || privs.has("ALL_PRIVILEGES"))),
      );
    const free = (c: string) => who.groups.has("admins") || c === HIVE || c === "system" || mine(this.catalogs().get(c)?.owner);
    const catalog = (c: string) => free(c) || has([`catalog/${c}`], "USE_CATALOG");
    const schema = (c: string, s: string) => catalog(c) && (free(c) || has([`catalog/${c}`, `schema/${c}.${s}`], "USE_SCHEMA"));
    const table = (t: UcTable) =>
      schema(t.catalogName, t.schemaName) &&
      (free(t.catalogName) ||
        mine(t.owner) ||
        has([`catalog/${t.catalogName}`, `schema/${t.catalogName}.${t.schemaName}`, `table/${t.fullName}`], "SELECT"));
    return { catalog, schema, table };
  }

  private read(req: ApiRequest, kind: string, name: string | undefined): boolean {
    if (kind === "current-metastore-assignment")
      return name === undefined
        ? sendJson(req.res, 200, {
            workspace_id: Number(this.state.workspaceId),
            metastore_id: this.state.metastoreId,
            default_catalog_name: "main",
          })
        : notImplemented(req.res, req.method, req.url);
    const q = req.url.searchParams;
    const see = this.reader(req.caller);
    const catalogs = this.catalogs();
    // The 404 or 403 a call on a catalog (and a schema of it) answers, if any.
    const refused = (c: string, s?: string): boolean => {
      if (!catalogs.has(c)) return apiError(req.res, 404, "CATALOG_DOES_NOT_EXIST", `Catalog '${c}' does not exist.`);
      if (!see.catalog(c)) return apiError(req.res, 403, "PERMISSION_DENIED", `User does not have USE CATALOG on Catalog '${c}'.`);
      if (s === undefined) return false;
      if (!this.schemasOf(c).includes(s)) return apiError(req.res, 404, "SCHEMA_DOES_NOT_EXIST", `Schema '${c}.${s}' does not exist.`);
      if (!see.schema(c, s)) return apiError(req.res, 403, "PERMISSION_DENIED", `User does not have USE SCHEMA on Schema '${c}.${s}'.`);
      return false;
    };
    const parts = (name ?? "").toLowerCase().split(".");
    if (kind === "catalogs") {
      if (name === undefined)
        return this.page(
          req,
          "catalogs",
          [...catalogs.values()].filter((c) => see.catalog(c.name)).map((c) => [c.name, this.catalogInfo(c)]),
        );
      return refused(parts[0]) || sendJson(req.res, 200, this.catalogInfo(catalogs.get(parts[0])!));
    }
    if (kind === "schemas") {
      const [c, s] = name === undefined ? [(q.get("catalog_name") ?? "").toLowerCase()] : parts;
      if (name === undefined) {
        if (!c) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing required field: catalog_name");
        if (refused(c)) return true;
        const visible = this.schemasOf(c).filter((x) => see.schema(c, x));
        return this.page(
          req,
          "schemas",
          visible.map((x) => [x, this.schemaInfo(c, x)]),
        );
      }
      return refused(c, s ?? "") || sendJson(req.res, 200, this.schemaInfo(c, s));
    }
    const omit = { columns: q.get("omit_columns") === "true", properties: q.get("omit_properties") === "true" };
    if (name === undefined) {
      const [c, s] = ["catalog_name", "schema_name"].map((k) => (q.get(k) ?? "").toLowerCase());
      if (!c || !s)
        return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Missing required field: ${c ? "schema_name" : "catalog_name"}`);
      if (refused(c, s)) return true;
      const tables = [...this.state.ucTables.values()].filter((t) => t.catalogName === c && t.schemaName === s && see.table(t));
      return this.page(
        req,
        "tables",
        tables.map((t) => [t.name, this.tableInfo(t, omit)]),
      );
    }
    const [c, s] = parts;
    if (refused(c, s ?? "")) return true;
    const t = this.state.ucTables.get(parts.join("."));
    if (!t) return apiError(req.res, 404, "TABLE_DOES_NOT_EXIST", `Table '${name}' does not exist.`);
    if (!see.table(t)) return apiError(req.res, 403, "PERMISSION_DENIED", `User does not have SELECT on Table '${t.fullName}'.`);
    return sendJson(req.res, 200, this.tableInfo(t, { columns: false, properties: false }));
  }

  /** One page of a listing, by name (see the header for max_results and page_token). */
  private page(req: ApiRequest, key: string, items: [string, unknown][]): boolean {
    const raw = req.url.searchParams.get("max_results");
    const max = raw === null ? Infinity : Number(raw);
    if (max !== Infinity && !(Number.isInteger(max) && max >= 0))
      return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `max_results must be a whole number of at least 0, not ${raw}.`);
    const size = max === Infinity ? Infinity : max === 0 ? this.listPageSize : Math.min(max, this.listPageSize);
    const token = req.url.searchParams.get("page_token");
    const after = token ? Buffer.from(token, "base64url").toString("utf8") : undefined;
    const rest = items.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).filter(([n]) => after === undefined || n > after);
    const page = rest.slice(0, size);
    return sendJson(req.res, 200, {
      ...(page.length ? { [key]: page.map(([, v]) => v) } : {}),
      ...(rest.length > page.length ? { next_page_token: Buffer.from(page[page.length - 1][0]).toString("base64url") } : {}),
    });
  }

  private catalogInfo(c: UcCatalog) {
    return {
      name: c.name,
      full_name: c.name,
      ...(c.owner ? { owner: c.owner } : c.name === HIVE ? {} : { owner: this.state.admin.userName }),
      ...(c.name === HIVE
        ? {}
        : {
            catalog_type: c.catalogType ?? "MANAGED_CATALOG",
            isolation_mode: c.isolationMode ?? "OPEN",
            metastore_id: this.state.metastoreId,
          }),
    };
  }

  private schemaInfo(catalog: string, schema: string) {
    return {
      name: schema,
      catalog_name: catalog,
      full_name: `${catalog}.${schema}`,
      owner: this.state.admin.userName,
      ...(catalog === HIVE ? {} : { metastore_id: this.state.metastoreId }),
    };
  }

  private tableInfo(t: UcTable, omit: { columns: boolean; properties: boolean }) {
    return {
      name: t.name,
      catalog_name: t.catalogName,
      schema_name: t.schemaName,
      full_name: t.fullName,
      table_type: t.tableType,
      ...(t.dataSourceFormat ? { data_source_format: t.dataSourceFormat } : {}),
      ...(t.storageLocation ? { storage_location: t.storageLocation } : {}),
      ...(t.viewDefinition ? { view_definition: t.viewDefinition } : {}),
      ...(!omit.columns && t.columns.length
        ? {
            columns: t.columns.map((col, position) => ({
              name: col.name,
              type_text: col.type,
              type_name: COLUMN_TYPE[col.type.toLowerCase()] ?? col.type.replace(/\(.*$/, "").toUpperCase(),
              position,
              nullable: true,
            })),
          }
        : {}),
      ...(!omit.properties && Object.keys(t.properties).length ? { properties: t.properties } : {}),
      owner: t.owner,
      created_at: t.createdAt,
      created_by: t.owner,
      updated_at: t.updatedAt,
      updated_by: t.owner,
      ...(t.catalogName === HIVE ? {} : { metastore_id: this.state.metastoreId }),
    };
  }
}
