/**
 * Tables: the data stays out of the move, but not out of the plan. The inventory lists the catalogs, schemas, tables
 * and views the source holds, Unity Catalog's and the workspace's own Hive metastore's (which Unity Catalog shows as
 * the catalog `hive_metastore`), with their sizes, read from the Unity Catalog REST API without a cluster. The plan
 * says, as SQL for the operator, how the target gets them:
 * - both workspaces on one metastore (`bind`): nothing is copied, each catalog is bound to the target workspace (an
 *   ISOLATED one needs the binding, an OPEN one is seen already); only the Hive metastore, which is the source
 *   workspace's own, is deep-cloned, from the source, into a Unity Catalog catalog the target then sees;
 * - across metastores (`clone`): CREATE CATALOG and SCHEMA, DEEP CLONE for each Delta table, CTAS for the other
 *   managed tables, external tables registered on their storage (or deep-cloned to a new location), views made
 *   again from their definitions. DEEP CLONE reads the source from the target, so each source catalog must be
 *   readable there first (a Delta Sharing catalog made from a share of it, or another cross-metastore path).
 * Whatever cannot be moved so (pipelines' tables, foreign and shared catalogs, a Hive SerDe table) is named, never
 * skipped in silence. Each plan carries row-count queries for both sides, which the runbook compares.
 *
 * Sizes are the statistics ANALYZE TABLE ... COMPUTE STATISTICS leaves in a table's properties
 * (`spark.sql.statistics.totalSize` and `numRows`, or the Hive metastore's `totalSize` and `numRows`); a table never
 * analysed has none, and the plan says how many sizes are unknown.
 */
import { DEFAULT_RETRY, hasStatus, jsonRequest, RetryPolicy, withRetry } from "../clients/http";
import { Endpoint } from "../clients/mlflow";

export interface TableEntry {
  name: string;
  fullName: string;
  /** Unity Catalog's table_type: MANAGED, EXTERNAL, VIEW, MATERIALIZED_VIEW, STREAMING_TABLE, FOREIGN... */
  type: string;
  /** data_source_format: DELTA, PARQUET, CSV, HIVE...; none for a view. */
  format?: string;
  location?: string;
  sizeBytes?: number;
  rows?: number;
  viewDefinition?: string;
}

export interface SchemaEntry {
  name: string;
  tables: TableEntry[];
}

export interface CatalogEntry {
  name: string;
  /** catalog_type (MANAGED_CATALOG, DELTASHARING_CATALOG, FOREIGN_CATALOG); none for `hive_metastore`. */
  type?: string;
  /** OPEN or ISOLATED (workspace bindings); none for `hive_metastore`. */
  isolation?: string;
  schemas: SchemaEntry[];
}

export interface TableInventory {
  metastoreId: string;
  workspaceId?: string;
  catalogs: CatalogEntry[];
}

/** How a table reaches the target. */
export type TableMove = "bind" | "deep-clone" | "ctas" | "register" | "view";

export interface PlannedTable {
  source: string;
  target: string;
  how: TableMove;
  sizeBytes?: number;
}

/** A row-count check: each query run in its own workspace, the counts compared. */
export interface Reconciliation {
  table: string;
  source: string;
  target: string;
  /** The row count the source's statistics give, when it has them. */
  expectedRows?: number;
}

export interface CatalogBinding {
  catalog: string;
  isolation: string;
  /** `bind`: the target workspace must be bound to it (the call); `none`: an OPEN catalog, seen already. */
  action: "bind" | "none";
  call?: string;
}

interface PlanParts {
  sourceMetastoreId: string;
  targetMetastoreId: string;
  /** Which workspace the statements run in. */
  runIn: "source" | "target";
  /** The file's header, one comment line each (without the `-- `). */
  header: string[];
  statements: string[];
  reconciliation: Reconciliation[];
  tables: PlannedTable[];
  notCovered: { object: string; why: string }[];
}

export type TablePlan = (PlanParts & { mode: "bind"; catalogs: CatalogBinding[] }) | (PlanParts & { mode: "clone" });

