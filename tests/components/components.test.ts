import * as assert from "assert";
import * as databricks from "@pulumi/databricks";
import { buildAccessPlan, AccessPlan } from "../../plan/accessPlan";
import { validate } from "../../config/validate";
import { WorkspaceAccess } from "../../components/databricks/workspaceAccess";
import { ModelRegistryAccess } from "../../components/databricks/modelRegistryAccess";
import { proj, shipped, stackVal } from "../fixtures/config";
import { DATABRICKS_CALLS, DATABRICKS_TYPES, installMocks, ofType, Recorded, settle } from "../../devenv/pulumiMocks";

type Flavour = "workspace" | "unity-catalog";

function planFor(stack: string, flavour: Flavour, scim = false): AccessPlan {
  const s = shipped();
  const ws = stackVal(s, stack, "workspace");
  ws.scimProvisioned = scim;
  if (flavour === "unity-catalog") {
    // A model keeps one lifecycle across its stacks: Unity Catalog has aliases, the workspace registry stages.
    for (const name of ["quant", "quant_stg", "quant_lr"])
      stackVal(s, name, "workspace").registry = { flavour, catalog: name, schema: "models" };
    for (const m of proj(s, "models")) Object.assign(m, { lifecycle: "aliases", promotions: [] });
  }
  return buildAccessPlan(validate(s, stack), stack);
}

async function declare(stack: string, plan: AccessPlan): Promise<Recorded[]> {
  const recorded = await installMocks(stack, DATABRICKS_TYPES, DATABRICKS_CALLS);
  const provider = new databricks.Provider("p", { host: plan.host });
  const ws = new WorkspaceAccess("ws", { plan, provider });
  new ModelRegistryAccess("reg", { plan, provider, groupNames: ws.groupNames });
  await settle(recorded);
  return recorded;
}

const aclOf = (r: Recorded) =>
  r.inputs.accessControls.map((a: { groupName: string; permissionLevel: string }) => `${a.groupName}=${a.permissionLevel}`).sort();

