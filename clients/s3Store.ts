/**
 * An ObjectStore over an S3 bucket and prefix, signed with temporary credentials (Unity Catalog's
 * `aws_temp_credentials`), on AWS or an S3-compatible endpoint.
 *
 * What the request asks S3 to verify: every write carries the body's SHA-256 twice, as the flexible checksum
 * `x-amz-checksum-sha256` (S3 refuses a mismatch with 400 BadDigest and keeps the checksum with the object;
 * for a multipart object, the composite of the parts' checksums) and as the signed payload hash
 * `x-amz-content-sha256` (XAmzContentSHA256Mismatch), plus Content-MD5 (BadDigest), which S3-compatible
 * servers without flexible checksums still check. The SDK's own checksums are off ("WHEN_REQUIRED"), so
 * it neither hashes the body again nor rewrites a stream into aws-chunked encoding.
 *
 * The SDK's retries are off (`maxAttempts: 1`): the engine's `withRetry` is the one retry policy, and a
 * retried PutObject could not replay a stream the SDK has already consumed.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { createHash } from "crypto";
import { Readable } from "stream";
import { IDLE_TIMEOUT_MS } from "./http";
import { AwsCredentials, exactly, inOrder, keyBelow, listPrefix, Renewable, S3Encryption, storeError, StoreFailure } from "./cloudStores";
import { ObjectSink, ObjectStore, PartReceipt, S3_MAX_PARTS, S3_SINGLE_PUT_LIMIT, StoredObject, StoreSettings } from "./objectStore";

/** Where an S3Store's requests go. */
export interface S3Target {
  /** The location, for messages (no credentials). */
  where: string;
  bucket: string;
  /** The store's root below the bucket, without leading or trailing '/'. */
  prefix: string;
  /** Server-side encryption the bucket requires on writes (from the credentials' encryption details). */
  sse?: S3Encryption;
}

export class S3Store implements ObjectStore {
  readonly kind = "s3" as const;
  readonly where: string;
  private readonly root: string;
  private client?: { generation: number; client: S3Client };

  constructor(
    private readonly target: S3Target,
    private readonly credentials: Renewable<AwsCredentials>,
    private readonly settings: StoreSettings,
  ) {
    this.where = target.where;
    this.root = target.prefix;
  }

  get bucket(): string {
    return this.target.bucket;
  }

  get sse(): S3Encryption | undefined {
    return this.target.sse;
  }

