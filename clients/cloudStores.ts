/**
 * Opening a cloud object store from what a registry hands out: a Unity Catalog model version's
 * `storage_location` with the `TemporaryCredentials` for it (as MLflow's `_unity_catalog_utils` maps them to
 * artifact repositories), or a workspace registry's per-file Azure SAS URL. Also the concerns both stores
 * share: settings, keys below a root prefix, credentials renewed on expiry, and store errors in the
 * project's HttpError shape with no credential in them.
 *
 * The stores are imported statically: Pulumi serializes the model-migration provider's closure, and a relative
 * `require` inside a function would be resolved from the provider host's directory, not this one.
 */
import { Readable, Transform } from "stream";
import { AzureBlobStore } from "./azureBlobStore";
import { S3Store } from "./s3Store";
import { httpError, HttpError, parseRetryAfter, redact } from "./http";
import {
  DEFAULT_PART_CONCURRENCY,
  DEFAULT_PART_SIZE,
  ObjectSink,
  ObjectStore,
  PartReceipt,
  StoredObject,
  StoreSettings,
} from "./objectStore";

/**
 * MLflow's Unity Catalog `TemporaryCredentials` message as JSON (proto field names, as the Databricks API
 * answers `generate-temporary-model-version-credentials`). One of the credential fields is set.
 */
export interface UcTemporaryCredentials {
  aws_temp_credentials?: { access_key_id: string; secret_access_key: string; session_token?: string };
  azure_user_delegation_sas?: { sas_token: string };
  gcp_oauth_token?: { oauth_token: string };
  r2_temp_credentials?: { access_key_id: string; secret_access_key: string; session_token?: string };
  /** Epoch milliseconds; proto3 JSON writes int64 as a string. */
  expiration_time?: number | string;
  /** `DEFAULT_STORAGE` (2): Databricks-managed storage, reached through presigned URLs only. */
  storage_mode?: "STORAGE_MODE_UNSPECIFIED" | "CUSTOMER_HOSTED" | "DEFAULT_STORAGE" | number;
  /** Server-side encryption the bucket requires on writes (MLflow passes it as S3 upload arguments). */
  encryption_details?: {
    sse_encryption_details?: {
      algorithm?: "SSE_ENCRYPTION_ALGORITHM_UNSPECIFIED" | "AWS_SSE_S3" | "AWS_SSE_KMS" | number;
      aws_kms_key_arn?: string;
    };
  };
}

/** A storage location, parsed. */
export type StorageLocation =
  | { kind: "s3"; bucket: string; prefix: string }
  | { kind: "azure-blob"; account: string; container: string; prefix: string; /** e.g. `core.windows.net` */ dnsSuffix: string };

/**
 * Parses a storage location: `s3://bucket/prefix`, `abfss://container@account.dfs.core.windows.net/prefix`
 * (also `abfs://`), `wasbs://container@account.blob.core.windows.net/prefix` (also `wasb://`) and
 * `https://account.blob.core.windows.net/container/prefix` (or `.dfs.`). The prefix has no leading or
 * trailing '/'.
 */
