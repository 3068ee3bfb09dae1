import * as assert from "assert";
import { createHash, randomBytes } from "crypto";
import { ContainerClient, RestError } from "@azure/storage-blob";
import { ListObjectsV2Command, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AzuriteHandle, MotoHandle } from "../../devenv/stores/cloudEmulators";
import { DatabricksControlApi } from "../../devenv/databricks/databricksControlApi";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { PROJECT_DIR, VENV_BIN } from "../../devenv/localMlflow";
import { closeServer, listenLoopback } from "../../devenv/loopback";
import { startStoreGate, StoreGate } from "../../devenv/stores/storeGate";
import { storeEnv, UcRegistryApi, UcStorage } from "../../devenv/databricks/ucRegistryApi";
import { emulators } from "../fixtures/cloudEmulators";
import { liveServers } from "../fixtures/liveServers";
import { runAsync } from "../fixtures/process";

const TOKEN = "dapi-uc-registry";
const ADMIN = "platform-admin@quantfirm.example";
const MODEL = "main.quant.alpha";
const sha = (b: Buffer | Uint8Array) => createHash("sha256").update(b).digest("hex");

interface FileEntry {
  path: string;
  size: number;
  sha256: string;
}

/** One REST call to a workspace; the JSON body answered (or {} when there is none). */
async function call(base: string, method: string, route: string, body?: Record<string, unknown>, token = TOKEN) {
  const r = await fetch(`${base}${route}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: (text ? JSON.parse(text) : {}) as Record<string, any> };
}
const uc = (base: string, method: string, route: string, body?: Record<string, unknown>) =>
  call(base, method, `/api/2.0/mlflow/unity-catalog/${route}`, body);
const q = (o: Record<string, string>) => new URLSearchParams(o).toString();

/** MLflow's own UC registry client (devenv/python/uc_registry_client.py) against a workspace; its JSON report. */
async function mlflowUcClient(host: string, env: Record<string, string>, args: string[]): Promise<Record<string, any>> {
  const r = await runAsync(path.join(VENV_BIN, "python"), [path.join(PROJECT_DIR, "devenv/python/uc_registry_client.py"), ...args], {
    env: {
      ...process.env,
      DATABRICKS_HOST: host,
      DATABRICKS_TOKEN: TOKEN,
      DATABRICKS_CONFIG_FILE: "/dev/null",
      DATABRICKS_CONFIG_PROFILE: "",
      MLFLOW_ENABLE_TELEMETRY: "false",
      DO_NOT_TRACK: "true",
      ...env,
    },
  });
  if (r.status !== 0) throw new Error(`uc_registry_client.py ${args.join(" ")} failed (exit ${r.status}):\n${r.stderr.slice(-4000)}`);
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "");
}

describe("MLflow's Unity Catalog registry (databricks-uc) in the Databricks test server, on real store emulators", function () {
  this.timeout(300000);
  let moto: MotoHandle;
  let azurite: AzuriteHandle;

  before(async () => {
    ({ moto, azurite } = await emulators());
  });

  describe("on S3 (moto), one workspace whose control plane and MLflow API share the metastore", () => {
    let dbx: DatabricksTestServer;
    let control: DatabricksControlApi;
    let registry: UcRegistryApi;
    let gate: StoreGate;
    let server: http.Server;
    let url: string;
    let work: string;
    let report: Record<string, any>;
    let s3: S3Client;
    const bucket = `uc-s3-${Date.now()}`;

    /** The objects under a location in moto, read with the emulator's own credentials (not the vended ones). */
    async function stored(location: string): Promise<FileEntry[]> {
      const prefix = `${location.replace(`s3://${bucket}/`, "")}/`;
      const out: FileEntry[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) {
          const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body!.transformToByteArray();
          out.push({ path: o.Key!.slice(prefix.length), size: body.length, sha256: sha(body) });
        }
        token = page.NextContinuationToken;
      } while (token);
      return out.sort((a, b) => (a.path < b.path ? -1 : 1));
    }

    before(async () => {
      const { a } = await liveServers();
      gate = await startStoreGate("s3", moto.endpoint, 5 * 1024 * 1024 * 1024);
      dbx = new DatabricksTestServer(a.url, TOKEN, "backend", ADMIN);
      control = new DatabricksControlApi({ token: TOKEN, workspace: dbx.workspace, adminUserName: ADMIN });
      const storage: UcStorage = { kind: "s3", moto, bucket, gateUrl: gate.url };
      registry = dbx.ucRegistry = new UcRegistryApi({ storage, state: control.state });
      control.state.ucSchemas.add("main.quant");
      // One listener for both APIs, as a workspace serves them.
      server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c) => chunks.push(c));
        req.on("end", async () => {
          const body = Buffer.concat(chunks);
          try {
            if (!(await control.handle(req, res, body))) await dbx.handle(req, res, body);
          } catch (e) {
            if (!res.headersSent) res.writeHead(500, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ error_code: "INTERNAL_ERROR", message: String(e) }));
          }
        });
      });
      url = dbx.url = await listenLoopback(server);
      s3 = new S3Client({
        endpoint: moto.endpoint,
        region: moto.region,
        forcePathStyle: true,
        credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
      });
      work = fs.mkdtempSync(path.join(os.tmpdir(), "uc-registry-"));
      gate.resetCounts();
      report = await mlflowUcClient(url, storeEnv(storage), ["--name", MODEL, "--work", work, "--run-tracking-uri", a.url]);
    });
    after(async () => {
      await closeServer(server);
      await gate?.stop();
      s3?.destroy();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it("MLflow's client refuses a model without a signature before asking the service; the service does not check it itself", () => {
      assert.strictEqual(report.unsigned.registered, false);
      assert.match(report.unsigned.error, /did not contain any signature metadata/);
      // Two versions reached the service: the signed local directory and the run's copy.
      assert.strictEqual(dbx.calls.filter((c) => c === "POST /api/2.0/mlflow/unity-catalog/model-versions/create").length, 2);
    });

    it("MLflow's client registers the signed model: PENDING_REGISTRATION, files written with READ_WRITE credentials, then finalized READY", async () => {
      assert.deepStrictEqual(report.registered, { version: "1", status: "READY" });
      const v = await uc(url, "GET", `model-versions/get?${q({ name: MODEL, version: "1" })}`);
      assert.strictEqual(v.json.model_version.status, "READY");
      const root = `s3://${bucket}/${control.state.metastoreId}/models/${registry.entry(MODEL)!.uuid}`;
      assert.match(v.json.model_version.storage_location, new RegExp(`^${root}/versions/[0-9a-f-]{36}$`));
      assert.strictEqual(report.download_uri, v.json.model_version.storage_location);
      // What the store holds is what MLflow's client was given to register, byte for byte.
      assert.deepStrictEqual(await stored(v.json.model_version.storage_location), report.files);
      const write = registry.issued.find((c) => c.version === 1 && c.operation === "MODEL_VERSION_OPERATION_READ_WRITE")!;
      const prefix = v.json.model_version.storage_location.replace(`s3://${bucket}/`, "");
      const policy = write.scope as { Statement: { Action: string[]; Resource: string[] }[] };
      assert.deepStrictEqual(policy.Statement[0].Resource, [`arn:aws:s3:::${bucket}/${prefix}`, `arn:aws:s3:::${bucket}/${prefix}/*`]);
      assert.ok(policy.Statement[0].Action.includes("s3:PutObject"));
      const reads = registry.issued.filter((c) => c.version === 1 && c.operation === "MODEL_VERSION_OPERATION_READ");
      assert.ok(reads.length >= 2, "each download asks for READ credentials");
      for (const r of reads) assert.ok(!(r.scope as typeof policy).Statement[0].Action.includes("s3:PutObject"));
      // MLflow's uploads and downloads went through the gate storeEnv pointed it at.
      assert.ok((gate.counts["put-object"] ?? 0) >= report.files.length, JSON.stringify(gate.counts));
    });

    it("aliases and tags set by MLflow's client read back on the model and the version; a deleted alias is gone", () => {
      assert.deepStrictEqual(report.model, {
        name: MODEL,
        description: "Alpha signal model",
        aliases: { champion: "1" },
        tags: { team: "quant", stage: "research" },
      });
      assert.deepStrictEqual(report.version.aliases, ["champion"]);
      assert.deepStrictEqual(report.version.tags, { validated_on: "ticks-2019-2024", precision: "0.87" });
      assert.strictEqual(report.version.description, "best of three");
      assert.strictEqual(report.by_alias, "1");
      assert.strictEqual(report.deleted_alias.error_code, "RESOURCE_DOES_NOT_EXIST");
      assert.deepStrictEqual(
        report.search.map((v: any) => v.version),
        ["1"],
      );
    });

    it("MLflow's client downloads the version by alias and by number byte-identical to what it registered", () => {
      assert.deepStrictEqual(report.download_alias, report.files);
      assert.deepStrictEqual(report.download_version, report.files);
    });

    it("a version registered from a run (runs:/) is fetched through the workspace's tracking API and carries the run and its files", async () => {
      const r = report.from_run;
      assert.deepStrictEqual([r.version, r.status, r.run], ["2", "READY", r.run_id]);
      assert.match(r.source, /^dbfs:\/databricks\/mlflow-tracking\/\d+\/[0-9a-f]{32}\/artifacts\/model$/);
      assert.deepStrictEqual(r.download, report.files);
      const v = await uc(url, "GET", `model-versions/get?${q({ name: MODEL, version: "2" })}`);
      assert.deepStrictEqual(await stored(v.json.model_version.storage_location), report.files);
    });

    it("the control plane's registered model (/api/2.1/unity-catalog/models) is the one MLflow's client registered", async () => {
      const m = await call(url, "GET", `/api/2.1/unity-catalog/models/${MODEL}`);
      assert.strictEqual(m.status, 200, JSON.stringify(m.json));
      assert.strictEqual(m.json.comment, "Alpha signal model");
      assert.strictEqual(m.json.storage_location, `s3://${bucket}/${control.state.metastoreId}/models/${registry.entry(MODEL)!.uuid}`);
      // And one the control plane creates is at once a registry model with its storage in the bucket.
      const made = await call(url, "POST", "/api/2.1/unity-catalog/models", { catalog_name: "main", schema_name: "quant", name: "beta" });
      assert.strictEqual(made.status, 200, JSON.stringify(made.json));
      const v = await uc(url, "POST", "model-versions/create", { name: "main.quant.beta", source: "/tmp/beta" });
      assert.strictEqual(v.status, 200, JSON.stringify(v.json));
      assert.ok(v.json.model_version.storage_location.startsWith(`s3://${bucket}/${control.state.metastoreId}/models/`));
      const again = await call(url, "GET", "/api/2.1/unity-catalog/models/main.quant.beta");
      assert.ok(v.json.model_version.storage_location.startsWith(`${again.json.storage_location}/versions/`));
    });
  });

  describe("on Azure (Azurite), through the Node SDK with the SAS the API hands out", () => {
    let dbx: DatabricksTestServer;
    let registry: UcRegistryApi;
    let gate: StoreGate;
    const container = `uc-az-${Date.now()}`;
    const files: Record<string, Buffer> = {
      MLmodel: Buffer.from("flavors: {}\nsignature:\n  inputs: '[]'\n  outputs: '[]'\n"),
      "model/model.safetensors": randomBytes(300 * 1024),
      "notes/eval report (50% holdout) – précision ✓.txt": Buffer.from("precision 0.87\n"),
    };

    /** The container client and key prefix of an abfss:// location, with a SAS, through the gate. */
    function open(location: string, sas: string): { client: ContainerClient; prefix: string } {
      const m = /^abfss:\/\/([^@]+)@([^.]+)\.dfs\.core\.windows\.net\/(.+)$/.exec(location);
      assert.ok(m, `not an abfss location: ${location}`);
      assert.deepStrictEqual([m[1], m[2]], [container, azurite.account]);
      const endpoint = storeEnv(registry.storage).STORAGE_AZURE_BLOB_ENDPOINT.replace("{account}", m[2]);
      return { client: new ContainerClient(`${endpoint}/${m[1]}?${sas}`), prefix: m[3] };
    }
    const creds = (version: string, operation: string) =>
      uc(dbx.url, "POST", "model-versions/generate-temporary-credentials", { name: MODEL, version, operation });

    before(async () => {
      gate = await startStoreGate("azure", azurite.blobEndpoint, 5000 * 1024 * 1024);
      dbx = new DatabricksTestServer("http://127.0.0.1:9", TOKEN, "memory", ADMIN);
      registry = dbx.ucRegistry = new UcRegistryApi({ storage: { kind: "azure", azurite, container, gateUrl: gate.url } });
      registry.state.ucSchemas.add("main.quant");
      await dbx.start();
      assert.strictEqual((await uc(dbx.url, "POST", "registered-models/create", { name: MODEL })).status, 200);
    });
    after(async () => {
      await dbx?.stop();
      await gate?.stop();
    });

    it("storeEnv points the engine at the gate with an {account} template; no credentials in it", () => {
      assert.deepStrictEqual(storeEnv(registry.storage), { STORAGE_AZURE_BLOB_ENDPOINT: `${gate.url}/{account}` });
    });

    it("a READ_WRITE SAS uploads into the version's location, finalize makes it READY, a READ SAS lists and reads it back byte-identical", async () => {
      const v = await uc(dbx.url, "POST", "model-versions/create", { name: MODEL, source: "/local/alpha" });
      assert.deepStrictEqual([v.status, v.json.model_version.status, v.json.model_version.version], [200, "PENDING_REGISTRATION", "1"]);
      const location: string = v.json.model_version.storage_location;
      assert.match(
        location,
        new RegExp(`^abfss://${container}@${azurite.account}\\.dfs\\.core\\.windows\\.net/${registry.state.metastoreId}/models/`),
      );
      const w = await creds("1", "MODEL_VERSION_OPERATION_READ_WRITE");
      assert.strictEqual(w.status, 200, JSON.stringify(w.json));
      assert.ok(w.json.credentials.expiration_time > Date.now());
      const up = open(location, w.json.credentials.azure_user_delegation_sas.sas_token);
      for (const [p, data] of Object.entries(files)) await up.client.getBlockBlobClient(`${up.prefix}/${p}`).uploadData(data);
      const fin = await uc(dbx.url, "POST", "model-versions/finalize", { name: MODEL, version: "1" });
      assert.deepStrictEqual([fin.status, fin.json.model_version.status], [200, "READY"]);

      const r = await creds("1", "MODEL_VERSION_OPERATION_READ");
      const down = open(location, r.json.credentials.azure_user_delegation_sas.sas_token);
      const listed: string[] = [];
      for await (const b of down.client.listBlobsFlat({ prefix: `${down.prefix}/` })) listed.push(b.name.slice(down.prefix.length + 1));
      assert.deepStrictEqual(listed.sort(), Object.keys(files).sort());
      for (const [p, data] of Object.entries(files)) {
        assert.strictEqual(sha(await down.client.getBlockBlobClient(`${down.prefix}/${p}`).downloadToBuffer()), sha(data), p);
      }
      assert.ok((gate.counts["put-blob"] ?? 0) >= Object.keys(files).length, JSON.stringify(gate.counts));
    });

    it("once READY no write credential is issued (403 PERMISSION_DENIED), and a READ SAS cannot write (Azurite refuses it)", async () => {
      const w = await creds("1", "MODEL_VERSION_OPERATION_READ_WRITE");
      assert.deepStrictEqual([w.status, w.json.error_code], [403, "PERMISSION_DENIED"]);
      assert.match(w.json.message, /can only be written at creation time/);
      const r = await creds("1", "MODEL_VERSION_OPERATION_READ");
      const v = await uc(dbx.url, "GET", `model-versions/get?${q({ name: MODEL, version: "1" })}`);
      const down = open(v.json.model_version.storage_location, r.json.credentials.azure_user_delegation_sas.sas_token);
      await assert.rejects(down.client.getBlockBlobClient(`${down.prefix}/MLmodel`).uploadData(Buffer.from("tampered")), (e: RestError) => {
        assert.strictEqual(e.statusCode, 403);
        return true;
      });
      assert.deepStrictEqual(await down.client.getBlockBlobClient(`${down.prefix}/MLmodel`).downloadToBuffer(), files.MLmodel);
    });

    it("the SAS is a container SAS (Azurite has no directory SAS): READ is read/list, READ_WRITE read/create/write/list, and no other container", async () => {
      const v = await uc(dbx.url, "POST", "model-versions/create", { name: MODEL, source: "/local/alpha" });
      const w = await creds(v.json.model_version.version, "MODEL_VERSION_OPERATION_READ_WRITE");
      const sas = new URLSearchParams(w.json.credentials.azure_user_delegation_sas.sas_token);
      assert.deepStrictEqual([sas.get("sr"), sas.get("sp")], ["c", "rcwl"]);
      const r = new URLSearchParams(
        (await creds(v.json.model_version.version, "MODEL_VERSION_OPERATION_READ")).json.credentials.azure_user_delegation_sas.sas_token,
      );
      assert.deepStrictEqual([r.get("sr"), r.get("sp")], ["c", "rl"]);
      const other = new ContainerClient(`${gate.url}/${azurite.account}/${container}-other?${sas.toString()}`);
      await assert.rejects(other.getBlockBlobClient("x").uploadData(Buffer.from("x")), (e: RestError) => e.statusCode === 403);
    });
  });

  describe("errors, as {error_code, message} with the service's statuses", () => {
    let dbx: DatabricksTestServer;
    const err = async (method: string, route: string, body?: Record<string, unknown>) => {
      const r = await uc(dbx.url, method, route, body);
      return [r.status, r.json.error_code, r.json.message];
    };

    before(async () => {
      dbx = new DatabricksTestServer("http://127.0.0.1:9", TOKEN, "memory", ADMIN);
      dbx.ucRegistry = new UcRegistryApi({ storage: { kind: "s3", moto, bucket: `uc-err-${Date.now()}` } });
      dbx.ucRegistry.state.ucSchemas.add("main.quant");
      await dbx.start();
      assert.strictEqual((await uc(dbx.url, "POST", "registered-models/create", { name: MODEL })).status, 200);
    });
    after(() => dbx?.stop());

    it("a name without three levels is refused with Databricks' wording (400 INVALID_PARAMETER_VALUE)", async () => {
      const wording = "Bad model name: please specify all three levels of the model in the form `catalog_name.schema_name.model_name`";
      assert.deepStrictEqual(await err("POST", "registered-models/create", { name: "quant.alpha" }), [
        400,
        "INVALID_PARAMETER_VALUE",
        wording,
      ]);
      assert.deepStrictEqual(await err("GET", `registered-models/get?${q({ name: "alpha" })}`), [400, "INVALID_PARAMETER_VALUE", wording]);
      assert.deepStrictEqual(await err("GET", `registered-models/get?${q({ name: "main..alpha" })}`), [
        400,
        "INVALID_PARAMETER_VALUE",
        wording,
      ]);
    });

    it("a missing catalog or schema is 404, an existing model 409 RESOURCE_ALREADY_EXISTS, an unknown one 404", async () => {
      assert.deepStrictEqual((await err("POST", "registered-models/create", { name: "nope.quant.alpha" })).slice(0, 2), [
        404,
        "CATALOG_DOES_NOT_EXIST",
      ]);
      assert.deepStrictEqual((await err("POST", "registered-models/create", { name: "main.nope.alpha" })).slice(0, 2), [
        404,
        "SCHEMA_DOES_NOT_EXIST",
      ]);
      assert.deepStrictEqual((await err("POST", "registered-models/create", { name: "Main.Quant.ALPHA" })).slice(0, 2), [
        409,
        "RESOURCE_ALREADY_EXISTS",
      ]);
      assert.deepStrictEqual((await err("GET", `registered-models/get?${q({ name: "main.quant.gamma" })}`)).slice(0, 2), [
        404,
        "RESOURCE_DOES_NOT_EXIST",
      ]);
      assert.deepStrictEqual((await err("POST", "model-versions/create", { name: "main.quant.gamma", source: "/x" })).slice(0, 2), [
        404,
        "RESOURCE_DOES_NOT_EXIST",
      ]);
    });

    it("an unknown version is 404; finalizing twice is 400; write credentials for a READY version are 403 PERMISSION_DENIED", async () => {
      assert.deepStrictEqual((await err("GET", `model-versions/get?${q({ name: MODEL, version: "9" })}`)).slice(0, 2), [
        404,
        "RESOURCE_DOES_NOT_EXIST",
      ]);
      assert.deepStrictEqual((await err("GET", `model-versions/get?${q({ name: MODEL, version: "one" })}`)).slice(0, 2), [
        400,
        "INVALID_PARAMETER_VALUE",
      ]);
      const v = await uc(dbx.url, "POST", "model-versions/create", { name: MODEL, source: "/x" });
      const version = v.json.model_version.version;
      const w = await uc(dbx.url, "POST", "model-versions/generate-temporary-credentials", {
        name: MODEL,
        version,
        operation: "MODEL_VERSION_OPERATION_READ_WRITE",
      });
      assert.strictEqual(w.status, 200, JSON.stringify(w.json));
      assert.deepStrictEqual(Object.keys(w.json.credentials.aws_temp_credentials).sort(), [
        "access_key_id",
        "secret_access_key",
        "session_token",
      ]);
      assert.strictEqual((await uc(dbx.url, "POST", "model-versions/finalize", { name: MODEL, version })).status, 200);
      assert.deepStrictEqual((await err("POST", "model-versions/finalize", { name: MODEL, version })).slice(0, 2), [
        400,
        "INVALID_PARAMETER_VALUE",
      ]);
      assert.deepStrictEqual(
        (
          await err("POST", "model-versions/generate-temporary-credentials", {
            name: MODEL,
            version,
            operation: "MODEL_VERSION_OPERATION_READ_WRITE",
          })
        ).slice(0, 2),
        [403, "PERMISSION_DENIED"],
      );
      assert.deepStrictEqual(
        (
          await err("POST", "model-versions/generate-temporary-credentials", {
            name: MODEL,
            version,
            operation: "MODEL_VERSION_OPERATION_UNSPECIFIED",
          })
        ).slice(0, 2),
        [400, "INVALID_PARAMETER_VALUE"],
      );
    });

    it("a pending version can be deleted (an abandoned upload); numbers are never reused", async () => {
      const v = await uc(dbx.url, "POST", "model-versions/create", { name: MODEL, source: "/x" });
      const n = Number(v.json.model_version.version);
      assert.strictEqual((await uc(dbx.url, "DELETE", "model-versions/delete", { name: MODEL, version: String(n) })).status, 200);
      assert.deepStrictEqual((await err("GET", `model-versions/get?${q({ name: MODEL, version: String(n) })}`)).slice(0, 2), [
        404,
        "RESOURCE_DOES_NOT_EXIST",
      ]);
      const next = await uc(dbx.url, "POST", "model-versions/create", { name: MODEL, source: "/x" });
      assert.strictEqual(Number(next.json.model_version.version), n + 1);
    });

    it("aliases: reserved names and a missing version are refused, an unknown alias is 404, deleting a version drops its aliases", async () => {
      const v = await uc(dbx.url, "POST", "model-versions/create", { name: MODEL, source: "/x" });
      const version = v.json.model_version.version;
      assert.deepStrictEqual((await err("POST", "registered-models/alias", { name: MODEL, alias: "latest", version })).slice(0, 2), [
        400,
        "INVALID_PARAMETER_VALUE",
      ]);
      assert.deepStrictEqual((await err("POST", "registered-models/alias", { name: MODEL, alias: "v3", version })).slice(0, 2), [
        400,
        "INVALID_PARAMETER_VALUE",
      ]);
      assert.deepStrictEqual((await err("POST", "registered-models/alias", { name: MODEL, alias: "x y", version })).slice(0, 2), [
        400,
        "INVALID_PARAMETER_VALUE",
      ]);
      assert.deepStrictEqual(
        (await err("POST", "registered-models/alias", { name: MODEL, alias: "champion", version: "99" })).slice(0, 2),
        [404, "RESOURCE_DOES_NOT_EXIST"],
      );
      assert.deepStrictEqual((await err("GET", `registered-models/alias?${q({ name: MODEL, alias: "nobody" })}`)).slice(0, 2), [
        404,
        "RESOURCE_DOES_NOT_EXIST",
      ]);
      assert.strictEqual((await uc(dbx.url, "POST", "registered-models/alias", { name: MODEL, alias: "champion", version })).status, 200);
      const m = await uc(dbx.url, "GET", `registered-models/get?${q({ name: MODEL })}`);
      assert.deepStrictEqual(m.json.registered_model.aliases, [{ alias: "champion", version }]);
      await uc(dbx.url, "DELETE", "model-versions/delete", { name: MODEL, version });
      assert.deepStrictEqual((await err("GET", `registered-models/alias?${q({ name: MODEL, alias: "champion" })}`)).slice(0, 2), [
        404,
        "RESOURCE_DOES_NOT_EXIST",
      ]);
    });

    it("search needs a name= or run_id= filter; a wrong method is 404 ENDPOINT_NOT_FOUND; no token is 401", async () => {
      assert.deepStrictEqual((await err("GET", "model-versions/search")).slice(0, 2), [400, "INVALID_PARAMETER_VALUE"]);
      assert.deepStrictEqual((await err("GET", `model-versions/search?${q({ filter: "tags.x='1'" })}`)).slice(0, 2), [
        400,
        "INVALID_PARAMETER_VALUE",
      ]);
      const found = await uc(dbx.url, "GET", `model-versions/search?${q({ filter: `name='${MODEL}'` })}`);
      assert.ok(found.json.model_versions.length > 0);
      assert.ok(found.json.model_versions.every((v: any) => v.name === MODEL && v.aliases === undefined));
      assert.deepStrictEqual((await err("GET", "model-versions/finalize")).slice(0, 2), [404, "ENDPOINT_NOT_FOUND"]);
      const anon = await call(
        dbx.url,
        "GET",
        `/api/2.0/mlflow/unity-catalog/registered-models/get?${q({ name: MODEL })}`,
        undefined,
        "dapi-nobody",
      );
      assert.deepStrictEqual([anon.status, anon.json.error_code], [401, "UNAUTHENTICATED"]);
    });
  });
});
