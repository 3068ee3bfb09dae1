/**
 * The branch-flow guard: fails a merge request whose source/target pair is not a promotion edge.
 * Exit 0: allowed. 1: blocked (prints the allowed targets). 2: usage error.
 * With --close (opt-in) it also closes the violating merge request (GitLab CI) or pull request (GitHub
 * Actions) with a comment listing the allowed targets; the token comes from GITLAB_TOKEN / GITHUB_TOKEN.
 */
import * as fs from "fs";
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { AccessModel } from "../config/schema";
import { allowedTargets, isEdge } from "../plan/flow";
import { gitlabApi } from "../clients/gitlab";
import { githubApi } from "../clients/github";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform branch-flow --source <branch> --target <branch> [--close] [--dir <project dir>]

The merge-request guard: is source -> target an edge of the promotion flow?
  --source   the merge request's source branch
  --target   the merge request's target branch
  --close    also close a violating merge request (GitLab CI) or pull request (GitHub Actions) with a
             comment listing the allowed targets (token from GITLAB_TOKEN / GITHUB_TOKEN)
Exit 0: allowed; 1: blocked; 2: usage error.`;

export interface Verdict {
  allowed: boolean;
  message: string;
}

/**
 * Whether a merge request from `source` into `target` follows the flow. Between environment branches only
 * flow edges are allowed; the development branch also takes merge requests from branches that are not
 * environments (a contributor's own branch).
 */
export function judge(model: AccessModel, source: string, target: string): Verdict {
  const env = (b: string) => model.environments.find((e) => e.name === b);
  const targets = allowedTargets(model.flow, source);
  if (isEdge(model.flow, source, target)) return { allowed: true, message: `allowed: ${source} -> ${target} is a promotion edge` };
  if (!env(source) && env(target)?.tier === "development")
    return { allowed: true, message: `allowed: ${source} is not an environment branch and ${target} is the development branch` };
  const allowed = env(source)
    ? targets.length
      ? targets.join(", ")
      : "none: nothing is promoted out of it"
    : model.environments
        .filter((e) => e.tier === "development")
        .map((e) => e.name)
        .join(", ");
  return {
    allowed: false,
    message: `blocked: ${source} -> ${target} is not in the promotion flow. Allowed targets for ${source}: ${allowed}`,
  };
}

async function closeGitLab(env: NodeJS.ProcessEnv, verdict: Verdict): Promise<void> {
  const need = ["CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "GITLAB_TOKEN"].filter((k) => !env[k]);
  if (need.length) throw new UsageError(`--close in GitLab CI needs ${need.join(", ")}`);
  const api = gitlabApi({ baseUrl: env.CI_API_V4_URL!, project: env.CI_PROJECT_ID!, token: env.GITLAB_TOKEN! });
  const mr = `${api.project}/merge_requests/${env.CI_MERGE_REQUEST_IID}`;
  await api.post(`${mr}/notes`, `merge request !${env.CI_MERGE_REQUEST_IID}`, {
    body: `Closed by the branch-flow guard: ${verdict.message}`,
  });
  await api.put(mr, `merge request !${env.CI_MERGE_REQUEST_IID}`, { state_event: "close" });
}

async function closeGitHub(env: NodeJS.ProcessEnv, verdict: Verdict): Promise<void> {
  const event =
    env.GITHUB_EVENT_PATH && fs.existsSync(env.GITHUB_EVENT_PATH) ? JSON.parse(fs.readFileSync(env.GITHUB_EVENT_PATH, "utf8")) : {};
  const number = event.pull_request?.number ?? env.PR_NUMBER;
  const need = [
    ["GITHUB_REPOSITORY", env.GITHUB_REPOSITORY],
    ["GITHUB_TOKEN", env.GITHUB_TOKEN],
    ["the pull request number", number],
  ]
    .filter(([, v]) => !v)
    .map(([k]) => k);
  if (need.length) throw new UsageError(`--close in GitHub Actions needs ${need.join(", ")}`);
  const api = githubApi({ baseUrl: env.GITHUB_API_URL, token: env.GITHUB_TOKEN!, repository: env.GITHUB_REPOSITORY! });
  await api.commentOnPullRequest(number, `Closed by the branch-flow guard: ${verdict.message}`);
  await api.closePullRequest(number);
}

/** The guard as a function of its arguments and environment, for the CLI and the tests. */
export async function branchFlow(argv: string[], env: NodeJS.ProcessEnv, out: (line: string) => void, dir = projectDir()): Promise<number> {
  const args = parseArgs(argv, ["source", "target", "dir"], ["close"]);
  for (const k of ["source", "target"] as const)
    if (typeof args[k] !== "string" || !args[k]) throw new UsageError(`--${k} <branch> is required`);
  const model = validate(readConfigSources(typeof args.dir === "string" ? args.dir : dir));
  const verdict = judge(model, args.source as string, args.target as string);
  out(verdict.message);
  if (verdict.allowed) return 0;
  if (args.close) {
    if (env.GITLAB_CI) await closeGitLab(env, verdict);
    else if (env.GITHUB_ACTIONS) await closeGitHub(env, verdict);
    else throw new UsageError("--close runs in GitLab CI (GITLAB_CI) or GitHub Actions (GITHUB_ACTIONS)");
    out("closed the merge request with a comment listing the allowed targets");
  }
  return 1;
}

export const command: Command = { name: "branch-flow", usage: USAGE, run: (argv) => branchFlow(argv, process.env, (l) => console.log(l)) };
