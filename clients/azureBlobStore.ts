/**
 * An ObjectStore over an Azure Blob container and prefix (or over one blob addressed by a signed URL),
 * signed with a SAS: a Unity Catalog user-delegation SAS, a container or directory SAS, or a workspace
 * registry's per-file SAS URL. ADLS Gen2 locations are reached through the Blob API of the same account.
 *
 * What the service verifies: Put Blob and Put Block carry the body's Content-MD5 and the service refuses a
 * body that does not match it (400 Md5Mismatch); Put Blob then stores that MD5 as the blob's Content-MD5. A
 * blob committed from blocks has no service-computed MD5: `head` reports its committed block sizes instead.
 *
 * The SDK's own retries are off (one try, and no re-request of a download body cut short): the engine's
 * `withRetry` is the one retry policy, and a retried upload could not replay a stream the SDK has already
 * consumed. (The SDK's download resume would not help anyway: a connection reset mid-body surfaces as an
 * abort, which it does not resume.)
 */
import {
  AnonymousCredential,
  BlockBlobClient,
  ContainerClient,
  newPipeline,
  RequestPolicy,
  RequestPolicyFactory,
  RestError,
  WebResource,
} from "@azure/storage-blob";
import { createHash } from "crypto";
import { Readable } from "stream";
import { IDLE_TIMEOUT_MS } from "./http";
import { AzureSas, exactly, inOrder, keyBelow, listPrefix, Renewable, storeError, StoreFailure } from "./cloudStores";
import { AZURE_MAX_PARTS, AZURE_SINGLE_PUT_LIMIT, ObjectSink, ObjectStore, PartReceipt, StoredObject, StoreSettings } from "./objectStore";

/** Where an AzureBlobStore's requests go. */
export interface AzureBlobTarget {
  /** The location, for messages (no credentials). */
  where: string;
  /** The container's URL, without query string: `https://account.blob.core.windows.net/container`. */
  containerUrl: string;
  /** The store's root below the container, without leading or trailing '/'. */
  prefix: string;
}

/** Blocks of our uploads: base64 of a fixed-length name holding the part number (all ids of a blob must be equally long). */
const BLOCK_NAME = /^quant-part-(\d{21})$/;
const blockId = (partNumber: number) => Buffer.from(`quant-part-${String(partNumber).padStart(21, "0")}`).toString("base64");
function partNumberOf(id: string): number | undefined {
  const m = BLOCK_NAME.exec(Buffer.from(id, "base64").toString("latin1"));
  return m ? Number(m[1]) : undefined;
}

interface AzureClients {
  container(): ContainerClient;
  blob(name: string): BlockBlobClient;
}

/** The id `start` returns: Azure keys staged blocks by the blob, so there is no upload to name. */
const BLOCK_LIST_UPLOAD = "block-list";

export class AzureBlobStore implements ObjectStore {
  readonly kind = "azure-blob" as const;
  readonly where: string;
  private readonly root: string;
  /** The clients for the current credentials (each renewal brings its own SAS and headers). */
  private clients?: { generation: number; clients: AzureClients };

  constructor(
    /** With `single`, the store is one blob and `containerUrl` is that blob's URL. */
    private readonly target: AzureBlobTarget & { single?: boolean },
    private readonly credentials: Renewable<AzureSas>,
    private readonly settings: StoreSettings,
  ) {
    this.where = target.where;
    this.root = target.prefix;
  }

  /** A store of exactly one blob, addressed by a signed URL: its key is "". */
  static forSignedBlob(
    blob: { where: string; blobUrl: string; credentials: Renewable<AzureSas> },
    settings: StoreSettings,
  ): AzureBlobStore {
    return new AzureBlobStore({ where: blob.where, containerUrl: blob.blobUrl, prefix: "", single: true }, blob.credentials, settings);
  }

