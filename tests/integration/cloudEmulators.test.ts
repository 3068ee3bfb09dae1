import * as assert from "assert";
import { createHash, randomBytes } from "crypto";
import { BlobServiceClient, RestError, StorageSharedKeyCredential } from "@azure/storage-blob";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AzuriteHandle, MotoHandle } from "../../devenv/stores/cloudEmulators";
import { DownloadedFile, downloadWithDatabricksClient } from "../../devenv/databricks/databricksClientCheck";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { PROJECT_DIR, VENV_BIN } from "../../devenv/localMlflow";
import { closeServer, listenLoopback } from "../../devenv/loopback";
import { startStoreGate, StoreGate } from "../../devenv/stores/storeGate";
import { emulators } from "../fixtures/cloudEmulators";
import { liveServers } from "../fixtures/liveServers";
import { runAsync } from "../fixtures/process";

const KiB = 1024;
const MiB = 1024 * KiB;
const sha = (b: Buffer | Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("cloud-store emulators and the single-request gate", function () {
  this.timeout(300000);
  let azurite: AzuriteHandle;
  let moto: MotoHandle;

  before(async () => {
    ({ azurite, moto } = await emulators());
  });

  describe("Azure Blob (Azurite) behind the gate", () => {
    let gate: StoreGate;
    let service: BlobServiceClient;
    const container = `gate-${Date.now()}`;

    before(async () => {
      gate = await startStoreGate("azure", azurite.blobEndpoint, 256 * KiB);
      service = new BlobServiceClient(
        `${gate.url}/${azurite.account}`,
        new StorageSharedKeyCredential(azurite.account, azurite.accountKey),
      );
      await service.createContainer(container);
    });
    after(() => gate?.stop());

    it("a Put Blob within the limit passes through, Shared Key signature intact, and reads back byte-identical", async () => {
      const data = randomBytes(100 * KiB);
      const blob = service.getContainerClient(container).getBlockBlobClient("small.bin");
      gate.resetCounts();
      await blob.upload(data, data.length);
      assert.deepStrictEqual(gate.counts, { "put-blob": 1 });
      assert.strictEqual(sha(await blob.downloadToBuffer()), sha(data));
    });

    it("a Put Blob over the limit is refused as Azure refuses it: 413 RequestBodyTooLarge", async () => {
      const data = randomBytes(300 * KiB);
      const blob = service.getContainerClient(container).getBlockBlobClient("too-big.bin");
      const err = await blob.upload(data, data.length).then(
        () => assert.fail("an over-limit Put Blob was accepted"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RestError, String(err));
      assert.strictEqual(err.statusCode, 413);
      assert.strictEqual(err.code, "RequestBodyTooLarge");
      assert.strictEqual(gate.rejected["put-blob"], 1);
      assert.strictEqual(await blob.exists(), false);
    });

    it("the same size staged as blocks (Put Block, Put Block List) passes", async () => {
      const data = randomBytes(300 * KiB);
      const blob = service.getContainerClient(container).getBlockBlobClient("staged.bin");
      gate.resetCounts();
      const ids: string[] = [];
      for (let i = 0, off = 0; off < data.length; i++, off += 128 * KiB) {
        const id = Buffer.from(`block-${String(i).padStart(6, "0")}`).toString("base64");
        const part = data.subarray(off, off + 128 * KiB);
        await blob.stageBlock(id, part, part.length);
        ids.push(id);
      }
      await blob.commitBlockList(ids);
      assert.deepStrictEqual(gate.counts, { "put-block": 3, "put-block-list": 1 });
      assert.strictEqual(sha(await blob.downloadToBuffer()), sha(data));
    });

    it("the limit is a setting: raised at runtime, the same Put Blob passes", async () => {
      const data = randomBytes(300 * KiB);
      gate.limit = 512 * KiB;
      try {
        await service.getContainerClient(container).getBlockBlobClient("raised.bin").upload(data, data.length);
      } finally {
        gate.limit = 256 * KiB;
      }
    });
  });

  describe("S3 (moto) behind the gate", () => {
    let gate: StoreGate;
    let s3: S3Client;
    const Bucket = `gate-${Date.now()}`;

    before(async () => {
      gate = await startStoreGate("s3", moto.endpoint, 256 * KiB);
      s3 = new S3Client({
        endpoint: gate.url,
        region: moto.region,
        forcePathStyle: true,
        credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
      });
      await s3.send(new CreateBucketCommand({ Bucket }));
    });
    after(() => {
      s3?.destroy();
      return gate?.stop();
    });

    const read = async (Key: string) =>
      Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray());

    it("a PutObject within the limit passes through and reads back byte-identical", async () => {
      const data = randomBytes(100 * KiB);
      gate.resetCounts();
      await s3.send(new PutObjectCommand({ Bucket, Key: "small.bin", Body: data }));
      assert.deepStrictEqual(gate.counts, { "put-object": 1 });
      assert.strictEqual(sha(await read("small.bin")), sha(data));
    });

    for (const expectContinue of [true, false]) {
      it(`a PutObject over the limit is refused as S3 refuses it, EntityTooLarge (${expectContinue ? "with" : "without"} Expect: 100-continue)`, async () => {
        const client = new S3Client({
          endpoint: gate.url,
          region: moto.region,
          forcePathStyle: true,
          credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
          expectContinueHeader: expectContinue,
        });
        const data = randomBytes(3 * 1024 * KiB);
        gate.resetCounts();
        const err = await client.send(new PutObjectCommand({ Bucket, Key: "too-big.bin", Body: data })).then(
          () => assert.fail("an over-limit PutObject was accepted"),
          (e: unknown) => e,
        );
        client.destroy();
        assert.ok(err instanceof S3ServiceException, String(err));
        assert.strictEqual(err.name, "EntityTooLarge");
        assert.strictEqual(err.$metadata.httpStatusCode, 400);
        assert.deepStrictEqual(gate.rejected, { "put-object": 1 });
      });
    }

    it("the same size as a multipart upload passes", async () => {
      const data = randomBytes(300 * KiB);
      const Key = "multipart.bin";
      gate.resetCounts();
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      const Parts: { PartNumber: number; ETag?: string }[] = [];
      for (let n = 1, off = 0; off < data.length; n++, off += 128 * KiB) {
        const r = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: n, Body: data.subarray(off, off + 128 * KiB) }));
        Parts.push({ PartNumber: n, ETag: r.ETag });
      }
      await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
      assert.deepStrictEqual(gate.counts, { "create-multipart": 1, "upload-part": 3, complete: 1 });
      assert.strictEqual(sha(await read(Key)), sha(data));
    });
  });

  it("the gate keeps the Host header the client signed (SigV4 signs host), so signatures validate upstream", async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const recorder = http.createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on("end", () => res.end());
    });
    const upstream = await listenLoopback(recorder);
    const gate = await startStoreGate("s3", upstream, 256 * KiB);
    const client = new S3Client({
      endpoint: gate.url,
      region: moto.region,
      forcePathStyle: true,
      credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
    });
    try {
      await client.send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "x" }));
      const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: "b", Key: "k" }), { expiresIn: 60 });
      await (await fetch(url)).arrayBuffer();
    } finally {
      client.destroy();
      await gate.stop();
      await closeServer(recorder);
    }
    assert.strictEqual(seen.length, 2);
    for (const h of seen) assert.strictEqual(h.host, new URL(gate.url).host);
    assert.match(String(seen[0].authorization), /SignedHeaders=[^,]*\bhost\b/);
  });
});

