/**
 * The team repository's merge request and pull request checks on the Git test servers: the product's own
 * branch-flow guard, run as ci/gitlab/branch-flow.yml runs it in GitLab CI (the same command, with the merge
 * request's CI_* variables) and as the GitHub workflow reports it (a status named `branch-flow` on the head), so
 * that "pipelines must succeed" and required status checks block what the guard fails.
 */
import { branchFlow } from "../cli/branchFlow";
import { MergeRequestCi } from "./gitlab/gitlabServer";
import { PullRequestCi } from "./github/githubServer";

/** The guard's verdict on source -> target, and what it printed. */
async function guard(
  projectDir: string,
  source: string,
  target: string,
  env: Record<string, string>,
): Promise<{ passed: boolean; log: string }> {
  const log: string[] = [];
  const code = await branchFlow(["--source", source, "--target", target], { ...env }, (l) => log.push(l), projectDir).catch(
    (e: Error) => (log.push(e.message), 2),
  );
  return { passed: code === 0, log: log.join("\n") };
}

export function productCi(projectDir: string): MergeRequestCi {
  return async ({ source, target, env }) => {
    const g = await guard(projectDir, source, target, env);
    return [{ name: "branch-flow", status: g.passed ? "success" : "failed", log: g.log }];
  };
}

export function productChecks(projectDir: string, context = "branch-flow"): PullRequestCi {
  return async ({ head, base }) => {
    const g = await guard(projectDir, head, base, { GITHUB_ACTIONS: "true" });
    return [{ context, state: g.passed ? "success" : "failure", description: g.log.slice(0, 140) }];
  };
}
