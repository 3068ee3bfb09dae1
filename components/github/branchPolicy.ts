import * as pulumi from "@pulumi/pulumi";
import * as github from "@pulumi/github";
import { AccessPlan } from "../../plan/accessPlan";
import { githubAccess } from "./rights";

export interface GitHubBranchPolicyArgs {
  plan: AccessPlan;
  provider: github.Provider;
  /** The status check the branch-flow guard reports as. */
  guardCheck?: string;
}

/**
 * The plan's Git rules on a GitHub repository (see ./rights for the mapping): a team per role with the
 * least repository permission it needs; on each environment branch a ruleset that lets only the teams
 * allowed to push (bypass `always`) or merge (bypass `pull_request`) update it, and one that requires a
 * pull request approved by the branch's approving team (last-push approval, stale reviews dismissed) with
 * the branch-flow guard as a required check; no force-push or deletion anywhere; no other branch takes pushes.
 */
export class GitHubBranchPolicy extends pulumi.ComponentResource {
  constructor(name: string, args: GitHubBranchPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("quant-platform:github:BranchPolicy", name, {}, opts);
    const { repository, teams, rulesets } = githubAccess(args.plan, args.guardCheck);
    const child = { parent: this, provider: args.provider };

    const declared = new Map<string, github.Team>();
    const access = new Map<string, github.TeamRepository>();
    for (const t of teams) {
      const team = new github.Team(`${name}/${t.key}`, { name: t.name, description: t.description, privacy: "closed" }, child);
      declared.set(t.key, team);
      for (const u of t.members) {
        new github.TeamMembership(`${name}/${t.key}/${u}`, { teamId: team.id, username: u, role: "member" }, child);
      }
      access.set(
        t.key,
        new github.TeamRepository(`${name}/${t.key}/repository`, { teamId: team.id, repository, permission: t.permission }, child),
      );
    }
    const teamId = (key: string) => declared.get(key)!.id.apply((id) => Number(id));

    for (const r of rulesets) {
      const pr = r.rules.pullRequest;
      new github.RepositoryRuleset(
        `${name}/${r.key}`,
        {
          repository,
          name: r.name,
          target: "branch",
          enforcement: "active",
          conditions: { refName: { includes: r.includes, excludes: r.excludes } },
          bypassActors: r.bypass.map((b) => ({ actorId: teamId(b.team), actorType: "Team", bypassMode: b.mode })),
          rules: {
            ...(r.rules.creation ? { creation: true } : {}),
            ...(r.rules.update ? { update: true } : {}),
            deletion: r.rules.deletion,
            nonFastForward: r.rules.nonFastForward,
            ...(pr
              ? {
                  pullRequest: {
                    requiredApprovingReviewCount: pr.requiredApprovingReviewCount,
                    requireLastPushApproval: pr.requireLastPushApproval,
                    dismissStaleReviewsOnPush: pr.dismissStaleReviewsOnPush,
                    requiredReviewThreadResolution: pr.requiredReviewThreadResolution,
                    requireCodeOwnerReview: pr.requireCodeOwnerReview,
                    requiredReviewers: pr.requiredReviewers.map((x) => ({
                      filePatterns: ["*"],
                      minimumApprovals: x.minimumApprovals,
                      reviewer: { id: teamId(x.team), type: "Team" },
                    })),
                  },
                }
              : {}),
            ...(r.rules.requiredStatusChecks ? { requiredStatusChecks: r.rules.requiredStatusChecks } : {}),
          },
          // A repository ruleset may only name teams that already have access to the repository.
        },
        {
          ...child,
          dependsOn: [...r.bypass.map((b) => b.team), ...(pr?.requiredReviewers ?? []).map((x) => x.team)].map((k) => access.get(k)!),
        },
      );
    }
    this.registerOutputs({ repository, teams: teams.map((t) => t.name), rulesets: rulesets.map((r) => r.name) });
  }
}
