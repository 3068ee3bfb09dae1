/**
 * Databricks compute configuration for tests: the Cluster Policies API, the Instance Pools API and the clusters API's
 * node types and Spark versions (https://docs.databricks.com/api/workspace/clusterpolicies, .../instancepools,
 * .../clusters/listnodetypes), as the official SDK calls them (databricks-sdk `service/compute.py` is the judge of
 * field names). No clusters are run.
 *
 * Cluster policies (only workspace admins create, edit, delete them or change their permissions; others see and read
 * the policies they hold CAN_USE on, directly or through a group):
 * - `GET /api/2.0/policies/clusters/list ?sort_column=POLICY_CREATION_TIME|POLICY_NAME&sort_order=ASC|DESC` ->
 *   `{policies: [Policy]}`; `GET .../get ?policy_id` -> Policy `{policy_id, name, definition, description,
 *   max_clusters_per_user, policy_family_id, policy_family_definition_overrides, libraries, is_default,
 *   creator_user_name, created_at_timestamp}`;
 * - `POST .../create {name, definition?, description?, max_clusters_per_user?, policy_family_id?,
 *   policy_family_definition_overrides?, libraries?}` -> `{policy_id}`: a name of 1-100 characters that no policy has
 *   (400 INVALID_PARAMETER_VALUE "Cluster Policy with name `X` already exists", the text Databricks answers);
 *   `definition` and the overrides must parse as JSON (Databricks checks no more of their shape: a malformed policy
 *   fails when a cluster uses it); `policy_family_id` names a family and excludes `definition`, whose family
 *   definition the policy reads as, merged with the overrides;
 * - `POST .../edit {policy_id, name, ...}`: replaces every field (one left out is cleared), same rules;
 * - `POST .../delete {policy_id}`.
 * Every workspace has the default policies of the four families (Personal Compute, Power User Compute, Shared
 * Compute, Job Compute; `is_default: true`, no creator, Personal Compute usable by `users`): their names are taken,
 * they cannot be deleted and their family cannot change.
 *
 * Instance pools (created by admins and users entitled `allow-instance-pool-create`, who get CAN_MANAGE on the pool;
 * CAN_MANAGE edits, deletes and changes permissions; every user lists and reads pools):
 * - `GET /api/2.0/instance-pools/list` -> `{instance_pools: [pool with stats]}`; `GET .../get ?instance_pool_id`;
 * - `POST .../create {instance_pool_name, node_type_id, min_idle_instances?, max_capacity?,
 *   idle_instance_autotermination_minutes?, custom_tags?, preloaded_spark_versions?, aws_attributes?, ...}` ->
 *   `{instance_pool_id}`: a unique name of 1-100 characters, a node type the workspace offers, at most one preloaded
 *   Spark version (one it offers), at most 45 custom tags, 0 <= min_idle_instances <= max_capacity, an idle
 *   timeout of 0-10000 minutes; read back with Databricks' defaults (aws_attributes, default_tags, state ACTIVE);
 * - `POST .../edit {instance_pool_id, instance_pool_name, node_type_id, custom_tags?, min_idle_instances?,
 *   max_capacity?, idle_instance_autotermination_minutes?}`: replaces those fields; the node type cannot change;
 * - `POST .../delete {instance_pool_id}`.
 *
 * Node types and runtimes: `GET /api/2.{0,1}/clusters/list-node-types` -> `{node_types: [{node_type_id, memory_mb,
 * num_cores, description, instance_type_id, category, ...}]}` for the ids in `nodeTypes` (AWS-like; a test sets
 * another list to make a workspace offer other node types); `GET /api/2.{0,1}/clusters/spark-versions` ->
 * `{versions: [{key, name}]}` for `sparkVersions`. Every other clusters route answers 501.
 *
 * Errors: 400 INVALID_PARAMETER_VALUE (a refused value), 404 RESOURCE_DOES_NOT_EXIST (no such policy or pool), 403
 * PERMISSION_DENIED. A refusal changes nothing. Permissions on policies (CAN_USE) and pools (CAN_ATTACH_TO,
 * CAN_MANAGE) are served by the Permissions API (permissionsApi.ts) through `policyObjects` and `poolObjects`, on
 * the same ACLs (WorkspaceAccess).
 */
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";
import type { AclEntry, PrincipalKind } from "./controlPlaneState";
import type { ServedObjects } from "./permissionsApi";

