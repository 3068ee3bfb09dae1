/**
 * A loopback HTTP gate in front of one store emulator (Azurite or moto) that enforces the real store's
 * single-request limit, which the emulators do not, as a setting tests lower at will:
 *
 * - Azure: a Put Blob whose body is over `limit` answers 413 `RequestBodyTooLarge`, as does a Put Block over
 *   `partLimit` (Azure: 4000 MiB).
 * - S3: a PutObject over `limit` answers 400 `EntityTooLarge`, as does an UploadPart over `partLimit` (5 GiB).
 *
 * The decision is made from the declared length before any of the body is read. Everything else streams
 * through unchanged and unbuffered (multi-GiB files pass, with backpressure), and the Host header is kept, so
 * SigV4 signatures (which cover `host`) and SAS/Shared Key signatures still validate upstream. Requests are
 * counted by kind, so a test can assert that a big file went up in parts.
 */
import { randomUUID } from "crypto";
import * as http from "http";
import { closeServer, listenLoopback } from "../loopback";

export type StoreKind = "azure" | "s3";

/** Azure Put Blob (5000 MiB) and Put Block (4000 MiB) limits; S3 PutObject and UploadPart (5 GiB each). */
export const AZURE_PUT_BLOB_LIMIT = 5000 * 1024 * 1024;
export const AZURE_PUT_BLOCK_LIMIT = 4000 * 1024 * 1024;
export const S3_PUT_OBJECT_LIMIT = 5 * 1024 * 1024 * 1024;
export const S3_UPLOAD_PART_LIMIT = 5 * 1024 * 1024 * 1024;

/**
 * Request kinds counted. Azure: put-blob, put-block, put-block-list, get-block-list, copy-blob,
 * create-container, list, list-containers. S3: put-object, upload-part, upload-part-copy, copy-object,
 * create-multipart, complete, abort, list-parts, create-bucket, list, delete-objects. Both: get, head, delete,
 * other.
 */
export type RequestKind = string;

export interface StoreGate {
  readonly kind: StoreKind;
  /** The gate's base URL (`http://127.0.0.1:PORT`); Azure clients add `/devstoreaccount1`, S3 clients use path style. */
  readonly url: string;
  /** Largest body of a single put (Put Blob / PutObject), in bytes; changeable while the gate runs. */
  limit: number;
  /** Largest body of one part (Put Block / UploadPart), in bytes; changeable while the gate runs. */
  partLimit: number;
  /** Requests seen, by kind (rejected ones included). */
  readonly counts: Record<RequestKind, number>;
  /** Requests the gate refused as over a limit, by kind. */
  readonly rejected: Record<RequestKind, number>;
  /** Zeroes `counts` and `rejected`. */
  resetCounts(): void;
  stop(): Promise<void>;
}

/** Headers that belong to one connection, not to the request or response (RFC 9110 §7.6.1), plus `expect`. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "upgrade",
  "expect",
]);

function forwardable(headers: http.IncomingHttpHeaders | http.OutgoingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
  return out;
}

/** Path segments of the request, and its query parameter names (lower case). */
function parse(req: http.IncomingMessage): { segments: string[]; query: URLSearchParams; names: Set<string> } {
  const u = new URL(req.url ?? "/", "http://gate");
  const names = new Set<string>();
  for (const k of u.searchParams.keys()) names.add(k.toLowerCase());
  return { segments: u.pathname.split("/").filter((s) => s !== ""), query: u.searchParams, names };
}

