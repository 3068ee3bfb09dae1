/**
 * The benchmark's cloud-store cases (`npm run bench -- --emulators [--scale F] [--runs N]`): a 2 GiB model (shards of
 * 256 MiB) and a model of one 6 GiB file moved from a Databricks workspace registry into Unity Catalog, both
 * stores on one real emulator (Azurite with its blobs on disk; moto for S3), by ours with `--verify full` and
 * with `--verify store`, and by a raw copy of the same objects through the same SDK (bench/rawStoreCopy.ts), all
 * measured in one run. `--scale` shrinks both sizes for a smoke run. On Azurite the raw copy runs twice, without
 * any checksum and with Content-MD5 on every write (AZURITE_CRC64 says why).
 *
 * Nothing is held whole in memory on our side: the source files are generated block by block (a seeded
 * pseudo-random stream) and written straight into the source store through its SDK. Moto is another matter:
 * it keeps objects in spooled temp files at rest, but reads an object whole into memory to serve a GET and
 * builds it whole, twice over, to complete a multipart upload. S3 therefore runs at most S3_MAX_CASE_BYTES
 * per case, and the output says so.
 */
import { createCipheriv, createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Readable } from "stream";
import { BlobServiceClient, ContainerClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { measured, ownChildren, RunResult, treeCpuSeconds, treeRssBytes } from "./procTree";
import { AzuriteHandle, MotoHandle, startAzurite, startMoto } from "../devenv/stores/cloudEmulators";
import { DatabricksTestServer } from "../devenv/databricks/databricksServer";
import { ControlPlaneState } from "../devenv/databricks/controlPlaneState";
import { ArtifactStorage } from "../devenv/stores/emulatorArtifactStore";
import { MlflowServer, PROJECT_DIR } from "../devenv/localMlflow";
import { SIGNED_MLMODEL, storeEnv, UcRegistryApi, UcStorage } from "../devenv/databricks/ucRegistryApi";
import { DEFAULT_CONCURRENCY } from "../migration/concurrency";
import { DEFAULT_PART_CONCURRENCY, DEFAULT_PART_SIZE } from "../clients/objectStore";

const MiB = 1048576;
const NODE = process.execPath;
/** The bearer token of the loopback test servers (not a credential of anything real). */
const TOKEN = "dapi-bench-loopback";
/** Where the test servers keep things: the workspace's run artifacts, the metastore root, the raw copies. */
const RUN_ARTIFACTS = "mlflow-artifacts";
const METASTORE_ROOT = "uc-metastore-root";
const RAW_TARGET = "raw-copy";
/** The methods. On Azurite the raw copy also runs with Content-MD5 on every write (RAW_MD5): see AZURITE_CRC64. */
const FULL = "ours (--verify full)";
const STORE = "ours (--verify store)";
const RAW = "raw SDK copy";
const RAW_MD5 = "raw SDK copy + MD5";
const AZURITE_CRC64 =
  "Azurite computes a CRC64 of every write that carries no Content-MD5, byte by byte in JavaScript, on the emulator's one thread (the real service does its checking on its own side), so on Azurite the raw copy without checksums pays the emulator for checksums it did not ask for and is slower than it would be against Azure; the raw copy + MD5 sends each part's Content-MD5, as ours does, and puts the emulator on the same footing: compare ours with that one";
/** Full-scale sizes: the issue's 2 GiB model (in shards of 256 MiB) and one 6 GiB file. */
const MODEL_BYTES = 2048 * MiB;
const FILE_BYTES = 6144 * MiB;
const SHARD_BYTES = 256 * MiB;
/** S3 on moto: at most this many bytes per case (see the module comment). */
const S3_MAX_CASE_BYTES = 1024 * MiB;
/** A method slower than this floor rate is stopped (it would not finish in reasonable time), plus a fixed allowance. */
const FLOOR_BYTES_PER_S = 8 * MiB;
const ALLOWANCE_MS = 120000;

export type StoreKind = "azure" | "s3";

/** One measured method on one case, in the shape of bench.ts's rows, plus the emulator's own peak RSS. */
export interface StoreRow {
  case: string;
  store: StoreKind;
  method: string;
  /** The median run's wall time (every run's, in order, when there were several). */
  wallMs: number;
  runs?: number;
  wallMsAll?: number[];
  mbPerS: number;
  files: number;
  bytes: number;
  peakRssMiB: number;
  peakDiskMiB: number;
  /** The emulator's RSS when the method started, and its peak while it ran (what a large object costs the store). */
  storeStartRssMiB: number;
  storePeakRssMiB: number;
  clientCpuS: number;
  /** CPU seconds of the emulator and both MLflow servers while the method ran. */
  serverCpuS: number;
  phasesMs?: Record<string, number>;
  durationMs?: number;
  note?: string;
}

export interface StoreBenchResult {
  rows: StoreRow[];
  /** Per store and case: ours' wall time over the raw copy's (1.25 = ours takes 25% longer). */
  ratios: Record<
    string,
    {
      oursFullOverRaw: number | null;
      oursStoreOverRaw: number | null;
      /** Azurite: over the raw copy that sends Content-MD5 (see RAW_MD5). */
      oursFullOverRawMd5?: number | null;
      oursStoreOverRawMd5?: number | null;
    }
  >;
  notes: string[];
}

/** `length` deterministic pseudo-random bytes for `seed` (the AES-128-CTR keystream), `chunk` at a time. */
function* seededChunks(seed: string, length: number, chunk: number): Generator<Buffer> {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(chunk);
  for (let done = 0; done < length; done += chunk) yield cipher.update(zeros.subarray(0, Math.min(chunk, length - done)));
}

/** Writes and clears objects straight in the emulator, with its own account keys, through the store's SDK. */
interface DirectStore {
  /** Writes `length` seeded bytes to `key` in `root` (a container or bucket), in blocks, a few at a time. */
  write(root: string, key: string, length: number, seed: string): Promise<void>;
  /** Creates the container or bucket `root` if it does not exist. */
  ensure(root: string): Promise<void>;
  /** Deletes every object in `root` (a target between methods, so the disk holds one copy at a time). */
  clear(root: string): Promise<void>;
  close(): void;
}

function azureDirect(azurite: AzuriteHandle): DirectStore {
  const service = new BlobServiceClient(azurite.blobEndpoint, new StorageSharedKeyCredential(azurite.account, azurite.accountKey));
  const container = (root: string): ContainerClient => service.getContainerClient(root);
  return {
    async write(root, key, length, seed) {
      const blob = container(root).getBlockBlobClient(key);
      await blob.uploadStream(Readable.from(seededChunks(seed, length, DEFAULT_PART_SIZE)), DEFAULT_PART_SIZE, DEFAULT_PART_CONCURRENCY);
    },
    async ensure(root) {
      await container(root).createIfNotExists();
    },
    async clear(root) {
      const c = container(root);
      if (!(await c.exists())) return;
      for await (const b of c.listBlobsFlat()) await c.deleteBlob(b.name, { deleteSnapshots: "include" });
    },
    close() {
      /* the Azure SDK's pipeline holds no connections to release */
    },
  };
}

function s3Direct(moto: MotoHandle): DirectStore {
  const s3 = new S3Client({
    endpoint: moto.endpoint,
    region: moto.region,
    forcePathStyle: true,
    credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return {
    async write(Bucket, Key, length, seed) {
      const chunks = seededChunks(seed, length, DEFAULT_PART_SIZE);
      if (length <= DEFAULT_PART_SIZE) {
        const Body = Buffer.concat([...chunks]);
        await s3.send(new PutObjectCommand({ Bucket, Key, Body, ContentLength: Body.length }));
        return;
      }
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      const parts: { PartNumber: number; ETag?: string }[] = [];
      const inFlight = new Set<Promise<void>>();
      let PartNumber = 0;
      for (const Body of chunks) {
        const n = ++PartNumber;
        const p: Promise<void> = s3
          .send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: n, Body, ContentLength: Body.length }))
          .then((r) => void parts.push({ PartNumber: n, ETag: r.ETag }))
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= DEFAULT_PART_CONCURRENCY) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
    },
    async ensure(Bucket) {
      await s3.send(new CreateBucketCommand({ Bucket })).catch((e: Error) => {
        if (!["BucketAlreadyOwnedByYou", "BucketAlreadyExists"].includes(e.name)) throw e;
      });
    },
    async clear(Bucket) {
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket, ContinuationToken: token })).catch((e: Error) => {
          if (e.name === "NoSuchBucket") return undefined;
          throw e;
        });
        for (const o of page?.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket, Key: o.Key! }));
        token = page?.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
    close() {
      s3.destroy();
    },
  };
}

