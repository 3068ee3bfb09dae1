/**
 * The Repos API (Git folders) for tests: `POST /api/2.0/repos` `{url, provider, path?}` clones into the
 * shared WorkspaceApi tree as a REPO node (its object id is the repo id) checked out at the remote's
 * default branch; `GET /api/2.0/repos/{id}`; `PATCH /api/2.0/repos/{id}` `{branch | tag, sparse_checkout?}`
 * checks out; `DELETE /api/2.0/repos/{id}`; `GET /api/2.0/repos?path_prefix&next_page_token` lists.
 * A Git folder is `{id, path, url, provider, branch | tag, head_commit_id}`. No Git host is contacted:
 * every branch or tag exists, the default branch is `defaultBranch`, and a head commit is a stable hash
 * of url and ref. The creator gets a direct CAN_MANAGE on the Git folder, as on Databricks.
 * Errors `{error_code, message}`: 400 INVALID_PARAMETER_VALUE (missing url, unknown provider), 404
 * RESOURCE_DOES_NOT_EXIST (no such repo; parent folder missing), 400 RESOURCE_ALREADY_EXISTS (path taken).
 */
import * as crypto from "crypto";
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";
import { aclKey, ControlPlaneState, GitFolder } from "./controlPlaneState";
import { WorkspaceApi } from "./workspaceApi";

/** Git providers the Repos API accepts (matched case-insensitively, answered in this spelling). */
export const GIT_PROVIDERS = [
  "gitHub",
  "bitbucketCloud",
  "gitLab",
  "azureDevOpsServices",
  "gitHubEnterprise",
  "bitbucketServer",
  "gitLabEnterpriseEdition",
  "awsCodeCommit",
];

export class ReposApi {
  /** The branch a fresh clone checks out. */
  defaultBranch = "main";

  constructor(
    private readonly state: ControlPlaneState,
    private readonly workspace: WorkspaceApi,
  ) {}

