/**
 * Models into Unity Catalog and between Unity Catalog registries, through real cloud-store emulators (Azurite,
 * moto) behind store gates that enforce a lowered single-request limit, as the stores do. The bytes that arrive
 * are read back with each store's own SDK, independently of the engine.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import * as path from "path";
import { randomBytes } from "crypto";
import { MlflowServer } from "../../devenv/localMlflow";
import { Endpoint, mlflowClient } from "../../clients/mlflow";
import { checkTarget, migrate, MigrateOptions } from "../../migration/modelVersion";
import { StoreSettings } from "../../clients/objectStore";
import { FaultProxy } from "../fixtures/faultProxy";
import { databricksClient, DownloadedFile } from "../../devenv/databricks/databricksClientCheck";
import { liveServers } from "../fixtures/liveServers";
import { rejectsWithoutWrites } from "../fixtures/targetSnapshot";
import { expected, LIMIT, modelFiles, PART, SIGNED_MLMODEL, TOKEN, UcWorld } from "../fixtures/unityCatalog";

describe("models into Unity Catalog, through Azurite and moto, in parts", function () {
  this.timeout(600000);
  let a: MlflowServer;
  let b: MlflowServer;
  let w: UcWorld;
  const suffix = Date.now().toString(36);

  before(async () => {
    ({ a, b } = await liveServers());
    w = await UcWorld.create();
  });
  after(() => w?.stop());

  /** Version 1 of `model` from a workspace source into `main.quant.<model>` of a Unity Catalog target. */
  const intoUc = (
    src: { endpoint: Endpoint },
    uc: { endpoint: (side: "from" | "to") => Endpoint; settings: Partial<StoreSettings> },
    model: string,
    over: Partial<MigrateOptions> = {},
  ) =>
    migrate({
      from: src.endpoint,
      to: uc.endpoint("to"),
      model,
      select: { version: "1" },
      toModel: `main.quant.${model}`,
      storeSettings: uc.settings,
      ...over,
    });

  for (const [srcKind, dstKind] of [
    ["azure", "s3"],
    ["s3", "azure"],
  ] as const) {
    it(`a workspace-registry version on ${srcKind} moves into Unity Catalog on ${dstKind} byte-identical, the shard in parts`, async () => {
      const files = modelFiles();
      const model = `ws-${srcKind}-${suffix}`;
      const src = await w.workspaceSource(srcKind, model, files, a);
      const uc = await w.ucTarget(dstKind, b);
      const toModel = `main.quant.${model}`;
      const r = await intoUc(src, uc, model, { storeSettings: { ...uc.settings, partConcurrency: 3 } });
      assert.strictEqual(r.files, files.size);
      const v = await mlflowClient(uc.endpoint("to")).getModelVersion(toModel, r.targetVersion!);
      assert.strictEqual(v.status, "READY");
      assert.deepStrictEqual(await w.readBack(v.storage_location!), expected(files));
      if (dstKind === "s3") {
        // MLflow's own Unity Catalog client reaches moto too (MLFLOW_S3_ENDPOINT_URL): it downloads the same bytes.
        const got = (await databricksClient(
          uc.dbx,
          TOKEN,
          ["--model", toModel, "--version", r.targetVersion!, "--registry-uri", "databricks-uc"],
          600000,
          uc.env,
        )) as DownloadedFile[];
        assert.deepStrictEqual(new Map(got.map((f) => [f.path, f.sha256])), expected(files));
      }
      // Nothing went over the limit in one request: the shard went up in parts, each counted by the gate.
      const parts = dstKind === "s3" ? uc.gate.counts["upload-part"] : uc.gate.counts["put-block"];
      assert.ok(parts >= 4, `expected the shard in at least 4 parts, the gate saw ${JSON.stringify(uc.gate.counts)}`);
      assert.deepStrictEqual(uc.gate.rejected, {});
      // Lineage: the version's run in the target workspace carries the source run's metric.
      const run = await mlflowClient(uc.endpoint("to")).getRun(v.run_id!);
      assert.strictEqual(run.data.metrics?.find((m) => m.key === "precision")?.value, 0.91);

      // Idempotent: a second run adopts the version and copies nothing.
      uc.gate.resetCounts();
      const again = await intoUc(src, uc, model);
      assert.deepStrictEqual([again.adopted, again.targetVersion], [true, r.targetVersion]);
      assert.strictEqual((uc.gate.counts["upload-part"] ?? 0) + (uc.gate.counts["put-block"] ?? 0), 0);
    });
  }

  for (const kind of ["s3", "azure"] as const) {
    it(`into a workspace registry on ${kind}: signed URLs, the shard in parts (${kind === "s3" ? "MLflow's multipart artifact endpoints" : "Put Block with the SAS"}), --verify store`, async () => {
      const files = modelFiles();
      const model = `ws-target-${kind}-${Date.now().toString(36)}`;
      const src = await w.workspaceSource(kind === "s3" ? "azure" : "s3", model, files, a);
      const dst = await w.workspaceTarget(kind, b);
      const r = await migrate({
        from: src.endpoint,
        to: dst.endpoint,
        model,
        select: { version: "1" },
        storeSettings: { partSize: PART, singlePutLimit: LIMIT },
        verify: "store",
      });
      const parts = kind === "s3" ? dst.gate.counts["upload-part"] : dst.gate.counts["put-block"];
      assert.ok(parts >= 4, JSON.stringify(dst.gate.counts));
      assert.deepStrictEqual(dst.gate.rejected, {});
      // Read back independently: every file of the registered version, through the workspace's own read URLs.
      const check = await checkTarget(dst.endpoint, model, r.targetVersion!, "full");
      assert.deepStrictEqual(check.problems, []);
      assert.strictEqual(check.manifestDigest, r.manifestDigest);
    });
  }

  it("Unity Catalog -> Unity Catalog (S3 to Azure) carries aliases and tags, verified by the stores (--verify store)", async () => {
    const files = modelFiles();
    const model = `uc-${suffix}`;
    const src = await w.workspaceSource("azure", model, files, a);
    const first = await w.ucTarget("s3", b);
    const name = `main.quant.${model}`;
    const r1 = await intoUc(src, first, model, { verify: "store" });
    const c1 = mlflowClient(first.endpoint("to"));
    await c1.setAlias(name, "champion", r1.targetVersion!);
    await c1.setModelVersionTag(name, r1.targetVersion!, "validated_on", "2019-2024");

    const second = await w.ucTarget("azure", a);
    const r2 = await migrate({
      from: first.endpoint("from"),
      to: second.endpoint("to"),
      model: name,
      select: { alias: "champion" },
      toModel: name,
      storeSettings: { ...second.settings, ...first.settings, azureBlobEndpoint: second.settings.azureBlobEndpoint },
      verify: "store",
    });
    const v = await mlflowClient(second.endpoint("to")).getModelVersion(name, r2.targetVersion!);
    assert.deepStrictEqual(v.aliases, ["champion"]);
    assert.strictEqual(v.tags?.find((t) => t.key === "validated_on")?.value, "2019-2024");
    assert.deepStrictEqual(await w.readBack(v.storage_location!), expected(files));
    // --verify store read nothing back from the target: no GET of a model file reached its gate.
    assert.strictEqual(second.gate.counts["get"] ?? 0, 0, JSON.stringify(second.gate.counts));
  });

  it("two migrations of the same source into Unity Catalog at once: one READY version, complete and byte-identical", async () => {
    const files = modelFiles();
    const model = `race-${suffix}`;
    const src = await w.workspaceSource("azure", model, files, a);
    const uc = await w.ucTarget("s3", b);
    const [r1, r2] = await Promise.all([intoUc(src, uc, model), intoUc(src, uc, model)]);
    assert.strictEqual(r1.targetVersion, r2.targetVersion);
    const c = mlflowClient(uc.endpoint("to"));
    const ready = (await c.listVersions(`main.quant.${model}`)).filter((v) => v.status === "READY");
    assert.deepStrictEqual(
      ready.map((v) => [v.version, v.tags?.find((t) => t.key === "quant.migration.state")?.value]),
      [[r1.targetVersion, "complete"]],
    );
    assert.deepStrictEqual(await w.readBack(ready[0].storage_location!), expected(files));
  });

  it("refuses, before copying, a model without a signature and a name that is not three-part; nothing is registered", async () => {
    const model = `unsigned-${suffix}`;
    const src = await w.workspaceSource("s3", model, modelFiles("flavors:\n  python_function: {}\n"), a);
    const uc = await w.ucTarget("s3", b);
    await rejectsWithoutWrites(
      uc.endpoint("to"),
      () =>
        migrate({
          from: src.endpoint,
          to: uc.endpoint("to"),
          model,
          select: { version: "1" },
          toModel: `main.quant.${model}`,
          storeSettings: uc.settings,
        }),
      /has no signature.*infer_signature/,
    );
    await rejectsWithoutWrites(
      uc.endpoint("to"),
      () =>
        migrate({ from: src.endpoint, to: uc.endpoint("to"), model, select: { version: "1" }, toModel: model, storeSettings: uc.settings }),
      /<catalog>\.<schema>\.<model>; pass --to-model <catalog>\.<schema>\./,
    );
    assert.strictEqual(uc.dbx.ucRegistry!.entry(`main.quant.${model}`), undefined);
    assert.strictEqual((uc.gate.counts["upload-part"] ?? 0) + (uc.gate.counts["put-object"] ?? 0), 0);
  });

  it("--verify store is refused where the store does not verify (an OSS artifact proxy), before anything is copied", async () => {
    const files = modelFiles();
    const model = `oss-${suffix}`;
    const src = await w.workspaceSource("s3", model, files, a);
    const to: Endpoint = { uri: b.url, baseUrl: b.url, transport: "mlflow-artifacts" };
    await rejectsWithoutWrites(
      to,
      () => migrate({ from: src.endpoint, to, model, select: { version: "1" }, verify: "store" }),
      /--verify store is not offered .*does not verify checksums on write; use --verify full/,
    );
  });

  it("fault matrix on the stores: flipped bytes, a truncated read, 503 and 429 storms; the move still verifies", async () => {
    const files = modelFiles();
    const model = `faults-${Date.now().toString(36)}`;
    // The source's signed URLs and the target's store both pass through a fault proxy in front of their gates.
    const srcGate = await w.gateFor("s3");
    const srcFaults = new FaultProxy(() => Number(new URL(srcGate.url).port));
    const src = await w.workspaceSource("s3", model, files, a, await srcFaults.start());
    const uc = await w.ucTarget("azure", b);
    const dstFaults = new FaultProxy(() => Number(new URL(uc.gate.url).port));
    await dstFaults.start();
    try {
      srcFaults.add({ method: "GET", path: /model-00001/, action: { kind: "truncate-response" }, times: 1 });
      srcFaults.add({ method: "GET", path: /config\.json/, action: { kind: "status", status: 503 }, times: 3 });
      // Azure verifies each block's Content-MD5: a flipped byte is refused (Md5Mismatch) and the block sent again.
      dstFaults.add({ method: "PUT", path: /comp=block(&|$)/, action: { kind: "flip-request" }, times: 2 });
      dstFaults.add({ method: "PUT", path: /comp=block(&|$)/, action: { kind: "status", status: 503 }, times: 3 });
      dstFaults.add({ method: "PUT", action: { kind: "status", status: 429, retryAfter: 0 }, path: /vocab\.txt/, times: 2 });
      const r = await intoUc(src, uc, model, {
        storeSettings: { ...uc.settings, azureBlobEndpoint: `${dstFaults.url}/{account}` },
        retry: { attempts: 6, backoffMs: 20 },
      });
      const fired = (p: FaultProxy) => p.rules.map((x) => `${x.action.kind}:${x.fired}`);
      assert.deepStrictEqual(fired(srcFaults), ["truncate-response:1", "status:3"]);
      assert.deepStrictEqual(fired(dstFaults), ["flip-request:2", "status:3", "status:2"]);
      const v = await mlflowClient(uc.endpoint("to")).getModelVersion(`main.quant.${model}`, r.targetVersion!);
      assert.deepStrictEqual(await w.readBack(v.storage_location!), expected(files));
    } finally {
      await srcFaults.stop();
      await dstFaults.stop();
    }
  });

  it("a file above the single-request limit survives a kill mid-file: the re-run sends only the parts the store lacks", async () => {
    const files = new Map([
      ["MLmodel", Buffer.from(SIGNED_MLMODEL)],
      ["model.safetensors", randomBytes(PART * 40 + 99)],
    ]);
    const model = `kill-${suffix}`;
    const src = await w.workspaceSource("azure", model, files, a);
    const uc = await w.ucTarget("s3", b);
    const toModel = `main.quant.${model}`;
    // A slow store, so the kill lands mid-file: every part is held a little on its way to the gate.
    const slow = new FaultProxy(() => Number(new URL(uc.gate.url).port));
    await slow.start();
    slow.add({ method: "PUT", path: /[?&]partNumber=/, action: { kind: "delay", ms: 60 }, times: Infinity });
    const cli = path.join(__dirname, "..", "..", "bin", "quant-platform.js");
    const child = spawn(
      process.execPath,
      [
        cli,
        "migrate",
        "--from",
        `databricks+${src.dbx.url}`,
        "--to",
        `databricks-uc+${uc.dbx.url}`,
        "--model",
        model,
        "--version",
        "1",
        "--to-model",
        toModel,
        "--part-size",
        String(PART),
        "--single-put-limit",
        String(LIMIT),
        "--part-concurrency",
        "1",
        "--concurrency",
        "1",
      ],
      { env: { ...process.env, ...uc.env, STORAGE_S3_ENDPOINT: slow.url, DATABRICKS_TOKEN: TOKEN }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const deadline = Date.now() + 120000;
    while ((uc.gate.counts["upload-part"] ?? 0) < 20) {
      if (Date.now() > deadline) throw new Error(`the migration never got 12 parts in: ${stderr}`);
      if (child.exitCode !== null) throw new Error(`the migration ended before it could be killed (exit ${child.exitCode}): ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    await exited;
    await slow.stop();
    const before = uc.gate.counts["upload-part"];
    assert.ok(before < 41, `the kill came too late: all ${before} parts were sent`);
    const pending = uc.dbx.ucRegistry!.entry(toModel);
    assert.ok(pending, "the killed run left its pending version");

    uc.gate.resetCounts();
    const r = await intoUc(src, uc, model, { storeSettings: { ...uc.settings, partConcurrency: 1 } });
    const resent = uc.gate.counts["upload-part"] ?? 0;
    assert.ok(resent < 41, `the re-run sent ${resent} parts of 41 again`);
    assert.ok(resent + before >= 41);
    const v = await mlflowClient(uc.endpoint("to")).getModelVersion(toModel, r.targetVersion!);
    assert.strictEqual(v.status, "READY");
    assert.deepStrictEqual(await w.readBack(v.storage_location!), expected(files));
  });
});
