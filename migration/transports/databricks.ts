/**
 * A Databricks workspace's MLflow artifact store: paged `GET /api/2.0/mlflow/artifacts/list`, and signed
 * URLs from `POST /api/2.0/mlflow/artifacts/credentials-for-read` / `credentials-for-write`, whose returned
 * headers are sent with every storage request. Run-relative artifacts (workspace registry versions).
 *
 * And MLflow 3 logged models' files (a root with `loggedModel`), as MLflow's own `_LoggedModel` artifact resource
 * reaches them: paged `GET /api/2.0/mlflow/logged-models/{id}/artifacts/directories`, signed URLs from `POST
 * .../artifacts/credentials-for-download` / `-upload`. A version registered from a logged model (every
 * `log_model(name=...)` in MLflow 3) has its files there: its download URI is the model's storage location
 * (`dbfs:/databricks/mlflow-tracking/<exp>/logged_models/<id>/artifacts`), or its source `models:/<id>`.
 */
import { createHash } from "crypto";
import { azureSinkFromSasUrl, settingsFrom } from "../../clients/cloudStores";
import { DEFAULT_RETRY, httpError, jsonRequest, RetryPolicy, streamGet, streamPut, withRetry } from "../../clients/http";
import { MlflowClient } from "../../clients/mlflow";
import { ObjectSink, PartReceipt, S3_MAX_PARTS, S3_SINGLE_PUT_LIMIT, StoredObject, StoreSettings } from "../../clients/objectStore";
import { ArtifactRoot, ArtifactTransport, joinPath, LOGGED_MODEL_LOCATION, sourceModelIdOf } from "./transport";

/** A run's credential (`run_id`), or a logged model's (its `path` only). */
interface CredentialInfo {
  run_id?: string;
  path?: string;
  signed_uri: string;
  type?: string;
  headers?: { name: string; value: string }[];
}

type Credential = { url: string; headers: Record<string, string>; type: string };
const credentialOf = (c: CredentialInfo): Credential => ({
  url: c.signed_uri,
  headers: Object.fromEntries((c.headers ?? []).map((h) => [h.name, h.value])),
  type: c.type ?? "",
});
const AZURE = /^AZURE_(SAS_URI|ADLS_GEN2_SAS_URI)$/;

/** Reads a small response body (a part's ETag comes in the headers; errors in the body). */
async function request(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  what: string,
): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(url, { method, headers, body });
  } catch (e) {
    throw httpError(0, `${what}: ${method} failed: ${(e as Error).message}`, true);
  }
  if (r.status >= 200 && r.status < 300) return r;
  const text = (await r.text()).slice(0, 500);
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
  throw httpError(r.status, `${what}: the store answered ${r.status}${code ? ` ${code}` : ""}`, r.status === 429 || r.status >= 500, code);
}