/** What an Azure Blob request is: path `/{account}/{container}/{blob...}`. */
export function azureKind(req: http.IncomingMessage): RequestKind {
  const { segments, query } = parse(req);
  const comp = (query.get("comp") ?? "").toLowerCase();
  const restype = (query.get("restype") ?? "").toLowerCase();
  const method = req.method ?? "GET";
  if (segments.length <= 1) return comp === "list" ? "list-containers" : "other";
  if (segments.length === 2 || restype === "container") {
    if (method === "PUT" && restype === "container" && !comp) return "create-container";
    if (method === "GET" && comp === "list") return "list";
    return method === "DELETE" ? "delete" : "other";
  }
  switch (method) {
    case "PUT":
      if (comp === "block") return "put-block";
      if (comp === "blocklist") return "put-block-list";
      if (comp) return "other";
      return req.headers["x-ms-copy-source"] ? "copy-blob" : "put-blob";
    case "GET":
      if (comp === "blocklist") return "get-block-list";
      return comp ? "other" : "get";
    case "HEAD":
      return comp ? "other" : "head";
    case "DELETE":
      return "delete";
    default:
      return "other";
  }
}

/** What a path-style S3 request is: path `/{bucket}/{key...}`. */
export function s3Kind(req: http.IncomingMessage): RequestKind {
  const { segments, names: all } = parse(req);
  // Query parameters that do not change the operation: the SDK's `x-id`, presigning, response overrides, versions.
  const names = new Set([...all].filter((n) => n !== "x-id" && n !== "versionid" && !n.startsWith("x-amz-") && !n.startsWith("response-")));
  const method = req.method ?? "GET";
  if (segments.length === 0) return "other";
  if (segments.length === 1) {
    if (method === "PUT" && names.size === 0) return "create-bucket";
    if (method === "POST" && names.has("delete")) return "delete-objects";
    if (
      method === "GET" &&
      [...names].every((n) =>
        [
          "list-type",
          "prefix",
          "delimiter",
          "continuation-token",
          "max-keys",
          "marker",
          "start-after",
          "encoding-type",
          "fetch-owner",
        ].includes(n),
      )
    )
      return "list";
    if (method === "HEAD" && names.size === 0) return "head";
    return method === "DELETE" && names.size === 0 ? "delete" : "other";
  }
  const copy = req.headers["x-amz-copy-source"] !== undefined;
  switch (method) {
    case "PUT":
      if (names.has("partnumber") && names.has("uploadid")) return copy ? "upload-part-copy" : "upload-part";
      if (names.size > 0) return "other";
      return copy ? "copy-object" : "put-object";
    case "POST":
      if (names.has("uploads")) return "create-multipart";
      if (names.has("uploadid")) return "complete";
      return "other";
    case "DELETE":
      return names.has("uploadid") ? "abort" : "delete";
    case "GET":
      if (names.has("uploadid")) return "list-parts";
      return [...names].some((n) => n !== "partnumber") ? "other" : "get";
    case "HEAD":
      return "head";
    default:
      return "other";
  }
}

