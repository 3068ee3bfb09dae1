import * as assert from "assert";
import { ResourceValidationArgs } from "@pulumi/policy";
import { policies } from "../../policy/policies";

/** Calls one policy on one resource and returns the violations it reported. */
function check(policyName: string, type: string, props: Record<string, unknown>, config: Record<string, unknown> = {}): string[] {
  const p = policies.find((x) => x.name === policyName);
  if (!p) throw new Error(`no policy ${policyName}`);
  const violations: string[] = [];
  const args = {
    type, props, urn: `urn:pulumi:quant::quant-platform::${type}::r`, name: "r", opts: {}, stackTags: new Map(),
    getConfig: () => config, notApplicable: () => { throw new Error("not applicable"); },
  } as unknown as ResourceValidationArgs;
  const validate = p.validateResource as (a: ResourceValidationArgs, r: (m: string) => void) => void;
  validate(args, (m: string) => violations.push(m));
  return violations;
}

const PB = "pulumi-nodejs:dynamic/gitlab:ProtectedBranch";
const RS = "github:index/repositoryRuleset:RepositoryRuleset";
const PERM = "databricks:index/permissions:Permissions";
const branch = (over: Record<string, unknown> = {}) => ({ branch: "quant_stg", pushLevels: [0], pushUsernames: [], mergeLevels: [0], mergeUsernames: ["epetrova"], allowForcePush: false, ...over });
const ruleset = (rules: Record<string, unknown>, ref = "refs/heads/quant_stg") => ({ name: "x", conditions: { refName: { includes: [ref], excludes: [] } }, rules });
const goodPr = { pullRequest: { requiredApprovingReviewCount: 1, requireLastPushApproval: true }, requiredStatusChecks: { requiredChecks: [{ context: "branch-flow" }] }, nonFastForward: true };

