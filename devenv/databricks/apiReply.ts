/**
 * How the Databricks test APIs answer: JSON bodies, the 2.0 error body `{error_code, message}`, the SCIM
 * error body (RFC 7644 section 3.12, as Databricks sends it: `schemas`, `detail`, `status` as a string) and
 * a loud 501 for anything a test server does not implement, so a missing route shows up in the test log
 * instead of as a confusing client error.
 */
import * as http from "http";

/** One request as the API modules see it: the body is already read, the caller already authenticated. */
export interface ApiRequest {
  method: string;
  url: URL;
  body: Buffer;
  res: http.ServerResponse;
  /** userName of the caller (the bearer token's owner). */
  caller: string;
}

export const SCIM_ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): true {
  if (status === 204) {
    res.writeHead(204, headers);
    res.end();
    return true;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
  return true;
}

/** A 2.0-style error, e.g. 404 RESOURCE_DOES_NOT_EXIST. */
export function apiError(res: http.ServerResponse, status: number, errorCode: string, message: string): true {
  return sendJson(res, status, { error_code: errorCode, message });
}

/** A SCIM error, as the workspace SCIM API sends it. */
export function scimError(res: http.ServerResponse, status: number, detail: string): true {
  return sendJson(res, status, { schemas: [SCIM_ERROR_SCHEMA], detail, status: String(status) });
}

/** Logs and answers 501 for a request the test server does not implement, naming method and path. */
export function notImplemented(res: http.ServerResponse, method: string, url: URL, why = ""): true {
  const message = `the Databricks test server does not implement ${method} ${url.pathname}${url.search}${why ? `: ${why}` : ""}`;
  console.error(message);
  return apiError(res, 501, "NOT_IMPLEMENTED", message);
}

/** Parses a JSON object body; undefined (after answering 400 MALFORMED_REQUEST) when it is not one. */
export function jsonBody(req: ApiRequest): Record<string, unknown> | undefined {
  const text = req.body.toString("utf8").trim();
  if (!text) return {};
  try {
    const v = JSON.parse(text);
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* answered below */
  }
  apiError(req.res, 400, "MALFORMED_REQUEST", "Invalid JSON given in the body of the request - expected a map");
  return undefined;
}
