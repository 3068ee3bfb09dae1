/**
 * Tables in the move plan (migration/tables.ts): the inventory reads the source's catalogs, schemas, tables and views,
 * Unity Catalog's and the Hive metastore's, with their sizes, from the Unity Catalog API; the plan deep-clones them
 * across metastores, or binds the catalogs when both workspaces share one. Two Databricks test workspaces (the
 * control-plane API, devenv/databricks/unityCatalogApi.ts, behind the contract gate that refuses the product an
 * unlisted route), with short listing pages so that every listing is paged. The SQL is not run (no Databricks SQL
 * engine here): each statement is parsed for its shape, quoted names and the table it makes.
 */
import * as assert from "assert";
import fc from "fast-check";
import * as http from "http";
import { RetryPolicy } from "../../clients/http";
import { Endpoint } from "../../clients/mlflow";
import { ControlPlaneState } from "../../devenv/databricks/controlPlaneState";
import { DatabricksControlApi } from "../../devenv/databricks/databricksControlApi";
import { outsideContract } from "../../devenv/databricks/sdkContract";
import { WorkspaceApi } from "../../devenv/databricks/workspaceApi";
import { closeServer, listenLoopback } from "../../devenv/loopback";
import {
  CatalogEntry,
  metastoreAssignment,
  quoteName,
  renderTablePlan,
  tableInventory,
  TableInventory,
  tablePlan,
  TablePlan,
} from "../../migration/tables";

const RETRY: RetryPolicy = { attempts: 1, backoffMs: 1 };
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const ANALYST = "grace.lee@quantfirm.example";
const OUTSIDER = "eve.stone@quantfirm.example";

interface Workspace {
  state: ControlPlaneState;
  api: DatabricksControlApi;
  url: string;
  server: http.Server;
  /** Every answer, `METHOD /path?query -> status`. */
  answered: string[];
}

/** A Databricks workspace's control plane on a loopback port, the contract gate in front as on the local platform. */
async function workspace(token: string, workspaceId: string): Promise<Workspace> {
  const api = new DatabricksControlApi({ token, workspace: new WorkspaceApi(), workspaceId });
  const answered: string[] = [];
  const server = http.createServer((req, res) => {
    res.on("finish", () => answered.push(`${req.method} ${req.url} -> ${res.statusCode}`));
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      if (outsideContract(req, res)) return;
      if (!(await api.handle(req, res, Buffer.concat(chunks)))) {
        res.writeHead(501);
        res.end();
      }
    });
  });
  api.unityCatalog.listPageSize = 2;
  return { state: api.state, api, url: await listenLoopback(server), server, answered };
}

const endpoint = (ws: Workspace, token: string): Endpoint => ({
  uri: `databricks+${ws.url}`,
  baseUrl: ws.url,
  token,
  transport: "databricks",
});
const stats = (bytes: number, rows: number) => ({
  "spark.sql.statistics.totalSize": String(bytes),
  "spark.sql.statistics.numRows": String(rows),
});

/** The source workspace's tables: Unity Catalog's `main`, the Hive metastore's `legacy`, and catalogs no plan copies. */
function seed(s: ControlPlaneState): void {
  s.addTable("main.quant.daily_prices", { properties: stats(3 * GiB, 1_200_000), columns: [{ name: "d", type: "date" }] });
  s.addTable("main.quant.fills"); // never analysed: no size
  s.addTable("main.quant.fx-rates", { properties: stats(64 * MiB, 80_000) });
  s.addTable("main.quant.vendor_ticks", {
    tableType: "EXTERNAL",
    dataSourceFormat: "PARQUET",
    storageLocation: "s3://quant-lake/vendor/ticks",
    properties: stats(512 * MiB, 9_000_000),
  });
  s.addTable("main.quant.marks", { tableType: "EXTERNAL", storageLocation: "s3://quant-lake/marks", properties: stats(2 * MiB, 700) });
  s.addTable("main.quant.latest_prices", {
    tableType: "VIEW",
    viewDefinition: "SELECT * FROM daily_prices WHERE d = (SELECT max(d) FROM daily_prices)",
  });
  s.addTable("main.quant.signal_mv", { tableType: "MATERIALIZED_VIEW", viewDefinition: "SELECT d, avg(px) FROM daily_prices GROUP BY d" });
  s.addTable("main.research.features", { properties: stats(10 * MiB, 40_000) });
  s.addTable("hive_metastore.legacy.positions", { dataSourceFormat: "PARQUET", properties: { totalSize: "2048", numRows: "12" } });
  s.addTable("hive_metastore.legacy.trades", { properties: { totalSize: String(GiB), numRows: "-1" } }); // Hive's -1: rows unknown
  s.addTable("hive_metastore.legacy.raw_quotes", {
    tableType: "EXTERNAL",
    dataSourceFormat: "CSV",
    storageLocation: "dbfs:/mnt/raw/quotes",
  });
  s.addTable("hive_metastore.legacy.events", { tableType: "EXTERNAL", dataSourceFormat: "HIVE", storageLocation: "dbfs:/mnt/raw/events" });
  s.ucCatalogs.set("partner_feed", { name: "partner_feed", catalogType: "DELTASHARING_CATALOG" });
  s.addTable("partner_feed.eod.closes", { properties: stats(MiB, 10) });
  s.ucCatalogs.set("samples", { name: "samples", catalogType: "DELTASHARING_CATALOG" });
  s.addTable("samples.nyctaxi.trips");
  s.ucCatalogs.set("__databricks_internal", { name: "__databricks_internal", catalogType: "INTERNAL_CATALOG" });
  s.addTable("__databricks_internal.pipelines.state");
}