/** The files of one benchmark model: small files written as they are, large ones as seeded bytes. */
interface ModelSpec {
  name: string;
  small: Map<string, Buffer>;
  large: { path: string; bytes: number }[];
}

/** A transformer-shaped model of `bytes` in shards of about 256 MiB, with its config, tokenizer and MLmodel. */
function shardedModel(name: string, bytes: number): ModelSpec {
  const shards = Math.max(1, Math.round(bytes / SHARD_BYTES));
  const each = Math.floor(bytes / shards);
  return {
    name,
    small: new Map([
      ["MLmodel", Buffer.from(SIGNED_MLMODEL)],
      ["config.json", Buffer.from('{"hidden_size": 4096, "num_hidden_layers": 32}')],
      ["tokenizer/vocab.txt", Buffer.from("a\nb\nc\n")],
    ]),
    large: Array.from({ length: shards }, (_, i) => ({
      path: `model-${String(i + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`,
      bytes: i < shards - 1 ? each : bytes - each * (shards - 1),
    })),
  };
}

/** A model that is one large file (and the MLmodel Unity Catalog needs). */
function oneFileModel(name: string, bytes: number): ModelSpec {
  return { name, small: new Map([["MLmodel", Buffer.from(SIGNED_MLMODEL)]]), large: [{ path: "model.safetensors", bytes }] };
}

