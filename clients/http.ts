/**
 * HTTP for every client in clients/ (MLflow, Databricks Workspace, GitLab, GitHub): one retry policy
 * (backoff with jitter on 429, 5xx and broken connections; Retry-After honoured), one parser for error
 * bodies (`{error_code, message}` from MLflow and Databricks, `{message}` or `{error}` from GitLab and
 * GitHub, or plain text), and streaming GET/PUT with backpressure (bounded memory). JSON calls and
 * streams go through the same keep-alive agents, so a migration reuses a handful of connections (and TLS
 * sessions) for its registry calls and its file transfers alike.
 *
 * Messages never carry a token: query strings (signed URLs hold credentials there) and URL user info are
 * cut from every URL shown, and the credentials sent in the request headers are masked wherever a server
 * echoes them back.
 */
import * as http from "http";
import * as https from "https";
import { Readable } from "stream";

export interface RetryPolicy {
  /** Attempts per request, the first included. */
  attempts: number;
  /** First backoff delay; doubles per attempt (with jitter). */
  backoffMs: number;
  /** Longest Retry-After honoured, in seconds (default 60). */
  maxRetryAfterS?: number;
}
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, backoffMs: 250 };

/**
 * The User-Agent of every request the product sends (Databricks asks partners to name themselves so; the test
 * workspaces tell the product's calls from the official clients' by it, tests/contract/databricksSdk.test.ts).
 */
export const USER_AGENT = "quant-platform/0.1.0";
const withAgent = (headers: Record<string, string>) =>
  Object.keys(headers).some((k) => k.toLowerCase() === "user-agent") ? headers : { ...headers, "User-Agent": USER_AGENT };

/**
 * A failed call: status 0 when no response came; `code` is the API's error code (MLflow's error_code) when
 * there was one. A plain Error rather than a subclass: the GitLab and model-migration providers run from
 * Pulumi's serialized closure, where a serialized subclass of Error loses its message.
 */
export type HttpError = Error & { status: number; code?: string; retryable: boolean; retryAfterS?: number };

export function httpError(status: number, message: string, retryable: boolean, code?: string): HttpError {
  return Object.assign(new Error(message), { status, code, retryable });
}

export function isRetryable(e: unknown): boolean {
  return e instanceof Error && (e as Partial<HttpError>).retryable === true;
}

/** True when `e` is a failed call answered with `status`. */
export function hasStatus(e: unknown, status: number): boolean {
  return e instanceof Error && (e as Partial<HttpError>).status === status;
}

/** A missing object: 404, or MLflow's / Databricks' RESOURCE_DOES_NOT_EXIST. */
export function isNotFound(e: unknown): boolean {
  const h = e as Partial<HttpError>;
  return e instanceof Error && (h.status === 404 || h.code === "RESOURCE_DOES_NOT_EXIST");
}

/** The value, or undefined when the thing asked for does not exist (404 / RESOURCE_DOES_NOT_EXIST). */
export async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One request budget per workspace (origin), shared by every request this process sends there: JSON calls and
 * streams alike. `setRequestBudget(origin, rps)` sets it (0 or undefined: none); each request then waits for its
 * turn, so that requests leave at most `rps` a second, evenly. A 429 that still comes (another process, a lower
 * limit on one API) is retried after its Retry-After like any other. Kept on the global object, as the agents
 * are, so that every copy of this module in the process (the CLI, a serialized provider) shares it.
 */
export function setRequestBudget(origin: string, rps: number | undefined): void {
  const g = globalThis as { __quantRequestBudgets?: Map<string, { gapMs: number; next: number }> };
  g.__quantRequestBudgets ??= new Map();
  if (!rps) g.__quantRequestBudgets.delete(new URL(origin).origin);
  else g.__quantRequestBudgets.set(new URL(origin).origin, { gapMs: 1000 / rps, next: 0 });
}

/** Waits for the request's turn under its origin's budget (at once when the origin has none). */
async function spend(u: URL): Promise<void> {
  const b = (globalThis as { __quantRequestBudgets?: Map<string, { gapMs: number; next: number }> }).__quantRequestBudgets?.get(u.origin);
  if (!b) return;
  const now = Date.now();
  const at = Math.max(now, b.next);
  b.next = at + b.gapMs;
  if (at > now) await sleep(at - now);
}

