/**
 * The quant-platform CrossGuard policies, as plain ResourceValidationPolicy objects (policy/index.ts packs
 * them; the tests call them directly). The names they enforce (the development branches, the admin and
 * release groups, the flow) are not written here: they come from the project's configuration through the
 * access plan, by `quantPolicyConfig`, so renaming a group or branch in Pulumi.yaml changes what is enforced.
 */
import { PolicyResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import type { AccessPlan } from "../plan/accessPlan";
import { githubAccess } from "../components/github/rights";
import { Edge, isEdge } from "../plan/flow";
import { signOffRuleName } from "../plan/gitTiers";

/** What the policies need to know of the project: derived from the plan, never configured twice. */
export interface QuantPolicyConfig {
  /** Branches of tier development: the only ones that take pushes. */
  developmentBranches: string[];
  /** Groups of roles with duty administer: the only ones that manage models and shared Git folders. */
  adminGroups: string[];
  /** Groups of roles with duty release: with the admins, the only ones that manage production versions. */
  releaseGroups: string[];
  /** The promotion edges models may migrate along. */
  flow: Edge[];
  /** Production branches that ask for the consumer's sign-off: the GitLab rule's name and the signers' Git usernames. */
  signOff: { branch: string; ruleName: string; signers: string[] }[];
  /**
   * GitHub: per environment branch, the teams that may bypass its rulesets: `always` (direct pushes: the plan's
   * pushers) and `pull_request` (merging: the plan's mergers). Nobody else bypasses anything.
   */
  bypass: { branch: string; always: string[]; pullRequest: string[] }[];
}

/** The policy config a stack's access plan implies. Pure. */
export function quantPolicyConfig(plan: AccessPlan): QuantPolicyConfig {
  const groupsOf = (duty: string) =>
    plan.groups
      .filter((g) => g.duty === duty)
      .map((g) => g.name)
      .sort();
  return {
    developmentBranches: plan.branchRules
      .filter((b) => b.tier === "development")
      .map((b) => b.branch)
      .sort(),
    adminGroups: groupsOf("administer"),
    releaseGroups: groupsOf("release"),
    flow: plan.flowEdges.map((e) => ({ from: e.from, to: e.to })),
    signOff: plan.branchRules
      .filter((b) => b.signOff)
      .map((b) => ({
        branch: b.branch,
        ruleName: signOffRuleName(b.branch),
        signers: b.signOff!.members.map((id) => plan.gitMembers.find((m) => m.member === id)!.gitUsername).sort(),
      })),
    bypass: githubBypass(plan),
  };
}

/** The bypass teams the plan implies per environment branch, by team name (see components/github/rights). */
function githubBypass(plan: AccessPlan): QuantPolicyConfig["bypass"] {
  const { teams, rulesets } = githubAccess(plan);
  const name = (key: string) => teams.find((t) => t.key === key)!.name;
  const out = new Map<string, { branch: string; always: Set<string>; pullRequest: Set<string> }>();
  for (const r of rulesets.filter((x) => x.branch !== "*")) {
    const e = out.get(r.branch) ?? { branch: r.branch, always: new Set<string>(), pullRequest: new Set<string>() };
    for (const b of r.bypass) (b.mode === "always" ? e.always : e.pullRequest).add(name(b.team));
    out.set(r.branch, e);
  }
  return [...out.values()].map((e) => ({ branch: e.branch, always: [...e.always].sort(), pullRequest: [...e.pullRequest].sort() }));
}

/** The stack a resource belongs to, from its URN (`urn:pulumi:<stack>::<project>::<type>::<name>`). */
export function stackOfUrn(urn: string): string {
  const m = /^urn:pulumi:([^:]+)::/.exec(urn);
  if (!m) throw new Error(`cannot tell the stack of resource ${urn}: expected urn:pulumi:<stack>::...`);
  return m[1];
}

/** How a policy learns the config of the stack a resource belongs to. */
export type PolicyConfigSource = (args: { urn: string }) => QuantPolicyConfig;

const T = {
  team: "github:index/team:Team",
  protectedBranch: "pulumi-nodejs:dynamic/gitlab:ProtectedBranch",
  approvalSettings: "pulumi-nodejs:dynamic/gitlab:ApprovalSettings",
  approvalRule: "pulumi-nodejs:dynamic/gitlab:ApprovalRule",
  mergeChecks: "pulumi-nodejs:dynamic/gitlab:MergeChecks",
  ruleset: "github:index/repositoryRuleset:RepositoryRuleset",
  permissions: "databricks:index/permissions:Permissions",
  grants: "databricks:index/grants:Grants",
  migration: "pulumi-nodejs:dynamic/mlflow:ModelMigration",
};

type Validate = (args: ResourceValidationArgs, report: ReportViolation, config: QuantPolicyConfig) => void;

// Resource properties reach a policy as an untyped bag (ResourceValidationArgs.props).
type Props = ResourceValidationArgs["props"];
const branchOfRuleset = (props: Props) =>
  ((props.conditions?.refName?.includes ?? []) as string[]).map((r) => r.replace(/^refs\/heads\//, ""));
const aclOf = (props: Props) => (props.accessControls ?? []) as { groupName?: string; permissionLevel?: string }[];

/** The policies, each judging a resource against the config `configOf` gives for its stack. */
export function quantPolicies(configOf: PolicyConfigSource): ResourceValidationPolicy[] {
  const policy = (name: string, description: string, validate: Validate): ResourceValidationPolicy => ({
    name,
    description,
    enforcementLevel: "mandatory",
    validateResource: (args, report) => validate(args, report, configOf(args)),
  });
  return [
    policy(
      "only-development-branch-accepts-pushes",
      "Changes are pushed to the development branch only; every other branch changes by reviewed merge.",
      (args, report, c) => {
        const p = args.props;
        if (args.type === T.protectedBranch && !c.developmentBranches.includes(p.branch)) {
          if ((p.pushUsernames ?? []).length || (p.pushLevels ?? []).some((l: number) => l !== 0))
            report(
              `branch ${p.branch} accepts pushes (${[...(p.pushUsernames ?? []), ...(p.pushLevels ?? []).filter((l: number) => l)].join(", ")}); only ${c.developmentBranches.join(", ")} may`,
            );
        }
        if (args.type === T.ruleset) {
          for (const b of branchOfRuleset(p)) {
            if (c.developmentBranches.includes(b)) continue;
            if (!p.rules?.pullRequest && !p.rules?.update)
              report(`ruleset ${p.name} lets ${b} take direct pushes; require a pull request (or block updates)`);
          }
        }
      },
    ),
    policy("no-force-push", "No branch allows force-push.", (args, report) => {
      if (args.type === T.protectedBranch && args.props.allowForcePush !== false) report(`branch ${args.props.branch} allows force-push`);
      if (args.type === T.ruleset && args.props.rules?.nonFastForward !== true)
        report(`ruleset ${args.props.name} does not block force-push (non_fast_forward)`);
    }),
    policy(
      "approval-by-someone-else",
      "Merges need at least one approval, and the author's own approval does not count.",
      (args, report) => {
        const p = args.props;
        if (args.type === T.approvalSettings) {
          if (p.mergeRequestsAuthorApproval !== false)
            report("the merge request author's approval counts (merge_requests_author_approval must be false)");
          if (p.mergeRequestsDisableCommittersApproval !== true)
            report("committers may approve their own changes (merge_requests_disable_committers_approval must be true)");
          if (p.resetApprovalsOnPush !== true) report("approvals survive new pushes (reset_approvals_on_push must be true)");
          if (p.disableOverridingApproversPerMergeRequest !== true) report("approvers can be overridden per merge request");
        }
        if (args.type === T.approvalRule && !(p.approvalsRequired >= 1))
          report(`approval rule ${p.ruleName} requires ${p.approvalsRequired} approvals; at least 1`);
        if (args.type === T.ruleset && p.rules?.pullRequest) {
          const pr = p.rules.pullRequest;
          if (!(pr.requiredApprovingReviewCount >= 1))
            report(`ruleset ${p.name} requires ${pr.requiredApprovingReviewCount ?? 0} approving reviews; at least 1`);
          if (pr.requireLastPushApproval !== true)
            report(`ruleset ${p.name} lets the last pusher's own approval count (require_last_push_approval)`);
        }
      },
    ),
    policy(
      "consumer-sign-off-by-signers",
      "The consumer's sign-off on a production branch can be given only by a member of a signer role, on that branch.",
      (args, report, c) => {
        const p = args.props;
        if (args.type !== T.approvalRule) return;
        const s = c.signOff.find((x) => x.ruleName === p.ruleName);
        if (!s) return;
        if (p.branch !== s.branch) report(`approval rule ${p.ruleName} applies to branch ${p.branch}; expected ${s.branch}`);
        const others = ((p.approverUsernames ?? []) as string[]).filter((u) => !s.signers.includes(u));
        if (others.length)
          report(`approval rule ${p.ruleName} lets ${others.join(", ")} give the sign-off; only the signers may (${s.signers.join(", ")})`);
      },
    ),
    policy(
      "pipelines-must-succeed",
      "Merging waits for a successful pipeline (the branch-flow guard runs in it); skipped pipelines do not count.",
      (args, report) => {
        const p = args.props;
        if (args.type === T.mergeChecks) {
          if (p.onlyAllowMergeIfPipelineSucceeds !== true) report("merge requests can be merged without a successful pipeline");
          if (p.allowMergeOnSkippedPipeline !== false) report("a skipped pipeline counts as successful");
        }
        if (args.type === T.ruleset && p.rules?.pullRequest && !(p.rules?.requiredStatusChecks?.requiredChecks ?? []).length) {
          report(`ruleset ${p.name} requires no status check; the branch-flow guard must be required`);
        }
      },
    ),
    policy(
      "no-can-manage-for-non-admin-groups",
      "Only admin groups manage registered models and shared Git folders.",
      (args, report, c) => {
        const p = args.props;
        if (args.type === T.permissions && (p.registeredModelId || p.repoId || p.repoPath)) {
          for (const a of aclOf(p))
            if (a.permissionLevel === "CAN_MANAGE" && !c.adminGroups.includes(a.groupName ?? ""))
              report(
                `${a.groupName} gets CAN_MANAGE on ${p.registeredModelId ? "a registered model" : "a shared Git folder"}; only ${c.adminGroups.join(", ")}`,
              );
        }
        if (args.type === T.grants && p.model) {
          for (const g of (p.grants ?? []) as { principal: string; privileges: string[] }[]) {
            if ((g.privileges.includes("MANAGE") || g.privileges.includes("ALL_PRIVILEGES")) && !c.adminGroups.includes(g.principal))
              report(`${g.principal} gets ${g.privileges.join("+")} on model ${p.model}; only ${c.adminGroups.join(", ")}`);
          }
        }
      },
    ),
    policy(
      "production-versions-release-managers-only",
      "Only release managers (and admins) manage production model versions.",
      (args, report, c) => {
        if (args.type !== T.permissions || !args.props.registeredModelId) return;
        for (const a of aclOf(args.props)) {
          if (a.permissionLevel === "CAN_MANAGE_PRODUCTION_VERSIONS" && ![...c.releaseGroups, ...c.adminGroups].includes(a.groupName ?? ""))
            report(`${a.groupName} can manage production model versions; only ${c.releaseGroups.join(", ")}`);
        }
      },
    ),
    policy(
      "migrations-along-flow",
      "Models move between workspaces only along promotion edges (never development straight to production).",
      (args, report, c) => {
        if (args.type !== T.migration) return;
        if (!isEdge(c.flow, args.props.fromEnv, args.props.toEnv))
          report(
            `model ${args.props.model} migrates ${args.props.fromEnv} -> ${args.props.toEnv}, which is not a promotion edge (${c.flow.map((e) => `${e.from}->${e.to}`).join(", ")})`,
          );
      },
    ),
    policy(
      "no-plaintext-secrets",
      "No credential travels as a resource input: tokens reach providers from secret config only.",
      (args, report) => {
        // Policies see secret values already unwrapped, so no input of a non-provider resource may carry a credential at all.
        if (args.type.startsWith("pulumi:providers:")) return;
        const walk = (v: unknown, where: string): void => {
          if (v === null || typeof v !== "object") return;
          for (const [k, x] of Object.entries(v)) {
            if (/(token|secret|password|private_?key|credential)/i.test(k) && typeof x === "string" && x.length > 0)
              report(`input ${where}${k} carries a credential; pass it through a provider from secret config`);
            else walk(x, `${where}${k}.`);
          }
        };
        const { __provider, ...props } = args.props;
        walk(props, "");
      },
    ),
  ];
}

/**
 * Stack policies: judged over the whole stack, where a GitHub ruleset's bypass actors (team ids, known only after
 * the teams exist) can be named through the teams they depend on.
 */
export function quantStackPolicies(configOf: PolicyConfigSource): StackValidationPolicy[] {
  return [
    {
      name: "bypass-only-by-plan",
      description:
        "On GitHub, only the plan's pushers bypass a branch's rulesets (always, on the development branch) and only its mergers bypass through pull requests; nobody else bypasses.",
      enforcementLevel: "mandatory",
      validateStack: (args, report) => {
        for (const r of args.resources.filter((x) => x.type === T.ruleset)) {
          const c = configOf(r);
          const p = r.props;
          const teams = (r.propertyDependencies?.bypassActors ?? []).filter((d: PolicyResource) => d.type === T.team);
          const names = teams.map((d: PolicyResource) => String(d.props.name));
          const actors = (p.bypassActors ?? []) as { actorType?: string; bypassMode?: string }[];
          for (const b of branchOfRuleset(p)) {
            const allowed = c.bypass.find((x) => x.branch === b) ?? { always: [] as string[], pullRequest: [] as string[] };
            const strangers = names.filter((n: string) => !allowed.always.includes(n) && !allowed.pullRequest.includes(n));
            if (strangers.length)
              report(
                `ruleset ${p.name} lets ${strangers.join(", ")} bypass it on ${b}; only ${[...allowed.always, ...allowed.pullRequest].join(", ") || "nobody"} may`,
              );
            if (allowed.always.length === 0 && actors.some((a) => a.bypassMode === "always"))
              report(`ruleset ${p.name} has an actor that always bypasses it on ${b}; only the development branch's pushers push directly`);
            const others = actors.filter((a) => a.actorType !== "Team");
            if (others.length)
              report(`ruleset ${p.name} lets ${others.map((a) => a.actorType).join(", ")} bypass it on ${b}; only the plan's teams may`);
          }
          if (p.conditions?.refName?.includes?.includes("~ALL") && actors.length)
            report(`ruleset ${p.name} on every other branch has bypass actors; nobody pushes there`);
        }
      },
    },
  ];
}
