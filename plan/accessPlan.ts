/**
 * The access plan: what one stack grants, as plain data. Pure and deterministic: no Pulumi, no I/O.
 * Components, the plan view, the access diff and the policy tests all read it.
 */
import {
  AccessModel,
  DatabricksAuth,
  Entitlement,
  GitAccess,
  GitTier,
  RegistryConfig,
  RegistryLevel,
  Role,
  Tier,
  UcModelPrivilege,
  WorkspaceLevel,
} from "../config/schema";
import { keyed } from "./identity";
import { sourcesOf } from "./flow";
import { gitFolderSettingEntries, WorkspaceSettingEntry } from "./workspaceSettings";

export interface GroupEntry {
  key: string;
  name: string;
  role: string;
  duty: string;
  entitlements: Entitlement[];
}
export interface UserEntry {
  key: string;
  member: string;
  email: string;
  displayName: string;
  lookup: boolean;
}
export interface MembershipEntry {
  key: string;
  group: string;
  role: string;
  member: string;
  email: string;
}
export interface DirectoryEntry {
  key: string;
  path: string;
  purpose: "git-folder-root" | "shared-git-folders" | "experiments" | "validation-experiments";
}
/** A workspace experiment the platform creates: a model's validation experiment in its validation stack. */
export interface ExperimentEntry {
  key: string;
  name: string;
  model: string;
}
export interface GitFolderEntry {
  key: string;
  name: string;
  url: string;
  provider: string;
  path: string;
  branch: string;
}
export interface AclGrant<L extends string = string> {
  group: string;
  level: L;
}
export interface WorkspaceAclEntry {
  key: string;
  objectType: "directory" | "repo";
  path: string;
  grants: AclGrant<WorkspaceLevel>[];
}
export interface ModelEntry {
  key: string;
  name: string;
  model: string;
  flavour: RegistryConfig["flavour"];
  adopt: boolean;
}
export interface RegistryAclEntry {
  key: string;
  model: string;
  grants: AclGrant<RegistryLevel>[];
}
export interface UcGrantEntry {
  key: string;
  model: string;
  grants: { principal: string; level: RegistryLevel; privileges: UcModelPrivilege[] }[];
}
/**
 * USE CATALOG on the registry's catalog and USE SCHEMA on its schema, for every group with a registry level:
 * Unity Catalog lets nobody reach a model without both, whatever they hold on the model itself.
 */
export interface UcUsageEntry {
  key: string;
  securable: "catalog" | "schema";
  name: string;
  principal: string;
  privilege: "USE_CATALOG" | "USE_SCHEMA";
}
export interface GitMemberEntry {
  key: string;
  member: string;
  gitUsername: string;
  access: GitAccess;
  roles: string[];
}
export interface BranchRuleEntry {
  key: string;
  /** A branch name, or `*` for every branch that is not an environment. */
  branch: string;
  tier: Tier | "other";
  /** Roles, and through them members, allowed to push, merge and approve. */
  push: string[];
  merge: string[];
  approve: string[];
  pushMembers: string[];
  mergeMembers: string[];
  approveMembers: string[];
  approvals: number;
  allowForcePush: false;
  /** Source branches whose merge requests may target this branch (from the flow). */
  sources: string[];
  /** Production branches, when a managed model names validation signers: the consumer's sign-off a merge also needs. */
  signOff?: SignOffRule;
}
/**
 * A second approval requirement on a production branch, beside the approvers': an approval by a member of a
 * signer role (the roles every managed model's `validation.signers` names) who is not the merge request's
 * author. It asks on the Git side for the sign-off the production gate requires of a promotion.
 */
