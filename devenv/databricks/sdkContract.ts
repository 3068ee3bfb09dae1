/**
 * Which Databricks API routes the product calls, and the gate that keeps that list honest.
 *
 * The product's own HTTP clients (clients/, which send `User-Agent: quant-platform/...`) are not official
 * Databricks clients, so the test workspaces could drift from Databricks under them unnoticed. Every route they
 * call is therefore listed here, and tests/contract/databricksSdk.test.ts calls each one through the official
 * Databricks SDK for Python (devenv/python/sdk_contract.py), which must accept the test workspace's answers.
 * A test workspace answers a product call to a route missing from this list 501 CONTRACT_MISSING, naming the
 * route and this file: so whichever test makes a new call fails until the contract covers it.
 *
 * The provider's calls (the Databricks Terraform provider, over the official Go SDK) and MLflow's own clients'
 * are official clients and are not gated here.
 */
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { apiError } from "./apiReply";

/**
 * `METHOD /path`, `{name}` standing for one path segment: what the product's clients call (recorded from the whole
 * suite with QUANT_ROUTE_LEDGER, plus the calls of paths the suite reaches only by chance: the election loser's
 * version delete, the alias rollback, a part URL renewed after expiry, `doctor --self`, a description update).
 */
export const PRODUCT_ROUTES = [
  "GET /api/2.0/git-credentials",
  "POST /api/2.0/mlflow/artifacts/complete-multipart-upload",
  "POST /api/2.0/mlflow/artifacts/create-multipart-upload",
  "POST /api/2.0/mlflow/artifacts/credentials-for-read",
  "POST /api/2.0/mlflow/artifacts/credentials-for-write",
  "GET /api/2.0/mlflow/artifacts/get-presigned-upload-part-url",
  "GET /api/2.0/mlflow/artifacts/list",
  "POST /api/2.0/mlflow/experiments/create",
  "GET /api/2.0/mlflow/experiments/get-by-name",
  "POST /api/2.0/mlflow/experiments/search",
  "GET /api/2.0/mlflow/metrics/get-history",
  "POST /api/2.0/mlflow/model-versions/create",
  "DELETE /api/2.0/mlflow/model-versions/delete",
  "GET /api/2.0/mlflow/model-versions/get",
  "GET /api/2.0/mlflow/model-versions/get-download-uri",
  "GET /api/2.0/mlflow/model-versions/search",
  "POST /api/2.0/mlflow/model-versions/set-tag",
  "POST /api/2.0/mlflow/model-versions/transition-stage",
  "PATCH /api/2.0/mlflow/model-versions/update",
  "POST /api/2.0/mlflow/registered-models/create",
  "GET /api/2.0/mlflow/registered-models/get",
  "POST /api/2.0/mlflow/registered-models/get-latest-versions",
  "GET /api/2.0/mlflow/registered-models/search",
  "POST /api/2.0/mlflow/runs/create",
  "POST /api/2.0/mlflow/runs/delete",
  "GET /api/2.0/mlflow/runs/get",
  "POST /api/2.0/mlflow/runs/log-batch",
  "POST /api/2.0/mlflow/runs/log-inputs",
  "POST /api/2.0/mlflow/runs/search",
  "POST /api/2.0/mlflow/runs/set-tag",
  "POST /api/2.0/mlflow/runs/update",
  "GET /api/2.0/mlflow/transition-requests/list",
  "POST /api/2.0/mlflow/unity-catalog/model-versions/create",
  "POST /api/2.0/mlflow/unity-catalog/model-versions/finalize",
  "POST /api/2.0/mlflow/unity-catalog/model-versions/generate-temporary-credentials",
  "GET /api/2.0/mlflow/unity-catalog/model-versions/get",
  "GET /api/2.0/mlflow/unity-catalog/model-versions/get-download-uri",
  "GET /api/2.0/mlflow/unity-catalog/model-versions/search",
  "POST /api/2.0/mlflow/unity-catalog/model-versions/set-tag",
  "DELETE /api/2.0/mlflow/unity-catalog/registered-models/alias",
  "GET /api/2.0/mlflow/unity-catalog/registered-models/alias",
  "POST /api/2.0/mlflow/unity-catalog/registered-models/alias",
  "POST /api/2.0/mlflow/unity-catalog/registered-models/create",
  "GET /api/2.0/mlflow/unity-catalog/registered-models/get",
  "GET /api/2.0/mlflow/unity-catalog/registered-models/search",
  "GET /api/2.0/permissions/directories/{id}",
  "GET /api/2.0/permissions/repos/{id}",
  "GET /api/2.0/preview/scim/v2/Groups",
  "GET /api/2.0/preview/scim/v2/Users",
  "GET /api/2.0/secrets/scopes/list",
  "POST /api/2.0/secrets/scopes/create",
  "GET /api/2.0/secrets/list",
  "POST /api/2.0/secrets/put",
  "GET /api/2.0/secrets/acls/list",
  "POST /api/2.0/secrets/acls/put",
  "POST /api/2.0/secrets/acls/delete",
  "GET /api/2.0/workspace-conf",
  "GET /api/2.0/workspace/export",
  "GET /api/2.0/workspace/get-status",
  "POST /api/2.0/workspace/import",
  "GET /api/2.0/workspace/list",
  "POST /api/2.0/workspace/mkdirs",
] as const;

const PRODUCT_AGENT = /^quant-platform\//;

const pattern = (route: string) =>
  new RegExp(
    `^${route
      .replace(/[.+?^$()|[\]\\]/g, "\\$&")
      .replace(/\{[a-z_]+\.\.\.\}/g, ".+")
      .replace(/\{[a-z_]+\}/g, "[^/]+")}$`,
  );
const PATTERNS = PRODUCT_ROUTES.map((r) => ({ route: r as string, re: pattern(r) }));

/** The listed route a `METHOD /path` call is, if any. */
export function contractRoute(method: string, pathname: string): string | undefined {
  const call = `${method} ${pathname}`;
  return PATTERNS.find((p) => p.re.test(call))?.route;
}

const seen = new Set<string>();

/**
 * Answers (501) a product call to a route the contract does not cover, and returns true; any other request is
 * left to the APIs. With QUANT_ROUTE_LEDGER set to a folder, every product call's `METHOD /path` is appended to
 * a file there (what a new contract entry is written from).
 */
export function outsideContract(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (!PRODUCT_AGENT.test(req.headers["user-agent"] ?? "")) return false;
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname.startsWith("/blob/")) return false; // the signed-URL store, not the Databricks API
  const call = `${req.method} ${url.pathname}`;
  const ledger = process.env.QUANT_ROUTE_LEDGER;
  if (ledger && !seen.has(call)) {
    seen.add(call);
    fs.mkdirSync(ledger, { recursive: true });
    fs.appendFileSync(path.join(ledger, `${process.pid}.txt`), `${call}\n`);
  }
  if (process.env.QUANT_ROUTE_LEDGER_ONLY === "1" || contractRoute(req.method ?? "GET", url.pathname)) return false;
  apiError(
    res,
    501,
    "CONTRACT_MISSING",
    `the product called ${call}, which devenv/databricks/sdkContract.ts does not list: add the route there and its case to devenv/python/sdk_contract.py`,
  );
  return true;
}
