import * as pulumi from "@pulumi/pulumi";
import { AccessPlan } from "../../plan/accessPlan";
import { freeProtection, signOffRuleName } from "../../plan/gitTiers";
import { GIT_ACCESS_LEVELS, GitTier } from "../../config/schema";
import { gitlabApi } from "../../clients/gitlab";
import { GitLabApprovalRule, GitLabApprovalSettings, GitLabMergeChecks, GitLabProjectMembers, GitLabProtectedBranch } from "./provider";
import { TOKEN_CONFIG_KEY, TOKEN_ENV } from "./reconcile";
import { probeTier, resolveTier } from "./tier";

export interface GitLabBranchPolicyArgs {
  plan: AccessPlan;
  /**
   * The tier to declare for. Absent: detected from the API once per run (and checked against a pinned
   * `git.tier`), or the pin alone when no GitLab token is available to the program.
   */
  tier?: GitTier;
}

const NO_ONE = 0;

/**
 * The tier of the plan's GitLab project: probed with the stack's GitLab token, checked against the pin.
 * Without a token nothing can be probed (and the GitLab resources themselves cannot be deployed): the pin,
 * or Premium with a warning.
 */
export async function gitlabTier(plan: AccessPlan): Promise<GitTier> {
  const token = pulumi.runtime.getConfig(TOKEN_CONFIG_KEY) || process.env[TOKEN_ENV];
  if (!token) {
    if (plan.git.tier) return plan.git.tier;
    pulumi.log.warn(
      `no GitLab token to detect the tier of ${plan.git.project}: declaring the Premium rules; pin quant-platform:git.tier or set ${TOKEN_CONFIG_KEY}`,
    );
    return "premium";
  }
  const baseUrl = `${plan.git.url}/api/v4`;
  const probed = await probeTier(gitlabApi({ baseUrl, project: plan.git.project, token }), baseUrl);
  return resolveTier(plan.git.tier, probed, `project ${plan.git.project} on ${plan.git.url}`);
}

/**
 * The team's Git rules on a GitLab project: every member can pull, only the development branch takes
 * pushes, merges follow the flow and need an approval from someone other than the author, nothing is
 * force-pushed, and merging waits for a successful (not skipped) pipeline, which runs the branch-flow guard.
 * On Premium and Ultimate the approval rules are GitLab's own (on production branches, a second one for the
 * consumer's sign-off when a model names validation signers); on Free (no approval rules, no per-user branch
 * rights) branches are protected by role and both are the approval-check pipeline job.
 */
export class GitLabBranchPolicy extends pulumi.ComponentResource {
  /** The tier the policy was declared for. */
  readonly tier: pulumi.Output<GitTier>;

  constructor(name: string, args: GitLabBranchPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("quant-platform:gitlab:BranchPolicy", name, {}, opts);
    const tier = args.tier ? Promise.resolve(args.tier) : gitlabTier(args.plan);
    // A failed detection or a contradicted pin fails the run with its message alone.
    const declared = tier.then(
      (t) => this.declare(name, args.plan, t),
      (e: Error) => {
        throw new pulumi.RunError(e.message);
      },
    );
    this.tier = pulumi.output(declared.then((d) => d.tier));
    this.registerOutputs(declared);
  }

  private declare(name: string, plan: AccessPlan, tier: GitTier) {
    const project = { baseUrl: `${plan.git.url}/api/v4`, project: plan.git.project };
    const rn = (key: string) => `${name}/${key}`;
    const username = (member: string) => plan.gitMembers.find((m) => m.member === member)!.gitUsername;
    const free = tier === "free";

    new GitLabProjectMembers(
      rn("members"),
      {
        ...project,
        members: plan.gitMembers.map((m) => ({ username: m.gitUsername, accessLevel: GIT_ACCESS_LEVELS[m.access] })),
      },
      { parent: this },
    );
    const branches = new Map<string, GitLabProtectedBranch>();
    for (const b of plan.branchRules) {
      // Free protects by role only: the lowest role among the allowed members (see the plan's widening).
      const f = free ? freeProtection(plan, b) : undefined;
      branches.set(
        b.branch,
        new GitLabProtectedBranch(
          rn(b.key),
          {
            ...project,
            branch: b.branch,
            pushLevels: [f ? f.pushLevel : NO_ONE],
            pushUsernames: f ? [] : b.pushMembers.map(username),
            mergeLevels: [f ? f.mergeLevel : NO_ONE],
            mergeUsernames: f ? [] : b.mergeMembers.map(username),
            allowForcePush: b.allowForcePush,
          },
          { parent: this },
        ),
      );
    }
    if (!free) {
      new GitLabApprovalSettings(
        rn("approval-settings"),
        {
          ...project,
          mergeRequestsAuthorApproval: false,
          mergeRequestsDisableCommittersApproval: true,
          resetApprovalsOnPush: true,
          disableOverridingApproversPerMergeRequest: true,
        },
        { parent: this },
      );
      for (const b of plan.branchRules.filter((x) => x.approveMembers.length > 0)) {
        new GitLabApprovalRule(
          rn(`approvalRule:${b.branch}`),
          {
            ...project,
            ruleName: `${b.branch} approvers`,
            branch: b.branch,
            approvalsRequired: b.approvals,
            approverUsernames: b.approveMembers.map(username),
          },
          { parent: this, dependsOn: [branches.get(b.branch)!] },
        );
      }
      // A second rule on production branches: GitLab requires every rule of a branch, so the signer's approval
      // is asked for beside the approvers' (and never the author's: author approval is off project-wide).
      for (const b of plan.branchRules.filter((x) => x.signOff)) {
        new GitLabApprovalRule(
          rn(`${b.key}:sign-off`),
          {
            ...project,
            ruleName: signOffRuleName(b.branch),
            branch: b.branch,
            approvalsRequired: b.signOff!.approvals,
            approverUsernames: b.signOff!.members.map(username),
          },
          { parent: this, dependsOn: [branches.get(b.branch)!] },
        );
      }
    }
    // On Free this is what makes the approval-check and branch-flow jobs blocking.
    new GitLabMergeChecks(
      rn("merge-checks"),
      { ...project, onlyAllowMergeIfPipelineSucceeds: true, allowMergeOnSkippedPipeline: false },
      { parent: this },
    );
    return {
      project: plan.git.project,
      tier,
      protectedBranches: [...branches.keys()],
      fourEyes: free ? "approval-check pipeline job" : "approval rules",
      consumerSignOff: plan.branchRules.filter((b) => b.signOff).map((b) => b.branch),
    };
  }
}
