import * as pulumi from "@pulumi/pulumi";

export interface Recorded {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** The existing resource's id when declared with `import` (adopted), else undefined. */
  importId?: string;
}

/** What each mocked resource type adds to its inputs as provider-computed state. */
export type Computed = Record<string, (name: string, inputs: Record<string, unknown>) => Record<string, unknown>>;

/**
 * Installs Pulumi mocks that record every resource, and throw on any resource type or function the test
 * did not declare: a permissive mock hides mistakes.
 */
export async function installMocks(stack: string, types: Computed, calls: Computed = {}): Promise<Recorded[]> {
  const recorded: Recorded[] = [];
  unexpected.length = 0;
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const computed = types[args.type];
        if (!computed) {
          unexpected.push(`unexpected resource type ${args.type} (${args.name})`);
          throw new Error(unexpected[unexpected.length - 1]);
        }
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs, importId: args.id || undefined });
        // A computed `id` stands for the provider-assigned id (a GitHub team's is a number).
        const { id, ...state } = computed(args.name, args.inputs);
        return { id: args.id || (id as string | undefined) || `${args.name}-id`, state: { ...args.inputs, ...state } };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        const f = calls[args.token];
        if (!f) {
          unexpected.push(`unexpected function call ${args.token}`);
          throw new Error(unexpected[unexpected.length - 1]);
        }
        return f(args.token, args.inputs);
      },
    },
    "quant-platform",
    stack,
    false,
  );
  return recorded;
}

/** Resolves an Output's value in a test. */
export function unwrap<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) =>
    o.apply((v) => {
      resolve(v);
      return v;
    }),
  );
}

/** What the mocks refused since they were installed; settle() fails the test when it is not empty. */
export const unexpected: string[] = [];

/**
 * Waits until no resource has been registered for a few turns of the event loop, then fails if the mocks
 * refused anything: a refused registration only surfaces as an unhandled rejection otherwise.
 */
export async function settle(recorded: Recorded[]): Promise<void> {
  let quiet = 0;
  let last = -1;
  while (quiet < 5) {
    await new Promise((r) => setTimeout(r, 10));
    quiet = recorded.length === last ? quiet + 1 : 0;
    last = recorded.length;
  }
  if (unexpected.length > 0) throw new Error(`the program declared what the test did not expect:\n${unexpected.join("\n")}`);
}

const none = () => ({});
/** The Databricks resource types our components may declare, with the state their provider computes. */
export const DATABRICKS_TYPES: Computed = {
  "pulumi:providers:databricks": none,
  "quant-platform:databricks:WorkspaceAccess": none,
  "quant-platform:databricks:ModelRegistryAccess": none,
  "quant-platform:databricks:WorkspaceGitSettings": none,
  "databricks:index/group:Group": none,
  "databricks:index/user:User": none,
  "databricks:index/groupMember:GroupMember": none,
  "databricks:index/directory:Directory": none,
  "databricks:index/repo:Repo": none,
  "databricks:index/permissions:Permissions": none,
  "databricks:index/mlflowModel:MlflowModel": (name) => ({ registeredModelId: `rm-${name}` }),
  "databricks:index/mlflowExperiment:MlflowExperiment": none,
  "databricks:index/registeredModel:RegisteredModel": (_n, i) => ({ fullName: `${i.catalogName}.${i.schemaName}.${i.name}` }),
  "databricks:index/grants:Grants": none,
  "databricks:index/grant:Grant": none,
  "databricks:index/workspaceConf:WorkspaceConf": none,
};

export const DATABRICKS_CALLS: Computed = {
  "databricks:index/getUser:getUser": (_t, i) => ({ id: `scim-${i.userName}`, userName: i.userName }),
};

export const ofType = (r: Recorded[], t: string) => r.filter((x) => x.type === `databricks:index/${t}`);

/** Our GitLab dynamic resources and the branch policy components. */
export const GIT_TYPES: Computed = {
  "quant-platform:gitlab:BranchPolicy": none,
  "quant-platform:github:BranchPolicy": none,
  "pulumi-nodejs:dynamic/gitlab:ProjectMembers": none,
  "pulumi-nodejs:dynamic/gitlab:ProtectedBranch": none,
  "pulumi-nodejs:dynamic/gitlab:ApprovalSettings": none,
  "pulumi-nodejs:dynamic/gitlab:ApprovalRule": none,
  "pulumi-nodejs:dynamic/gitlab:MergeChecks": none,
  "pulumi:providers:github": none,
  "github:index/team:Team": (name) => ({ id: String(numericId(name)) }),
  "github:index/teamMembership:TeamMembership": none,
  "github:index/teamRepository:TeamRepository": none,
  "github:index/repositoryRuleset:RepositoryRuleset": none,
};

/** A stable positive number for a resource name: GitHub ids are numbers, and rulesets name teams by id. */
export function numericId(name: string): number {
  let h = 7;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 2147483647;
  return h + 1;
}

/** Model promotions: what the ModelMigration provider would compute on create. */
export const MLFLOW_TYPES: Computed = {
  "quant-platform:mlflow:ModelPromotions": none,
  "pulumi-nodejs:dynamic/mlflow:ModelMigration": () => ({ targetVersion: "7", manifestDigest: "d".repeat(64), files: 17, bytes: 8400000 }),
};

export const gitlabOfType = (r: Recorded[], t: string) => r.filter((x) => x.type === `pulumi-nodejs:dynamic/gitlab:${t}`);
