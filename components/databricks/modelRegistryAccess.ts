import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { AccessPlan } from "../../plan/accessPlan";

export interface ModelRegistryAccessArgs {
  plan: AccessPlan;
  provider: databricks.Provider;
  /** Group display names from WorkspaceAccess, so grants wait for their groups. */
  groupNames: Record<string, pulumi.Output<string>>;
}

/**
 * Who can touch which model: the managed registered models (created, or adopted where they exist),
 * one Permissions per workspace-registry model or one Grants per Unity Catalog model, the team's
 * experiment folder where runs are logged, and the validation experiments of the models validated in the stack.
 */
export class ModelRegistryAccess extends pulumi.ComponentResource {
  constructor(name: string, args: ModelRegistryAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("quant-platform:databricks:ModelRegistryAccess", name, {}, opts);
    const { plan, provider, groupNames } = args;
    const rn = (key: string) => `${name}/${key}`;
    // An adopted model existed before the stack and keeps its history: destroying the stack releases it.
    const child = (deps: pulumi.Resource[] = [], adopt?: string): pulumi.CustomResourceOptions => ({
      parent: this,
      provider,
      dependsOn: deps,
      ...(adopt ? { import: adopt, retainOnDelete: true } : {}),
    });

    const experimentDirs: databricks.Directory[] = [];
    for (const d of plan.directories.filter((x) => x.purpose === "experiments")) {
      const dir = new databricks.Directory(rn(d.key), { path: d.path }, child());
      experimentDirs.push(dir);
      const acl = plan.workspaceAcls.find((a) => a.objectType === "directory" && a.path === d.path);
      if (acl) {
        new databricks.Permissions(
          rn(acl.key),
          {
            directoryPath: d.path,
            accessControls: acl.grants.map((g) => ({ groupName: groupNames[g.group], permissionLevel: g.level })),
          },
          child([dir]),
        );
      }
    }

    // The validation experiments, in a folder of their own under the experiment folder (whose ACL they inherit).
    const v = plan.directories.find((x) => x.purpose === "validation-experiments");
    const validationDir = v ? [new databricks.Directory(rn(v.key), { path: v.path }, child(experimentDirs))] : experimentDirs;
    for (const e of plan.experiments) new databricks.MlflowExperiment(rn(e.key), { name: e.name }, child(validationDir));

    // Without USE CATALOG and USE SCHEMA no grant on a Unity Catalog model reaches anyone: one Grant each (not
    // Grants, which owns a securable's whole ACL: the catalog and schema are shared with whatever else lives there).
    for (const u of plan.ucUsage)
      new databricks.Grant(rn(u.key), { [u.securable]: u.name, principal: groupNames[u.principal], privileges: [u.privilege] }, child());

    for (const m of plan.models) {
      if (m.flavour === "workspace") {
        const model = new databricks.MlflowModel(rn(m.key), { name: m.name }, child([], m.adopt ? m.name : undefined));
        const acl = plan.registryAcls.find((a) => a.model === m.name);
        if (acl) {
          new databricks.Permissions(
            rn(acl.key),
            {
              registeredModelId: model.registeredModelId,
              accessControls: acl.grants.map((g) => ({ groupName: groupNames[g.group], permissionLevel: g.level })),
            },
            child([model]),
          );
        }
      } else {
        const [catalogName, schemaName, modelName] = m.name.split(".");
        const model = new databricks.RegisteredModel(
          rn(m.key),
          { catalogName, schemaName, name: modelName },
          child([], m.adopt ? m.name : undefined),
        );
        const grants = plan.ucGrants.find((g) => g.model === m.name);
        if (grants) {
          new databricks.Grants(
            rn(grants.key),
            {
              model: model.fullName.apply((n) => n ?? m.name),
              grants: grants.grants.map((g) => ({ principal: groupNames[g.principal], privileges: g.privileges })),
            },
            child([model]),
          );
        }
      }
    }
    this.registerOutputs({ models: plan.models.map((m) => m.name) });
  }
}
