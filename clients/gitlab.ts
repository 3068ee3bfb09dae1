/**
 * A small GitLab REST API v4 client: pagination, 429 with Retry-After, retries on 5xx and broken
 * connections, and errors that name the project and the resource. Holds no state but its options, and
 * is created inside provider methods at run time so no token is ever captured in a serialized closure.
 */

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

/** An API failure: a plain Error with the HTTP status (0 when no response came). */
export type GitLabApiError = Error & { status: number };

/*
 * Plain Error objects rather than an Error subclass: the provider runs from Pulumi's serialized closure,
 * where a serialized subclass of Error loses its message (the engine then reports "UNKNOWN: undefined").
 */
export function apiError(status: number, message: string): GitLabApiError {
  return Object.assign(new Error(message), { status });
}

/** True when `e` is an API failure with `status`. */
export function hasStatus(e: unknown, status: number): boolean {
  return e instanceof Error && (e as Partial<GitLabApiError>).status === status;
}

const HINTS: Record<number, string> = {
  401: "the token is missing, expired or revoked: set quant-platform:gitlabToken (as a secret) or GITLAB_TOKEN",
  403: "the token's user lacks permission: it needs the api scope and at least Maintainer on the project",
  404: "it does not exist, or the token's user cannot see it",
  409: "it already exists",
  422: "GitLab rejected the values sent",
  429: "GitLab kept rate-limiting the requests",
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Response<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** Creates a client scoped to one project. */
export function gitlabApi(opts: GitLabApiOptions) {
  const root = opts.baseUrl.replace(/\/+$/, "");
  const attempts = opts.attempts ?? 5;
  const backoffMs = opts.backoffMs ?? 200;
  const maxRetryAfterS = opts.maxRetryAfterS ?? 60;
  const projectPath = `/projects/${encodeURIComponent(opts.project)}`;

  async function request<T>(method: string, path: string, what: string, body?: unknown): Promise<Response<T>> {
    const url = path.startsWith("http") ? path : `${root}${path}`;
    let lastProblem = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let res: globalThis.Response;
      try {
        res = await fetch(url, {
          method,
          headers: { "PRIVATE-TOKEN": opts.token, ...(body === undefined ? {} : { "Content-Type": "application/json" }), Accept: "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) {
        // A reset or refused connection: nothing was answered, so the request can be sent again.
        lastProblem = `connection failed (${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message})`;
        if (attempt < attempts) await sleep(backoffMs * 2 ** (attempt - 1));
        continue;
      }
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = text ? JSON.parse(text) : undefined; } catch { /* a non-JSON body is kept as text */ }
      if (res.ok) return { status: res.status, body: parsed as T, headers: res.headers };
      const message = typeof parsed === "object" && parsed !== null
        ? JSON.stringify((parsed as Record<string, unknown>).message ?? (parsed as Record<string, unknown>).error ?? parsed)
        : String(parsed ?? "").slice(0, 200);
      lastProblem = `${res.status} ${message}`;
      const retryable = res.status === 429 || res.status >= 500;
      if (!retryable || attempt === attempts) {
        throw apiError(res.status,
          `GitLab ${method} ${path} for ${what} of project ${opts.project} failed: ${res.status} ${message}; ${HINTS[res.status] ?? "unexpected response"}`);
      }
      const retryAfter = Number(res.headers.get("retry-after"));
      await sleep(res.status === 429 && Number.isFinite(retryAfter) && retryAfter >= 0
        ? Math.min(retryAfter, maxRetryAfterS) * 1000
        : backoffMs * 2 ** (attempt - 1));
    }
    throw apiError(0, `GitLab ${method} ${path} for ${what} of project ${opts.project} failed after ${attempts} attempts: ${lastProblem}`);
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
    const users = (await request<{ id: number; username: string }[]>("GET", `/users?username=${encodeURIComponent(username)}`, `user ${username}`)).body;
    const u = users.find((x) => x.username.toLowerCase() === username.toLowerCase());
    if (!u) throw apiError(404, `GitLab user '${username}' does not exist (project ${opts.project}); check the member's gitUsername in the roster`);
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
    del: async (path: string, what: string) => { await request("DELETE", path, what); },
    userId,
    username,
  };
}

export type GitLabApi = ReturnType<typeof gitlabApi>;