  async list(prefix: string): Promise<{ key: string; size: number }[]> {
    const full = listPrefix(this.root, prefix, this.where);
    const cut = this.root ? this.root.length + 1 : 0;
    const out: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.call("ListObjectsV2", prefix, (s3) =>
        s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: full, ContinuationToken: token })),
      );
      for (const o of page.Contents ?? []) {
        // A "folder" made by a console or a Hadoop client is an empty object named with a trailing '/'.
        if (!o.Key || o.Key.endsWith("/")) continue;
        out.push({ key: o.Key.slice(cut), size: o.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const Key = keyBelow(this.root, key, this.where);
    let h;
    try {
      h = await this.call("HeadObject", key, (s3) => s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key, ChecksumMode: "ENABLED" })));
    } catch (e) {
      if ((e as { status?: number }).status === 404) return undefined;
      throw e;
    }
    const size = h.ContentLength ?? 0;
    if (!h.ChecksumSHA256) return { size };
    return { size, checksum: sha256Checksum(h.ChecksumSHA256, h.ChecksumType, h.ETag) };
  }

  async get(key: string, range?: { start: number; end: number }): Promise<{ body: Readable; length: number }> {
    const Key = keyBelow(this.root, key, this.where);
    if (range && !(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start)) {
      throw new Error(`${this.where}: invalid byte range ${JSON.stringify(range)} for ${JSON.stringify(key)}`);
    }
    const res = await this.call("GetObject", key, (s3) =>
      s3.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range: range ? `bytes=${range.start}-${range.end}` : undefined })),
    );
    const length = res.ContentLength ?? 0;
    if (!(res.Body instanceof Readable)) {
      throw storeError({ status: 0, message: "the response carried no readable body" }, "GetObject", this.where, key, this.secrets());
    }
    return {
      body: exactly(res.Body, length, (message) => storeError({ status: 0, message }, "GetObject", this.where, key, this.secrets())),
      length,
    };
  }

  async delete(key: string): Promise<void> {
    const Key = keyBelow(this.root, key, this.where);
    await this.call("DeleteObject", key, (s3) => s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })));
  }

  sink(key: string): ObjectSink {
    return new S3Sink(
      this,
      key,
      keyBelow(this.root, key, this.where),
      this.settings.partSize,
      this.settings.singlePutLimit ?? S3_SINGLE_PUT_LIMIT,
    );
  }

  /** One request with the current credentials, renewed once if S3 reports them expired, failures worded as HttpError. */
  async call<R>(op: string, key: string | undefined, fn: (s3: S3Client) => Promise<R>, replayable = true): Promise<R> {
    try {
      return await this.credentials.run(() => fn(this.currentClient()), isExpiredToken, replayable);
    } catch (e) {
      throw storeError(s3Failure(e), op, this.where, key || undefined, this.secrets());
    }
  }

  secrets(): string[] {
    const c = this.credentials.current.value;
    return [c.secretAccessKey, c.sessionToken ?? ""];
  }

  private currentClient(): S3Client {
    const { value, generation } = this.credentials.current;
    if (this.client?.generation !== generation) {
      // The previous client is left to go idle, not destroyed: requests still in flight on it finish or fail on their own.
      const endpoint = this.settings.s3Endpoint;
      this.client = {
        generation,
        client: new S3Client({
          region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1",
          ...(endpoint ? { endpoint, forcePathStyle: true } : { followRegionRedirects: true }),
          credentials: { ...value },
          maxAttempts: 1,
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
          // requestTimeout is the socket's idle timeout: a stalled transfer fails, a slow one does not.
          requestHandler: { requestTimeout: IDLE_TIMEOUT_MS, connectionTimeout: 30000 },
          logger: SDK_LOGGER,
        }),
      };
    }
    return this.client.client;
  }
}

/**
 * The SDK's own warnings (e.g. "An error was encountered in a non-retryable streaming request", printed to the
 * console by default) repeat what the store's errors say; they are shown only when debugging, as retries are.
 */
const debugOnly = (...args: unknown[]) => {
  if (process.env.QUANT_MIGRATE_DEBUG) process.stderr.write(`s3: ${args.map(String).join(" ")}\n`);
};
const SDK_LOGGER = { trace: () => {}, debug: () => {}, info: () => {}, warn: debugOnly, error: debugOnly };

class S3Sink implements ObjectSink {
  readonly maxParts = S3_MAX_PARTS;

  constructor(
    private readonly store: S3Store,
    private readonly key: string,
    private readonly Key: string,
    readonly partSize: number,
    readonly singlePutLimit: number,
  ) {}

  async put(body: Readable | Buffer, length: number, checksum: { md5: string; sha256: string }): Promise<void> {
    const sha = Buffer.from(checksum.sha256, "base64");
    if (sha.length !== 32)
      throw new Error(`${this.store.where}: ${JSON.stringify(checksum.sha256)} is not a base64 SHA-256 (for ${this.key})`);
    const command = new PutObjectCommand({
      Bucket: this.store.bucket,
      Key: this.Key,
      Body: body,
      ContentLength: length,
      ContentMD5: checksum.md5,
      ChecksumAlgorithm: "SHA256",
      ChecksumSHA256: checksum.sha256,
      ...this.store.sse,
    });
    command.middlewareStack.add(payloadHash(sha), PAYLOAD_HASH);
    await this.store.call("PutObject", this.key, (s3) => s3.send(command), Buffer.isBuffer(body));
  }