/**
 * Who may do what on jobs, cluster policies and instance pools: the direct ACLs (keyed as the Permissions API keys
 * them, `/jobs/<id>`, with each type's root `/jobs/` holding what every object of it inherits) and the identity
 * questions a host with SCIM state answers (localPlatform.ts adopts the control plane's ACLs and wires its users).
 */
export class WorkspaceAccess {
  /** The groups a caller belongs to (`users` is added for everyone). */
  groupsOf: (caller: string) => string[] = () => [];
  /** Whether a caller holds an entitlement (e.g. `allow-instance-pool-create`), directly or through a group. */
  entitled: (caller: string, entitlement: string) => boolean = (caller) => this.isAdmin(caller);
  private store = new Map<string, AclEntry[]>();

  constructor(
    /** Whether the caller is a workspace admin (the highest level on every object). */
    public isAdmin: (caller: string) => boolean,
    /** Whether a user, group or service principal (by application id) exists in the workspace. */
    public principalExists: (kind: PrincipalKind, name: string) => boolean = () => false,
  ) {}

  /** Every direct ACL, by ACL key. */
  get acls(): Map<string, AclEntry[]> {
    return this.store;
  }

  /** Keeps the ACLs in `store` from now on (a control plane's state), with what was granted so far. */
  adopt(store: Map<string, AclEntry[]>): void {
    for (const [k, v] of this.store) if (!store.has(k)) store.set(k, v);
    this.store = store;
  }

  /** The direct entries of one object (empty when none). */
  acl(key: string): AclEntry[] {
    return this.store.get(key) ?? [];
  }

  /**
   * The caller's highest level among `levels` (lowest first) on the object with ACL key `key`, from its own entries
   * and its type's root `root`, naming the caller or a group of theirs; admins hold the highest level.
   */
  level(key: string, root: string, levels: readonly string[], caller: string): string | undefined {
    if (this.isAdmin(caller)) return levels[levels.length - 1];
    const groups = new Set(["users", ...this.groupsOf(caller)]);
    let best = -1;
    for (const e of [...this.acl(key), ...this.acl(root)]) {
      const mine = e.kind === "group" ? groups.has(e.name) : e.name.toLowerCase() === caller.toLowerCase();
      if (mine) best = Math.max(best, levels.indexOf(e.level));
    }
    return best < 0 ? undefined : levels[best];
  }

  /** Whether the caller's level on an object is at least `need`. */
  has(key: string, root: string, levels: readonly string[], caller: string, need: string): boolean {
    const l = this.level(key, root, levels, caller);
    return l !== undefined && levels.indexOf(l) >= levels.indexOf(need);
  }
}

export const POLICY_LEVELS = ["CAN_USE"] as const;
export const POOL_LEVELS = ["CAN_ATTACH_TO", "CAN_MANAGE"] as const;
const POLICY_ROOT = "/cluster-policies/";
const POOL_ROOT = "/instance-pools/";
const policyKey = (id: string) => `${POLICY_ROOT}${id}`;
const poolKey = (id: string) => `${POOL_ROOT}${id}`;

/** AWS node types as list-node-types describes them; an id outside this table is described generically. */
const NODE_TYPE_CATALOG: Record<string, { memory_mb: number; num_cores: number; category: string; num_gpus?: number }> = {
  "m5d.large": { memory_mb: 8192, num_cores: 2, category: "General Purpose" },
  "m5d.xlarge": { memory_mb: 16384, num_cores: 4, category: "General Purpose" },
  "m5d.2xlarge": { memory_mb: 32768, num_cores: 8, category: "General Purpose" },
  "m5d.4xlarge": { memory_mb: 65536, num_cores: 16, category: "General Purpose" },
  "i3.xlarge": { memory_mb: 31232, num_cores: 4, category: "Storage Optimized" },
  "i3.2xlarge": { memory_mb: 62464, num_cores: 8, category: "Storage Optimized" },
  "r5d.xlarge": { memory_mb: 32768, num_cores: 4, category: "Memory Optimized" },
  "r5d.2xlarge": { memory_mb: 65536, num_cores: 8, category: "Memory Optimized" },
  "c5d.xlarge": { memory_mb: 8192, num_cores: 4, category: "Compute Optimized" },
  "c5d.2xlarge": { memory_mb: 16384, num_cores: 8, category: "Compute Optimized" },
  "g4dn.xlarge": { memory_mb: 16384, num_cores: 4, category: "GPU Accelerated", num_gpus: 1 },
};
export const DEFAULT_NODE_TYPES = Object.keys(NODE_TYPE_CATALOG);