export function parseStorageLocation(location: string): StorageLocation {
  const shown = printable(location);
  const bad = (why: string) => new Error(`storage location ${shown}: ${why}`);
  if (/[?#]/.test(location)) throw bad("a storage location carries no query string or fragment");
  const m = /^([a-z0-9]+):\/\/([^/]*)(\/.*)?$/i.exec(location.trim());
  if (!m) throw bad("not a URL (expected s3://bucket/prefix or abfss://container@account.dfs.core.windows.net/prefix)");
  const scheme = m[1].toLowerCase();
  const authority = m[2];
  const path = (m[3] ?? "").replace(/^\/+|\/+$/g, "");
  if (scheme === "s3") {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(authority)) throw bad(`"${authority}" is not an S3 bucket name`);
    return { kind: "s3", bucket: authority, prefix: path };
  }
  if (scheme === "gs" || scheme === "r2") throw new Error(`not supported yet: ${scheme}:// storage locations (${shown})`);
  const host = (h: string) => /^([a-z0-9]{3,24})\.(blob|dfs)\.(.+)$/.exec(h.toLowerCase());
  if (scheme === "abfss" || scheme === "abfs" || scheme === "wasbs" || scheme === "wasb") {
    const at = authority.lastIndexOf("@");
    const h = host(authority.slice(at + 1));
    if (at <= 0 || !h)
      throw bad(`expected ${scheme}://container@account.${scheme.startsWith("abfs") ? "dfs" : "blob"}.core.windows.net/path`);
    return { kind: "azure-blob", account: h[1], container: authority.slice(0, at), prefix: path, dnsSuffix: h[3] };
  }
  if (scheme === "https" || scheme === "http") {
    const h = host(authority);
    const [container, ...rest] = path.split("/");
    if (!h || !container) throw bad("expected https://account.blob.core.windows.net/container/path");
    return { kind: "azure-blob", account: h[1], container, prefix: rest.join("/"), dnsSuffix: h[3] };
  }
  throw bad(`unknown scheme ${scheme}://`);
}

/**
 * The store settings: `partial` first, then the environment (`STORAGE_PART_SIZE`, `STORAGE_SINGLE_PUT_LIMIT`,
 * `STORAGE_PART_CONCURRENCY` as positive integers of bytes or parts; `STORAGE_S3_ENDPOINT`,
 * `MLFLOW_S3_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`; `STORAGE_AZURE_BLOB_ENDPOINT`), then the defaults. Every
 * invalid value is reported at once.
 */
export function settingsFrom(partial: Partial<StoreSettings> = {}, env: NodeJS.ProcessEnv = process.env): StoreSettings {
  const problems: string[] = [];
  const integer = (field: keyof StoreSettings, variable: string): number | undefined => {
    const given = partial[field];
    if (given !== undefined) {
      if (typeof given === "number" && Number.isSafeInteger(given) && given > 0) return given;
      problems.push(`${field} ${JSON.stringify(given)} is not a positive integer`);
      return undefined;
    }
    const raw = env[variable];
    if (raw === undefined || raw.trim() === "") return undefined;
    const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (Number.isSafeInteger(n) && n > 0) return n;
    problems.push(`${variable}=${JSON.stringify(raw)} is not a positive integer`);
    return undefined;
  };
  const endpoint = (field: "s3Endpoint" | "azureBlobEndpoint", variables: string[]): string | undefined => {
    const [source, value] =
      partial[field] !== undefined
        ? [field, partial[field]]
        : (variables.map((v) => [v, env[v]] as const).find(([, v]) => v !== undefined && v.trim() !== "") ?? [field, undefined]);
    if (value === undefined) return undefined;
    try {
      const u = new URL(value.replace("{account}", "account"));
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    } catch {
      problems.push(`${source} ${JSON.stringify(redact(value))} is not an http(s) URL`);
    }
    return value.trim().replace(/\/+$/, "");
  };
  const settings: StoreSettings = {
    partSize: integer("partSize", "STORAGE_PART_SIZE") ?? DEFAULT_PART_SIZE,
    singlePutLimit: integer("singlePutLimit", "STORAGE_SINGLE_PUT_LIMIT"),
    partConcurrency: integer("partConcurrency", "STORAGE_PART_CONCURRENCY") ?? DEFAULT_PART_CONCURRENCY,
    s3Endpoint: endpoint("s3Endpoint", ["STORAGE_S3_ENDPOINT", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]),
    azureBlobEndpoint: endpoint("azureBlobEndpoint", ["STORAGE_AZURE_BLOB_ENDPOINT"]),
  };
  if (problems.length) throw new Error(`Invalid object store settings:\n - ${problems.join("\n - ")}`);
  return settings;
}

/**
 * The store for a Unity Catalog model version's `storage_location`, signed with its temporary credentials.
 * With `refresh`, credentials the store reports expired (or whose `expiration_time` has passed) are fetched
 * again, once, and the request is sent again. GCP, R2 and Databricks default storage are not supported yet.
 */
export function openStore(
  location: string,
  credentials: UcTemporaryCredentials,
  settings: StoreSettings,
  refresh?: () => Promise<UcTemporaryCredentials>,
): ObjectStore {
  const shown = printable(location).replace(/\/+$/, "");
  const mode = credentials.storage_mode;
  if (mode === "DEFAULT_STORAGE" || mode === 2) {
    throw new Error(
      `not supported yet: Unity Catalog default storage (storage_mode DEFAULT_STORAGE) for ${shown}, which is reached through presigned URLs only`,
    );
  }
  const kind = credentialKind(credentials, shown);
  const loc = parseStorageLocation(location);
  const renewed = <T>(pick: (c: UcTemporaryCredentials) => T) =>
    new Renewable<T>(
      pick(credentials),
      refresh &&
        (async () => {
          const next = await refresh();
          const k = credentialKind(next, shown);
          if (k !== kind) throw new Error(`${shown}: the renewed credentials are ${k}, not ${kind}`);
          return { value: pick(next), expiresAt: expiryOf(next) };
        }),
      expiryOf(credentials),
    );
  if (loc.kind === "s3") {
    if (kind !== "aws_temp_credentials") throw new Error(`${shown} is an S3 location but the credentials are ${kind}`);
    return new S3Store(
      { where: shown, bucket: loc.bucket, prefix: loc.prefix, sse: sseOf(credentials) },
      renewed(awsCredentialsOf),
      settings,
    );
  }
  if (kind !== "azure_user_delegation_sas") throw new Error(`${shown} is an Azure location but the credentials are ${kind}`);
  const containerUrl = `${azureBlobEndpoint(loc.account, loc.dnsSuffix, settings)}/${encodeURIComponent(loc.container)}`;
  return new AzureBlobStore(
    { where: shown, containerUrl, prefix: loc.prefix },
    renewed((c) => ({ sas: c.azure_user_delegation_sas!.sas_token.replace(/^\?/, ""), headers: {} })),
    settings,
  );
}

/**
 * A sink for one blob addressed by a signed URL (a workspace registry's `AZURE_SAS_URI` credential, with the
 * headers it says to send): Put Blob below the single-request limit, else Put Block / Put Block List, each
 * request with its Content-MD5 for the service to verify. `refresh` fetches a new signed URL for the same
 * blob when the service reports the signature expired.
 */
export function azureSinkFromSasUrl(
  url: string,
  headers: Record<string, string>,
  settings: StoreSettings,
  refresh?: () => Promise<{ url: string; headers: Record<string, string> }>,
): ObjectSink {
  return AzureBlobStore.forSignedBlob(signedBlob(url, headers, refresh), settings).sink("");
}

/** Reading one blob addressed by a signed URL: its size and stored MD5, and its bytes (or a range of them). */
export function azureBlobFromSasUrl(
  url: string,
  headers: Record<string, string> = {},
  refresh?: () => Promise<{ url: string; headers: Record<string, string> }>,
): {
  readonly where: string;
  head(): Promise<StoredObject | undefined>;
  get(range?: { start: number; end: number }): Promise<{ body: Readable; length: number }>;
} {
  const store = AzureBlobStore.forSignedBlob(signedBlob(url, headers, refresh), settingsFrom({}, {}));
  return { where: store.where, head: () => store.head(""), get: (range) => store.get("", range) };
}

function signedBlob(
  url: string,
  headers: Record<string, string>,
  refresh?: () => Promise<{ url: string; headers: Record<string, string> }>,
) {
  const split = (u: string) => {
    const q = u.indexOf("?");
    return { base: q < 0 ? u : u.slice(0, q), sas: q < 0 ? "" : u.slice(q + 1) };
  };
  const first = split(url);
  return {
    where: redact(url),
    blobUrl: viaBlobEndpoint(first.base),
    credentials: new Renewable<AzureSas>(
      { sas: first.sas, headers },
      refresh &&
        (async () => {
          const next = await refresh();
          const s = split(next.url);
          if (s.base !== first.base) throw new Error(`${redact(url)}: the renewed signed URL is for another blob (${redact(next.url)})`);
          return { value: { sas: s.sas, headers: next.headers } };
        }),
    ),
  };
}

/**
 * A blob's URL on its account's Blob endpoint: an ADLS Gen2 (`.dfs.`) URL, as a registry's
 * AZURE_ADLS_GEN2_SAS_URI gives, names the same blob there, and its SAS signs the path, not the host.
 */
export function viaBlobEndpoint(url: string): string {
  return url.replace(/^(https?:\/\/[a-z0-9]{3,24})\.dfs\./i, "$1.blob.");
}

/** The blob service URL of an account: the settings' template, else the public cloud's host for the location's DNS suffix. */
function azureBlobEndpoint(account: string, dnsSuffix: string, settings: StoreSettings): string {
  const template = settings.azureBlobEndpoint ?? `https://{account}.blob.${dnsSuffix}`;
  return template.split("{account}").join(account).replace(/\/+$/, "");
}

type CredentialKind = "aws_temp_credentials" | "azure_user_delegation_sas" | "gcp_oauth_token" | "r2_temp_credentials";

function credentialKind(c: UcTemporaryCredentials, shown: string): CredentialKind {
  if (c.aws_temp_credentials?.access_key_id) return "aws_temp_credentials";
  if (c.azure_user_delegation_sas?.sas_token) return "azure_user_delegation_sas";
  if (c.gcp_oauth_token) throw new Error(`not supported yet: Google Cloud Storage (gcp_oauth_token credentials) for ${shown}`);
  if (c.r2_temp_credentials) throw new Error(`not supported yet: Cloudflare R2 (r2_temp_credentials) for ${shown}`);
  throw new Error(
    `${shown}: the temporary credentials hold none of aws_temp_credentials, azure_user_delegation_sas, gcp_oauth_token, r2_temp_credentials (fields: ${Object.keys(c).join(", ") || "none"})`,
  );
}

function expiryOf(c: UcTemporaryCredentials): number | undefined {
  const n = Number(c.expiration_time);
  return c.expiration_time !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

function awsCredentialsOf(c: UcTemporaryCredentials): AwsCredentials {
  const a = c.aws_temp_credentials!;
  return { accessKeyId: a.access_key_id, secretAccessKey: a.secret_access_key, sessionToken: a.session_token || undefined };
}

/** Server-side encryption for S3 writes, as MLflow's `_parse_aws_sse_credential` maps it. */
export interface S3Encryption {
  ServerSideEncryption: "AES256" | "aws:kms";
  SSEKMSKeyId?: string;
}

function sseOf(c: UcTemporaryCredentials): S3Encryption | undefined {
  const d = c.encryption_details?.sse_encryption_details;
  if (d?.algorithm === "AWS_SSE_S3" || d?.algorithm === 1) return { ServerSideEncryption: "AES256" };
  if (d?.algorithm === "AWS_SSE_KMS" || d?.algorithm === 2)
    return { ServerSideEncryption: "aws:kms", SSEKMSKeyId: d.aws_kms_key_arn || undefined };
  return undefined;
}

/** An Azure SAS (the query string, without '?') and the headers to send with it. */
export interface AzureSas {
  sas: string;
  headers: Record<string, string>;
}

/** Renew this long before a known expiry time rather than fail one request first. */
const RENEW_MARGIN_MS = 30000;

/**
 * Temporary credentials shared by every request of a store, renewed at most once per expiry however many
 * requests fail at the same time: the requests that saw the old credentials wait for the one renewal.
 */
export class Renewable<T> {
  private generation = 0;
  private renewing?: Promise<void>;

  constructor(
    private value: T,
    private readonly renewer?: () => Promise<{ value: T; expiresAt?: number }>,
    private expiresAt?: number,
  ) {}

  /** The current value and its generation (bumped by each renewal), for caching clients built from it. */
  get current(): { value: T; generation: number } {
    return { value: this.value, generation: this.generation };
  }

  /**
   * Runs `fn` with the current credentials; when it fails the way `expired` recognises and the credentials
   * can be renewed, renews them and runs `fn` once more. A request whose body cannot be sent twice (a
   * stream) is not run again: its error is marked `credentialsRenewed`, for the caller to retry as a whole.
   */
  async run<R>(fn: (value: T, generation: number) => Promise<R>, expired: (e: unknown) => boolean, replayable = true): Promise<R> {
    if (this.renewer && this.expiresAt !== undefined && Date.now() >= this.expiresAt - RENEW_MARGIN_MS) await this.renew(this.generation);
    const seen = this.generation;
    try {
      return await fn(this.value, seen);
    } catch (e) {
      if (!this.renewer || !expired(e)) throw e;
      await this.renew(seen);
      if (!replayable) throw Object.assign(e as Error, { credentialsRenewed: true });
      return fn(this.value, this.generation);
    }
  }

  private async renew(seen: number): Promise<void> {
    if (this.generation !== seen) return;
    this.renewing ??= (async () => {
      try {
        const next = await this.renewer!();
        this.value = next.value;
        // Credentials that come back already (nearly) expired are used as they are, not renewed again per request.
        this.expiresAt = next.expiresAt !== undefined && next.expiresAt - RENEW_MARGIN_MS > Date.now() ? next.expiresAt : undefined;
        this.generation++;
      } finally {
        this.renewing = undefined;
      }
    })();
    await this.renewing;
  }
}

/** The full key of `key` below the store's root prefix; refuses keys that would leave it or are not file paths. */
export function keyBelow(root: string, key: string, where: string): string {
  if (key === "" || key.startsWith("/") || key.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new Error(`${where}: ${JSON.stringify(key)} is not a relative file path`);
  }
  return root ? `${root}/${key}` : key;
}

/** The listing prefix for `prefix` (a directory below the root; "" for all of it). */
export function listPrefix(root: string, prefix: string, where: string): string {
  const dir = prefix.replace(/\/+$/, "");
  if (dir === "") return root ? `${root}/` : "";
  return `${keyBelow(root, dir, where)}/`;
}

/** Parts 1..N, each once, in order: a gap or a duplicate would commit a blob with the wrong bytes. */
export function inOrder(parts: PartReceipt[], where: string, key: string): PartReceipt[] {
  const ordered = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  ordered.forEach((p, i) => {
    if (p.partNumber !== i + 1) {
      throw new Error(
        `${where}: cannot complete ${key || "the blob"}: the parts must be 1..${ordered.length}, each once, but part ${i + 1} is ${p.partNumber === i ? "repeated" : "missing"}`,
      );
    }
  });
  if (ordered.length === 0) throw new Error(`${where}: cannot complete ${key || "the blob"} from no parts`);
  return ordered;
}

/** A store's failure, as the SDKs report it, before it is worded. */
export interface StoreFailure {
  /** 0 when no response came. */
  status: number;
  code?: string;
  message: string;
  retryAfter?: string | null;
  /** The credentials expired during a request that could not be sent again at once; they are renewed now. */
  credentialsRenewed?: boolean;
}

/** Store error codes worth sending again (besides 429, 5xx and no answer at all). */
const RETRYABLE_CODES = new Set([
  "RequestTimeout",
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "RequestThrottled",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "ServerBusy",
  "OperationTimedOut",
  "InternalError",
  // The store refused bytes that do not match the checksum sent with them: corrupted on the way, so sending
  // them again (read afresh) is the remedy.
  "Md5Mismatch",
  "BadDigest",
  "InvalidDigest",
]);

/**
 * The HttpError for a store failure: `<op> <where>/<key> failed: <status> <code>: <message>`, retryable for
 * no answer, 429, 5xx, throttling or timeout codes and checksum mismatches (bytes corrupted in transit), with any URL redacted and the credentials masked.
 */
export function storeError(f: StoreFailure, op: string, where: string, key: string | undefined, secrets: string[]): HttpError {
  const target = key ? `${where}/${key}` : where;
  const head = f.status ? `${f.status}${f.code ? ` ${f.code}` : ""}: ` : f.code ? `${f.code}: ` : "";
  const renewed = f.credentialsRenewed ? " (the credentials have been renewed: send it again)" : "";
  const text = `${op} ${target} failed: ${head}${scrub(firstLine(f.message), secrets) || "(no message)"}${renewed}`;
  const retryable =
    f.credentialsRenewed === true ||
    f.status === 0 ||
    f.status === 429 ||
    f.status >= 500 ||
    (f.code !== undefined && RETRYABLE_CODES.has(f.code));
  const err = httpError(f.status, text, retryable, f.code);
  const ra = f.status === 429 || f.status === 503 ? parseRetryAfter(f.retryAfter) : undefined;
  if (ra !== undefined) err.retryAfterS = ra;
  return err;
}

function firstLine(s: string): string {
  return s.split(/\r?\n/)[0].trim().slice(0, 500);
}

/**
 * A location or URL as it may be printed: query string and fragment (where signed URLs carry credentials)
 * and a password in the user info cut. Unlike `redact`, a user name is kept: in `abfss://container@account`
 * it is the container.
 */
export function printable(url: string): string {
  return url.replace(/[?#][\s\S]*$/, "?…").replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*:[^/@\s]*@/i, "$1…@");
}

/** A store's own text as it may be printed: URLs made printable, SAS signatures and the given secrets masked. */
export function scrub(text: string, secrets: string[]): string {
  let t = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, printable);
  for (const s of secrets) if (s && s.length >= 4) t = t.split(s).join("***");
  return t.replace(/\bsig=[^&\s"']+/gi, "sig=***");
}

/**
 * `body`, checked to carry exactly `length` bytes: a body cut short (or running long) fails instead of
 * ending quietly, and every failure of the stream is reported as `fail` words it.
 */
export function exactly(body: Readable, length: number, fail: (message: string) => Error): Readable {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > length) done(fail(`the body ran past the ${length} bytes announced`));
      else done(null, chunk);
    },
    flush(done) {
      done(seen === length ? null : fail(`the body ended after ${seen} of ${length} bytes`));
    },
  });
  body.on("error", (e) => out.destroy(fail(`the body broke after ${seen} of ${length} bytes: ${e.message}`)));
  out.on("close", () => {
    if (!body.destroyed) body.destroy();
  });
  return body.pipe(out);
}
