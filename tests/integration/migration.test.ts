import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkTarget, migrate, MigrateOptions } from "../../migration/modelVersion";
import { TAG } from "../../migration/provenance";
import { resolveEndpoint } from "../../migration/endpoint";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { liveServers } from "../fixtures/liveServers";
import { FixtureInfo, MlflowServer, python, seedFixture } from "../../devenv/localMlflow";
import { FaultProxy } from "../fixtures/faultProxy";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { downloadWithDatabricksClient } from "../../devenv/databricks/databricksClientCheck";
import { shippedModel } from "../fixtures/config";
import { assertUnchanged, rejectsWithoutWrites, targetSnapshot } from "../fixtures/targetSnapshot";

const FAST_RETRY = { attempts: 4, backoffMs: 50 };
const oss = (url: string, side: "from" | "to" = "to") => resolveEndpoint(url, side, {});

/** The MLflow Python client's own download of a version: the independent check of every byte. */
function downloaded(server: { url: string }, model: string, version: string) {
  return JSON.parse(python("download_version.py", ["--tracking-uri", server.url, "--model", model, "--version", version]));
}

async function versionsOf(server: { url: string }, model: string) {
  const c = mlflowClient(oss(server.url));
  return (await c.getRegisteredModel(model)) ? c.listVersions(model) : [];
}

