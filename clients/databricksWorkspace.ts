/**
 * The Databricks Workspace API (`/api/2.0/workspace/list`, `get-status`, `export`, `import`, `mkdirs`):
 * notebooks export and import in SOURCE format with their language; files export AUTO and import RAW, so a
 * file is never turned into a notebook. Errors are `{error_code, message}`; retries and error parsing are
 * the shared ones of ./http.
 */
import { createOnce, DEFAULT_RETRY, jsonRequest, orUndefined, RetryPolicy, withRetry } from "./http";
import { Endpoint } from "./mlflow";

export interface WorkspaceObject {
  path: string;
  object_type: "NOTEBOOK" | "DIRECTORY" | "FILE" | "REPO" | "LIBRARY" | "DASHBOARD" | string;
  language?: "PYTHON" | "SCALA" | "SQL" | "R";
  object_id?: number;
  size?: number;
  directory_info?: { is_git_folder?: boolean };
}

/** The Workspace API's import and export content limit (MAX_NOTEBOOK_SIZE_EXCEEDED beyond it). */
export const WORKSPACE_CONTENT_LIMIT = 10 * 1024 * 1024;

/** A Git folder: a REPO object, or a directory the API marks as a Git folder. */
export const isGitFolder = (o: WorkspaceObject) =>
  o.object_type === "REPO" || (o.object_type === "DIRECTORY" && o.directory_info?.is_git_folder === true);

/** A client for one workspace; the endpoint must be a Databricks workspace. */
export function workspaceClient(ep: Endpoint, retry: RetryPolicy = DEFAULT_RETRY) {
  if (ep.transport !== "databricks")
    throw new Error(
      `${ep.uri} is not a Databricks workspace; notebooks move between workspaces (https://<workspace>, databricks://<profile> or databricks+http://host:port)`,
    );
  const headers: Record<string, string> = ep.token ? { Authorization: `Bearer ${ep.token}` } : {};
  const once = <T>(method: string, path: string, what: string, body?: unknown) =>
    jsonRequest<T>(method, `${ep.baseUrl}/api/2.0/workspace/${path}`, headers, body, `${ep.uri}: ${what}`);
  const call = <T>(method: string, path: string, what: string, body?: unknown) => withRetry(retry, () => once<T>(method, path, what, body));
  const q = (o: Record<string, string>) =>
    Object.entries(o)
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join("&");
  const client = {
    endpoint: ep,
    getStatus: (path: string): Promise<WorkspaceObject | undefined> =>
      orUndefined(call<WorkspaceObject>("GET", `get-status?${q({ path })}`, `workspace object '${path}'`)),
    async list(path: string): Promise<WorkspaceObject[]> {
      return (await call<{ objects?: WorkspaceObject[] }>("GET", `list?${q({ path })}`, `workspace folder '${path}'`)).objects ?? [];
    },
    /** The object's bytes: SOURCE for notebooks, the file itself (AUTO) for files. */
    async export(o: WorkspaceObject): Promise<Buffer> {
      const format = o.object_type === "NOTEBOOK" ? "SOURCE" : "AUTO";
      const r = await call<{ content?: string }>(
        "GET",
        `export?${q({ path: o.path, format })}`,
        `export of ${o.object_type.toLowerCase()} '${o.path}'`,
      );
      return Buffer.from(r.content ?? "", "base64");
    },
    /**
     * Safe to send twice: a replacing import is idempotent as it is; before a new object's import is sent again
     * after an unanswered attempt, the path is read, and an object there that exports exactly `content` is the
     * earlier attempt's, adopted (anything else there is left to the import's RESOURCE_ALREADY_EXISTS).
     */
    async import(o: WorkspaceObject, content: Buffer, overwrite: boolean): Promise<void> {
      const notebook = o.object_type === "NOTEBOOK";
      const send = async () => {
        await once("POST", "import", `import of ${o.object_type.toLowerCase()} '${o.path}'`, {
          path: o.path,
          format: notebook ? "SOURCE" : "RAW",
          ...(notebook ? { language: o.language } : {}),
          content: content.toString("base64"),
          overwrite,
        });
        return true;
      };
      if (overwrite) await withRetry(retry, send);
      else
        await createOnce(retry, send, async () => {
          const there = await client.getStatus(o.path);
          return there && there.object_type === o.object_type && (await client.export({ ...there, path: o.path })).equals(content)
            ? true
            : undefined;
        });
    },
    mkdirs: (path: string) => call("POST", "mkdirs", `workspace folder '${path}'`, { path }),
  };
  return client;
}
export type WorkspaceClient = ReturnType<typeof workspaceClient>;