/** One line per table: `full name, type, format, size`. */
const lines = (inv: TableInventory) =>
  inv.catalogs.flatMap((c) =>
    c.schemas.flatMap((s) => s.tables.map((t) => `${t.fullName} ${t.type} ${t.format ?? "-"} ${t.sizeBytes ?? "?"}`)),
  );

// The shapes a statement may take: every name backtick-quoted, three parts for a table.
const ID = "`(?:[^`]|``)+`";
const T3 = `${ID}\\.${ID}\\.${ID}`;
const SHAPES: { kind: string; rank: number; re: RegExp }[] = [
  { kind: "catalog", rank: 0, re: new RegExp(`^CREATE CATALOG IF NOT EXISTS (${ID})$`) },
  { kind: "schema", rank: 1, re: new RegExp(`^CREATE SCHEMA IF NOT EXISTS (${ID}\\.${ID})$`) },
  { kind: "deep-clone", rank: 2, re: new RegExp(`^CREATE TABLE IF NOT EXISTS (${T3}) DEEP CLONE (${T3})(?: LOCATION '([^']+)')?$`) },
  {
    kind: "ctas",
    rank: 2,
    re: new RegExp(`^CREATE TABLE IF NOT EXISTS (${T3})(?: USING [A-Z]+ LOCATION '([^']+)')? AS SELECT \\* FROM (${T3})$`),
  },
  { kind: "register", rank: 2, re: new RegExp(`^CREATE TABLE IF NOT EXISTS (${T3}) USING [A-Z]+ LOCATION '([^']+)'$`) },
  { kind: "use", rank: 3, re: new RegExp(`^USE (?:CATALOG|SCHEMA) (${ID})$`) },
  { kind: "view", rank: 3, re: new RegExp(`^CREATE VIEW IF NOT EXISTS (${T3}) AS (.+)$`, "s") },
];
const unquote = (q: string) => [...q.matchAll(/`((?:[^`]|``)+)`/g)].map((m) => m[1].replace(/``/g, "`")).join(".");

/** Each statement's kind and the table it makes (and reads), failing on one of no known shape or out of order. */
function parse(statements: string[]): { kind: string; made: string; read?: string; location?: string }[] {
  let rank = 0;
  return statements.map((s) => {
    const shape = SHAPES.find((x) => x.re.test(s));
    assert.ok(shape, `a statement of no known shape: ${s}`);
    assert.ok(shape.rank >= rank, `out of order (catalogs, schemas, tables, views): ${s}`);
    rank = shape.rank;
    const m = shape.re.exec(s)!;
    if (shape.kind === "deep-clone") return { kind: shape.kind, made: unquote(m[1]), read: unquote(m[2]), location: m[3] };
    if (shape.kind === "ctas") return { kind: shape.kind, made: unquote(m[1]), read: unquote(m[3]), location: m[2] };
    if (shape.kind === "register") return { kind: shape.kind, made: unquote(m[1]), location: m[2] };
    return { kind: shape.kind, made: unquote(m[1]) };
  });
}