export interface SignOffRule {
  roles: string[];
  /** Members of those roles, by roster id. */
  members: string[];
  approvals: 1;
}
export interface FlowEdgeEntry {
  key: string;
  from: string;
  to: string;
}
export interface MigrationEntry {
  key: string;
  model: string;
  /** The model's name in the source and target registries (Unity Catalog: catalog.schema.model). */
  fromModel: string;
  toModel: string;
  /** Source and target stacks, and the environments (branches) they stand for. */
  from: string;
  to: string;
  fromEnv: string;
  toEnv: string;
  fromUri: string;
  toUri: string;
  select: { version?: string; alias?: string; stage?: string };
  /** Stage -> alias in the target (a stage-selected promotion into a registry with aliases), from `setAlias`. */
  stageAliases: Record<string, string>;
  /** Promotion into production needs an approval by someone other than the version's author. */
  production: boolean;
  approvers: string[];
  /** The roster by email and Git username: who an approval on the Git host, or a version's author, is. */
  members: { email: string; gitUsername: string }[];
  /** Into production from the model's validation stack: the consumer's validation and sign-off it needs. */
  validation?: ValidationRequirement;
  /**
   * The stacks the source's copies may come from (every stack a promotion of this model leads from, before the
   * source): where the production gate reads a version's origin and its authors. Credentials per stack come from
   * `quant-platform:originTokens` of the target stack.
   */
  origins: { stack: string; uri: string }[];
  /**
   * Where a promotion from a registry without stages proves its approval: the merge request that added this
   * entry to Pulumi.yaml, on the target stack's Git project (the source and target stacks as the file names them).
   */
  git: { provider: string; apiUrl: string; project: string; configPath: string; fromStack: string; toStack: string };
}

export interface AccessPlan {
  stack: string;
  environment: string;
  tier: Tier;
  host: string;
  registry: RegistryConfig;
  auth: DatabricksAuth["kind"];
  scimProvisioned: boolean;
  /** `tier`: the GitLab tier pinned in config; absent, the branch policy detects it at deploy. */
  git: { provider: string; url: string; project: string; ownsProjectSettings: boolean; tier?: GitTier };
  groups: GroupEntry[];
  users: UserEntry[];
  memberships: MembershipEntry[];
  directories: DirectoryEntry[];
  /**
   * The validation experiments of the models validated in this stack. The platform creates them, since the
   * consumers who log validations there hold CAN_EDIT on the experiment folder, and creating an item in a folder
   * takes CAN_MANAGE.
   */
  experiments: ExperimentEntry[];
  gitFolders: GitFolderEntry[];
  workspaceAcls: WorkspaceAclEntry[];
  models: ModelEntry[];
  registryAcls: RegistryAclEntry[];
  ucGrants: UcGrantEntry[];
  ucUsage: UcUsageEntry[];
  gitMembers: GitMemberEntry[];
  branchRules: BranchRuleEntry[];
  flowEdges: FlowEdgeEntry[];
  migrations: MigrationEntry[];
  /** The workspace's Git folder settings (workspace-conf keys). */
  workspaceSettings: WorkspaceSettingEntry[];
}

const byGroup = <T extends { group: string }>(a: T, b: T) => a.group.localeCompare(b.group);

/** Members holding an approving role (duty approve or release): who may sign off a production promotion. */
export function approvingMembers(model: AccessModel): AccessModel["roster"] {
  const approving = model.roles.filter((r) => r.duty === "approve" || r.duty === "release").map((r) => r.name);
  return model.roster.filter((m) => m.roles.some((r) => approving.includes(r)));
}

/**
 * Who may sign off a production promotion, by the one identity an approval names: the member's email,
 * which is their Databricks user name and what MLflow records as a model version's author (`user_id`).
 * The plan, the ModelMigration inputs and the migrate CLI's guard all take this list.
 */
export function approverEmails(model: AccessModel): string[] {
  return approvingMembers(model)
    .map((m) => m.email)
    .sort();
}

