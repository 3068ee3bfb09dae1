/**
 * Cloud object stores as the migration engine sees them: Azure Blob / ADLS Gen2 (through `@azure/storage-blob`)
 * and S3 (through `@aws-sdk/client-s3`), opened from a storage location and the temporary credentials a
 * registry hands out (Unity Catalog), or from one signed URL (a workspace registry's artifact credentials).
 *
 * Files above the store's single-request limit go up in parts (Azure Put Block / Put Block List, S3
 * multipart upload). Every request that writes bytes carries a checksum the store verifies on write:
 * Content-MD5 on Azure Put Blob and Put Block, the S3 SHA-256 checksum headers on PutObject and UploadPart.
 */
import { Readable } from "stream";

/** Settings, so tests can use small parts and a lowered single-request limit. */
export interface StoreSettings {
  /** Bytes per part of a multipart upload. Default 16 MiB; raised when a file would need more parts than the store allows. */
  partSize: number;
  /** Largest body sent in one request; a larger file goes up in parts. Default: the store's own limit (Azure 5000 MiB, S3 5 GiB). */
  singlePutLimit?: number;
  /** Parts of one file in flight at once. Default 4. */
  partConcurrency: number;
  /** S3 endpoint override (an S3-compatible server; tests: moto). Default: `STORAGE_S3_ENDPOINT`, `MLFLOW_S3_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, else AWS. */
  s3Endpoint?: string;
  /** Azure blob endpoint template with `{account}` (tests: Azurite `http://127.0.0.1:10000/{account}`). Default: `STORAGE_AZURE_BLOB_ENDPOINT`, else `https://{account}.blob.core.windows.net`. */
  azureBlobEndpoint?: string;
}

export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
export const DEFAULT_PART_CONCURRENCY = 4;
/** Azure Put Blob's single-request limit (5000 MiB) and S3 PutObject's (5 GiB). */
export const AZURE_SINGLE_PUT_LIMIT = 5000 * 1024 * 1024;
export const S3_SINGLE_PUT_LIMIT = 5 * 1024 * 1024 * 1024;
/** Parts per object the stores allow (Azure: 50,000 blocks; S3: 10,000 parts). */
export const AZURE_MAX_PARTS = 50000;
export const S3_MAX_PARTS = 10000;

/** A part the store acknowledged, with the checksum it verified on write (base64: MD5 on Azure, SHA-256 on S3). */
export interface PartReceipt {
  partNumber: number;
  size: number;
  checksum: string;
  /** S3's ETag of the part (needed to complete the upload). */
  etag?: string;
}

/** What a store says of a stored object, for `--verify store`. */
export interface StoredObject {
  size: number;
  /**
   * The checksum the store holds for the whole object, when it has one: Azure `Content-MD5` (set by Put Blob
   * from the verified body), S3 `ChecksumSHA256` (of the body, or for a multipart object the composite
   * `base64(sha256(part checksums))-N`; an S3 object written through presigned URLs: its ETag, the MD5 of a
   * single PUT or `base64(md5(part MD5s))-N`).
   */
  checksum?: { algorithm: "md5" | "sha256" | "sha256-composite" | "md5-composite"; value: string };
  /** For an object assembled from parts: the committed parts' sizes, in order (Azure's committed block list). */
  partSizes?: number[];
}

/** One object being written: a single request below the limit, else parts. Resumable: receipts are kept by the caller. */
export interface ObjectSink {
  /** The single-request limit in force for this sink. */
  readonly singlePutLimit: number;
  readonly partSize: number;
  readonly maxParts: number;
  /** One request; `checksum` is sent for the store to verify (MD5 for Azure, SHA-256 for S3, both base64). */
  put(body: Readable | Buffer, length: number, checksum: { md5: string; sha256: string }): Promise<void>;
  /** Starts a multipart upload of `parts` parts; returns its id (Azure: a fixed id, blocks are keyed by the blob). */
  start(parts: number): Promise<string>;
  /** Uploads one part (1-based), with its checksum for the store to verify. */
  uploadPart(uploadId: string, partNumber: number, data: Buffer): Promise<PartReceipt>;
  /**
   * The parts the store holds for this upload (S3 ListParts; Azure uncommitted blocks), or undefined when the
   * store cannot say (a presigned-URL-only upload): then the caller's receipts are all there is.
   */
  listParts(uploadId: string): Promise<PartReceipt[] | undefined>;
  /** Commits the parts in order; the object then exists with exactly those bytes. */
  complete(uploadId: string, parts: PartReceipt[]): Promise<void>;
  abort(uploadId: string): Promise<void>;
}

/** A prefix of a store (a Unity Catalog model version's storage location), read and written by relative key. */
export interface ObjectStore {
  readonly kind: "azure-blob" | "s3";
  /** The location, for messages (no credentials). */
  readonly where: string;
  /** Every object below `prefix` (recursive), keys relative to the store's root, sorted. */
  list(prefix: string): Promise<{ key: string; size: number }[]>;
  head(key: string): Promise<StoredObject | undefined>;
  /** The object, or the inclusive byte range of it. */
  get(key: string, range?: { start: number; end: number }): Promise<{ body: Readable; length: number }>;
  sink(key: string): ObjectSink;
  delete(key: string): Promise<void>;
}