/**
 * Runs `fn` again on retryable failures, with exponential backoff and jitter, or as long as the server's
 * Retry-After asks (capped). The error of the last attempt is thrown, saying how many attempts were made.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  fn: (attempt: number) => Promise<T>,
  onRetry?: (e: Error, attempt: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isRetryable(e)) throw e;
      if (attempt >= policy.attempts) {
        const err = e as Error & { gaveUp?: boolean };
        if (attempt > 1 && !err.gaveUp) Object.assign(err, { gaveUp: true, message: `${err.message} (gave up after ${attempt} attempts)` });
        throw err;
      }
      onRetry?.(e as Error, attempt);
      if (process.env.QUANT_MIGRATE_DEBUG) process.stderr.write(`retry ${attempt}: ${(e as Error).message}\n`);
      const retryAfter = (e as Partial<HttpError>).retryAfterS;
      await sleep(
        retryAfter !== undefined
          ? Math.min(retryAfter, policy.maxRetryAfterS ?? 60) * 1000
          : policy.backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2),
      );
    }
  }
}

/**
 * A request that creates something, safe to send twice. An attempt that failed retryably may still have been
 * applied: the connection dropped after the server wrote it, a gateway timed out while it worked, an answer
 * was cut short. So before each further attempt `lookup` looks for what an earlier one may have made (by the
 * unique tag or content it carries) and what it finds is adopted; only when nothing is found is the create
 * sent again. A create refused outright (4xx) is thrown as it is.
 */
export async function createOnce<T>(policy: RetryPolicy, attempt: () => Promise<T>, lookup: () => Promise<T | undefined>): Promise<T> {
  return withRetry(policy, async (n) => {
    if (n > 1) {
      const made = await withRetry(policy, lookup);
      if (made !== undefined) return made;
    }
    return attempt();
  });
}

const retryableStatus = (s: number) => s === 429 || s >= 500;

/** Retry-After in seconds (a number, or an HTTP date), or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const s = Number(value);
  if (Number.isFinite(s)) return s >= 0 ? s : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

/**
 * The one parser of error bodies: `{error_code, message}` (MLflow, Databricks), `{message}` (GitLab,
 * GitHub; GitLab's message may be an object of field errors), `{error, error_description}` (OAuth), or
 * plain text (a proxy's HTML page), cut short.
 */
export function parseErrorBody(text: string): { code?: string; message: string } {
  const plain = text.trim().slice(0, 300);
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return { message: plain };
  }
  if (typeof j !== "object" || j === null) return { message: plain };
  const o = j as Record<string, unknown>;
  const code = typeof o.error_code === "string" ? o.error_code : undefined;
  const raw = o.message ?? o.error_description ?? o.error ?? o;
  return { code, message: typeof raw === "string" ? raw : JSON.stringify(raw).slice(0, 500) };
}

/** What a failed call reads as; each client words it, the parser fills it in. */
export interface Failure {
  method: string;
  /** Redacted: no query string, no user info. */
  url: string;
  /** 0 when no response came. */
  status: number;
  code?: string;
  /** The server's message, or why no response came. */
  message: string;
}
export type Describe = (f: Failure) => string;

/** The default wording: `<what>: GET <url> failed: 404 RESOURCE_DOES_NOT_EXIST: <message>`. */
export const describeAs =
  (what: string): Describe =>
  (f) =>
    `${what}: ${f.method} ${f.url} failed: ${f.status ? `${f.status}${f.code ? ` ${f.code}` : ""}: ` : ""}${f.message}`;

/**
 * A URL or URI as it may be printed: user info (up to the last '@' of the authority, so a password holding
 * '@' is cut too, also in the `databricks:user@profile` form), query string and fragment (signed URLs carry
 * credentials there) replaced by '…'.
 */