/** What a production promotion needs of the consumer: a passed validation and a sign-off by a signer. */
export interface ValidationRequirement {
  /** Members of the signer roles, by email (the Databricks user name that records a run's creator). */
  signers: string[];
  metric: string;
  threshold: number;
  /** The experiment, in the source workspace, that holds the validation runs. */
  experiment: string;
  /** The historical data a validation must have scored, where the model pins it (`validation.data`). */
  data?: DataPin;
}

/** A pinned historical sample: the SHA-256 of its bytes, or a Delta table at a version. */
export type DataPin = { sha256: string } | { table: string; version: number };

/** Every stack a chain of `promotions` leads from into `stack`, nearest first (sorted per hop). */
export function upstreamOf(promotions: { from: string; to: string }[], stack: string): string[] {
  const out: string[] = [];
  let frontier = [stack];
  while (frontier.length) {
    const next = [...new Set(promotions.filter((p) => frontier.includes(p.to)).map((p) => p.from))]
      .filter((s) => s !== stack && !out.includes(s))
      .sort();
    out.push(...next);
    frontier = next;
  }
  return out;
}

/** The experiment a model's validation runs are logged in, under the organization's experiment folder. */
export const validationExperiment = (experimentFolder: string, model: string) => `${experimentFolder}/validation/${model}`;
const experimentFolderOf = (name: string) => name.replace(/\/[^/]*$/, "");

const withValidation = (v: ValidationRequirement | undefined) => (v ? { validation: v } : {});

/**
 * The consumer's validation a promotion of `modelName` from stack `fromStack` into `toEnv` requires: only into
 * production, and only from the stack the model is validated in. Undefined when none is required.
 */
export function validationRequirement(
  model: AccessModel,
  modelName: string,
  fromStack: string,
  toEnv: string,
): ValidationRequirement | undefined {
  const v = model.models.find((m) => m.name === modelName)?.validation;
  const tier = model.environments.find((e) => e.name === toEnv)?.tier;
  if (!v || tier !== "production" || v.in !== fromStack) return undefined;
  const signerRoles = new Set(v.signers);
  return {
    signers: model.roster
      .filter((m) => m.roles.some((r) => signerRoles.has(r)))
      .map((m) => m.email)
      .sort(),
    metric: v.metric,
    threshold: v.threshold,
    experiment: validationExperiment(model.organization.experimentFolder, modelName),
    ...(v.data ? { data: v.data } : {}),
  };
}

/**
 * The tracking URI of a stack's workspace for the migration engine: `databricks+<host>`, so that the
 * engine always speaks the Databricks API to a workspace, whatever its host name looks like (a loopback
 * test workspace as much as <ws>.cloud.databricks.com).
 */
export function workspaceTrackingUri(host: string, registry: RegistryConfig = { flavour: "workspace" }): string {
  return `${registry.flavour === "unity-catalog" ? "databricks-uc" : "databricks"}+${host}`;
}

/** A model's name in a stack's registry: `catalog.schema.model` in Unity Catalog, the plain name in a workspace registry. */
export function registryModelName(registry: RegistryConfig, name: string): string {
  return registry.flavour === "unity-catalog" ? `${registry.catalog}.${registry.schema}.${name}` : name;
}

/** The REST API root of a Git host's web URL: `<url>/api/v4` on GitLab; api.github.com, or `<origin>/api/v3` on GitHub Enterprise. */
export function gitApiRoot(provider: string, url: string): string {
  if (provider !== "github") return `${url.replace(/\/+$/, "")}/api/v4`;
  const u = new URL(url);
  return u.hostname === "github.com" || u.hostname === "www.github.com" ? "https://api.github.com" : `${u.origin}/api/v3`;
}

/** The Databricks group that holds a role's members. */
export function groupName(model: AccessModel, role: string): string {
  return `${model.organization.groupPrefix}${role}`;
}

function grantsFor<L extends string>(model: AccessModel, pick: (r: Role) => L | undefined): AclGrant<L>[] {
  return model.roles
    .map((r) => ({ group: groupName(model, r.name), level: pick(r) }))
    .filter((g): g is AclGrant<L> => g.level !== undefined)
    .sort(byGroup);
}

