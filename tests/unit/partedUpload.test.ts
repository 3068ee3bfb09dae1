import * as assert from "assert";
import { createHash, randomBytes } from "crypto";
import { Readable } from "stream";
import { ObjectSink, PartReceipt } from "../../clients/objectStore";
import { partSizeFor, storeMismatch, uploadParted, UploadState } from "../../migration/partedUpload";

const NO_RETRY = { attempts: 1, backoffMs: 1 };
const b64 = (a: string, d: Buffer) => createHash(a).update(d).digest("base64");

/**
 * The bookkeeping of a multipart upload, kept in memory: what the parted upload logic is checked against here.
 * The stores themselves (Azurite, moto) are exercised in tests/integration.
 */
function memorySink(partSize: number) {
  const uploads = new Map<string, Map<number, Buffer>>();
  const sent: number[] = [];
  let object: Buffer | undefined;
  let puts = 0;
  const sink: ObjectSink = {
    singlePutLimit: partSize * 4,
    partSize,
    maxParts: 10000,
    async put(body) {
      puts++;
      object = body as Buffer;
    },
    async start() {
      const id = `u${uploads.size + 1}`;
      uploads.set(id, new Map());
      return id;
    },
    async uploadPart(id, n, data) {
      sent.push(n);
      uploads.get(id)!.set(n, Buffer.from(data));
      return { partNumber: n, size: data.length, checksum: b64("sha256", data) };
    },
    async listParts(id) {
      const u = uploads.get(id);
      if (!u) throw Object.assign(new Error("NoSuchUpload"), { status: 404 });
      return [...u].map(([n, d]) => ({ partNumber: n, size: d.length, checksum: b64("sha256", d) }));
    },
    async complete(id, parts: PartReceipt[]) {
      object = Buffer.concat(parts.map((p) => uploads.get(id)!.get(p.partNumber)!));
      uploads.delete(id);
    },
    async abort(id) {
      uploads.delete(id);
    },
  };
  return { sink, sent, uploads, object: () => object, puts: () => puts };
}

