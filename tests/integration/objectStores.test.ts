/**
 * The cloud object stores against real emulators (Azurite's blob service, moto's S3), each behind a fault
 * proxy that records every request and can flip a byte of a request body in transit. Parts are 256 KiB and
 * the single-request limit 512 KiB, so multipart uploads stay small.
 *
 * What the emulators verify (the reason some policies read differently per store): Azurite refuses a Put
 * Blob or Put Block whose body does not match its Content-MD5 (400 Md5Mismatch), as Azure does. Moto 5.2.5
 * verifies neither `x-amz-checksum-sha256` nor Content-MD5 (nor the signed payload hash): it stores the
 * declared SHA-256 of a PutObject as given, so S3's refusal (400 BadDigest) cannot be shown locally.
 */
import * as assert from "assert";
import * as http from "http";
import { createHash, randomBytes } from "crypto";
import { Readable } from "stream";
import {
  ContainerSASPermissions,
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { GetSessionTokenCommand, STSClient } from "@aws-sdk/client-sts";
import {
  azureBlobFromSasUrl,
  azureSinkFromSasUrl,
  openStore,
  parseStorageLocation,
  settingsFrom,
  UcTemporaryCredentials,
  viaBlobEndpoint,
} from "../../clients/cloudStores";
import { HttpError, isNotFound } from "../../clients/http";
import { ObjectSink, ObjectStore, PartReceipt, StoreSettings } from "../../clients/objectStore";
import { closeServer, listenLoopback } from "../../devenv/loopback";
import { emulators } from "../fixtures/cloudEmulators";
import { FaultProxy } from "../fixtures/faultProxy";

const KiB = 1024;
const PART = 256 * KiB;
const LIMIT = 512 * KiB;

const md5 = (b: Buffer) => createHash("md5").update(b).digest("base64");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("base64");
/** S3's composite checksum of a multipart object: the SHA-256 of the parts' SHA-256s, with the part count. */
const composite = (parts: Buffer[]) =>
  `${createHash("sha256")
    .update(Buffer.concat(parts.map((p) => createHash("sha256").update(p).digest())))
    .digest("base64")}-${parts.length}`;
const partsOf = (data: Buffer, size: number) =>
  Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size));

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** What the engine does with a sink: one request up to the limit, else parts, each acknowledged. */
async function upload(sink: ObjectSink, data: Buffer): Promise<PartReceipt[]> {
  if (data.length <= sink.singlePutLimit) {
    await sink.put(Readable.from([data]), data.length, { md5: md5(data), sha256: sha256(data) });
    return [];
  }
  const parts = partsOf(data, sink.partSize);
  const id = await sink.start(parts.length);
  const receipts = await Promise.all(parts.map((p, i) => sink.uploadPart(id, i + 1, p)));
  await sink.complete(id, receipts);
  return receipts;
}

async function rejection(p: Promise<unknown>): Promise<HttpError> {
  try {
    await p;
  } catch (e) {
    return e as HttpError;
  }
  throw new Error("expected a rejection");
}

/** One store under test: how to open it, and how its requests look on the wire. */
interface Side {
  name: "azure" | "s3";
  proxy: FaultProxy;
  location: (root: string) => string;
  credentials: () => Promise<UcTemporaryCredentials>;
  settings: StoreSettings;
  /** The secrets its credentials hold, none of which may appear in a message. */
  secrets: (c: UcTemporaryCredentials) => string[];
  isSinglePut: (method: string, path: string) => boolean;
  isPart: (method: string, path: string) => boolean;
  isCommit: (method: string, path: string) => boolean;
}

const run = Date.now().toString(36);