export function databricksTransport(
  client: MlflowClient,
  settings?: Partial<StoreSettings>,
  retry: RetryPolicy = DEFAULT_RETRY,
): ArtifactTransport {
  const resolved = settingsFrom(settings);
  const api = `${client.endpoint.baseUrl}/api/2.0/mlflow`;
  const call = <T>(method: string, path: string, body: unknown, what: string) =>
    withRetry(retry, () => jsonRequest<T>(method, `${api}/${path}`, client.headers, body, `${client.endpoint.uri}: ${what}`));
  const json = <T>(method: string, path: string, body: unknown, what: string) => call<T>(method, `artifacts/${path}`, body, what);
  const credential = async (kind: "read" | "write", runId: string, path: string) => {
    const r = await json<{ credential_infos?: CredentialInfo[] }>(
      "POST",
      `credentials-for-${kind}`,
      { run_id: runId, path: [path] },
      `${kind} credentials for run ${runId} artifact '${path}'`,
    );
    const c = r.credential_infos?.find((x) => x.path === path) ?? r.credential_infos?.[0];
    if (!c) throw new Error(`${client.endpoint.uri}: no ${kind} credential returned for run ${runId} artifact '${path}'`);
    return credentialOf(c);
  };
  /**
   * An AWS workspace: a single presigned PUT with Content-MD5 (S3 verifies it), and above the part size MLflow's
   * multipart artifact endpoints: presigned UploadPart URLs, each part with its Content-MD5, completed with the
   * parts' ETags. S3 cannot be asked for the parts through presigned URLs, so a resumed upload trusts the journal.
   */
  const presignedSink = (runId: string, path: string, put: Credential): ObjectSink => {
    const what = `${client.endpoint.uri}: artifact '${path}' of run ${runId}`;
    const partUrls = new Map<number, Credential>();
    const aborts = new Map<string, Credential>();
    return {
      singlePutLimit: Math.min(resolved.singlePutLimit ?? S3_SINGLE_PUT_LIMIT, S3_SINGLE_PUT_LIMIT),
      partSize: resolved.partSize,
      maxParts: S3_MAX_PARTS,
      async put(body, length, checksum) {
        const headers = { ...put.headers, "Content-MD5": checksum.md5 };
        if (Buffer.isBuffer(body)) await request("PUT", put.url, { ...headers, "Content-Length": String(length) }, body, what);
        else await streamPut(put.url, headers, body, length, what);
      },
      async start(parts) {
        const r = await json<{ upload_id: string; upload_credential_infos?: CredentialInfo[]; abort_credential_info?: CredentialInfo }>(
          "POST",
          "create-multipart-upload",
          { run_id: runId, path, num_parts: parts },
          `multipart upload of run ${runId} artifact '${path}'`,
        );
        (r.upload_credential_infos ?? []).forEach((c, i) => partUrls.set(i + 1, credentialOf(c)));
        if (r.abort_credential_info) aborts.set(r.upload_id, credentialOf(r.abort_credential_info));
        return r.upload_id;
      },
      async uploadPart(uploadId, partNumber, data) {
        const md5 = createHash("md5").update(data).digest("base64");
        const send = (c: Credential) =>
          request(
            "PUT",
            c.url,
            { ...c.headers, "Content-MD5": md5, "Content-Length": String(data.length) },
            data,
            `${what} part ${partNumber}`,
          );
        const fresh = async () => {
          // A GET with its fields in the query, as MLflow's DatabricksMlflowArtifactsService declares it.
          const q = new URLSearchParams({ run_id: runId, path, upload_id: uploadId, part_number: String(partNumber) });
          const r = await json<{ upload_credential_info: CredentialInfo }>(
            "GET",
            `get-presigned-upload-part-url?${q}`,
            undefined,
            `part ${partNumber} URL of run ${runId} artifact '${path}'`,
          );
          return credentialOf(r.upload_credential_info);
        };
        let c = partUrls.get(partNumber) ?? (await fresh());
        let res: Response;
        try {
          res = await send(c);
        } catch (e) {
          // An expired presigned URL: ask for a fresh one once, as MLflow's client does.
          if (![401, 403].includes((e as { status?: number }).status ?? 0)) throw e;
          c = await fresh();
          res = await send(c);
        }
        partUrls.delete(partNumber);
        // S3 checked the part against its Content-MD5. Its ETag is that MD5 too, except under SSE-KMS: not compared.
        return { partNumber, size: data.length, checksum: md5, etag: res.headers.get("etag") ?? "" };
      },
      listParts: async () => undefined,
      async complete(uploadId, parts: PartReceipt[]) {
        await json(
          "POST",
          "complete-multipart-upload",
          { run_id: runId, path, upload_id: uploadId, part_etags: parts.map((p) => ({ part_number: p.partNumber, etag: p.etag })) },
          `completing the multipart upload of run ${runId} artifact '${path}'`,
        );
      },
      async abort(uploadId) {
        const c = aborts.get(uploadId);
        if (c) await request("DELETE", c.url, c.headers, undefined, `${what} (abort)`);
      },
    };
  };
  const runOf = (root: { runId?: string }) => {
    if (!root.runId) throw new Error("a Databricks artifact root needs a run id or a logged model");
    return root.runId;
  };
  const modelPath = (modelId: string, tail: string) => `logged-models/${encodeURIComponent(modelId)}/artifacts/${tail}`;
  const modelCredential = async (kind: "download" | "upload", modelId: string, path: string) => {
    const r = await call<{ credentials?: { credential_info: CredentialInfo }[] }>(
      "POST",
      modelPath(modelId, `credentials-for-${kind}`),
      { model_id: modelId, paths: [path] },
      `${kind} credentials for logged model ${modelId} artifact '${path}'`,
    );
    const c = (r.credentials?.find((x) => x.credential_info.path === path) ?? r.credentials?.[0])?.credential_info;
    if (!c) throw new Error(`${client.endpoint.uri}: no ${kind} credential returned for logged model ${modelId} artifact '${path}'`);
    return credentialOf(c);
  };
  /** The signed URL of one file to read or write, the run's or the logged model's. */
  const signedFor = (kind: "read" | "write", root: ArtifactRoot, full: string) =>
    root.loggedModel
      ? modelCredential(kind === "read" ? "download" : "upload", root.loggedModel, full)
      : credential(kind, runOf(root), full);
  const whatOf = (root: ArtifactRoot, full: string) =>
    `${client.endpoint.uri}: artifact '${full}' of ${root.loggedModel ? `logged model ${root.loggedModel}` : `run ${root.runId}`}`;
  /** One level of a logged model's files, paged; the server answers paths from the model's root. */
  const listModel = async (modelId: string, sub: string, dir: string) => {
    const full = joinPath(sub, dir);
    const out: { path: string; isDir: boolean; size?: number }[] = [];
    let token: string | undefined;
    do {
      const q = new URLSearchParams({ artifact_directory_path: full, ...(token ? { page_token: token } : {}) });
      const r = await call<{ files?: { path: string; is_dir?: boolean; file_size?: number | string }[]; next_page_token?: string }>(
        "GET",
        `${modelPath(modelId, "directories")}?${q}`,
        undefined,
        `artifacts of logged model ${modelId} under '${full}'`,
      );
      for (const f of r.files ?? [])
        out.push({
          path: sub && f.path.startsWith(`${sub}/`) ? f.path.slice(sub.length + 1) : f.path,
          isDir: !!f.is_dir,
          size: f.is_dir ? undefined : Number(f.file_size ?? 0) /* proto3 JSON omits a zero size */,
        });
      token = r.next_page_token || undefined;
    } while (token);
    return out;
  };
  return {
    name: "databricks",
    async versionRoot(version, downloadUri) {
      // Where the files are, as the download URI says; a version naming a logged model otherwise has that model's.
      const stored = LOGGED_MODEL_LOCATION.exec(downloadUri);
      if (stored) return { loggedModel: stored[1], path: (stored[2] ?? "").replace(/\/+$/, "") };
      const runs = /^runs:\/([^/]+)\/?(.*)$/.exec(downloadUri);
      if (runs) return { runId: runs[1], path: runs[2].replace(/\/+$/, "") };
      const i = downloadUri.indexOf("/artifacts/");
      if (version.run_id && i >= 0 && !/\/models\/m-[^/]+\/artifacts/.test(downloadUri)) {
        return { runId: version.run_id, path: downloadUri.slice(i + "/artifacts/".length).replace(/\/+$/, "") };
      }
      const modelId = sourceModelIdOf(version) ?? /^models:\/(m-[0-9a-f]+)\/?$/.exec(downloadUri)?.[1];
      if (modelId) return { loggedModel: modelId, path: "" };
      throw new Error(
        `${client.endpoint.uri}: model '${version.name}' version ${version.version} stores its files at ${downloadUri}, which is neither under a run's artifacts nor a logged model's`,
      );
    },
    async runRoot(runId, sub) {
      return { runId, path: sub };
    },
    async list(root, dir) {
      if (root.loggedModel) return listModel(root.loggedModel, root.path, dir);
      const runId = runOf(root);
      const full = joinPath(root.path, dir);
      const out: { path: string; isDir: boolean; size?: number }[] = [];
      let token: string | undefined;
      do {
        const q = `run_id=${encodeURIComponent(runId)}&path=${encodeURIComponent(full)}${token ? `&page_token=${encodeURIComponent(token)}` : ""}`;
        const r = await json<{ files?: { path: string; is_dir: boolean; file_size?: number | string }[]; next_page_token?: string }>(
          "GET",
          `list?${q}`,
          undefined,
          `artifacts of run ${runId} under '${full}'`,
        );
        for (const f of r.files ?? []) {
          const rel = root.path && f.path.startsWith(`${root.path}/`) ? f.path.slice(root.path.length + 1) : f.path;
          out.push({
            path: rel,
            isDir: f.is_dir,
            size: f.is_dir ? undefined : Number(f.file_size ?? 0) /* proto3 JSON omits a zero size */,
          });
        }
        token = r.next_page_token || undefined;
      } while (token);
      return out;
    },
    async download(root, path) {
      const full = joinPath(root.path, path);
      const c = await signedFor("read", root, full);
      return streamGet(c.url, c.headers, whatOf(root, full));
    },
    async upload(root, path, body, length) {
      const full = joinPath(root.path, path);
      const c = await signedFor("write", root, full);
      return streamPut(c.url, c.headers, body, length, whatOf(root, full));
    },
    async sink(root, path) {
      // A logged model's upload credentials come without the multipart routes a run's have: `upload` streams each file.
      if (root.loggedModel) return undefined;
      const full = joinPath(root.path, path);
      const runId = runOf(root);
      const c = await credential("write", runId, full);
      if (AZURE.test(c.type)) return azureSinkFromSasUrl(c.url, c.headers, resolved);
      if (c.type === "AWS_PRESIGNED_URL") return presignedSink(runId, full, c);
      // Another store (GCP signed URLs): no checksummed protocol known here; `upload` streams the file.
      return undefined;
    },
    // Azure (Content-MD5 on Put Blob and Put Block) and S3 (Content-MD5 on PUT and UploadPart) both verify; a
    // workspace on another cloud gives no sink, and the copy refuses --verify store at its first file.
    storeVerification: () => undefined,
    async stat(root, path): Promise<StoredObject | undefined> {
      const full = joinPath(root.path, path);
      const c = await signedFor("read", root, full);
      const what = whatOf(root, full);
      // One byte: the size comes in Content-Range, the stored checksum in the headers.
      let r: Response;
      try {
        r = await request("GET", c.url, { ...c.headers, Range: "bytes=0-0" }, undefined, what);
      } catch (e) {
        const status = (e as { status?: number }).status;
        if (status === 404) return undefined;
        // An empty object has no byte 0: the store answers 416, and its size is all there is to check.
        if (status === 416) return { size: 0 };
        throw e;
      }
      await r.arrayBuffer();
      const size = Number(/\/(\d+)$/.exec(r.headers.get("content-range") ?? "")?.[1] ?? r.headers.get("content-length"));
      if (AZURE.test(c.type)) {
        const md5 = r.headers.get("x-ms-blob-content-md5") ?? undefined;
        if (md5) return { size, checksum: { algorithm: "md5", value: md5 } };
        // A blob committed from blocks: its committed block list.
        const u = new URL(c.url);
        u.searchParams.set("comp", "blocklist");
        u.searchParams.set("blocklisttype", "committed");
        const xml = await (await request("GET", u.toString(), c.headers, undefined, `${what} (block list)`)).text();
        const partSizes = [...xml.matchAll(/<Size>(\d+)<\/Size>/g)].map((m) => Number(m[1]));
        return { size, partSizes };
      }
      const etag = (r.headers.get("etag") ?? "").replace(/"/g, "");
      const multi = /^([0-9a-f]{32})-(\d+)$/.exec(etag);
      if (multi)
        return { size, checksum: { algorithm: "md5-composite", value: `${Buffer.from(multi[1], "hex").toString("base64")}-${multi[2]}` } };
      if (/^[0-9a-f]{32}$/.test(etag)) return { size, checksum: { algorithm: "md5", value: Buffer.from(etag, "hex").toString("base64") } };
      return { size };
    },
    refuses() {
      return undefined;
    },
  };
}
