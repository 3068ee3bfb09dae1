/**
 * A Databricks workspace's MLflow artifact store: paged `GET /api/2.0/mlflow/artifacts/list`, and signed
 * URLs from `POST /api/2.0/mlflow/artifacts/credentials-for-read` / `credentials-for-write`, whose returned
 * headers are sent with every storage request. Run-relative artifacts (workspace registry versions).
 */
import { createHash } from "crypto";
import { azureSinkFromSasUrl, settingsFrom } from "../../clients/cloudStores";
import { DEFAULT_RETRY, httpError, jsonRequest, streamGet, streamPut, withRetry } from "../../clients/http";
import { MlflowClient } from "../../clients/mlflow";
import { ObjectSink, PartReceipt, S3_MAX_PARTS, S3_SINGLE_PUT_LIMIT, StoredObject, StoreSettings } from "../../clients/objectStore";
import { ArtifactTransport, joinPath } from "./transport";

interface CredentialInfo {
  run_id: string;
  path: string;
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

export function databricksTransport(client: MlflowClient, settings?: Partial<StoreSettings>): ArtifactTransport {
  const resolved = settingsFrom(settings);
  const api = `${client.endpoint.baseUrl}/api/2.0/mlflow/artifacts`;
  const json = <T>(method: string, path: string, body: unknown, what: string) =>
    withRetry(DEFAULT_RETRY, () => jsonRequest<T>(method, `${api}/${path}`, client.headers, body, `${client.endpoint.uri}: ${what}`));
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
    if (!root.runId) throw new Error("a Databricks artifact root needs a run id");
    return root.runId;
  };
  return {
    name: "databricks",
    async versionRoot(version, downloadUri) {
      const runs = /^runs:\/([^/]+)\/?(.*)$/.exec(downloadUri);
      if (runs) return { runId: runs[1], path: runs[2].replace(/\/+$/, "") };
      const i = downloadUri.indexOf("/artifacts/");
      if (version.run_id && i >= 0 && !/\/models\/m-[^/]+\/artifacts/.test(downloadUri)) {
        return { runId: version.run_id, path: downloadUri.slice(i + "/artifacts/".length).replace(/\/+$/, "") };
      }
      throw new Error(
        `${client.endpoint.uri}: model '${version.name}' version ${version.version} stores its files at ${downloadUri}, which is not under a run's artifacts; this transport moves run-relative artifacts (workspace registry versions)`,
      );
    },
    async runRoot(runId, sub) {
      return { runId, path: sub };
    },
    async list(root, dir) {
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
      const c = await credential("read", runOf(root), full);
      return streamGet(c.url, c.headers, `${client.endpoint.uri}: artifact '${full}' of run ${root.runId}`);
    },
    async upload(root, path, body, length) {
      const full = joinPath(root.path, path);
      const c = await credential("write", runOf(root), full);
      return streamPut(c.url, c.headers, body, length, `${client.endpoint.uri}: artifact '${full}' of run ${root.runId}`);
    },
    async sink(root, path) {
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
      const c = await credential("read", runOf(root), full);
      const what = `${client.endpoint.uri}: artifact '${full}' of run ${root.runId}`;
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
