/**
 * The few GitHub REST calls the tools make (comment on and close a pull request), with the shared retry
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
    const describe: Describe = (f) => `GitHub ${method} ${path} for ${what} of ${o.repository} failed: ${f.status ? `${f.status} ${f.message}${HINTS[f.status] ? `; ${HINTS[f.status]}` : ""}` : f.message}`;
    return withRetry(o.retry ?? DEFAULT_RETRY, async () => (await jsonCall<T>(method, `${root}/repos/${o.repository}${path}`, headers, body, describe)).body);
  };
  return {
    /** A comment on a pull request (pull requests are issues to the comments API). */
    commentOnPullRequest: (number: number | string, body: string) =>
      call("POST", `/issues/${number}/comments`, `pull request #${number}`, { body }),
    closePullRequest: (number: number | string) =>
      call("PATCH", `/pulls/${number}`, `pull request #${number}`, { state: "closed" }),
  };
}

export type GitHubApi = ReturnType<typeof githubApi>;
