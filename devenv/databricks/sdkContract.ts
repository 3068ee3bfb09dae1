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
  // MLflow 3 logged models (migration/loggedModels.ts; cases in devenv/python/contract_logged_models.py).
  "POST /api/2.0/mlflow/logged-models",
  "POST /api/2.0/mlflow/logged-models/{model_id}/params",
  "PATCH /api/2.0/mlflow/logged-models/{model_id}/tags",
  "POST /api/2.0/mlflow/logged-models/{model_id}/artifacts/credentials-for-upload",
  "GET /api/2.0/mlflow/logged-models/{model_id}/artifacts/directories",
  "POST /api/2.0/mlflow/logged-models/{model_id}/artifacts/credentials-for-download",
  "PATCH /api/2.0/mlflow/logged-models/{model_id}",
  "GET /api/2.0/mlflow/logged-models/{model_id}",
  "POST /api/2.0/mlflow/logged-models/search",
  "DELETE /api/2.0/mlflow/logged-models/{model_id}",
  // A run's links to the logged models it produced (migration/lineage.ts copyModelLinks; its model inputs go by log-inputs).
  "POST /api/2.0/mlflow/runs/outputs",
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
  "GET /api/2.1/unity-catalog/current-metastore-assignment",
  "GET /api/2.1/unity-catalog/catalogs",
  "GET /api/2.1/unity-catalog/schemas",
  "GET /api/2.1/unity-catalog/tables",
  "GET /api/2.0/mlflow/unity-catalog/registered-models/get",
  "GET /api/2.0/mlflow/unity-catalog/registered-models/search",
  "GET /api/2.0/mlflow/databricks/registered-models/get",
  "GET /api/2.0/permissions/directories/{id}",
  "GET /api/2.0/permissions/registered-models/{id}",
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
  "GET /api/2.2/jobs/list",
  "GET /api/2.2/jobs/get",
  "POST /api/2.2/jobs/create",
  "POST /api/2.2/jobs/reset",
  "POST /api/2.2/jobs/update",
  "GET /api/2.0/permissions/jobs/{id}",
  "PUT /api/2.0/permissions/jobs/{id}",
  "GET /api/2.0/policies/clusters/list",
  "POST /api/2.0/policies/clusters/create",
  "POST /api/2.0/policies/clusters/edit",
  "GET /api/2.0/permissions/cluster-policies/{id}",
  "PUT /api/2.0/permissions/cluster-policies/{id}",
  "GET /api/2.0/instance-pools/list",
  "POST /api/2.0/instance-pools/create",
  "POST /api/2.0/instance-pools/edit",
  "GET /api/2.0/permissions/instance-pools/{id}",
  "PUT /api/2.0/permissions/instance-pools/{id}",
  "GET /api/2.1/clusters/list-node-types",
  "GET /api/2.0/preview/scim/v2/ServicePrincipals",
  "GET /api/2.0/workspace-conf",
  "GET /api/2.0/workspace/export",
  "GET /api/2.0/workspace/get-status",
  "POST /api/2.0/workspace/import",
  "GET /api/2.0/workspace/list",
  "POST /api/2.0/workspace/mkdirs",
  "POST /api/2.0/serving-endpoints",
  "GET /api/2.0/serving-endpoints/{name}",
  "GET /api/2.0/serving-endpoints",
  "PUT /api/2.0/serving-endpoints/{name}/config",
  "PATCH /api/2.0/serving-endpoints/{name}/tags",
  "PUT /api/2.0/serving-endpoints/{name}/ai-gateway",
  "GET /api/2.0/permissions/serving-endpoints/{id}",
  "PUT /api/2.0/permissions/serving-endpoints/{id}",
] as const;

/** The GitLab REST API v4 routes the product calls (under /api/v4), as PRODUCT_ROUTES; judged by python-gitlab (tests/contract/gitlabClient.test.ts). */
export const GITLAB_ROUTES = [
  "GET /users",
  "GET /users/{id}",
  "GET /projects/{id}",
  "PUT /projects/{id}",
  "POST /projects/{id}/members",
  "GET /projects/{id}/members/{id}",
  "PUT /projects/{id}/members/{id}",
  "GET /projects/{id}/members",
  "DELETE /projects/{id}/members/{id}",
  "POST /projects/{id}/protected_branches",
  "PATCH /projects/{id}/protected_branches/{name}",
  "GET /projects/{id}/repository/commits/{sha}/merge_requests",
  "GET /projects/{id}/protected_branches/{name}",
  "GET /projects/{id}/protected_branches",
  "DELETE /projects/{id}/protected_branches/{name}",
  "POST /projects/{id}/approvals",
  "GET /projects/{id}/approvals",
  "POST /projects/{id}/approval_rules",
  "PUT /projects/{id}/approval_rules/{id}",
  "GET /projects/{id}/approval_rules",
  "DELETE /projects/{id}/approval_rules/{id}",
  "GET /projects/{id}/merge_requests",
  "GET /projects/{id}/merge_requests/{iid}",
  "PUT /projects/{id}/merge_requests/{iid}",
  "GET /projects/{id}/merge_requests/{iid}/approvals",
  "POST /projects/{id}/merge_requests/{iid}/notes",
  "PUT /projects/{id}/merge_requests/{iid}/notes/{id}",
  "GET /projects/{id}/merge_requests/{iid}/notes",
] as const;

