/**
 * HTTP for the migration engine: JSON calls with MLflow's `{error_code, message}` errors, retries with
 * backoff on 429, 5xx and broken connections, and streaming GET/PUT with backpressure (bounded memory).
 */
import * as http from "http";
import * as https from "https";
import { Readable } from "stream";

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, backoffMs: 250 };

/** A failed call: status 0 when no response came; `code` is MLflow's error_code when there was one. */
export type HttpError = Error & { status: number; code?: string; retryable: boolean };

export function httpError(status: number, message: string, retryable: boolean, code?: string): HttpError {
  return Object.assign(new Error(message), { status, code, retryable });
}

export function isRetryable(e: unknown): boolean {
  return e instanceof Error && (e as Partial<HttpError>).retryable === true;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` again on retryable failures, with exponential backoff and jitter. */
export async function withRetry<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>, onRetry?: (e: Error, attempt: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isRetryable(e) || attempt >= policy.attempts) throw e;
      onRetry?.(e as Error, attempt);
      if (process.env.QUANT_MIGRATE_DEBUG) process.stderr.write(`retry ${attempt}: ${(e as Error).message}\n`);
      const retryAfter = (e as { retryAfterS?: number }).retryAfterS;
      await sleep(retryAfter !== undefined ? Math.min(retryAfter, 60) * 1000 : policy.backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2));
    }
  }
}

const retryableStatus = (s: number) => s === 429 || s >= 500;

/** One JSON request (no retry). `what` names the object for error messages. */
export async function jsonRequest<T>(method: string, url: string, headers: Record<string, string>, body: unknown, what: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { Accept: "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw httpError(0, `${what}: ${method} ${redact(url)} failed to connect (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message})`, true);
  }
  const text = await res.text();
  if (res.ok) return (text ? JSON.parse(text) : {}) as T;
  let code: string | undefined;
  let message = text.slice(0, 300);
  try {
    const j = JSON.parse(text);
    code = j.error_code;
    message = j.message ?? message;
  } catch { /* not JSON: keep the text */ }
  const err = httpError(res.status, `${what}: ${method} ${redact(url)} failed: ${res.status}${code ? ` ${code}` : ""}: ${message}`, retryableStatus(res.status), code);
  const ra = Number(res.headers.get("retry-after"));
  if (res.status === 429 && Number.isFinite(ra)) Object.assign(err, { retryAfterS: ra });
  throw err;
}

/** Drops query strings (signed URLs carry credentials there) from anything printed. */
export function redact(url: string): string {
  const i = url.indexOf("?");
  return i < 0 ? url : `${url.slice(0, i)}?…`;
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
  return (g.__quantMigrateAgents[protocol] ??= protocol === "https:" ? new https.Agent({ keepAlive: true, maxSockets: 64 }) : new http.Agent({ keepAlive: true, maxSockets: 64 }));
}

/** A streaming GET: resolves with the response stream and its declared length once headers arrive. */
export function streamGet(url: string, headers: Record<string, string>, what: string): Promise<{ body: Readable; length: number | undefined }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = client(u).request(u, { method: "GET", headers, agent: agentFor(u.protocol) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        const len = res.headers["content-length"];
        // A body cut short (connection closed before all declared bytes) must fail, never end quietly.
        res.on("close", () => {
          if (!res.complete) res.destroy(httpError(0, `${what}: GET ${redact(url)} was cut short by the connection closing`, true));
        });
        resolve({ body: res, length: len === undefined ? undefined : Number(len) });
        return;
      }
      let text = "";
      res.on("data", (c) => { if (text.length < 2000) text += c; });
      res.on("end", () => {
        let message = text.slice(0, 300);
        let code: string | undefined;
        try { const j = JSON.parse(text); code = j.error_code; message = j.message ?? message; } catch { /* keep text */ }
        const err = httpError(status, `${what}: GET ${redact(url)} failed: ${status}${code ? ` ${code}` : ""}: ${message}`, retryableStatus(status), code);
        const ra = Number(res.headers["retry-after"]);
        if (status === 429 && Number.isFinite(ra)) Object.assign(err, { retryAfterS: ra });
        reject(err);
      });
      res.on("error", (e) => reject(httpError(0, `${what}: GET ${redact(url)} broke: ${e.message}`, true)));
    });
    req.on("error", (e) => reject(httpError(0, `${what}: GET ${redact(url)} failed: ${e.message}`, true)));
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(httpError(0, `${what}: GET ${redact(url)} stalled for ${IDLE_TIMEOUT_MS / 1000} s`, true)));
    req.end();
  });
}

/** A streaming PUT of exactly `length` bytes from `body`, with backpressure. */
export function streamPut(url: string, headers: Record<string, string>, body: Readable, length: number, what: string): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let settled = false;
    const req = client(u).request(u, {
      method: "PUT",
      headers: { "Content-Type": "application/octet-stream", ...headers, "Content-Length": String(length) },
      agent: agentFor(u.protocol),
    }, (res) => {
      const status = res.statusCode ?? 0;
      let text = "";
      res.on("data", (c) => { if (text.length < 2000) text += c; });
      res.on("end", () => {
        if (settled) return;
        settled = true;
        if (status >= 200 && status < 300) return resolve();
        let message = text.slice(0, 300);
        let code: string | undefined;
        try { const j = JSON.parse(text); code = j.error_code; message = j.message ?? message; } catch { /* keep text */ }
        reject(httpError(status, `${what}: PUT ${redact(url)} failed: ${status}${code ? ` ${code}` : ""}: ${message}`, retryableStatus(status), code));
      });
    });
    const fail = (e: Error) => { if (!settled) { settled = true; req.destroy(); body.destroy(); reject(e); } };
    req.on("error", (e) => fail(isRetryable(e) ? e : httpError(0, `${what}: PUT ${redact(url)} failed: ${e.message}`, true)));
    req.setTimeout(IDLE_TIMEOUT_MS, () => fail(httpError(0, `${what}: PUT ${redact(url)} stalled for ${IDLE_TIMEOUT_MS / 1000} s`, true)));
    body.on("error", (e) => fail(isRetryable(e) ? e : httpError(0, `${what}: the source stream broke during the upload: ${e.message}`, true)));
    body.pipe(req);
  });
}