describe("model migration between two real MLflow servers", function () {
  this.timeout(900000);
  let a: MlflowServer;
  let b: MlflowServer;
  let alpha: FixtureInfo;
  let beta: FixtureInfo;
  const base = (over: Partial<MigrateOptions> = {}): MigrateOptions => ({
    from: oss(a.url, "from"),
    to: oss(b.url),
    model: "quant-alpha-transformer",
    select: { alias: "champion" },
    retry: FAST_RETRY,
    ...over,
  });

  before(async () => {
    ({ a, b } = await liveServers());
    alpha = seedFixture(a, "quant-alpha-transformer", { sizeMb: 6, layout: "run", shards: 3 });
    beta = seedFixture(a, "quant-beta-transformer", { sizeMb: 2, layout: "logged", shards: 2 });
  });

  describe("happy path", () => {
    let report: Awaited<ReturnType<typeof migrate>>;
    before(async () => {
      report = await migrate(base());
    });

    it("migrates the champion: every file byte-identical, checked independently with the MLflow Python client", () => {
      assert.strictEqual(report.adopted, false);
      assert.strictEqual(report.files, alpha.files.length);
      assert.strictEqual(
        report.bytes,
        alpha.files.reduce((s, f) => s + f.size, 0),
      );
      assert.deepStrictEqual(downloaded(b, "quant-alpha-transformer", report.targetVersion!), alpha.files);
    });

    it("the report says where the time went: wall ms per phase, within the migration's duration", () => {
      const p = report.phasesMs;
      for (const phase of [
        "resolve",
        "listing",
        "prepare",
        "copy",
        "lineage",
        "manifest",
        "registration",
        "readyWait",
        "election",
        "lifecycle",
      ] as const)
        assert.ok(typeof p[phase] === "number" && p[phase]! >= 0, `phase ${phase}: ${JSON.stringify(p)}`);
      // Copy and lineage overlap; every other phase runs alone, so those add up to at most the duration.
      const serial = Object.entries(p)
        .filter(([k]) => k !== "lineage")
        .reduce((s, [, v]) => s + v!, 0);
      assert.ok(serial <= report.durationMs + 10, `${serial} ms of phases in ${report.durationMs} ms: ${JSON.stringify(p)}`);
    });

    it("the file names with spaces, unicode and '%' and the 0-byte file arrive intact", () => {
      const got = downloaded(b, "quant-alpha-transformer", report.targetVersion!).map(
        (f: { path: string; size: number }) => `${f.path}:${f.size}`,
      );
      assert.ok(got.includes("notes/eval report (50% holdout) – précision ✓.txt:40"), got.join("\n"));
      assert.ok(got.includes("components/tokenizer/added_tokens.json:0"));
    });

    it("the target version carries the description, tags, alias and provenance", async () => {
      const v = await mlflowClient(oss(b.url)).getModelVersion("quant-alpha-transformer", report.targetVersion!);
      const t = tagMap(v.tags);
      assert.strictEqual(v.description, "Alpha transformer, best of three iterations by precision.");
      assert.deepStrictEqual(v.aliases, ["champion"]);
      assert.strictEqual(t.task, "text-classification");
      assert.strictEqual(t[TAG.sourceHost], a.url);
      assert.strictEqual(t[TAG.sourceModel], "quant-alpha-transformer");
      assert.strictEqual(t[TAG.sourceVersion], alpha.version);
      assert.strictEqual(t[TAG.sourceRun], alpha.best_run_id);
      assert.strictEqual(t[TAG.manifestDigest], report.manifestDigest);
      assert.strictEqual(v.status, "READY");
    });

    it("the target run carries the source run's params, full precision history and tags", async () => {
      const run = await mlflowClient(oss(b.url)).getRun(report.targetRunId!);
      const params = tagMap(run.data.params);
      assert.strictEqual(params.learning_rate, "2e-5");
      const history = await mlflowClient(oss(b.url)).metricHistory(report.targetRunId!, "precision");
      assert.deepStrictEqual(
        history.map((m) => [m.step, m.value]),
        [
          [0, 0.74],
          [1, 0.83],
          [2, 0.87],
        ],
      );
      assert.strictEqual(tagMap(run.data.tags).dataset, "ticks-2019-2024");
      assert.strictEqual(run.info.status, "FINISHED");
    });

    it("a re-run adopts the migrated version and never duplicates it", async () => {
      const again = await migrate(base());
      assert.strictEqual(again.adopted, true);
      assert.strictEqual(again.targetVersion, report.targetVersion);
      assert.strictEqual(again.manifestDigest, report.manifestDigest);
      assert.strictEqual((await versionsOf(b, "quant-alpha-transformer")).length, 1);
    });

    it("read-back check of the target: sizes and full hashes match the manifest", async () => {
      const c = await checkTarget(oss(b.url), "quant-alpha-transformer", report.targetVersion!, "full");
      assert.deepStrictEqual([c.exists, c.problems, c.manifestDigest], [true, [], report.manifestDigest]);
    });

    it("an MLflow 3 logged model (models:/ source) migrates too", async () => {
      const r = await migrate(base({ model: "quant-beta-transformer", select: { version: beta.version } }));
      assert.deepStrictEqual(downloaded(b, "quant-beta-transformer", r.targetVersion!), beta.files);
    });

    it("resolves by version number and by stage, and copies the stage", async () => {
      await fetch(`${a.url}/api/2.0/mlflow/model-versions/transition-stage`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          name: "quant-alpha-transformer",
          version: alpha.version,
          stage: "Staging",
          archive_existing_versions: false,
        }),
      });
      const byStage = await migrate(base({ select: { stage: "Staging" }, toModel: "alpha-by-stage" }));
      const v = await mlflowClient(oss(b.url)).getModelVersion("alpha-by-stage", byStage.targetVersion!);
      assert.strictEqual(v.current_stage, "Staging");
      const byNumber = await migrate(base({ select: { version: alpha.version }, toModel: "alpha-by-number" }));
      assert.strictEqual(byNumber.manifestDigest, report.manifestDigest, "same files, same manifest digest");
    });

    it("--verify size with one file at a time gives the same manifest", async () => {
      const r = await migrate(base({ toModel: "alpha-size-verified", verify: "size", concurrency: 1 }));
      assert.strictEqual(r.manifestDigest, report.manifestDigest);
    });

    it("a dry run lists the files and sizes and writes nothing", async () => {
      const before = await targetSnapshot(oss(b.url));
      const r = await migrate(base({ toModel: "alpha-dry", dryRun: true }));
      assert.deepStrictEqual(
        r.plannedFiles,
        alpha.files.map((f) => ({ path: f.path, size: f.size })),
      );
      assertUnchanged(before, await targetSnapshot(oss(b.url)));
    });
  });

  describe("guards", () => {
    const model = shippedModel();
    const approvers = ["dara.singh@quantfirm.example", "chen.wei@quantfirm.example"];
    const guard = (fromEnv: string, toEnv: string, production = false) => ({ flow: model.flow, fromEnv, toEnv, production, approvers });

    it("refuses quant -> quant_live (not a flow edge) before touching either server", async () => {
      await rejectsWithoutWrites(
        oss(b.url),
        () => migrate(base({ toModel: "alpha-guarded", guard: guard("quant", "quant_live") })),
        /refusing to migrate from quant to quant_live: not an edge of the promotion flow \(allowed from quant: quant_stg\)/,
      );
    });

    // Genuine, self-, forged and non-approver approvals against the registry and Git host: approvalEvidence.test.ts.
    it("refuses promotion into production on an approval tag alone: a tag is not evidence", async () => {
      await fetch(`${a.url}/api/2.0/mlflow/model-versions/set-tag`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          name: "quant-alpha-transformer",
          version: alpha.version,
          key: TAG.approvedBy,
          value: "dara.singh@quantfirm.example",
        }),
      });
      await rejectsWithoutWrites(
        oss(b.url),
        () => migrate(base({ toModel: "alpha-guarded", guard: guard("quant_stg", "quant_lr", true) })),
        /refusing to promote model 'quant-alpha-transformer' version \d+ into production environment quant_lr: no approval evidence: .*the tag quant\.approval\.approved_by=dara\.singh@quantfirm\.example is not evidence/,
      );
    });
  });

  describe("clear errors", () => {
    it("a missing model, version or alias is named", async () => {
      await assert.rejects(migrate(base({ model: "no-such-model" })), new RegExp(`model 'no-such-model' does not exist on ${a.url}`));
      await assert.rejects(
        migrate(base({ select: { version: "99" } })),
        new RegExp(`model 'quant-alpha-transformer' has no version 99 on ${a.url}`),
      );
      await assert.rejects(migrate(base({ select: { alias: "ghost" } })), /model 'quant-alpha-transformer' has no alias 'ghost'/);
    });

    it("a bad token is reported with the server it was refused by, and is never printed", async () => {
      const gate = new FaultProxy(() => b.port);
      gate.requireToken = "right-token";
      const url = await gate.start();
      try {
        const to = resolveEndpoint(url, "to", { MLFLOW_TRACKING_TOKEN: "wrong-token-123" });
        await assert.rejects(migrate(base({ to, toModel: "alpha-token" })), (e: Error) => {
          assert.match(e.message, new RegExp(`${url}: .*failed: 401 UNAUTHENTICATED`));
          assert.ok(!e.message.includes("wrong-token-123"));
          return true;
        });
      } finally {
        await gate.stop();
      }
    });
  });

  describe("fault matrix (a loopback proxy in front of the target)", () => {
    let proxy: FaultProxy;
    let to: ReturnType<typeof oss>;
    before(async () => {
      proxy = new FaultProxy(() => b.port);
      to = oss(await proxy.start());
    });
    afterEach(() => {
      proxy.clear();
      proxy.afterResponse = undefined;
    });
    after(() => proxy.stop());
    const uploads = /^\/api\/2\.0\/mlflow-artifacts\/artifacts\/.*\/model\//;

    it("a byte flipped in transit on every upload: the run fails and no target version exists", async () => {
      proxy.add({ method: "PUT", path: uploads, action: { kind: "flip-request" }, times: Infinity });
      await assert.rejects(migrate(base({ to, toModel: "alpha-flipped" })), /verification failed: the target holds \d+ bytes with sha256/);
      assert.deepStrictEqual(await versionsOf(b, "alpha-flipped"), []);
    });

    it("a truncated read-back is retried and the migration still verifies", async () => {
      proxy.add({ method: "GET", path: uploads, action: { kind: "truncate-response" }, times: 2 });
      const r = await migrate(base({ to, toModel: "alpha-truncated" }));
      assert.strictEqual(proxy.rules[0].fired, 2);
      assert.deepStrictEqual(downloaded(b, "alpha-truncated", r.targetVersion!), alpha.files);
    });

    it("429 and 503 bursts: success after retries", async () => {
      proxy.add({ path: /^\/api\/2\.0\//, action: { kind: "status", status: 429, retryAfter: 0 }, times: 3 });
      proxy.add({ method: "PUT", path: uploads, action: { kind: "status", status: 503 }, times: 3 });
      const r = await migrate(base({ to, toModel: "alpha-bursts" }));
      assert.strictEqual(proxy.seen.filter((s) => s.fault?.startsWith("status-")).length, 6);
      assert.deepStrictEqual(downloaded(b, "alpha-bursts", r.targetVersion!), alpha.files);
    });

    it("the target killed mid-transfer and restarted: a re-run completes, skips verified files, no duplicate", async () => {
      const many = seedFixture(a, "quant-alpha-many", { sizeMb: 2, shards: 2, smallFiles: 60 });
      let puts = 0;
      proxy.afterResponse = (method, p) => {
        if (method === "PUT" && uploads.test(p) && ++puts === 40) b.killNow();
      };
      const opts = base({ model: "quant-alpha-many", to, toModel: "alpha-many", concurrency: 2, retry: { attempts: 3, backoffMs: 50 } });
      // The target is gone: the run fails naming the target and what it was doing, and registers nothing.
      await assert.rejects(migrate(opts), (e: Error) => {
        // The proxy answers 502 once the target is gone; after the retries the error names the file and call.
        const target = to.baseUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        assert.match(
          e.message,
          new RegExp(`(PUT|GET) ${target}/api/2\\.0/mlflow-artifacts/artifacts/\\S*/model/\\S.* failed: 502`),
          e.message,
        );
        return true;
      });
      await b.stop();
      await b.start();
      proxy.afterResponse = undefined;
      assert.deepStrictEqual(await versionsOf(b, "alpha-many"), [], "nothing was registered by the failed run");
      // What the failed run recorded as verified: the journal it left in the target run, read straight from
      // the restarted server (the last progress.json it wrote before the kill).
      const isFile = (p: string) => uploads.test(p);
      const fileOf = (p: string) =>
        p
          .slice(p.indexOf("/model/") + "/model/".length)
          .split("?")[0]
          .split("/")
          .map(decodeURIComponent)
          .join("/");
      const journalPut = [...proxy.seen].reverse().find((x) => x.method === "PUT" && /\/_migration\/progress\.json$/.test(x.path));
      assert.ok(journalPut, "the failed run wrote a progress journal before the kill");
      const journal = (await (await fetch(`${b.url}${journalPut.path}`)).json()) as { files: { path: string }[] };
      const verifiedBefore = journal.files.map((f) => f.path).sort();
      assert.ok(
        verifiedBefore.length >= 8 && verifiedBefore.length < many.files.length,
        `${verifiedBefore.length} of ${many.files.length} files verified before the kill`,
      );
      const seenBefore = proxy.seen.length;
      const r = await migrate(opts);
      const copiedNow = [
        ...new Set(
          proxy.seen
            .slice(seenBefore)
            .filter((x) => x.method === "PUT" && isFile(x.path))
            .map((x) => fileOf(x.path)),
        ),
      ].sort();
      assert.strictEqual(r.skippedFiles, verifiedBefore.length, "the re-run skipped exactly the files the journal had verified");
      assert.deepStrictEqual(
        copiedNow,
        many.files
          .map((f) => f.path)
          .filter((f) => !verifiedBefore.includes(f))
          .sort(),
        "and copied only the rest",
      );
      assert.strictEqual((await versionsOf(b, "alpha-many")).length, 1);
      assert.deepStrictEqual(downloaded(b, "alpha-many", r.targetVersion!), many.files);
    });
  });

  describe("the Databricks transport (paged list, signed URLs) against the in-repo workspace API", () => {
    let dbx: DatabricksTestServer;
    let dbxEp: ReturnType<typeof resolveEndpoint>;
    before(async () => {
      dbx = new DatabricksTestServer(b.url, "dapi-test-token");
      await dbx.start();
      dbxEp = resolveEndpoint(`databricks+${dbx.url}`, "to", { DATABRICKS_TOKEN: "dapi-test-token" });
    });
    after(() => dbx.stop());

    it("OSS -> Databricks: files land in the signed-URL store byte-identical, written with the returned headers", async () => {
      const r = await migrate(base({ to: dbxEp, toModel: "alpha-on-databricks" }));
      const stored = alpha.files.map((f) => {
        const blob = dbx.blobs.get(`${r.targetRunId}/model/${f.path}`);
        return { path: f.path, size: blob?.length, sha256: blob && crypto.createHash("sha256").update(blob).digest("hex") };
      });
      assert.deepStrictEqual(stored, alpha.files);
      assert.ok(dbx.calls.includes("POST /api/2.0/mlflow/artifacts/credentials-for-write"));
      const v = await mlflowClient(dbxEp).getModelVersion("alpha-on-databricks", r.targetVersion!);
      assert.match(v.source, /^dbfs:\/databricks\/mlflow-tracking\/\d+\/[0-9a-f]{32}\/artifacts\/model$/);
      const check = await checkTarget(dbxEp, "alpha-on-databricks", r.targetVersion!, "full");
      assert.deepStrictEqual(check.problems, []);
      assert.deepStrictEqual(
        await downloadWithDatabricksClient(dbx, "dapi-test-token", "alpha-on-databricks", r.targetVersion!),
        alpha.files,
        "MLflow's own Databricks client (registry URI databricks) downloads the same bytes",
      );
    });

    it("OSS (logged-model layout) -> Databricks: MLflow's own Databricks client downloads every file byte for byte", async () => {
      const r = await migrate(base({ model: "quant-beta-transformer", to: dbxEp, toModel: "beta-on-databricks" }));
      assert.deepStrictEqual(
        await downloadWithDatabricksClient(dbx, "dapi-test-token", "beta-on-databricks", r.targetVersion!),
        beta.files,
      );
      assert.ok(dbx.calls.includes("GET /api/2.0/mlflow/model-versions/list-artifacts"));
      assert.ok(dbx.calls.includes("GET /api/2.0/mlflow/model-versions/get-signed-download-uri"));
    });

    describe("a Databricks source holding a file name with '#'", () => {
      let model: string;
      before(async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dbx-src-"));
        const files = JSON.parse(
          python("transformer_fixture.py", [
            "--tracking-uri",
            "unused",
            "--model",
            "x",
            "--build-only",
            dir,
            "--size-mb",
            "1",
            "--hash-names",
          ]),
        ) as { path: string }[];
        const c = mlflowClient(dbxEp);
        const exp = await c.createExperiment(`dbx-source-${Date.now()}`);
        const run = await c.createRun(exp, "hash-names", Date.now(), []);
        for (const f of files) dbx.putArtifact(run.info.run_id, `model/${f.path}`, fs.readFileSync(path.join(dir, f.path)));
        model = `hash-source-${Date.now()}`;
        await c.createRegisteredModel(model);
        await c.createModelVersion({ name: model, source: `${run.info.artifact_uri}/model`, run_id: run.info.run_id, tags: [] });
        fs.rmSync(dir, { recursive: true, force: true });
      });

      it("Databricks -> OSS refuses before copying, naming the file the OSS server cannot hold", async () => {
        const from = { ...dbxEp, uri: `databricks+${dbx.url}` };
        await rejectsWithoutWrites(
          oss(a.url),
          () => migrate(base({ from, to: oss(a.url), model, select: { version: "1" }, toModel: "hash-copy" })),
          /'model\/run #7 summary\.txt'|'notes\/run #7 summary\.txt' \(an mlflow-artifacts server refuses '#' in artifact paths/,
        );
      });

      it("Databricks -> Databricks keeps the '#' name, paging through listings and reading with signed URLs", async () => {
        const r = await migrate(base({ from: dbxEp, to: dbxEp, model, select: { version: "1" }, toModel: `${model}-copy` }));
        assert.ok(dbx.blobs.has(`${r.targetRunId}/model/notes/run #7 summary.txt`));
        assert.ok(dbx.calls.includes("POST /api/2.0/mlflow/artifacts/credentials-for-read"));
        const source = await downloadWithDatabricksClient(dbx, "dapi-test-token", model, "1");
        assert.ok(
          source.some((f) => f.path === "notes/run #7 summary.txt"),
          source.map((f) => f.path).join("\n"),
        );
        assert.deepStrictEqual(await downloadWithDatabricksClient(dbx, "dapi-test-token", `${model}-copy`, r.targetVersion!), source);
      });
    });

    it("a bad Databricks token names the workspace it was refused by", async () => {
      const bad = resolveEndpoint(`databricks+${dbx.url}`, "to", { DATABRICKS_TOKEN: "dapi-wrong" });
      await assert.rejects(
        migrate(base({ to: bad, toModel: "alpha-bad-token" })),
        new RegExp(`databricks\\+${dbx.url.replace(/\./g, "\\.")}: .*401 UNAUTHENTICATED`),
      );
    });
  });
});