export function redact(url: string): string {
  const cut = url.replace(/[?#][\s\S]*$/, (m) => (m ? "?…" : ""));
  return cut.replace(/^([^:/?#]*:\/\/)([^/?#]*@)/, "$1…@").replace(/^([^:/?#]*:)([^/]*@)/, "$1…@");
}

/** The request headers that carry credentials. */
const CREDENTIAL_HEADER = /^(authorization|private-token|x-api-key|cookie)$/i;

/** The credentials a request sends, to be masked wherever a server echoes them. */
function secretsOf(headers: Record<string, string>): string[] {
  return Object.entries(headers)
    .filter(([k]) => CREDENTIAL_HEADER.test(k))
    .map(([, v]) => v.replace(/^(bearer|token|basic)\s+/i, ""))
    .filter((v) => v.length >= 4);
}

function mask(text: string, secrets: string[]): string {
  return secrets.reduce((t, s) => t.split(s).join("***"), text);
}

/** The error for a failed call, from its status, body and Retry-After. */
function failed(describe: Describe, secrets: string[], f: Failure, retryAfter?: string | null): HttpError {
  const err = httpError(
    f.status,
    mask(describe({ ...f, url: redact(f.url) }), secrets),
    f.status === 0 || retryableStatus(f.status),
    f.code,
  );
  const ra = f.status === 429 || f.status === 503 ? parseRetryAfter(retryAfter) : undefined;
  if (ra !== undefined) err.retryAfterS = ra;
  return err;
}

export interface JsonResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * One JSON request (no retry: wrap it in `withRetry`). `describe` words a failure (a string is the name of
 * the object, in the default wording). An empty success body is `{}`.
 */
export async function jsonCall<T>(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  describe: Describe | string,
): Promise<JsonResponse<T>> {
  const words = typeof describe === "string" ? describeAs(describe) : describe;
  const secrets = secretsOf(headers);
  let res: { status: number; ok: boolean; headers: Headers; text: string };
  try {
    res = await request(
      method,
      url,
      {
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...headers,
      },
      body === undefined ? undefined : JSON.stringify(body),
    );
  } catch (e) {
    // A reset or refused connection: nothing was answered, so the request can be sent again.
    throw failed(words, secrets, {
      method,
      url,
      status: 0,
      message: `connection failed (${(e as Error).message})`,
    });
  }
  const text = res.text;
  if (!res.ok) throw failed(words, secrets, { method, url, status: res.status, ...parseErrorBody(text) }, res.headers.get("retry-after"));
  if (!text) return { status: res.status, body: {} as T, headers: res.headers };
  try {
    return { status: res.status, body: JSON.parse(text) as T, headers: res.headers };
  } catch {
    throw failed(words, secrets, {
      method,
      url,
      status: res.status,
      message: `answered with a body that is not JSON: ${text.trim().slice(0, 120)}`,
    });
  }
}

/**
 * One buffered request over the shared keep-alive agent (rather than fetch, whose own connection pool the
 * streams could not share). Rejects only when no response came. Redirects are followed as fetch follows
 * them (at most 20; 303, and 301/302 after a POST, become a GET without body), and the credentials are not
 * sent on to another origin.
 */
async function request(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; ok: boolean; headers: Headers; text: string }> {
  for (let hops = 0; ; hops++) {
    await spend(new URL(url));
    const r = await requestOnce(method, url, headers, body);
    const location = r.headers.get("location");
    if (![301, 302, 303, 307, 308].includes(r.status) || !location || hops >= 20) return r;
    const next = new URL(location, url);
    if (new URL(url).origin !== next.origin)
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADER.test(k)));
    if (r.status === 303 || ((r.status === 301 || r.status === 302) && method === "POST")) {
      method = method === "HEAD" ? "HEAD" : "GET";
      body = undefined;
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "content-type"));
    }
    url = next.toString();
  }
}

function requestOnce(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<{ status: number; ok: boolean; headers: Headers; text: string }> {
  const u = new URL(url);
  const payload = body === undefined ? undefined : Buffer.from(body);
  return new Promise((resolve, reject) => {
    const req = client(u).request(
      u,
      {
        method,
        headers: { ...withAgent(headers), ...(payload ? { "Content-Length": String(payload.length) } : {}) },
        agent: agentFor(u.protocol),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          // An answer cut short (the connection closed before all its declared bytes) is no answer.
          if (!res.complete) return reject(new Error("the answer was cut short by the connection closing"));
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
          const status = res.statusCode ?? 0;
          resolve({ status, ok: status >= 200 && status < 300, headers: h, text: Buffer.concat(chunks).toString("utf8") });
        });
      },
    );
    req.on("error", reject);
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no answer for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.end(payload);
  });
}

/** One JSON request, its body only (no retry). `what` names the object for error messages. */
export async function jsonRequest<T>(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  what: string,
): Promise<T> {
  return (await jsonCall<T>(method, url, headers, body, what)).body;
}

function client(url: URL) {
  return url.protocol === "https:" ? https : http;
}

/** A transfer with no bytes moving for this long is abandoned (and retried). */
export const IDLE_TIMEOUT_MS = Number(process.env.QUANT_MIGRATE_IDLE_TIMEOUT_MS ?? 120000);

/*
 * Keep-alive agents, made on first use and kept on globalThis: a module-level Agent would be captured by
 * Pulumi's closure serialization of the ModelMigration provider, and an Agent cannot be serialized.
 */