export interface TablePlanOptions {
  /**
   * Source catalog -> target catalog. Default: the same name, but for `hive_metastore` on a shared metastore, whose
   * tables go to the Unity Catalog catalog `legacy_hive_metastore`. Bound catalogs keep their names.
   */
  catalogMap?: Record<string, string>;
  /** Across metastores, source catalog -> the catalog the target reads it through (a Delta Sharing catalog); default `from_<catalog>`. */
  readVia?: Record<string, string>;
  /** Source storage prefix -> target prefix: an external table under a mapped prefix is copied there instead of registered in place. */
  locationMap?: Record<string, string>;
  /** The target workspace's id, for the binding calls (default: a placeholder). */
  targetWorkspaceId?: string;
}

const HIVE = "hive_metastore";
/** Catalogs no team owns: Databricks' own, and the sample data every workspace sees. */
const SYSTEM_CATALOGS = new Set(["system", "__databricks_internal", "samples"]);
const SYSTEM_CATALOG_TYPES = new Set(["SYSTEM_CATALOG", "INTERNAL_CATALOG"]);
/** Every Unity Catalog catalog's metadata views: made by Databricks, never moved. */
const SYSTEM_SCHEMAS = new Set(["information_schema"]);
const HIVE_TARGET = "legacy_hive_metastore";
/** Formats `CREATE TABLE ... USING` takes. */
const USING = new Set(["DELTA", "PARQUET", "ORC", "AVRO", "CSV", "JSON", "TEXT"]);

interface CatalogJson {
  name: string;
  catalog_type?: string;
  isolation_mode?: string;
}
interface TableJson {
  name: string;
  full_name?: string;
  catalog_name?: string;
  schema_name?: string;
  table_type?: string;
  data_source_format?: string;
  storage_location?: string;
  properties?: Record<string, string>;
  view_definition?: string;
}

/** The Unity Catalog API of one workspace, read-only: what the inventory reads. */
export function unityCatalogClient(ep: Endpoint, retry: RetryPolicy = DEFAULT_RETRY) {
  const headers: Record<string, string> = ep.token ? { Authorization: `Bearer ${ep.token}` } : {};
  const call = <T>(path: string, what: string) =>
    withRetry(retry, () => jsonRequest<T>("GET", `${ep.baseUrl}/api/2.1/unity-catalog/${path}`, headers, undefined, `${ep.uri}: ${what}`));
  const q = (o: Record<string, string>) => Object.entries(o).map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  /** Every item of a listing: pages (max_results=0, the server's length) until one comes without next_page_token; a page may be empty. */
  async function all<T>(path: string, params: Record<string, string>, key: string, what: string): Promise<T[]> {
    const out: T[] = [];
    const tokens = new Set<string>();
    for (let token: string | undefined; ;) {
      const page = await call<Record<string, unknown>>(
        `${path}?${[...q(params), "max_results=0", ...(token ? q({ page_token: token }) : [])].join("&")}`,
        what,
      );
      out.push(...((page[key] as T[] | undefined) ?? []));
      token = typeof page.next_page_token === "string" && page.next_page_token ? page.next_page_token : undefined;
      if (!token) return out;
      if (tokens.has(token)) throw new Error(`${ep.uri}: ${what}: the listing gave page token ${JSON.stringify(token)} twice`);
      tokens.add(token);
    }
  }
  return {
    /** The metastore the workspace is assigned to, and the workspace's id. */
    async assignment(): Promise<{ metastoreId: string; workspaceId?: string }> {
      const a = await call<{ metastore_id?: string; workspace_id?: number | string }>(
        "current-metastore-assignment",
        "the workspace's Unity Catalog metastore",
      );
      if (!a.metastore_id) throw new Error(`${ep.uri}: the workspace's metastore assignment names no metastore`);
      return { metastoreId: a.metastore_id, ...(a.workspace_id !== undefined ? { workspaceId: String(a.workspace_id) } : {}) };
    },
    catalogs: () => all<CatalogJson>("catalogs", {}, "catalogs", "catalogs"),
    schemas: (catalog: string) => all<{ name: string }>("schemas", { catalog_name: catalog }, "schemas", `schemas of catalog '${catalog}'`),
    tables: (catalog: string, schema: string) =>
      all<TableJson>(
        "tables",
        { catalog_name: catalog, schema_name: schema, omit_columns: "true" },
        "tables",
        `tables of schema '${catalog}.${schema}'`,
      ),
  };
}

