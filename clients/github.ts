/**
 * The few GitHub REST calls the tools make (comment on and close a pull request; read merged pull requests
 * and their reviews for the flow audit), with the shared retry
 * policy and error parser of ./http. GitHub errors are `{message, documentation_url}`.
 */
import { DEFAULT_RETRY, Describe, jsonCall, RetryPolicy, withRetry } from "./http";

export interface GitHubApiOptions {
  /** The REST API root; https://api.github.com unless GitHub Enterprise (GITHUB_API_URL in Actions). */
  baseUrl?: string;
  token: string;
  /** owner/name */
  repository: string;
  retry?: RetryPolicy;
}

const HINTS: Record<number, string> = {
  401: "the token is missing or expired: set GITHUB_TOKEN",
  403: "the token lacks permission: the workflow needs `permissions: pull-requests: write` (and issues: write for the comment)",
  404: "it does not exist, or the token cannot see the repository",
  422: "GitHub rejected the values sent",
};

/** A client scoped to one repository. */
export function githubApi(o: GitHubApiOptions) {
  const root = (o.baseUrl ?? "https://api.github.com").replace(/\/+$/, "");
  const headers = { Authorization: `Bearer ${o.token}`, Accept: "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28" };
  const call = <T>(method: string, path: string, what: string, body?: unknown) => {
    const describe: Describe = (f) =>
      `GitHub ${method} ${path} for ${what} of ${o.repository} failed: ${f.status ? `${f.status} ${f.message}${HINTS[f.status] ? `; ${HINTS[f.status]}` : ""}` : f.message}`;
    return withRetry(
      o.retry ?? DEFAULT_RETRY,
      async () => (await jsonCall<T>(method, `${root}/repos/${o.repository}${path}`, headers, body, describe)).body,
    );
  };
  /** Every page of a list, following the Link header's rel="next"; `stop` ends paging early after a page. */
  const list = async <T>(path: string, what: string, stop?: (page: T[]) => boolean): Promise<T[]> => {
    const out: T[] = [];
    let next: string | undefined = `${root}/repos/${o.repository}${path}${path.includes("?") ? "&" : "?"}per_page=100`;
    while (next) {
      const url: string = next;
      const describe: Describe = (f) =>
        `GitHub GET ${path} for ${what} of ${o.repository} failed: ${f.status ? `${f.status} ${f.message}${HINTS[f.status] ? `; ${HINTS[f.status]}` : ""}` : f.message}`;
      const res = await withRetry(o.retry ?? DEFAULT_RETRY, () => jsonCall<T[]>("GET", url, headers, undefined, describe));
      out.push(...res.body);
      next = stop?.(res.body) ? undefined : /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
    }
    return out;
  };
  return {
    /** A comment on a pull request (pull requests are issues to the comments API). */
    commentOnPullRequest: (number: number | string, body: string) =>
      call("POST", `/issues/${number}/comments`, `pull request #${number}`, { body }),
    closePullRequest: (number: number | string) => call("PATCH", `/pulls/${number}`, `pull request #${number}`, { state: "closed" }),
    /**
     * Closed pull requests into `base`, most recently updated first; paging stops once a whole page was
     * last updated before `updatedSince` (a merge updates a pull request, so nothing later is older).
     */
    closedPullRequests: (base: string, updatedSince?: string) =>
      list<GitHubPullRequestSimple>(
        `/pulls?state=closed&base=${encodeURIComponent(base)}&sort=updated&direction=desc`,
        `closed pull requests into ${base}`,
        (page) => page.length === 0 || (updatedSince !== undefined && page.every((p) => p.updated_at < updatedSince)),
      ),
    /** One pull request in full: the list omits who merged it. */
    pullRequest: (number: number) => call<GitHubPullRequest>("GET", `/pulls/${number}`, `pull request #${number}`),
    /** The reviews of a pull request, oldest first. */
    reviews: (number: number) => list<GitHubReview>(`/pulls/${number}/reviews`, `reviews of pull request #${number}`),
    /** The pull requests a commit belongs to (`GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls`): merged ones have merged_at. */
    commitPullRequests: (sha: string) =>
      list<GitHubPullRequestSimple>(`/commits/${encodeURIComponent(sha)}/pulls`, `pull requests of commit ${sha.slice(0, 12)}`),
  };
}

interface GitHubUser {
  login: string;
}
/** The fields of a listed pull request (`pull-request-simple`) the tools read. */
export interface GitHubPullRequestSimple {
  number: number;
  state: string;
  user: GitHubUser | null;
  head: { ref: string };
  base: { ref: string };
  updated_at: string;
  merged_at: string | null;
  /** The description: where a consumer's sign-off may name the version and its validation run. */
  body?: string | null;
}
/** A pull request in full: also who merged it. */
export interface GitHubPullRequest extends GitHubPullRequestSimple {
  merged: boolean;
  merged_by: GitHubUser | null;
}
export interface GitHubReview {
  id: number;
  user: GitHubUser | null;
  state: string;
  submitted_at?: string;
  body?: string | null;
}

/** The REST API root for a GitHub web root: api.github.com for github.com, `<root>/api/v3` for GitHub Enterprise Server. */
export function githubApiRoot(webUrl: string): string {
  const u = new URL(webUrl);
  return u.hostname === "github.com" || u.hostname === "www.github.com" ? "https://api.github.com" : `${u.origin}/api/v3`;
}
