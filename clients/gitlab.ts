/**
 * A small GitLab REST API v4 client: pagination, and errors that name the project and the resource, with a
 * hint at the usual cause. Retries (429 with Retry-After, 5xx, broken connections) and error bodies
 * (`{message}` or `{error}`) are the shared ones of ./http. Holds no state but its options, and is created
 * inside provider methods at run time so no token is ever captured in a serialized closure.
 */
import { Describe, httpError, HttpError, hasStatus, jsonCall, JsonResponse, redact, RetryPolicy, withRetry } from "./http";

export interface GitLabApiOptions {
  /** The API root, e.g. https://gitlab.example.com/api/v4 */
  baseUrl: string;
  token: string;
  /** Project path (group/name) or numeric id. */
  project: string;
  /** Attempts per request, the first included. */
  attempts?: number;
  /** First backoff delay; doubles per attempt. */
  backoffMs?: number;
  /** Longest Retry-After honoured, in seconds. */
  maxRetryAfterS?: number;
}

/** An API failure: the shared HttpError (status 0 when no response came). */
export type GitLabApiError = HttpError;

const HINTS: Record<number, string> = {
  401: "the token is missing, expired or revoked: set quant-platform:gitlabToken (as a secret) or GITLAB_TOKEN",
  403: "the token's user lacks permission: it needs the api scope and at least Maintainer on the project",
  404: "it does not exist, or the token's user cannot see it",
  409: "it already exists",
  422: "GitLab rejected the values sent",
  429: "GitLab kept rate-limiting the requests",
};

export type Response<T = unknown> = JsonResponse<T>;

/** Creates a client scoped to one project. */
export function gitlabApi(opts: GitLabApiOptions) {
  const root = opts.baseUrl.replace(/\/+$/, "");
  const retry: RetryPolicy = { attempts: opts.attempts ?? 5, backoffMs: opts.backoffMs ?? 200, maxRetryAfterS: opts.maxRetryAfterS ?? 60 };
  const projectPath = `/projects/${encodeURIComponent(opts.project)}`;
  const headers = { "PRIVATE-TOKEN": opts.token };

  function request<T>(method: string, path: string, what: string, body?: unknown): Promise<Response<T>> {
    const url = path.startsWith("http") ? path : `${root}${path}`;
    // Paths as the API documents them (a next-page link is shown from the API root on).
    const shown = url.startsWith(root) ? url.slice(root.length) : redact(url);
    const describe: Describe = (f) =>
      `GitLab ${method} ${shown} for ${what} of project ${opts.project} failed: ${f.status ? `${f.status} ${f.message}; ${HINTS[f.status] ?? "unexpected response"}` : f.message}`;
    return withRetry(retry, () => jsonCall<T>(method, url, headers, body, describe));
  }

  /** GET, or undefined on 404. */
  async function find<T>(path: string, what: string): Promise<T | undefined> {
    try {
      return (await request<T>("GET", path, what)).body;
    } catch (e) {
      if (hasStatus(e, 404)) return undefined;
      throw e;
    }
  }

  /** Every page of a list: follows X-Next-Page (and the Link header's rel="next"). */
  async function list<T>(path: string, what: string): Promise<T[]> {
    const out: T[] = [];
    let next: string | undefined = `${path}${path.includes("?") ? "&" : "?"}per_page=100`;
    while (next) {
      const res: Response<T[]> = await request<T[]>("GET", next, what);
      out.push(...res.body);
      const link = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
      const page = res.headers.get("x-next-page");
      next = link ?? (page ? `${path}${path.includes("?") ? "&" : "?"}per_page=100&page=${page}` : undefined);
    }
    return out;
  }

  const userIds = new Map<string, number>();
  /** A GitLab user id by username, failing clearly when no such user exists. */
  async function userId(username: string): Promise<number> {
    const known = userIds.get(username);
    if (known !== undefined) return known;
    const users = (
      await request<{ id: number; username: string }[]>("GET", `/users?username=${encodeURIComponent(username)}`, `user ${username}`)
    ).body;
    const u = users.find((x) => x.username.toLowerCase() === username.toLowerCase());
    if (!u)
      throw httpError(
        404,
        `GitLab user '${username}' does not exist (project ${opts.project}); check the member's gitUsername in the roster`,
        false,
      );
    userIds.set(username, u.id);
    return u.id;
  }
  const usernames = new Map<number, string>();
  async function username(id: number): Promise<string> {
    if (!usernames.has(id)) usernames.set(id, (await request<{ username: string }>("GET", `/users/${id}`, `user ${id}`)).body.username);
    return usernames.get(id)!;
  }

  return {
    project: projectPath,
    projectName: opts.project,
    get: async <T>(path: string, what: string) => (await request<T>("GET", path, what)).body,
    find,
    list,
    post: async <T>(path: string, what: string, body: unknown) => (await request<T>("POST", path, what, body)).body,
    put: async <T>(path: string, what: string, body: unknown) => (await request<T>("PUT", path, what, body)).body,
    patch: async <T>(path: string, what: string, body: unknown) => (await request<T>("PATCH", path, what, body)).body,
    del: async (path: string, what: string) => {
      await request("DELETE", path, what);
    },
    userId,
    username,
  };
}

export type GitLabApi = ReturnType<typeof gitlabApi>;