/** The metastore a workspace is assigned to (what tablePlan compares), and the workspace's id (what a binding names). */
export const metastoreAssignment = (ep: Endpoint, retry?: RetryPolicy) => unityCatalogClient(ep, retry).assignment();

/** Whether a failure is the workspace having no Unity Catalog API (an MLflow server): then there are no tables to plan. */
export const noUnityCatalogApi = (e: unknown) => hasStatus(e, 404) || hasStatus(e, 501);

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const count = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);

function tableEntry(t: TableJson, catalog: string, schema: string): TableEntry {
  const p = t.properties ?? {};
  const sizeBytes = count(p["spark.sql.statistics.totalSize"]) ?? count(p.totalSize);
  const rows = count(p["spark.sql.statistics.numRows"]) ?? count(p.numRows);
  return {
    name: t.name,
    fullName: t.full_name ?? `${catalog}.${schema}.${t.name}`,
    type: t.table_type ?? "UNKNOWN",
    ...(t.data_source_format ? { format: t.data_source_format } : {}),
    ...(t.storage_location ? { location: t.storage_location } : {}),
    ...(sizeBytes !== undefined ? { sizeBytes } : {}),
    ...(rows !== undefined ? { rows } : {}),
    ...(t.view_definition ? { viewDefinition: t.view_definition } : {}),
  };
}

/**
 * What the source holds: every catalog the caller sees but the system ones (`system`, `__databricks_internal`,
 * `samples`), `hive_metastore` included, or only the named ones (a named catalog the caller does not see fails, naming
 * it); in each, the schemas but `information_schema`, and their tables and views with sizes. Sorted by name.
 */
export async function tableInventory(ep: Endpoint, opts: { catalogs?: string[] } = {}, retry?: RetryPolicy): Promise<TableInventory> {
  const uc = unityCatalogClient(ep, retry);
  const { metastoreId, workspaceId } = await uc.assignment();
  const seen = (await uc.catalogs()).filter((c) => !SYSTEM_CATALOGS.has(c.name) && !SYSTEM_CATALOG_TYPES.has(c.catalog_type ?? ""));
  const wanted = opts.catalogs?.map((n) => n.toLowerCase());
  const missing = (wanted ?? []).filter((n) => !seen.some((c) => c.name === n));
  if (missing.length)
    throw new Error(
      `${ep.uri}: ${missing.map((n) => `catalog '${n}'`).join(", ")} not found: it does not exist, is a system catalog, or the caller holds no USE CATALOG on it`,
    );
  const catalogs: CatalogEntry[] = [];
  for (const c of seen.filter((x) => !wanted || wanted.includes(x.name)).sort(byName)) {
    const schemas: SchemaEntry[] = [];
    for (const s of (await uc.schemas(c.name)).filter((x) => !SYSTEM_SCHEMAS.has(x.name)).sort(byName))
      schemas.push({ name: s.name, tables: (await uc.tables(c.name, s.name)).map((t) => tableEntry(t, c.name, s.name)).sort(byName) });
    catalogs.push({
      name: c.name,
      ...(c.catalog_type ? { type: c.catalog_type } : {}),
      ...(c.isolation_mode ? { isolation: c.isolation_mode } : {}),
      schemas,
    });
  }
  return { metastoreId, ...(workspaceId ? { workspaceId } : {}), catalogs };
}

/** A quoted identifier: `a`.`b`.`c`, a backtick inside doubled. */
export const quoteName = (...parts: string[]) => parts.map((p) => `\`${p.replace(/`/g, "``")}\``).join(".");
const literal = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
const countQuery = (name: string) => `SELECT COUNT(*) AS row_count FROM ${name}`;