describe("cloud object stores (Azurite, moto): what goes up is what the store holds", function () {
  this.timeout(300000);
  const sides: Side[] = [];
  let azureAccount: { endpoint: string; key: StorageSharedKeyCredential; container: string };
  let moto: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; bucket: string };

  before(async () => {
    const { azurite, moto: m } = await emulators();
    const port = (url: string) => Number(new URL(url).port);

    const container = `models-${run}`;
    const key = new StorageSharedKeyCredential(azurite.account, azurite.accountKey);
    await new BlobServiceClient(azurite.blobEndpoint, key).getContainerClient(container).create();
    azureAccount = { endpoint: azurite.blobEndpoint, key, container };
    const azureProxy = new FaultProxy(() => port(azurite.blobEndpoint));
    await azureProxy.start();
    sides.push({
      name: "azure",
      proxy: azureProxy,
      location: (root) => `abfss://${container}@${azurite.account}.dfs.core.windows.net/${root}`,
      credentials: async () => ({ azure_user_delegation_sas: { sas_token: containerSas(key, container, new Date(Date.now() + 3600e3)) } }),
      settings: settingsFrom({ partSize: PART, singlePutLimit: LIMIT, azureBlobEndpoint: `${azureProxy.url}/{account}` }, {}),
      secrets: (c) => [c.azure_user_delegation_sas!.sas_token, new URLSearchParams(c.azure_user_delegation_sas!.sas_token).get("sig")!],
      isSinglePut: (method, path) => method === "PUT" && !/[?&]comp=/.test(path),
      isPart: (method, path) => method === "PUT" && /[?&]comp=block(&|$)/.test(path),
      isCommit: (method, path) => method === "PUT" && /[?&]comp=blocklist/.test(path),
    });

    const bucket = `models-${run}`;
    moto = { endpoint: m.endpoint, region: m.region, accessKeyId: m.accessKeyId, secretAccessKey: m.secretAccessKey, bucket };
    const admin = new S3Client({ endpoint: m.endpoint, region: m.region, forcePathStyle: true, credentials: m });
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    admin.destroy();
    const s3Proxy = new FaultProxy(() => port(m.endpoint));
    await s3Proxy.start();
    sides.push({
      name: "s3",
      proxy: s3Proxy,
      location: (root) => `s3://${bucket}/${root}`,
      credentials: () => sessionCredentials(moto),
      settings: settingsFrom({ partSize: PART, singlePutLimit: LIMIT, s3Endpoint: s3Proxy.url }, {}),
      secrets: (c) => [c.aws_temp_credentials!.secret_access_key, c.aws_temp_credentials!.session_token!],
      isSinglePut: (method, path) => method === "PUT" && !/[?&]uploadId=/.test(path),
      isPart: (method, path) => method === "PUT" && /[?&]partNumber=/.test(path),
      isCommit: (method, path) => method === "POST" && /[?&]uploadId=/.test(path),
    });
  });

  after(async () => {
    await Promise.all(sides.map((s) => s.proxy.stop()));
  });

  afterEach(() => sides.forEach((s) => s.proxy.clear()));

  const each = (title: string, test: (side: Side) => Promise<void>) => {
    for (const name of ["azure", "s3"] as const) it(`${name}: ${title}`, () => test(sides.find((s) => s.name === name)!));
  };
  const open = async (side: Side, root: string, refresh?: () => Promise<UcTemporaryCredentials>): Promise<ObjectStore> =>
    openStore(side.location(root), await side.credentials(), side.settings, refresh);
  const count = (side: Side, kind: "isSinglePut" | "isPart" | "isCommit") =>
    side.proxy.seen.filter((r) => side[kind](r.method, r.path)).length;

  each("a file within the single-request limit goes up in one request, and head reports its verified checksum", async (side) => {
    const store = await open(side, "cat/schema/model/1");
    const data = randomBytes(LIMIT);
    side.proxy.seen.length = 0;
    await upload(store.sink("model/weights.bin"), data);
    assert.deepStrictEqual(
      [count(side, "isSinglePut"), count(side, "isPart"), count(side, "isCommit")],
      [1, 0, 0],
      JSON.stringify(side.proxy.seen),
    );
    const head = await store.head("model/weights.bin");
    assert.deepStrictEqual(
      head,
      side.name === "azure"
        ? { size: data.length, checksum: { algorithm: "md5", value: md5(data) } }
        : { size: data.length, checksum: { algorithm: "sha256", value: sha256(data) } },
    );
    assert.deepStrictEqual(await readAll((await store.get("model/weights.bin")).body), data);
  });

  each("a file over the limit goes up in parts and reads back byte-identical, with the parts the store holds", async (side) => {
    const store = await open(side, "cat/schema/model/2");
    const data = randomBytes(5 * PART + 12345);
    side.proxy.seen.length = 0;
    const receipts = await upload(store.sink("model/big.bin"), data);
    assert.deepStrictEqual([count(side, "isSinglePut"), count(side, "isPart"), count(side, "isCommit")], [0, 6, 1]);
    const parts = partsOf(data, PART);
    assert.deepStrictEqual(
      receipts.map((r) => [r.partNumber, r.size, r.checksum]),
      parts.map((p, i) => [i + 1, p.length, side.name === "azure" ? md5(p) : sha256(p)]),
    );
    const got = await store.get("model/big.bin");
    assert.strictEqual(got.length, data.length);
    assert.ok((await readAll(got.body)).equals(data), "the object read back differs from the file sent");
    const head = await store.head("model/big.bin");
    assert.deepStrictEqual(
      head,
      side.name === "azure"
        ? { size: data.length, partSizes: parts.map((p) => p.length) }
        : { size: data.length, checksum: { algorithm: "sha256-composite", value: composite(parts) } },
    );
  });

  each("a ranged get returns exactly the inclusive byte range asked for, as a stream", async (side) => {
    const store = await open(side, "cat/schema/model/3");
    const data = randomBytes(3 * PART);
    await upload(store.sink("f.bin"), data);
    for (const range of [
      { start: 0, end: 0 },
      { start: 1000, end: PART + 77 },
      { start: data.length - 10, end: data.length - 1 },
    ]) {
      const got = await store.get("f.bin", range);
      assert.ok(got.body instanceof Readable);
      assert.strictEqual(got.length, range.end - range.start + 1);
      assert.ok((await readAll(got.body)).equals(data.subarray(range.start, range.end + 1)), JSON.stringify(range));
    }
  });

  each("list returns every object below a directory, keys relative to the store's root, sorted, with sizes", async (side) => {
    const store = await open(side, "cat/schema/model/4");
    const files: Record<string, number> = { MLmodel: 10, "data/b.bin": 3, "data/a.bin": 2, "data/sub/c.bin": 1, "database.txt": 4 };
    for (const [key, size] of Object.entries(files)) await upload(store.sink(key), randomBytes(size));
    const other = await open(side, "cat/schema/model/40");
    await upload(other.sink("data/x.bin"), randomBytes(5));
    assert.deepStrictEqual(await store.list("data"), [
      { key: "data/a.bin", size: 2 },
      { key: "data/b.bin", size: 3 },
      { key: "data/sub/c.bin", size: 1 },
    ]);
    assert.deepStrictEqual(
      (await store.list("")).map((o) => o.key),
      ["MLmodel", "data/a.bin", "data/b.bin", "data/sub/c.bin", "database.txt"],
    );
    assert.deepStrictEqual(await store.list("nothing-here/"), []);
  });

  it("azure: a block or blob corrupted in transit is refused by the service (400 Md5Mismatch), retryable (sent again afresh)", async () => {
    const side = sides.find((s) => s.name === "azure")!;
    const store = await open(side, "cat/schema/model/5");
    const sink = store.sink("corrupt.bin");
    const id = await sink.start(2);
    side.proxy.add({ method: "PUT", path: /comp=block(&|$)/, action: { kind: "flip-request" }, times: 1 });
    const e = await rejection(sink.uploadPart(id, 1, randomBytes(PART)));
    assert.strictEqual(e.status, 400);
    assert.strictEqual(e.code, "Md5Mismatch");
    assert.strictEqual(e.retryable, true);
    assert.match(
      e.message,
      /PutBlock 1 of abfss:\/\/models-[a-z0-9]+@devstoreaccount1\.dfs\.core\.windows\.net\/cat\/schema\/model\/5\/corrupt\.bin failed: 400 Md5Mismatch/,
    );
    assert.deepStrictEqual(await sink.listParts(id), [], "the refused block was not staged");

    side.proxy.add({ method: "PUT", path: /corrupt2\.bin\?/, action: { kind: "flip-request" }, times: 1 });
    const data = randomBytes(1000);
    const put = await rejection(store.sink("corrupt2.bin").put(data, data.length, { md5: md5(data), sha256: sha256(data) }));
    assert.strictEqual(put.code, "Md5Mismatch");
    assert.strictEqual(await store.head("corrupt2.bin"), undefined);
  });

  it("s3 (moto 5.2.5): every write declares the body's SHA-256 and MD5, but moto stores a body corrupted in transit anyway", async () => {
    const side = sides.find((s) => s.name === "s3")!;
    const gate = await s3Gate(side.proxy.url);
    try {
      const store = openStore(side.location("cat/schema/model/5"), await side.credentials(), { ...side.settings, s3Endpoint: gate.url });
      const data = randomBytes(1000);
      side.proxy.add({ method: "PUT", path: /corrupt\.bin/, action: { kind: "flip-request" }, times: 1 });
      // On S3 this is 400 BadDigest (or XAmzContentSHA256Mismatch): the checksums below are of `data`.
      await store.sink("corrupt.bin").put(Readable.from([data]), data.length, { md5: md5(data), sha256: sha256(data) });
      const stored = await readAll((await store.get("corrupt.bin")).body);
      assert.ok(!stored.equals(data), "the proxy flipped a byte");
      assert.deepStrictEqual((await store.head("corrupt.bin"))?.checksum, { algorithm: "sha256", value: sha256(data) });

      const sink = store.sink("corrupt-part.bin");
      const id = await sink.start(1);
      side.proxy.add({ method: "PUT", path: /partNumber=1/, action: { kind: "flip-request" }, times: 1 });
      const part = randomBytes(PART);
      assert.strictEqual((await sink.uploadPart(id, 1, part)).checksum, sha256(part));
      await sink.abort(id);

      const writes = gate.requests.filter((r) => r.method === "PUT");
      assert.deepStrictEqual(
        writes.map((r) => [
          r.headers["x-amz-checksum-sha256"],
          r.headers["x-amz-content-sha256"],
          r.headers["content-md5"],
          r.headers["content-length"],
        ]),
        [data, part].map((b) => [sha256(b), createHash("sha256").update(b).digest("hex"), md5(b), String(b.length)]),
        "each write carries its body's checksums, sent plainly (no aws-chunked encoding)",
      );
    } finally {
      await gate.stop();
    }
  });

  each(
    "an upload resumes from a fresh store object: listParts shows what the store holds, and completing the rest yields the file",
    async (side) => {
      const data = randomBytes(4 * PART + 999);
      const parts = partsOf(data, PART);
      const first = (await open(side, "cat/schema/model/6")).sink("model/resumed.bin");
      const id = await first.start(parts.length);
      const kept = [await first.uploadPart(id, 1, parts[0]), await first.uploadPart(id, 3, parts[2])];

      const store = await open(side, "cat/schema/model/6");
      const sink = store.sink("model/resumed.bin");
      const held = await sink.listParts(id);
      assert.deepStrictEqual(
        held?.map((p) => [p.partNumber, p.size]),
        [
          [1, PART],
          [3, PART],
        ],
      );
      // The store says which parts it holds and their sizes (S3: ETags too); the checksums are the caller's receipts.
      if (side.name === "s3")
        assert.deepStrictEqual(
          held?.map((p) => p.etag),
          kept.map((k) => k.etag),
        );
      else assert.ok(held?.every((p) => p.checksum === ""));
      const rest = await Promise.all([2, 4, 5].map((n) => sink.uploadPart(id, n, parts[n - 1])));
      await sink.complete(id, [...kept, ...rest]);
      assert.ok((await readAll((await store.get("model/resumed.bin")).body)).equals(data));
      assert.strictEqual((await store.head("model/resumed.bin"))?.size, data.length);
    },
  );

  each("completing with a part missing is refused before anything is committed", async (side) => {
    const store = await open(side, "cat/schema/model/7");
    const sink = store.sink("gap.bin");
    const id = await sink.start(3);
    const r1 = await sink.uploadPart(id, 1, randomBytes(PART));
    const r3 = await sink.uploadPart(id, 3, randomBytes(10));
    await assert.rejects(sink.complete(id, [r1, r3]), /the parts must be 1\.\.2, each once, but part 2 is missing/);
    assert.strictEqual(await store.head("gap.bin"), undefined);
    await sink.abort(id);
  });

  each("a missing object is a 404 (isNotFound) naming the location and key, and head says undefined", async (side) => {
    const credentials = await side.credentials();
    const store = openStore(side.location("cat/schema/model/8"), credentials, side.settings);
    assert.strictEqual(await store.head("no/such.bin"), undefined);
    const e = await rejection(store.get("no/such.bin"));
    assert.ok(isNotFound(e), e.message);
    assert.strictEqual(e.retryable, false);
    assert.ok(e.message.includes(`${side.location("cat/schema/model/8")}/no/such.bin`), e.message);
    assert.match(e.message, side.name === "azure" ? /404 BlobNotFound/ : /404 NoSuchKey/);
    for (const secret of side.secrets(credentials)) assert.ok(!e.message.includes(secret), "a credential is in the message");
    await store.delete("no/such.bin");
  });

  each("a download cut short never ends quietly: the stream fails, retryably, naming the object", async (side) => {
    const store = await open(side, "cat/schema/model/12");
    const data = randomBytes(2 * PART);
    await upload(store.sink("cut.bin"), data);
    side.proxy.add({ method: "GET", path: /cut\.bin/, action: { kind: "truncate-response" }, times: 1 });
    const got = await store.get("cut.bin");
    const e = await rejection(readAll(got.body));
    assert.deepStrictEqual([e.status, e.retryable], [0, true], e.message);
    assert.ok(
      e.message.startsWith(`${side.name === "azure" ? "GetBlob" : "GetObject"} ${side.location("cat/schema/model/12")}/cut.bin failed: `),
      e.message,
    );
    assert.ok((await readAll((await store.get("cut.bin")).body)).equals(data), "the next attempt reads it whole");
  });

  each("503s and dropped connections are retryable failures (status 503, and 0 for no answer); a 403 is not", async (side) => {
    const store = await open(side, "cat/schema/model/9");
    side.proxy.add({ path: /model\/9/, action: { kind: "status", status: 503 }, times: 1 });
    const busy = await rejection(store.get("x.bin"));
    assert.deepStrictEqual([busy.status, busy.retryable], [503, true], busy.message);
    side.proxy.add({ path: /model\/9/, action: { kind: "drop" }, times: 1 });
    const dropped = await rejection(store.get("x.bin"));
    assert.deepStrictEqual([dropped.status, dropped.retryable], [0, true], dropped.message);
    side.proxy.add({ path: /model\/9/, action: { kind: "status", status: 403 }, times: 1 });
    const refused = await rejection(store.get("x.bin"));
    assert.deepStrictEqual([refused.status, refused.retryable], [403, false], refused.message);
  });

  it("azure: an expired SAS is renewed once for all the requests that found it expired, and they go through", async () => {
    const side = sides.find((s) => s.name === "azure")!;
    const { key, container } = azureAccount;
    const seed = await open(side, "cat/schema/model/10");
    await upload(seed.sink("a.bin"), randomBytes(10));
    const expired = containerSas(key, container, new Date(Date.now() - 60e3));
    let renewals = 0;
    const store = openStore(
      side.location("cat/schema/model/10"),
      { azure_user_delegation_sas: { sas_token: expired } },
      side.settings,
      async () => {
        renewals++;
        return side.credentials();
      },
    );
    const heads = await Promise.all([store.head("a.bin"), store.head("a.bin"), store.list("")]);
    assert.strictEqual((heads[0] as { size: number }).size, 10);
    assert.strictEqual(renewals, 1);

    const without = openStore(side.location("cat/schema/model/10"), { azure_user_delegation_sas: { sas_token: expired } }, side.settings);
    const e = await rejection(without.list(""));
    assert.strictEqual(e.status, 403);
    assert.ok(!e.message.includes(new URLSearchParams(expired).get("sig")!), e.message);
  });

  it("s3: an expired session token (400 ExpiredToken) is renewed once and the request sent again; a streamed put is left to the caller's retry", async () => {
    const side = sides.find((s) => s.name === "s3")!;
    const gate = await s3Gate(moto.endpoint);
    try {
      // Moto's STS hands out the same session token every time: the expired one is told apart by a prefix.
      const fresh = await sessionCredentials(moto);
      const stale = {
        ...fresh,
        aws_temp_credentials: { ...fresh.aws_temp_credentials!, session_token: `expired-${fresh.aws_temp_credentials!.session_token}` },
      };
      gate.expire(stale.aws_temp_credentials.session_token);
      let renewals = 0;
      const settings = { ...side.settings, s3Endpoint: gate.url };
      const store = openStore(side.location("cat/schema/model/11"), stale, settings, async () => {
        renewals++;
        return sessionCredentials(moto);
      });
      const data = randomBytes(100);
      await store.sink("a.bin").put(data, data.length, { md5: md5(data), sha256: sha256(data) });
      assert.strictEqual(renewals, 1);
      assert.deepStrictEqual(await store.list(""), [{ key: "a.bin", size: 100 }]);

      const streamed = openStore(side.location("cat/schema/model/11"), stale, settings, () => sessionCredentials(moto));
      const e = await rejection(streamed.sink("b.bin").put(Readable.from([data]), data.length, { md5: md5(data), sha256: sha256(data) }));
      assert.deepStrictEqual([e.status, e.code, e.retryable], [400, "ExpiredToken", true], e.message);
      assert.ok(!e.message.includes(stale.aws_temp_credentials.session_token));
      await streamed.sink("b.bin").put(Readable.from([data]), data.length, { md5: md5(data), sha256: sha256(data) });
    } finally {
      await gate.stop();
    }
  });

  describe("a workspace registry's signed blob URL (AZURE_SAS_URI)", () => {
    const blobUrl = (name: string, permissions: string, settings: StoreSettings) => {
      const { key, container } = azureAccount;
      const sas = generateBlobSASQueryParameters(
        {
          containerName: container,
          blobName: name,
          permissions: BlobSASPermissions.parse(permissions),
          expiresOn: new Date(Date.now() + 3600e3),
        },
        key,
      ).toString();
      return `${settings.azureBlobEndpoint!.replace("{account}", "devstoreaccount1")}/${container}/${name}?${sas}`;
    };

    it("a large file goes up as verified blocks with the registry's headers, and reads back through a read URL", async () => {
      const side = sides.find((s) => s.name === "azure")!;
      const data = randomBytes(3 * PART + 5);
      const name = "runs/r1/artifacts/model.bin";
      const sink = azureSinkFromSasUrl(blobUrl(name, "cw", side.settings), { "x-ms-meta-origin": "quant-platform" }, side.settings);
      side.proxy.seen.length = 0;
      const id = await sink.start(4);
      const receipts = await Promise.all(partsOf(data, PART).map((p, i) => sink.uploadPart(id, i + 1, p)));
      assert.strictEqual(await sink.listParts(id), undefined, "a write-only URL cannot read the block list");
      await sink.complete(id, receipts);
      assert.deepStrictEqual([count(side, "isPart"), count(side, "isCommit")], [4, 1]);

      const reader = azureBlobFromSasUrl(blobUrl(name, "r", side.settings));
      assert.deepStrictEqual(await reader.head(), { size: data.length, partSizes: partsOf(data, PART).map((p) => p.length) });
      assert.ok((await readAll((await reader.get()).body)).equals(data));
      const props = await new BlobServiceClient(azureAccount.endpoint, azureAccount.key)
        .getContainerClient(azureAccount.container)
        .getBlobClient(name)
        .getProperties();
      assert.deepStrictEqual(props.metadata, { origin: "quant-platform" });
      assert.ok(!reader.where.includes("sig="), reader.where);
    });

    it("a corrupted block is refused through the signed URL too", async () => {
      const side = sides.find((s) => s.name === "azure")!;
      const sink = azureSinkFromSasUrl(blobUrl("runs/r1/artifacts/bad.bin", "cw", side.settings), {}, side.settings);
      side.proxy.add({ method: "PUT", path: /bad\.bin\?.*comp=block/, action: { kind: "flip-request" }, times: 1 });
      const e = await rejection(sink.uploadPart(await sink.start(1), 1, randomBytes(1000)));
      assert.deepStrictEqual([e.status, e.code], [400, "Md5Mismatch"]);
      assert.ok(!e.message.includes("sig="), e.message);
    });
  });
});

