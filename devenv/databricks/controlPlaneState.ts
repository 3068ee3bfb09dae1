/**
 * What a Databricks workspace's control plane holds, as plain data that tests read and change directly
 * (an out-of-band change is a write to these maps): SCIM users and groups with entitlements and
 * members, bearer tokens, direct ACLs per permissions object, Git folder metadata, the workspace-registry
 * model ids, and Unity Catalog schemas, registered models and grants. Workspace folders and Git folder
 * nodes themselves live in the WorkspaceApi tree, which the control API shares.
 */
import * as crypto from "crypto";

export const ENTITLEMENTS = [
  "workspace-access",
  "databricks-sql-access",
  "allow-cluster-create",
  "allow-instance-pool-create",
  "workspace-consume",
] as const;

export interface ScimUser {
  id: string;
  userName: string;
  displayName: string;
  active: boolean;
  externalId?: string;
  entitlements: Set<string>;
}

export interface ScimGroup {
  id: string;
  displayName: string;
  externalId?: string;
  entitlements: Set<string>;
  /** Member ids: users or (nested) groups. */
  members: Set<string>;
}

export type PrincipalKind = "user" | "group" | "servicePrincipal";

/** One direct ACL entry: who (by user name, group display name or service principal application id) and the level. */
export interface AclEntry {
  kind: PrincipalKind;
  name: string;
  level: string;
}

/** A Git folder's Repos-API view; its node (type REPO) and path live in the WorkspaceApi tree under the same id. */
export interface GitFolder {
  id: number;
  url: string;
  provider: string;
  branch?: string;
  tag?: string;
  headCommitId: string;
  sparseCheckout?: string[];
  creator: string;
}

/** A user's Git credential (Git credentials API); the token is kept only to tell that one was given, never answered. */
export interface GitCredential {
  credentialId: number;
  gitProvider: string;
  gitUsername: string;
  personalAccessToken: string;
}

/** A workspace-registry model's Databricks id (the model itself lives in the MLflow server behind). */
export interface WorkspaceModel {
  id: string;
  creator?: string;
}

export interface UcModel {
  catalogName: string;
  schemaName: string;
  name: string;
  fullName: string;
  comment?: string;
  owner: string;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
  updatedBy: string;
  storageLocation: string;
}

/** The ACL key of an object, as the Permissions API names it: `/directories/123`, `/registered-models/<id>`. */
export const aclKey = (requestObjectType: string, id: string | number) => `/${requestObjectType}/${id}`;

export class ControlPlaneState {
  readonly workspaceId: string;
  readonly accountId = crypto.randomUUID();
  readonly metastoreId = crypto.randomUUID();
  readonly users = new Map<string, ScimUser>();
  readonly groups = new Map<string, ScimGroup>();
  /** Bearer token -> user id. */
  readonly tokens = new Map<string, string>();
  /** Direct ACL entries per object (see aclKey); inherited entries are derived, never stored. */
  readonly acls = new Map<string, AclEntry[]>();
  readonly gitFolders = new Map<number, GitFolder>();
  /** Workspace settings (workspace-conf) that were set, by key; a key never set answers its default. */
  readonly workspaceConf = new Map<string, string>();
  /** Git credentials by owner (user id): Databricks keeps one per user. */
  readonly gitCredentials = new Map<string, GitCredential>();
  /** Workspace-registry model name -> its Databricks id and creator. */
  readonly workspaceModels = new Map<string, WorkspaceModel>();
  /** Unity Catalog schemas that exist, as lower-case `catalog.schema`. */
  readonly ucSchemas = new Set<string>();
  /** Unity Catalog registered models by lower-case full name. */
  readonly ucModels = new Map<string, UcModel>();
  /** Unity Catalog grants: `<securable type>/<lower-case full name>` -> principal -> privileges. */
  readonly ucGrants = new Map<string, Map<string, Set<string>>>();
  /** Every request served, as `METHOD /path`, for tests to assert call sequences on. */
  readonly calls: string[] = [];
  /** Whether /.well-known/databricks-config advertises workspace_id (newer workspaces do; older ones make clients ask SCIM Me). */
  advertiseWorkspaceId = true;
  /** The admin user the token authenticates as. */
  readonly admin: ScimUser;
  private nextId = 4_511_000_000_000_001;

  constructor(opts: { token: string; adminUserName?: string; workspaceId?: string }) {
    this.workspaceId = opts.workspaceId ?? "1234567890123456";
    this.addGroup("admins");
    this.addGroup("users");
    this.admin = this.addUser(opts.adminUserName ?? "platform-admin@quantfirm.example", {
      displayName: "Platform Admin",
      entitlements: ["workspace-access", "databricks-sql-access", "allow-cluster-create", "allow-instance-pool-create"],
    });
    this.groupByName("admins")!.members.add(this.admin.id);
    this.tokens.set(opts.token, this.admin.id);
  }

  newId(): string {
    return String(this.nextId++);
  }

  /** Adds a user as an admin or SCIM provisioning would; every user is a member of `users`. */
  addUser(userName: string, opts: { displayName?: string; entitlements?: string[]; externalId?: string; active?: boolean } = {}): ScimUser {
    const u: ScimUser = {
      id: this.newId(),
      userName,
      displayName: opts.displayName ?? userName,
      active: opts.active ?? true,
      externalId: opts.externalId,
      entitlements: new Set(opts.entitlements ?? []),
    };
    this.users.set(u.id, u);
    this.groupByName("users")?.members.add(u.id);
    return u;
  }

  addGroup(displayName: string, opts: { entitlements?: string[]; externalId?: string; members?: string[] } = {}): ScimGroup {
    const g: ScimGroup = {
      id: this.newId(),
      displayName,
      externalId: opts.externalId,
      entitlements: new Set(opts.entitlements ?? []),
      members: new Set(opts.members ?? []),
    };
    this.groups.set(g.id, g);
    return g;
  }

  userByName(userName: string): ScimUser | undefined {
    return [...this.users.values()].find((u) => u.userName.toLowerCase() === userName.toLowerCase());
  }

  groupByName(displayName: string): ScimGroup | undefined {
    return [...this.groups.values()].find((g) => g.displayName === displayName);
  }

  /** Whether an ACL or grant principal names an existing user, group or (never, here) service principal. */
  principalExists(kind: PrincipalKind, name: string): boolean {
    if (kind === "group") return !!this.groupByName(name);
    if (kind === "user") return !!this.userByName(name);
    return false;
  }

  /** Removes a deleted principal everywhere the real service forgets it: memberships, ACLs and grants. */
  forgetPrincipal(id: string, kind: PrincipalKind, name: string): void {
    for (const g of this.groups.values()) g.members.delete(id);
    for (const [k, entries] of this.acls)
      this.acls.set(
        k,
        entries.filter((e) => !(e.kind === kind && e.name === name)),
      );
    for (const grants of this.ucGrants.values()) grants.delete(name);
  }

  /** Direct ACL entries of an object (empty when none). */
  acl(key: string): AclEntry[] {
    return this.acls.get(key) ?? [];
  }
}