/** Bytes for people: 1.5 GiB. */
export function humanSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  for (; bytes >= 1024 && i < units.length - 1; i++) bytes /= 1024;
  return i === 0 ? `${bytes} B` : `${bytes.toFixed(1)} ${units[i]}`;
}

/** Why a table is not moved by a statement, or undefined when it is; `how` for those that are. */
function moveOf(t: TableEntry, mappedLocation: string | undefined): { how: Exclude<TableMove, "bind"> } | { why: string } {
  const format = (t.format ?? "").toUpperCase();
  switch (t.type) {
    case "VIEW":
      return t.viewDefinition ? { how: "view" } : { why: "a view whose definition the API did not give: make it again by hand" };
    case "MANAGED":
    case "MANAGED_SHALLOW_CLONE":
      if (format === "DELTA") return { how: "deep-clone" };
      return format ? { how: "ctas" } : { why: "a managed table of unknown format" };
    case "EXTERNAL":
    case "EXTERNAL_SHALLOW_CLONE":
      if (!t.location) return { why: "an external table whose location the API did not give" };
      if (!USING.has(format))
        return { why: `an external ${format || "unknown-format"} table (${t.location}): register it by hand with its SerDe and options` };
      return mappedLocation !== undefined ? { how: format === "DELTA" ? "deep-clone" : "ctas" } : { how: "register" };
    case "MATERIALIZED_VIEW":
    case "STREAMING_TABLE":
      return { why: `a ${t.type.toLowerCase().replace("_", " ")}: its pipeline makes it again in the target` };
    case "FOREIGN":
      return { why: "a foreign table, read through a connection: make the connection and its catalog again in the target" };
    default:
      return { why: `a ${t.type} table, which the plan does not cover` };
  }
}

/** The location an external table is copied to, under a mapped prefix (the longest that applies), if any. */
function mapLocation(location: string | undefined, map: Record<string, string>): string | undefined {
  const from = Object.keys(map)
    .filter((p) => location?.startsWith(p))
    .sort((a, b) => b.length - a.length)[0];
  return from === undefined ? undefined : map[from] + location!.slice(from.length);
}

/**
 * The statements that make the catalogs' schemas, tables and views in `targetOf(catalog)`, reading each table at
 * `sourceOf(catalog)` (what the workspace the statements run in calls the source's catalog). Deterministic: catalogs,
 * then schemas, then tables, then views (which may read any table), each sorted by target name.
 */
function copyParts(catalogs: CatalogEntry[], targetOf: (c: string) => string, sourceOf: (c: string) => string, opts: TablePlanOptions) {
  const out = {
    creates: [] as string[],
    schemas: [] as string[],
    tables: [] as { target: string; statement: string }[],
    views: [] as { target: string; use: string[]; statement: string }[],
    planned: [] as PlannedTable[],
    reconciliation: [] as Reconciliation[],
    notCovered: [] as { object: string; why: string }[],
  };
  for (const c of catalogs) {
    if (c.type === "DELTASHARING_CATALOG" || c.type === "FOREIGN_CATALOG") {
      out.notCovered.push({
        object: `catalog ${c.name}`,
        why:
          c.type === "DELTASHARING_CATALOG"
            ? "a Delta Sharing catalog: create it again in the target from its share"
            : "a foreign catalog: create its connection and catalog again in the target",
      });
      continue;
    }
    const tc = targetOf(c.name);
    if (tc !== HIVE) out.creates.push(`CREATE CATALOG IF NOT EXISTS ${quoteName(tc)}`);
    for (const s of c.schemas) {
      out.schemas.push(`CREATE SCHEMA IF NOT EXISTS ${quoteName(tc, s.name)}`);
      for (const t of s.tables) {
        const target = quoteName(tc, s.name, t.name);
        const source = quoteName(sourceOf(c.name), s.name, t.name);
        const mapped = t.type.startsWith("EXTERNAL") ? mapLocation(t.location, opts.locationMap ?? {}) : undefined;
        const move = moveOf(t, mapped);
        if ("why" in move) {
          out.notCovered.push({ object: t.fullName, why: move.why });
          continue;
        }
        const format = (t.format ?? "").toUpperCase();
        const statement = {
          "deep-clone": `CREATE TABLE IF NOT EXISTS ${target} DEEP CLONE ${source}${mapped !== undefined ? ` LOCATION ${literal(mapped)}` : ""}`,
          ctas: `CREATE TABLE IF NOT EXISTS ${target}${mapped !== undefined ? ` USING ${format} LOCATION ${literal(mapped)}` : ""} AS SELECT * FROM ${source}`,
          register: `CREATE TABLE IF NOT EXISTS ${target} USING ${format} LOCATION ${literal(t.location ?? "")}`,
          view: `CREATE VIEW IF NOT EXISTS ${target} AS ${(t.viewDefinition ?? "").trim().replace(/;+\s*$/, "")}`,
        }[move.how];
        out.planned.push({ source: t.fullName, target: `${tc}.${s.name}.${t.name}`, how: move.how, ...size(t) });
        if (move.how === "view") {
          // A view's unqualified names resolve in the current schema: the view's own, as in the source.
          out.views.push({ target, use: [`USE CATALOG ${quoteName(tc)}`, `USE SCHEMA ${quoteName(s.name)}`], statement });
          continue;
        }
        out.tables.push({ target, statement });
        out.reconciliation.push(reconcile(t, quoteName(c.name, s.name, t.name), target));
      }
    }
  }
  return out;
}