describe("CrossGuard policy pack", () => {
  it("has the eight mandatory policies", () => {
    assert.deepStrictEqual(policies.map((p) => [p.name, p.enforcementLevel]), [
      ["only-development-branch-accepts-pushes", "mandatory"], ["no-force-push", "mandatory"], ["approval-by-someone-else", "mandatory"],
      ["pipelines-must-succeed", "mandatory"], ["no-can-manage-for-non-admin-groups", "mandatory"], ["production-versions-release-managers-only", "mandatory"],
      ["migrations-along-flow", "mandatory"], ["no-plaintext-secrets", "mandatory"],
    ]);
  });

  it("only quant accepts pushes", () => {
    assert.deepStrictEqual(check("only-development-branch-accepts-pushes", PB, branch()), []);
    assert.deepStrictEqual(check("only-development-branch-accepts-pushes", PB, branch({ branch: "quant", pushUsernames: ["aruiz"] })), []);
    assert.match(check("only-development-branch-accepts-pushes", PB, branch({ pushUsernames: ["aruiz"] }))[0], /branch quant_stg accepts pushes \(aruiz\); only quant may/);
    assert.strictEqual(check("only-development-branch-accepts-pushes", PB, branch({ pushLevels: [30] })).length, 1);
    assert.match(check("only-development-branch-accepts-pushes", RS, ruleset({ nonFastForward: true }))[0], /lets quant_stg take direct pushes/);
    assert.deepStrictEqual(check("only-development-branch-accepts-pushes", RS, ruleset(goodPr)), []);
    assert.strictEqual(check("only-development-branch-accepts-pushes", PB, branch({ branch: "main", pushUsernames: ["a"] }), { developmentBranches: ["main"] }).length, 0, "configurable");
  });

  it("no force-push", () => {
    assert.deepStrictEqual(check("no-force-push", PB, branch()), []);
    assert.match(check("no-force-push", PB, branch({ allowForcePush: true }))[0], /branch quant_stg allows force-push/);
    assert.match(check("no-force-push", RS, ruleset({ ...goodPr, nonFastForward: false }))[0], /does not block force-push/);
  });

  it("at least one approval, and the author's approval does not count", () => {
    const AS = "pulumi-nodejs:dynamic/gitlab:ApprovalSettings";
    const ok = { mergeRequestsAuthorApproval: false, mergeRequestsDisableCommittersApproval: true, resetApprovalsOnPush: true, disableOverridingApproversPerMergeRequest: true };
    assert.deepStrictEqual(check("approval-by-someone-else", AS, ok), []);
    assert.match(check("approval-by-someone-else", AS, { ...ok, mergeRequestsAuthorApproval: true })[0], /author's approval counts/);
    assert.match(check("approval-by-someone-else", "pulumi-nodejs:dynamic/gitlab:ApprovalRule", { ruleName: "r", approvalsRequired: 0 })[0], /requires 0 approvals; at least 1/);
    assert.match(check("approval-by-someone-else", RS, ruleset({ ...goodPr, pullRequest: { requiredApprovingReviewCount: 1, requireLastPushApproval: false } }))[0], /last pusher's own approval/);
  });

  it("pipelines must succeed", () => {
    const MC = "pulumi-nodejs:dynamic/gitlab:MergeChecks";
    assert.deepStrictEqual(check("pipelines-must-succeed", MC, { onlyAllowMergeIfPipelineSucceeds: true, allowMergeOnSkippedPipeline: false }), []);
    assert.deepStrictEqual(check("pipelines-must-succeed", MC, { onlyAllowMergeIfPipelineSucceeds: false, allowMergeOnSkippedPipeline: true }).length, 2);
    assert.match(check("pipelines-must-succeed", RS, ruleset({ pullRequest: goodPr.pullRequest }))[0], /requires no status check/);
  });

  it("no CAN_MANAGE for non-admin groups on models and shared Git folders", () => {
    const acl = (g: string, l: string) => ({ registeredModelId: "rm-1", accessControls: [{ groupName: "quant-admin", permissionLevel: "CAN_MANAGE" }, { groupName: g, permissionLevel: l }] });
    assert.deepStrictEqual(check("no-can-manage-for-non-admin-groups", PERM, acl("quant-developer", "CAN_EDIT")), []);
    assert.match(check("no-can-manage-for-non-admin-groups", PERM, acl("quant-developer", "CAN_MANAGE"))[0], /quant-developer gets CAN_MANAGE on a registered model/);
    assert.match(check("no-can-manage-for-non-admin-groups", PERM, { repoId: "1", accessControls: [{ groupName: "quant-consumer", permissionLevel: "CAN_MANAGE" }] })[0], /shared Git folder/);
    assert.deepStrictEqual(check("no-can-manage-for-non-admin-groups", PERM, { directoryPath: "/Teams/quant/git", accessControls: [{ groupName: "quant-consumer", permissionLevel: "CAN_MANAGE" }] }), [], "the Git folder root needs CAN_MANAGE for everyone");
    assert.match(check("no-can-manage-for-non-admin-groups", "databricks:index/grants:Grants", { model: "c.s.m", grants: [{ principal: "quant-developer", privileges: ["EXECUTE", "MANAGE"] }] })[0], /quant-developer gets EXECUTE\+MANAGE/);
  });

  it("production model versions managed only by release managers", () => {
    const acl = (g: string) => ({ registeredModelId: "rm-1", accessControls: [{ groupName: g, permissionLevel: "CAN_MANAGE_PRODUCTION_VERSIONS" }] });
    assert.deepStrictEqual(check("production-versions-release-managers-only", PERM, acl("quant-release_manager")), []);
    assert.match(check("production-versions-release-managers-only", PERM, acl("quant-approver"))[0], /quant-approver can manage production model versions/);
  });

  it("model migrations only along flow edges", () => {
    const MM = "pulumi-nodejs:dynamic/mlflow:ModelMigration";
    assert.deepStrictEqual(check("migrations-along-flow", MM, { model: "m", fromEnv: "quant", toEnv: "quant_stg" }), []);
    assert.match(check("migrations-along-flow", MM, { model: "m", fromEnv: "quant", toEnv: "quant_live" })[0], /migrates quant -> quant_live, which is not a promotion edge/);
  });

  it("no plaintext secrets in resource inputs", () => {
    assert.deepStrictEqual(check("no-plaintext-secrets", PB, branch()), []);
    assert.match(check("no-plaintext-secrets", PB, { ...branch(), gitlabToken: "glpat-x" })[0], /input gitlabToken carries a credential/);
    assert.match(check("no-plaintext-secrets", "databricks:index/repo:Repo", { url: "u", sparseCheckout: { gitCredential: { privateKey: "k" } } })[0], /input sparseCheckout\.gitCredential\.privateKey/);
    assert.deepStrictEqual(check("no-plaintext-secrets", "pulumi:providers:databricks", { host: "h", token: "from-secret-config" }), [], "providers take credentials from secret config");
  });
});