const totalBytes = (m: ModelSpec) => [...m.small.values()].reduce((s, b) => s + b.length, 0) + m.large.reduce((s, f) => s + f.bytes, 0);
const fileCount = (m: ModelSpec) => m.small.size + m.large.length;
const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;

/** One store kind's rig: the emulator, a workspace registry on it (the source) and a Unity Catalog registry on it (the target). */
class StoreRig {
  private constructor(
    readonly kind: StoreKind,
    readonly emulator: { azurite?: AzuriteHandle; moto?: MotoHandle; pid: number },
    readonly direct: DirectStore,
    readonly source: DatabricksTestServer,
    readonly target: DatabricksTestServer,
    readonly storage: UcStorage,
  ) {}

  static async start(kind: StoreKind, work: string, backends: [MlflowServer, MlflowServer]): Promise<StoreRig> {
    const azurite = kind === "azure" ? await startAzurite({ dir: path.join(work, "azurite") }) : undefined;
    const moto = kind === "s3" ? await startMoto() : undefined;
    const [pid] = ownChildren(kind === "azure" ? /azurite.*main\.js/ : /moto_server/);
    if (!pid) throw new Error(`could not find the ${kind} emulator's process to sample it`);
    const storage: UcStorage & ArtifactStorage = azurite ? { kind: "azure", azurite } : { kind: "s3", moto: moto! };
    const source = new DatabricksTestServer(backends[0].url, TOKEN, "memory");
    source.storage = storage;
    const target = new DatabricksTestServer(backends[1].url, TOKEN, "memory");
    const state = new ControlPlaneState({ token: TOKEN });
    state.ucSchemas.add("main.quant");
    target.ucRegistry = new UcRegistryApi({ storage, state });
    await target.ucRegistry.ensureStore();
    await Promise.all([source.start(), target.start()]);
    const direct = azurite ? azureDirect(azurite) : s3Direct(moto!);
    return new StoreRig(kind, { azurite, moto, pid }, direct, source, target, storage);
  }

