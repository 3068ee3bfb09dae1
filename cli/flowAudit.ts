/**
 * The flow audit: what the merge-request jobs cannot prevent, found after the fact. GitLab does not re-run
 * merge-request pipelines when an MR is retargeted, and on Free approvals are optional, so it lists every
 * merged MR into an environment branch that came from a source the flow does not allow, was merged by
 * someone without merge rights there, or lacks the approvals its target needs by someone other than its
 * author (MR approvals API, served on every tier). GitLab only for now.
 */
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { buildAccessPlan } from "../plan/accessPlan";
import { judgeApprovals } from "../plan/fourEyes";
import { gitlabApi } from "../clients/gitlab";
import { judge } from "./branchFlow";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform flow-audit [--since <YYYY-MM-DD>] [--format markdown|json] [--project <id or group/name>] [--api <url>] [--dir <project dir>]

Lists merged merge requests into environment branches that broke the rules: a source outside the
promotion flow, a merge by someone without merge rights, or too few approvals by someone other than the
author. GitLab (token from GITLAB_TOKEN, read_api scope).
  --since     only MRs merged on or after this date (default: all)
  --format    markdown (default) or json
  --project   the GitLab project (default: the configured one)
  --api       the GitLab API root (default: the configured Git URL + /api/v4)
Exit 0: clean; 3: findings; 1: failed; 2: usage error.`;

export interface Finding { iid: number; source: string; target: string; mergedBy: string; mergedAt: string; problems: string[] }
interface MrBody { iid: number; source_branch: string; target_branch: string; author: { username: string } | null; merged_by: { username: string } | null; merge_user?: { username: string } | null; merged_at: string | null }

/** The audit as a function of its arguments and environment, for the CLI and the tests. */
export async function flowAudit(argv: string[], env: NodeJS.ProcessEnv, out: (text: string) => void, dir = projectDir()): Promise<number> {
  const args = parseArgs(argv, ["since", "format", "project", "api", "dir"]);
  const format = (args.format ?? "markdown") as string;
  if (!["markdown", "json"].includes(format)) throw new UsageError(`unknown format '${format}'; expected markdown or json`);
  const since = args.since as string | undefined;
  if (since !== undefined && (!/^\d{4}-\d{2}-\d{2}/.test(since) || Number.isNaN(Date.parse(since)))) throw new UsageError(`--since ${since} is not a date; expected YYYY-MM-DD`);
  const model = validate(readConfigSources(typeof args.dir === "string" ? args.dir : dir));
  const plan = buildAccessPlan(model, model.stacks.find((s) => s.git.ownsProjectSettings)!.name);
  if (plan.git.provider !== "gitlab") throw new UsageError(`flow-audit reads GitLab; the configured Git provider is ${plan.git.provider}`);
  if (!env.GITLAB_TOKEN) throw new UsageError("GITLAB_TOKEN is not set (read_api scope)");
  const api = gitlabApi({ baseUrl: (args.api as string | undefined) ?? `${plan.git.url}/api/v4`, project: (args.project as string | undefined) ?? plan.git.project, token: env.GITLAB_TOKEN });
  const usernameOf = (id: string) => plan.gitMembers.find((m) => m.member === id)!.gitUsername.toLowerCase();
  const findings: Finding[] = [];
  for (const rule of plan.branchRules.filter((b) => b.branch !== "*")) {
    const q = `state=merged&target_branch=${encodeURIComponent(rule.branch)}${since ? `&updated_after=${encodeURIComponent(new Date(since).toISOString())}` : ""}`;
    const mrs = await api.list<MrBody>(`${api.project}/merge_requests?${q}`, `merged merge requests into ${rule.branch}`);
    for (const mr of mrs.filter((m) => !since || (m.merged_at ?? "") >= new Date(since).toISOString())) {
      const problems: string[] = [];
      const flow = judge(model, mr.source_branch, mr.target_branch);
      if (!flow.allowed) problems.push(`source not allowed: ${flow.message.replace(/^blocked: /, "")}`);
      const merger = (mr.merge_user ?? mr.merged_by)?.username ?? "(unknown)";
      if (!rule.mergeMembers.map(usernameOf).includes(merger.toLowerCase())) problems.push(`merged by ${merger}, who has no merge rights on ${rule.branch}`);
      const approvals = await api.get<{ approved_by: { user: { username: string } }[] }>(`${api.project}/merge_requests/${mr.iid}/approvals`, `approvals of merge request !${mr.iid}`);
      const v = judgeApprovals(plan, rule.branch, mr.author?.username ?? "(unknown)", approvals.approved_by.map((a) => a.user.username));
      if (!v.ok) problems.push(v.message);
      if (problems.length) findings.push({ iid: mr.iid, source: mr.source_branch, target: mr.target_branch, mergedBy: merger, mergedAt: mr.merged_at ?? "", problems });
    }
  }
  findings.sort((a, b) => a.iid - b.iid);
  if (format === "json") out(JSON.stringify({ project: plan.git.project, since: since ?? null, findings }, null, 2));
  else out(findings.length === 0
    ? `## Flow audit of ${plan.git.project}${since ? ` since ${since}` : ""}\n\nNo merge broke the rules.\n`
    : [`## Flow audit of ${plan.git.project}${since ? ` since ${since}` : ""}`, "", "| MR | source -> target | merged by | merged at | problems |", "|---|---|---|---|---|",
      ...findings.map((f) => `| !${f.iid} | ${f.source} -> ${f.target} | ${f.mergedBy} | ${f.mergedAt} | ${f.problems.join("; ").replace(/\|/g, "\\|")} |`), ""].join("\n"));
  return findings.length ? 3 : 0;
}

export const command: Command = { name: "flow-audit", usage: USAGE, run: (argv) => flowAudit(argv, process.env, (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`)) };
