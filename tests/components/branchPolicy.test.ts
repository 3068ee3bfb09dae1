import * as assert from "assert";
import * as github from "@pulumi/github";
import { ResourceValidationArgs } from "@pulumi/policy";
import { buildAccessPlan, AccessPlan } from "../../plan/accessPlan";
import { validate } from "../../config/validate";
import { GitLabBranchPolicy } from "../../components/gitlab/branchPolicy";
import { GitHubBranchPolicy } from "../../components/github/branchPolicy";
import { Obj, proj, shipped, shippedModel, stackVal } from "../fixtures/config";
import { ConfigSources } from "../../config/load";
import { quantPolicies, quantPolicyConfig } from "../../policy/policies";
import { GIT_TYPES, gitlabOfType, installMocks, numericId, Recorded, settle } from "../../devenv/pulumiMocks";

const byBranch = (r: Recorded[], t: string): Record<string, any> =>
  Object.fromEntries(gitlabOfType(r, t).map((x) => [x.inputs.branch, x.inputs]));
/** The approval rules of a kind (`approvers`, or the consumer's `sign-off`) by branch, from their GitLab rule names. */
const rulesByBranch = (r: Recorded[], kind: "approvers" | "sign-off"): Record<string, any> =>
  Object.fromEntries(
    gitlabOfType(r, "ApprovalRule")
      .filter((x) => (kind === "approvers" ? / approvers$/ : /^consumer sign-off \(/).test(x.inputs.ruleName))
      .map((x) => [x.inputs.branch, x.inputs]),
  );

/** The shipped configuration without any model's validation: no model names signers. */
function withoutSigners(): ConfigSources {
  const s = shipped();
  for (const m of proj(s, "models") as Obj[]) delete m.validation;
  return s;
}

/** Runs every policy of the pack on every recorded resource: the violations, by policy. */
function policyViolations(recorded: Recorded[], plan: AccessPlan): string[] {
  const config = quantPolicyConfig(plan);
  const violations: string[] = [];
  for (const r of recorded) {
    for (const p of quantPolicies(() => config)) {
      const args = {
        type: r.type,
        props: r.inputs,
        urn: `urn:pulumi:quant::quant-platform::${r.type}::${r.name}`,
        name: r.name,
      } as unknown as ResourceValidationArgs;
      (p.validateResource as (a: ResourceValidationArgs, report: (m: string) => void) => void)(args, (m) =>
        violations.push(`${p.name}: ${m}`),
      );
    }
  }
  return violations;
}

describe("GitLabBranchPolicy (mocks)", () => {
  const plan = buildAccessPlan(shippedModel(), "quant");
  let recorded: Recorded[];
  before(async () => {
    recorded = await installMocks("quant", GIT_TYPES);
    new GitLabBranchPolicy("git", { plan });
    await settle(recorded);
  });

  it("every roster member is at least a Developer of the project; release managers are Maintainers", () => {
    const levels = Object.fromEntries(
      (gitlabOfType(recorded, "ProjectMembers")[0].inputs.members as { username: string; accessLevel: number }[]).map((m) => [
        m.username,
        m.accessLevel,
      ]),
    );
    assert.strictEqual(Object.keys(levels).length, 10);
    for (const l of Object.values(levels)) assert.ok((l as number) >= 30);
    assert.strictEqual(levels.epetrova, 40);
    assert.strictEqual(levels.fhaddad, 40);
    assert.strictEqual(levels.glee, 30);
  });

  it("quant: developers push; nobody else's branch takes pushes; force-push is off everywhere", () => {
    const b = byBranch(recorded, "ProtectedBranch");
    assert.deepStrictEqual(b.quant.pushUsernames, ["aruiz", "bokafor", "cwei", "dsingh", "epetrova", "fhaddad", "jberg"]);
    for (const name of ["quant_stg", "quant_lr", "quant_live", "*"]) {
      assert.deepStrictEqual([b[name].pushLevels, b[name].pushUsernames], [[0], []], name);
    }
    for (const x of Object.values(b)) assert.strictEqual(x.allowForcePush, false);
  });

  it("only release managers merge into quant_stg, quant_lr and quant_live", () => {
    const b = byBranch(recorded, "ProtectedBranch");
    for (const name of ["quant_stg", "quant_lr", "quant_live"])
      assert.deepStrictEqual(b[name].mergeUsernames, ["epetrova", "fhaddad"], name);
    assert.deepStrictEqual(b["*"].mergeUsernames, []);
  });

  it("the author's approval does not count, committers' approval is off, approvals reset on push, no per-MR override", () => {
    const [s] = gitlabOfType(recorded, "ApprovalSettings");
    assert.strictEqual(s.inputs.mergeRequestsAuthorApproval, false);
    assert.strictEqual(s.inputs.mergeRequestsDisableCommittersApproval, true);
    assert.strictEqual(s.inputs.resetApprovalsOnPush, true);
    assert.strictEqual(s.inputs.disableOverridingApproversPerMergeRequest, true);
  });

  it("an approval rule per target branch: at least one approver, two for quant_live", () => {
    const r = rulesByBranch(recorded, "approvers");
    assert.deepStrictEqual(Object.keys(r).sort(), ["quant", "quant_live", "quant_lr", "quant_stg"]);
    for (const x of Object.values(r)) assert.ok((x.approvalsRequired as number) >= 1);
    assert.strictEqual(r.quant_live.approvalsRequired, 2);
    assert.deepStrictEqual(r.quant_stg.approverUsernames, ["cwei", "dsingh", "epetrova", "fhaddad"]);
  });

  it("quant_lr and quant_live: a second approval rule asks for the consumer's sign-off, 1 approval by a consumer", () => {
    const r = rulesByBranch(recorded, "sign-off");
    assert.deepStrictEqual(Object.keys(r).sort(), ["quant_live", "quant_lr"]);
    for (const b of ["quant_lr", "quant_live"]) {
      assert.deepStrictEqual(
        [r[b].ruleName, r[b].approvalsRequired, r[b].approverUsernames],
        [`consumer sign-off (${b})`, 1, ["glee", "htanaka"]],
        b,
      );
    }
    const rule = recorded.find((x) => x.inputs.ruleName === "consumer sign-off (quant_lr)")!;
    assert.strictEqual(rule.name, "git/branchRule:quant_lr:sign-off", "named from the branch rule's key");
  });

  it("every GitLab declaration, the sign-off rules included, passes the policy pack", () => {
    assert.deepStrictEqual(policyViolations(recorded, plan), []);
  });

  it("merge only when the pipeline (and so the branch-flow guard) succeeds; skipped pipelines do not count", () => {
    const [m] = gitlabOfType(recorded, "MergeChecks");
    assert.deepStrictEqual([m.inputs.onlyAllowMergeIfPipelineSucceeds, m.inputs.allowMergeOnSkippedPipeline], [true, false]);
  });

  it("never puts a token in any resource input", () => {
    for (const r of recorded) assert.ok(!/token/i.test(Object.keys(r.inputs).join(",")), r.name);
    assert.ok(recorded.every((r) => !r.type.startsWith("pulumi-nodejs") || r.inputs.baseUrl === "https://gitlab.quantfirm.example/api/v4"));
  });
});

describe("GitLabBranchPolicy: the consumer's sign-off per tier and configuration (mocks)", () => {
  const cases = [
    ["premium", shipped, ["quant_live", "quant_lr"]],
    ["ultimate", shipped, ["quant_live", "quant_lr"]],
    ["free", shipped, []],
    ["premium", withoutSigners, []],
  ] as const;
  for (const [tier, sources, expected] of cases) {
    const what = sources === shipped ? "a model names signers" : "no model names signers";
    it(`${tier}, ${what}: ${expected.length ? `sign-off rules on ${expected.join(", ")}` : "no sign-off rule"}`, async () => {
      const recorded = await installMocks("quant", GIT_TYPES);
      const plan = buildAccessPlan(validate(sources()), "quant");
      new GitLabBranchPolicy(`signoff-${tier}-${sources.name}`, { plan, tier });
      await settle(recorded);
      assert.deepStrictEqual(Object.keys(rulesByBranch(recorded, "sign-off")).sort(), expected);
      // The approvers' rules stand on every paid tier either way; Free declares no approval rule at all.
      assert.strictEqual(Object.keys(rulesByBranch(recorded, "approvers")).length, tier === "free" ? 0 : 4);
      assert.strictEqual(gitlabOfType(recorded, "ApprovalRule").length, tier === "free" ? 0 : 4 + expected.length);
    });
  }
});

/** The shipped configuration with the Git settings of stack quant moved to a GitHub repository. */
function onGitHub(s: ConfigSources = shipped()): ConfigSources {
  stackVal(s, "quant", "git").provider = "github";
  stackVal(s, "quant", "git").url = "https://github.com";
  stackVal(s, "quant", "git").project = "quantfirm/quant-research";
  return s;
}

const ofGitHub = (r: Recorded[], t: string) => r.filter((x) => x.type === `github:index/${t}`);

describe("GitHubBranchPolicy (mocks)", () => {
  let plan: AccessPlan;
  let recorded: Recorded[];
  before(async () => {
    plan = buildAccessPlan(validate(onGitHub()), "quant");
    recorded = await installMocks("quant", GIT_TYPES);
    new GitHubBranchPolicy("gh", { plan, provider: new github.Provider("gh", { owner: "quantfirm" }) });
    await settle(recorded);
  });
  /** The rulesets on `branch`, by kind (update, review, history), from their resource names. */
  const rulesets = (branch: string): Record<string, any> =>
    Object.fromEntries(
      ofGitHub(recorded, "repositoryRuleset:RepositoryRuleset")
        .filter((r) => r.inputs.conditions.refName.includes[0] === (branch === "*" ? "~ALL" : `refs/heads/${branch}`))
        .map((r) => [r.name.split(":").pop(), r.inputs]),
    );
  const teamId = (role: string) => numericId(`gh/team:${role}`);

  it("a team per role, members from the roster's Git usernames", () => {
    const teams = ofGitHub(recorded, "team:Team")
      .map((t) => t.inputs.name)
      .sort();
    assert.deepStrictEqual(teams, [
      "quant-admin",
      "quant-approver",
      "quant-approver + quant-release_manager",
      "quant-consumer",
      "quant-developer",
      "quant-release_manager",
    ]);
    const members = (teamName: string) => {
      const id = String(numericId(ofGitHub(recorded, "team:Team").find((t) => t.inputs.name === teamName)!.name));
      return ofGitHub(recorded, "teamMembership:TeamMembership")
        .filter((m) => m.inputs.teamId === id)
        .map((m) => m.inputs.username)
        .sort();
    };
    assert.deepStrictEqual(members("quant-release_manager"), ["epetrova", "fhaddad"]);
    assert.deepStrictEqual(members("quant-consumer"), ["glee", "htanaka"]);
    assert.deepStrictEqual(members("quant-approver + quant-release_manager"), ["cwei", "dsingh", "epetrova", "fhaddad"]);
  });

  it("least repository permission: push only for teams that push, merge or approve; pull for consumers and admins", () => {
    const perm = Object.fromEntries(
      ofGitHub(recorded, "teamRepository:TeamRepository").map((r) => [
        r.name.replace(/^gh\/team:|\/repository$/g, ""),
        r.inputs.permission,
      ]),
    );
    assert.deepStrictEqual(perm, {
      developer: "push",
      approver: "push",
      release_manager: "push",
      consumer: "pull",
      admin: "pull",
      "approver+release_manager": "push",
    });
    for (const r of ofGitHub(recorded, "teamRepository:TeamRepository")) assert.strictEqual(r.inputs.repository, "quant-research");
  });

  it("quant: only its pushers update it (bypass always); no force-push or deletion that anyone bypasses", () => {
    const { update, review, history } = rulesets("quant");
    assert.deepStrictEqual([update.rules.update, update.rules.creation, update.enforcement], [true, true, "active"]);
    assert.deepStrictEqual(
      update.bypassActors.map((a: { actorId: number }) => a.actorId).sort(),
      [teamId("approver"), teamId("developer"), teamId("release_manager")].sort(),
    );
    assert.ok(
      update.bypassActors.every((a: { actorType: string; bypassMode: string }) => a.actorType === "Team" && a.bypassMode === "always"),
    );
    assert.deepStrictEqual(review.bypassActors, update.bypassActors, "who may push need not open a pull request");
    assert.deepStrictEqual([history.rules.nonFastForward, history.rules.deletion, history.bypassActors], [true, true, []]);
  });

  it("promotion targets: only release managers update them, and only by merging a pull request (bypass pull_request)", () => {
    for (const b of ["quant_stg", "quant_lr", "quant_live"]) {
      const { update, review, ...rest } = rulesets(b);
      assert.deepStrictEqual(
        update.bypassActors,
        [{ actorId: teamId("release_manager"), actorType: "Team", bypassMode: "pull_request" }],
        b,
      );
      assert.deepStrictEqual(review.bypassActors, [], `${b}: nobody skips the review`);
      assert.deepStrictEqual(rest, {}, `${b}: the review ruleset, bypassed by nobody, keeps history`);
    }
  });

  it("the review: N approvals from the approving team, last-push approval, stale reviews dismissed, the guard as required check", () => {
    const union = numericId("gh/team:approver+release_manager");
    for (const [b, n, team] of [
      ["quant", 1, teamId("approver")],
      ["quant_stg", 1, union],
      ["quant_lr", 1, union],
      ["quant_live", 2, union],
    ] as const) {
      const { rules } = rulesets(b).review;
      assert.deepStrictEqual(
        rules.pullRequest,
        {
          requiredApprovingReviewCount: n,
          requireLastPushApproval: true,
          dismissStaleReviewsOnPush: true,
          requiredReviewThreadResolution: false,
          requireCodeOwnerReview: false,
          requiredReviewers: [{ filePatterns: ["*"], minimumApprovals: n, reviewer: { id: team, type: "Team" } }],
        },
        b,
      );
      assert.deepStrictEqual(rules.requiredStatusChecks.requiredChecks, [{ context: "branch-flow" }], b);
    }
  });

  it("every other branch: nobody creates or updates it; no force-push or deletion on any ruleset", () => {
    const other = rulesets("*").update;
    assert.deepStrictEqual([other.rules.creation, other.rules.update, other.bypassActors], [true, true, []]);
    assert.deepStrictEqual(other.conditions.refName.excludes.sort(), [
      "refs/heads/quant",
      "refs/heads/quant_live",
      "refs/heads/quant_lr",
      "refs/heads/quant_stg",
    ]);
    for (const x of ofGitHub(recorded, "repositoryRuleset:RepositoryRuleset"))
      assert.deepStrictEqual(
        [x.inputs.rules.nonFastForward, x.inputs.rules.deletion, x.inputs.enforcement],
        [true, true, "active"],
        x.inputs.name,
      );
  });

  it("every GitHub declaration passes the policy pack", () => {
    assert.deepStrictEqual(policyViolations(recorded, plan), []);
  });

  it("no individual collaborator: access comes through teams only", () => {
    assert.strictEqual(recorded.filter((r) => /repositoryCollaborator/.test(r.type)).length, 0);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Parity: the rights each host's declarations grant, member by member and branch by branch, read back from
// the declared resources alone, equal the plan's. On both hosts whoever may push may also land a merge (by
// pushing the merge commit), so "merge" below is the plan's merge members plus its push members.

interface Rights {
  push: boolean;
  merge: boolean;
  approve: boolean;
}
const show = (r: Rights) => {
  const may = (["push", "merge", "approve"] as const).filter((k) => r[k]);
  return may.length ? `may ${may.join(", ")}` : "may not push, merge or approve";
};

/** What the GitLab declarations (protected branches, approval rules; Premium) grant `username` on `branch`. */
function gitlabRights(r: Recorded[], username: string, branch: string): Rights {
  const pb = gitlabOfType(r, "ProtectedBranch").find((x) => x.inputs.branch === branch)!.inputs;
  assert.ok(pb.pushLevels.every((l: number) => l === 0) && pb.mergeLevels.every((l: number) => l === 0), "per-user rights only");
  const push = pb.pushUsernames.includes(username);
  // The approvers' rule: the consumer's sign-off, a second rule on production branches, is no right to approve.
  const rule = gitlabOfType(r, "ApprovalRule").find((x) => x.inputs.ruleName === `${branch} approvers`);
  return { push, merge: push || pb.mergeUsernames.includes(username), approve: !!rule && rule.inputs.approverUsernames.includes(username) };
}

/** What the GitHub declarations (team memberships and permissions, rulesets and their bypass actors) grant. */
function githubRights(r: Recorded[], username: string, branch: string): Rights {
  const teams = new Set(
    ofGitHub(r, "teamMembership:TeamMembership")
      .filter((m) => m.inputs.username === username)
      .map((m) => Number(m.inputs.teamId)),
  );
  const write = ofGitHub(r, "teamRepository:TeamRepository").some(
    (x) => teams.has(Number(x.inputs.teamId)) && ["push", "maintain", "admin"].includes(x.inputs.permission),
  );
  const ref = branch === "*" ? "refs/heads/some-feature" : `refs/heads/${branch}`;
  const applies = ofGitHub(r, "repositoryRuleset:RepositoryRuleset")
    .map((x) => x.inputs)
    .filter(
      (x) =>
        x.enforcement === "active" &&
        (x.conditions.refName.includes.includes(ref) || x.conditions.refName.includes.includes("~ALL")) &&
        !x.conditions.refName.excludes.includes(ref),
    );
  const mode = (x: Record<string, any>) =>
    (x.bypassActors ?? [])
      .filter((a: { actorType: string; actorId: number }) => a.actorType === "Team" && teams.has(a.actorId))
      .map((a: { bypassMode: string }) => a.bypassMode) as string[];
  // A direct push passes a ruleset with nothing against it (a fast-forward), or one the member always bypasses.
  const push =
    write && applies.every((x) => !(x.rules.update || x.rules.pullRequest || x.rules.requiredStatusChecks) || mode(x).includes("always"));
  // Merging a pull request passes every `update` rule the member bypasses, always or through pull requests.
  const merge = push || (write && applies.every((x) => !x.rules.update || mode(x).some((m) => m === "always" || m === "pull_request")));
  const reviews = applies.filter((x) => x.rules.pullRequest);
  const approve =
    write &&
    reviews.length > 0 &&
    reviews.every((x) =>
      (x.rules.pullRequest.requiredReviewers ?? []).every((rr: { reviewer: { id: number } }) => teams.has(rr.reviewer.id)),
    );
  return { push, merge, approve };
}

/** A variant: consumers merge into quant_stg (merge without push) and approve into quant_lr (a third approving role). */
function variant(): ConfigSources {
  const s = shipped();
  const consumer = proj(s, "roles").consumer;
  consumer.git = { ...consumer.git, merge: ["quant_stg"], approve: ["quant_lr"] };
  return s;
}

for (const [title, sources] of [
  ["the shipped configuration", shipped],
  ["a variant with merge-only and three approving roles", variant],
] as const) {
  describe(`branch rights from the plan, on GitLab and GitHub alike (${title})`, () => {
    const plan = buildAccessPlan(validate(sources()), "quant");
    const ghPlan = buildAccessPlan(validate(onGitHub(sources())), "quant");
    let recorded: Recorded[];
    before(async () => {
      recorded = await installMocks("quant", GIT_TYPES);
      const n = title.length;
      new GitLabBranchPolicy(`parity-gl-${n}`, { plan, tier: "premium" });
      new GitHubBranchPolicy(`parity-gh-${n}`, { plan: ghPlan, provider: new github.Provider(`parity-gh-${n}`, { owner: "quantfirm" }) });
      await settle(recorded);
    });

    for (const b of plan.branchRules) {
      for (const m of plan.gitMembers) {
        const expected: Rights = {
          push: b.pushMembers.includes(m.member),
          merge: b.mergeMembers.includes(m.member) || b.pushMembers.includes(m.member),
          approve: b.approveMembers.includes(m.member),
        };
        it(`${b.branch}: ${m.member} (${m.roles.join(", ")}) ${show(expected)}`, () => {
          assert.deepStrictEqual(gitlabRights(recorded, m.gitUsername, b.branch), expected, "GitLab");
          assert.deepStrictEqual(githubRights(recorded, m.gitUsername, b.branch), expected, "GitHub");
        });
      }
    }
  });
}
