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
import * as https from "https";
import { closeServer, listenLoopback } from "./loopback";
import { GitHubOrganization } from "./githubOrgApi";

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
}
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
    return pulls;
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

  private simple(repo: string, p: StandInPull) {
    return {
      url: `${this.url}/repos/${repo}/pulls/${p.number}`,
      number: p.number,
      state: p.state,
      user: { login: p.user, type: "User" },
      head: { ref: p.head, label: `${repo.split("/")[0]}:${p.head}` },
      base: { ref: p.base, label: `${repo.split("/")[0]}:${p.base}` },
      updated_at: p.updated_at,
      closed_at: p.state === "closed" ? p.updated_at : null,
      merged_at: p.merged_at ?? null,
      body: p.body ?? null,
    };
  }

  private full(repo: string, p: StandInPull) {
    return { ...this.simple(repo, p), merged: !!p.merged_at, merged_by: p.merged_by ? { login: p.merged_by, type: "User" } : null };
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