for (const flavour of ["workspace", "unity-catalog"] as Flavour[]) {
  for (const stack of ["quant", "quant_stg", "quant_lr"]) {
    describe(`ModelRegistryAccess, ${stack}, ${flavour} registry (mocks)`, () => {
      const plan = planFor(stack, flavour);
      let recorded: Recorded[];
      before(async () => {
        recorded = await declare(stack, plan);
      });

      // The team's rule (Pulumi.yaml): quant-alpha-transformer is validated by the consumers in quant_stg, who
      // hold CAN_EDIT on the experiment folder there, which lets them log runs but not create the experiment.
      it(`${stack}: the platform creates the validation experiment where the consumers validate, and only there`, () => {
        const experiments = ofType(recorded, "mlflowExperiment:MlflowExperiment").map((e) => e.inputs.name);
        assert.deepStrictEqual(experiments, stack === "quant_stg" ? ["/Teams/quant/experiments/validation/quant-alpha-transformer"] : []);
        const dirs = ofType(recorded, "directory:Directory").map((d) => d.inputs.path);
        assert.strictEqual(dirs.includes("/Teams/quant/experiments/validation"), stack === "quant_stg", dirs.join(", "));
      });

      if (flavour === "workspace") {
        it(`${stack}: one MlflowModel and one Permissions (registeredModelId) per managed model`, () => {
          const models = ofType(recorded, "mlflowModel:MlflowModel");
          assert.deepStrictEqual(
            models.map((m) => m.inputs.name),
            plan.models.map((m) => m.model),
          );
          const perms = ofType(recorded, "permissions:Permissions").filter((p) => p.inputs.registeredModelId);
          assert.deepStrictEqual(
            perms.map((p) => p.inputs.registeredModelId),
            models.map((m) => `rm-${m.name}`),
          );
          assert.deepStrictEqual(ofType(recorded, "grants:Grants"), []);
          assert.deepStrictEqual(ofType(recorded, "registeredModel:RegisteredModel"), []);
        });
        it(`${stack}: models that already exist are adopted by name, others created`, () => {
          const models = ofType(recorded, "mlflowModel:MlflowModel");
          assert.deepStrictEqual(
            models.map((m) => m.importId),
            plan.models.map((m) => (m.adopt ? m.name : undefined)),
          );
        });
        it(`${stack}: the registry ACLs are exactly the configured role levels`, () => {
          const perms = ofType(recorded, "permissions:Permissions").filter((p) => p.inputs.registeredModelId);
          for (const p of perms) assert.deepStrictEqual(aclOf(p), plan.registryAcls[0].grants.map((g) => `${g.group}=${g.level}`).sort());
        });
        it(`${stack}: developers cannot manage production versions`, () => {
          for (const p of ofType(recorded, "permissions:Permissions").filter((x) => x.inputs.registeredModelId)) {
            const dev = aclOf(p).find((a: string) => a.startsWith("quant-developer="));
            assert.ok(!/PRODUCTION|=CAN_MANAGE$/.test(dev ?? ""), dev);
          }
        });
      } else {
        it(`${stack}: one RegisteredModel and one Grants per model, on its three-part name`, () => {
          const models = ofType(recorded, "registeredModel:RegisteredModel");
          assert.deepStrictEqual(
            models.map((m) => `${m.inputs.catalogName}.${m.inputs.schemaName}.${m.inputs.name}`),
            plan.models.map((m) => m.name),
          );
          const grants = ofType(recorded, "grants:Grants");
          assert.deepStrictEqual(
            grants.map((g) => g.inputs.model),
            plan.models.map((m) => m.name),
          );
          assert.ok(plan.models.every((m) => m.name.startsWith(`${stack}.models.`)));
          assert.deepStrictEqual(ofType(recorded, "mlflowModel:MlflowModel"), []);
          assert.ok(!ofType(recorded, "permissions:Permissions").some((p) => p.inputs.registeredModelId));
        });
        it(`${stack}: only admins hold MANAGE or ALL_PRIVILEGES on a Unity Catalog model`, () => {
          for (const g of ofType(recorded, "grants:Grants")) {
            for (const x of g.inputs.grants) {
              const strong = x.privileges.includes("MANAGE") || x.privileges.includes("ALL_PRIVILEGES");
              assert.strictEqual(strong, x.principal === "quant-admin", x.principal);
            }
          }
        });
        it(`${stack}: every principal granted on a model also gets USE CATALOG on its catalog and USE SCHEMA on its schema, one Grant each`, () => {
          const onModels = new Set(
            ofType(recorded, "grants:Grants").flatMap((g) => g.inputs.grants.map((x: { principal: string }) => x.principal)),
          );
          assert.ok(onModels.size > 0);
          const usage = ofType(recorded, "grant:Grant").map(
            (g) => `${g.inputs.catalog ?? g.inputs.schema} ${g.inputs.principal} ${g.inputs.privileges}`,
          );
          assert.deepStrictEqual(
            usage.sort(),
            [...onModels].flatMap((p) => [`${stack} ${p} USE_CATALOG`, `${stack}.models ${p} USE_SCHEMA`]).sort(),
          );
        });
        it(`${stack}: consumers get EXECUTE only`, () => {
          for (const g of ofType(recorded, "grants:Grants")) {
            const c = g.inputs.grants.find((x: { principal: string }) => x.principal === "quant-consumer");
            if (c) assert.deepStrictEqual(c.privileges, ["EXECUTE"]);
          }
        });
      }

      it(`${stack}: the experiment folder has one Permissions with the configured levels`, () => {
        const perms = ofType(recorded, "permissions:Permissions").filter((p) => p.inputs.directoryPath === "/Teams/quant/experiments");
        assert.strictEqual(perms.length, 1);
        const acl = plan.workspaceAcls.find((a) => a.path === "/Teams/quant/experiments")!;
        assert.deepStrictEqual(aclOf(perms[0]), acl.grants.map((g) => `${g.group}=${g.level}`).sort());
        assert.ok(perms[0].name.startsWith("reg/"), "the experiment folder belongs to ModelRegistryAccess");
      });
    });
  }
}

describe("WorkspaceAccess on a SCIM-provisioned workspace (mocks)", () => {
  it("looks members up instead of creating them, and still adds them to their groups", async () => {
    const plan = planFor("quant_stg", "workspace", true);
    const recorded = await declare("quant_stg", plan);
    assert.deepStrictEqual(ofType(recorded, "user:User"), []);
    const members = ofType(recorded, "groupMember:GroupMember")
      .map((m) => m.inputs.memberId)
      .sort();
    assert.deepStrictEqual(members, plan.memberships.map((m) => `scim-${m.email}`).sort());
  });

  it("names children after their plan keys, so two components in one stack never collide", async () => {
    const plan = planFor("quant", "workspace");
    const recorded = await installMocks("quant", DATABRICKS_TYPES, DATABRICKS_CALLS);
    const provider = new databricks.Provider("p", { host: plan.host });
    new WorkspaceAccess("ws-a", { plan, provider });
    new WorkspaceAccess("ws-b", { plan, provider });
    await settle(recorded);
    const names = recorded.map((r) => `${r.type}/${r.name}`);
    assert.strictEqual(new Set(names).size, names.length);
  });
});

describe("mocks", () => {
  it("fail the test on a resource type it did not expect", async () => {
    const recorded = await installMocks("quant", { "pulumi:providers:databricks": () => ({}) });
    new databricks.Group("g", { displayName: "x" });
    await assert.rejects(settle(recorded), /unexpected resource type databricks:index\/group:Group \(g\)/);
    assert.strictEqual(recorded.length, 0);
  });
});
