/**
 * The physical baseline for cloud stores: every object below a source prefix streamed into a target prefix
 * through the store's own SDK, in parts of the same size and as many in flight as ours, with no checksum, no
 * hashing, no verification and no registry call. Azure: `download()`, then Put Block of each part and Put Block
 * List (Put Blob when the object fits one part). S3: `GetObject`, then a multipart upload (PutObject when the
 * object fits one part), unsigned payloads, the SDK's default checksums off.
 *   node dist/bench/rawStoreCopy.js azure|s3 <endpoint> <source container|bucket> <source prefix>
 *        <target container|bucket> <target prefix> <part size> <part concurrency> <file concurrency> [md5]
 * `md5` (Azure only) sends each request's Content-MD5 after all: Azurite, when a write carries none, computes a
 * CRC64 of it byte by byte in JavaScript, which the real service does not charge a client for, so this is the
 * control that puts the emulator on the same footing as ours.
 * The endpoint is the blob service's (`http://127.0.0.1:PORT/account` on Azurite) or S3's. Credentials come from
 * the environment, never the command line: AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (the account's shared
 * key), or AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION. (bench.ts compiles it into dist/, as it does
 * rawCopy.ts.) The target container or bucket must exist. Prints `{files, bytes, elapsedMs}`, elapsedMs from the
 * first call to the last byte.
 */
import { createHash } from "crypto";
import { Readable } from "stream";
import { reader } from "../migration/partedUpload";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";

interface Args {
  endpoint: string;
  srcRoot: string;
  srcPrefix: string;
  dstRoot: string;
  dstPrefix: string;
  partSize: number;
  partConcurrency: number;
  concurrency: number;
  md5: boolean;
}

interface Listed {
  key: string;
  size: number;
}

/** One store as the copy uses it: list, read, and write one object in one request or in parts. */
interface Store {
  list(): Promise<Listed[]>;
  read(key: string): Promise<Readable>;
  put(key: string, body: Buffer): Promise<void>;
  /** Starts an upload in parts and returns how to send each part and how to finish. */
  start(key: string): Promise<{ part(n: number, body: Buffer): Promise<void>; complete(): Promise<void> }>;
}

/** Runs `fn` over `items`, `n` at a time. */
async function limited<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, n) }, worker));
}

/** One object: one request when it fits a part, else parts with `partConcurrency` in flight (as ours). */
async function copyObject(store: Store, f: Listed, a: Args): Promise<void> {
  const key = `${a.dstPrefix}/${f.key.slice(a.srcPrefix.length + 1)}`;
  const read = reader(await store.read(f.key));
  if (f.size <= a.partSize) return store.put(key, await read(f.size));
  const upload = await store.start(key);
  const inFlight = new Set<Promise<void>>();
  for (let n = 1; (n - 1) * a.partSize < f.size; n++) {
    const p: Promise<void> = upload.part(n, await read(a.partSize)).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= a.partConcurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await upload.complete();
}

function azureStore(a: Args): Store {
  const { AZURE_STORAGE_ACCOUNT: account, AZURE_STORAGE_KEY: key } = process.env;
  if (!account || !key) throw new Error("set AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY");
  const service = new BlobServiceClient(a.endpoint, new StorageSharedKeyCredential(account, key));
  const src = service.getContainerClient(a.srcRoot);
  const dst = service.getContainerClient(a.dstRoot);
  const md5 = (body: Buffer) => (a.md5 ? { transactionalContentMD5: createHash("md5").update(body).digest() } : {});
  const blockId = (n: number) => Buffer.from(`raw-${String(n).padStart(6, "0")}`).toString("base64");
  return {
    async list() {
      const files: Listed[] = [];
      for await (const b of src.listBlobsFlat({ prefix: `${a.srcPrefix}/` }))
        files.push({ key: b.name, size: b.properties.contentLength ?? 0 });
      return files;
    },
    read: async (k) => (await src.getBlobClient(k).download()).readableStreamBody as Readable,
    async put(k, body) {
      await dst.getBlockBlobClient(k).upload(body, body.length, md5(body));
    },
    async start(k) {
      const blob = dst.getBlockBlobClient(k);
      const ids: string[] = [];
      return {
        async part(n, body) {
          ids[n - 1] = blockId(n);
          await blob.stageBlock(blockId(n), body, body.length, md5(body));
        },
        async complete() {
          await blob.commitBlockList(ids);
        },
      };
    },
  };
}

function s3Store(a: Args): Store {
  const client = new S3Client({
    endpoint: a.endpoint,
    forcePathStyle: true,
    region: process.env.AWS_REGION || "us-east-1",
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  // No payload hash either: the signer would otherwise hash every part it signs.
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      return next(args);
    },
    { step: "build", name: "unsignedPayload" },
  );
  return {
    async list() {
      const files: Listed[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: a.srcRoot, Prefix: `${a.srcPrefix}/`, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) files.push({ key: o.Key!, size: o.Size ?? 0 });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return files;
    },
    read: async (Key) => (await client.send(new GetObjectCommand({ Bucket: a.srcRoot, Key }))).Body as Readable,
    async put(Key, Body) {
      await client.send(new PutObjectCommand({ Bucket: a.dstRoot, Key, Body, ContentLength: Body.length }));
    },
    async start(Key) {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: a.dstRoot, Key }));
      const parts: { PartNumber: number; ETag?: string }[] = [];
      return {
        async part(PartNumber, Body) {
          const r = await client.send(
            new UploadPartCommand({ Bucket: a.dstRoot, Key, UploadId, PartNumber, Body, ContentLength: Body.length }),
          );
          parts.push({ PartNumber, ETag: r.ETag });
        },
        async complete() {
          parts.sort((x, y) => x.PartNumber - y.PartNumber);
          await client.send(new CompleteMultipartUploadCommand({ Bucket: a.dstRoot, Key, UploadId, MultipartUpload: { Parts: parts } }));
        },
      };
    },
  };
}

async function main() {
  const started = Date.now();
  const [kind, endpoint, srcRoot, srcPrefix, dstRoot, dstPrefix, partSize, partConcurrency, concurrency, md5] = process.argv.slice(2);
  const a: Args = {
    endpoint,
    srcRoot,
    srcPrefix: srcPrefix.replace(/\/+$/, ""),
    dstRoot,
    dstPrefix: dstPrefix.replace(/\/+$/, ""),
    partSize: Number(partSize),
    partConcurrency: Number(partConcurrency),
    concurrency: Number(concurrency),
    md5: md5 === "md5",
  };
  if (kind !== "azure" && kind !== "s3") throw new Error(`unknown store kind '${kind}': azure or s3`);
  if (a.md5 && kind !== "azure") throw new Error("md5 is the Azurite control: azure only");
  const store = kind === "azure" ? azureStore(a) : s3Store(a);
  const files = await store.list();
  if (!files.length) throw new Error(`nothing below ${srcRoot}/${srcPrefix}`);
  await limited(files, a.concurrency, (f) => copyObject(store, f, a));
  console.log(JSON.stringify({ files: files.length, bytes: files.reduce((s, f) => s + f.size, 0), elapsedMs: Date.now() - started }));
}
main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
