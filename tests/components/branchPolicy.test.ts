import * as assert from "assert";
import * as github from "@pulumi/github";
import { buildAccessPlan, AccessPlan } from "../../plan/accessPlan";
import { validate } from "../../config/validate";
import { GitLabBranchPolicy } from "../../components/gitlab/branchPolicy";
import { GitHubBranchPolicy } from "../../components/github/branchPolicy";
import { shipped, shippedModel, stackVal } from "../fixtures/config";
import { GIT_TYPES, gitlabOfType, installMocks, Recorded, settle } from "../../devenv/pulumiMocks";

const byBranch = (r: Recorded[], t: string): Record<string, any> => Object.fromEntries( // eslint-disable-line @typescript-eslint/no-explicit-any
  gitlabOfType(r, t).map((x) => [x.inputs.branch, x.inputs]));

describe("GitLabBranchPolicy (mocks)", () => {
  const plan = buildAccessPlan(shippedModel(), "quant");
  let recorded: Recorded[];
  before(async () => {
    recorded = await installMocks("quant", GIT_TYPES);
    new GitLabBranchPolicy("git", { plan });
    await settle(recorded);
  });

  it("every roster member is at least a Developer of the project; release managers are Maintainers", () => {
    const levels = Object.fromEntries((gitlabOfType(recorded, "ProjectMembers")[0].inputs.members as { username: string; accessLevel: number }[]).map((m) => [m.username, m.accessLevel]));
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
    for (const name of ["quant_stg", "quant_lr", "quant_live"]) assert.deepStrictEqual(b[name].mergeUsernames, ["epetrova", "fhaddad"], name);
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
    const r = byBranch(recorded, "ApprovalRule");
    assert.deepStrictEqual(Object.keys(r).sort(), ["quant", "quant_live", "quant_lr", "quant_stg"]);
    for (const x of Object.values(r)) assert.ok((x.approvalsRequired as number) >= 1);
    assert.strictEqual(r.quant_live.approvalsRequired, 2);
    assert.deepStrictEqual(r.quant_stg.approverUsernames, ["cwei", "dsingh", "epetrova", "fhaddad"]);
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

describe("GitHubBranchPolicy (mocks)", () => {
  let plan: AccessPlan;
  let recorded: Recorded[];
  before(async () => {
    const s = shipped();
    stackVal(s, "quant", "git").provider = "github";
    stackVal(s, "quant", "git").url = "https://github.com";
    stackVal(s, "quant", "git").project = "quantfirm/quant-research";
    plan = buildAccessPlan(validate(s), "quant");
    recorded = await installMocks("quant", GIT_TYPES);
    new GitHubBranchPolicy("gh", { plan, provider: new github.Provider("gh", { owner: "quantfirm" }) });
    await settle(recorded);
  });
  const rulesets = (): Record<string, any> => Object.fromEntries( // eslint-disable-line @typescript-eslint/no-explicit-any
    recorded.filter((r) => r.type === "github:index/repositoryRuleset:RepositoryRuleset")
    .map((r) => [r.inputs.conditions.refName.includes[0], r.inputs]));

  it("a ruleset per protected branch plus one for every other branch", () => {
    assert.deepStrictEqual(Object.keys(rulesets()).sort(), ["refs/heads/quant", "refs/heads/quant_live", "refs/heads/quant_lr", "refs/heads/quant_stg", "~ALL"]);
    assert.deepStrictEqual(rulesets()["~ALL"].conditions.refName.excludes.sort(), ["refs/heads/quant", "refs/heads/quant_live", "refs/heads/quant_lr", "refs/heads/quant_stg"]);
  });

  it("promotion targets need a reviewed pull request: approvals, last-push approval, stale reviews dismissed, the guard as required check", () => {
    const r = rulesets();
    for (const b of ["quant_stg", "quant_lr", "quant_live"]) {
      const pr = r[`refs/heads/${b}`].rules.pullRequest;
      assert.ok(pr.requiredApprovingReviewCount >= 1, b);
      assert.strictEqual(pr.requireLastPushApproval, true);
      assert.strictEqual(pr.dismissStaleReviewsOnPush, true);
      assert.deepStrictEqual(r[`refs/heads/${b}`].rules.requiredStatusChecks.requiredChecks, [{ context: "branch-flow" }]);
    }
    assert.strictEqual(r["refs/heads/quant_live"].rules.pullRequest.requiredApprovingReviewCount, 2);
  });

  it("direct pushes only to quant; no force-push or deletion anywhere", () => {
    const r = rulesets();
    assert.strictEqual(r["refs/heads/quant"].rules.pullRequest, undefined, "quant takes direct pushes");
    assert.deepStrictEqual([r["~ALL"].rules.creation, r["~ALL"].rules.update], [true, true]);
    for (const x of Object.values(r)) assert.deepStrictEqual([x.rules.nonFastForward, x.rules.deletion, x.enforcement], [true, true, "active"]);
  });

  it("every roster member can read the repository", () => {
    const c = recorded.filter((r) => r.type === "github:index/repositoryCollaborator:RepositoryCollaborator");
    assert.strictEqual(c.length, 10);
    for (const x of c) assert.ok(["pull", "push", "maintain"].includes(x.inputs.permission));
    assert.strictEqual(c.find((x) => x.inputs.username === "epetrova")!.inputs.permission, "maintain");
  });
});
