import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { AccessPlan } from "../../plan/accessPlan";

export interface WorkspaceAccessArgs {
  plan: AccessPlan;
  provider: databricks.Provider;
}

/**
 * Who can do what in one workspace: a group per role, members, entitlements, the Git folder roots and
 * the shared Git folders, each object with one Permissions resource granted to groups.
 */
export class WorkspaceAccess extends pulumi.ComponentResource {
  /** Group display names, as outputs so that grants to a group wait for the group to exist. */
  readonly groupNames: Record<string, pulumi.Output<string>> = {};
  readonly gitFolderPaths: pulumi.Output<string>[];

  constructor(name: string, args: WorkspaceAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("quant-platform:databricks:WorkspaceAccess", name, {}, opts);
    const { plan, provider } = args;
    const child = (deps: pulumi.Resource[] = []): pulumi.CustomResourceOptions => ({ parent: this, provider, dependsOn: deps });
    const rn = (key: string) => `${name}/${key}`;

    const groups = new Map<string, databricks.Group>();
    for (const g of plan.groups) {
      const grp = new databricks.Group(
        rn(g.key),
        {
          displayName: g.name,
          workspaceAccess: g.entitlements.includes("workspace-access"),
          databricksSqlAccess: g.entitlements.includes("databricks-sql-access"),
          allowClusterCreate: g.entitlements.includes("allow-cluster-create"),
          allowInstancePoolCreate: g.entitlements.includes("allow-instance-pool-create"),
        },
        child(),
      );
      groups.set(g.name, grp);
      this.groupNames[g.name] = grp.displayName;
    }

    const userIds = new Map<string, pulumi.Output<string>>();
    for (const u of plan.users) {
      userIds.set(
        u.email,
        u.lookup
          ? databricks.getUserOutput({ userName: u.email }, { parent: this, provider }).apply((r) => r.id)
          : new databricks.User(rn(u.key), { userName: u.email, displayName: u.displayName }, child()).id,
      );
    }
    for (const m of plan.memberships) {
      new databricks.GroupMember(rn(m.key), { groupId: groups.get(m.group)!.id, memberId: userIds.get(m.email)! }, child());
    }

    const dirs = new Map<string, databricks.Directory>();
    for (const d of plan.directories.filter((x) => x.purpose === "git-folder-root" || x.purpose === "shared-git-folders")) {
      dirs.set(d.path, new databricks.Directory(rn(d.key), { path: d.path }, child()));
    }
    const sharedRoot = plan.directories.find((x) => x.purpose === "shared-git-folders");
    const sharedDir = sharedRoot ? [dirs.get(sharedRoot.path)!] : [];
    const repos = new Map<string, databricks.Repo>();
    for (const f of plan.gitFolders) {
      repos.set(
        f.path,
        new databricks.Repo(rn(f.key), { url: f.url, gitProvider: f.provider, path: f.path, branch: f.branch }, child(sharedDir)),
      );
    }
    this.gitFolderPaths = [...repos.values()].map((r) => r.path);

    for (const acl of plan.workspaceAcls) {
      const target = acl.objectType === "repo" ? repos.get(acl.path) : dirs.get(acl.path);
      if (!target) continue; // the experiments folder belongs to ModelRegistryAccess
      new databricks.Permissions(
        rn(acl.key),
        {
          ...(acl.objectType === "repo" ? { repoId: (target as databricks.Repo).id } : { directoryPath: acl.path }),
          accessControls: acl.grants.map((g) => ({ groupName: this.groupNames[g.group], permissionLevel: g.level })),
        },
        child([target]),
      );
    }

    this.registerOutputs({
      groups: plan.groups.map((g) => g.name),
      members: plan.users.length,
      gitFolders: this.gitFolderPaths,
    });
  }
}