describe("the Databricks test server with run artifacts in a real store emulator, judged by MLflow's own client", function () {
  this.timeout(600000);
  const USER = "ana.ruiz@quantfirm.example";
  const TOKEN = "dapi-ana";

  /** Writes the files of a small model (one of them big enough to go up in parts); returns their manifest. */
  function modelDir(bigBytes: number): { dir: string; files: DownloadedFile[] } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloud-model-"));
    const contents: Record<string, Buffer> = {
      "weights.bin": randomBytes(bigBytes),
      MLmodel: Buffer.from("flavors:\n  python_function: {}\n"),
      "notes/eval report (50% holdout).txt": randomBytes(10 * KiB),
    };
    for (const [p, data] of Object.entries(contents)) {
      fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
      fs.writeFileSync(path.join(dir, p), data);
    }
    const files = Object.entries(contents)
      .map(([p, data]) => ({ path: p, size: data.length, sha256: sha(data) }))
      .sort((a, b) => (a.path < b.path ? -1 : 1));
    return { dir, files };
  }

  /** MLflow's client logs `src` to a new run through the server with `env`, then downloads it back. */
  async function logWithMlflow(dbx: DatabricksTestServer, src: string, env: Record<string, string>) {
    const r = await runAsync(
      path.join(VENV_BIN, "python"),
      [path.join(PROJECT_DIR, "devenv/python/upload_databricks.py"), "--experiment", `/Users/${USER}/cloud-${Date.now()}`, "--src", src],
      {
        env: {
          ...process.env,
          DATABRICKS_HOST: dbx.url,
          DATABRICKS_TOKEN: TOKEN,
          DATABRICKS_CONFIG_FILE: "/dev/null",
          DATABRICKS_CONFIG_PROFILE: "",
          MLFLOW_ENABLE_TELEMETRY: "false",
          DO_NOT_TRACK: "true",
          // The credential path under test, not MLflow's first try at the Files API (which this server does not serve).
          MLFLOW_DISABLE_DATABRICKS_SDK_FOR_RUN_ARTIFACTS: "true",
          // Ranged parallel downloads over the signed URL for anything above 1 MiB.
          MLFLOW_ENABLE_MULTIPART_DOWNLOAD: "true",
          MLFLOW_MULTIPART_DOWNLOAD_MINIMUM_FILE_SIZE: String(MiB),
          MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE: String(MiB),
          ...env,
        },
      },
    );
    assert.strictEqual(r.status, 0, `upload_databricks.py failed:\n${r.stderr.slice(-4000)}`);
    return JSON.parse(r.stdout.trim().split("\n").pop()!) as { run_id: string; artifact_uri: string; downloaded: DownloadedFile[] };
  }

  /** Registers the run's `model` as a new model version through the server; returns the model name. */
  async function register(dbx: DatabricksTestServer, run: { run_id: string; artifact_uri: string }): Promise<string> {
    const name = `cloud-${run.run_id.slice(0, 8)}`;
    const call = async (p: string, body: object) => {
      const r = await fetch(`${dbx.url}/api/2.0/mlflow/${p}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.strictEqual(r.status, 200, await r.text());
    };
    await call("registered-models/create", { name });
    await call("model-versions/create", { name, source: `${run.artifact_uri}/model`, run_id: run.run_id });
    return name;
  }

  let backendUrl: string;
  let azurite: AzuriteHandle;
  let moto: MotoHandle;
  before(async () => {
    backendUrl = (await liveServers()).b.url;
    ({ azurite, moto } = await emulators());
  });

  describe("on Azure Blob (Azurite, through the gate)", () => {
    let gate: StoreGate;
    let dbx: DatabricksTestServer;
    before(async () => {
      gate = await startStoreGate("azure", azurite.blobEndpoint, MiB);
      dbx = new DatabricksTestServer(backendUrl, TOKEN, "memory", USER);
      dbx.storage = { kind: "azure", azurite, gateUrl: gate.url, container: `dbx-${Date.now()}` };
      await dbx.start();
    });
    after(async () => {
      await dbx?.stop();
      await gate?.stop();
    });

    it("MLflow uploads through SAS URLs in blocks (Put Block, Put Block List) and downloads run and model version byte-identical", async () => {
      const model = modelDir(3.5 * MiB);
      try {
        const run = await logWithMlflow(dbx, model.dir, { MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE: String(MiB) });
        assert.deepStrictEqual(run.downloaded, model.files);
        // 4 blocks for the 3.5 MiB file and one for each small file; no single Put Blob from MLflow.
        assert.strictEqual(gate.counts["put-block"], 6);
        assert.strictEqual(gate.counts["put-block-list"], 3);
        assert.strictEqual(gate.counts["put-blob"], undefined);
        // Ranged parallel download of the big file in 1 MiB chunks, one GET for each small file.
        assert.strictEqual(gate.counts.get, 4 + 2);
        const name = await register(dbx, run);
        assert.deepStrictEqual(await downloadWithDatabricksClient(dbx, TOKEN, name, "1"), model.files);
      } finally {
        fs.rmSync(model.dir, { recursive: true, force: true });
      }
    });

    it("putArtifact writes into the emulator, and artifacts/list reads it back one level at a time, paged", async () => {
      const runId = "0123456789abcdef0123456789abcdef";
      await dbx.putArtifact(runId, "model/a.txt", Buffer.from("a"));
      await dbx.putArtifact(runId, "model/sub/b.txt", Buffer.from("bb"));
      const list = async (p: string) => {
        const files: unknown[] = [];
        let token: string | undefined;
        do {
          const q = new URLSearchParams({ run_id: runId, path: p, ...(token ? { page_token: token } : {}) });
          const r = (await (
            await fetch(`${dbx.url}/api/2.0/mlflow/artifacts/list?${q}`, { headers: { Authorization: `Bearer ${TOKEN}` } })
          ).json()) as any;
          files.push(...r.files);
          token = r.next_page_token;
        } while (token);
        return files;
      };
      assert.deepStrictEqual(await list("model"), [
        { path: "model/a.txt", is_dir: false, file_size: 1 },
        { path: "model/sub", is_dir: true },
      ]);
      assert.deepStrictEqual(await list("model/sub"), [{ path: "model/sub/b.txt", is_dir: false, file_size: 2 }]);
    });

    it("read credentials are SAS URLs Azurite honours for reading only, and a tampered signature is refused", async () => {
      const runId = "00112233445566778899aabbccddeeff";
      await dbx.putArtifact(runId, "model/w.bin", Buffer.from("weights"));
      const r = await fetch(`${dbx.url}/api/2.0/mlflow/artifacts/credentials-for-read`, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
        body: JSON.stringify({ run_id: runId, path: ["model/w.bin"] }),
      });
      const [info] = ((await r.json()) as any).credential_infos;
      assert.deepStrictEqual(
        { ...info, signed_uri: undefined },
        { run_id: runId, path: "model/w.bin", type: "AZURE_SAS_URI", headers: [], signed_uri: undefined },
      );
      assert.ok(info.signed_uri.startsWith(`${gate.url}/${azurite.account}/`), info.signed_uri);
      assert.strictEqual(await (await fetch(info.signed_uri)).text(), "weights");
      const write = await fetch(info.signed_uri, { method: "PUT", headers: { "x-ms-blob-type": "BlockBlob" }, body: "overwritten" });
      assert.strictEqual(write.status, 403, await write.text());
      const tampered = new URL(info.signed_uri);
      tampered.searchParams.set("sig", Buffer.alloc(32).toString("base64"));
      const refused = await fetch(tampered);
      assert.strictEqual(refused.status, 403, await refused.text());
    });
  });

  describe("on S3 (moto, through the gate)", () => {
    let gate: StoreGate;
    let dbx: DatabricksTestServer;
    before(async () => {
      // MLflow puts files up to its multipart threshold in one request: the gate's limit is that threshold.
      gate = await startStoreGate("s3", moto.endpoint, 6 * MiB);
      dbx = new DatabricksTestServer(backendUrl, TOKEN, "memory", USER);
      dbx.storage = { kind: "s3", moto, gateUrl: gate.url, bucket: `dbx-${Date.now()}` };
      await dbx.start();
    });
    after(async () => {
      await dbx?.stop();
      await gate?.stop();
    });

    it("MLflow uploads through presigned URLs, the big file through the multipart endpoints, and downloads run and model version byte-identical", async () => {
      const model = modelDir(12 * MiB);
      try {
        const run = await logWithMlflow(dbx, model.dir, {
          MLFLOW_ENABLE_MULTIPART_UPLOAD: "true",
          MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE: String(6 * MiB),
          // MLflow's own floor for S3 parts.
          MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE: String(5 * MiB),
        });
        assert.deepStrictEqual(run.downloaded, model.files);
        assert.strictEqual(gate.counts["upload-part"], 3);
        assert.strictEqual(gate.counts["put-object"], 2);
        assert.strictEqual(gate.counts.get, 12 + 2);
        assert.ok(dbx.calls.includes("POST /api/2.0/mlflow/artifacts/create-multipart-upload"), dbx.calls.join("\n"));
        assert.ok(dbx.calls.includes("POST /api/2.0/mlflow/artifacts/complete-multipart-upload"), dbx.calls.join("\n"));
        const name = await register(dbx, run);
        assert.deepStrictEqual(await downloadWithDatabricksClient(dbx, TOKEN, name, "1"), model.files);
      } finally {
        fs.rmSync(model.dir, { recursive: true, force: true });
      }
    });

    it("a multipart upload's parts can be re-signed one at a time, and its abort credential (a presigned DELETE) abandons it", async () => {
      const api = async (method: string, p: string, body?: object) => {
        const r = await fetch(`${dbx.url}/api/2.0/mlflow/artifacts/${p}`, {
          method,
          headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: r.status, json: (await r.json()) as any };
      };
      const runId = "fedcba9876543210fedcba9876543210";
      const created = await api("POST", "create-multipart-upload", { run_id: runId, path: "model/big.bin", num_parts: 2 });
      assert.strictEqual(created.status, 200, JSON.stringify(created.json));
      assert.strictEqual(created.json.upload_credential_infos.length, 2);
      assert.strictEqual(created.json.abort_credential_info.type, "AWS_PRESIGNED_URL");
      const q = new URLSearchParams({ run_id: runId, path: "model/big.bin", upload_id: created.json.upload_id, part_number: "1" });
      const part = await api("GET", `get-presigned-upload-part-url?${q}`);
      assert.strictEqual(part.status, 200, JSON.stringify(part.json));
      const put = await fetch(part.json.upload_credential_info.signed_uri, { method: "PUT", body: randomBytes(100 * KiB) });
      assert.strictEqual(put.status, 200, await put.text());
      const etag = put.headers.get("etag");
      assert.ok(etag);
      const aborted = await fetch(created.json.abort_credential_info.signed_uri, { method: "DELETE" });
      assert.strictEqual(aborted.status, 204, await aborted.text());
      const completed = await api("POST", "complete-multipart-upload", {
        run_id: runId,
        path: "model/big.bin",
        upload_id: created.json.upload_id,
        part_etags: [{ part_number: 1, etag }],
      });
      assert.strictEqual(completed.status, 400, JSON.stringify(completed.json));
      assert.strictEqual(completed.json.error_code, "INVALID_PARAMETER_VALUE");
    });
  });
});
