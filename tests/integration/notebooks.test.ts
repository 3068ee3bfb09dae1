import * as assert from "assert";
import { migrateNotebooks, NotebookMigrationOptions, NotebookMigrationReport, walkWorkspace } from "../../migration/notebooks";
import { workspaceClient, WORKSPACE_CONTENT_LIMIT } from "../../clients/databricksWorkspace";
import { resolveEndpoint } from "../../migration/endpoint";
import { sha256 } from "../../migration/hashing";
import { isIncompleteMigration } from "../../migration/failure";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { SEEDED_NOTEBOOKS } from "../../devenv/localEnv";
import { migrateCli } from "../../cli/migrate";
import { UsageError } from "../../cli/command";

const FAST_RETRY = { attempts: 3, backoffMs: 20 };
const TOKEN_A = "dapi-old-workspace-token";
const TOKEN_B = "dapi-new-workspace-token";

/** A migration that must not resolve: it throws an IncompleteMigration, whose report is returned. */
async function incomplete(o: NotebookMigrationOptions) {
  const e = await migrateNotebooks(o).then(
    () => assert.fail("a migration with failed or conflicting objects must not resolve"),
    (x: unknown) => x,
  );
  assert.ok(isIncompleteMigration<NotebookMigrationReport>(e), String(e));
  return e;
}

