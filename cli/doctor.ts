/**
 * The doctor command: why can a member not clone, create, pull or push? Reads, live, each workspace and the Git host
 * (clients/memberAccess.ts), judges against the plan (plan/doctor.ts) and prints every check, failures with their fix.
 * A shell: resolve -> read -> judge -> render.
 */
import * as os from "os";
import * as path from "path";
import { databricksProfile } from "../migration/endpoint";
import { AccessModel, Member } from "../config/schema";
import { ApiSide, readGitHubFacts, readGitLabFacts, readOwnCredentials, readWorkspaceFacts } from "../clients/memberAccess";
import { githubAccess } from "../components/github/rights";
import { buildAccessPlan, gitApiRoot } from "../plan/accessPlan";
import {
  Check,
  doctorExitCode,
  doctorReport,
  GitFacts,
  GitHubFacts,
  judgeGitHub,
  judgeGitLab,
  judgeWorkspace,
  renderDoctor,
} from "../plan/doctor";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform doctor --member <id> [--workspace <stack>] [--self] [--git-api <url>] [--dir <project dir>] [--json]

Checks, live, everything a roster member needs to clone, create, pull and push, in each workspace (stack) and on
the Git host: the user exists and is active, the workspace-access entitlement, membership of their roles' groups,
the permission on the Git folder root and the shared Git folders, Git folders enabled and the repository's URL
allowed; on GitLab or GitHub the account is active, the project access level can clone and pull, and pushes go where the
plan says only. Each failed check names what is wrong and the fix (a config key and stack, or a personal step).
  --member     the roster id (Pulumi.yaml quant-platform:roster), e.g. ana.ruiz
  --workspace  one stack only (default: every stack)
  --self       run as the member, with their own token: also checks their Git credential (provider, username,
               and that it reaches the repository). Databricks lists a Git credential to its owner only, so
               without --self that check says who can run it.
  --git-api    the Git host's API root (default: the configured Git URL + /api/v4)
  --dir        the project directory (default: the one holding Pulumi.yaml)
  --json       the report as JSON
Tokens (never on the command line): per workspace, the Databricks config profile named after the stack
([quant], in DATABRICKS_CONFIG_FILE or ~/.databrickscfg), else the stack's host with DATABRICKS_TOKEN; with
--self, the member's own profile [<stack>-<local part of their email>] (as local-env writes them). The Git
host: GITLAB_TOKEN (read_api) on GitLab; GITHUB_TOKEN on GitHub (it must read the organization's teams and the
repository's collaborators and rulesets: an organization owner's, or Members and Administration read).
Exit 0: every check passed; 3: findings; 1: a side could not be read (the rest is still reported); 2: usage error.`;

/** The profile of a stack's admin, or of the member (`<stack>-<local part>`, or the whole email when shared). */
function workspaceSide(stack: string, host: string, env: NodeJS.ProcessEnv, member?: Member): ApiSide {
  const file = env.DATABRICKS_CONFIG_FILE || path.join(os.homedir(), ".databrickscfg");
  const names = member ? [`${stack}-${member.email.split("@")[0]}`, `${stack}-${member.email}`] : [stack];
  for (const name of names) {
    let p: { host?: string; token?: string } | undefined;
    try {
      p = databricksProfile(name, file);
    } catch {
      p = undefined; // no such file or profile: the next source is tried, and the error below names them all
    }
    if (p?.token) return { baseUrl: (p.host ?? host).replace(/\/+$/, ""), token: p.token };
  }
  if (!member && env.DATABRICKS_TOKEN) return { baseUrl: host, token: env.DATABRICKS_TOKEN };
  throw new Error(
    member
      ? `no Databricks profile [${names[0]}] with a token in ${file}: the member's own token is needed for --self`
      : `no Databricks profile [${stack}] with a token in ${file}, and DATABRICKS_TOKEN is not set`,
  );
}

const unreadable = (side: string, e: unknown): Check => ({ side, check: "read", status: "unreadable", detail: (e as Error).message });