function membersOf(model: AccessModel, roles: string[]): string[] {
  return model.roster
    .filter((m) => m.roles.some((r) => roles.includes(r)))
    .map((m) => m.id)
    .sort();
}

/** Builds the access plan of `stack` from a validated model. */
export function buildAccessPlan(model: AccessModel, stack: string): AccessPlan {
  const s = model.stacks.find((x) => x.name === stack);
  if (!s) throw new Error(`unknown stack '${stack}'; expected one of: ${model.stacks.map((x) => x.name).join(", ")}`);
  const org = model.organization;
  const env = model.environments.find((e) => e.name === s.branch)!;

  const groups = keyed(
    "group",
    model.roles.map((r) => ({
      name: groupName(model, r.name),
      role: r.name,
      duty: r.duty,
      entitlements: [...(r.entitlements[stack] ?? [])].sort(),
    })),
  );
  const users = keyed(
    "user",
    model.roster.map((m) => ({
      member: m.id,
      email: m.email,
      displayName: m.name,
      lookup: s.scimProvisioned,
    })),
  );
  const memberships = keyed(
    "membership",
    model.roster.flatMap((m) => m.roles.map((r) => ({ group: groupName(model, r), role: r, member: m.id, email: m.email }))),
  );

  const experiments = keyed(
    "experiment",
    model.models
      .filter((m) => m.validation?.in === stack)
      .map((m) => ({ name: validationExperiment(org.experimentFolder, m.name), model: m.name })),
  );
  const directories = keyed("directory", [
    { path: org.gitFolderRoot, purpose: "git-folder-root" as const },
    { path: org.sharedGitFolderRoot, purpose: "shared-git-folders" as const },
    { path: org.experimentFolder, purpose: "experiments" as const },
    ...(experiments.length ? [{ path: experimentFolderOf(experiments[0].name), purpose: "validation-experiments" as const }] : []),
  ]);
  const gitFolders = keyed(
    "gitFolder",
    org.gitFolders.map((g) => ({
      name: g.name,
      url: g.url,
      provider: g.provider,
      path: `${org.sharedGitFolderRoot}/${g.name}`,
      branch: s.branch,
    })),
  );
  // CAN_MANAGE is the folder level Databricks documents for creating (and so cloning into) items.
  const workspaceAcls = keyed(
    "workspaceAcl",
    [
      { objectType: "directory" as const, path: org.gitFolderRoot, grants: grantsFor<WorkspaceLevel>(model, () => "CAN_MANAGE") },
      { objectType: "directory" as const, path: org.experimentFolder, grants: grantsFor(model, (r) => r.experiments[stack]) },
      ...gitFolders.map((g) => ({ objectType: "repo" as const, path: g.path, grants: grantsFor(model, (r) => r.sharedGitFolders[stack]) })),
    ].filter((a) => a.grants.length > 0),
  );

  const stackModels = model.models.filter((m) => m.stacks.includes(stack));
  const qualified = (name: string) => registryModelName(s.registry, name);
  const models = keyed(
    "model",
    stackModels.map((m) => ({
      name: qualified(m.name),
      model: m.name,
      flavour: s.registry.flavour,
      adopt: m.existingIn.includes(stack),
    })),
  );
  const registryGrants = grantsFor(model, (r) => r.registry[stack]);
  const registryAcls =
    s.registry.flavour === "workspace" && registryGrants.length
      ? keyed(
          "registryAcl",
          models.map((m) => ({ model: m.name, grants: registryGrants })),
        )
      : [];
  const ucGrants =
    s.registry.flavour === "unity-catalog" && registryGrants.length
      ? keyed(
          "ucGrant",
          models.map((m) => ({
            model: m.name,
            grants: registryGrants.map((g) => ({ principal: g.group, level: g.level, privileges: [...org.ucPrivileges[g.level]].sort() })),
          })),
        )
      : [];
  const ucUsage =
    s.registry.flavour === "unity-catalog" && ucGrants.length
      ? keyed("ucUsage", [
          ...registryGrants.map((g) => ({
            securable: "catalog" as const,
            name: (s.registry as { catalog: string }).catalog,
            principal: g.group,
            privilege: "USE_CATALOG" as const,
          })),
          ...registryGrants.map((g) => ({
            securable: "schema" as const,
            name: `${(s.registry as { catalog: string }).catalog}.${(s.registry as { schema: string }).schema}`,
            principal: g.group,
            privilege: "USE_SCHEMA" as const,
          })),
        ])
      : [];

  const gitMembers = keyed(
    "gitMember",
    model.roster.map((m) => {
      const levels = model.roles.filter((r) => m.roles.includes(r.name)).map((r) => r.git.access);
      const order: GitAccess[] = ["reporter", "developer", "maintainer", "owner"];
      // Everyone can pull and clone: Developer is the floor, the strongest role decides above it.
      const access = order[Math.max(order.indexOf("developer"), ...levels.map((l) => order.indexOf(l)))];
      return { member: m.id, gitUsername: m.gitUsername, access, roles: [...m.roles].sort() };
    }),
  );
  const rolesWith = (k: "push" | "merge" | "approve", branch: string) =>
    model.roles
      .filter((r) => r.git[k].includes(branch))
      .map((r) => r.name)
      .sort();
  // Every other branch: nobody pushes, merges or force-pushes; changes enter through the development branch.
  const otherBranches = {
    branch: "*",
    tier: "other" as const,
    push: [],
    merge: [],
    approve: [],
    pushMembers: [],
    mergeMembers: [],
    approveMembers: [],
    approvals: 1,
    allowForcePush: false as const,
    sources: [],
  };
  // One sign-off rule for every production branch: the Git project is shared, so the signers of every managed model.
  const signerRoles = [...new Set(model.models.flatMap((m) => m.validation?.signers ?? []))].sort();
  const signOffOn = (tier: Tier) =>
    tier === "production" && signerRoles.length > 0
      ? { signOff: { roles: [...signerRoles], members: membersOf(model, signerRoles), approvals: 1 as const } }
      : {};
  const branchRules = keyed("branchRule", [
    ...model.environments.map((e) => {
      const push = rolesWith("push", e.name);
      const merge = rolesWith("merge", e.name);
      const approve = rolesWith("approve", e.name);
      return {
        branch: e.name,
        tier: e.tier,
        push,
        merge,
        approve,
        pushMembers: membersOf(model, push),
        mergeMembers: membersOf(model, merge),
        approveMembers: membersOf(model, approve),
        approvals: e.approvals,
        allowForcePush: false as const,
        sources: sourcesOf(model.flow, e.name),
        ...signOffOn(e.tier),
      };
    }),
    otherBranches,
  ]);
  const flowEdges = keyed(
    "flowEdge",
    model.flow.map((f) => ({ from: f.from, to: f.to })),
  );
  const approvers = approverEmails(model);
  const members = model.roster.map((m) => ({ email: m.email, gitUsername: m.gitUsername })).sort((a, b) => a.email.localeCompare(b.email));
  const gitApi = gitApiRoot(s.git.provider, s.git.url);
  const stackOf = (n: string) => model.stacks.find((x) => x.name === n)!;
  const migrations = keyed(
    "migration",
    model.models.flatMap((m) =>
      m.promotions
        .filter((p) => p.to === stack)
        .map((p) => ({
          model: m.name,
          fromModel: registryModelName(stackOf(p.from).registry, m.name),
          toModel: registryModelName(s.registry, m.name),
          from: p.from,
          to: p.to,
          fromEnv: stackOf(p.from).branch,
          toEnv: s.branch,
          fromUri: workspaceTrackingUri(stackOf(p.from).host, stackOf(p.from).registry),
          toUri: workspaceTrackingUri(s.host, s.registry),
          select: { ...p.select },
          stageAliases: p.setAlias && "stage" in p.select ? { [p.select.stage]: p.setAlias } : {},
          production: env.tier === "production",
          origins: upstreamOf(m.promotions, p.from)
            .filter((x) => x !== stack)
            .map((x) => ({ stack: x, uri: workspaceTrackingUri(stackOf(x).host, stackOf(x).registry) })),
          approvers,
          members,
          ...withValidation(validationRequirement(model, m.name, p.from, s.branch)),
          git: {
            provider: s.git.provider,
            apiUrl: gitApi,
            project: s.git.project,
            configPath: "Pulumi.yaml",
            fromStack: p.from,
            toStack: p.to,
          },
        })),
    ),
  );

  return {
    stack,
    environment: env.name,
    tier: env.tier,
    host: s.host,
    registry: s.registry,
    auth: s.auth.kind,
    scimProvisioned: s.scimProvisioned,
    git: { ...s.git },
    groups,
    users,
    memberships,
    directories,
    experiments,
    gitFolders,
    workspaceAcls,
    models,
    registryAcls,
    ucGrants,
    ucUsage,
    gitMembers,
    branchRules,
    flowEdges,
    migrations,
    workspaceSettings: gitFolderSettingEntries(s.gitFolders),
  };
}

