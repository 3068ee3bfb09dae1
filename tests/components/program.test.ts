import * as assert from "assert";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { approverEmails, buildAccessPlan } from "../../plan/accessPlan";
import { PROJECT_DIR, shippedModel } from "../fixtures/config";
import { quantPolicies } from "../../policy/policies";
import { projectPolicyConfig } from "../../policy/projectConfig";
import { DEFAULT_CONCURRENCY } from "../../migration/concurrency";
import { ResourceValidationArgs } from "@pulumi/policy";
import {
  Computed,
  DATABRICKS_CALLS,
  DATABRICKS_TYPES,
  GIT_TYPES,
  MLFLOW_TYPES,
  gitlabOfType,
  installMocks,
  ofType,
  Recorded,
  settle,
  unwrap,
} from "../../devenv/pulumiMocks";

/**
 * What the ModelMigration provider "computes" under these mocks: different for every resource (derived
 * from its name), so the summary can only match when the program wires each plan entry to its own resource.
 */
function migrationOutputs(name: string) {
  const h = crypto.createHash("sha256").update(name).digest();
  return { targetVersion: String(1 + h[0]), manifestDigest: h.toString("hex"), files: 1 + h[1], bytes: h.readUInt32BE(2) };
}
const MIGRATIONS: Computed = { ...MLFLOW_TYPES, "pulumi-nodejs:dynamic/mlflow:ModelMigration": (name) => migrationOutputs(name) };

