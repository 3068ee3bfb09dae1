import * as assert from "assert";
import { ResourceValidationArgs } from "@pulumi/policy";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { QuantPolicyConfig, quantPolicies, quantPolicyConfig, quantStackPolicies, stackOfUrn } from "../../policy/policies";
import { projectPolicyConfig } from "../../policy/projectConfig";
import { buildAccessPlan } from "../../plan/accessPlan";
import { validate as validateConfig } from "../../config/validate";
import { ConfigSources } from "../../config/load";
import { Obj, PROJECT_DIR, proj, shipped, stackVal } from "../fixtures/config";

/** The policy config the shipped project implies for a stack: through validation and the plan. */
const configOf = (sources: ConfigSources, stack = "quant") => quantPolicyConfig(buildAccessPlan(validateConfig(sources, stack), stack));
const SHIPPED = configOf(shipped());

/** Calls one policy on one resource and returns the violations it reported. */
function check(policyName: string, type: string, props: Record<string, unknown>, config: QuantPolicyConfig = SHIPPED): string[] {
  const p = quantPolicies(() => config).find((x) => x.name === policyName);
  if (!p) throw new Error(`no policy ${policyName}`);
  const violations: string[] = [];
  const args = {
    type,
    props,
    urn: `urn:pulumi:quant::quant-platform::${type}::r`,
    name: "r",
    opts: {},
    stackTags: new Map(),
    getConfig: () => {
      throw new Error("the policies take their config from the project, not from policy config");
    },
    notApplicable: () => {
      throw new Error("not applicable");
    },
  } as unknown as ResourceValidationArgs;
  const validate = p.validateResource as (a: ResourceValidationArgs, r: (m: string) => void) => void;
  validate(args, (m: string) => violations.push(m));
  return violations;
}

/** The shipped configuration with environment `from` renamed to `to` everywhere it names a branch. */
function renameEnvironment(s: ConfigSources, from: string, to: string): ConfigSources {
  const envs = proj(s, "environments") as Obj;
  s.project.environments = Object.fromEntries(Object.entries(envs).map(([k, v]) => [k === from ? to : k, v]));
  for (const e of proj(s, "flow") as Obj[]) for (const end of ["from", "to"]) if (e[end] === from) e[end] = to;
  for (const r of Object.values(proj(s, "roles") as Obj)) {
    for (const k of ["push", "merge", "approve"]) if (r.git[k]) r.git[k] = r.git[k].map((b: string) => (b === from ? to : b));
  }
  for (const stack of Object.keys(s.stacks))
    if (stackVal(s, stack, "workspace").branch === from) stackVal(s, stack, "workspace").branch = to;
  return s;
}

const PB = "pulumi-nodejs:dynamic/gitlab:ProtectedBranch";
const RS = "github:index/repositoryRuleset:RepositoryRuleset";
const PERM = "databricks:index/permissions:Permissions";
const branch = (over: Record<string, unknown> = {}) => ({
  branch: "quant_stg",
  pushLevels: [0],
  pushUsernames: [],
  mergeLevels: [0],
  mergeUsernames: ["epetrova"],
  allowForcePush: false,
  ...over,
});
const ruleset = (rules: Record<string, unknown>, ref = "refs/heads/quant_stg") => ({
  name: "x",
  conditions: { refName: { includes: [ref], excludes: [] } },
  rules,
});
const goodPr = {
  pullRequest: { requiredApprovingReviewCount: 1, requireLastPushApproval: true },
  requiredStatusChecks: { requiredChecks: [{ context: "branch-flow" }] },
  nonFastForward: true,
};