  /** The emulator's endpoint for an SDK client: Azurite's blob service (with the account), or moto. */
  get endpoint(): string {
    return this.emulator.azurite?.blobEndpoint ?? this.emulator.moto!.endpoint;
  }

  /** The environment a raw copy needs: the emulator's published development keys (not secrets). */
  rawEnv(): NodeJS.ProcessEnv {
    const { azurite, moto } = this.emulator;
    return azurite
      ? { AZURE_STORAGE_ACCOUNT: azurite.account, AZURE_STORAGE_KEY: azurite.accountKey }
      : { AWS_ACCESS_KEY_ID: moto!.accessKeyId, AWS_SECRET_ACCESS_KEY: moto!.secretAccessKey, AWS_REGION: moto!.region };
  }

  private async api<T>(method: string, p: string, body: unknown): Promise<T> {
    const r = await fetch(`${this.source.url}/api/2.0/mlflow/${p}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await r.json()) as T;
    if (r.status !== 200) throw new Error(`seeding: ${method} ${p} answered ${r.status}: ${JSON.stringify(json).slice(0, 500)}`);
    return json;
  }

  /**
   * Registers `m` as version 1 in the source workspace registry: a run with a metric, its files in the store
   * under the run's artifacts (large ones generated and written block by block), then the model version.
   * Returns the store prefix the version's files live under.
   */
  async seed(m: ModelSpec): Promise<string> {
    const exp = await this.api<{ experiment_id: string }>("POST", "experiments/create", { name: `/Shared/bench-${m.name}` });
    const run = await this.api<{ run: { info: { run_id: string; artifact_uri: string } } }>("POST", "runs/create", {
      experiment_id: exp.experiment_id,
      start_time: Date.now(),
    });
    const runId = run.run.info.run_id;
    await this.api("POST", "runs/log-batch", {
      run_id: runId,
      metrics: [{ key: "precision", value: 0.91, timestamp: Date.now(), step: 0 }],
    });
    // Small files through the test server (which also creates the container or bucket); large ones straight into
    // the store, at the key the server keeps a run's artifact under (`<run>/artifacts/<path>`).
    for (const [p, data] of m.small) await this.source.putArtifact(runId, `model/${p}`, data);
    const prefix = `${runId}/artifacts/model`;
    for (const f of m.large) await this.direct.write(RUN_ARTIFACTS, `${prefix}/${f.path}`, f.bytes, `${m.name}/${f.path}`);
    await this.api("POST", "registered-models/create", { name: m.name });
    await this.api("POST", "model-versions/create", { name: m.name, source: `${run.run.info.artifact_uri}/model`, run_id: runId });
    return prefix;
  }

  async stop(): Promise<void> {
    this.direct.close();
    await Promise.all([this.source.stop(), this.target.stop()]);
    await (this.emulator.azurite ?? this.emulator.moto)!.stop();
  }
}

/** Ours, from dist/ directly: a source edited elsewhere in the tree must not trigger a rebuild inside a measurement. */
const OURS = ["-e", "require('./dist/cli/index.js').main(process.argv.slice(1)).then((c) => { process.exitCode = c; })"];

export interface StoreBenchOptions {
  scale: number;
  /** Runs of every method per case, interleaved; rows report the median. */
  runs: number;
  work: string;
  backends: [MlflowServer, MlflowServer];
  rawJs: string;
  log: (s: string) => void;
}

/** Runs the cloud-store cases on Azurite, then on moto. */
export async function storeBench(o: StoreBenchOptions): Promise<StoreBenchResult> {
  const rows: StoreRow[] = [];
  const ratios: StoreBenchResult["ratios"] = {};
  const notes: string[] = [];
  const sizes = { model: Math.round(MODEL_BYTES * o.scale), file: Math.round(FILE_BYTES * o.scale) };
  notes.push(AZURITE_CRC64);
  for (const kind of ["azure", "s3"] as const) {
    const cap = (b: number) => (kind === "s3" ? Math.min(b, S3_MAX_CASE_BYTES) : b);
    const capped = Object.entries(sizes).filter(([, b]) => kind === "s3" && b > S3_MAX_CASE_BYTES);
    if (capped.length)
      notes.push(
        `S3 on moto runs at most ${mib(S3_MAX_CASE_BYTES)} per case (${capped.map(([what, b]) => `the ${mib(b)} ${what} at ${mib(S3_MAX_CASE_BYTES)}`).join(", ")}): moto keeps objects in temp files at rest, but reads an object whole into memory for every GET and builds it whole (a bytearray, then a copy) to complete a multipart upload; its RSS grows by several times the object's size while one is copied (storeStartRssMiB -> storePeakRssMiB), so a 6 GiB file would need well over 12 GiB of its memory`,
      );
    o.log(`${kind}: starting the emulator and the two test workspaces ...`);
    const rig = await StoreRig.start(kind, o.work, o.backends);
    try {
      const serverPids = [rig.emulator.pid, ...o.backends.map((b) => b.pid!)];
      const cpu = () => serverPids.reduce((s, pid) => s + treeCpuSeconds(pid), 0);
      const run = async (args: string[], env: NodeJS.ProcessEnv, scratch: string, timeoutMs: number) => {
        const before = cpu();
        const storeStartRssBytes = treeRssBytes(rig.emulator.pid);
        const r = await measured(NODE, args, env, path.join(o.work, scratch), PROJECT_DIR, { timeoutMs, alsoSample: [rig.emulator.pid] });
        return { ...r, serverCpuS: cpu() - before, storeStartRssBytes };
      };
      const oursEnv = { DATABRICKS_TOKEN: TOKEN, ...storeEnv(rig.storage) };
      const ours = (model: string, toModel: string, verify: "full" | "store", timeoutMs: number) =>
        run(
          [
            ...OURS,
            "migrate",
            "--from",
            `databricks+${rig.source.url}`,
            "--to",
            `databricks-uc+${rig.target.url}`,
            "--model",
            model,
            "--version",
            "1",
            "--to-model",
            `main.quant.${toModel}`,
            "--verify",
            verify,
            "--json",
          ],
          oursEnv,
          `s-${kind}-${toModel}`,
          timeoutMs,
        );
      const raw = (prefix: string, to: string, md5: boolean, timeoutMs: number) =>
        run(
          [
            o.rawJs,
            kind,
            rig.endpoint,
            RUN_ARTIFACTS,
            prefix,
            RAW_TARGET,
            to,
            String(DEFAULT_PART_SIZE),
            String(DEFAULT_PART_CONCURRENCY),
            String(DEFAULT_CONCURRENCY),
            ...(md5 ? ["md5"] : []),
          ],
          rig.rawEnv(),
          `s-${kind}-raw-${to}`,
          timeoutMs,
        );

      // Unmeasured: a fresh server pays its warm-up (lazy imports, the first STS call) on first use.
      const warm = oneFileModel(`warmup-${kind}`, 2 * MiB);
      await rig.seed(warm);
      const w = await ours(warm.name, `warmup_${kind}`, "full", ALLOWANCE_MS);
      if (w.code !== 0) throw new Error(`${kind}: the warm-up migration failed: ${w.stderr.slice(-1500)}`);
      await rig.direct.clear(METASTORE_ROOT);
      await rig.direct.ensure(RAW_TARGET);

      const cases = [
        { label: `${mib(cap(sizes.model))} model`, spec: shardedModel(`bench-${kind}-model`, cap(sizes.model)) },
        { label: `${mib(cap(sizes.file))} file`, spec: oneFileModel(`bench-${kind}-file`, cap(sizes.file)) },
      ];
      for (const c of cases) {
        const bytes = totalBytes(c.spec);
        o.log(`${kind}: ${c.label}: seeding ${mib(bytes)} into the source store ...`);
        const t0 = Date.now();
        const prefix = await rig.seed(c.spec);
        o.log(`${kind}: ${c.label}: seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const timeoutMs = ALLOWANCE_MS + (bytes / FLOOR_BYTES_PER_S) * 1000;
        const results = new Map<string, Measured[]>();
        const record = (method: string, r: Measured) => results.set(method, [...(results.get(method) ?? []), r]);
        // Runs interleaved (every method once, then again), so a load that comes and goes hits all of them alike.
        for (let n = 1; n <= o.runs; n++) {
          const of = o.runs > 1 ? ` (run ${n}/${o.runs})` : "";
          for (const verify of ["full", "store"] as const) {
            o.log(`${kind}: ${c.label}: ours --verify ${verify}${of} ...`);
            record(
              verify === "full" ? FULL : STORE,
              await ours(c.spec.name, `${c.spec.name.replace(/-/g, "_")}_${verify}_${n}`, verify, timeoutMs),
            );
            await rig.direct.clear(METASTORE_ROOT);
          }
          for (const md5 of kind === "azure" ? [false, true] : [false]) {
            o.log(`${kind}: ${c.label}: ${md5 ? RAW_MD5 : RAW}${of} ...`);
            record(md5 ? RAW_MD5 : RAW, await raw(prefix, `${c.spec.name}-${n}${md5 ? "-md5" : ""}`, md5, timeoutMs));
            await rig.direct.clear(RAW_TARGET);
          }
        }
        for (const [method, rs] of results) rows.push(row(c.label, kind, method, rs, bytes, fileCount(c.spec), timeoutMs));
        const wall = (m: string) => {
          const x = rows.find((r) => r.case === c.label && r.store === kind && r.method === m);
          return x && !x.note ? x.wallMs : undefined;
        };
        const over = (m: string, base: string) => {
          const [ms, baseMs] = [wall(m), wall(base)];
          return ms !== undefined && baseMs !== undefined ? ms / baseMs : null;
        };
        ratios[`${kind}: ${c.label}`] = {
          oursFullOverRaw: over(FULL, RAW),
          oursStoreOverRaw: over(STORE, RAW),
          ...(kind === "azure" ? { oursFullOverRawMd5: over(FULL, RAW_MD5), oursStoreOverRawMd5: over(STORE, RAW_MD5) } : {}),
        };
        // The source's copy of this case goes before the next is written: the disk holds one case at a time.
        await rig.direct.clear(RUN_ARTIFACTS);
      }
    } finally {
      await rig.stop();
      fs.rmSync(path.join(o.work, "azurite"), { recursive: true, force: true });
    }
  }
  return { rows, ratios, notes };
}

type Measured = RunResult & { serverCpuS: number; storeStartRssBytes: number };

/**
 * A row from the run of median wall time (peaks: the median of the runs' peaks); a failure or a timeout in any
 * run is recorded as a note rather than ending the benchmark.
 */
function row(
  caseName: string,
  store: StoreKind,
  method: string,
  rs: Measured[],
  bytes: number,
  files: number,
  timeoutMs: number,
): StoreRow {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const failed = rs.find((x) => x.timedOut || x.code !== 0);
  const r = failed ?? rs.find((x) => x.wallMs === median(rs.map((y) => y.wallMs)))!;
  let phases: Pick<StoreRow, "phasesMs" | "durationMs"> = {};
  if (method === FULL || method === STORE) {
    try {
      const j = JSON.parse(r.stdout) as { phasesMs?: Record<string, number>; durationMs?: number };
      phases = { phasesMs: j.phasesMs, durationMs: j.durationMs };
    } catch {
      /* no report: the run failed, noted below */
    }
  }
  const note = r.timedOut
    ? `stopped after ${Math.round(timeoutMs / 1000)} s (slower than ${FLOOR_BYTES_PER_S / MiB} MiB/s)`
    : r.code !== 0
      ? `failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" ").slice(0, 400)}`
      : undefined;
  return {
    case: caseName,
    store,
    method,
    wallMs: r.wallMs,
    mbPerS: bytes / MiB / (r.wallMs / 1000),
    files,
    bytes,
    ...(rs.length > 1 ? { runs: rs.length, wallMsAll: rs.map((x) => x.wallMs) } : {}),
    peakRssMiB: median(rs.map((x) => x.peakRssBytes)) / MiB,
    peakDiskMiB: Math.max(...rs.map((x) => x.peakDiskBytes)) / MiB,
    storeStartRssMiB: r.storeStartRssBytes / MiB,
    storePeakRssMiB: Math.max(...rs.map((x) => x.peakSampledRssBytes ?? 0)) / MiB,
    clientCpuS: median(rs.map((x) => x.cpuS)),
    serverCpuS: median(rs.map((x) => x.serverCpuS)),
    ...phases,
    ...(note ? { note } : {}),
  };
}

/** The table and ratio lines bench.ts prints. */
export function storeLines(res: StoreBenchResult): string[] {
  const f = (n: number, d = 1) => n.toFixed(d);
  const name = (k: StoreKind) => (k === "azure" ? "Azurite" : "moto S3");
  return [
    "store    case              method                  wall s    MiB/s  peak RSS MiB  store RSS MiB (start -> peak)  local disk MiB  client CPU s  servers CPU s",
    ...res.rows.map(
      (r) =>
        `${name(r.store).padEnd(8)} ${r.case.padEnd(17)} ${r.method.padEnd(22)} ${f(r.wallMs / 1000).padStart(7)} ${f(r.mbPerS).padStart(8)} ${f(r.peakRssMiB).padStart(13)} ${`${f(r.storeStartRssMiB, 0)} -> ${f(r.storePeakRssMiB, 0)}`.padStart(30)} ${f(r.peakDiskMiB).padStart(15)} ${f(r.clientCpuS).padStart(13)} ${f(r.serverCpuS).padStart(14)}${r.note ? `  (${r.note})` : ""}`,
    ),
    "",
    "profile of ours (ms per phase; copy includes the read-back with --verify full; start = process start and exit)",
    ...res.rows
      .filter((r) => r.phasesMs)
      .map(
        (r) =>
          `${name(r.store).padEnd(8)} ${r.case.padEnd(17)} ${r.method.padEnd(22)} start ${r.wallMs - (r.durationMs ?? r.wallMs)}  ${Object.entries(
            r.phasesMs!,
          )
            .map(([k, v]) => `${k} ${v}`)
            .join("  ")}`,
      ),
    "",
    ...Object.entries(res.ratios).map(([k, v]) => {
      const x = (r: number | null | undefined) => (r === null || r === undefined ? "n/a" : `${f(r, 2)}x`);
      const md5 =
        "oursFullOverRawMd5" in v ? `; over the raw copy + MD5: full ${x(v.oursFullOverRawMd5)}, store ${x(v.oursStoreOverRawMd5)}` : "";
      return `ratio ours/raw time, ${k}: --verify full ${x(v.oursFullOverRaw)}, --verify store ${x(v.oursStoreOverRaw)}${md5}`;
    }),
    ...res.notes.map((n) => `note: ${n}`),
  ];
}
