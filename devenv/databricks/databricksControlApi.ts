/**
 * The Databricks workspace control-plane API for tests, as the real Databricks Pulumi provider
 * (terraform-provider-databricks v1.128 over the Go SDK v0.175) calls it for the resources our stacks
 * declare. One request handler, `handle(req, res, body)`, to mount in a test server (it answers `false`
 * for routes that are not its own), and one `state` (ControlPlaneState) that tests read and change.
 *
 * Routes, by the API that serves them:
 * - `GET /.well-known/databricks-config` (no auth): host metadata `{oidc_endpoint, account_id,
 *   workspace_id, cloud, host_type: "workspace"}`; the SDK reads it at client start-up and takes the
 *   workspace id from it (without it the provider asks `GET .../scim/v2/Me` and reads the
 *   `X-Databricks-Org-Id` response header, which every answer here carries);
 * - SCIM users, groups and Me (scimApi.ts): databricks.Group (with entitlements), User, getUser, GroupMember;
 * - Permissions (permissionsApi.ts): databricks.Permissions on directoryPath, repoId, registeredModelId;
 * - Repos (reposApi.ts) and `POST /api/2.0/workspace/delete` `{path, recursive}` here: databricks.Repo,
 *   databricks.Directory (get-status, mkdirs, list, import, export are the shared WorkspaceApi's);
 * - the workspace registry's Databricks endpoints over a real MLflow server (workspaceRegistryApi.ts):
 *   databricks.MlflowModel, including import by name;
 * - Unity Catalog models and grants (unityCatalogApi.ts): databricks.RegisteredModel, databricks.Grants `model`;
 * - workspace settings and the caller's Git credentials (workspaceSettingsApi.ts): databricks.WorkspaceConf.
 *
 * Authentication: `Authorization: Bearer <token>` for a token in `state.tokens`; otherwise 401
 * `{"error_code":"UNAUTHENTICATED","message":...}`. A request under these APIs that is not implemented is
 * logged (console.error) and answered 501 NOT_IMPLEMENTED naming its method and path.
 */
import * as http from "http";
import { apiError, ApiRequest, jsonBody, sendJson } from "./apiReply";
import { aclKey, ControlPlaneState } from "./controlPlaneState";
import { PermissionsApi, RegisteredModelLookup } from "./permissionsApi";
import { ReposApi } from "./reposApi";
import { ScimApi } from "./scimApi";
import { UnityCatalogApi } from "./unityCatalogApi";
import { WorkspaceApi } from "./workspaceApi";
import { WorkspaceRegistryApi } from "./workspaceRegistryApi";
import { WorkspaceSettingsApi } from "./workspaceSettingsApi";

export interface DatabricksControlApiOptions {
  /** The bearer token of the workspace admin the provider authenticates as. */
  token: string;
  /** The workspace tree shared with the Workspace API (folders, notebooks, files, Git folders). */
  workspace: WorkspaceApi;
  /** Base URL of the MLflow server that holds the workspace registry; without it MlflowModel is not served. */
  mlflowUrl?: string;
  adminUserName?: string;
  workspaceId?: string;
}

/** Paths this API owns (everything else is left to the host server). */
const OWNED = [
  /^\/api\/2\.0\/preview\/scim\//,
  /^\/api\/2\.0\/permissions\//,
  /^\/api\/2\.0\/repos(\/|$)/,
  /^\/api\/2\.1\/unity-catalog\//,
  /^\/api\/2\.0\/workspace\/delete$/,
  /^\/api\/2\.0\/workspace-conf$/,
  /^\/api\/2\.0\/git-credentials(\/|$)/,
];
const REGISTRY = /^\/api\/2\.0\/mlflow\/(databricks\/registered-models\/get|registered-models\/(create|rename|delete))$/;

export class DatabricksControlApi {
  readonly state: ControlPlaneState;
  readonly scim: ScimApi;
  readonly permissions: PermissionsApi;
  readonly repos: ReposApi;
  readonly registry?: WorkspaceRegistryApi;
  readonly unityCatalog: UnityCatalogApi;
  readonly workspace: WorkspaceApi;
  readonly settings: WorkspaceSettingsApi;