export const DEFAULT_SPARK_VERSIONS: Record<string, string> = {
  "16.4.x-scala2.12": "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)",
  "15.4.x-scala2.12": "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
  "15.4.x-cpu-ml-scala2.12": "15.4 LTS ML (includes Apache Spark 3.5.0, Scala 2.12)",
  "14.3.x-scala2.12": "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
  "13.3.x-scala2.12": "13.3 LTS (includes Apache Spark 3.4.1, Scala 2.12)",
};

/** The policy families (https://docs.databricks.com/en/admin/clusters/policy-families.html) and their default policies. */
const FAMILIES: Record<string, { name: string; definition: Record<string, unknown> }> = {
  "personal-vm": {
    name: "Personal Compute",
    definition: {
      cluster_type: { type: "fixed", value: "all-purpose" },
      num_workers: { type: "fixed", value: 0, hidden: true },
      data_security_mode: { type: "allowlist", values: ["SINGLE_USER", "LEGACY_SINGLE_USER"] },
    },
  },
  "power-user": {
    name: "Power User Compute",
    definition: { cluster_type: { type: "fixed", value: "all-purpose" }, "autoscale.max_workers": { type: "range", maxValue: 10 } },
  },
  "shared-compute": {
    name: "Shared Compute",
    definition: { cluster_type: { type: "fixed", value: "all-purpose" }, data_security_mode: { type: "fixed", value: "USER_ISOLATION" } },
  },
  "job-cluster": {
    name: "Job Compute",
    definition: { cluster_type: { type: "fixed", value: "job" }, num_workers: { type: "range", maxValue: 20, defaultValue: 2 } },
  },
};

type Json = Record<string, any>;

let nextPolicy = 0x6b36c7e868ad1;
let nextPool = 1;

export class ComputeApi {
  /** Cluster policies by id, as Policy documents (the family-based ones with `definition` derived when read). */
  readonly policies = new Map<string, Json>();
  /** Instance pools by id, as GetInstancePool documents. */
  readonly pools = new Map<string, Json>();
  /** The node types the workspace offers (list-node-types; job clusters and pools must use one of them). */
  nodeTypes: string[] = [...DEFAULT_NODE_TYPES];
  /** The Spark runtime versions the workspace offers, key -> name. */
  sparkVersions: Record<string, string> = { ...DEFAULT_SPARK_VERSIONS };

  constructor(readonly access: WorkspaceAccess) {
    for (const [family, f] of Object.entries(FAMILIES)) {
      const id = newPolicyId();
      this.policies.set(id, { policy_id: id, name: f.name, policy_family_id: family, is_default: true, created_at_timestamp: Date.now() });
      if (family === "personal-vm") access.acls.set(policyKey(id), [{ kind: "group", name: "users", level: "CAN_USE" }]);
    }
  }

  /** Whether the workspace offers a node type. */
  offersNodeType(id: string): boolean {
    return this.nodeTypes.includes(id);
  }

  /** What the Permissions API needs of cluster policies (`/api/2.0/permissions/cluster-policies/{id}`). */
  readonly policyObjects: ServedObjects = {
    objectType: "cluster-policy",
    levels: POLICY_LEVELS,
    adminLevel: "CAN_USE",
    exists: (id) => this.policies.has(id),
  };

  /** What the Permissions API needs of instance pools (`/api/2.0/permissions/instance-pools/{id}`). */
  readonly poolObjects: ServedObjects = {
    objectType: "instance-pool",
    levels: POOL_LEVELS,
    adminLevel: "CAN_MANAGE",
    exists: (id) => this.pools.has(id),
  };