describe("opening a cloud store: locations, credentials and settings", () => {
  it("parses the storage locations Unity Catalog hands out", () => {
    const cases: [string, unknown][] = [
      ["s3://bucket-1/models/abc/versions/1", { kind: "s3", bucket: "bucket-1", prefix: "models/abc/versions/1" }],
      ["s3://bucket-1", { kind: "s3", bucket: "bucket-1", prefix: "" }],
      [
        "abfss://uc@acct1.dfs.core.windows.net/models/abc/",
        { kind: "azure-blob", account: "acct1", container: "uc", prefix: "models/abc", dnsSuffix: "core.windows.net" },
      ],
      [
        "wasbs://uc@acct1.blob.core.windows.net/m",
        { kind: "azure-blob", account: "acct1", container: "uc", prefix: "m", dnsSuffix: "core.windows.net" },
      ],
      [
        "https://acct1.blob.core.chinacloudapi.cn/uc/m/1",
        { kind: "azure-blob", account: "acct1", container: "uc", prefix: "m/1", dnsSuffix: "core.chinacloudapi.cn" },
      ],
    ];
    for (const [location, parsed] of cases) assert.deepStrictEqual(parseStorageLocation(location), parsed, location);
    assert.throws(() => parseStorageLocation("gs://bucket/x"), /not supported yet: gs:\/\//);
    assert.throws(() => parseStorageLocation("abfss://acct1.dfs.core.windows.net/x"), /expected abfss:\/\/container@account/);
    assert.throws(
      () => parseStorageLocation("https://acct1.blob.core.windows.net/uc/m?sig=SECRET"),
      (e: Error) => !e.message.includes("SECRET"),
    );
  });

  it("GCP, R2 and default storage are refused as not supported yet, naming what", () => {
    const s = settingsFrom({}, {});
    assert.throws(() => openStore("gs://b/m", { gcp_oauth_token: { oauth_token: "t" } }, s), /not supported yet: Google Cloud Storage/);
    assert.throws(
      () => openStore("r2://b/m", { r2_temp_credentials: { access_key_id: "a", secret_access_key: "s" } }, s),
      /not supported yet: Cloudflare R2/,
    );
    assert.throws(
      () =>
        openStore(
          "s3://bucket/m",
          { storage_mode: "DEFAULT_STORAGE", aws_temp_credentials: { access_key_id: "a", secret_access_key: "s" } },
          s,
        ),
      /not supported yet: Unity Catalog default storage/,
    );
    assert.throws(
      () => openStore("s3://bucket/m", { azure_user_delegation_sas: { sas_token: "sv=1&sig=SECRET" } }, s),
      (e: Error) => /an S3 location but the credentials are azure_user_delegation_sas/.test(e.message) && !e.message.includes("SECRET"),
    );
  });

  it("an ADLS Gen2 signed URL is used on the account's Blob endpoint, with its SAS unchanged", () => {
    assert.strictEqual(
      viaBlobEndpoint("https://acct1.dfs.core.windows.net/uc/runs/r/a.bin?sv=1&sig=x"),
      "https://acct1.blob.core.windows.net/uc/runs/r/a.bin?sv=1&sig=x",
    );
    assert.strictEqual(
      viaBlobEndpoint("http://127.0.0.1:10000/devstoreaccount1/c/a.bin"),
      "http://127.0.0.1:10000/devstoreaccount1/c/a.bin",
    );
  });

  it("keys stay below the store's root", async () => {
    const store = openStore(
      "s3://bucket/m",
      { aws_temp_credentials: { access_key_id: "a", secret_access_key: "s" } },
      settingsFrom({}, {}),
    );
    for (const key of ["../x", "/x", "a//b", "", "a/./b"]) await assert.rejects(store.head(key), /is not a relative file path/, key);
  });

  it("settings come from the arguments, then the environment, then the defaults, and every bad value is reported at once", () => {
    assert.deepStrictEqual(settingsFrom({}, {}), {
      partSize: 16 * 1024 * 1024,
      singlePutLimit: undefined,
      partConcurrency: 4,
      s3Endpoint: undefined,
      azureBlobEndpoint: undefined,
    });
    assert.deepStrictEqual(
      settingsFrom(
        { partConcurrency: 2 },
        {
          STORAGE_PART_SIZE: "1048576",
          STORAGE_SINGLE_PUT_LIMIT: "2097152",
          STORAGE_PART_CONCURRENCY: "8",
          MLFLOW_S3_ENDPOINT_URL: "http://127.0.0.1:9000/",
          AWS_ENDPOINT_URL_S3: "http://other",
          STORAGE_AZURE_BLOB_ENDPOINT: "http://127.0.0.1:10000/{account}",
        },
      ),
      {
        partSize: 1048576,
        singlePutLimit: 2097152,
        partConcurrency: 2,
        s3Endpoint: "http://127.0.0.1:9000",
        azureBlobEndpoint: "http://127.0.0.1:10000/{account}",
      },
    );
    assert.throws(
      () => settingsFrom({}, { STORAGE_PART_SIZE: "16MiB", STORAGE_PART_CONCURRENCY: "0", STORAGE_S3_ENDPOINT: "ftp://x" }),
      (e: Error) =>
        e.message.includes('STORAGE_PART_SIZE="16MiB" is not a positive integer') &&
        e.message.includes('STORAGE_PART_CONCURRENCY="0" is not a positive integer') &&
        e.message.includes('STORAGE_S3_ENDPOINT "ftp://x" is not an http(s) URL'),
    );
  });
});

function containerSas(key: StorageSharedKeyCredential, container: string, expiresOn: Date): string {
  return generateBlobSASQueryParameters(
    {
      containerName: container,
      permissions: ContainerSASPermissions.parse("racwdl"),
      startsOn: new Date(expiresOn.getTime() - 7200e3),
      expiresOn,
    },
    key,
  ).toString();
}

/** Temporary credentials as Unity Catalog hands them out, from moto's STS. */
async function sessionCredentials(m: {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}): Promise<UcTemporaryCredentials> {
  const sts = new STSClient({ endpoint: m.endpoint, region: m.region, credentials: m });
  try {
    const c = (await sts.send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials!;
    return {
      aws_temp_credentials: { access_key_id: c.AccessKeyId!, secret_access_key: c.SecretAccessKey!, session_token: c.SessionToken! },
      expiration_time: c.Expiration!.getTime(),
    };
  } finally {
    sts.destroy();
  }
}

/**
 * A gateway in front of moto that records every request's headers and answers S3's 400 ExpiredToken for
 * session tokens marked expired (moto checks no token); everything else passes through.
 */
async function s3Gate(upstream: string): Promise<{
  url: string;
  expire: (token: string) => void;
  requests: { method: string; path: string; headers: http.IncomingHttpHeaders }[];
  stop: () => Promise<void>;
}> {
  const expired = new Set<string>();
  const requests: { method: string; path: string; headers: http.IncomingHttpHeaders }[] = [];
  const up = new URL(upstream);
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
    if (expired.has(String(req.headers["x-amz-security-token"]))) {
      req.resume();
      req.on("end", () => {
        res.writeHead(400, { "Content-Type": "application/xml" });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>',
        );
      });
      return;
    }
    const forward = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  const url = await listenLoopback(server);
  return { url, expire: (t) => expired.add(t), requests, stop: () => closeServer(server) };
}
