/**
 * One file into a cloud store, checksummed on every write: a file up to one part goes in a single request
 * carrying its MD5 and SHA-256 (the store checks the one it knows); a larger one goes up in parts, several in
 * flight at once, each part with its own checksum. The source is read once, in order, so the whole-file SHA-256
 * of the manifest is computed as the bytes pass; memory is bounded by the parts in flight.
 *
 * Resumable at part granularity: the caller keeps the upload state (`onState`, saved in the progress journal)
 * and passes it back after a crash. A part is then skipped when the store still holds it at its size and its
 * checksum matches the bytes read again from the source. Parts acknowledged after the journal was last saved
 * (every 2 s, or 8 parts) are sent again, unless the store lists its parts with their checksums (S3); the source
 * is re-read to compute the file's SHA-256 (a hash state cannot be saved).
 */
import { createHash } from "crypto";
import { Readable } from "stream";
import { httpError, RetryPolicy, withRetry } from "../clients/http";
import { ObjectSink, PartReceipt, StoredObject } from "../clients/objectStore";
import { hashTap } from "./hashing";

/** An upload in progress, as the progress journal keeps it. */
export interface UploadState {
  uploadId: string;
  partSize: number;
  parts: PartReceipt[];
}

export interface PartedUploadOptions {
  sink: ObjectSink;
  body: Readable;
  length: number;
  what: string;
  retry: RetryPolicy;
  partConcurrency: number;
  /** The state of an earlier, interrupted upload of this file. */
  resume?: UploadState;
  /** Called whenever a part is acknowledged, and with undefined once the object is complete. */
  onState?: (s: UploadState | undefined) => void;
}

export interface PartedUploadResult {
  sha256: string;
  /** A single request: the base64 MD5 and SHA-256 of the body the store verified. */
  single?: { md5: string; sha256: string };
  /** Single request or parts; parts uploaded by this call and skipped (already in the store). */
  parts: number;
  uploadedParts: number;
  skippedParts: number;
  receipts: PartReceipt[];
}

const b64 = (algorithm: "md5" | "sha256", data: Buffer) => createHash(algorithm).update(data).digest("base64");

/** The part size for a file: the sink's, raised so the file fits in the store's part count. */
export function partSizeFor(sink: ObjectSink, length: number): number {
  const min = Math.ceil(length / sink.maxParts);
  // A part is never larger than what one request may carry.
  return Math.min(Math.max(sink.partSize, min), sink.singlePutLimit);
}

/** True when the file goes in one request (it fits one part, and one request). */
export const singleRequest = (sink: ObjectSink, length: number) => length <= Math.min(sink.partSize, sink.singlePutLimit);

/** Reads exactly `n` bytes (fewer only at the end) from a stream, keeping the rest for the next call. */
export function reader(body: Readable) {
  const it = body[Symbol.asyncIterator]();
  let carry: Buffer = Buffer.alloc(0);
  return async (n: number): Promise<Buffer> => {
    const chunks: Buffer[] = carry.length ? [carry] : [];
    let have = carry.length;
    while (have < n) {
      const next = await it.next();
      if (next.done) break;
      const c = next.value as Buffer;
      chunks.push(c);
      have += c.length;
    }
    const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, have);
    carry = all.subarray(Math.min(n, all.length));
    return all.subarray(0, Math.min(n, all.length));
  };
}

