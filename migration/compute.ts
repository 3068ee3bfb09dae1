/**
 * Cluster policies and instance pools move with their definitions and permissions, before the jobs that use them
 * (Cluster Policies API, Instance Pools API, Permissions API `cluster-policies` / `instance-pools`). Both are
 * found in the target by name: a second move adopts what the first made and edits it only where it differs.
 *
 * What the operator decides is never decided for them: a principal the target does not know (an ACL entry, a
 * job's owner or `run_as`) and a node type the target does not offer are held back with the reason, until the
 * plan maps them (`principalMap`, `nodeTypeMap`). Nothing of a held object is created.
 */
import { databricksApi, DatabricksApi } from "../clients/databricksApi";
import { createOnce, DEFAULT_RETRY, hasStatus, RetryPolicy } from "../clients/http";
import { Endpoint } from "../clients/mlflow";
import { DirectGrant } from "../clients/permissionsAcl";

/** The operator's decisions, from the plan: a source principal or node type -> the target's. */
export interface Remaps {
  principalMap?: Record<string, string>;
  nodeTypeMap?: Record<string, string>;
  /** Workspace path (or Git URL) prefixes: source prefix -> target prefix. */
  pathMap?: Record<string, string>;
}

/** What the target offers and knows, read once per move and shared by its items. */
export interface TargetFacts {
  /** Node types the target offers; undefined when it does not say (then nothing is checked). */
  nodeTypes?: Set<string>;
  principalExists(kind: DirectGrant["kind"], name: string): Promise<boolean>;
  /** Target ids of cluster policies and instance pools, and of jobs, by name (as they are now). */
  ids(kind: ComputeKind | "job"): Promise<Map<string, string[]>>;
  /** Forgets what was read of a kind (after the move made some). */
  forget(kind: ComputeKind | "job"): void;
}

export type ComputeKind = "cluster-policy" | "instance-pool";

interface KindSpec {
  label: string;
  list: string;
  listKey: string;
  id: string;
  name: string;
  create: string;
  edit: string;
  permissions: string;
  /** The fields create and edit take, compared between the two sides. */
  fields: string[];
}

export const KINDS: Record<ComputeKind, KindSpec> = {
  "cluster-policy": {
    label: "cluster policy",
    list: "/api/2.0/policies/clusters/list",
    listKey: "policies",
    id: "policy_id",
    name: "name",
    create: "/api/2.0/policies/clusters/create",
    edit: "/api/2.0/policies/clusters/edit",
    permissions: "cluster-policies",
    fields: [
      "name",
      "definition",
      "description",
      "max_clusters_per_user",
      "policy_family_id",
      "policy_family_definition_overrides",
      "libraries",
    ],
  },
  "instance-pool": {
    label: "instance pool",
    list: "/api/2.0/instance-pools/list",
    listKey: "instance_pools",
    id: "instance_pool_id",
    name: "instance_pool_name",
    create: "/api/2.0/instance-pools/create",
    edit: "/api/2.0/instance-pools/edit",
    permissions: "instance-pools",
    fields: [
      "instance_pool_name",
      "node_type_id",
      "min_idle_instances",
      "max_capacity",
      "idle_instance_autotermination_minutes",
      "enable_elastic_disk",
      "disk_spec",
      "preloaded_spark_versions",
      "preloaded_docker_images",
      "custom_tags",
      "aws_attributes",
      "azure_attributes",
      "gcp_attributes",
    ],
  },
};

/** What an edit may change (Instance Pools API: the name, sizes and tags; not the node type). */
const POOL_EDITABLE: string[] = [
  "instance_pool_name",
  "min_idle_instances",
  "max_capacity",
  "idle_instance_autotermination_minutes",
  "custom_tags",
];

export interface ComputeInventory {
  kind: ComputeKind;
  id: string;
  name: string;
  /** The fields create takes, as the source holds them. */
  settings: Record<string, unknown>;
  acl: DirectGrant[];
}

/** What the move did with one workspace object found by name (a policy, a pool, a job). */
export interface ObjectMoveReport {
  name: string;
  outcome: "created" | "updated" | "adopted" | "held";
  targetId?: string;
  /** What the move changed on the way (a mapped node type, a mapped principal). */
  changes: string[];
  /** Why it was held back: what the operator must decide. */
  held: string[];
  acls: number;
}