  constructor(opts: DatabricksControlApiOptions) {
    this.state = new ControlPlaneState({ token: opts.token, adminUserName: opts.adminUserName, workspaceId: opts.workspaceId });
    this.workspace = opts.workspace;
    this.scim = new ScimApi(this.state);
    this.registry = opts.mlflowUrl ? new WorkspaceRegistryApi(this.state, opts.mlflowUrl) : undefined;
    const noModels: RegisteredModelLookup = { modelExists: async () => false };
    this.permissions = new PermissionsApi(this.state, this.workspace, this.registry ?? noModels);
    this.repos = new ReposApi(this.state, this.workspace);
    this.unityCatalog = new UnityCatalogApi(this.state);
    this.settings = new WorkspaceSettingsApi(this.state);
  }

  /** Whether a path is served here (the host then need not look further). */
  owns(pathname: string): boolean {
    return (
      pathname === "/.well-known/databricks-config" || OWNED.some((r) => r.test(pathname)) || (!!this.registry && REGISTRY.test(pathname))
    );
  }

  /** The userName a request's bearer token authenticates, if any. */
  caller(req: http.IncomingMessage): string | undefined {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    const id = m ? this.state.tokens.get(m[1]) : undefined;
    const u = id ? this.state.users.get(id) : undefined;
    return u?.active ? u.userName : undefined;
  }

  /** Serves one request whose body has been read; false when the route is not this API's. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<boolean> {
    const url = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "GET";
    if (!this.owns(url.pathname)) return false;
    this.state.calls.push(`${method} ${url.pathname}${url.search}`);
    res.setHeader("X-Databricks-Org-Id", this.state.workspaceId);
    if (url.pathname === "/.well-known/databricks-config") {
      const scheme = (req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
      return sendJson(res, 200, {
        oidc_endpoint: `${scheme}://${req.headers.host}/oidc`,
        account_id: this.state.accountId,
        ...(this.state.advertiseWorkspaceId ? { workspace_id: this.state.workspaceId } : {}),
        cloud: "AWS",
        host_type: "workspace",
      });
    }
    const caller = this.caller(req);
    if (!caller) {
      return apiError(
        res,
        401,
        "UNAUTHENTICATED",
        req.headers.authorization ? "Invalid access token." : "Credential was not sent or was of an unsupported type for this API.",
      );
    }
    const routed = req.headers["x-databricks-workspace-id"];
    if (routed !== undefined && routed !== this.state.workspaceId) {
      return apiError(
        res,
        400,
        "INVALID_PARAMETER_VALUE",
        `X-Databricks-Workspace-Id ${routed} does not name this workspace (${this.state.workspaceId})`,
      );
    }
    const r: ApiRequest = { method, url, body, res, caller };
    if (url.pathname === "/api/2.0/workspace/delete") return this.deletePath(r);
    return (
      this.scim.handle(r) ||
      (await this.permissions.handle(r)) ||
      this.repos.handle(r) ||
      this.unityCatalog.handle(r) ||
      this.settings.handle(r) ||
      (!!this.registry && (await this.registry.handle(r)))
    );
  }

  /** `POST /api/2.0/workspace/delete {path, recursive}`: also drops the removed objects' ACLs and Git folders. */
  private deletePath(r: ApiRequest): boolean {
    if (r.method !== "POST") return apiError(r.res, 405, "ENDPOINT_NOT_FOUND", `No API found for '${r.method} /workspace/delete'`);
    const b = jsonBody(r);
    if (!b) return true;
    if (typeof b.path !== "string" || !b.path.startsWith("/"))
      return apiError(r.res, 400, "INVALID_PARAMETER_VALUE", `Path (${String(b.path ?? "")}) is not absolute.`);
    const out = this.workspace.remove(b.path, b.recursive === true);
    if (out === "missing") return apiError(r.res, 404, "RESOURCE_DOES_NOT_EXIST", `Path (${b.path}) doesn't exist.`);
    if (out === "not-empty") return apiError(r.res, 400, "DIRECTORY_NOT_EMPTY", `Folder (${b.path}) is not empty`);
    const types: Record<string, string> = { DIRECTORY: "directories", REPO: "repos", NOTEBOOK: "notebooks", FILE: "files" };
    for (const n of out.removed) {
      this.state.acls.delete(aclKey(types[n.type], n.id));
      if (n.type === "REPO") this.state.gitFolders.delete(n.id);
    }
    return sendJson(r.res, 200, {});
  }
}
