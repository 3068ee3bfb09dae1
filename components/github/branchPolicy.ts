import * as pulumi from "@pulumi/pulumi";
import * as github from "@pulumi/github";
import { AccessPlan } from "../../plan/accessPlan";
import { GitAccess } from "../../config/schema";

export interface GitHubBranchPolicyArgs {
  plan: AccessPlan;
  provider: github.Provider;
  /** The status check the branch-flow guard reports as. */
  guardCheck?: string;
}

const PERMISSION: Record<GitAccess, string> = { reporter: "pull", developer: "push", maintainer: "maintain", owner: "admin" };

/**
 * The same Git rules on GitHub, with repository rulesets: a pull request with approvals from others
 * (last-push approval, stale reviews dismissed) and the branch-flow guard as a required check on every
 * promotion target; no force-push or deletion anywhere; direct pushes only to the development branch.
 */
export class GitHubBranchPolicy extends pulumi.ComponentResource {
  constructor(name: string, args: GitHubBranchPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("quant-platform:github:BranchPolicy", name, {}, opts);
    const { plan, provider } = args;
    const repository = plan.git.project.split("/").pop()!;
    const check = args.guardCheck ?? "branch-flow";
    const child = { parent: this, provider };
    const environments = plan.branchRules.filter((b) => b.tier !== "other").map((b) => `refs/heads/${b.branch}`);

    for (const m of plan.gitMembers) {
      new github.RepositoryCollaborator(`${name}/${m.key}`, { repository, username: m.gitUsername, permission: PERMISSION[m.access] }, child);
    }
    for (const b of plan.branchRules) {
      const other = b.tier === "other";
      const promotionTarget = b.sources.length > 0;
      new github.RepositoryRuleset(`${name}/${b.key}`, {
        repository,
        name: other ? "other branches: no pushes" : `${b.branch}: ${promotionTarget ? "promotion by reviewed pull request" : "development"}`,
        target: "branch",
        enforcement: "active",
        conditions: { refName: other ? { includes: ["~ALL"], excludes: environments } : { includes: [`refs/heads/${b.branch}`], excludes: [] } },
        rules: {
          nonFastForward: true,
          deletion: true,
          ...(other ? { creation: true, update: true } : {}),
          ...(promotionTarget ? {
            pullRequest: {
              requiredApprovingReviewCount: b.approvals,
              requireLastPushApproval: true,
              dismissStaleReviewsOnPush: true,
              requiredReviewThreadResolution: false,
              requireCodeOwnerReview: false,
            },
            requiredStatusChecks: { requiredChecks: [{ context: check }], strictRequiredStatusChecksPolicy: true },
          } : {}),
        },
      }, child);
    }
    this.registerOutputs({ repository, rulesets: plan.branchRules.map((b) => b.branch) });
  }
}