function agentFor(protocol: string): http.Agent {
  const g = globalThis as unknown as { __quantMigrateAgents?: Record<string, http.Agent> };
  g.__quantMigrateAgents ??= {};
  // An idle socket is closed after 4 s (sooner when the server announces a shorter Keep-Alive timeout), as
  // fetch does: reusing one the server has just closed would fail the request with a reset.
  const options = { keepAlive: true, maxSockets: 64, timeout: 4000 };
  return (g.__quantMigrateAgents[protocol] ??= protocol === "https:" ? new https.Agent(options) : new http.Agent(options));
}

/** Collects a (short) error body, then rejects with the parsed failure. */
function rejectWithBody(
  res: http.IncomingMessage,
  method: string,
  url: string,
  what: string,
  secrets: string[],
  reject: (e: Error) => void,
): void {
  const status = res.statusCode ?? 0;
  let text = "";
  res.on("data", (c) => {
    if (text.length < 2000) text += c;
  });
  res.on("end", () => {
    const ra = res.headers["retry-after"];
    reject(failed(describeAs(what), secrets, { method, url, status, ...parseErrorBody(text) }, Array.isArray(ra) ? ra[0] : ra));
  });
  res.on("error", (e) => reject(httpError(0, mask(`${what}: ${method} ${redact(url)} broke: ${e.message}`, secrets), true)));
}

/** A streaming GET: resolves with the response stream and its declared length once headers arrive. */
export async function streamGet(
  url: string,
  headers: Record<string, string>,
  what: string,
): Promise<{ body: Readable; length: number | undefined }> {
  const u = new URL(url);
  const secrets = secretsOf(headers);
  await spend(u);
  return new Promise((resolve, reject) => {
    const req = client(u).request(u, { method: "GET", headers: withAgent(headers), agent: agentFor(u.protocol) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        const len = res.headers["content-length"];
        // A body cut short (connection closed before all declared bytes) must fail, never end quietly.
        res.on("close", () => {
          if (!res.complete) res.destroy(httpError(0, `${what}: GET ${redact(url)} was cut short by the connection closing`, true));
        });
        // A body cut short may also be reported by Node itself ('aborted'): it is made retryable and named like
        // the rest. The listener also keeps an error from going unhandled before the caller attaches its reader
        // (which still sees it: the stream is destroyed with it).
        res.on("error", (e: Error & Partial<HttpError>) => {
          if (e.retryable !== undefined) return;
          Object.assign(e, { status: 0, retryable: true, message: `${what}: GET ${redact(url)} was cut short: ${e.message}` });
        });
        resolve({ body: res, length: len === undefined ? undefined : Number(len) });
        return;
      }
      rejectWithBody(res, "GET", url, what, secrets, reject);
    });
    req.on("error", (e) => reject(httpError(0, mask(`${what}: GET ${redact(url)} failed: ${e.message}`, secrets), true)));
    req.setTimeout(IDLE_TIMEOUT_MS, () =>
      req.destroy(httpError(0, `${what}: GET ${redact(url)} stalled for ${IDLE_TIMEOUT_MS / 1000} s`, true)),
    );
    req.end();
  });
}

/** A streaming PUT of exactly `length` bytes from `body`, with backpressure. */
export async function streamPut(url: string, headers: Record<string, string>, body: Readable, length: number, what: string): Promise<void> {
  const u = new URL(url);
  const secrets = secretsOf(headers);
  await spend(u);
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (e?: Error) => {
      if (settled) return;
      settled = true;
      if (e) reject(e);
      else resolve();
    };
    const req = client(u).request(
      u,
      {
        method: "PUT",
        headers: { "Content-Type": "application/octet-stream", ...headers, "Content-Length": String(length) },
        agent: agentFor(u.protocol),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          res.resume();
          res.on("end", () => settle());
          return;
        }
        rejectWithBody(res, "PUT", url, what, secrets, (e) => settle(e));
      },
    );
    const fail = (e: Error) => {
      if (!settled) {
        settled = true;
        req.destroy();
        body.destroy();
        reject(e);
      }
    };
    req.on("error", (e) =>
      fail(isRetryable(e) ? e : httpError(0, mask(`${what}: PUT ${redact(url)} failed: ${e.message}`, secrets), true)),
    );
    req.setTimeout(IDLE_TIMEOUT_MS, () => fail(httpError(0, `${what}: PUT ${redact(url)} stalled for ${IDLE_TIMEOUT_MS / 1000} s`, true)));
    body.on("error", (e) =>
      fail(isRetryable(e) ? e : httpError(0, `${what}: the source stream broke during the upload: ${e.message}`, true)),
    );
    body.pipe(req);
  });
}
