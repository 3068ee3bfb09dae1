import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { buildAccessPlan } from "../../plan/accessPlan";
import { shippedModel } from "../fixtures/config";
import { policies } from "../../policy/policies";
import { ResourceValidationArgs } from "@pulumi/policy";
import { DATABRICKS_CALLS, DATABRICKS_TYPES, GIT_TYPES, MLFLOW_TYPES, gitlabOfType, installMocks, ofType, Recorded, settle, unwrap } from "../../devenv/pulumiMocks";

/** Runs index.ts as the engine would for `stack`, under mocks, and returns what it declared. */
async function runProgram(stack: string): Promise<{ recorded: Recorded[]; summary: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const recorded = await installMocks(stack, { ...DATABRICKS_TYPES, ...GIT_TYPES, ...MLFLOW_TYPES }, DATABRICKS_CALLS);
  const entry = require.resolve("../../index");
  delete require.cache[entry];
  const program = await import(entry);
  await settle(recorded);
  return { recorded, summary: program.summary };
}

for (const stack of ["quant", "quant_stg", "quant_lr"]) {
  describe(`program, stack ${stack} (mocks)`, () => {
    const plan = buildAccessPlan(shippedModel(), stack);
    let recorded: Recorded[];
    let summary: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    before(async () => ({ recorded, summary } = await runProgram(stack)));

    it(`${stack}: one explicit Databricks provider with the stack's host`, () => {
      const p = recorded.filter((r) => r.type === "pulumi:providers:databricks");
      assert.deepStrictEqual(p.map((x) => x.inputs.host), [plan.host]);
    });

    it(`${stack}: a group per role with exactly the planned entitlements`, () => {
      const groups = ofType(recorded, "group:Group").map((g) => ({
        name: g.inputs.displayName, ws: g.inputs.workspaceAccess, sql: g.inputs.databricksSqlAccess, cluster: g.inputs.allowClusterCreate,
      }));
      assert.deepStrictEqual(groups, plan.groups.map((g) => ({
        name: g.name, ws: true, sql: g.entitlements.includes("databricks-sql-access"), cluster: g.entitlements.includes("allow-cluster-create"),
      })));
    });

    it(`${stack}: a user and a membership per roster entry and role`, () => {
      assert.deepStrictEqual(ofType(recorded, "user:User").map((u) => u.inputs.userName), plan.users.map((u) => u.email));
      const members = ofType(recorded, "groupMember:GroupMember").map((m) => `${m.inputs.groupId}<-${m.inputs.memberId}`).sort();
      const expected = plan.memberships.map((m) => `workspace-${stack}/group:${m.group}-id<-workspace-${stack}/user:${m.email}-id`).sort();
      assert.deepStrictEqual(members, expected);
    });

    it(`${stack}: the Git folder roots, experiments folder and shared Git folder at the ${stack} branch`, () => {
      assert.deepStrictEqual(ofType(recorded, "directory:Directory").map((d) => d.inputs.path).sort(),
        ["/Teams/quant/experiments", "/Teams/quant/git", "/Teams/quant/shared"]);
      assert.deepStrictEqual(ofType(recorded, "repo:Repo").map((r) => [r.inputs.path, r.inputs.branch, r.inputs.gitProvider]),
        [["/Teams/quant/shared/quant-research", stack, "gitLab"]]);
    });

    it(`${stack}: exactly one Permissions per object, with the planned group ACLs`, () => {
      const perms = ofType(recorded, "permissions:Permissions");
      const byObject = perms.map((p) => ({
        object: p.inputs.directoryPath ?? p.inputs.repoId ?? p.inputs.registeredModelId,
        acl: p.inputs.accessControls.map((a: any) => `${a.groupName}=${a.permissionLevel}`).sort(), // eslint-disable-line @typescript-eslint/no-explicit-any
      }));
      const expected = [
        ...plan.workspaceAcls.map((a) => ({
          object: a.objectType === "repo" ? `workspace-${stack}/gitFolder:${a.path}-id` : a.path,
          acl: a.grants.map((g) => `${g.group}=${g.level}`).sort(),
        })),
        ...plan.registryAcls.map((a) => ({ object: `rm-registry-${stack}/model:${a.model}`, acl: a.grants.map((g) => `${g.group}=${g.level}`).sort() })),
      ];
      const sort = (x: { object: string }[]) => [...x].sort((a, b) => a.object.localeCompare(b.object));
      assert.deepStrictEqual(sort(byObject), sort(expected));
      for (const p of perms) for (const a of p.inputs.accessControls) assert.ok(a.groupName && !a.userName, "grants go to groups, never users");
    });

    it(`${stack}: the managed models, adopted where they already exist`, () => {
      assert.deepStrictEqual(ofType(recorded, "mlflowModel:MlflowModel").map((m) => m.inputs.name), plan.models.map((m) => m.name));
      assert.deepStrictEqual(ofType(recorded, "grants:Grants"), []);
    });

    it(`${stack}: ${stack === "quant" ? "owns and declares" : "leaves to quant"} the project-wide GitLab settings`, () => {
      const gitlab = recorded.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/gitlab:"));
      if (stack !== "quant") return assert.deepStrictEqual(gitlab, []);
      const [members] = gitlabOfType(recorded, "ProjectMembers");
      assert.strictEqual(gitlabOfType(recorded, "ProjectMembers").length, 1, "one resource for all members: a new member adds none");
      assert.deepStrictEqual((members.inputs.members as { username: string }[]).map((m) => m.username).sort(), plan.gitMembers.map((m) => m.gitUsername).sort());
      assert.deepStrictEqual(gitlabOfType(recorded, "ProtectedBranch").map((b) => b.inputs.branch).sort(), ["*", "quant", "quant_live", "quant_lr", "quant_stg"]);
      assert.strictEqual(gitlabOfType(recorded, "ApprovalSettings").length, 1);
      assert.strictEqual(gitlabOfType(recorded, "MergeChecks").length, 1);
      assert.deepStrictEqual(recorded.filter((r) => r.type.startsWith("github:")), []);
    });

    it(`${stack}: a ModelMigration per declared promotion into it, along the flow, never credentials in its inputs`, () => {
      const m = recorded.filter((r) => r.type === "pulumi-nodejs:dynamic/mlflow:ModelMigration");
      assert.deepStrictEqual(m.map((x) => `${x.inputs.fromEnv}->${x.inputs.toEnv}:${x.inputs.alias}`), plan.migrations.map((x) => `${x.fromEnv}->${x.toEnv}:champion`));
      for (const x of m) {
        assert.strictEqual(x.inputs.toUri, plan.host);
        assert.strictEqual(x.inputs.production, stack === "quant_lr");
        assert.ok(!Object.keys(x.inputs).some((k) => /token|secret/i.test(k)));
      }
      assert.strictEqual(m.length, { quant: 0, quant_stg: 1, quant_lr: 1 }[stack]);
    });

    it(`${stack}: every declared resource satisfies the CrossGuard policy pack`, () => {
      const violations: string[] = [];
      for (const r of recorded) {
        for (const p of policies) {
          const validate = p.validateResource as (a: ResourceValidationArgs, report: (m: string) => void) => void;
          validate({ type: r.type, props: r.inputs, urn: r.name, name: r.name, opts: {}, getConfig: () => ({}) } as unknown as ResourceValidationArgs,
            (m) => violations.push(`${p.name}: ${r.type} ${r.name}: ${m}`));
        }
      }
      assert.deepStrictEqual(violations, []);
    });

    it(`${stack}: exports a compact summary`, async () => {
      const s = await unwrap(pulumi.output(summary));
      assert.deepStrictEqual(s, {
        stack, branch: stack,
        groups: plan.groups.map((g) => g.name),
        memberCounts: { "quant-developer": 4, "quant-approver": 3, "quant-release_manager": 2, "quant-consumer": 2, "quant-admin": 1 },
        gitFolders: ["/Teams/quant/shared/quant-research"],
        models: plan.models.map((m) => m.name),
        migrations: plan.migrations.map((m) => ({ key: m.key, targetVersion: "7", manifestDigest: "d".repeat(64), files: 17, bytes: 8400000 })),
      });
    });
  });
}