  handle(req: ApiRequest): boolean {
    const m = /^\/api\/2\.0\/repos(?:\/([^/]+))?$/.exec(req.url.pathname);
    if (!m) return req.url.pathname.startsWith("/api/2.0/repos/") ? notImplemented(req.res, req.method, req.url) : false;
    const id = m[1];
    if (id === undefined) {
      if (req.method === "POST") return this.create(req);
      if (req.method === "GET") return this.list(req);
      return notImplemented(req.res, req.method, req.url);
    }
    const found = this.find(Number(id));
    if (!found) return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Repo ${id} does not exist.`);
    switch (req.method) {
      case "GET":
        return sendJson(req.res, 200, this.info(found));
      case "PATCH":
        return this.update(req, found.repo);
      case "DELETE":
        this.workspace.remove(found.path, true);
        this.state.gitFolders.delete(found.repo.id);
        this.state.acls.delete(aclKey("repos", found.repo.id));
        return sendJson(req.res, 200, {});
      default:
        return notImplemented(req.res, req.method, req.url);
    }
  }

  private find(id: number): { repo: GitFolder; path: string } | undefined {
    const repo = this.state.gitFolders.get(id);
    const node = [...this.workspace.nodes].find(([, n]) => n.id === id && n.type === "REPO");
    if (!repo || !node) return undefined;
    return { repo, path: node[0] };
  }

  private info({ repo, path }: { repo: GitFolder; path: string }) {
    return {
      id: repo.id,
      path,
      url: repo.url,
      provider: repo.provider,
      ...(repo.tag ? {} : { branch: repo.branch }),
      head_commit_id: repo.headCommitId,
      ...(repo.sparseCheckout ? { sparse_checkout: { patterns: repo.sparseCheckout } } : {}),
    };
  }

  private commit(url: string, ref: string): string {
    return crypto.createHash("sha1").update(`${url}\n${ref}`).digest("hex");
  }

  private create(req: ApiRequest): boolean {
    const b = jsonBody(req);
    if (!b) return true;
    if (typeof b.url !== "string" || !b.url) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing required field: url");
    const provider = GIT_PROVIDERS.find((p) => p.toLowerCase() === String(b.provider ?? "").toLowerCase());
    if (!provider)
      return apiError(
        req.res,
        400,
        "INVALID_PARAMETER_VALUE",
        `Invalid Git provider: ${JSON.stringify(b.provider ?? null)}; expected one of ${GIT_PROVIDERS.join(", ")}`,
      );
    const repoName = b.url
      .replace(/\/+$/, "")
      .split("/")
      .pop()!
      .replace(/\.git$/, "");
    const path =
      typeof b.path === "string" && b.path
        ? b.path.replace(/^\/Workspace(?=\/)/, "").replace(/\/+$/, "")
        : `/Repos/${req.caller}/${repoName}`;
    if (!path.startsWith("/")) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Path (${path}) is not absolute.`);
    const parent = path.slice(0, path.lastIndexOf("/")) || "/";
    const parentNode = this.workspace.nodes.get(parent);
    // Without a path the clone goes to the caller's /Repos folder, which the service creates on demand.
    if (b.path && (!parentNode || parentNode.type !== "DIRECTORY"))
      return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Parent directory ${parent} does not exist.`);
    if (this.workspace.nodes.has(path)) return apiError(req.res, 400, "RESOURCE_ALREADY_EXISTS", `Path (${path}) already exists.`);
    this.workspace.put(path, "REPO");
    const id = this.workspace.nodes.get(path)!.id;
    const repo: GitFolder = {
      id,
      url: b.url,
      provider,
      branch: this.defaultBranch,
      headCommitId: this.commit(b.url, this.defaultBranch),
      creator: req.caller,
      ...(Array.isArray((b.sparse_checkout as { patterns?: unknown })?.patterns)
        ? { sparseCheckout: (b.sparse_checkout as { patterns: string[] }).patterns }
        : {}),
    };
    this.state.gitFolders.set(id, repo);
    this.state.acls.set(aclKey("repos", id), [{ kind: "user", name: req.caller, level: "CAN_MANAGE" }]);
    return sendJson(req.res, 200, this.info({ repo, path }));
  }

  private update(req: ApiRequest, repo: GitFolder): boolean {
    const b = jsonBody(req);
    if (!b) return true;
    if (b.path !== undefined) return notImplemented(req.res, req.method, req.url, "moving a Git folder (path)");
    if (b.branch !== undefined && b.tag !== undefined)
      return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Only one of branch and tag may be given.");
    for (const k of ["branch", "tag"] as const) {
      if (b[k] !== undefined && (typeof b[k] !== "string" || !(b[k] as string).trim()))
        return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `${k} must be a non-empty string`);
    }
    if (typeof b.branch === "string")
      Object.assign(repo, { branch: b.branch, tag: undefined, headCommitId: this.commit(repo.url, b.branch) });
    if (typeof b.tag === "string")
      Object.assign(repo, { tag: b.tag, branch: undefined, headCommitId: this.commit(repo.url, `tags/${b.tag}`) });
    const patterns = (b.sparse_checkout as { patterns?: unknown } | undefined)?.patterns;
    if (Array.isArray(patterns)) repo.sparseCheckout = patterns.map(String);
    return sendJson(req.res, 200, {});
  }

  private list(req: ApiRequest): boolean {
    const prefix = (req.url.searchParams.get("path_prefix") ?? "").replace(/^\/Workspace(?=\/)/, "");
    const all = [...this.state.gitFolders.values()]
      .map((r) => this.find(r.id))
      .filter((f): f is { repo: GitFolder; path: string } => !!f && f.path.startsWith(prefix))
      .sort((a, b) => a.path.localeCompare(b.path));
    const start = Number(req.url.searchParams.get("next_page_token") ?? 0) || 0;
    const page = all.slice(start, start + 100);
    return sendJson(req.res, 200, {
      repos: page.map((f) => this.info(f)),
      ...(start + 100 < all.length ? { next_page_token: String(start + 100) } : {}),
    });
  }
}
