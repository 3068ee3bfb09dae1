/**
 * The validated access model: the one source of truth everything else derives from.
 * Plain types only: no Pulumi imports, no I/O.
 */

export const PROJECT = "quant-platform";

export const TIERS = ["development", "staging", "production"] as const;
export type Tier = (typeof TIERS)[number];

/** What a role is for. Invariants (who may manage what) are stated against duties, role names are free. */
export const DUTIES = ["develop", "approve", "release", "consume", "administer"] as const;
export type Duty = (typeof DUTIES)[number];

/** Databricks workspace-object levels (folders, Git folders), weakest first. */
export const WORKSPACE_LEVELS = ["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"] as const;
export type WorkspaceLevel = (typeof WORKSPACE_LEVELS)[number];

/** Workspace model registry levels, weakest first. */
export const REGISTRY_LEVELS = [
  "CAN_READ",
  "CAN_EDIT",
  "CAN_MANAGE_STAGING_VERSIONS",
  "CAN_MANAGE_PRODUCTION_VERSIONS",
  "CAN_MANAGE",
] as const;
export type RegistryLevel = (typeof REGISTRY_LEVELS)[number];

export const ENTITLEMENTS = ["workspace-access", "databricks-sql-access", "allow-cluster-create", "allow-instance-pool-create"] as const;
export type Entitlement = (typeof ENTITLEMENTS)[number];

/** GitLab project access levels by name, with their documented numeric values. */
export const GIT_ACCESS_LEVELS = { reporter: 20, developer: 30, maintainer: 40, owner: 50 } as const;
export type GitAccess = keyof typeof GIT_ACCESS_LEVELS;

export const REGISTRY_FLAVOURS = ["workspace", "unity-catalog"] as const;

export const GIT_PROVIDERS = ["gitlab", "github"] as const;
export type GitProvider = (typeof GIT_PROVIDERS)[number];

/** GitLab subscription tiers: approval rules and approval settings are Premium and Ultimate features. */
export const GIT_TIERS = ["free", "premium", "ultimate"] as const;
export type GitTier = (typeof GIT_TIERS)[number];

/** Unity Catalog privileges that may be granted on a registered model. */
export const UC_MODEL_PRIVILEGES = ["ALL_PRIVILEGES", "APPLY_TAG", "EXECUTE", "MANAGE"] as const;
export type UcModelPrivilege = (typeof UC_MODEL_PRIVILEGES)[number];

export const MODEL_LIFECYCLES = ["aliases", "stages"] as const;
export type ModelLifecycle = (typeof MODEL_LIFECYCLES)[number];

/** A value that may differ per stack: resolved during validation, undefined where a stack grants nothing. */
export type PerStack<T> = Record<string, T | undefined>;

export interface Member {
  id: string;
  name: string;
  email: string;
  gitUsername: string;
  roles: string[];
}

export interface RoleGit {
  access: GitAccess;
  push: string[];
  merge: string[];
  approve: string[];
}

export interface Role {
  name: string;
  duty: Duty;
  description: string;
  entitlements: PerStack<Entitlement[]>;
  sharedGitFolders: PerStack<WorkspaceLevel>;
  experiments: PerStack<WorkspaceLevel>;
  registry: PerStack<RegistryLevel>;
  git: RoleGit;
}

export interface Environment {
  name: string;
  tier: Tier;
  /** Approvals required on merge requests targeting this environment's branch. */
  approvals: number;
}

export interface FlowEdge {
  from: string;
  to: string;
}

export interface GitFolder {
  name: string;
  url: string;
  provider: string;
}

export interface Organization {
  groupPrefix: string;
  /** Where members create their own Git folders: every team group gets CAN_MANAGE here. */
  gitFolderRoot: string;
  /** Where the shared Git folders live, apart from gitFolderRoot so they do not inherit its CAN_MANAGE. */
  sharedGitFolderRoot: string;
  experimentFolder: string;
  gitFolders: GitFolder[];
  ucPrivileges: Record<RegistryLevel, UcModelPrivilege[]>;
}

/** A declared promotion: the version `select` picks in stack `from` is migrated into stack `to`. */
export interface Promotion {
  from: string;
  to: string;
  select: { version: string } | { alias: string } | { stage: string };
  /**
   * The alias the promoted version gets in a target with aliases when the source picks it by stage (a workspace
   * registry into Unity Catalog): the stage becomes this alias, as `migrate --map-stage STAGE=ALIAS` does.
   */
  setAlias?: string;
}

/** How `select` picks the version to register among an experiment's finished runs. */
export interface Selection {
  /** The run metric compared (the team's: precision). */
  metric: string;
  /** `max`: the highest value wins; `min`: the lowest (a loss). */
  mode: "max" | "min";
  /** A winner must reach this value (at least for max, at most for min); absent, any winner is registered. */
  minimum?: number;
}

/**
 * The consumer's validation before production: in stack `in`, a member of a `signers` role scores the version
 * on historical data (metric against threshold, recorded as an MLflow run) and signs off; the production
 * promotion from `in` requires both.
 */
export interface Validation {
  in: string;
  metric: string;
  threshold: number;
  /** Roles (duty `consume`) whose members may validate and sign off. */
  signers: string[];
  /** The historical sample a validation must score: its SHA-256, or a Delta table at a version. */
  data?: { sha256: string } | { table: string; version: number };
}

export interface ManagedModel {
  name: string;
  lifecycle: ModelLifecycle;
  stacks: string[];
  /** Stacks in which the model already exists and is adopted rather than created. */
  existingIn: string[];
  promotions: Promotion[];
  selection?: Selection;
  validation?: Validation;
}

export type RegistryConfig = { flavour: "workspace" } | { flavour: "unity-catalog"; catalog: string; schema: string };

/** How a stack authenticates to Databricks. Secret values never live here: only where they come from. */
export type DatabricksAuth =
  { kind: "token"; key: string } | { kind: "oauth-m2m"; clientIdKey: string; clientSecretKey: string } | { kind: "environment" };

export interface GitFolderSettings {
  enabled: boolean;
  /** URL prefixes the workspace allows Git folders from; absent, the workspace uses no allow list. */
  allowList?: string[];
}

export interface StackConfig {
  name: string;
  host: string;
  branch: string;
  registry: RegistryConfig;
  scimProvisioned: boolean;
  auth: DatabricksAuth;
  /**
   * How long the Databricks provider retries a failing call (its `retryTimeoutSeconds`); the SDK's own
   * default (five minutes) when absent. Test stacks set it low so an unreachable loopback fails fast.
   */
  retryTimeoutSeconds?: number;
  /**
   * The workspace's Git folder settings (workspace-conf): Git folders enabled, and, when `allowList` is set, the
   * workspace accepts only Git URLs that start with one of its prefixes.
   */
  gitFolders: GitFolderSettings;
  /** `url` is the Git host's web root (https://gitlab.example.com); `project` is group/name or owner/repo. */
  git: { provider: GitProvider; url: string; project: string; ownsProjectSettings: boolean; tier?: GitTier };
  /** The upstream stacks this stack holds a registry read token for (`originTokens`): the gate reads origins there. */
  originTokenStacks?: string[];
}

export interface AccessModel {
  organization: Organization;
  environments: Environment[];
  flow: FlowEdge[];
  roles: Role[];
  roster: Member[];
  models: ManagedModel[];
  stacks: StackConfig[];
  /** What is allowed but worth knowing (a member in both an approving and a signer role): shown, never fatal. */
  warnings?: string[];
}
