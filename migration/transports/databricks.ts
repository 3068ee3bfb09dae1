/**
 * A Databricks workspace's MLflow artifact store: paged `GET /api/2.0/mlflow/artifacts/list`, and signed
 * URLs from `POST /api/2.0/mlflow/artifacts/credentials-for-read` / `credentials-for-write`, whose returned
 * headers are sent with every storage request. Run-relative artifacts (workspace registry versions).
 */
import { DEFAULT_RETRY, jsonRequest, streamGet, streamPut, withRetry } from "../../clients/http";
import { MlflowClient } from "../../clients/mlflow";
import { ArtifactTransport, joinPath } from "./transport";

interface CredentialInfo {
  run_id: string;
  path: string;
  signed_uri: string;
  type?: string;
  headers?: { name: string; value: string }[];
}

export function databricksTransport(client: MlflowClient): ArtifactTransport {
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
    return { url: c.signed_uri, headers: Object.fromEntries((c.headers ?? []).map((h) => [h.name, h.value])) };
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
    refuses() {
      return undefined;
    },
  };
}