const size = (t: TableEntry) => (t.sizeBytes !== undefined ? { sizeBytes: t.sizeBytes } : {});
const reconcile = (t: TableEntry, source: string, target: string): Reconciliation => ({
  table: t.fullName,
  source: countQuery(source),
  target: countQuery(target),
  ...(t.rows !== undefined ? { expectedRows: t.rows } : {}),
});

/** The statements in order: catalogs, schemas, tables, then views grouped by schema (one USE per schema). */
function ordered(p: ReturnType<typeof copyParts>): string[] {
  const sort = <T extends { target: string }>(xs: T[]) => [...xs].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  const views: string[] = [];
  let schema = "";
  for (const v of sort(p.views)) {
    if (v.use.join() !== schema) views.push(...v.use);
    schema = v.use.join();
    views.push(v.statement);
  }
  return [...[...new Set(p.creates)].sort(), ...[...new Set(p.schemas)].sort(), ...sort(p.tables).map((t) => t.statement), ...views];
}

/** Two source tables copied to one target name: the catalog map's fault, reported at once. */
function collisions(planned: PlannedTable[]): void {
  const by = new Map<string, string[]>();
  for (const t of planned) by.set(t.target, [...(by.get(t.target) ?? []), t.source]);
  const twice = [...by].filter(([, s]) => s.length > 1);
  if (twice.length)
    throw new Error(
      `the catalog map sends several tables to one name:\n - ${twice.map(([t, s]) => `${t}: ${s.join(", ")}`).join("\n - ")}\nmap those catalogs apart`,
    );
}

function sizeLines(tables: PlannedTable[], notCovered: { object: string; why: string }[], inventory: TableInventory): string[] {
  const all = inventory.catalogs.flatMap((c) => c.schemas.flatMap((s) => s.tables));
  const data = all.filter((t) => t.type !== "VIEW");
  const known = data.filter((t) => t.sizeBytes !== undefined);
  const bytes = known.reduce((n, t) => n + t.sizeBytes!, 0);
  const width = Math.max(0, ...tables.map((t) => t.source.length));
  const sizeOf = new Map(all.map((t) => [t.fullName, t]));
  return [
    `Tables: ${data.length} (${humanSize(bytes)} in the ${known.length} of known size${
      known.length < data.length
        ? `; ${data.length - known.length} of unknown size: ANALYZE TABLE <name> COMPUTE STATISTICS NOSCAN records it`
        : ""
    }); views: ${all.length - data.length}.`,
    ...tables.map((t) => {
      const e = sizeOf.get(t.source);
      const what = [e?.type, e?.format].filter(Boolean).join(" ");
      return `  ${t.source.padEnd(width)}  ${t.how.padEnd(10)}  ${(t.sizeBytes !== undefined ? humanSize(t.sizeBytes) : e?.type === "VIEW" ? "-" : "size unknown").padEnd(12)}  ${what}${t.target !== t.source ? `  -> ${t.target}` : ""}`;
    }),
    ...(notCovered.length
      ? ["Not covered (move these by hand):", ...notCovered.map((n) => `  ${n.object}: ${n.why}`)]
      : ["Not covered: nothing."]),
  ];
}