/** The GitHub REST API routes the product calls (under the API root), as PRODUCT_ROUTES; judged by PyGithub (tests/contract/githubClient.test.ts). */
export const GITHUB_ROUTES = [
  "GET /users/{login}",
  "GET /orgs/{org}/teams",
  "GET /orgs/{org}/teams/{slug}/members",
  "GET /repos/{owner}/{repo}/collaborators",
  "GET /repos/{owner}/{repo}/rulesets",
  "GET /repos/{owner}/{repo}/rulesets/{id}",
  "GET /repos/{owner}/{repo}/pulls/{number}",
  "GET /repos/{owner}/{repo}/pulls",
  "GET /repos/{owner}/{repo}/pulls/{number}/reviews",
  "GET /repos/{owner}/{repo}/commits/{sha}/pulls",
  "POST /repos/{owner}/{repo}/issues/{number}/comments",
  "PATCH /repos/{owner}/{repo}/pulls/{number}",
] as const;

const PRODUCT_AGENT = /^quant-platform\//;

const pattern = (route: string) =>
  new RegExp(
    `^${route
      .replace(/[.+?^$()|[\]\\]/g, "\\$&")
      .replace(/\{[a-z_]+\.\.\.\}/g, ".+")
      .replace(/\{[a-z_]+\}/g, "[^/]+")}$`,
  );
type Service = "databricks" | "gitlab" | "github";
const PATTERNS: Record<Service, { route: string; re: RegExp }[]> = {
  databricks: PRODUCT_ROUTES.map((r) => ({ route: r as string, re: pattern(r) })),
  gitlab: GITLAB_ROUTES.map((r) => ({ route: r as string, re: pattern(r) })),
  github: GITHUB_ROUTES.map((r) => ({ route: r as string, re: pattern(r) })),
};
/** Where each service's listed routes start: GitLab's under /api/v4, GitHub Enterprise's under /api/v3 (or the root). */
const ROOT: Record<Service, RegExp> = { databricks: /^/, gitlab: /^\/api\/v4(?=\/)/, github: /^\/api\/v3(?=\/)/ };

/** The listed route a `METHOD /path` call is, if any. */
export function contractRoute(method: string, pathname: string, service: Service = "databricks"): string | undefined {
  const call = `${method} ${pathname.replace(ROOT[service], "")}`;
  return PATTERNS[service].find((p) => p.re.test(call))?.route;
}

/**
 * Why a product call to a Git host's test server is outside the contract (a message to answer 501 with), or
 * undefined when it is listed, is no product call, or the ledger alone is on.
 */
export function gitContractRefusal(service: "gitlab" | "github", req: http.IncomingMessage): string | undefined {
  recordProductCall(service, req);
  if (!PRODUCT_AGENT.test(req.headers["user-agent"] ?? "") || process.env.QUANT_ROUTE_LEDGER_ONLY === "1") return undefined;
  const url = new URL(req.url ?? "/", "http://x");
  if (contractRoute(req.method ?? "GET", url.pathname, service)) return undefined;
  return `CONTRACT_MISSING: the product called ${req.method} ${url.pathname}, which devenv/databricks/sdkContract.ts does not list (${service === "gitlab" ? "GITLAB_ROUTES" : "GITHUB_ROUTES"}): add the route there and its case to devenv/python/${service}_contract.py`;
}

const seen = new Set<string>();

/** With QUANT_ROUTE_LEDGER set to a folder, appends a product call's `<service> METHOD /path` there (once per process). */
export function recordProductCall(service: Service, req: http.IncomingMessage): void {
  const ledger = process.env.QUANT_ROUTE_LEDGER;
  if (!ledger || !PRODUCT_AGENT.test(req.headers["user-agent"] ?? "")) return;
  const call = `${service} ${req.method} ${new URL(req.url ?? "/", "http://x").pathname}`;
  if (seen.has(call)) return;
  seen.add(call);
  fs.mkdirSync(ledger, { recursive: true });
  fs.appendFileSync(path.join(ledger, `${process.pid}.txt`), `${call}\n`);
}

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
  recordProductCall("databricks", req);
  if (process.env.QUANT_ROUTE_LEDGER_ONLY === "1" || contractRoute(req.method ?? "GET", url.pathname)) return false;
  apiError(
    res,
    501,
    "CONTRACT_MISSING",
    `the product called ${call}, which devenv/databricks/sdkContract.ts does not list: add the route there and its case to devenv/python/sdk_contract.py`,
  );
  return true;
}
