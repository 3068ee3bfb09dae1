/**
 * The flow audit: what the merge-request jobs cannot prevent, found after the fact. GitLab does not re-run
 * merge-request pipelines when an MR is retargeted, and on Free approvals are optional; on GitHub a
 * retargeted pull request's branch-flow check is re-run only if the workflow listens for `edited`, and
 * rulesets can be edited or bypassed by an organization owner. So it lists every merged MR / PR into an
 * environment branch that came from a source the flow does not allow, was merged by someone without merge
 * rights there, or lacks the approvals its target needs by someone other than its author (GitLab: the MR
 * approvals API, served on every tier; GitHub: each reviewer's latest review).
 */
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { AccessModel } from "../config/schema";
import { AccessPlan, BranchRuleEntry, buildAccessPlan } from "../plan/accessPlan";
import { approvalsFromReviews, judgeApprovals, mayMerge } from "../plan/fourEyes";
import { gitlabApi } from "../clients/gitlab";
import { githubApi, githubApiRoot } from "../clients/github";
import { judge } from "./branchFlow";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform flow-audit [--since <YYYY-MM-DD>] [--format markdown|json] [--project <path>] [--api <url>] [--dir <project dir>]

Lists merged merge requests (GitLab) or pull requests (GitHub) into environment branches that broke the
rules: a source outside the promotion flow, a merge by someone without merge rights, or too few approvals
by someone other than the author. The Git host is the configured one (quant-platform:git.provider).
  --since     only merges on or after this date (default: all)
  --format    markdown (default) or json
  --project   GitLab: the project (id or group/name); GitHub: owner/repo (default: the configured one)
  --api       the API root (default: the configured Git URL + /api/v4 on GitLab; api.github.com, or
              <url>/api/v3 for GitHub Enterprise Server)
Tokens: GITLAB_TOKEN (read_api scope) or GITHUB_TOKEN (pull requests: read).
Exit 0: clean; 3: findings; 1: failed; 2: usage error.`;

export interface Finding {
  /** The MR iid (GitLab) or PR number (GitHub); `ref` is how the host writes it: !12 or #12. */
  iid: number;
  ref: string;
  source: string;
  target: string;
  mergedBy: string;
  mergedAt: string;
  problems: string[];
}

/** A merge into an environment branch, as either host reports it. */
interface Merge {
  iid: number;
  ref: string;
  source: string;
  target: string;
  author: string;
  mergedBy: string;
  mergedAt: string;
  approvedBy: string[];
}

/** Reads the merges into `rule.branch` on or after `since` (ISO), one host's way. */
type MergeSource = (rule: BranchRuleEntry, since?: string) => Promise<Merge[]>;

interface MrBody {
  iid: number;
  source_branch: string;
  target_branch: string;
  author: { username: string } | null;
  merged_by: { username: string } | null;
  merge_user?: { username: string } | null;
  merged_at: string | null;
}

function gitlabMerges(plan: AccessPlan, args: Record<string, string | true>, env: NodeJS.ProcessEnv): MergeSource {
  if (!env.GITLAB_TOKEN) throw new UsageError("GITLAB_TOKEN is not set (read_api scope)");
  const api = gitlabApi({
    baseUrl: (args.api as string | undefined) ?? `${plan.git.url}/api/v4`,
    project: (args.project as string | undefined) ?? plan.git.project,
    token: env.GITLAB_TOKEN,
  });
  return async (rule, since) => {
    const q = `state=merged&target_branch=${encodeURIComponent(rule.branch)}${since ? `&updated_after=${encodeURIComponent(since)}` : ""}`;
    const mrs = await api.list<MrBody>(`${api.project}/merge_requests?${q}`, `merged merge requests into ${rule.branch}`);
    const out: Merge[] = [];
    for (const mr of mrs.filter((m) => !since || (m.merged_at ?? "") >= since)) {
      const approvals = await api.get<{ approved_by: { user: { username: string } }[] }>(
        `${api.project}/merge_requests/${mr.iid}/approvals`,
        `approvals of merge request !${mr.iid}`,
      );
      out.push({
        iid: mr.iid,
        ref: `!${mr.iid}`,
        source: mr.source_branch,
        target: mr.target_branch,
        author: mr.author?.username ?? "(unknown)",
        mergedBy: (mr.merge_user ?? mr.merged_by)?.username ?? "(unknown)",
        mergedAt: mr.merged_at ?? "",
        approvedBy: approvals.approved_by.map((a) => a.user.username),
      });
    }
    return out;
  };
}

function githubMerges(plan: AccessPlan, args: Record<string, string | true>, env: NodeJS.ProcessEnv): MergeSource {
  if (!env.GITHUB_TOKEN) throw new UsageError("GITHUB_TOKEN is not set (pull requests: read)");
  const api = githubApi({
    baseUrl: (args.api as string | undefined) ?? githubApiRoot(plan.git.url),
    repository: (args.project as string | undefined) ?? plan.git.project,
    token: env.GITHUB_TOKEN,
  });
  return async (rule, since) => {
    const closed = await api.closedPullRequests(rule.branch, since);
    const out: Merge[] = [];
    for (const listed of closed.filter((p) => p.merged_at && (!since || p.merged_at >= since))) {
      // The list omits who merged; the pull request itself says.
      const pr = await api.pullRequest(listed.number);
      const reviews = await api.reviews(listed.number);
      out.push({
        iid: pr.number,
        ref: `#${pr.number}`,
        source: pr.head.ref,
        target: pr.base.ref,
        author: pr.user?.login ?? "(unknown)",
        mergedBy: pr.merged_by?.login ?? "(unknown)",
        mergedAt: pr.merged_at ?? "",
        approvedBy: approvalsFromReviews(reviews.filter((r) => r.user).map((r) => ({ user: r.user!.login, state: r.state }))),
      });
    }
    return out;
  };
}