export interface ComputeReport extends ObjectMoveReport {
  kind: ComputeKind;
}

const pick = (o: Record<string, unknown>, fields: string[]) =>
  Object.fromEntries(fields.filter((f) => o[f] !== undefined && o[f] !== null).map((f) => [f, o[f]]));

/** Compares JSON values ignoring key order. */
export const sameJson = (a: unknown, b: unknown) => canonical(a) === canonical(b);
export function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(",")}]`;
  if (x && typeof x === "object")
    return `{${Object.keys(x)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((x as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(x);
}

async function listAll(api: DatabricksApi, kind: ComputeKind): Promise<Record<string, unknown>[]> {
  const k = KINDS[kind];
  const got = await api.call<Record<string, unknown>>("GET", k.list, `${k.label} list`);
  return (got[k.listKey] as Record<string, unknown>[] | undefined) ?? [];
}

/** The source's cluster policies or instance pools (the named ones, all when none is named), with their ACLs. */
export async function computeInventory(
  ep: Endpoint,
  kind: ComputeKind,
  names?: string[],
  retry?: RetryPolicy,
): Promise<ComputeInventory[]> {
  const api = databricksApi(ep, retry);
  const k = KINDS[kind];
  const out: ComputeInventory[] = [];
  for (const o of await listAll(api, kind)) {
    const name = String(o[k.name]);
    // Databricks' own default policies (Personal Compute, ...) are in every workspace: not the team's to move.
    if ((names && !names.includes(name)) || (!names && o.is_default === true)) continue;
    const id = String(o[k.id]);
    out.push({ kind, id, name, settings: pick(o, k.fields), acl: await api.acl(k.permissions, id, `${k.label} '${name}'`) });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Whether a failure is the workspace having no such API (an MLflow server, an older test workspace). */
export const noComputeApi = (e: unknown) => hasStatus(e, 404) || hasStatus(e, 501);

/** The facts of a target, read lazily and cached for one move. */
export function targetFacts(ep: Endpoint, retry?: RetryPolicy): TargetFacts & { load(): Promise<void> } {
  const api = databricksApi(ep, retry);
  const principals = new Map<string, Promise<boolean>>();
  const byName = new Map<string, Promise<Map<string, string[]>>>();
  const facts = {
    nodeTypes: undefined as Set<string> | undefined,
    async load() {
      const got = await api
        .call<{ node_types?: { node_type_id: string }[] }>("GET", "/api/2.1/clusters/list-node-types", "node types")
        .catch((e) => {
          if (noComputeApi(e)) return undefined;
          throw e;
        });
      facts.nodeTypes = got ? new Set((got.node_types ?? []).map((n) => n.node_type_id)) : undefined;
    },
    principalExists(kind: DirectGrant["kind"], name: string) {
      const key = `${kind}:${name}`;
      if (!principals.has(key)) principals.set(key, api.principalExists(kind, name));
      return principals.get(key)!;
    },
    ids(kind: ComputeKind | "job") {
      if (!byName.has(kind)) byName.set(kind, kind === "job" ? jobIdsByName(api) : computeIdsByName(api, kind));
      return byName.get(kind)!;
    },
    forget(kind: ComputeKind | "job") {
      byName.delete(kind);
    },
  };
  return facts;
}

async function computeIdsByName(api: DatabricksApi, kind: ComputeKind) {
  const k = KINDS[kind];
  const out = new Map<string, string[]>();
  for (const o of await listAll(api, kind)) out.set(String(o[k.name]), [...(out.get(String(o[k.name])) ?? []), String(o[k.id])]);
  return out;
}

async function jobIdsByName(api: DatabricksApi) {
  const out = new Map<string, string[]>();
  let token: string | undefined;
  do {
    const page = await api.call<{ jobs?: { job_id: number; settings?: { name?: string } }[]; next_page_token?: string }>(
      "GET",
      `/api/2.2/jobs/list?limit=100${token ? `&page_token=${encodeURIComponent(token)}` : ""}`,
      "job list",
    );
    for (const j of page.jobs ?? []) {
      const name = j.settings?.name ?? "Untitled";
      out.set(name, [...(out.get(name) ?? []), String(j.job_id)]);
    }
    token = page.next_page_token;
  } while (token);
  return out;
}

/**
 * The source's ACL as the target will hold it: each principal through the plan's principalMap, and every principal
 * the target does not know named (held: an entry is never dropped silently).
 */
export async function mapAcl(
  acl: DirectGrant[],
  facts: Pick<TargetFacts, "principalExists">,
  remaps: Remaps,
  what: string,
): Promise<{ acl: DirectGrant[]; changes: string[]; held: string[] }> {
  const changes: string[] = [];
  const held: string[] = [];
  const out: DirectGrant[] = [];
  for (const g of acl) {
    const to = remaps.principalMap?.[g.principal] ?? g.principal;
    if (to !== g.principal) changes.push(`${what}: ${g.level} of ${g.principal} given to ${to} (principalMap)`);
    if (!(await facts.principalExists(g.kind, to)))
      held.push(
        `${what}: ${g.kind === "servicePrincipal" ? "service principal" : g.kind} ${to} (${g.level}) does not exist in the target: create it, or map it in the plan's principalMap`,
      );
    out.push({ ...g, principal: to });
  }
  return { acl: out, changes, held };
}

/** A node type through the plan's nodeTypeMap, held when the target does not offer it. */
export function mapNodeType(
  nodeType: string,
  facts: Pick<TargetFacts, "nodeTypes">,
  remaps: Remaps,
  what: string,
): { nodeType: string; change?: string; held?: string } {
  const to = remaps.nodeTypeMap?.[nodeType] ?? nodeType;
  const change = to !== nodeType ? `${what}: node type ${nodeType} -> ${to} (nodeTypeMap)` : undefined;
  if (facts.nodeTypes && !facts.nodeTypes.has(to))
    return {
      nodeType: to,
      ...(change ? { change } : {}),
      held: `${what}: node type ${to} is not offered by the target (it offers ${[...facts.nodeTypes].sort().slice(0, 8).join(", ")}${facts.nodeTypes.size > 8 ? ", ..." : ""}): map it in the plan's nodeTypeMap`,
    };
  return { nodeType: to, ...(change ? { change } : {}) };
}

/** The settings and ACL a policy or pool gets in the target, and what holds it back. Reads the target's facts only. */
export async function remapCompute(src: ComputeInventory, facts: TargetFacts, remaps: Remaps) {
  const what = `${KINDS[src.kind].label} '${src.name}'`;
  const settings = { ...src.settings };
  const changes: string[] = [];
  const held: string[] = [];
  if (src.kind === "instance-pool" && typeof settings.node_type_id === "string") {
    const n = mapNodeType(settings.node_type_id, facts, remaps, what);
    settings.node_type_id = n.nodeType;
    if (n.change) changes.push(n.change);
    if (n.held) held.push(n.held);
  }
  // A policy of a family carries the family's definition: create takes the overrides, not both.
  if (src.kind === "cluster-policy" && settings.policy_family_id !== undefined) delete settings.definition;
  const acl = await mapAcl(src.acl, facts, remaps, what);
  return { settings, acl: acl.acl, changes: [...changes, ...acl.changes], held: [...held, ...acl.held] };
}

/**
 * Moves one cluster policy or instance pool: held when the operator must decide something; otherwise created
 * (or found by name and edited where it differs) and given the source's ACL. `dryRun`: decides, writes nothing.
 */
export async function moveCompute(o: {
  to: Endpoint;
  src: ComputeInventory;
  facts: TargetFacts;
  remaps: Remaps;
  dryRun?: boolean;
  retry?: RetryPolicy;
}): Promise<ComputeReport> {
  const k = KINDS[o.src.kind];
  const api = databricksApi(o.to, o.retry);
  const r = await remapCompute(o.src, o.facts, o.remaps);
  const report: ComputeReport = { kind: o.src.kind, name: o.src.name, outcome: "adopted", changes: r.changes, held: r.held, acls: 0 };
  if (r.held.length) return { ...report, outcome: "held" };
  const ids = (await o.facts.ids(o.src.kind)).get(o.src.name) ?? [];
  if (ids.length > 1)
    return {
      ...report,
      outcome: "held",
      held: [`the target has ${ids.length} ${k.label}s named '${o.src.name}' (${ids.join(", ")}): keep one`],
    };
  if (o.dryRun) return { ...report, outcome: ids.length ? "adopted" : "created" };
  let id = ids[0];
  if (id === undefined) {
    const lookup = async () => {
      o.facts.forget(o.src.kind);
      return (await o.facts.ids(o.src.kind)).get(o.src.name)?.[0];
    };
    id = await createOnce(
      o.retry ?? DEFAULT_RETRY,
      async () => String((await api.once<Record<string, unknown>>("POST", k.create, `${k.label} '${o.src.name}'`, r.settings))[k.id]),
      lookup,
    );
    o.facts.forget(o.src.kind);
    report.outcome = "created";
  } else {
    const there = (await listAll(api, o.src.kind)).find((x) => String(x[k.id]) === id) ?? {};
    // A policy of a family reads back with the definition the family makes: its overrides are what is compared.
    const editable = (o.src.kind === "instance-pool" ? POOL_EDITABLE : k.fields).filter(
      (f) => !(f === "definition" && r.settings.policy_family_id !== undefined),
    );
    const want = pick(r.settings, editable);
    if (!sameJson(want, pick(there, editable))) {
      // A pool's edit takes its node type too, which must stay the one it has.
      const fixed = o.src.kind === "instance-pool" ? { node_type_id: there.node_type_id } : {};
      await api.call("POST", k.edit, `${k.label} '${o.src.name}'`, { ...want, ...fixed, [k.id]: id });
      report.outcome = "updated";
    }
    // What an edit cannot change (a pool's node type, disks, attributes) is said, not silently left.
    if (o.src.kind === "instance-pool")
      for (const f of k.fields.filter((x) => !POOL_EDITABLE.includes(x)))
        if (r.settings[f] !== undefined && !sameJson(r.settings[f], there[f]))
          report.changes.push(
            `${k.label} '${o.src.name}': ${f} differs in the target and cannot be edited: recreate the pool to change it`,
          );
  }
  report.targetId = id;
  const sorted = (acl: DirectGrant[]) =>
    canonical([...acl].sort((a, b) => `${a.kind}${a.principal}${a.level}`.localeCompare(`${b.kind}${b.principal}${b.level}`)));
  if (report.outcome === "created" || sorted(await api.acl(k.permissions, id, `${k.label} '${o.src.name}'`)) !== sorted(r.acl)) {
    await api.setAcl(k.permissions, id, `${k.label} '${o.src.name}'`, r.acl);
    if (report.outcome === "adopted") report.outcome = "updated";
  }
  report.acls = r.acl.length;
  return report;
}

/** Each source policy or pool against the target's of the same name: settings (mapped) and ACL. */
export function compareCompute(
  source: ComputeInventory[],
  target: ComputeInventory[],
  remaps: Remaps,
): { subject: string; detail: string }[] {
  const out: { subject: string; detail: string }[] = [];
  for (const s of source) {
    const subject = `${KINDS[s.kind].label} '${s.name}'`;
    const differs = (what: string) => out.push({ subject, detail: `${subject}${what}` });
    const t = target.find((x) => x.kind === s.kind && x.name === s.name);
    if (!t) {
      differs(" is missing");
      continue;
    }
    const want = { ...s.settings };
    if (typeof want.node_type_id === "string") want.node_type_id = remaps.nodeTypeMap?.[want.node_type_id] ?? want.node_type_id;
    for (const f of KINDS[s.kind].fields)
      if (want[f] !== undefined && !sameJson(want[f], t.settings[f]))
        differs(`: ${f} is ${JSON.stringify(t.settings[f] ?? null)}, the source's ${JSON.stringify(want[f])}`);
    out.push(...compareAcl(s.acl, t.acl, remaps, subject));
  }
  return out;
}

/** A source ACL (principals mapped) against a target's. */
export function compareAcl(src: DirectGrant[], dst: DirectGrant[], remaps: Remaps, subject: string): { subject: string; detail: string }[] {
  const key = (g: DirectGrant) => `${g.kind}:${g.principal}`;
  const want = new Map(src.map((g) => [key({ ...g, principal: remaps.principalMap?.[g.principal] ?? g.principal }), g.level]));
  const have = new Map(dst.map((g) => [key(g), g.level]));
  const out: { subject: string; detail: string }[] = [];
  for (const [p, level] of want)
    if (have.get(p) !== level)
      out.push({ subject, detail: `${subject}: ${p.split(":")[1]} has ${have.get(p) ?? "no permission"}, the source's ${level}` });
  for (const [p, level] of have)
    if (!want.has(p)) out.push({ subject, detail: `${subject}: ${p.split(":")[1]} has ${level} in the target only` });
  return out;
}