  /** Serves the policy, pool and node-type routes; false for any other path. */
  handle(req: ApiRequest): boolean {
    const p = req.url.pathname;
    let m = /^\/api\/2\.0\/policies\/clusters\/(list|get|create|edit|delete)$/.exec(p);
    if (m) return this.route(req, m[1], (op, b) => this.policy(req, op, b));
    m = /^\/api\/2\.0\/instance-pools\/(list|get|create|edit|delete)$/.exec(p);
    if (m) return this.route(req, m[1], (op, b) => this.pool(req, op, b));
    m = /^\/api\/2\.[01]\/clusters\/(list-node-types|spark-versions)$/.exec(p);
    if (m) {
      if (req.method !== "GET") return apiError(req.res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${req.method} ${p}'`);
      if (m[1] === "spark-versions")
        return sendJson(req.res, 200, { versions: Object.entries(this.sparkVersions).map(([key, name]) => ({ key, name })) });
      return sendJson(req.res, 200, { node_types: this.nodeTypes.map(describeNodeType) });
    }
    if (/^\/api\/2\.\d\/(policies\/clusters|instance-pools|clusters)(\/|$)/.test(p)) return notImplemented(req.res, req.method, req.url);
    return false;
  }

  /** Reads list/get from the query and the rest from a POST body, answering a wrong method as Databricks does. */
  private route(req: ApiRequest, op: string, serve: (op: string, b: Json) => boolean): boolean {
    const reads = op === "list" || op === "get";
    if (req.method !== (reads ? "GET" : "POST"))
      return apiError(req.res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${req.method} ${req.url.pathname}'`);
    const b = reads ? Object.fromEntries(req.url.searchParams) : jsonBody(req);
    return b ? serve(op, b) : true;
  }

  private policy(req: ApiRequest, op: string, b: Json): boolean {
    const { res, caller } = req;
    const admin = this.access.isAdmin(caller);
    const canUse = (id: string) => this.access.has(policyKey(id), POLICY_ROOT, POLICY_LEVELS, caller, "CAN_USE");
    if (op === "list") {
      const col = String(b.sort_column ?? "POLICY_CREATION_TIME");
      const desc = String(b.sort_order ?? "ASC") === "DESC";
      const out = [...this.policies.values()]
        .filter((x) => canUse(x.policy_id))
        .sort((x, y) => (col === "POLICY_NAME" ? x.name.localeCompare(y.name) : x.created_at_timestamp - y.created_at_timestamp))
        .map((x) => this.policyJson(x));
      if (desc) out.reverse();
      return sendJson(res, 200, out.length ? { policies: out } : {});
    }
    if (op === "create") {
      if (!admin) return denied(req, `Only workspace admins can create cluster policies; '${caller}' is not one.`);
      const made = this.policyFields(req, b, undefined);
      if (!made) return true;
      const id = newPolicyId();
      this.policies.set(id, { policy_id: id, ...made, creator_user_name: caller, created_at_timestamp: Date.now() });
      return sendJson(res, 200, { policy_id: id });
    }
    const id = String(b.policy_id ?? "");
    if (!id) return invalid(req, "Missing required field: policy_id");
    const found = this.policies.get(id);
    if (!found) return apiError(res, 404, "RESOURCE_DOES_NOT_EXIST", `Can't find a cluster policy with id: ${id}.`);
    if (op === "get") {
      if (!canUse(id)) return denied(req, `User '${caller}' does not have CAN_USE permission on cluster policy ${id}.`);
      return sendJson(res, 200, this.policyJson(found));
    }
    if (!admin) return denied(req, `Only workspace admins can ${op} cluster policies; '${caller}' is not one.`);
    if (op === "delete") {
      if (found.is_default) return invalid(req, `Cluster policy ${id} (${found.name}) is a default policy and cannot be deleted.`);
      this.policies.delete(id);
      this.access.acls.delete(policyKey(id));
      return sendJson(res, 200, {});
    }
    const edited = this.policyFields(req, b, found);
    if (!edited) return true;
    this.policies.set(id, {
      policy_id: id,
      ...edited,
      ...(found.is_default ? { is_default: true } : {}),
      ...(found.creator_user_name ? { creator_user_name: found.creator_user_name } : {}),
      created_at_timestamp: found.created_at_timestamp,
    });
    return sendJson(res, 200, {});
  }

  /** A create's or edit's stored fields, or undefined once a refusal is answered. */
  private policyFields(req: ApiRequest, b: Json, editing: Json | undefined): Json | undefined {
    const name = typeof b.name === "string" ? b.name : "";
    if (name.length < 1 || name.length > 100)
      return void invalid(req, `Cluster policy name must be between 1 and 100 characters long; got '${name}'.`);
    if ([...this.policies.values()].some((x) => x.name === name && x.policy_id !== editing?.policy_id))
      return void invalid(req, `Cluster Policy with name \`${name}\` already exists`);
    const family = b.policy_family_id === undefined ? undefined : String(b.policy_family_id);
    if (family !== undefined && !FAMILIES[family]) return void invalid(req, `Policy family ${family} does not exist.`);
    if (editing?.is_default && family !== editing.policy_family_id)
      return void invalid(req, `The policy family of default policy ${editing.policy_id} (${editing.name}) cannot be changed.`);
    if (family !== undefined && b.definition !== undefined)
      return void invalid(req, "definition cannot be given with policy_family_id: use policy_family_definition_overrides.");
    if (family === undefined && b.policy_family_definition_overrides !== undefined)
      return void invalid(req, "policy_family_definition_overrides can only be given with policy_family_id.");
    for (const f of ["definition", "policy_family_definition_overrides"]) {
      if (b[f] === undefined) continue;
      if (typeof b[f] !== "string") return void invalid(req, `${f} must be a JSON document passed as a string.`);
      try {
        JSON.parse(b[f]);
      } catch (e) {
        return void invalid(req, `${f} is not valid JSON: ${(e as Error).message}`);
      }
    }
    if (b.max_clusters_per_user !== undefined && !(Number.isInteger(b.max_clusters_per_user) && b.max_clusters_per_user >= 0))
      return void invalid(req, `max_clusters_per_user must be a non-negative integer; got ${JSON.stringify(b.max_clusters_per_user)}.`);
    const keep = ["definition", "description", "max_clusters_per_user", "policy_family_definition_overrides", "libraries"];
    return {
      name,
      ...(family !== undefined ? { policy_family_id: family } : {}),
      ...Object.fromEntries(keep.filter((k) => b[k] !== undefined).map((k) => [k, b[k]])),
    };
  }

  /** A policy as get/list answer it: a family-based policy's definition is the family's merged with its overrides. */
  private policyJson(x: Json): Json {
    const family = x.policy_family_id ? FAMILIES[x.policy_family_id] : undefined;
    if (!family) return { ...x, definition: x.definition ?? "{}" };
    const overrides = x.policy_family_definition_overrides ? JSON.parse(x.policy_family_definition_overrides) : {};
    return { ...x, definition: JSON.stringify({ ...family.definition, ...overrides }) };
  }

  private pool(req: ApiRequest, op: string, b: Json): boolean {
    const { res, caller } = req;
    if (op === "list") {
      const pools = [...this.pools.values()].sort((x, y) => x.instance_pool_name.localeCompare(y.instance_pool_name));
      return sendJson(res, 200, pools.length ? { instance_pools: pools } : {});
    }
    if (op === "create") {
      if (!this.access.entitled(caller, "allow-instance-pool-create"))
        return denied(req, `User '${caller}' is not entitled to create instance pools (allow-instance-pool-create).`);
      const made = this.poolFields(req, b, undefined);
      if (!made) return true;
      const id = newPoolId();
      this.pools.set(id, {
        instance_pool_id: id,
        ...made,
        aws_attributes: { availability: "SPOT", zone_id: "auto", spot_bid_price_percent: 100, ...(b.aws_attributes ?? {}) },
        enable_elastic_disk: b.enable_elastic_disk ?? true,
        default_tags: { Vendor: "Databricks", DatabricksInstancePoolCreatorId: caller, DatabricksInstancePoolId: id },
        ...pick(b, ["preloaded_spark_versions", "preloaded_docker_images", "disk_spec", "node_type_flexibility"]),
        state: "ACTIVE",
        stats: { used_count: 0, idle_count: made.min_idle_instances, pending_used_count: 0, pending_idle_count: 0 },
        status: {},
      });
      this.access.acls.set(poolKey(id), [{ kind: "user", name: caller, level: "CAN_MANAGE" }]);
      return sendJson(res, 200, { instance_pool_id: id });
    }
    const id = String(b.instance_pool_id ?? "");
    if (!id) return invalid(req, "Missing required field: instance_pool_id");
    const found = this.pools.get(id);
    if (!found) return apiError(res, 404, "RESOURCE_DOES_NOT_EXIST", `Can't find an instance pool with id: ${id}.`);
    if (op === "get") return sendJson(res, 200, found);
    if (!this.access.has(poolKey(id), POOL_ROOT, POOL_LEVELS, caller, "CAN_MANAGE"))
      return denied(req, `User '${caller}' does not have CAN_MANAGE permission on instance pool ${id}, which is needed to ${op} it.`);
    if (op === "delete") {
      this.pools.delete(id);
      this.access.acls.delete(poolKey(id));
      return sendJson(res, 200, {});
    }
    const edited = this.poolFields(req, b, found);
    if (!edited) return true;
    const { custom_tags: _old, max_capacity: _max, ...rest } = found;
    this.pools.set(id, { ...rest, ...edited, stats: { ...found.stats, idle_count: edited.min_idle_instances } });
    return sendJson(res, 200, {});
  }

  /** The fields a pool's create or edit sets (with their defaults), or undefined once a refusal is answered. */
  private poolFields(req: ApiRequest, b: Json, editing: Json | undefined): Json | undefined {
    const name = typeof b.instance_pool_name === "string" ? b.instance_pool_name : "";
    if (name.length < 1 || name.length > 100)
      return void invalid(req, `instance_pool_name must be between 1 and 100 characters long; got '${name}'.`);
    if ([...this.pools.values()].some((x) => x.instance_pool_name === name && x.instance_pool_id !== editing?.instance_pool_id))
      return void invalid(req, `Instance pool name '${name}' is already in use: pool names must be unique.`);
    const node = typeof b.node_type_id === "string" ? b.node_type_id : "";
    if (!node) return void invalid(req, "Missing required field: node_type_id");
    if (editing && node !== editing.node_type_id)
      return void invalid(
        req,
        `The node type of instance pool ${editing.instance_pool_id} cannot be changed (${editing.node_type_id} -> ${node}).`,
      );
    if (!editing && !this.offersNodeType(node)) return void invalid(req, unsupportedNodeType(node, this.nodeTypes));
    const minIdle = b.min_idle_instances ?? 0;
    const count = (v: unknown) => v === undefined || (Number.isInteger(v) && (v as number) >= 0);
    if (!count(b.min_idle_instances) || !count(b.max_capacity))
      return void invalid(req, "min_idle_instances and max_capacity must be non-negative integers.");
    if (b.max_capacity !== undefined && b.max_capacity < minIdle)
      return void invalid(req, `max_capacity (${b.max_capacity}) must be at least min_idle_instances (${minIdle}).`);
    const idle = b.idle_instance_autotermination_minutes ?? 60;
    if (!Number.isInteger(idle) || idle < 0 || idle > 10000)
      return void invalid(req, `idle_instance_autotermination_minutes must be between 0 and 10000; got ${JSON.stringify(idle)}.`);
    if (b.custom_tags !== undefined && Object.keys(b.custom_tags ?? {}).length > 45)
      return void invalid(req, "An instance pool can have at most 45 custom tags.");
    if (!editing && b.preloaded_spark_versions !== undefined) {
      const v = b.preloaded_spark_versions;
      if (!Array.isArray(v) || v.length > 1) return void invalid(req, "preloaded_spark_versions lists at most one Spark version.");
      if (v.length && !this.sparkVersions[v[0]]) return void invalid(req, `Spark version ${v[0]} is not available in this workspace.`);
    }
    return {
      instance_pool_name: name,
      node_type_id: node,
      min_idle_instances: minIdle,
      idle_instance_autotermination_minutes: idle,
      ...pick(b, ["max_capacity", "custom_tags"]),
    };
  }
}

/** A node type as list-node-types describes it. */
function describeNodeType(id: string): Json {
  const c = NODE_TYPE_CATALOG[id] ?? { memory_mb: 16384, num_cores: 4, category: "General Purpose" };
  return {
    node_type_id: id,
    memory_mb: c.memory_mb,
    num_cores: c.num_cores,
    num_gpus: c.num_gpus ?? 0,
    description: id,
    instance_type_id: id,
    category: c.category,
    is_deprecated: false,
    is_hidden: false,
    support_ebs_volumes: true,
    support_cluster_tags: true,
    support_port_forwarding: true,
    node_instance_type: { instance_type_id: id, local_disks: 1, local_disk_size_gb: 150 },
    photon_worker_capable: true,
    photon_driver_capable: true,
  };
}

/** The refusal of a node type the workspace does not offer, naming those it does. */
export function unsupportedNodeType(id: string, offered: string[]): string {
  return `Node type ${id} is not supported. Supported node types: ${offered.join(", ")}`;
}

function newPolicyId(): string {
  return (nextPolicy++).toString(16).toUpperCase().padStart(16, "0");
}

function newPoolId(): string {
  const n = nextPool++;
  return `0101-120000-pool${String(n).padStart(4, "0")}-pool-${n.toString(36).padStart(8, "q")}`;
}

function pick(b: Json, keys: string[]): Json {
  return Object.fromEntries(keys.filter((k) => b[k] !== undefined).map((k) => [k, b[k]]));
}

function invalid(req: ApiRequest, message: string): true {
  return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", message);
}

function denied(req: ApiRequest, message: string): true {
  return apiError(req.res, 403, "PERMISSION_DENIED", message);
}