/** Every check for one member over the chosen stacks and the Git host. */
export async function runDoctor(
  model: AccessModel,
  memberId: string,
  opts: { workspace?: string; self?: boolean; gitApi?: string },
  env: NodeJS.ProcessEnv,
): Promise<Check[]> {
  const member = model.roster.find((m) => m.id === memberId);
  if (!member)
    throw new UsageError(
      `--member ${memberId} is not in the roster (Pulumi.yaml); expected one of: ${model.roster.map((m) => m.id).join(", ")}`,
    );
  const names = model.stacks.map((s) => s.name);
  if (opts.workspace && !names.includes(opts.workspace))
    throw new UsageError(`--workspace ${opts.workspace} is not a stack; expected one of: ${names.join(", ")}`);
  const plans = model.stacks.filter((s) => !opts.workspace || s.name === opts.workspace).map((s) => buildAccessPlan(model, s.name));
  const owner = model.stacks.find((s) => s.git.ownsProjectSettings) ?? model.stacks[0];
  const ownerPlan = buildAccessPlan(model, owner.name);

  // The Git host first: the credential check of each workspace uses what it found.
  const checks: Check[] = [];
  let git: GitFacts | GitHubFacts | undefined;
  const gitSide = `${ownerPlan.git.provider} ${ownerPlan.git.project}`;
  if (ownerPlan.git.provider === "github") {
    if (!env.GITHUB_TOKEN)
      checks.push(
        unreadable(
          gitSide,
          new Error("GITHUB_TOKEN is not set (an organization member's token that may read the repository's administration)"),
        ),
      );
    else {
      try {
        const facts = await readGitHubFacts(
          { baseUrl: opts.gitApi ?? gitApiRoot("github", ownerPlan.git.url), token: env.GITHUB_TOKEN },
          {
            repo: ownerPlan.git.project,
            username: member.gitUsername,
            branches: ownerPlan.branchRules.map((b) => b.branch).filter((b) => b !== "*"),
          },
        );
        const teams = githubAccess(ownerPlan).teams.filter((t) => t.members.includes(member.gitUsername));
        const permission = teams.some((t) => t.permission === "push") ? "push" : "pull";
        git = facts;
        checks.push(...judgeGitHub(ownerPlan, owner.name, member, facts, permission));
      } catch (e) {
        checks.push(unreadable(gitSide, e));
      }
    }
  } else if (!env.GITLAB_TOKEN) {
    checks.push(unreadable(gitSide, new Error("GITLAB_TOKEN is not set (read_api scope)")));
  } else {
    try {
      git = await readGitLabFacts(
        { baseUrl: opts.gitApi ?? `${ownerPlan.git.url}/api/v4`, token: env.GITLAB_TOKEN },
        { project: ownerPlan.git.project, username: member.gitUsername },
      );
      checks.push(...judgeGitLab(ownerPlan, owner.name, member, git));
    } catch (e) {
      checks.push(unreadable(gitSide, e));
    }
  }

  const wsChecks = await Promise.all(
    plans.map(async (plan): Promise<Check[]> => {
      try {
        const admin = workspaceSide(plan.stack, plan.host, env);
        const mine = plan.memberships.filter((m) => m.member === member.id);
        const roots = new Set(plan.directories.filter((d) => d.purpose === "git-folder-root").map((d) => d.path));
        const objects = plan.workspaceAcls
          .filter((a) => a.objectType === "repo" || roots.has(a.path))
          .map((a) => ({ path: a.path, type: a.objectType }));
        const models = plan.registry.flavour === "workspace" ? plan.registryAcls.map((a) => a.model) : [];
        const facts = await readWorkspaceFacts(admin, {
          email: member.email,
          // admins: a registry's root grants them every model.
          groups: [...new Set([...mine.map((m) => m.group), ...(models.length ? ["admins"] : [])])],
          objects,
          models,
        });
        const credential = opts.self ? await readOwnCredentials(workspaceSide(plan.stack, plan.host, env, member)) : ("not-self" as const);
        return judgeWorkspace(plan, member, facts, credential, git);
      } catch (e) {
        return [unreadable(plan.stack, e)];
      }
    }),
  );
  return [...wsChecks.flat(), ...checks];
}

/** The CLI as a function of its arguments and environment. */
export async function doctorCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const a = parseArgs(argv, ["member", "workspace", "git-api", "dir"], ["json", "self"]);
  if (typeof a.member !== "string") throw new UsageError("--member is required (a roster id from Pulumi.yaml)");
  const { readConfigSources } = await import("../config/load");
  const { validate } = await import("../config/validate");
  const model = validate(readConfigSources(typeof a.dir === "string" ? a.dir : projectDir()));
  const checks = await runDoctor(
    model,
    a.member,
    {
      ...(typeof a.workspace === "string" ? { workspace: a.workspace } : {}),
      ...(typeof a["git-api"] === "string" ? { gitApi: a["git-api"] } : {}),
      self: a.self === true,
    },
    env,
  );
  const report = doctorReport(a.member, checks);
  out(a.json ? JSON.stringify(report, null, 2) : renderDoctor(report));
  return doctorExitCode(report);
}

export const command: Command = {
  name: "doctor",
  usage: USAGE,
  run: (argv) => doctorCli(argv, process.env, (s) => console.log(s)),
};