  async start(parts: number): Promise<string> {
    if (!(Number.isSafeInteger(parts) && parts >= 1 && parts <= this.maxParts)) {
      throw new Error(`${this.store.where}: ${parts} parts for ${this.key}; S3 allows 1 to ${this.maxParts}`);
    }
    const res = await this.store.call("CreateMultipartUpload", this.key, (s3) =>
      s3.send(
        new CreateMultipartUploadCommand({ Bucket: this.store.bucket, Key: this.Key, ChecksumAlgorithm: "SHA256", ...this.store.sse }),
      ),
    );
    if (!res.UploadId) throw new Error(`${this.store.where}: CreateMultipartUpload of ${this.key} answered no UploadId`);
    return res.UploadId;
  }

  async uploadPart(uploadId: string, partNumber: number, data: Buffer): Promise<PartReceipt> {
    if (!(Number.isSafeInteger(partNumber) && partNumber >= 1 && partNumber <= this.maxParts)) {
      throw new Error(`${this.store.where}: part ${partNumber} of ${this.key} is outside 1..${this.maxParts}`);
    }
    const sha = createHash("sha256").update(data).digest();
    const checksum = sha.toString("base64");
    const command = new UploadPartCommand({
      Bucket: this.store.bucket,
      Key: this.Key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: data,
      ContentLength: data.length,
      ContentMD5: createHash("md5").update(data).digest("base64"),
      ChecksumAlgorithm: "SHA256",
      ChecksumSHA256: checksum,
    });
    command.middlewareStack.add(payloadHash(sha), PAYLOAD_HASH);
    const res = await this.store.call(`UploadPart ${partNumber} of`, this.key, (s3) => s3.send(command));
    if (!res.ETag) throw new Error(`${this.store.where}: UploadPart ${partNumber} of ${this.key} answered no ETag`);
    if (res.ChecksumSHA256 && res.ChecksumSHA256 !== checksum) {
      throw new Error(
        `${this.store.where}: S3 acknowledged part ${partNumber} of ${this.key} with SHA-256 ${res.ChecksumSHA256}, not the ${checksum} sent`,
      );
    }
    return { partNumber, size: data.length, checksum, etag: res.ETag };
  }

  /** The parts S3 holds for the upload; `checksum` is "" where the server does not report one (moto). */
  async listParts(uploadId: string): Promise<PartReceipt[] | undefined> {
    const out: PartReceipt[] = [];
    let marker: string | undefined;
    do {
      const page = await this.store.call("ListParts", this.key, (s3) =>
        s3.send(new ListPartsCommand({ Bucket: this.store.bucket, Key: this.Key, UploadId: uploadId, PartNumberMarker: marker })),
      );
      for (const p of page.Parts ?? []) {
        if (p.PartNumber === undefined) continue;
        out.push({ partNumber: p.PartNumber, size: p.Size ?? 0, checksum: p.ChecksumSHA256 ?? "", etag: p.ETag });
      }
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    return out.sort((a, b) => a.partNumber - b.partNumber);
  }

  async complete(uploadId: string, parts: PartReceipt[]): Promise<void> {
    const ordered = inOrder(parts, this.store.where, this.key);
    const missing = ordered.filter((p) => !p.etag || !p.checksum).map((p) => p.partNumber);
    if (missing.length) {
      throw new Error(
        `${this.store.where}: cannot complete ${this.key}: parts ${missing.join(", ")} have no ETag or SHA-256 (use the upload receipts)`,
      );
    }
    await this.store.call("CompleteMultipartUpload", this.key, (s3) =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.store.bucket,
          Key: this.Key,
          UploadId: uploadId,
          MultipartUpload: { Parts: ordered.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag, ChecksumSHA256: p.checksum })) },
        }),
      ),
    );
  }

  /** Discards the uploaded parts; an upload already gone (aborted, completed or expired) is not an error. */
  async abort(uploadId: string): Promise<void> {
    try {
      await this.store.call("AbortMultipartUpload", this.key, (s3) =>
        s3.send(new AbortMultipartUploadCommand({ Bucket: this.store.bucket, Key: this.Key, UploadId: uploadId })),
      );
    } catch (e) {
      if ((e as { code?: string }).code !== "NoSuchUpload") throw e;
    }
  }
}