/** Runs index.ts as the engine would for `stack`, under mocks, and returns what it declared. */
async function runProgram(stack: string): Promise<{ recorded: Recorded[]; summary: any }> {
  const recorded = await installMocks(stack, { ...DATABRICKS_TYPES, ...GIT_TYPES, ...MIGRATIONS }, DATABRICKS_CALLS);
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
    let summary: any;
    before(async () => ({ recorded, summary } = await runProgram(stack)));

    it(`${stack}: one explicit Databricks provider with the stack's host`, () => {
      const p = recorded.filter((r) => r.type === "pulumi:providers:databricks");
      assert.deepStrictEqual(
        p.map((x) => x.inputs.host),
        [plan.host],
      );
    });

    it(`${stack}: a group per role with exactly the planned entitlements`, () => {
      const groups = ofType(recorded, "group:Group").map((g) => ({
        name: g.inputs.displayName,
        ws: g.inputs.workspaceAccess,
        sql: g.inputs.databricksSqlAccess,
        cluster: g.inputs.allowClusterCreate,
      }));
      assert.deepStrictEqual(
        groups,
        plan.groups.map((g) => ({
          name: g.name,
          ws: true,
          sql: g.entitlements.includes("databricks-sql-access"),
          cluster: g.entitlements.includes("allow-cluster-create"),
        })),
      );
    });

    it(`${stack}: a user and a membership per roster entry and role`, () => {
      assert.deepStrictEqual(
        ofType(recorded, "user:User").map((u) => u.inputs.userName),
        plan.users.map((u) => u.email),
      );
      const members = ofType(recorded, "groupMember:GroupMember")
        .map((m) => `${m.inputs.groupId}<-${m.inputs.memberId}`)
        .sort();
      const expected = plan.memberships.map((m) => `workspace-${stack}/group:${m.group}-id<-workspace-${stack}/user:${m.email}-id`).sort();
      assert.deepStrictEqual(members, expected);
    });

    it(`${stack}: the Git folder roots, experiments folder and shared Git folder at the ${stack} branch`, () => {
      assert.deepStrictEqual(
        ofType(recorded, "directory:Directory")
          .map((d) => d.inputs.path)
          .sort(),
        plan.directories.map((d) => d.path).sort(),
      );
      assert.deepStrictEqual(
        ofType(recorded, "repo:Repo").map((r) => [r.inputs.path, r.inputs.branch, r.inputs.gitProvider]),
        plan.gitFolders.map((g) => [g.path, plan.environment, g.provider]),
      );
      assert.ok(
        plan.gitFolders.length > 0 && plan.gitFolders.every((g) => g.branch === stack),
        "the shipped stacks check out their own branch",
      );
    });

    it(`${stack}: exactly one Permissions per object, with the planned group ACLs`, () => {
      const perms = ofType(recorded, "permissions:Permissions");
      const byObject = perms.map((p) => ({
        object: p.inputs.directoryPath ?? p.inputs.repoId ?? p.inputs.registeredModelId,
        acl: p.inputs.accessControls.map((a: any) => `${a.groupName}=${a.permissionLevel}`).sort(),
      }));
      const expected = [
        ...plan.workspaceAcls.map((a) => ({
          object: a.objectType === "repo" ? `workspace-${stack}/gitFolder:${a.path}-id` : a.path,
          acl: a.grants.map((g) => `${g.group}=${g.level}`).sort(),
        })),
        ...plan.registryAcls.map((a) => ({
          object: `rm-registry-${stack}/model:${a.model}`,
          acl: a.grants.map((g) => `${g.group}=${g.level}`).sort(),
        })),
      ];
      const sort = (x: { object: string }[]) => [...x].sort((a, b) => a.object.localeCompare(b.object));
      assert.deepStrictEqual(sort(byObject), sort(expected));
      for (const p of perms)
        for (const a of p.inputs.accessControls) assert.ok(a.groupName && !a.userName, "grants go to groups, never users");
    });

    it(`${stack}: the managed models, adopted where they already exist`, () => {
      assert.deepStrictEqual(
        ofType(recorded, "mlflowModel:MlflowModel").map((m) => m.inputs.name),
        plan.models.map((m) => m.name),
      );
      assert.deepStrictEqual(ofType(recorded, "grants:Grants"), []);
    });

    it(`${stack}: ${stack === "quant" ? "owns and declares" : "leaves to quant"} the project-wide GitLab settings`, () => {
      const gitlab = recorded.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/gitlab:"));
      if (stack !== "quant") return assert.deepStrictEqual(gitlab, []);
      const [members] = gitlabOfType(recorded, "ProjectMembers");
      assert.strictEqual(gitlabOfType(recorded, "ProjectMembers").length, 1, "one resource for all members: a new member adds none");
      assert.deepStrictEqual(
        (members.inputs.members as { username: string }[]).map((m) => m.username).sort(),
        plan.gitMembers.map((m) => m.gitUsername).sort(),
      );
      assert.deepStrictEqual(
        gitlabOfType(recorded, "ProtectedBranch")
          .map((b) => b.inputs.branch)
          .sort(),
        plan.branchRules.map((b) => b.branch).sort(),
      );
      assert.strictEqual(plan.branchRules.length, 5, "four environments and every other branch");
      assert.strictEqual(gitlabOfType(recorded, "ApprovalSettings").length, 1);
      assert.strictEqual(gitlabOfType(recorded, "MergeChecks").length, 1);
      assert.deepStrictEqual(
        recorded.filter((r) => r.type.startsWith("github:")),
        [],
      );
    });

    it(`${stack}: a ModelMigration per declared promotion into it, along the flow, never credentials in its inputs`, () => {
      const m = recorded.filter((r) => r.type === "pulumi-nodejs:dynamic/mlflow:ModelMigration");
      assert.deepStrictEqual(
        m.map((x) => x.name),
        plan.migrations.map((x) => `promotions-${stack}/${x.key}`),
      );
      plan.migrations.forEach((p, i) => {
        const x = m[i].inputs;
        assert.deepStrictEqual(
          [x.fromEnv, x.toEnv, x.fromUri, x.toUri, x.model, x.toModel],
          [p.fromEnv, p.toEnv, p.fromUri, `databricks+${plan.host}`, p.model, p.model],
        );
        assert.deepStrictEqual(
          { version: x.version, alias: x.alias, stage: x.stage },
          { version: undefined, alias: undefined, stage: undefined, ...p.select },
        );
        assert.strictEqual(x.production, plan.tier === "production");
        assert.deepStrictEqual(x.approvers, approverEmails(shippedModel()), "approvers by email, the one identity of the guard");
        assert.ok(x.approvers.every((a: string) => a.includes("@")));
        assert.deepStrictEqual(
          x.flow,
          plan.flowEdges.map((e) => ({ from: e.from, to: e.to })),
        );
        assert.strictEqual(x.concurrency, DEFAULT_CONCURRENCY, "the engine's default concurrency");
        assert.ok(!Object.keys(x).some((k) => /token|secret/i.test(k)));
      });
      assert.strictEqual(m.length, { quant: 0, quant_stg: 1, quant_lr: 1 }[stack]);
      assert.strictEqual(plan.tier === "production", stack === "quant_lr");
    });

    it(`${stack}: every declared resource satisfies the CrossGuard policy pack, configured from the project as the pack is`, () => {
      const violations: string[] = [];
      for (const r of recorded) {
        for (const p of quantPolicies(projectPolicyConfig(PROJECT_DIR))) {
          const validate = p.validateResource as (a: ResourceValidationArgs, report: (m: string) => void) => void;
          const urn = `urn:pulumi:${stack}::quant-platform::${r.type}::${r.name}`;
          validate({ type: r.type, props: r.inputs, urn, name: r.name, opts: {} } as unknown as ResourceValidationArgs, (m) =>
            violations.push(`${p.name}: ${r.type} ${r.name}: ${m}`),
          );
        }
      }
      assert.deepStrictEqual(violations, []);
    });

    it(`${stack}: exports a compact summary of what it planned, each migration with its own resource's outputs`, async () => {
      const s = await unwrap(pulumi.output(summary));
      const membersOf = (group: string) => plan.memberships.filter((m) => m.group === group).length;
      assert.deepStrictEqual(s, {
        stack,
        branch: plan.environment,
        groups: plan.groups.map((g) => g.name),
        memberCounts: Object.fromEntries(plan.groups.map((g) => [g.name, membersOf(g.name)])),
        gitFolders: plan.gitFolders.map((g) => g.path),
        models: plan.models.map((m) => m.name),
        migrations: plan.migrations.map((m) => ({ key: m.key, ...migrationOutputs(`promotions-${stack}/${m.key}`) })),
      });
      // The plan's counts, checked against the roster rather than against themselves.
      const roster = shippedModel().roster;
      for (const g of plan.groups) assert.strictEqual(membersOf(g.name), roster.filter((m) => m.roles.includes(g.role)).length, g.name);
    });
  });
}