/** The body length a request declares: S3's decoded length for aws-chunked bodies, else Content-Length. */
function declaredLength(kind: StoreKind, req: http.IncomingMessage): number | undefined {
  const decoded = kind === "s3" ? req.headers["x-amz-decoded-content-length"] : undefined;
  const raw = (Array.isArray(decoded) ? decoded[0] : decoded) ?? req.headers["content-length"];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** Azure's answer to a body over the limit (413 `RequestBodyTooLarge`, as documented for the Blob service). */
function azureTooLarge(max: number): { status: number; headers: http.OutgoingHttpHeaders; body: string } {
  const requestId = randomUUID();
  const time = new Date().toISOString().replace(/\.(\d{3})Z$/, ".$10000Z");
  return {
    status: 413,
    headers: {
      "content-type": "application/xml",
      "x-ms-request-id": requestId,
      "x-ms-version": "2025-11-05",
      "x-ms-error-code": "RequestBodyTooLarge",
    },
    body:
      `<?xml version="1.0" encoding="utf-8"?><Error><Code>RequestBodyTooLarge</Code>` +
      `<Message>The request body is too large and exceeds the maximum permissible limit.\nRequestId:${requestId}\nTime:${time}</Message>` +
      `<MaxLimit>${max}</MaxLimit></Error>`,
  };
}

/** S3's answer to a body over the limit (400 `EntityTooLarge`). */
function s3TooLarge(proposed: number, max: number): { status: number; headers: http.OutgoingHttpHeaders; body: string } {
  const requestId = randomUUID().replace(/-/g, "").slice(0, 16).toUpperCase();
  const hostId = Buffer.from(randomUUID()).toString("base64");
  return {
    status: 400,
    headers: { "content-type": "application/xml", "x-amz-request-id": requestId, "x-amz-id-2": hostId },
    body:
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code>` +
      `<Message>Your proposed upload exceeds the maximum allowed size</Message>` +
      `<ProposedSize>${proposed}</ProposedSize><MaxSizeAllowed>${max}</MaxSizeAllowed>` +
      `<RequestId>${requestId}</RequestId><HostId>${hostId}</HostId></Error>`,
  };
}

/**
 * Starts a gate on a free loopback port in front of `target` (the emulator's origin, e.g. moto's endpoint or
 * Azurite's `http://127.0.0.1:PORT`; a path in it is ignored), refusing single puts over `limit` bytes.
 */
export async function startStoreGate(kind: StoreKind, target: string, limit: number): Promise<StoreGate> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const counts: Record<RequestKind, number> = {};
  const rejected: Record<RequestKind, number> = {};
  const gate = {
    kind,
    url: "",
    limit,
    partLimit: kind === "azure" ? AZURE_PUT_BLOCK_LIMIT : S3_UPLOAD_PART_LIMIT,
    counts,
    rejected,
    resetCounts() {
      for (const k of Object.keys(counts)) delete counts[k];
      for (const k of Object.keys(rejected)) delete rejected[k];
    },
    stop: async () => {
      await closeServer(server);
      agent.destroy();
    },
  };

  /** The refusal for this request, if it is a single put or a part over its limit. */
  function refusal(req: http.IncomingMessage, what: RequestKind) {
    const length = declaredLength(kind, req);
    if (length === undefined) return undefined;
    if (kind === "azure") {
      if (what === "put-blob" && length > gate.limit) return azureTooLarge(gate.limit);
      if (what === "put-block" && length > gate.partLimit) return azureTooLarge(gate.partLimit);
    } else {
      if (what === "put-object" && length > gate.limit) return s3TooLarge(length, gate.limit);
      if (what === "upload-part" && length > gate.partLimit) return s3TooLarge(length, gate.partLimit);
    }
    return undefined;
  }

  function handle(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean): void {
    const what = kind === "azure" ? azureKind(req) : s3Kind(req);
    counts[what] = (counts[what] ?? 0) + 1;
    const refused = refusal(req, what);
    if (refused) {
      rejected[what] = (rejected[what] ?? 0) + 1;
      // A client that waits for 100-continue never sends the body; close rather than leave it half-sent.
      // Otherwise let it finish sending (discarded) so it reads the error rather than a reset connection.
      const headers = { ...refused.headers, "content-length": Buffer.byteLength(refused.body) };
      res.writeHead(refused.status, expectsContinue ? { ...headers, connection: "close" } : headers);
      res.end(refused.body);
      if (!expectsContinue) req.resume();
      return;
    }
    const out = http.request(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: forwardable(req.headers),
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardable(answer.headers));
        answer.pipe(res);
        answer.on("error", () => res.destroy());
      },
    );
    out.on("error", (e) => {
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`store gate: upstream ${upstream.origin} failed: ${e.message}`);
      } else {
        res.destroy();
      }
    });
    // The client went away mid-request: abandon the upstream request too.
    res.on("close", () => {
      if (!res.writableFinished) out.destroy();
    });
    if (expectsContinue) res.writeContinue();
    req.pipe(out);
  }

  const server = http.createServer((req, res) => handle(req, res, false));
  server.on("checkContinue", (req, res) => handle(req, res, true));
  // Large bodies on loopback can take a while; the default request timeout would cut them off.
  server.requestTimeout = 0;
  server.headersTimeout = 60000;
  gate.url = await listenLoopback(server);
  return gate;
}