describe("notebook migration over the Databricks Workspace API (in-repo test server)", function () {
  this.timeout(60000);
  let src: DatabricksTestServer;
  let dst: DatabricksTestServer;
  const ep = (s: DatabricksTestServer, side: "from" | "to", token: string) =>
    resolveEndpoint(`databricks+${s.url}`, side, { DATABRICKS_TOKEN: token });
  const from = () => ep(src, "from", TOKEN_A);
  const to = () => ep(dst, "to", TOKEN_B);
  const content = (s: DatabricksTestServer, p: string) => s.workspace.nodes.get(p)?.content?.toString("utf8");

  beforeEach(async () => {
    // No MLflow behind these two: the Workspace API alone is under test (the backend URL is never called).
    src = new DatabricksTestServer("http://127.0.0.1:9", TOKEN_A);
    dst = new DatabricksTestServer("http://127.0.0.1:9", TOKEN_B);
    await Promise.all([src.start(), dst.start()]);
    for (const nb of SEEDED_NOTEBOOKS) src.workspace.put(nb.path, nb.type, nb.content, nb.language);
    src.workspace.put("/Repos/alice@quant.example/quant-research", "REPO");
    src.workspace.put("/Shared/quant/empty-folder", "DIRECTORY");
  });
  afterEach(async () => {
    await Promise.all([src.stop(), dst.stop()]);
  });

  it("moves notebooks in SOURCE format with their language and files as files, checksums equal on both sides", async () => {
    const r = await migrateNotebooks({ from: from(), to: to(), paths: ["/Shared", "/Users"], retry: FAST_RETRY });
    assert.deepStrictEqual(
      r.objects.map((o) => o.outcome),
      SEEDED_NOTEBOOKS.map(() => "created"),
    );
    for (const nb of SEEDED_NOTEBOOKS) {
      const n = dst.workspace.nodes.get(nb.path)!;
      assert.deepStrictEqual([n.type, n.language], [nb.type, nb.language], nb.path);
      assert.strictEqual(n.content!.toString("utf8"), nb.content);
      assert.strictEqual(r.objects.find((o) => o.path === nb.path)!.sha256, sha256(nb.content));
    }
    assert.strictEqual(
      dst.workspace.nodes.get("/Shared/quant/templates/notebook_header.py")!.type,
      "FILE",
      "a file that looks like a notebook stays a file",
    );
    assert.strictEqual(dst.workspace.nodes.get("/Shared/quant/empty-folder")!.type, "DIRECTORY", "empty folders are created too");
    assert.ok(dst.workspace.calls.filter((c) => c === "POST import").length === SEEDED_NOTEBOOKS.length);
  });

  it("Git folders are listed, never copied: they move through Git", async () => {
    const r = await migrateNotebooks({ from: from(), to: to(), paths: ["/Shared", "/Repos"], retry: FAST_RETRY });
    assert.deepStrictEqual(r.gitFolders, ["/Repos/alice@quant.example/quant-research"]);
    assert.ok(!dst.workspace.nodes.has("/Repos/alice@quant.example/quant-research"));
    const walked = await walkWorkspace(workspaceClient(from()), ["/Workspace/Repos"]);
    assert.deepStrictEqual([walked.gitFolders, walked.objects], [["/Repos/alice@quant.example/quant-research"], []]);
  });

  it("a re-run finds everything identical and imports nothing", async () => {
    await migrateNotebooks({ from: from(), to: to(), paths: ["/Shared"], retry: FAST_RETRY });
    const imports = dst.workspace.calls.filter((c) => c === "POST import").length;
    const again = await migrateNotebooks({ from: from(), to: to(), paths: ["/Shared"], retry: FAST_RETRY });
    assert.ok(again.objects.every((o) => o.outcome === "identical"));
    assert.strictEqual(dst.workspace.calls.filter((c) => c === "POST import").length, imports);
  });

  it("a differing target object is a conflict and is not overwritten; --overwrite replaces it and verifies", async () => {
    dst.workspace.put(
      "/Shared/quant/features",
      "NOTEBOOK",
      "# Databricks notebook source\nprint('edited in the new workspace')\n",
      "PYTHON",
    );
    dst.workspace.put("/Shared/quant/backtest", "FILE", "not a notebook");
    const r = (await incomplete({ from: from(), to: to(), paths: ["/Shared"], retry: FAST_RETRY })).report;
    const byPath = Object.fromEntries(r.objects.map((o) => [o.path, o]));
    assert.strictEqual(byPath["/Shared/quant/features"].outcome, "conflict");
    assert.match(
      byPath["/Shared/quant/features"].problem!,
      /content differs from the source's; not overwritten \(pass --overwrite to replace it\)/,
    );
    assert.match(byPath["/Shared/quant/backtest"].problem!, /the target holds a file there, the source a scala notebook/);
    assert.strictEqual(content(dst, "/Shared/quant/features"), "# Databricks notebook source\nprint('edited in the new workspace')\n");
    assert.strictEqual(byPath["/Shared/quant/config/thresholds.json"].outcome, "created", "the rest still moves");

    const out: string[] = [];
    assert.strictEqual(
      await migrateCli(
        ["--from", `databricks+${src.url}`, "--to", `databricks+${dst.url}`, "--notebooks", "/Shared"],
        { MIGRATE_FROM_TOKEN: TOKEN_A, MIGRATE_TO_TOKEN: TOKEN_B },
        (s) => out.push(s),
        () => undefined,
        false,
      ),
      1,
      "conflicts exit 1",
    );
    assert.match(out.join("\n"), /2 conflicts/);

    const o = await migrateNotebooks({ from: from(), to: to(), paths: ["/Shared"], overwrite: true, retry: FAST_RETRY });
    assert.deepStrictEqual(
      o.objects.filter((x) => x.outcome === "overwritten").map((x) => x.path),
      ["/Shared/quant/backtest", "/Shared/quant/features"],
    );
    assert.strictEqual(content(dst, "/Shared/quant/features"), SEEDED_NOTEBOOKS.find((n) => n.path === "/Shared/quant/features")!.content);
    assert.strictEqual(dst.workspace.nodes.get("/Shared/quant/backtest")!.type, "NOTEBOOK");
  });

  it("size limits: an object over 10 MB fails with the reason and the limit, and the others still move", async () => {
    src.workspace.put("/Shared/quant/data/ticks.parquet", "FILE", Buffer.alloc(WORKSPACE_CONTENT_LIMIT + 1, 1));
    const thrown = await incomplete({ from: from(), to: to(), paths: ["/Shared"], retry: FAST_RETRY });
    assert.deepStrictEqual(
      thrown.failures.map((f) => [f.item, f.outcome]),
      [["/Shared/quant/data/ticks.parquet", "failed"]],
      "a library caller is told what did not move",
    );
    assert.match(
      thrown.message,
      /notebooks under \/Shared were not migrated completely to databricks\+http:\/\/127\.0\.0\.1:\d+: 1 of 6 did not move \(1 failed, 0 conflicts\)\n - failed: file '\/Shared\/quant\/data\/ticks\.parquet': it is 10485761 bytes/,
    );
    const r = thrown.report;
    const big = r.objects.find((o) => o.path === "/Shared/quant/data/ticks.parquet")!;
    assert.strictEqual(big.outcome, "failed");
    assert.match(
      big.problem!,
      /file '\/Shared\/quant\/data\/ticks.parquet': it is 10485761 bytes; the Workspace API moves at most 10485760 bytes \(10 MB\)/,
    );
    assert.ok(!dst.workspace.nodes.has("/Shared/quant/data/ticks.parquet"));
    assert.strictEqual(r.objects.filter((o) => o.outcome === "created").length, 5);
    // The server's own limits, as documented: export and import refuse content over 10 MB.
    const ws = workspaceClient(from(), FAST_RETRY);
    await assert.rejects(ws.export({ path: "/Shared/quant/data/ticks.parquet", object_type: "FILE" }), /400 MAX_NOTEBOOK_SIZE_EXCEEDED/);
    await assert.rejects(
      workspaceClient(to(), FAST_RETRY).import(
        { path: "/Shared/big.bin", object_type: "FILE" },
        Buffer.alloc(WORKSPACE_CONTENT_LIMIT + 1),
        false,
      ),
      /import of file '\/Shared\/big.bin'.*400 MAX_NOTEBOOK_SIZE_EXCEEDED/,
    );
  });

  it("documented error codes reach the user with the object named: 404, 400 RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE, 401", async () => {
    const ws = workspaceClient(to(), FAST_RETRY);
    await assert.rejects(
      migrateNotebooks({ from: from(), to: to(), paths: ["/Shared/nope"], retry: FAST_RETRY }),
      /workspace path '\/Shared\/nope' does not exist on databricks\+http/,
    );
    await assert.rejects(
      ws.import({ path: "/Missing/parent/nb", object_type: "NOTEBOOK", language: "PYTHON" }, Buffer.from("x"), false),
      /404 RESOURCE_DOES_NOT_EXIST: The parent folder \(\/Missing\/parent\) does not exist/,
    );
    await ws.mkdirs("/Shared");
    await ws.import({ path: "/Shared/a", object_type: "FILE" }, Buffer.from("x"), false);
    await assert.rejects(
      ws.import({ path: "/Shared/a", object_type: "FILE" }, Buffer.from("y"), false),
      /400 RESOURCE_ALREADY_EXISTS: Path \(\/Shared\/a\) already exists/,
    );
    await assert.rejects(
      ws.mkdirs("/Shared/a/b"),
      /400 RESOURCE_ALREADY_EXISTS: Path \(\/Shared\/a\) already exists and it is not a folder/,
    );
    await assert.rejects(
      ws.import({ path: "/Shared/nb", object_type: "NOTEBOOK" }, Buffer.from("x"), false),
      /400 INVALID_PARAMETER_VALUE: The language field is required/,
    );
    // A folder where the source has a notebook's parent: the move stops before copying anything under it.
    dst.workspace.put("/Shared/quant", "FILE", "in the way");
    await assert.rejects(
      migrateNotebooks({ from: from(), to: to(), paths: ["/Shared"], retry: FAST_RETRY }),
      /cannot create folder '\/Shared\/quant': .*400 RESOURCE_ALREADY_EXISTS: Path \(\/Shared\/quant\) already exists and it is not a folder; nothing under it was copied/,
    );
    const bad = resolveEndpoint(`databricks+${dst.url}`, "to", { DATABRICKS_TOKEN: "dapi-wrong-token" });
    await assert.rejects(
      migrateNotebooks({ from: from(), to: bad, paths: ["/Shared"], retry: FAST_RETRY }),
      (e: Error) => /401 UNAUTHENTICATED/.test(e.message) && !e.message.includes("dapi-wrong-token"),
    );
  });

  it("429 with Retry-After and 503 are retried", async () => {
    src.workspace.failures.push(
      { status: 429, code: "REQUEST_LIMIT_EXCEEDED", retryAfter: 0 },
      { status: 503, code: "TEMPORARILY_UNAVAILABLE" },
    );
    dst.workspace.failures.push({ status: 503, code: "TEMPORARILY_UNAVAILABLE" });
    const r = await migrateNotebooks({ from: from(), to: to(), paths: ["/Shared"], retry: FAST_RETRY });
    assert.ok(r.objects.every((o) => o.outcome === "created"));
  });

  it("a dry run exports and checksums but writes nothing; the CLI refuses notebooks between tracking servers", async () => {
    const r = await migrateNotebooks({ from: from(), to: to(), paths: ["/Shared"], dryRun: true, retry: FAST_RETRY });
    assert.ok(r.objects.every((o) => o.outcome === "planned" && o.sha256));
    assert.deepStrictEqual([...dst.workspace.nodes.keys()], ["/"]);
    await assert.rejects(
      migrateCli(
        ["--from", "http://127.0.0.1:5000", "--to", `databricks+${dst.url}`, "--notebooks", "/Shared"],
        {},
        () => undefined,
        () => undefined,
        false,
      ),
      (e) => e instanceof UsageError && /moves between Databricks workspaces/.test(e.message),
    );
    await assert.rejects(
      migrateCli(
        ["--from", `databricks+${src.url}`, "--to", `databricks+${dst.url}`, "--notebooks", "/Shared", "--model", "m"],
        {},
        () => undefined,
        () => undefined,
        false,
      ),
      (e) => e instanceof UsageError && /exactly one of --model, --experiment or --notebooks/.test(e.message),
    );
  });
});