describe("uploads in parts: checksummed, bounded, resumable part by part", () => {
  const data = randomBytes(10 * 1024 + 300);
  const sha = createHash("sha256").update(data).digest("hex");

  it("a file up to one part goes in a single request with its MD5 and SHA-256", async () => {
    const m = memorySink(64 * 1024);
    const r = await uploadParted({
      sink: m.sink,
      body: Readable.from([data]),
      length: data.length,
      what: "f",
      retry: NO_RETRY,
      partConcurrency: 2,
    });
    assert.deepStrictEqual([m.puts(), r.parts, r.sha256], [1, 1, sha]);
    assert.deepStrictEqual(r.single, { md5: b64("md5", data), sha256: b64("sha256", data) });
    assert.ok(m.object()!.equals(data));
  });

  it("a larger file goes up in parts, in order, and is assembled byte-identical", async () => {
    const m = memorySink(1024);
    const chunks = [data.subarray(0, 777), data.subarray(777, 5000), data.subarray(5000)];
    const r = await uploadParted({
      sink: m.sink,
      body: Readable.from(chunks),
      length: data.length,
      what: "f",
      retry: NO_RETRY,
      partConcurrency: 3,
    });
    assert.strictEqual(r.parts, 11);
    assert.deepStrictEqual(
      r.receipts.map((p) => p.partNumber),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    assert.strictEqual(r.sha256, sha);
    assert.ok(m.object()!.equals(data));
  });

  it("a truncated source fails and completes nothing", async () => {
    const m = memorySink(1024);
    await assert.rejects(
      uploadParted({
        sink: m.sink,
        body: Readable.from([data.subarray(0, 4000)]),
        length: data.length,
        what: "f",
        retry: NO_RETRY,
        partConcurrency: 2,
      }),
      /truncated|ended/,
    );
    assert.strictEqual(m.object(), undefined);
  });

  it("a resumed upload skips held parts and re-sends a part whose source bytes changed", async () => {
    const m = memorySink(1024);
    let state: UploadState | undefined;
    const failing = {
      ...m.sink,
      uploadPart: (id: string, n: number, d: Buffer) =>
        n === 9 ? Promise.reject(Object.assign(new Error("boom"), { status: 400 })) : m.sink.uploadPart(id, n, d),
    };
    await assert.rejects(
      uploadParted({
        sink: failing,
        body: Readable.from([data]),
        length: data.length,
        what: "f",
        retry: NO_RETRY,
        partConcurrency: 1,
        onState: (s) => (state = s),
      }),
      /boom/,
    );
    assert.deepStrictEqual(state!.parts.length, 8);
    const changed = Buffer.from(data);
    changed[2 * 1024 + 5] ^= 1; // part 3
    const sentBefore = m.sent.length;
    const r = await uploadParted({
      sink: m.sink,
      body: Readable.from([changed]),
      length: data.length,
      what: "f",
      retry: NO_RETRY,
      partConcurrency: 2,
      resume: state,
    });
    assert.deepStrictEqual(
      m.sent.slice(sentBefore).sort((a, b) => a - b),
      [3, 9, 10, 11],
    );
    assert.deepStrictEqual([r.uploadedParts, r.skippedParts], [4, 7]);
    assert.ok(m.object()!.equals(changed));
  });

  it("an upload the store no longer knows starts over", async () => {
    const m = memorySink(1024);
    const stale: UploadState = {
      uploadId: "gone",
      partSize: 1024,
      parts: [{ partNumber: 1, size: 1024, checksum: b64("sha256", data.subarray(0, 1024)) }],
    };
    const r = await uploadParted({
      sink: m.sink,
      body: Readable.from([data]),
      length: data.length,
      what: "f",
      retry: NO_RETRY,
      partConcurrency: 2,
      resume: stale,
    });
    assert.deepStrictEqual([r.uploadedParts, r.skippedParts], [11, 0]);
    assert.ok(m.object()!.equals(data));
  });

  it("the part size grows so a file fits the store's part count, and never exceeds one request", () => {
    const sink = { ...memorySink(1024).sink, maxParts: 10 };
    assert.strictEqual(partSizeFor(sink, 100 * 1024), 10 * 1024 > sink.singlePutLimit ? sink.singlePutLimit : 10 * 1024);
    assert.strictEqual(partSizeFor({ ...sink, maxParts: 1000 }, 100 * 1024), 1024);
  });
});

describe("--verify store: the store's own record of the object", () => {
  const single = { sha256: "x", single: { md5: "bWQ1", sha256: "c2hh" }, parts: 1, uploadedParts: 1, skippedParts: 0, receipts: [] };
  const parts = [
    { partNumber: 1, size: 4, checksum: b64("sha256", Buffer.from("abcd")) },
    { partNumber: 2, size: 2, checksum: b64("sha256", Buffer.from("ef")) },
  ];
  const multi = { sha256: "x", parts: 2, uploadedParts: 2, skippedParts: 0, receipts: parts };
  const composite = `${createHash("sha256")
    .update(Buffer.concat(parts.map((p) => Buffer.from(p.checksum, "base64"))))
    .digest("base64")}-2`;
  const table: [string, Parameters<typeof storeMismatch>, RegExp | undefined][] = [
    ["single, Azure MD5 agrees", [single, 6, { size: 6, checksum: { algorithm: "md5", value: "bWQ1" } }], undefined],
    ["single, S3 SHA-256 agrees", [single, 6, { size: 6, checksum: { algorithm: "sha256", value: "c2hh" } }], undefined],
    ["single, MD5 differs", [single, 6, { size: 6, checksum: { algorithm: "md5", value: "other" } }], /MD5/],
    ["single, no stored checksum", [single, 6, { size: 6 }], /no checksum/],
    ["size differs", [single, 6, { size: 5, checksum: { algorithm: "md5", value: "bWQ1" } }], /holds 5 bytes, expected 6/],
    ["missing object", [single, 6, undefined], /does not list/],
    ["parts, S3 composite agrees", [multi, 6, { size: 6, checksum: { algorithm: "sha256-composite", value: composite } }], undefined],
    [
      "parts, S3 composite differs",
      [multi, 6, { size: 6, checksum: { algorithm: "sha256-composite", value: "AAAA-2" } }],
      /composite SHA256/,
    ],
    ["parts, Azure committed blocks agree", [multi, 6, { size: 6, partSizes: [4, 2] }], undefined],
    ["parts, Azure committed blocks differ", [multi, 6, { size: 6, partSizes: [6] }], /committed 1 parts, 2 were sent/],
  ];
  for (const [name, args, want] of table)
    it(name, () => {
      const got = storeMismatch(...args);
      if (want) assert.match(got ?? "", want);
      else assert.strictEqual(got, undefined);
    });
});