/**
 * A build step that sends the body's SHA-256 as the signed payload hash: S3 then checks the body against it,
 * and the signer neither hashes the body a second time nor signs a stream as UNSIGNED-PAYLOAD.
 */
function payloadHash(sha256: Buffer) {
  const hex = sha256.toString("hex");
  return <A extends { request: unknown }, R>(next: (args: A) => Promise<R>) =>
    (args: A): Promise<R> => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-content-sha256"] = hex;
      return next(args);
    };
}
const PAYLOAD_HASH = { step: "build", name: "quantPayloadHash" } as const;

/**
 * The object's SHA-256 as StoredObject reports it. A multipart object's is the composite
 * `base64(sha256(part checksums))-N`; moto's HeadObject leaves out the `-N` (and the checksum type), so the
 * part count is taken from the multipart ETag (`"<md5>-N"`) then.
 */
function sha256Checksum(
  value: string,
  type: string | undefined,
  etag: string | undefined,
): { algorithm: "sha256" | "sha256-composite"; value: string } {
  if (/-\d+$/.test(value)) return { algorithm: "sha256-composite", value };
  const parts = /-(\d+)"?$/.exec(etag ?? "")?.[1];
  if (type === "COMPOSITE" || parts) return { algorithm: "sha256-composite", value: parts ? `${value}-${parts}` : value };
  return { algorithm: "sha256", value };
}

/**
 * Credentials S3 reports as expired: ExpiredToken (and its variants), or a HEAD's bare 400/403 (no body, no
 * code) - renewing costs one registry call, and a second refusal is then reported as it is.
 */
function isExpiredToken(e: unknown): boolean {
  if (!(e instanceof S3ServiceException)) return false;
  if (["ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired", "InvalidToken"].includes(e.name)) return true;
  const status = e.$metadata?.httpStatusCode;
  return (status === 400 || status === 403) && (e.name === "BadRequest" || e.name === "Forbidden") && e.message === "UnknownError";
}

const renewed = (e: unknown) => (e as { credentialsRenewed?: boolean }).credentialsRenewed === true;

function s3Failure(e: unknown): StoreFailure {
  const x = e as {
    name?: string;
    code?: unknown;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $response?: { headers?: Record<string, string> };
    $responseBodyText?: string;
  };
  const status = x.$metadata?.httpStatusCode;
  if (e instanceof Error && status !== undefined) {
    const retryAfter = x.$response?.headers?.["retry-after"];
    if (e instanceof S3ServiceException) {
      // A HEAD answer has no body: the SDK names the error after the status and has no message.
      const message = e.message && e.message !== "UnknownError" ? e.message : `(${e.name}; no error body)`;
      return { status, code: e.name, message, retryAfter, credentialsRenewed: renewed(e) };
    }
    // An answer that is not S3's XML (a proxy's or load balancer's page): its status is what counts.
    const body = x.$responseBodyText?.trim().slice(0, 200);
    return { status, message: body ? `answered a body that is not S3's: ${body}` : e.message, retryAfter };
  }
  // No answer: a refused or reset connection (a system error code), or the socket's idle timeout.
  const systemCode = typeof x.code === "string" && /^E[A-Z0-9_]+$/.test(x.code) ? x.code : undefined;
  if (e instanceof Error && (x.$metadata !== undefined || systemCode || x.name === "TimeoutError" || x.name === "AbortError")) {
    return { status: 0, code: systemCode ?? x.name, message: e.message };
  }
  // Not the store's answer (the registry failing to renew the credentials, a bug): as it is.
  throw e;
}