/** Uploads one file through a sink; see the module comment. Throws when the body is not exactly `length` bytes. */
export async function uploadParted(o: PartedUploadOptions): Promise<PartedUploadResult> {
  const { sink, length, what } = o;
  const tap = hashTap(length, what);
  o.body.on("error", (e) => tap.destroy(e));
  // Its errors reach the reader below; one raised after the reader stopped (a truncated source, found while a
  // part fails) must not go unhandled.
  tap.on("error", () => undefined);
  o.body.pipe(tap);
  const read = reader(tap);

  if (singleRequest(sink, length)) {
    const data = await read(length);
    await read(1); // drains the tap, so a longer body fails here
    if (data.length !== length)
      throw httpError(0, `${what}: the source stream ended after ${data.length} of ${length} bytes (truncated)`, true);
    const single = { md5: b64("md5", data), sha256: b64("sha256", data) };
    await withRetry(o.retry, () => sink.put(data, length, single));
    o.onState?.(undefined);
    return { sha256: tap.digest(), single, parts: 1, uploadedParts: 1, skippedParts: 0, receipts: [] };
  }

  const partSize = o.resume?.partSize ?? partSizeFor(sink, length);
  const count = Math.ceil(length / partSize);
  if (count > sink.maxParts)
    throw new Error(`${what}: ${length} bytes in parts of ${partSize} would need ${count} parts; the store allows ${sink.maxParts}`);
  let uploadId = o.resume?.uploadId;
  let held = new Map<number, PartReceipt>();
  if (uploadId) {
    // What the store still holds of the earlier upload; an upload it no longer knows starts over.
    const listed = await withRetry(o.retry, () => sink.listParts(uploadId!)).then(
      (parts) => ({ parts }),
      () => undefined,
    );
    const journaled = new Map(o.resume!.parts.map((p) => [p.partNumber, p]));
    // The store no longer knows the upload (it expired, or the object's location changed): start over.
    if (!listed) uploadId = undefined;
    for (const p of listed ? (listed.parts ?? o.resume!.parts) : []) {
      const j = journaled.get(p.partNumber);
      // The journal's checksum is the one verified on write; a store that lists parts without one (Azure) is
      // matched on the journal's receipt and the listed size.
      const checksum = p.checksum || j?.checksum;
      if (checksum && (!j || !j.checksum || j.checksum === checksum) && p.size === (j?.size ?? p.size))
        held.set(p.partNumber, { ...p, checksum, etag: p.etag ?? j?.etag });
    }
  }
  if (!uploadId) {
    uploadId = await withRetry(o.retry, () => sink.start(count));
    held = new Map();
  }
  const state: UploadState = { uploadId, partSize, parts: [] };
  const receipts = new Map<number, PartReceipt>();
  const record = (r: PartReceipt) => {
    receipts.set(r.partNumber, r);
    state.parts = [...receipts.values()].sort((a, b) => a.partNumber - b.partNumber);
    o.onState?.({ ...state });
  };
  o.onState?.({ ...state });

  let uploaded = 0;
  let skipped = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  for (let n = 1; n <= count; n++) {
    const size = n < count ? partSize : length - partSize * (count - 1);
    const data = await read(size);
    if (data.length !== size) {
      await Promise.allSettled(inFlight);
      throw httpError(0, `${what}: the source stream ended early, in part ${n} of ${count} (truncated)`, true);
    }
    const prior = held.get(n);
    if (prior && prior.size === size && (prior.checksum === b64("md5", data) || prior.checksum === b64("sha256", data))) {
      record(prior);
      skipped++;
      continue;
    }
    const p: Promise<void> = withRetry(o.retry, () => o.sink.uploadPart(uploadId!, n, data))
      .then((r) => {
        uploaded++;
        record(r);
      })
      .catch((e) => {
        failure ??= e;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    while (inFlight.size >= Math.max(1, o.partConcurrency)) await Promise.race(inFlight);
    if (failure) break;
  }
  await Promise.allSettled(inFlight);
  if (failure) {
    o.body.destroy();
    throw failure;
  }
  await read(1);
  const all = [...receipts.values()].sort((a, b) => a.partNumber - b.partNumber);
  await withRetry(o.retry, () => sink.complete(uploadId!, all));
  o.onState?.(undefined);
  return { sha256: tap.digest(), parts: count, uploadedParts: uploaded, skippedParts: skipped, receipts: all };
}

/**
 * `--verify store`: what the store reports after the write agrees with what was sent, without reading the
 * bytes back. Every request already carried a checksum the store verified; this checks the object is whole:
 * its size, and the checksum the store holds (Azure: the Content-MD5 Put Blob stored; S3: the SHA-256, or for a
 * multipart object the composite of the part checksums) or, for an Azure block blob, the committed blocks.
 * Returns the problem, or undefined.
 */
export function storeMismatch(sent: PartedUploadResult, length: number, stored: StoredObject | undefined): string | undefined {
  if (!stored) return "the store does not list the object after the write";
  if (stored.size !== length) return `the store holds ${stored.size} bytes, expected ${length}`;
  // An empty object holds nothing a checksum could vouch for: its size is the whole check.
  if (length === 0) return undefined;
  const c = stored.checksum;
  if (sent.single) {
    if (c?.algorithm === "md5") return c.value === sent.single.md5 ? undefined : "the MD5 the store holds differs from the bytes sent";
    if (c?.algorithm === "sha256")
      return c.value === sent.single.sha256 ? undefined : "the SHA-256 the store holds differs from the bytes sent";
    return "the store holds no checksum for the object";
  }
  if (c?.algorithm === "sha256-composite" || c?.algorithm === "md5-composite") {
    const algorithm = c.algorithm === "sha256-composite" ? "sha256" : "md5";
    const raw = Buffer.concat(sent.receipts.map((r) => Buffer.from(r.checksum, "base64")));
    const want = `${createHash(algorithm).update(raw).digest("base64")}-${sent.receipts.length}`;
    return c.value === want ? undefined : `the composite ${algorithm.toUpperCase()} the store holds differs from the parts sent`;
  }
  if (stored.partSizes) {
    const sizes = sent.receipts.map((r) => r.size);
    return stored.partSizes.length === sizes.length && stored.partSizes.every((s, i) => s === sizes[i])
      ? undefined
      : `the store committed ${stored.partSizes.length} parts, ${sent.receipts.length} were sent`;
  }
  return "the store reports neither a checksum nor the committed parts of the object";
}
