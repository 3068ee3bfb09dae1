/**
 * What a Databricks workspace's control plane holds, as plain data that tests read and change directly
 * (an out-of-band change is a write to these maps): SCIM users and groups with entitlements and
 * members, bearer tokens, direct ACLs per permissions object, Git folder metadata, the workspace-registry
 * model ids, and Unity Catalog catalogs, schemas, tables, registered models and grants. Workspace folders and Git folder
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

/** A workspace service principal (SCIM ServicePrincipals); ACLs and run_as name it by its application id. */
export interface ScimServicePrincipal {
  id: string;
  applicationId: string;
  displayName: string;
  active: boolean;
  entitlements: Set<string>;
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

/** A catalog's own settings; a catalog that exists only through a schema of it (ucSchemas) answers the defaults. */
export interface UcCatalog {
  name: string;
  owner?: string;
  /** OPEN (the default): every workspace of the metastore sees it; ISOLATED: only the workspaces bound to it. */
  isolationMode?: "OPEN" | "ISOLATED";
  /** MANAGED_CATALOG unless told otherwise (DELTASHARING_CATALOG, FOREIGN_CATALOG, SYSTEM_CATALOG...). */
  catalogType?: string;
}

/** A table or view as the Tables API answers it (TableInfo); under `hive_metastore.`, one of the workspace's Hive metastore. */
export interface UcTable {
  catalogName: string;
  schemaName: string;
  name: string;
  fullName: string;
  /** MANAGED, EXTERNAL, VIEW, MATERIALIZED_VIEW, STREAMING_TABLE... */
  tableType: string;
  /** DELTA, PARQUET, CSV...; none for a view. */
  dataSourceFormat?: string;
  storageLocation?: string;
  /** Table properties, sizes among them as ANALYZE TABLE leaves them (`spark.sql.statistics.totalSize`, `...numRows`). */
  properties: Record<string, string>;
  viewDefinition?: string;
  columns: { name: string; type: string }[];
  owner: string;
  createdAt: number;
  updatedAt: number;
}

/** The ACL key of an object, as the Permissions API names it: `/directories/123`, `/registered-models/<id>`. */
export const aclKey = (requestObjectType: string, id: string | number) => `/${requestObjectType}/${id}`;

export class ControlPlaneState {
  readonly workspaceId: string;
  readonly accountId = crypto.randomUUID();
  /** The Unity Catalog metastore the workspace is assigned to: a test gives two workspaces one id to have them share it. */
  metastoreId: string = crypto.randomUUID();
  /** Whether the workspace keeps a legacy Hive metastore, which Unity Catalog shows as the `hive_metastore` catalog. */
  hiveMetastore = true;
  readonly users = new Map<string, ScimUser>();
  readonly groups = new Map<string, ScimGroup>();
  /** Service principals by SCIM id (addServicePrincipal). */
  readonly servicePrincipals = new Map<string, ScimServicePrincipal>();
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
  /** Catalogs' own settings by lower-case name (unityCatalogApi.ts). */
  readonly ucCatalogs = new Map<string, UcCatalog>();
  /** Tables and views by lower-case full name, the Hive metastore's under `hive_metastore.` (addTable seeds them). */
  readonly ucTables = new Map<string, UcTable>();
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

  /** Adds a service principal as an admin would (a random application id unless given). */
  addServicePrincipal(displayName: string, opts: { applicationId?: string; entitlements?: string[] } = {}): ScimServicePrincipal {
    const sp = {
      id: this.newId(),
      applicationId: opts.applicationId ?? crypto.randomUUID(),
      displayName,
      active: true,
      entitlements: new Set(opts.entitlements ?? []),
    };
    this.servicePrincipals.set(sp.id, sp);
    return sp;
  }

  /** Whether an ACL or grant principal names an existing user, group or service principal (by application id). */
  principalExists(kind: PrincipalKind, name: string): boolean {
    if (kind === "group") return !!this.groupByName(name);
    if (kind === "user") return !!this.userByName(name);
    return [...this.servicePrincipals.values()].some((sp) => sp.applicationId === name);
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

  /**
   * Seeds a table or view, and its schema, as `catalog.schema.name` (lower-cased): a managed Delta table owned by the
   * admin unless told otherwise, stored under the metastore's root (a Hive metastore table under the DBFS warehouse).
   */
  addTable(fullName: string, t: Partial<Omit<UcTable, "fullName" | "catalogName" | "schemaName" | "name">> = {}): UcTable {
    const [catalogName, schemaName, name] = fullName.toLowerCase().split(".");
    const tableType = t.tableType ?? "MANAGED";
    const view = tableType.endsWith("VIEW");
    const table: UcTable = {
      catalogName,
      schemaName,
      name,
      fullName: `${catalogName}.${schemaName}.${name}`,
      tableType,
      dataSourceFormat: view ? undefined : "DELTA",
      storageLocation: view
        ? undefined
        : catalogName === "hive_metastore"
          ? `dbfs:/user/hive/warehouse/${schemaName}.db/${name}`
          : `s3://metastore-root/${this.metastoreId}/tables/${crypto.randomUUID()}`,
      properties: {},
      columns: [],
      owner: this.admin.userName,
      createdAt: Date.now(),
      updatedAt: Date.now(),
      ...t,
    };
    this.ucSchemas.add(`${catalogName}.${schemaName}`);
    this.ucTables.set(table.fullName, table);
    return table;
  }

  /** Direct ACL entries of an object (empty when none). */
  acl(key: string): AclEntry[] {
    return this.acls.get(key) ?? [];
  }
}
