/**
 * Two small Databricks workspace APIs for tests, as documented and as the Databricks provider and SDK call them:
 *
 * Workspace settings (`databricks.WorkspaceConf`, terraform-provider-databricks workspace/resource_workspace_conf.go):
 * - `GET /api/2.0/workspace-conf?keys=a,b` -> `{a: "<value>", b: null}` (null: never set, the default applies);
 *   an unknown key -> 400 INVALID_PARAMETER_VALUE `Invalid keys: ["x"]` (the provider parses that list);
 * - `PATCH /api/2.0/workspace-conf` `{key: "<string>", ...}` -> 204; values are strings, boolean settings take
 *   "true" or "false" (anything else -> 400 INVALID_PARAMETER_VALUE `Some values are not allowed: {...}`), and the
 *   provider's delete writes "false" or "" per key. Admins only (403 PERMISSION_DENIED otherwise).
 *
 * Git credentials (`/api/2.0/git-credentials`): every call acts on the caller's own credentials only.
 * - `GET` -> `{credentials: [{credential_id, git_provider, git_username}]}` (the token is never answered);
 * - `POST {git_provider, git_username, personal_access_token}` -> `{credential_id, git_provider, git_username}`;
 *   a second one -> 400 INVALID_STATE "Only one Git credential is supported at this time...";
 * - `GET|PATCH|DELETE /{credential_id}`: another user's id is 404 RESOURCE_DOES_NOT_EXIST, as if absent.
 */
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";
import { ControlPlaneState } from "./controlPlaneState";
import { GIT_PROVIDERS } from "./reposApi";

/** The workspace-conf keys served, with whether each is a boolean ("true"/"false") setting. */
export const WORKSPACE_CONF_KEYS: Record<string, "boolean" | "string"> = {
  enableProjectTypeInWorkspace: "boolean",
  enableProjectsAllowList: "boolean",
  projectsAllowList: "string",
  enableIpAccessLists: "boolean",
  enableTokensConfig: "boolean",
  maxTokenLifetimeDays: "string",
  enableDbfsFileBrowser: "boolean",
  enableWebTerminal: "boolean",
  enableResultsDownloading: "boolean",
};

export class WorkspaceSettingsApi {
  private nextCredentialId = 7_000_001;

  constructor(private readonly state: ControlPlaneState) {}

  handle(req: ApiRequest): boolean {
    if (req.url.pathname === "/api/2.0/workspace-conf") return this.conf(req);
    const m = /^\/api\/2\.0\/git-credentials(?:\/([^/]+))?$/.exec(req.url.pathname);
    if (m) return this.credentials(req, m[1]);
    return false;
  }

  private isAdmin(userName: string): boolean {
    const u = this.state.userByName(userName);
    return !!u && !!this.state.groupByName("admins")?.members.has(u.id);
  }

  private conf(req: ApiRequest): boolean {
    if (!this.isAdmin(req.caller))
      return apiError(req.res, 403, "PERMISSION_DENIED", "Only workspace admins can read or change workspace settings.");
    if (req.method === "GET") {
      const keys = (req.url.searchParams.get("keys") ?? "").split(",").filter(Boolean);
      if (!keys.length) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing required parameter: keys");
      const invalid = keys.filter((k) => !(k in WORKSPACE_CONF_KEYS));
      if (invalid.length) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Invalid keys: ${JSON.stringify(invalid)}`);
      return sendJson(req.res, 200, Object.fromEntries(keys.map((k) => [k, this.state.workspaceConf.get(k) ?? null])));
    }
    if (req.method === "PATCH") {
      const b = jsonBody(req);
      if (!b) return true;
      const invalid = Object.keys(b).filter((k) => !(k in WORKSPACE_CONF_KEYS));
      if (invalid.length) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Invalid keys: ${JSON.stringify(invalid)}`);
      const bad = Object.fromEntries(
        Object.entries(b).filter(
          ([k, v]) => typeof v !== "string" || (WORKSPACE_CONF_KEYS[k] === "boolean" && !["true", "false"].includes(v.toLowerCase())),
        ),
      );
      if (Object.keys(bad).length)
        return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Some values are not allowed: ${JSON.stringify(bad)}`);
      for (const [k, v] of Object.entries(b as Record<string, string>))
        this.state.workspaceConf.set(k, WORKSPACE_CONF_KEYS[k] === "boolean" ? v.toLowerCase() : v);
      return sendJson(req.res, 204, undefined);
    }
    return apiError(req.res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${req.method} /workspace-conf'`);
  }

  private credentials(req: ApiRequest, id: string | undefined): boolean {
    const owner = this.state.userByName(req.caller);
    if (!owner) return apiError(req.res, 403, "PERMISSION_DENIED", "The caller is not a workspace user.");
    const own = this.state.gitCredentials.get(owner.id);
    const view = (c: NonNullable<typeof own>) => ({
      credential_id: c.credentialId,
      git_provider: c.gitProvider,
      git_username: c.gitUsername,
    });
    const fields = (b: Record<string, unknown>, partial: boolean): string | undefined => {
      if (!(partial && b.git_provider === undefined)) {
        const p = GIT_PROVIDERS.find((x) => x.toLowerCase() === String(b.git_provider ?? "").toLowerCase());
        if (!p) return `Invalid git_provider: ${JSON.stringify(b.git_provider ?? "")}; expected one of ${GIT_PROVIDERS.join(", ")}`;
      }
      for (const k of ["git_username", "personal_access_token"])
        if (b[k] !== undefined && typeof b[k] !== "string") return `${k} must be a string`;
      return undefined;
    };
    const provider = (v: unknown) => GIT_PROVIDERS.find((x) => x.toLowerCase() === String(v).toLowerCase())!;
    if (id === undefined) {
      if (req.method === "GET") return sendJson(req.res, 200, own ? { credentials: [view(own)] } : {});
      if (req.method !== "POST") return apiError(req.res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${req.method} /git-credentials'`);
      const b = jsonBody(req);
      if (!b) return true;
      const problem = fields(b, false);
      if (problem) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", problem);
      if (own)
        return apiError(
          req.res,
          400,
          "INVALID_STATE",
          `Only one Git credential is supported at this time. If you would like to update your credential, please use the PATCH endpoint.`,
        );
      const c = {
        credentialId: this.nextCredentialId++,
        gitProvider: provider(b.git_provider),
        gitUsername: String(b.git_username ?? ""),
        personalAccessToken: String(b.personal_access_token ?? ""),
      };
      this.state.gitCredentials.set(owner.id, c);
      return sendJson(req.res, 200, view(c));
    }
    if (!own || String(own.credentialId) !== id)
      return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Credential with the given ID could not be found.`);
    if (req.method === "GET") return sendJson(req.res, 200, view(own));
    if (req.method === "DELETE") {
      this.state.gitCredentials.delete(owner.id);
      return sendJson(req.res, 200, {});
    }
    if (req.method === "PATCH") {
      const b = jsonBody(req);
      if (!b) return true;
      const problem = fields(b, true);
      if (problem) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", problem);
      if (b.git_provider !== undefined) own.gitProvider = provider(b.git_provider);
      if (typeof b.git_username === "string") own.gitUsername = b.git_username;
      if (typeof b.personal_access_token === "string") own.personalAccessToken = b.personal_access_token;
      return sendJson(req.res, 200, {});
    }
    return notImplemented(req.res, req.method, req.url);
  }
}