/** Every table of the inventory is made by exactly one statement or named as not covered, and nothing else is made. */
function coveredOnce(plan: TablePlan, inv: TableInventory, targetOf: (fullName: string) => string): void {
  const made = parse(plan.statements)
    .filter((p) => !["catalog", "schema", "use"].includes(p.kind))
    .map((p) => p.made);
  assert.strictEqual(new Set(made).size, made.length, `a table made twice: ${made}`);
  const notCovered = plan.notCovered.map((n) => n.object);
  const expected = inv.catalogs.flatMap((c) => c.schemas.flatMap((s) => s.tables.map((t) => t.fullName)));
  const uncoveredCatalogs = notCovered.filter((o) => o.startsWith("catalog ")).map((o) => o.slice("catalog ".length));
  for (const t of expected) {
    const inCatalog = uncoveredCatalogs.includes(t.split(".")[0]);
    const times = made.filter((m) => m === targetOf(t)).length + (notCovered.includes(t) ? 1 : 0) + (inCatalog ? 1 : 0);
    assert.strictEqual(times, 1, `${t} is made or named ${times} times`);
  }
  assert.deepStrictEqual(
    made.filter((m) => !expected.some((t) => targetOf(t) === m)),
    [],
    "a statement makes a table the source does not hold",
  );
}

