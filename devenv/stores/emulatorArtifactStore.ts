/**
 * Run artifacts of the Databricks test server kept in a real store emulator (Azurite or moto) instead of in
 * memory, handed out as the workspace does: Azure blob SAS URLs (`AZURE_SAS_URI`) or S3 presigned URLs
 * (`AWS_PRESIGNED_URL`), optionally through a store gate (devenv/stores/storeGate.ts) that enforces the
 * single-request limit. For S3 it also backs MLflow's multipart artifact endpoints with a real multipart
 * upload, whose parts go up through presigned UploadPart URLs.
 */
import {
  BlobSASPermissions,
  BlobServiceClient,
  ContainerClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { AzuriteHandle, MotoHandle } from "./cloudEmulators";

/** Where the Databricks test server keeps run artifacts when not in memory. */
export type ArtifactStorage =
  | { kind: "azure"; azurite: AzuriteHandle; gateUrl?: string; container?: string }
  | { kind: "s3"; moto: MotoHandle; gateUrl?: string; bucket?: string };

/** `ArtifactCredentialInfo` as MLflow's protos define it (databricks_artifacts.proto), minus run_id and path. */
export interface SignedCredential {
  signed_uri: string;
  type: "AZURE_SAS_URI" | "AWS_PRESIGNED_URL";
  headers: { name: string; value: string }[];
}

/** One entry of one level of a listing, relative to the listed directory's parent key. */
export interface ListedEntry {
  name: string;
  isDir: boolean;
  size?: number;
}

/** How long a signed URL stays valid (Databricks: minutes). */
const SIGNED_URL_SECONDS = 15 * 60;
/** S3's part-count limit, which MLflow's `num_parts` must respect. */
export const S3_MAX_PARTS = 10000;

export interface EmulatorArtifactStore {
  readonly kind: "azure" | "s3";
  /** Where keys live, for messages: `azure://container` or `s3://bucket`. */
  readonly where: string;
  signedRead(key: string): Promise<SignedCredential>;
  signedWrite(key: string): Promise<SignedCredential>;
  /** One level below `dir` (a key prefix without trailing slash; "" for the root). */
  list(dir: string): Promise<ListedEntry[]>;
  put(key: string, data: Buffer): Promise<void>;
  /** Releases the store's connections. */
  close(): void;
}

export interface S3MultipartStore extends EmulatorArtifactStore {
  readonly kind: "s3";
  createMultipart(key: string, parts: number): Promise<{ uploadId: string; parts: SignedCredential[]; abort: SignedCredential }>;
  signedPart(key: string, uploadId: string, partNumber: number): Promise<SignedCredential>;
  completeMultipart(key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<void>;
}

/** Opens (and on first use creates) the container or bucket of `storage`. */
export function openEmulatorArtifactStore(storage: ArtifactStorage): EmulatorArtifactStore | S3MultipartStore {
  return storage.kind === "azure" ? azureStore(storage) : s3Store(storage);
}

function azureStore(storage: Extract<ArtifactStorage, { kind: "azure" }>): EmulatorArtifactStore {
  const { azurite } = storage;
  const name = storage.container ?? "mlflow-artifacts";
  const credential = new StorageSharedKeyCredential(azurite.account, azurite.accountKey);
  // The server's own calls go straight to Azurite; signed URLs go through the gate when there is one.
  const container: ContainerClient = new BlobServiceClient(azurite.blobEndpoint, credential).getContainerClient(name);
  const signedBase = storage.gateUrl ? `${storage.gateUrl.replace(/\/+$/, "")}/${azurite.account}` : azurite.blobEndpoint;
  let created: Promise<unknown> | undefined;
  const ready = () => (created ??= container.createIfNotExists());
  const sas = async (key: string, permissions: string): Promise<string> => {
    await ready();
    const query = generateBlobSASQueryParameters(
      {
        containerName: name,
        blobName: key,
        permissions: BlobSASPermissions.parse(permissions),
        startsOn: new Date(Date.now() - 60_000),
        expiresOn: new Date(Date.now() + SIGNED_URL_SECONDS * 1000),
      },
      credential,
    ).toString();
    return `${signedBase}/${name}/${key.split("/").map(encodeURIComponent).join("/")}?${query}`;
  };
  return {
    kind: "azure",
    where: `azure://${name}`,
    signedRead: async (key) => ({ signed_uri: await sas(key, "r"), type: "AZURE_SAS_URI", headers: [] }),
    // Databricks asks for the blob type header on writes (Put Blob needs it; Put Block ignores it).
    signedWrite: async (key) => ({
      signed_uri: await sas(key, "cw"),
      type: "AZURE_SAS_URI",
      headers: [{ name: "x-ms-blob-type", value: "BlockBlob" }],
    }),
    async list(dir) {
      await ready();
      const prefix = dir ? `${dir}/` : "";
      const out: ListedEntry[] = [];
      for await (const item of container.listBlobsByHierarchy("/", { prefix })) {
        const rest = item.name.slice(prefix.length);
        if (item.kind === "prefix") out.push({ name: rest.replace(/\/$/, ""), isDir: true });
        else out.push({ name: rest, isDir: false, size: item.properties.contentLength ?? 0 });
      }
      return out;
    },
    async put(key, data) {
      await ready();
      await container.getBlockBlobClient(key).uploadData(data);
    },
    close() {
      /* the Azure SDK's pipeline keeps no connections to release */
    },
  };
}

function s3Store(storage: Extract<ArtifactStorage, { kind: "s3" }>): S3MultipartStore {
  const { moto } = storage;
  const Bucket = storage.bucket ?? "mlflow-artifacts";
  const client = (endpoint: string) =>
    new S3Client({
      endpoint,
      region: moto.region,
      forcePathStyle: true,
      credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
      // Presigned URLs must not carry a checksum of an empty body; MLflow sends the bytes as they are.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  const direct = client(moto.endpoint);
  const signer = storage.gateUrl ? client(storage.gateUrl) : direct;
  let created: Promise<unknown> | undefined;
  const ready = () =>
    (created ??= direct.send(new CreateBucketCommand({ Bucket })).catch((e: unknown) => {
      if (e instanceof S3ServiceException && ["BucketAlreadyOwnedByYou", "BucketAlreadyExists"].includes(e.name)) return;
      created = undefined;
      throw e;
    }));
  const expires = { expiresIn: SIGNED_URL_SECONDS };
  const presigned = async (sign: () => Promise<string>): Promise<SignedCredential> => {
    await ready();
    return { signed_uri: await sign(), type: "AWS_PRESIGNED_URL", headers: [] };
  };
  return {
    kind: "s3",
    where: `s3://${Bucket}`,
    signedRead: (Key) => presigned(() => getSignedUrl(signer, new GetObjectCommand({ Bucket, Key }), expires)),
    signedWrite: (Key) => presigned(() => getSignedUrl(signer, new PutObjectCommand({ Bucket, Key }), expires)),
    async list(dir) {
      await ready();
      const Prefix = dir ? `${dir}/` : "";
      const out: ListedEntry[] = [];
      let ContinuationToken: string | undefined;
      do {
        const page = await direct.send(new ListObjectsV2Command({ Bucket, Prefix, Delimiter: "/", ContinuationToken }));
        for (const p of page.CommonPrefixes ?? []) out.push({ name: p.Prefix!.slice(Prefix.length).replace(/\/$/, ""), isDir: true });
        for (const o of page.Contents ?? []) out.push({ name: o.Key!.slice(Prefix.length), isDir: false, size: o.Size ?? 0 });
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
      return out;
    },
    async put(Key, data) {
      await ready();
      await direct.send(new PutObjectCommand({ Bucket, Key, Body: data }));
    },
    async createMultipart(Key, parts) {
      await ready();
      const { UploadId } = await direct.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      if (!UploadId) throw new Error(`S3 gave no upload id for s3://${Bucket}/${Key}`);
      const creds: SignedCredential[] = [];
      for (let n = 1; n <= parts; n++)
        creds.push(await presigned(() => getSignedUrl(signer, new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: n }), expires)));
      return {
        uploadId: UploadId,
        parts: creds,
        abort: await presigned(() => getSignedUrl(signer, new AbortMultipartUploadCommand({ Bucket, Key, UploadId }), expires)),
      };
    },
    close() {
      direct.destroy();
      signer.destroy();
    },
    signedPart: (Key, UploadId, PartNumber) =>
      presigned(() => getSignedUrl(signer, new UploadPartCommand({ Bucket, Key, UploadId, PartNumber }), expires)),
    async completeMultipart(Key, UploadId, parts) {
      await direct.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
      );
    },
  };
}
