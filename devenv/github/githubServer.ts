/**
 * An in-process stand-in for the GitHub REST API (2022-11-28) endpoints quant-platform calls, with GitHub's
 * documented fields, status codes, `{message, documentation_url}` error bodies and Link-header pagination:
 * - GET   /repos/{owner}/{repo}/pulls?state&base&sort&direction&per_page&page (pull-request-simple: no merged_by)
 * - GET   /repos/{owner}/{repo}/pulls/{n}            (the full pull request: merged, merged_by)
 * - GET   /repos/{owner}/{repo}/pulls/{n}/reviews    (oldest first)
 * - PATCH /repos/{owner}/{repo}/pulls/{n}            ({state: "closed"})
 * - POST  /repos/{owner}/{repo}/issues/{n}/comments  (201)
 * With an organization (`organization(login)`), also what pulumi-resource-github calls for teams, team
 * memberships, team repositories, repositories, collaborators and rulesets (./githubOrgApi). Served at the root
 * and under /api/v3 (GitHub Enterprise Server's path, where the provider's `baseUrl` points). A route it does not
 * implement answers 501 and is recorded in `unimplemented`, so a test fails loudly instead of passing on a guess.
 * Listens on loopback only, over HTTPS when given a certificate. Faults (a status for the next requests) can be queued.
 */
import * as http from "http";
import { gitContractRefusal } from "../databricks/sdkContract";
import * as https from "https";
import { closeServer, listenLoopback, randomSha } from "../loopback";
import { GitHubOrganization } from "./githubOrgApi";
import { atLeast, mayMerge, mayPush, permissionOf } from "./githubRules";

export interface StandInReview {
  user: string;
  state: "APPROVED" | "CHANGES_REQUESTED" | "COMMENTED" | "DISMISSED" | "PENDING";
  submitted_at: string;
  /** The review's text (a consumer's sign-off names the version and its validation run there). */
  body?: string;
}
export interface StandInPull {
  number: number;
  state: "open" | "closed";
  user: string;
  head: string;
  base: string;
  updated_at: string;
  /** Set when merged; a closed pull request without it was closed unmerged. */
  merged_at?: string;
  merged_by?: string;
  reviews: StandInReview[];
  comments: { user: string; body: string }[];
  /** The description. */
  body?: string;
  /** Who pushed the head's last commit (require_last_push_approval reads it). */
  lastPusher?: string;
  /** The head commit when it was merged or closed (while open, the head branch's). */
  headSha?: string;
  /** The merge commit, once merged. */
  mergeSha?: string;
}

/** A repository's Git state: branch heads, who pushed each commit, and each commit's statuses (context -> state). */
export interface StandInGit {
  defaultBranch: string;
  branches: Map<string, string>;
  commits: Map<string, { pusher: string; message: string }>;
  statuses: Map<string, Map<string, string>>;
}

/**
 * The repository's pull request checks: the statuses the product's workflows report for a pull request's head
 * (context and state), run as GitHub Actions would run them on `pull_request`.
 */
export type PullRequestCi = (ctx: {
  repo: string;
  number: number;
  head: string;
  base: string;
  sha: string;
}) => Promise<{ context: string; state: "success" | "failure"; description: string }[]>;
export interface StandInRequest {
  method: string;
  path: string;
  auth: string | undefined;
  body: unknown;
}

const DOCS = "https://docs.github.com/rest";

export class GitHubTestServer {
  /** token -> the login it acts as. */
  readonly tokens = new Map<string, string>();
  readonly repos = new Map<string, Map<number, StandInPull>>();
  readonly git = new Map<string, StandInGit>();
  /** Runs the checks of a pull request's head; without it pull requests get no statuses. */
  ci?: PullRequestCi;
  readonly requests: StandInRequest[] = [];
  /** `METHOD path` of every request no route here serves (answered 501). */
  readonly unimplemented: string[] = [];
  org?: GitHubOrganization;
  private faults: { status: number; times: number }[] = [];
  private server?: http.Server;
  url = "";