/** What broke the rules in one merge: empty when nothing did. */
function problemsOf(model: AccessModel, plan: AccessPlan, m: Merge): string[] {
  const problems: string[] = [];
  const flow = judge(model, m.source, m.target);
  if (!flow.allowed) problems.push(`source not allowed: ${flow.message.replace(/^blocked: /, "")}`);
  if (!mayMerge(plan, m.target, m.mergedBy)) problems.push(`merged by ${m.mergedBy}, who has no merge rights on ${m.target}`);
  const v = judgeApprovals(plan, m.target, m.author, m.approvedBy);
  if (!v.ok) problems.push(v.message);
  return problems;
}

/** The audit as a function of its arguments and environment, for the CLI and the tests. */
export async function flowAudit(argv: string[], env: NodeJS.ProcessEnv, out: (text: string) => void, dir = projectDir()): Promise<number> {
  const args = parseArgs(argv, ["since", "format", "project", "api", "dir"]);
  const format = (args.format ?? "markdown") as string;
  if (!["markdown", "json"].includes(format)) throw new UsageError(`unknown format '${format}'; expected markdown or json`);
  const since = args.since as string | undefined;
  if (since !== undefined && (!/^\d{4}-\d{2}-\d{2}/.test(since) || Number.isNaN(Date.parse(since))))
    throw new UsageError(`--since ${since} is not a date; expected YYYY-MM-DD`);
  const sinceIso = since === undefined ? undefined : new Date(since).toISOString();
  const model = validate(readConfigSources(typeof args.dir === "string" ? args.dir : dir));
  const plan = buildAccessPlan(model, model.stacks.find((s) => s.git.ownsProjectSettings)!.name);
  const merges = plan.git.provider === "github" ? githubMerges(plan, args, env) : gitlabMerges(plan, args, env);
  const github = plan.git.provider === "github";

  const findings: Finding[] = [];
  for (const rule of plan.branchRules.filter((b) => b.tier !== "other")) {
    for (const m of await merges(rule, sinceIso)) {
      const problems = problemsOf(model, plan, m);
      if (problems.length)
        findings.push({ iid: m.iid, ref: m.ref, source: m.source, target: m.target, mergedBy: m.mergedBy, mergedAt: m.mergedAt, problems });
    }
  }
  findings.sort((a, b) => a.iid - b.iid);
  const title = `## Flow audit of ${plan.git.project}${since ? ` since ${since}` : ""}`;
  if (format === "json")
    out(JSON.stringify({ project: plan.git.project, provider: plan.git.provider, since: since ?? null, findings }, null, 2));
  else
    out(
      findings.length === 0
        ? `${title}\n\nNo merge broke the rules.\n`
        : [
            title,
            "",
            `| ${github ? "PR" : "MR"} | source -> target | merged by | merged at | problems |`,
            "|---|---|---|---|---|",
            ...findings.map(
              (f) =>
                `| ${f.ref} | ${f.source} -> ${f.target} | ${f.mergedBy} | ${f.mergedAt} | ${f.problems.join("; ").replace(/\|/g, "\\|")} |`,
            ),
            "",
          ].join("\n"),
    );
  return findings.length ? 3 : 0;
}

export const command: Command = {
  name: "flow-audit",
  usage: USAGE,
  run: (argv) => flowAudit(argv, process.env, (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`)),
};