/** One permission a member holds, and the group or role it comes through. */
export interface MemberGrant {
  member: string;
  object: string;
  permission: string;
  via: string;
}

/** The plan seen member by member: what each person can do, for the plan view and the access diff. */
export function memberGrants(plan: AccessPlan): MemberGrant[] {
  const rows: MemberGrant[] = [];
  const groupsOf = new Map<string, string[]>();
  for (const m of plan.memberships) groupsOf.set(m.member, [...(groupsOf.get(m.member) ?? []), m.group]);
  for (const [member, groups] of groupsOf) {
    for (const group of groups) {
      const g = plan.groups.find((x) => x.name === group)!;
      rows.push({ member, object: `workspace ${plan.stack}`, permission: "member", via: group });
      for (const e of g.entitlements) rows.push({ member, object: `workspace ${plan.stack}`, permission: e, via: group });
      for (const a of plan.workspaceAcls) {
        for (const x of a.grants.filter((x) => x.group === group))
          rows.push({ member, object: `${a.objectType} ${a.path}`, permission: x.level, via: group });
      }
      for (const a of plan.registryAcls) {
        for (const x of a.grants.filter((x) => x.group === group))
          rows.push({ member, object: `registered model ${a.model}`, permission: x.level, via: group });
      }
      for (const a of plan.ucGrants) {
        for (const x of a.grants.filter((x) => x.principal === group))
          rows.push({ member, object: `UC model ${a.model}`, permission: x.privileges.join("+"), via: group });
      }
    }
  }
  for (const gm of plan.gitMembers)
    rows.push({ member: gm.member, object: `git project ${plan.git.project}`, permission: gm.access, via: gm.roles.join(",") });
  for (const b of plan.branchRules) {
    for (const [k, ids] of [
      ["push", b.pushMembers],
      ["merge", b.mergeMembers],
      ["approve", b.approveMembers],
    ] as const) {
      for (const id of ids) rows.push({ member: id, object: `branch ${b.branch}`, permission: k, via: "role" });
    }
    for (const id of b.signOff?.members ?? [])
      rows.push({ member: id, object: `branch ${b.branch}`, permission: "sign-off", via: b.signOff!.roles.join(",") });
  }
  return rows.sort(
    (a, b) => a.member.localeCompare(b.member) || a.object.localeCompare(b.object) || a.permission.localeCompare(b.permission),
  );
}