  /** A repository (`owner/name`) and its pull requests. */
  addRepo(fullName: string): Map<number, StandInPull> {
    const pulls = new Map<number, StandInPull>();
    this.repos.set(fullName.toLowerCase(), pulls);
    this.git.set(fullName.toLowerCase(), { defaultBranch: "main", branches: new Map(), commits: new Map(), statuses: new Map() });
    return pulls;
  }

  /** A commit made directly on `branch` (history that was there before the test). */
  commit(fullName: string, branch: string, message: string, pusher = "history"): string {
    const g = this.git.get(fullName.toLowerCase())!;
    const sha = randomSha();
    g.commits.set(sha, { pusher, message });
    g.branches.set(branch, sha);
    return sha;
  }

  /** Serves an organization `login` (its teams and repositories) from now on. */
  organization(login: string): GitHubOrganization {
    this.org = new GitHubOrganization(login, () => `${this.url}/api/v3`);
    return this.org;
  }

  /** Answers the next `times` requests with `status` (429 carries Retry-After: 0). */
  fail(status: number, times = 1): void {
    this.faults.push({ status, times });
  }

  async start(tls?: { key: string; cert: string }): Promise<string> {
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => this.handle(req, res, Buffer.concat(chunks).toString("utf8")));
    };
    this.server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
    const base = await listenLoopback(this.server);
    this.url = tls ? base.replace(/^http:/, "https:") : base;
    return this.url;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": String(Buffer.byteLength(text)),
      ...headers,
    });
    res.end(text);
  }

  private error(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
    this.send(res, status, { message, documentation_url: DOCS, status: String(status) }, headers);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, text: string): void {
    const outside = gitContractRefusal("github", req);
    if (outside) return this.error(res, 501, outside);
    const url = new URL(req.url ?? "/", this.url);
    url.pathname = url.pathname.replace(/^\/api\/v3(?=\/)/, "");
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return this.error(res, 400, "Problems parsing JSON");
    }
    this.requests.push({ method: req.method ?? "GET", path: `${url.pathname}${url.search}`, auth: req.headers.authorization, body });
    const fault = this.faults[0];
    if (fault) {
      if (--fault.times <= 0) this.faults.shift();
      return this.error(
        res,
        fault.status,
        fault.status === 429 ? "API rate limit exceeded" : "Server Error",
        fault.status === 429 ? { "Retry-After": "0" } : {},
      );
    }
    const token = /^(?:Bearer|token) (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (!token) return this.error(res, 401, "Requires authentication");
    const login = this.tokens.get(token);
    if (!login) return this.error(res, 401, "Bad credentials");

    const method0 = req.method ?? "GET";
    const gitReply = this.gitRoutes(method0, url.pathname, body, login);
    if (gitReply) return this.send(res, gitReply.status, gitReply.body);
    const orgReply = this.org?.handle(method0, url.pathname, url.searchParams, body, login);
    if (orgReply) return this.send(res, orgReply.status, orgReply.body);
    const m = /^\/repos\/([^/]+\/[^/]+)\/(pulls|issues)(?:\/(\d+)(?:\/(reviews|comments))?)?$/.exec(url.pathname);
    if (!m) {
      this.unimplemented.push(`${method0} ${url.pathname}`);
      return this.error(res, 501, `Not Implemented by the GitHub test server: ${method0} ${url.pathname}`);
    }
    const pulls = this.repos.get(m[1].toLowerCase());
    if (!pulls) return this.error(res, 404, "Not Found");
    const [, repo, kind, num, sub] = m;
    const pull = num ? pulls.get(Number(num)) : undefined;
    if (num && !pull) return this.error(res, 404, "Not Found");
    const method = req.method ?? "GET";

    if (kind === "pulls" && !num && method === "GET") return this.listPulls(res, url, repo, pulls);
    if (kind === "pulls" && pull && !sub && method === "GET") return this.send(res, 200, this.full(repo, pull));
    if (kind === "pulls" && pull && sub === "reviews" && method === "GET") {
      const reviews = pull.reviews.map((r, i) => ({
        id: pull.number * 1000 + i,
        user: { login: r.user, type: "User" },
        state: r.state,
        submitted_at: r.submitted_at,
        body: r.body ?? "",
      }));
      return this.page(res, url, reviews);
    }
    if (kind === "pulls" && pull && !sub && method === "PATCH") {
      const state = (body as { state?: string } | undefined)?.state;
      if (state !== undefined && state !== "open" && state !== "closed")
        return this.send(res, 422, {
          message: "Validation Failed",
          errors: [{ resource: "PullRequest", field: "state", code: "invalid" }],
          documentation_url: DOCS,
        });
      if (state) pull.state = state;
      pull.updated_at = new Date().toISOString();
      return this.send(res, 200, this.full(repo, pull));
    }
    if (kind === "issues" && pull && sub === "comments" && method === "POST") {
      const b = (body as { body?: unknown } | undefined)?.body;
      if (typeof b !== "string")
        return this.send(res, 422, {
          message: "Validation Failed",
          errors: [{ resource: "IssueComment", field: "body", code: "missing_field" }],
          documentation_url: DOCS,
        });
      pull.comments.push({ user: login, body: b });
      return this.send(res, 201, { id: pull.comments.length, body: b, user: { login } });
    }
    return this.error(res, 404, "Not Found");
  }

  /**
   * Pushes (the contents API, new refs), pull requests opened, reviewed and merged, and commit statuses: each
   * checked by ./githubRules against the organization's teams and the repository's rulesets.
   */
  private gitRoutes(method: string, pathname: string, body: unknown, login: string): { status: number; body?: unknown } | undefined {
    const m =
      /^\/repos\/([^/]+\/[^/]+)\/(contents\/.+|git\/refs|git\/refs\/heads\/.+|commits\/[0-9a-f]+(?:\/status|\/pulls)?|statuses\/[0-9a-f]+|pulls|pulls\/\d+\/(?:reviews|merge)|branches\/[^/]+)$/.exec(
        pathname,
      );
    if (!m) return undefined;
    const full = m[1].toLowerCase();
    const g = this.git.get(full);
    const repo = this.org?.repos.get(full);
    const pulls = this.repos.get(full);
    if (!g || !repo || !pulls) return undefined;
    const b = (body ?? {}) as Record<string, any>;
    const fail = (status: number, message: string, errors?: unknown[]) => ({
      status,
      body: { message, ...(errors ? { errors } : {}), documentation_url: DOCS, status: String(status) },
    });
    const [, , what] = m;
    const sha = randomSha;
    const pushTo = (branch: string, message: string): string => {
      const next = sha();
      g.commits.set(next, { pusher: login, message });
      g.branches.set(branch, next);
      // A push to an open pull request's head: its last pusher, and its statuses run again for the new head.
      for (const pr of pulls.values())
        if (pr.state === "open" && pr.head === branch) {
          pr.lastPusher = login;
          this.runChecks(m[1], pr);
        }
      return next;
    };

    if (what.startsWith("branches/") && method === "GET") {
      const name = decodeURIComponent(what.slice("branches/".length));
      const head = g.branches.get(name);
      return head ? { status: 200, body: { name, commit: { sha: head }, protected: false } } : fail(404, "Branch not found");
    }
    if (what.startsWith("contents/") && method === "PUT") {
      // PUT /repos/{o}/{r}/contents/{path}: creates or updates a file with a commit on `branch` (default branch if absent).
      if (typeof b.message !== "string" || typeof b.content !== "string")
        return fail(422, "Invalid request.", [`"${typeof b.message !== "string" ? "message" : "content"}" wasn't supplied.`]);
      const branch = b.branch ?? g.defaultBranch;
      if (!g.branches.has(branch)) return fail(404, `Branch ${branch} not found`);
      const v = mayPush(this.org!, repo, login, { branch, creating: false, force: false, defaultBranch: g.defaultBranch });
      if (!v.ok) return fail(v.status, v.message);
      const commit = pushTo(branch, b.message);
      const path = decodeURIComponent(what.slice("contents/".length));
      return {
        status: 201,
        body: { content: { name: path.split("/").pop(), path, sha: sha(), type: "file" }, commit: { sha: commit, message: b.message } },
      };
    }
    if (what === "git/refs" && method === "POST") {
      // POST /repos/{o}/{r}/git/refs: a new branch is a push that creates the ref.
      const ref = String(b.ref ?? "");
      if (!ref.startsWith("refs/heads/") || !b.sha) return fail(422, "Reference update failed");
      const branch = ref.slice("refs/heads/".length);
      if (g.branches.has(branch)) return fail(422, "Reference already exists");
      if (!g.commits.has(b.sha)) return fail(422, "Object does not exist");
      const v = mayPush(this.org!, repo, login, { branch, creating: true, force: false, defaultBranch: g.defaultBranch });
      if (!v.ok) return fail(422, v.message);
      g.branches.set(branch, b.sha);
      return { status: 201, body: { ref, object: { sha: b.sha, type: "commit" } } };
    }
    if (what.startsWith("git/refs/heads/") && method === "PATCH") {
      // PATCH /repos/{o}/{r}/git/refs/heads/{branch} {sha, force}: moving a branch; with force, a force push.
      const branch = decodeURIComponent(what.slice("git/refs/heads/".length));
      if (!g.branches.has(branch)) return fail(422, "Reference does not exist");
      if (!g.commits.has(b.sha)) return fail(422, "Object does not exist");
      const v = mayPush(this.org!, repo, login, { branch, creating: false, force: Boolean(b.force), defaultBranch: g.defaultBranch });
      if (!v.ok) return fail(422, v.message);
      g.branches.set(branch, b.sha);
      return { status: 200, body: { ref: `refs/heads/${branch}`, object: { sha: b.sha, type: "commit" } } };
    }
    if (what.startsWith("commits/") && what.endsWith("/pulls") && method === "GET") {
      // GET /repos/{o}/{r}/commits/{sha}/pulls: the pull requests that merged the commit, or whose head it is.
      const commit = what.split("/")[1];
      const list = [...pulls.values()].filter(
        (p) => p.mergeSha === commit || (p.headSha ?? (p.state === "open" ? g.branches.get(p.head) : undefined)) === commit,
      );
      return { status: 200, body: list.sort((x, y) => y.number - x.number).map((p) => this.simple(m[1], p)) };
    }
    if (what.startsWith("commits/") && method === "GET") {
      // GET /repos/{o}/{r}/commits/{sha}[/status]: the commit, or its combined status.
      const [, commit, status] = what.split("/");
      if (!g.commits.has(commit)) return fail(422, "No commit found for SHA: " + commit);
      const url = `${this.url}/api/v3/repos/${m[1]}/commits/${commit}`;
      if (!status) return { status: 200, body: { sha: commit, url, commit: { message: g.commits.get(commit)!.message } } };
      const list = [...(g.statuses.get(commit) ?? new Map<string, string>())].map(([context, state]) => ({ context, state }));
      const state = list.some((x) => x.state === "failure" || x.state === "error")
        ? "failure"
        : list.length && list.every((x) => x.state === "success")
          ? "success"
          : "pending";
      return { status: 200, body: { state, sha: commit, total_count: list.length, statuses: list, commit_url: url, url: `${url}/status` } };
    }
    if (what.startsWith("statuses/") && method === "POST") {
      const commit = what.slice("statuses/".length);
      if (!g.commits.has(commit)) return fail(422, "No commit found for SHA: " + commit);
      if (!["error", "failure", "pending", "success"].includes(b.state))
        return fail(422, "Validation Failed", [{ resource: "Status", field: "state", code: "invalid" }]);
      if (!atLeast(permissionOf(this.org!, repo, login), "push")) return fail(403, "Resource not accessible by personal access token");
      const statuses = g.statuses.get(commit) ?? new Map<string, string>();
      statuses.set(b.context ?? "default", b.state);
      g.statuses.set(commit, statuses);
      return { status: 201, body: { state: b.state, context: b.context ?? "default" } };
    }
    if (what === "pulls" && method === "POST") {
      // POST /repos/{o}/{r}/pulls: head and base must exist and differ; one open pull request per head and base.
      const errors = [
        ...(!g.branches.has(b.head) ? [{ resource: "PullRequest", field: "head", code: "invalid" }] : []),
        ...(!g.branches.has(b.base) ? [{ resource: "PullRequest", field: "base", code: "invalid" }] : []),
      ];
      if (typeof b.title !== "string" || !b.title) errors.push({ resource: "PullRequest", field: "title", code: "missing_field" });
      if (errors.length) return fail(422, "Validation Failed", errors);
      if (b.head === b.base)
        return fail(422, "Validation Failed", [
          { resource: "PullRequest", code: "custom", message: `No commits between ${b.base} and ${b.head}` },
        ]);
      if ([...pulls.values()].some((p) => p.state === "open" && p.head === b.head && p.base === b.base))
        return fail(422, "Validation Failed", [
          { resource: "PullRequest", code: "custom", message: `A pull request already exists for ${repo.owner}:${b.head}.` },
        ]);
      const number = Math.max(0, ...pulls.keys()) + 1;
      const pr: StandInPull = {
        number,
        state: "open",
        user: login,
        head: b.head,
        base: b.base,
        updated_at: new Date().toISOString(),
        reviews: [],
        comments: [],
        body: b.body ?? undefined,
        lastPusher: g.commits.get(g.branches.get(b.head)!)?.pusher,
      };
      pulls.set(number, pr);
      this.runChecks(m[1], pr);
      return { status: 201, body: this.full(m[1], pr) };
    }
    const num = /^pulls\/(\d+)\/(reviews|merge)$/.exec(what);
    if (!num) return undefined;
    const pr = pulls.get(Number(num[1]));
    if (!pr) return fail(404, "Not Found");
    if (num[2] === "reviews" && method === "POST") {
      // POST /pulls/{n}/reviews: an author cannot approve or request changes on their own pull request.
      const event = b.event as string | undefined;
      if (pr.state !== "open") return fail(422, "Unprocessable Entity", ["Pull request is closed"]);
      if (event && event !== "COMMENT" && login.toLowerCase() === pr.user.toLowerCase())
        return fail(422, "Unprocessable Entity", [
          `Review Can not ${event === "APPROVE" ? "approve" : "request changes on"} your own pull request`,
        ]);
      const state =
        event === "APPROVE"
          ? "APPROVED"
          : event === "REQUEST_CHANGES"
            ? "CHANGES_REQUESTED"
            : event === "COMMENT"
              ? "COMMENTED"
              : "PENDING";
      pr.reviews.push({ user: login, state, submitted_at: new Date().toISOString(), body: b.body ?? "" });
      return {
        status: 200,
        body: {
          id: pr.number * 1000 + pr.reviews.length - 1,
          user: { login, type: "User" },
          state,
          body: b.body ?? "",
          commit_id: g.branches.get(pr.head),
        },
      };
    }
    if (num[2] === "merge" && method === "PUT") {
      if (pr.state !== "open") return fail(405, "Pull Request is not mergeable");
      const head = g.branches.get(pr.head)!;
      if (b.sha !== undefined && b.sha !== head) return fail(409, "Head branch was modified. Review and try the merge again.");
      const v = mayMerge(
        this.org!,
        repo,
        login,
        {
          author: pr.user,
          base: pr.base,
          reviews: pr.reviews,
          lastPusher: pr.lastPusher,
          statuses: g.statuses.get(head) ?? new Map(),
        },
        g.defaultBranch,
      );
      if (!v.ok) return fail(v.status, v.message);
      const merged = sha();
      g.commits.set(merged, { pusher: login, message: `Merge pull request #${pr.number}` });
      g.branches.set(pr.base, merged);
      Object.assign(pr, {
        state: "closed",
        merged_at: new Date().toISOString(),
        merged_by: login,
        headSha: head,
        mergeSha: merged,
        updated_at: new Date().toISOString(),
      });
      return { status: 200, body: { sha: merged, merged: true, message: "Pull Request successfully merged" } };
    }
    return undefined;
  }

  /** Runs the repository's checks on a pull request's head and records them as commit statuses. */
  private runChecks(repo: string, pr: StandInPull): void {
    const g = this.git.get(repo.toLowerCase())!;
    const head = g.branches.get(pr.head);
    if (!this.ci || !head) return;
    // A new run of the checks: what they reported on this head before is pending again until they end.
    for (const context of g.statuses.get(head)?.keys() ?? []) g.statuses.get(head)!.set(context, "pending");
    this.ci({ repo, number: pr.number, head: pr.head, base: pr.base, sha: head }).then(
      (checks) => {
        const statuses = g.statuses.get(head) ?? new Map<string, string>();
        for (const c of checks) statuses.set(c.context, c.state);
        g.statuses.set(head, statuses);
      },
      () => undefined,
    );
  }

  private simple(repo: string, p: StandInPull) {
    const g = this.git.get(repo.toLowerCase());
    const sha = p.headSha ?? g?.branches.get(p.head) ?? null;
    return {
      url: `${this.url}/api/v3/repos/${repo}/pulls/${p.number}`,
      issue_url: `${this.url}/api/v3/repos/${repo}/issues/${p.number}`,
      number: p.number,
      state: p.state,
      user: { login: p.user, type: "User" },
      head: { ref: p.head, label: `${repo.split("/")[0]}:${p.head}`, sha },
      base: { ref: p.base, label: `${repo.split("/")[0]}:${p.base}`, sha: g?.branches.get(p.base) ?? null },
      updated_at: p.updated_at,
      closed_at: p.state === "closed" ? p.updated_at : null,
      merged_at: p.merged_at ?? null,
      body: p.body ?? null,
    };
  }

  private full(repo: string, p: StandInPull) {
    return {
      ...this.simple(repo, p),
      merged: !!p.merged_at,
      merged_by: p.merged_by ? { login: p.merged_by, type: "User" } : null,
      merge_commit_sha: p.mergeSha ?? null,
    };
  }

  private listPulls(res: http.ServerResponse, url: URL, repo: string, pulls: Map<number, StandInPull>): void {
    const state = url.searchParams.get("state") ?? "open";
    const base = url.searchParams.get("base");
    const sort = url.searchParams.get("sort") ?? "created";
    const desc = (url.searchParams.get("direction") ?? "desc") === "desc";
    const rows = [...pulls.values()]
      .filter((p) => (state === "all" || p.state === state) && (!base || p.base === base))
      .sort((a, b) => (sort === "updated" ? a.updated_at.localeCompare(b.updated_at) : a.number - b.number) * (desc ? -1 : 1));
    this.page(
      res,
      url,
      rows.map((p) => this.simple(repo, p)),
    );
  }

  /** One page of `rows` (per_page default 30, at most 100) with GitHub's Link header. */
  private page(res: http.ServerResponse, url: URL, rows: unknown[]): void {
    const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? 30));
    const page = Math.max(1, Number(url.searchParams.get("page") ?? 1));
    const last = Math.max(1, Math.ceil(rows.length / perPage));
    const link = (n: number, rel: string) => {
      const u = new URL(url.toString());
      u.searchParams.set("page", String(n));
      return `<${this.url}${u.pathname}${u.search}>; rel="${rel}"`;
    };
    const links = [
      ...(page < last ? [link(page + 1, "next"), link(last, "last")] : []),
      ...(page > 1 ? [link(1, "first"), link(page - 1, "prev")] : []),
    ];
    this.send(res, 200, rows.slice((page - 1) * perPage, page * perPage), links.length ? { Link: links.join(", ") } : {});
  }
}
