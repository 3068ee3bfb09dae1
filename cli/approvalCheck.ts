/**
 * The four-eyes job for GitLab Free, where approvals are optional and anyone with merge rights can merge
 * without one: it passes only when the merge request has enough approvals, read from the MR approvals API
 * (which every tier serves), by members the plan lets approve merges into the target branch, none of them
 * the author; into a production branch with a sign-off rule (a managed model names validation signers),
 * also an approval by a signer who is not the author, as Premium's second approval rule asks. With
 * "pipelines must succeed" declared by the branch policy, the merge waits for it; re-run the job after
 * approving and it reads the current approvals.
 */
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { buildAccessPlan } from "../plan/accessPlan";
import { judgeApprovals } from "../plan/fourEyes";
import { gitlabApi } from "../clients/gitlab";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform approval-check [--mr <iid>] [--project <id or group/name>] [--api <url>] [--dir <project dir>]

Passes when the merge request has the approvals its target branch needs, by members allowed to approve
there who are not its author (approvers and counts from the plan, approvals from the MR approvals API),
and, into a production branch when a model names validation signers, the consumer sign-off: an approval
by a member of a signer role who is not its author.
  --mr        the merge request IID (default: CI_MERGE_REQUEST_IID)
  --project   the GitLab project (default: CI_PROJECT_ID)
  --api       the GitLab API root (default: CI_API_V4_URL, else the configured Git URL + /api/v4)
  --dir       the quant-platform project folder (default: this project)
The token comes from GITLAB_TOKEN (read_api scope is enough).
Exit 0: approved; 1: not approved (or GitLab failed); 2: usage error.`;

interface MrBody {
  iid: number;
  target_branch: string;
  source_branch: string;
  author: { username: string } | null;
}
interface ApprovalsBody {
  approved_by: { user: { username: string } }[];
}

/** The check as a function of its arguments and environment, for the CLI and the tests. */
export async function approvalCheck(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
  dir = projectDir(),
): Promise<number> {
  const args = parseArgs(argv, ["mr", "project", "api", "dir"]);
  const model = validate(readConfigSources(typeof args.dir === "string" ? args.dir : dir));
  const owner = model.stacks.find((s) => s.git.ownsProjectSettings)!;
  const plan = buildAccessPlan(model, owner.name);
  const iid = (args.mr as string | undefined) ?? env.CI_MERGE_REQUEST_IID;
  const project = (args.project as string | undefined) ?? env.CI_PROJECT_ID ?? plan.git.project;
  const baseUrl = (args.api as string | undefined) ?? env.CI_API_V4_URL ?? `${plan.git.url}/api/v4`;
  if (!iid || !/^\d+$/.test(iid)) throw new UsageError("--mr <iid> is required outside a merge-request pipeline (CI_MERGE_REQUEST_IID)");
  if (!env.GITLAB_TOKEN) throw new UsageError("GITLAB_TOKEN is not set: add it as a masked CI/CD variable (read_api scope)");
  const api = gitlabApi({ baseUrl, project, token: env.GITLAB_TOKEN });
  const mrPath = `${api.project}/merge_requests/${iid}`;
  const mr = await api.get<MrBody>(mrPath, `merge request !${iid}`);
  const approvals = await api.get<ApprovalsBody>(`${mrPath}/approvals`, `approvals of merge request !${iid}`);
  if (!mr.author)
    throw new Error(`merge request !${iid} of project ${project} has no author in GitLab's answer; cannot judge its approvals`);
  const verdict = judgeApprovals(
    plan,
    mr.target_branch,
    mr.author.username,
    approvals.approved_by.map((a) => a.user.username),
  );
  out(`!${iid} ${mr.source_branch} -> ${mr.target_branch}: ${verdict.message}`);
  return verdict.ok ? 0 : 1;
}

export const command: Command = {
  name: "approval-check",
  usage: USAGE,
  run: (argv) => approvalCheck(argv, process.env, (l) => console.log(l)),
};