  async list(prefix: string): Promise<{ key: string; size: number }[]> {
    if (this.target.single) throw new Error(`${this.where}: a signed-URL store holds one blob and cannot be listed`);
    const full = listPrefix(this.root, prefix, this.where);
    const cut = this.root ? this.root.length + 1 : 0;
    return this.call("ListBlobs", prefix, async (c, signal) => {
      const out: { key: string; size: number }[] = [];
      const pages = c.container().listBlobsFlat({ prefix: full, includeMetadata: true, abortSignal: signal }).byPage({ maxPageSize: 5000 });
      for await (const page of pages) {
        for (const b of page.segment.blobItems) {
          // An ADLS Gen2 (hierarchical namespace) account lists its directories as empty blobs.
          if (b.metadata?.hdi_isfolder === "true") continue;
          out.push({ key: b.name.slice(cut), size: b.properties.contentLength ?? 0 });
        }
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    });
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const name = this.blobName(key);
    try {
      return await this.call("GetBlobProperties", key, async (c, signal) => {
        const blob = c.blob(name);
        const p = await blob.getProperties({ abortSignal: signal });
        if (p.metadata?.hdi_isfolder === "true") return undefined;
        const size = p.contentLength ?? 0;
        if (p.blobType !== "BlockBlob") return { size, ...(p.contentMD5 ? { checksum: md5Of(p.contentMD5) } : {}) };
        const blocks = (await blob.getBlockList("committed", { abortSignal: signal })).committedBlocks ?? [];
        // Put Blob leaves no committed blocks and stores the MD5 it verified. On a blob committed from blocks a
        // Content-MD5 was declared by its writer and never computed by the service, so it is not reported.
        if (blocks.length > 0) return { size, partSizes: blocks.map((b) => b.size) };
        return { size, ...(p.contentMD5 ? { checksum: md5Of(p.contentMD5) } : {}) };
      });
    } catch (e) {
      if (isMissingBlob(e)) return undefined;
      throw e;
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<{ body: Readable; length: number }> {
    const name = this.blobName(key);
    if (range && !(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start)) {
      throw new Error(`${this.where}: invalid byte range ${JSON.stringify(range)} for ${JSON.stringify(key)}`);
    }
    const watchdog = new Watchdog();
    const res = await this.call(
      "GetBlob",
      key,
      (c) =>
        c.blob(name).download(range?.start ?? 0, range ? range.end - range.start + 1 : undefined, {
          abortSignal: watchdog.signal,
          maxRetryRequests: 0,
        }),
      watchdog,
    );
    const length = res.contentLength ?? 0;
    const raw = res.readableStreamBody as Readable | undefined;
    if (!raw) {
      watchdog.done();
      throw storeError({ status: 0, message: "the response carried no body" }, "GetBlob", this.where, key, this.secrets());
    }
    const body = exactly(raw, length, (message) => storeError({ status: 0, message }, "GetBlob", this.where, key, this.secrets()));
    body.on("data", () => watchdog.touch());
    body.on("close", () => watchdog.done());
    return { body, length };
  }

  async delete(key: string): Promise<void> {
    const name = this.blobName(key);
    await this.call("DeleteBlob", key, (c, signal) => c.blob(name).deleteIfExists({ deleteSnapshots: "include", abortSignal: signal }));
  }

  sink(key: string): ObjectSink {
    return new AzureBlobSink(this, key, this.blobName(key), this.settings.partSize, this.settings.singlePutLimit ?? AZURE_SINGLE_PUT_LIMIT);
  }

  /** The blob's name in its container ("" for a signed-URL store). */
  private blobName(key: string): string {
    if (this.target.single) {
      if (key !== "") throw new Error(`${this.where}: a signed-URL store holds one blob, addressed as "", not ${JSON.stringify(key)}`);
      return "";
    }
    return keyBelow(this.root, key, this.where);
  }

  /**
   * Clients signed with the current SAS (`sas`, at `generation`): the container's, and a blob's by name ("" for
   * the signed URL's own blob). Kept until the credentials are renewed.
   */
  private clientsFor(sas: AzureSas, generation: number): AzureClients {
    if (this.clients?.generation === generation) return this.clients.clients;
    const pipeline = newPipeline(new AnonymousCredential(), {
      retryOptions: { maxTries: 1 },
      userAgentOptions: { userAgentPrefix: "quant-platform" },
    });
    const extra = sendableHeaders(sas.headers);
    if (Object.keys(extra).length) pipeline.factories.push(headersPolicy(extra));
    const url = `${this.target.containerUrl}${sas.sas ? `?${sas.sas}` : ""}`;
    let clients: AzureClients;
    if (this.target.single) {
      const blob = new BlockBlobClient(url, pipeline);
      clients = {
        container: () => {
          throw new Error(`${this.where}: a signed-URL store holds one blob and has no container to address`);
        },
        blob: () => blob,
      };
    } else {
      const container = new ContainerClient(url, pipeline);
      clients = { container: () => container, blob: (name) => container.getBlockBlobClient(name) };
    }
    this.clients = { generation, clients };
    return clients;
  }

  /**
   * One operation with the current SAS, renewed once if the service reports it expired, with failures worded
   * as the project's HttpError. `watchdog` (default: a fresh one) aborts a request that stalls.
   */
  async call<R>(
    op: string,
    key: string | undefined,
    fn: (c: AzureClients, signal: AbortSignal) => Promise<R>,
    watchdog?: Watchdog,
    replayable = true,
  ): Promise<R> {
    const dog = watchdog ?? new Watchdog();
    try {
      return await this.credentials.run(
        (sas, generation) => {
          dog.touch();
          return fn(this.clientsFor(sas, generation), dog.signal);
        },
        isExpiredSas,
        replayable,
      );
    } catch (e) {
      dog.done();
      throw storeError(azureFailure(e, dog), op, this.where, key || undefined, this.secrets());
    } finally {
      if (!watchdog) dog.done();
    }
  }

  /** A call that reports upload progress to its watchdog, so only a stalled transfer is abandoned. */
  async upload<R>(
    op: string,
    key: string,
    fn: (c: AzureClients, signal: AbortSignal, progress: () => void) => Promise<R>,
    replayable = true,
  ): Promise<R> {
    const dog = new Watchdog();
    return this.call(op, key, (c, signal) => fn(c, signal, () => dog.touch()), dog, replayable).finally(() => dog.done());
  }

  secrets(): string[] {
    const { sas, headers } = this.credentials.current.value;
    return [sas, ...Object.values(headers)];
  }
}

class AzureBlobSink implements ObjectSink {
  readonly maxParts = AZURE_MAX_PARTS;

  constructor(
    private readonly store: AzureBlobStore,
    private readonly key: string,
    private readonly name: string,
    readonly partSize: number,
    readonly singlePutLimit: number,
  ) {}

  async put(body: Readable | Buffer, length: number, checksum: { md5: string; sha256: string }): Promise<void> {
    const md5 = Buffer.from(checksum.md5, "base64");
    if (md5.length !== 16)
      throw new Error(`${this.store.where}: ${JSON.stringify(checksum.md5)} is not a base64 MD5 (for ${this.key || "the blob"})`);
    await this.store.upload(
      "PutBlob",
      this.key,
      (c, signal, progress) =>
        c.blob(this.name).upload(body, length, { transactionalContentMD5: md5, abortSignal: signal, onProgress: progress }),
      Buffer.isBuffer(body),
    );
  }

  async start(parts: number): Promise<string> {
    if (!(Number.isSafeInteger(parts) && parts >= 1 && parts <= this.maxParts)) {
      throw new Error(`${this.store.where}: ${parts} parts for ${this.key || "the blob"}; Azure allows 1 to ${this.maxParts} blocks`);
    }
    return BLOCK_LIST_UPLOAD;
  }

  async uploadPart(uploadId: string, partNumber: number, data: Buffer): Promise<PartReceipt> {
    this.checkUpload(uploadId);
    this.checkPart(partNumber);
    const md5 = createHash("md5").update(data).digest();
    await this.store.upload(`PutBlock ${partNumber} of`, this.key, (c, signal, progress) =>
      c.blob(this.name).stageBlock(blockId(partNumber), data, data.length, {
        transactionalContentMD5: md5,
        abortSignal: signal,
        onProgress: progress,
      }),
    );
    return { partNumber, size: data.length, checksum: md5.toString("base64") };
  }

  /** The staged (uncommitted) blocks of our naming; the service does not say their MD5, so `checksum` is "". */
  async listParts(uploadId: string): Promise<PartReceipt[] | undefined> {
    this.checkUpload(uploadId);
    try {
      const list = await this.store.call("GetBlockList", this.key, (c, signal) =>
        c.blob(this.name).getBlockList("uncommitted", { abortSignal: signal }),
      );
      return (list.uncommittedBlocks ?? [])
        .map((b) => ({ partNumber: partNumberOf(b.name), size: b.size }))
        .filter((b): b is { partNumber: number; size: number } => b.partNumber !== undefined)
        .map((b) => ({ ...b, checksum: "" }))
        .sort((a, b) => a.partNumber - b.partNumber);
    } catch (e) {
      // No blob and no staged block: nothing uploaded yet.
      if (isMissingBlob(e)) return [];
      // A signed URL for writing only may not read the block list: then the caller's receipts are all there is.
      if ((e as { status?: number }).status === 403) return undefined;
      throw e;
    }
  }

  async complete(uploadId: string, parts: PartReceipt[]): Promise<void> {
    this.checkUpload(uploadId);
    const ordered = inOrder(parts, this.store.where, this.key);
    await this.store.call("PutBlockList", this.key, (c, signal) =>
      c.blob(this.name).commitBlockList(
        ordered.map((p) => blockId(p.partNumber)),
        { abortSignal: signal },
      ),
    );
  }

  /** Nothing to delete: blocks never committed are discarded by the service (after a week, or at the next commit). */
  async abort(uploadId: string): Promise<void> {
    this.checkUpload(uploadId);
  }

  private checkUpload(uploadId: string): void {
    if (uploadId !== BLOCK_LIST_UPLOAD)
      throw new Error(`${this.store.where}: unknown upload id ${JSON.stringify(uploadId)} (Azure uploads are "${BLOCK_LIST_UPLOAD}")`);
  }

  private checkPart(partNumber: number): void {
    if (!(Number.isSafeInteger(partNumber) && partNumber >= 1 && partNumber <= this.maxParts)) {
      throw new Error(`${this.store.where}: part ${partNumber} of ${this.key || "the blob"} is outside 1..${this.maxParts}`);
    }
  }
}

function md5Of(bytes: Uint8Array): { algorithm: "md5"; value: string } {
  return { algorithm: "md5", value: Buffer.from(bytes).toString("base64") };
}

/** A 404 for the blob itself (a HEAD answer has no error code). */
function isMissingBlob(e: unknown): boolean {
  const h = e as { status?: number; code?: string };
  return h.status === 404 && (h.code === undefined || h.code === "BlobNotFound");
}

/**
 * A SAS the service refused as expired or no longer valid: 403 AuthenticationFailed (Azure; "Signature not
 * valid in the specified time frame"), AuthorizationFailure (Azurite), or a 403 with no code (a HEAD).
 * Permission mismatches are not: new credentials would not change them.
 */
function isExpiredSas(e: unknown): boolean {
  return (
    e instanceof RestError &&
    e.statusCode === 403 &&
    (e.code === undefined || e.code === "AuthenticationFailed" || e.code === "AuthorizationFailure")
  );
}

function azureFailure(e: unknown, dog: Watchdog): StoreFailure {
  if (dog.stalled) return { status: 0, message: `no progress for ${IDLE_TIMEOUT_MS / 1000} s` };
  if (e instanceof RestError) {
    return {
      status: e.statusCode ?? 0,
      code: e.code,
      message: e.message,
      retryAfter: e.response?.headers.get("retry-after"),
      credentialsRenewed: (e as { credentialsRenewed?: boolean }).credentialsRenewed === true,
    };
  }
  if (e instanceof Error && e.name === "AbortError") return { status: 0, message: e.message };
  throw e;
}

/** The registry's headers the SDK does not set itself (it owns versioning, dates, lengths and checksums). */
function sendableHeaders(headers: Record<string, string>): Record<string, string> {
  const owned =
    /^(authorization|content-length|content-md5|x-ms-version|x-ms-date|x-ms-blob-type|x-ms-client-request-id|x-ms-content-crc64|host)$/i;
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !owned.test(k)));
}

function headersPolicy(headers: Record<string, string>): RequestPolicyFactory {
  return {
    create: (next: RequestPolicy): RequestPolicy => ({
      sendRequest(request: WebResource) {
        for (const [k, v] of Object.entries(headers)) request.headers.set(k, v);
        return next.sendRequest(request);
      },
    }),
  };
}

/** Aborts a request after IDLE_TIMEOUT_MS without progress (the SDK's HTTP client has no idle timeout). */
class Watchdog {
  private readonly controller = new AbortController();
  private timer?: NodeJS.Timeout;
  stalled = false;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    if (this.controller.signal.aborted) return;
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => {
        this.stalled = true;
        this.controller.abort();
      }, IDLE_TIMEOUT_MS);
      this.timer.unref();
    }
  }

  done(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