describe("CrossGuard policy pack", () => {
  it("takes its names from the shipped configuration, through the plan", () => {
    assert.deepStrictEqual(SHIPPED, {
      developmentBranches: ["quant"],
      adminGroups: ["quant-admin"],
      releaseGroups: ["quant-release_manager"],
      flow: [
        { from: "quant", to: "quant_stg" },
        { from: "quant_stg", to: "quant_lr" },
        { from: "quant_stg", to: "quant_live" },
        { from: "quant_lr", to: "quant_live" },
      ],
      signOff: [
        { branch: "quant_lr", ruleName: "consumer sign-off (quant_lr)", signers: ["glee", "htanaka"] },
        { branch: "quant_live", ruleName: "consumer sign-off (quant_live)", signers: ["glee", "htanaka"] },
      ],
      bypass: [
        { branch: "quant", always: ["quant-approver", "quant-developer", "quant-release_manager"], pullRequest: [] },
        { branch: "quant_stg", always: [], pullRequest: ["quant-release_manager"] },
        { branch: "quant_lr", always: [], pullRequest: ["quant-release_manager"] },
        { branch: "quant_live", always: [], pullRequest: ["quant-release_manager"] },
      ],
    });
    for (const stack of Object.keys(shipped().stacks))
      assert.deepStrictEqual(configOf(shipped(), stack), SHIPPED, `stack ${stack} enforces the same project-wide names`);
  });

  it("has the nine mandatory policies", () => {
    assert.deepStrictEqual(
      quantPolicies(() => SHIPPED).map((p) => [p.name, p.enforcementLevel]),
      [
        ["only-development-branch-accepts-pushes", "mandatory"],
        ["no-force-push", "mandatory"],
        ["approval-by-someone-else", "mandatory"],
        ["consumer-sign-off-by-signers", "mandatory"],
        ["pipelines-must-succeed", "mandatory"],
        ["no-can-manage-for-non-admin-groups", "mandatory"],
        ["production-versions-release-managers-only", "mandatory"],
        ["migrations-along-flow", "mandatory"],
        ["no-plaintext-secrets", "mandatory"],
      ],
    );
  });

  it("only quant accepts pushes", () => {
    assert.deepStrictEqual(check("only-development-branch-accepts-pushes", PB, branch()), []);
    assert.deepStrictEqual(check("only-development-branch-accepts-pushes", PB, branch({ branch: "quant", pushUsernames: ["aruiz"] })), []);
    assert.match(
      check("only-development-branch-accepts-pushes", PB, branch({ pushUsernames: ["aruiz"] }))[0],
      /branch quant_stg accepts pushes \(aruiz\); only quant may/,
    );
    assert.strictEqual(check("only-development-branch-accepts-pushes", PB, branch({ pushLevels: [30] })).length, 1);
    assert.match(
      check("only-development-branch-accepts-pushes", RS, ruleset({ nonFastForward: true }))[0],
      /lets quant_stg take direct pushes/,
    );
    assert.deepStrictEqual(check("only-development-branch-accepts-pushes", RS, ruleset(goodPr)), []);
  });

  it("no force-push", () => {
    assert.deepStrictEqual(check("no-force-push", PB, branch()), []);
    assert.match(check("no-force-push", PB, branch({ allowForcePush: true }))[0], /branch quant_stg allows force-push/);
    assert.match(check("no-force-push", RS, ruleset({ ...goodPr, nonFastForward: false }))[0], /does not block force-push/);
  });

  it("at least one approval, and the author's approval does not count", () => {
    const AS = "pulumi-nodejs:dynamic/gitlab:ApprovalSettings";
    const ok = {
      mergeRequestsAuthorApproval: false,
      mergeRequestsDisableCommittersApproval: true,
      resetApprovalsOnPush: true,
      disableOverridingApproversPerMergeRequest: true,
    };
    assert.deepStrictEqual(check("approval-by-someone-else", AS, ok), []);
    assert.match(check("approval-by-someone-else", AS, { ...ok, mergeRequestsAuthorApproval: true })[0], /author's approval counts/);
    assert.match(
      check("approval-by-someone-else", "pulumi-nodejs:dynamic/gitlab:ApprovalRule", { ruleName: "r", approvalsRequired: 0 })[0],
      /requires 0 approvals; at least 1/,
    );
    assert.match(
      check(
        "approval-by-someone-else",
        RS,
        ruleset({ ...goodPr, pullRequest: { requiredApprovingReviewCount: 1, requireLastPushApproval: false } }),
      )[0],
      /last pusher's own approval/,
    );
  });

  it("the consumer's sign-off rule: accepted as an approval rule; only signers, on its own production branch", () => {
    const AR = "pulumi-nodejs:dynamic/gitlab:ApprovalRule";
    const signOff = (over: Record<string, unknown> = {}) => ({
      ruleName: "consumer sign-off (quant_lr)",
      branch: "quant_lr",
      approvalsRequired: 1,
      approverUsernames: ["glee", "htanaka"],
      ...over,
    });
    assert.deepStrictEqual(check("approval-by-someone-else", AR, signOff()), []);
    assert.deepStrictEqual(check("consumer-sign-off-by-signers", AR, signOff()), []);
    assert.deepStrictEqual(check("consumer-sign-off-by-signers", AR, signOff({ approverUsernames: ["glee", "dsingh"] })), [
      "approval rule consumer sign-off (quant_lr) lets dsingh give the sign-off; only the signers may (glee, htanaka)",
    ]);
    assert.deepStrictEqual(check("consumer-sign-off-by-signers", AR, signOff({ branch: "quant_stg" })), [
      "approval rule consumer sign-off (quant_lr) applies to branch quant_stg; expected quant_lr",
    ]);
    assert.match(check("approval-by-someone-else", AR, signOff({ approvalsRequired: 0 }))[0], /requires 0 approvals; at least 1/);
    // The approvers' own rule is not a sign-off: approvers are not held to the signer list.
    assert.deepStrictEqual(
      check("consumer-sign-off-by-signers", AR, { ruleName: "quant_lr approvers", branch: "quant_lr", approverUsernames: ["dsingh"] }),
      [],
    );
  });

  it("pipelines must succeed", () => {
    const MC = "pulumi-nodejs:dynamic/gitlab:MergeChecks";
    assert.deepStrictEqual(
      check("pipelines-must-succeed", MC, { onlyAllowMergeIfPipelineSucceeds: true, allowMergeOnSkippedPipeline: false }),
      [],
    );
    assert.deepStrictEqual(
      check("pipelines-must-succeed", MC, { onlyAllowMergeIfPipelineSucceeds: false, allowMergeOnSkippedPipeline: true }).length,
      2,
    );
    assert.match(check("pipelines-must-succeed", RS, ruleset({ pullRequest: goodPr.pullRequest }))[0], /requires no status check/);
  });

  it("no CAN_MANAGE for non-admin groups on models and shared Git folders", () => {
    const acl = (g: string, l: string) => ({
      registeredModelId: "rm-1",
      accessControls: [
        { groupName: "quant-admin", permissionLevel: "CAN_MANAGE" },
        { groupName: g, permissionLevel: l },
      ],
    });
    assert.deepStrictEqual(check("no-can-manage-for-non-admin-groups", PERM, acl("quant-developer", "CAN_EDIT")), []);
    assert.match(
      check("no-can-manage-for-non-admin-groups", PERM, acl("quant-developer", "CAN_MANAGE"))[0],
      /quant-developer gets CAN_MANAGE on a registered model/,
    );
    assert.match(
      check("no-can-manage-for-non-admin-groups", PERM, {
        repoId: "1",
        accessControls: [{ groupName: "quant-consumer", permissionLevel: "CAN_MANAGE" }],
      })[0],
      /shared Git folder/,
    );
    assert.deepStrictEqual(
      check("no-can-manage-for-non-admin-groups", PERM, {
        directoryPath: "/Teams/quant/git",
        accessControls: [{ groupName: "quant-consumer", permissionLevel: "CAN_MANAGE" }],
      }),
      [],
      "the Git folder root needs CAN_MANAGE for everyone",
    );
    assert.match(
      check("no-can-manage-for-non-admin-groups", "databricks:index/grants:Grants", {
        model: "c.s.m",
        grants: [{ principal: "quant-developer", privileges: ["EXECUTE", "MANAGE"] }],
      })[0],
      /quant-developer gets EXECUTE\+MANAGE/,
    );
  });

  it("production model versions managed only by release managers", () => {
    const acl = (g: string) => ({
      registeredModelId: "rm-1",
      accessControls: [{ groupName: g, permissionLevel: "CAN_MANAGE_PRODUCTION_VERSIONS" }],
    });
    assert.deepStrictEqual(check("production-versions-release-managers-only", PERM, acl("quant-release_manager")), []);
    assert.match(
      check("production-versions-release-managers-only", PERM, acl("quant-approver"))[0],
      /quant-approver can manage production model versions/,
    );
  });

  it("model migrations only along flow edges", () => {
    const MM = "pulumi-nodejs:dynamic/mlflow:ModelMigration";
    assert.deepStrictEqual(check("migrations-along-flow", MM, { model: "m", fromEnv: "quant", toEnv: "quant_stg" }), []);
    assert.match(
      check("migrations-along-flow", MM, { model: "m", fromEnv: "quant", toEnv: "quant_live" })[0],
      /migrates quant -> quant_live, which is not a promotion edge/,
    );
  });

  it("no plaintext secrets in resource inputs", () => {
    assert.deepStrictEqual(check("no-plaintext-secrets", PB, branch()), []);
    assert.match(check("no-plaintext-secrets", PB, { ...branch(), gitlabToken: "glpat-x" })[0], /input gitlabToken carries a credential/);
    assert.match(
      check("no-plaintext-secrets", "databricks:index/repo:Repo", { url: "u", sparseCheckout: { gitCredential: { privateKey: "k" } } })[0],
      /input sparseCheckout\.gitCredential\.privateKey/,
    );
    assert.deepStrictEqual(
      check("no-plaintext-secrets", "pulumi:providers:databricks", { host: "h", token: "from-secret-config" }),
      [],
      "providers take credentials from secret config",
    );
  });

  it("a renamed development branch in config moves the push rule with it", () => {
    const renamed = configOf(renameEnvironment(shipped(), "quant", "research"));
    assert.deepStrictEqual(renamed.developmentBranches, ["research"]);
    const push = (branchName: string, c: QuantPolicyConfig) =>
      check("only-development-branch-accepts-pushes", PB, branch({ branch: branchName, pushUsernames: ["aruiz"] }), c);
    assert.deepStrictEqual(push("research", renamed), [], "the renamed development branch takes pushes");
    assert.match(push("quant", renamed)[0], /branch quant accepts pushes \(aruiz\); only research may/, "the old name no longer does");
    const MM = "pulumi-nodejs:dynamic/mlflow:ModelMigration";
    assert.deepStrictEqual(check("migrations-along-flow", MM, { model: "m", fromEnv: "research", toEnv: "quant_stg" }, renamed), []);
    assert.strictEqual(check("migrations-along-flow", MM, { model: "m", fromEnv: "quant", toEnv: "quant_stg" }, renamed).length, 1);
  });

  it("a renamed group prefix or release role in config changes who may manage models", () => {
    const s = shipped();
    (proj(s, "organization") as Obj).groupPrefix = "alpha-";
    const roles = proj(s, "roles") as Obj;
    s.project.roles = Object.fromEntries(Object.entries(roles).map(([k, v]) => [k === "release_manager" ? "releaser" : k, v]));
    for (const m of proj(s, "roster") as Obj[]) m.roles = m.roles.map((r: string) => (r === "release_manager" ? "releaser" : r));
    const c = configOf(s);
    assert.deepStrictEqual([c.adminGroups, c.releaseGroups], [["alpha-admin"], ["alpha-releaser"]]);
    const manage = (g: string) => ({ registeredModelId: "rm-1", accessControls: [{ groupName: g, permissionLevel: "CAN_MANAGE" }] });
    assert.deepStrictEqual(check("no-can-manage-for-non-admin-groups", PERM, manage("alpha-admin"), c), []);
    assert.match(
      check("no-can-manage-for-non-admin-groups", PERM, manage("quant-admin"), c)[0],
      /quant-admin gets CAN_MANAGE on a registered model; only alpha-admin/,
    );
    const prod = (g: string) => ({
      registeredModelId: "rm-1",
      accessControls: [{ groupName: g, permissionLevel: "CAN_MANAGE_PRODUCTION_VERSIONS" }],
    });
    assert.deepStrictEqual(check("production-versions-release-managers-only", PERM, prod("alpha-releaser"), c), []);
    assert.match(
      check("production-versions-release-managers-only", PERM, prod("quant-release_manager"), c)[0],
      /quant-release_manager can manage production model versions; only alpha-releaser/,
    );
  });

  it("an edge removed from the flow in config is no longer a migration path", () => {
    const s = shipped();
    s.project.flow = (proj(s, "flow") as Obj[]).filter((e) => !(e.from === "quant_lr" && e.to === "quant_live"));
    const MM = "pulumi-nodejs:dynamic/mlflow:ModelMigration";
    const lrToLive = { model: "m", fromEnv: "quant_lr", toEnv: "quant_live" };
    assert.deepStrictEqual(check("migrations-along-flow", MM, lrToLive), [], "an edge in the shipped flow");
    assert.match(
      check("migrations-along-flow", MM, lrToLive, configOf(s))[0],
      /migrates quant_lr -> quant_live, which is not a promotion edge/,
    );
  });

  it("the pack reads Pulumi.yaml of the project it sits in, for the stack named in each resource's URN", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-project-"));
    try {
      for (const f of fs.readdirSync(PROJECT_DIR).filter((f) => /^Pulumi(\..+)?\.yaml$/.test(f)))
        fs.copyFileSync(path.join(PROJECT_DIR, f), path.join(dir, f));
      const yaml = YAML.parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"));
      yaml.config["quant-platform:organization"].value.groupPrefix = "beta-";
      fs.writeFileSync(path.join(dir, "Pulumi.yaml"), YAML.stringify(yaml));
      const configFor = projectPolicyConfig(dir);
      const args = (stack: string) => ({ urn: `urn:pulumi:${stack}::quant-platform::${PERM}::r` }) as unknown as ResourceValidationArgs;
      assert.deepStrictEqual(configFor(args("quant_lr")).adminGroups, ["beta-admin"]);
      assert.deepStrictEqual(projectPolicyConfig(PROJECT_DIR)(args("quant_stg")), SHIPPED);
      assert.throws(() => configFor(args("nope")), /there is no Pulumi\.nope\.yaml/);
      assert.strictEqual(stackOfUrn("urn:pulumi:quant_lr::quant-platform::pulumi:pulumi:Stack::quant-platform-quant_lr"), "quant_lr");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("CrossGuard stack policy bypass-only-by-plan (GitHub rulesets, bypass teams named through their dependencies)", () => {
  const team = (name: string) => ({
    type: "github:index/team:Team",
    props: { name },
    urn: `urn:pulumi:quant::quant-platform::github:index/team:Team::${name}`,
  });
  /** Violations of the stack policy over one ruleset on `ref` whose bypass actors are `actors`, each a team by name. */
  const judge = (ref: string, actors: [string, string][], extra: Record<string, unknown>[] = []): string[] => {
    const violations: string[] = [];
    const ruleset = {
      type: RS,
      urn: "urn:pulumi:quant::quant-platform::github:index/repositoryRuleset:RepositoryRuleset::r",
      props: {
        name: "r",
        conditions: { refName: { includes: [ref], excludes: [] } },
        bypassActors: [...actors.map(([, mode], i) => ({ actorId: i + 1, actorType: "Team", bypassMode: mode })), ...extra],
      },
      propertyDependencies: { bypassActors: actors.map(([name]) => team(name)) },
    };
    const [policy] = quantStackPolicies(() => SHIPPED);
    (policy.validateStack as (a: unknown, r: (m: string) => void) => void)({ resources: [ruleset] }, (m) => violations.push(m));
    return violations;
  };
  it("passes what the plan declares: pushers always on quant, release managers through pull requests elsewhere", () => {
    assert.deepStrictEqual(
      judge("refs/heads/quant", [
        ["quant-developer", "always"],
        ["quant-approver", "always"],
      ]),
      [],
    );
    assert.deepStrictEqual(judge("refs/heads/quant_live", [["quant-release_manager", "pull_request"]]), []);
  });
  it("names a team the plan does not let bypass, an always-bypass off the development branch, and non-team actors", () => {
    assert.match(
      judge("refs/heads/quant_stg", [["quant-consumer", "pull_request"]])[0],
      /lets quant-consumer bypass it on quant_stg; only quant-release_manager may/,
    );
    assert.match(judge("refs/heads/quant_live", [["quant-release_manager", "always"]])[0], /always bypasses it on quant_live/);
    assert.match(
      judge("refs/heads/quant", [], [{ actorId: 1, actorType: "OrganizationAdmin", bypassMode: "always" }])[0],
      /lets OrganizationAdmin bypass it on quant/,
    );
  });
});