describe("tables in the move plan: inventory, DEEP CLONE across metastores, catalog binding on a shared one", function () {
  this.timeout(60000);
  const SRC = `dapi-tables-src-${process.pid}`;
  const DST = `dapi-tables-dst-${process.pid}`;
  let src: Workspace;
  let dst: Workspace;
  let inventory: TableInventory;

  before(async () => {
    [src, dst] = await Promise.all([workspace(SRC, "1111222233334444"), workspace(DST, "5555666677778888")]);
    seed(src.state);
    for (const [who, token] of [
      [ANALYST, "dapi-analyst"],
      [OUTSIDER, "dapi-outsider"],
    ])
      src.state.tokens.set(token, src.state.addUser(who).id);
    // The analyst may read one table of main.quant: USE CATALOG, USE SCHEMA, and SELECT on it.
    src.state.ucGrants.set("catalog/main", new Map([[ANALYST, new Set(["USE_CATALOG"])]]));
    src.state.ucGrants.set("schema/main.quant", new Map([[ANALYST, new Set(["USE_SCHEMA"])]]));
    src.state.ucGrants.set("table/main.quant.daily_prices", new Map([[ANALYST, new Set(["SELECT"])]]));
    inventory = await tableInventory(endpoint(src, SRC), {}, RETRY);
  });
  after(async () => {
    await Promise.all([closeServer(src?.server), closeServer(dst?.server)]);
  });
  afterEach(() => {
    for (const ws of [src, dst])
      assert.deepStrictEqual(
        ws.answered.filter((a) => / -> 501$/.test(a)),
        [],
        "a call outside the contract",
      );
  });

  it("the inventory lists every table the source holds, Hive metastore and Unity Catalog, with its size; system catalogs and information_schema are left out", () => {
    assert.strictEqual(inventory.metastoreId, src.state.metastoreId);
    assert.strictEqual(inventory.workspaceId, "1111222233334444");
    assert.deepStrictEqual(
      inventory.catalogs.map((c) => `${c.name}: ${c.schemas.map((s) => s.name).join(", ")}`),
      ["hive_metastore: default, legacy", "main: quant, research", "partner_feed: eod"],
    );
    assert.deepStrictEqual(lines(inventory), [
      "hive_metastore.legacy.events EXTERNAL HIVE ?",
      "hive_metastore.legacy.positions MANAGED PARQUET 2048",
      "hive_metastore.legacy.raw_quotes EXTERNAL CSV ?",
      `hive_metastore.legacy.trades MANAGED DELTA ${GiB}`,
      `main.quant.daily_prices MANAGED DELTA ${3 * GiB}`,
      "main.quant.fills MANAGED DELTA ?",
      `main.quant.fx-rates MANAGED DELTA ${64 * MiB}`,
      "main.quant.latest_prices VIEW - ?",
      `main.quant.marks EXTERNAL DELTA ${2 * MiB}`,
      "main.quant.signal_mv MATERIALIZED_VIEW - ?",
      `main.quant.vendor_ticks EXTERNAL PARQUET ${512 * MiB}`,
      `main.research.features MANAGED DELTA ${10 * MiB}`,
      `partner_feed.eod.closes MANAGED DELTA ${MiB}`,
    ]);
    const table = (n: string) => inventory.catalogs.flatMap((c) => c.schemas.flatMap((s) => s.tables)).find((t) => t.fullName === n)!;
    assert.deepStrictEqual(
      [table("main.quant.daily_prices").rows, table("hive_metastore.legacy.positions").rows, table("hive_metastore.legacy.trades").rows],
      [1_200_000, 12, undefined],
    );
    assert.strictEqual(table("main.quant.vendor_ticks").location, "s3://quant-lake/vendor/ticks");
    assert.match(table("main.quant.latest_prices").viewDefinition ?? "", /^SELECT \* FROM daily_prices/);
    assert.deepStrictEqual(
      inventory.catalogs.map((c) => [c.name, c.type ?? "-", c.isolation ?? "-"]),
      [
        ["hive_metastore", "-", "-"],
        ["main", "MANAGED_CATALOG", "OPEN"],
        ["partner_feed", "DELTASHARING_CATALOG", "OPEN"],
      ],
    );
    // Every listing was read to its end over pages of two.
    assert.ok(
      src.state.calls.some((c) => c.startsWith("GET /api/2.1/unity-catalog/tables?") && c.includes("page_token=")),
      "no table listing was paged",
    );
  });

  it("the inventory of named catalogs reads only those, and a named catalog the source lacks fails, naming it", async () => {
    const only = await tableInventory(endpoint(src, SRC), { catalogs: ["MAIN"] }, RETRY);
    assert.deepStrictEqual(
      only.catalogs.map((c) => c.name),
      ["main"],
    );
    await assert.rejects(tableInventory(endpoint(src, SRC), { catalogs: ["main", "finance"] }, RETRY), /catalog 'finance' not found/);
  });

  it("across metastores the plan deep-clones every Delta table, recreates views and names what it cannot clone", async () => {
    const target = await metastoreAssignment(endpoint(dst, DST), RETRY);
    assert.notStrictEqual(target.metastoreId, inventory.metastoreId);
    const plan = tablePlan(inventory, target.metastoreId);
    assert.strictEqual(plan.mode, "clone");
    assert.strictEqual(plan.runIn, "target");
    coveredOnce(plan, inventory, (t) => t);
    const parsed = parse(plan.statements);
    const how = (t: string) => parsed.find((p) => p.made === t && !["catalog", "schema", "use"].includes(p.kind));
    // Delta tables, managed or external, deep-cloned from the catalog the target reads the source through.
    for (const t of [
      "main.quant.daily_prices",
      "main.quant.fills",
      "main.quant.fx-rates",
      "main.research.features",
      "hive_metastore.legacy.trades",
    ])
      assert.deepStrictEqual(how(t), { kind: "deep-clone", made: t, read: `from_${t}`, location: undefined }, t);
    assert.ok(plan.statements.includes("CREATE TABLE IF NOT EXISTS `main`.`quant`.`fx-rates` DEEP CLONE `from_main`.`quant`.`fx-rates`"));
    // A Hive metastore Parquet table: CTAS. External tables without a location map: registered on their storage.
    assert.deepStrictEqual(how("hive_metastore.legacy.positions"), {
      kind: "ctas",
      made: "hive_metastore.legacy.positions",
      read: "from_hive_metastore.legacy.positions",
      location: undefined,
    });
    assert.deepStrictEqual(how("main.quant.vendor_ticks"), {
      kind: "register",
      made: "main.quant.vendor_ticks",
      location: "s3://quant-lake/vendor/ticks",
    });
    assert.deepStrictEqual(how("main.quant.marks"), { kind: "register", made: "main.quant.marks", location: "s3://quant-lake/marks" });
    assert.deepStrictEqual(how("hive_metastore.legacy.raw_quotes")?.kind, "register");
    // The view, after every table, in its own schema.
    const view = plan.statements.indexOf(
      "CREATE VIEW IF NOT EXISTS `main`.`quant`.`latest_prices` AS SELECT * FROM daily_prices WHERE d = (SELECT max(d) FROM daily_prices)",
    );
    assert.ok(view > 0, "the view is not made again from its definition");
    assert.deepStrictEqual(plan.statements.slice(view - 2, view), ["USE CATALOG `main`", "USE SCHEMA `quant`"]);
    // Catalogs (not hive_metastore, which the target has) and schemas first.
    assert.deepStrictEqual(
      parsed.filter((p) => p.kind === "catalog" || p.kind === "schema").map((p) => p.made),
      ["main", "hive_metastore.default", "hive_metastore.legacy", "main.quant", "main.research"],
    );
    assert.deepStrictEqual(plan.notCovered, [
      {
        object: "hive_metastore.legacy.events",
        why: "an external HIVE table (dbfs:/mnt/raw/events): register it by hand with its SerDe and options",
      },
      { object: "main.quant.signal_mv", why: "a materialized view: its pipeline makes it again in the target" },
      { object: "catalog partner_feed", why: "a Delta Sharing catalog: create it again in the target from its share" },
    ]);
    // Row counts: one query per side for every copied table (views are computed, not copied).
    assert.deepStrictEqual(
      plan.reconciliation.map((r) => r.table),
      [
        "hive_metastore.legacy.positions",
        "hive_metastore.legacy.raw_quotes",
        "hive_metastore.legacy.trades",
        "main.quant.daily_prices",
        "main.quant.fills",
        "main.quant.fx-rates",
        "main.quant.marks",
        "main.quant.vendor_ticks",
        "main.research.features",
      ],
    );
    const prices = plan.reconciliation.find((r) => r.table === "main.quant.daily_prices")!;
    assert.deepStrictEqual(prices, {
      table: "main.quant.daily_prices",
      source: "SELECT COUNT(*) AS row_count FROM `main`.`quant`.`daily_prices`",
      target: "SELECT COUNT(*) AS row_count FROM `main`.`quant`.`daily_prices`",
      expectedRows: 1_200_000,
    });
    // The file: the header says where the source must be readable, the totals and what is left out; every statement ends in `;`.
    const text = renderTablePlan(plan);
    const [header, body] = text.split("\n\n");
    assert.ok(
      header.split("\n").every((l) => l.startsWith("--")),
      "the header is not all comments",
    );
    assert.match(header, /CLONE\. Source metastore .* different metastores/);
    assert.match(header, /Delta Sharing .* from_hive_metastore \(hive_metastore\), from_main \(main\)/);
    assert.match(header, /Tables: 12 \(4\.6 GiB in the 8 of known size; 4 of unknown size: ANALYZE TABLE/);
    assert.match(header, /views: 1\./);
    assert.match(header, /main\.quant\.signal_mv: a materialized view/);
    assert.strictEqual(body.split("\n").filter((l) => l.endsWith(";")).length, plan.statements.length);
    assert.match(text, /-- main\.quant\.daily_prices \(statistics: 1200000 rows\)\n-- {3}source: SELECT COUNT\(\*\)/);
  });

  it("across metastores, a location map copies external tables to the new storage, and catalog and read-through names are the operator's", () => {
    const plan = tablePlan(inventory, "another-metastore", {
      catalogMap: { main: "quant_main", hive_metastore: "legacy" },
      readVia: { main: "share_main" },
      locationMap: { "s3://quant-lake/": "s3://quant-lake-eu/" },
    });
    const rename = (t: string) => t.replace(/^main\./, "quant_main.").replace(/^hive_metastore\./, "legacy.");
    coveredOnce(plan, inventory, rename);
    assert.ok(
      plan.statements.includes(
        "CREATE TABLE IF NOT EXISTS `quant_main`.`quant`.`marks` DEEP CLONE `share_main`.`quant`.`marks` LOCATION 's3://quant-lake-eu/marks'",
      ),
    );
    assert.ok(
      plan.statements.includes(
        "CREATE TABLE IF NOT EXISTS `quant_main`.`quant`.`vendor_ticks` USING PARQUET LOCATION 's3://quant-lake-eu/vendor/ticks' AS SELECT * FROM `share_main`.`quant`.`vendor_ticks`",
      ),
    );
    assert.ok(plan.statements.includes("CREATE CATALOG IF NOT EXISTS `legacy`"));
    // The counts compare the source's own name with the target's.
    const marks = plan.reconciliation.find((r) => r.table === "main.quant.marks")!;
    assert.deepStrictEqual(
      [marks.source, marks.target],
      ["SELECT COUNT(*) AS row_count FROM `main`.`quant`.`marks`", "SELECT COUNT(*) AS row_count FROM `quant_main`.`quant`.`marks`"],
    );
    const twin = {
      ...inventory,
      catalogs: [...inventory.catalogs, { ...inventory.catalogs.find((c) => c.name === "main")!, name: "main_eu" }],
    };
    assert.throws(
      () => tablePlan(twin, "another-metastore", { catalogMap: { main_eu: "main" } }),
      /several tables to one name:\n - main\.quant\.daily_prices: main\.quant\.daily_prices, main_eu\.quant\.daily_prices/,
    );
    assert.throws(
      () => tablePlan(inventory, "another-metastore", { readVia: { main: "main" } }),
      /read through the catalog they are copied to/,
    );
  });

  it("on a shared metastore the plan binds the catalog instead of copying, and copies only the Hive metastore, from the source", async () => {
    const own = dst.state.metastoreId;
    dst.state.metastoreId = src.state.metastoreId;
    src.state.ucCatalogs.set("main", { name: "main", isolationMode: "ISOLATED" });
    const shared = await tableInventory(endpoint(src, SRC), {}, RETRY);
    const target = await metastoreAssignment(endpoint(dst, DST), RETRY);
    dst.state.metastoreId = own;
    src.state.ucCatalogs.delete("main");
    const plan = tablePlan(shared, target.metastoreId, { targetWorkspaceId: target.workspaceId });
    assert.strictEqual(plan.mode, "bind");
    if (plan.mode !== "bind") return;
    assert.strictEqual(plan.runIn, "source");
    assert.deepStrictEqual(plan.catalogs, [
      {
        catalog: "main",
        isolation: "ISOLATED",
        action: "bind",
        call: 'PATCH /api/2.1/unity-catalog/bindings/catalog/main {"add": [{"workspace_id": 5555666677778888, "binding_type": "BINDING_TYPE_READ_WRITE"}]}',
      },
      { catalog: "partner_feed", isolation: "OPEN", action: "none" },
    ]);
    // Nothing of Unity Catalog is copied: every statement makes a table of the Hive metastore in a Unity Catalog catalog.
    const parsed = parse(plan.statements);
    assert.ok(parsed.length > 0);
    for (const p of parsed)
      assert.match(p.made, /^legacy_hive_metastore(\.|$)|^(default|legacy)$/, `a statement outside the Hive metastore's copy: ${p.made}`);
    assert.deepStrictEqual(
      parsed.filter((p) => p.kind === "deep-clone").map((p) => `${p.read} -> ${p.made}`),
      ["hive_metastore.legacy.trades -> legacy_hive_metastore.legacy.trades"],
    );
    assert.deepStrictEqual(
      plan.tables.filter((t) => t.how === "bind").map((t) => t.source),
      [
        "main.quant.daily_prices",
        "main.quant.fills",
        "main.quant.fx-rates",
        "main.quant.latest_prices",
        "main.quant.marks",
        "main.quant.signal_mv",
        "main.quant.vendor_ticks",
        "main.research.features",
        "partner_feed.eod.closes",
      ],
    );
    const header = renderTablePlan(plan).split("\n\n")[0];
    assert.match(header, /BIND\. Source and target share metastore/);
    assert.match(header, /main: ISOLATED, bind the target workspace: PATCH/);
    assert.match(header, /Run the statements below in the SOURCE workspace/);
    assert.throws(
      () => tablePlan(shared, target.metastoreId, { catalogMap: { hive_metastore: "hive_metastore" } }),
      /Unity Catalog catalog/,
    );
  });

  it("a caller sees only the tables they may read: the analyst one table of main.quant, the outsider none of main", async () => {
    const analyst = await tableInventory(endpoint(src, "dapi-analyst"), {}, RETRY);
    assert.deepStrictEqual(
      lines(analyst).filter((l) => !l.startsWith("hive_metastore.")),
      [`main.quant.daily_prices MANAGED DELTA ${3 * GiB}`],
    );
    assert.deepStrictEqual(
      analyst.catalogs.map((c) => `${c.name}: ${c.schemas.map((s) => s.name).join(", ")}`),
      ["hive_metastore: default, legacy", "main: quant"],
    );
    const outsider = await tableInventory(endpoint(src, "dapi-outsider"), {}, RETRY);
    assert.deepStrictEqual(
      outsider.catalogs.map((c) => c.name),
      ["hive_metastore"],
    );
    await assert.rejects(tableInventory(endpoint(src, "dapi-outsider"), { catalogs: ["main"] }, RETRY), /catalog 'main' not found/);
    // What a get answers in the same case, in Unity Catalog's words.
    const get = async (path: string, token: string) => {
      const r = await fetch(`${src.url}/api/2.1/unity-catalog/${path}`, { headers: { Authorization: `Bearer ${token}` } });
      return `${r.status} ${((await r.json()) as { error_code?: string }).error_code ?? "OK"}`;
    };
    assert.deepStrictEqual(
      [
        await get("tables/main.quant.daily_prices", "dapi-analyst"),
        await get("tables/main.quant.fills", "dapi-analyst"),
        await get("tables/main.research.features", "dapi-analyst"),
        await get("tables/main.quant.nothing", "dapi-analyst"),
        await get("catalogs/main", "dapi-outsider"),
        await get("catalogs/finance", "dapi-outsider"),
        await get("schemas/main.nothing", SRC),
      ],
      [
        "200 OK",
        "403 PERMISSION_DENIED",
        "403 PERMISSION_DENIED",
        "404 TABLE_DOES_NOT_EXIST",
        "403 PERMISSION_DENIED",
        "404 CATALOG_DOES_NOT_EXIST",
        "404 SCHEMA_DOES_NOT_EXIST",
      ],
    );
  });
});

describe("table plan properties (fast-check)", () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9_`-]{0,6}$/);
  const table = fc.record({
    name,
    type: fc.constantFrom("MANAGED", "EXTERNAL", "VIEW", "STREAMING_TABLE"),
    format: fc.constantFrom("DELTA", "PARQUET", "HIVE", undefined),
    location: fc.constantFrom("s3://lake/a", "abfss://c@acct.dfs.core.windows.net/b", undefined),
    sizeBytes: fc.option(fc.nat(), { nil: undefined }),
  });
  const uniq = <T extends { name: string }>(xs: T[]) => xs.filter((x, i) => xs.findIndex((y) => y.name === x.name) === i);
  const inventoryArb = fc
    .uniqueArray(
      fc.record({
        name: fc.oneof(fc.constant("hive_metastore"), name),
        schemas: fc.array(fc.record({ name, tables: fc.array(table, { maxLength: 4 }) }), { maxLength: 3 }),
      }),
      { selector: (c) => c.name, maxLength: 3 },
    )
    .map((cs): TableInventory => ({
      metastoreId: "m-1",
      catalogs: cs.map((c): CatalogEntry => ({
        name: c.name,
        schemas: uniq(c.schemas).map((s) => ({
          name: s.name,
          tables: uniq(s.tables).map((t) => ({
            ...t,
            format: t.type === "VIEW" ? undefined : t.format,
            viewDefinition: t.type === "VIEW" ? "SELECT 1 AS one" : undefined,
            fullName: `${c.name}.${s.name}.${t.name}`,
          })),
        })),
      })),
    }));

  it("across metastores every table is made once or named, every name quoted, and the order of the inventory does not matter", () => {
    fc.assert(
      fc.property(inventoryArb, (inv) => {
        const plan = tablePlan(inv, "m-2");
        coveredOnce(plan, inv, (t) => t);
        const shuffled = { ...inv, catalogs: [...inv.catalogs].reverse().map((c) => ({ ...c, schemas: [...c.schemas].reverse() })) };
        assert.deepStrictEqual(tablePlan(shuffled, "m-2"), plan);
      }),
    );
  });

  it("on a shared metastore no statement touches a catalog but the Hive metastore's copy", () => {
    fc.assert(
      fc.property(inventoryArb, (inv) => {
        const plan = tablePlan(inv, "m-1");
        const hive = inv.catalogs.filter((c) => c.name === "hive_metastore");
        coveredOnce(plan, { ...inv, catalogs: hive }, (t) => t.replace(/^hive_metastore\./, "legacy_hive_metastore."));
        for (const s of plan.statements)
          assert.ok(!/^CREATE (TABLE|VIEW|SCHEMA|CATALOG) IF NOT EXISTS `(?!legacy_hive_metastore`)/.test(s), s);
      }),
    );
  });

  it("a name is quoted whole, a backtick in it doubled", () => {
    assert.strictEqual(quoteName("main", "we`ird", "fx-rates"), "`main`.`we``ird`.`fx-rates`");
  });
});
