/**
 * The OSS tracking server's artifact proxy (`mlflow server --serve-artifacts`):
 * list `GET /api/2.0/mlflow-artifacts/artifacts?path=DIR` (one level, no paging), download
 * `GET .../artifacts/PATH`, upload `PUT .../artifacts/PATH` with the raw body.
 */
import { DEFAULT_RETRY, jsonRequest, streamGet, streamPut, withRetry } from "../../clients/http";
import { MlflowClient } from "../../clients/mlflow";
import { ArtifactTransport, encodePath, joinPath } from "./transport";

const PROXY = "/api/2.0/mlflow-artifacts/artifacts";

/** `mlflow-artifacts:/1/abc/artifacts` or `mlflow-artifacts://host/1/abc/artifacts` -> `1/abc/artifacts`. */
function proxyPath(uri: string): string {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/*(.*)$/.exec(uri);
  if (!m) throw new Error(`artifact URI ${uri} is not served by the mlflow-artifacts proxy; expected mlflow-artifacts:/...`);
  return m[1].replace(/\/+$/, "");
}

export function mlflowArtifactsTransport(client: MlflowClient): ArtifactTransport {
  const base = `${client.endpoint.baseUrl}${PROXY}`;
  const what = (p: string) => `${client.endpoint.uri}: artifact '${p}'`;
  // A run's artifact URI never changes: read once per run.
  const known = new Map<string, string>();
  const runArtifactPath = async (runId: string, artifactUri?: string) => {
    let p = known.get(runId);
    if (p === undefined) known.set(runId, (p = proxyPath(artifactUri ?? (await client.getRun(runId)).info.artifact_uri)));
    return p;
  };
  return {
    name: "mlflow-artifacts",
    async versionRoot(version, downloadUri) {
      const runs = /^runs:\/([^/]+)\/?(.*)$/.exec(downloadUri);
      if (runs) return { path: joinPath(await runArtifactPath(runs[1]), runs[2].replace(/\/+$/, "")) };
      return { path: proxyPath(downloadUri) };
    },
    async runRoot(runId, sub, artifactUri) {
      return { runId, path: joinPath(await runArtifactPath(runId, artifactUri), sub) };
    },
    async list(root, dir) {
      const full = joinPath(root.path, dir);
      const body = await withRetry(DEFAULT_RETRY, () =>
        jsonRequest<{ files?: { path: string; is_dir: boolean; file_size?: number | string }[] }>(
          "GET",
          `${base}?path=${encodeURIComponent(full)}`,
          client.headers,
          undefined,
          `${what(full)} listing`,
        ),
      );
      return (body.files ?? []).map((f) => ({
        path: joinPath(dir, f.path),
        isDir: f.is_dir,
        size: f.is_dir ? undefined : Number(f.file_size ?? 0) /* proto3 JSON omits a zero size */,
      }));
    },
    download(root, path) {
      const full = joinPath(root.path, path);
      return streamGet(`${base}/${encodePath(full)}`, client.headers, what(full));
    },
    upload(root, path, body, length) {
      const full = joinPath(root.path, path);
      return streamPut(`${base}/${encodePath(full)}`, client.headers, body, length, what(full));
    },
    refuses(path) {
      if (path.includes("#")) return "an mlflow-artifacts server refuses '#' in artifact paths (\"Invalid path\")";
      if (/%[0-9A-Fa-f]{2}/.test(path))
        return "an mlflow-artifacts server percent-decodes artifact paths more than once, so a name holding '%' followed by two hex digits would be stored under another name";
      return undefined;
    },
  };
}
