import * as pulumi from "@pulumi/pulumi";
import { AccessPlan } from "../../plan/accessPlan";
import { GIT_ACCESS_LEVELS } from "../../config/schema";
import {
  GitLabApprovalRule, GitLabApprovalSettings, GitLabMergeChecks, GitLabProjectMembers, GitLabProtectedBranch,
} from "./provider";

export interface GitLabBranchPolicyArgs {
  plan: AccessPlan;
}

const NO_ONE = 0;

/**
 * The team's Git rules on a GitLab project: every member can pull, only the development branch takes
 * pushes, merges follow the flow and need an approval from someone other than the author, nothing is
 * force-pushed, and merging waits for a successful (not skipped) pipeline, which runs the branch-flow guard.
 */
export class GitLabBranchPolicy extends pulumi.ComponentResource {
  constructor(name: string, args: GitLabBranchPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("quant-platform:gitlab:BranchPolicy", name, {}, opts);
    const { plan } = args;
    const project = { baseUrl: `${plan.git.url}/api/v4`, project: plan.git.project };
    const rn = (key: string) => `${name}/${key}`;
    const username = (member: string) => plan.gitMembers.find((m) => m.member === member)!.gitUsername;

    new GitLabProjectMembers(rn("members"), {
      ...project, members: plan.gitMembers.map((m) => ({ username: m.gitUsername, accessLevel: GIT_ACCESS_LEVELS[m.access] })),
    }, { parent: this });
    const branches = new Map<string, GitLabProtectedBranch>();
    for (const b of plan.branchRules) {
      branches.set(b.branch, new GitLabProtectedBranch(rn(b.key), {
        ...project, branch: b.branch,
        pushLevels: [NO_ONE], pushUsernames: b.pushMembers.map(username),
        mergeLevels: [NO_ONE], mergeUsernames: b.mergeMembers.map(username),
        allowForcePush: b.allowForcePush,
      }, { parent: this }));
    }
    new GitLabApprovalSettings(rn("approval-settings"), {
      ...project,
      mergeRequestsAuthorApproval: false,
      mergeRequestsDisableCommittersApproval: true,
      resetApprovalsOnPush: true,
      disableOverridingApproversPerMergeRequest: true,
    }, { parent: this });
    for (const b of plan.branchRules.filter((x) => x.approveMembers.length > 0)) {
      new GitLabApprovalRule(rn(`approvalRule:${b.branch}`), {
        ...project, ruleName: `${b.branch} approvers`, branch: b.branch,
        approvalsRequired: b.approvals, approverUsernames: b.approveMembers.map(username),
      }, { parent: this, dependsOn: [branches.get(b.branch)!] });
    }
    new GitLabMergeChecks(rn("merge-checks"), { ...project, onlyAllowMergeIfPipelineSucceeds: true, allowMergeOnSkippedPipeline: false }, { parent: this });
    this.registerOutputs({ project: plan.git.project, protectedBranches: [...branches.keys()] });
  }
}