const CAVEATS = [
  "Not carried by these statements: grants and owners, tags and comments, row filters and column masks, constraints; the access plan gives the grants.",
  "Row counts: run the reconciliation queries at the end of this file, each in its own workspace, and compare the counts.",
];

/** The inventory with its catalogs, schemas and tables in name order, whatever order it came in, each table named by where it is. */
const sortedInventory = (inv: TableInventory): TableInventory => ({
  ...inv,
  catalogs: [...inv.catalogs].sort(byName).map((c) => ({
    ...c,
    schemas: [...c.schemas]
      .sort(byName)
      .map((s) => ({ ...s, tables: [...s.tables].sort(byName).map((t) => ({ ...t, fullName: `${c.name}.${s.name}.${t.name}` })) })),
  })),
});

/**
 * The plan for the source's tables in a target on `targetMetastoreId`: `bind` when both are on the source's
 * metastore, `clone` otherwise (see the module's comment). Pure and deterministic; throws when the catalog map sends
 * two tables to one name, reads a catalog through itself, or sends the Hive metastore to one on a shared metastore.
 */
export function tablePlan(inventory: TableInventory, targetMetastoreId: string, opts: TablePlanOptions = {}): TablePlan {
  const source = sortedInventory(inventory);
  const map = Object.fromEntries(Object.entries(opts.catalogMap ?? {}).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]));
  if (source.metastoreId !== targetMetastoreId) {
    const via = Object.fromEntries(Object.entries(opts.readVia ?? {}).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]));
    const targetOf = (c: string) => map[c] ?? c;
    const viaOf = (c: string) => via[c] ?? `from_${c}`;
    const self = source.catalogs.filter((c) => viaOf(c.name) === targetOf(c.name)).map((c) => c.name);
    if (self.length)
      throw new Error(`catalogs ${self.join(", ")} would be read through the catalog they are copied to: give readVia another name`);
    const parts = copyParts(source.catalogs, targetOf, viaOf, opts);
    collisions(parts.planned);
    const reads = [
      ...new Set(source.catalogs.filter((c) => !c.type?.match(/DELTASHARING|FOREIGN/)).map((c) => `${viaOf(c.name)} (${c.name})`)),
    ];
    return {
      mode: "clone",
      sourceMetastoreId: source.metastoreId,
      targetMetastoreId,
      runIn: "target",
      header: [
        `quant-platform table plan: CLONE. Source metastore ${source.metastoreId}, target metastore ${targetMetastoreId}: different metastores, so the data is copied.`,
        "Run in the TARGET workspace (a SQL warehouse, or a cluster with Unity Catalog), as a user who may create these catalogs and schemas.",
        "DEEP CLONE and CTAS read the source from the target: each source catalog must be readable there first, under the name the statements use,",
        `through Delta Sharing (share the source catalog's tables, then CREATE CATALOG <name> USING SHARE <provider>.<share>) or another cross-metastore path: ${reads.join(", ") || "none"}.`,
        "External tables without a location map are registered on the source's storage (no copy): the target needs an external location over it.",
        "Views are made again from their definitions, after the tables; a definition naming a renamed catalog must be edited first.",
        ...sizeLines(parts.planned, parts.notCovered, source),
        ...CAVEATS,
      ],
      statements: ordered(parts),
      reconciliation: parts.reconciliation,
      tables: parts.planned,
      notCovered: parts.notCovered,
    };
  }
  const hive = source.catalogs.filter((c) => c.name === HIVE);
  const hiveTarget = map[HIVE] ?? HIVE_TARGET;
  if (hiveTarget === HIVE)
    throw new Error("on a shared metastore the Hive metastore's tables go to a Unity Catalog catalog: map hive_metastore to another name");
  const renamed = Object.keys(map).filter((c) => c !== HIVE && map[c] !== c);
  const bound = source.catalogs.filter((c) => c.name !== HIVE);
  const workspace = opts.targetWorkspaceId ?? "<target workspace id>";
  const catalogs: CatalogBinding[] = bound.map((c) => {
    const isolation = c.isolation ?? "OPEN";
    return isolation === "ISOLATED"
      ? {
          catalog: c.name,
          isolation,
          action: "bind",
          call: `PATCH /api/2.1/unity-catalog/bindings/catalog/${encodeURIComponent(c.name)} {"add": [{"workspace_id": ${workspace}, "binding_type": "BINDING_TYPE_READ_WRITE"}]}`,
        }
      : { catalog: c.name, isolation, action: "none" };
  });
  const parts = copyParts(
    hive,
    () => hiveTarget,
    () => HIVE,
    opts,
  );
  collisions(parts.planned);
  const boundTables = bound.flatMap((c) =>
    c.schemas.flatMap((s) => s.tables.map((t): PlannedTable => ({ source: t.fullName, target: t.fullName, how: "bind", ...size(t) }))),
  );
  const boundChecks = bound.flatMap((c) =>
    c.schemas.flatMap((s) =>
      s.tables
        .filter((t) => t.type !== "VIEW")
        .map((t) => reconcile(t, quoteName(c.name, s.name, t.name), quoteName(c.name, s.name, t.name))),
    ),
  );
  return {
    mode: "bind",
    sourceMetastoreId: source.metastoreId,
    targetMetastoreId,
    runIn: "source",
    catalogs,
    header: [
      `quant-platform table plan: BIND. Source and target share metastore ${targetMetastoreId}: nothing is copied, the target workspace reads the same catalogs.`,
      ...(catalogs.length
        ? [
            "Catalog bindings (a metastore admin or the catalog's owner; Catalog Explorer > Workspaces, or the API call named):",
            ...catalogs.map((b) =>
              b.action === "bind"
                ? `  ${b.catalog}: ISOLATED, bind the target workspace: ${b.call}`
                : `  ${b.catalog}: OPEN, every workspace of the metastore sees it already`,
            ),
          ]
        : ["No Unity Catalog catalogs to bind."]),
      ...(renamed.length ? [`The catalog map renames no bound catalog (${renamed.join(", ")} keep their names).`] : []),
      hive.length
        ? `The Hive metastore is the source workspace's own: its tables are deep-cloned into the Unity Catalog catalog ${hiveTarget}. Run the statements below in the SOURCE workspace; the target then sees ${hiveTarget} (OPEN when new).`
        : "The source has no Hive metastore tables to copy: there are no statements.",
      ...sizeLines([...boundTables, ...parts.planned], parts.notCovered, source),
      ...CAVEATS,
    ],
    statements: ordered(parts),
    reconciliation: [...boundChecks, ...parts.reconciliation],
    tables: [...boundTables, ...parts.planned],
    notCovered: parts.notCovered,
  };
}

/** The plan as a SQL file: its header as comments, the statements, then the reconciliation queries as comments. */
export function renderTablePlan(plan: TablePlan): string {
  const lines = [
    ...plan.header.map((h) => `-- ${h}`.trimEnd()),
    "",
    ...plan.statements.map((s) => `${s};`),
    "",
    `-- Reconciliation: run each query in its workspace (source, then target) and compare the counts.`,
    ...plan.reconciliation.flatMap((r) => [
      `-- ${r.table}${r.expectedRows !== undefined ? ` (statistics: ${r.expectedRows} rows)` : ""}`,
      `--   source: ${r.source};`,
      `--   target: ${r.target};`,
    ]),
  ];
  return `${lines.join("\n")}\n`;
}
