/**
 * Model serving endpoints move after the models (Serving Endpoints API, Permissions API `serving-endpoints`): each
 * endpoint's served entities, pointing at the moved model versions, its traffic split, scaling, tags and ACL, its AI
 * gateway (rate limits, usage tracking, inference tables, guardrails, fallbacks), description and route optimization.
 *
 * The move may renumber versions (`versionMap` gives the target's number), so a served entity named by Databricks'
 * default (`<entity_name>-<entity_version>`) is renamed after its target version, and the traffic routes with it; a
 * name given by the team is kept. Every target version must exist in the target's registry before anything is
 * written: otherwise the endpoint fails, naming the entity and version, and nothing is created or changed.
 *
 * An endpoint is found in the target by name: created there, or adopted and its config and tags made the source's
 * where they differ (a second move writes nothing); its AI gateway is put where it differs (`PUT .../ai-gateway`).
 * Description and route optimization are set when the endpoint is created (Databricks offers no update of either): an
 * adopted endpoint that differs in them is named by verification, not recreated. ACL entries are given as for secret scopes: the source's
 * direct entries, the creator's own CAN_MANAGE (which Databricks gives) removed from an endpoint the move created
 * unless the source has it, and entries only the target has kept (verification names them).
 *
 * A written config is pending until Databricks has deployed it: the configuration read back is the last one
 * written (`pending_config`, else `config`), and a config is updated only once the endpoint is not updating, as
 * Databricks refuses an update while another is in progress.
 *
 * Principals (ACL entries, and the principals of per-user, per-group and per-service-principal rate limits) go
 * through the plan's principalMap; one the target does not know holds the endpoint, with nothing of it written.
 */
import { DEFAULT_RETRY, hasStatus, jsonRequest, orUndefined, RetryPolicy, sleep, withRetry } from "../clients/http";
import { Endpoint, mlflowClient, tagMap } from "../clients/mlflow";
import { TAG } from "./provenance";
import { AclJson, DirectGrant, directGrants } from "../clients/permissionsAcl";
import { mapAcl, targetFacts } from "./compute";
import type { PrincipalExists } from "./secrets";

/** A served entity as the API has it (the fields the move carries). */
export interface ServedEntity {
  name: string;
  entity_name: string;
  entity_version: string;
  workload_size?: string;
  workload_type?: string;
  scale_to_zero_enabled?: boolean;
  min_provisioned_throughput?: number;
  max_provisioned_throughput?: number;
  environment_vars?: Record<string, string>;
}

export interface ServingEndpointInventory {
  name: string;
  /** The endpoint's Permissions API id (each workspace has its own). */
  id: string;
  /** The last config written: the pending one while an update is in progress (`updating`), else the active one. */
  entities: ServedEntity[];
  /** Served entity name -> its percentage of the traffic. */
  traffic: Record<string, number>;
  /** key -> value ("" for a tag without a value). */
  tags: Record<string, string>;
  /** Direct entries only (inherited ones, the admins' among them, are the workspace's own). */
  acls: DirectGrant[];
  updating: boolean;
  /** The AI gateway's settings as the API gives them ({} without one). */
  gateway: AiGateway;
  routeOptimized: boolean;
  /** "" without one. */
  description: string;
  /** Who created it: Databricks gives the creator CAN_MANAGE. */
  creator?: string;
}

/** An endpoint's AI gateway (AiGatewayConfig): rate_limits, usage_tracking_config, inference_table_config, guardrails, fallback_config. */
export type AiGateway = Record<string, unknown>;

/** A model version the source serves and the target's number for it. */
export interface ServedVersion {
  entity: string;
  sourceVersion: string;
  targetVersion: string;
}

export interface ServingEndpointReport {
  endpoint: string;
  /** held: a principal the target lacks (`held` says which); planned: a dry run found nothing to hold it. */
  outcome: "created" | "updated" | "adopted" | "failed" | "held" | "planned";
  entities: ServedVersion[];
  /** Source ACL entries given in this move (0 when the target had them all). */
  acls: number;
  /** Principals mapped on the way (principalMap); what holds the endpoint. */
  changes: string[];
  held: string[];
  problem?: string;
}

/** The target's number of a moved model version, when the move renumbered it; undefined: the same number. */
export type VersionMap = (model: string, version: string) => string | undefined;

/** How long a move waits for a target endpoint's config update in progress to end before changing its config. */
export interface SettleWait {
  timeoutMs: number;
  pollMs: number;
}
/** The Databricks SDK's own wait for an endpoint's update (wait_get_serving_endpoint_not_updating): 20 minutes. */
export const DEFAULT_SETTLE_WAIT: SettleWait = { timeoutMs: 20 * 60 * 1000, pollMs: 10 * 1000 };

interface EndpointJson {
  id: string;
  name: string;
  creator?: string;
  state?: { ready?: string; config_update?: string };
  config?: ConfigJson;
  pending_config?: ConfigJson;
  tags?: { key: string; value?: string }[];
  ai_gateway?: AiGateway;
  route_optimized?: boolean;
  description?: string;
}
interface ConfigJson {
  served_entities?: (ServedEntity & Record<string, unknown>)[];
  traffic_config?: { routes?: { served_entity_name?: string; served_model_name?: string; traffic_percentage: number }[] };
}
interface ConfigInput {
  served_entities: ServedEntity[];
  traffic_config: { routes: { served_entity_name: string; traffic_percentage: number }[] };
}

const SERVED_FIELDS = [
  "name",
  "entity_name",
  "entity_version",
  "workload_size",
  "workload_type",
  "scale_to_zero_enabled",
  "min_provisioned_throughput",
  "max_provisioned_throughput",
  "environment_vars",
] as const;
const PRINCIPAL_FIELD: Record<DirectGrant["kind"], string> = {
  user: "user_name",
  group: "group_name",
  servicePrincipal: "service_principal_name",
};

/** Databricks' name for a served entity given none: `<entity_name>-<entity_version>`, dots (a Unity Catalog name's) made dashes. */
export const defaultServedEntityName = (entityName: string, version: string) => `${entityName}-${version}`.replace(/\./g, "-");

/** The Serving Endpoints API and the endpoints' permissions in one workspace, and its registry's versions. */
export function servingClient(ep: Endpoint, retry: RetryPolicy = DEFAULT_RETRY) {
  const headers: Record<string, string> = ep.token ? { Authorization: `Bearer ${ep.token}` } : {};
  const call = <T>(method: string, path: string, what: string, body?: unknown) =>
    withRetry(retry, () => jsonRequest<T>(method, `${ep.baseUrl}/api/2.0/${path}`, headers, body, `${ep.uri}: ${what}`));
  const at = (name: string) => `serving-endpoints/${encodeURIComponent(name)}`;
  const what = (name: string) => `serving endpoint '${name}'`;
  return {
    names: async () =>
      ((await call<{ endpoints?: { name: string }[] }>("GET", "serving-endpoints", "serving endpoints")).endpoints ?? []).map(
        (e) => e.name,
      ),
    get: (name: string) => orUndefined(call<EndpointJson>("GET", at(name), what(name))),
    create: (name: string, config: ConfigInput, tags: Record<string, string>, settings: CreateSettings) =>
      call<EndpointJson>("POST", "serving-endpoints", what(name), { name, config, tags: tagList(tags), ...settings }),
    updateConfig: (name: string, config: ConfigInput) => call<EndpointJson>("PUT", `${at(name)}/config`, `config of ${what(name)}`, config),
    putGateway: (name: string, gateway: AiGateway) =>
      call<AiGateway>("PUT", `${at(name)}/ai-gateway`, `AI gateway of ${what(name)}`, gateway),
    patchTags: (name: string, add: Record<string, string>, remove: string[]) =>
      call("PATCH", `${at(name)}/tags`, `tags of ${what(name)}`, { add_tags: tagList(add), delete_tags: remove }),
    acl: async (id: string, name: string) =>
      directGrants(await call<AclJson>("GET", `permissions/serving-endpoints/${encodeURIComponent(id)}`, `permissions of ${what(name)}`)),
    setAcl: (id: string, name: string, acl: DirectGrant[]) =>
      call("PUT", `permissions/serving-endpoints/${encodeURIComponent(id)}`, `permissions of ${what(name)}`, {
        access_control_list: acl.map((g) => ({ [PRINCIPAL_FIELD[g.kind]]: g.principal, permission_level: g.level })),
      }),
    /** A registered model's version status (READY once usable), from Unity Catalog's registry for a three-part name; undefined: none. */
    versionStatus: async (model: string, version: string) => {
      const uc = model.split(".").length === 3 ? "unity-catalog/" : "";
      const q = `name=${encodeURIComponent(model)}&version=${encodeURIComponent(version)}`;
      const r = await orUndefined(
        call<{ model_version?: { status?: string } }>(
          "GET",
          `mlflow/${uc}model-versions/get?${q}`,
          `version ${version} of model '${model}'`,
        ),
      );
      return r && (r.model_version?.status ?? "READY");
    },
  };
}
type ServingClient = ReturnType<typeof servingClient>;

/** What only the creation of an endpoint sets, and its AI gateway, as the create call takes them (each only when set). */
interface CreateSettings {
  ai_gateway?: AiGateway;
  route_optimized?: boolean;
  description?: string;
}
const createSettings = (e: Pick<ServingEndpointInventory, "gateway" | "routeOptimized" | "description">): CreateSettings => ({
  ...(Object.keys(e.gateway).length ? { ai_gateway: e.gateway } : {}),
  ...(e.routeOptimized ? { route_optimized: true } : {}),
  ...(e.description ? { description: e.description } : {}),
});

const tagList = (tags: Record<string, string>) => Object.entries(tags).map(([key, value]) => (value === "" ? { key } : { key, value }));

/** An endpoint as the inventory holds it, from the API's answer and its ACL. */
function inventoryOf(e: EndpointJson, acls: DirectGrant[]): ServingEndpointInventory {
  const config = e.pending_config ?? e.config ?? {};
  const entities = (config.served_entities ?? []).map(
    (s) => Object.fromEntries(SERVED_FIELDS.filter((f) => s[f] !== undefined).map((f) => [f, s[f]])) as unknown as ServedEntity,
  );
  const traffic: Record<string, number> = {};
  for (const r of config.traffic_config?.routes ?? []) traffic[r.served_entity_name ?? r.served_model_name ?? ""] = r.traffic_percentage;
  return {
    name: e.name,
    id: e.id,
    entities,
    traffic,
    tags: Object.fromEntries((e.tags ?? []).map((t) => [t.key, t.value ?? ""])),
    acls,
    updating: e.state?.config_update === "IN_PROGRESS",
    gateway: e.ai_gateway ?? {},
    routeOptimized: e.route_optimized === true,
    description: e.description ?? "",
    ...(e.creator ? { creator: e.creator } : {}),
  };
}

/** What the workspace holds of the named endpoints (all it shows the caller when none is named): config, tags, direct ACL. */
export async function servingEndpointInventory(ep: Endpoint, names?: string[], retry?: RetryPolicy): Promise<ServingEndpointInventory[]> {
  const c = servingClient(ep, retry);
  const all = await c.names();
  const out: ServingEndpointInventory[] = [];
  for (const name of (names ?? all).filter((n) => all.includes(n)).sort()) {
    const e = await c.get(name);
    if (e) out.push(inventoryOf(e, await c.acl(e.id, name)));
  }
  return out;
}

/**
 * The source's served entities pointing at the target's versions, their names and the traffic following them: a
 * served entity with Databricks' default name takes the default name of its target version; any other keeps its name.
 */
export function mapServedEntities(
  source: Pick<ServingEndpointInventory, "entities" | "traffic">,
  versionMap?: VersionMap,
): { entities: ServedEntity[]; traffic: Record<string, number>; versions: ServedVersion[] } {
  const renamed = new Map<string, string>();
  const versions: ServedVersion[] = [];
  const entities = source.entities.map((s) => {
    const targetVersion = versionMap?.(s.entity_name, s.entity_version) ?? s.entity_version;
    const name =
      s.name === defaultServedEntityName(s.entity_name, s.entity_version) ? defaultServedEntityName(s.entity_name, targetVersion) : s.name;
    renamed.set(s.name, name);
    versions.push({ entity: s.entity_name, sourceVersion: s.entity_version, targetVersion });
    return { ...s, name, entity_version: targetVersion };
  });
  const traffic = Object.fromEntries(Object.entries(source.traffic).map(([n, pct]) => [renamed.get(n) ?? n, pct]));
  return { entities, traffic, versions };
}

/**
 * Moves one endpoint: resolve the source -> map its entities to the target's versions -> guard (every target version
 * exists there) -> create or update the target's config and tags -> give the ACL.
 */
export async function moveServingEndpoint(o: {
  from: Endpoint;
  to: Endpoint;
  name: string;
  versionMap?: VersionMap;
  retry?: RetryPolicy;
  wait?: SettleWait;
  /** Default: the target's SCIM (targetFacts). */
  principalExists?: PrincipalExists;
  principalMap?: Record<string, string>;
  dryRun?: boolean;
}): Promise<ServingEndpointReport> {
  const src = servingClient(o.from, o.retry);
  const dst = servingClient(o.to, o.retry);
  const subject = `serving endpoint '${o.name}'`;
  const report: ServingEndpointReport = { endpoint: o.name, outcome: "failed", entities: [], acls: 0, changes: [], held: [] };
  const found = await src.get(o.name);
  if (!found) return { ...report, problem: `${subject} does not exist in ${o.from.uri}` };
  const unmapped = inventoryOf(found, await src.acl(found.id, o.name));
  const planned = mapServedEntities(unmapped, o.versionMap);
  report.entities = planned.versions;
  // A dry run moves no model version first: what the endpoint will serve is checked when it moves.
  const missing = o.dryRun ? [] : await missingVersions(dst, planned.versions);
  if (missing.length) return { ...report, problem: `${subject}: ${missing.join("; ")}; nothing of it was written to ${o.to.uri}` };
  const exists = o.principalExists ?? targetFacts(o.to, o.retry).principalExists;
  const principals = await mapPrincipals(unmapped, exists, o.principalMap ?? {}, subject);
  Object.assign(report, { changes: principals.changes, held: principals.held });
  if (principals.held.length) return { ...report, outcome: "held" };
  if (o.dryRun) return { ...report, outcome: "planned" };
  const source = principals.endpoint;
  const config: ConfigInput = {
    served_entities: planned.entities,
    traffic_config: {
      routes: Object.entries(planned.traffic).map(([n, pct]) => ({ served_entity_name: n, traffic_percentage: pct })),
    },
  };
  const written = await writeEndpoint(dst, o.name, config, source, o.wait ?? DEFAULT_SETTLE_WAIT);
  if ("problem" in written) return { ...report, problem: `${subject}: ${written.problem}` };
  const given = await giveAcl(dst, written.endpoint, source.acls, written.created);
  const changed = written.changed || given > 0;
  return { ...report, outcome: written.created ? "created" : changed ? "updated" : "adopted", acls: given };
}

const RATE_LIMIT_KINDS: Record<string, DirectGrant["kind"]> = { user: "user", user_group: "group", service_principal: "servicePrincipal" };

/**
 * The endpoint's principals as the target will hold them: its ACL entries and the principals its AI gateway's rate
 * limits name, each through the principalMap, and each the target does not know named (it holds the endpoint).
 */
async function mapPrincipals(
  e: ServingEndpointInventory,
  exists: PrincipalExists,
  principalMap: Record<string, string>,
  what: string,
): Promise<{ endpoint: ServingEndpointInventory; changes: string[]; held: string[] }> {
  const acl = await mapAcl(e.acls, { principalExists: exists }, { principalMap }, what);
  const changes = [...acl.changes];
  const held = [...acl.held];
  let gateway = e.gateway;
  if (Array.isArray(e.gateway.rate_limits)) {
    const limits: Record<string, unknown>[] = [];
    for (const r of e.gateway.rate_limits as Record<string, unknown>[]) {
      const kind = RATE_LIMIT_KINDS[String(r.key)];
      if (kind === undefined || typeof r.principal !== "string") {
        limits.push(r);
        continue;
      }
      const to = principalMap[r.principal] ?? r.principal;
      if (to !== r.principal) changes.push(`${what}: the rate limit of ${r.principal} given to ${to} (principalMap)`);
      if (!(await exists(kind, to)))
        held.push(
          `${what}: the rate limit's ${kind === "servicePrincipal" ? "service principal" : kind} ${to} does not exist in the target: create it, or map it in the plan's principalMap`,
        );
      limits.push({ ...r, principal: to });
    }
    gateway = { ...e.gateway, rate_limits: limits };
  }
  return { endpoint: { ...e, acls: acl.acl, gateway }, changes, held };
}

/** Each target version the target's registry lacks (or holds but not READY), in words naming entity and versions. */
async function missingVersions(dst: ServingClient, versions: ServedVersion[]): Promise<string[]> {
  const out: string[] = [];
  for (const v of versions) {
    const status = await dst.versionStatus(v.entity, v.targetVersion);
    const was = v.targetVersion === v.sourceVersion ? "" : ` (the source's version ${v.sourceVersion})`;
    if (status === undefined)
      out.push(
        `served entity '${v.entity}' version ${v.targetVersion}${was} does not exist in the target: move that model version first, or give its target number in the version map`,
      );
    else if (status !== "READY")
      out.push(`served entity '${v.entity}' version ${v.targetVersion}${was} is ${status} in the target, not READY`);
  }
  return out;
}

/** Creates the endpoint, or brings an existing one's config and tags to the source's; a refused write is a problem, not a throw. */
async function writeEndpoint(
  dst: ServingClient,
  name: string,
  config: ConfigInput,
  source: ServingEndpointInventory,
  wait: SettleWait,
): Promise<{ endpoint: EndpointJson; created: boolean; changed: boolean } | { problem: string }> {
  const tags = source.tags;
  let endpoint = await dst.get(name);
  if (!endpoint) {
    try {
      return { endpoint: await dst.create(name, config, tags, createSettings(source)), created: true, changed: true };
    } catch (e) {
      const taken = hasStatus(e, 400) && (e as { code?: string }).code === "RESOURCE_ALREADY_EXISTS";
      if (!taken) return refusal(e);
      // Absent when looked for, there at the create: an attempt the target applied and whose answer was lost.
      endpoint = (await dst.get(name))!;
      if (sameConfig(inventoryOf(endpoint, []), config)) return { endpoint, created: true, changed: true };
    }
  }
  let changed = false;
  if (!sameConfig(inventoryOf(endpoint, []), config)) {
    if (endpoint.state?.config_update === "IN_PROGRESS") {
      const settled = await settle(dst, name, wait);
      if (!settled)
        return {
          problem: `it is still being updated in the target after ${Math.round(wait.timeoutMs / 1000)} s: move it again once its update is done`,
        };
      endpoint = settled;
    }
    if (!sameConfig(inventoryOf(endpoint, []), config)) {
      try {
        endpoint = await dst.updateConfig(name, config);
      } catch (e) {
        return refusal(e);
      }
      changed = true;
    }
  }
  if (canonicalJson(endpoint.ai_gateway ?? {}) !== canonicalJson(source.gateway)) {
    try {
      await dst.putGateway(name, source.gateway);
    } catch (e) {
      return refusal(e);
    }
    changed = true;
  }
  const have = inventoryOf(endpoint, []).tags;
  const add = Object.fromEntries(Object.entries(tags).filter(([k, v]) => have[k] !== v));
  const remove = Object.keys(have).filter((k) => !(k in tags));
  if (Object.keys(add).length || remove.length) {
    await dst.patchTags(name, add, remove);
    changed = true;
  }
  return { endpoint, created: false, changed };
}

/** A write the target refused (4xx: nothing was changed) as a problem; anything else is thrown. */
function refusal(e: unknown): { problem: string } {
  const status = (e as { status?: number }).status ?? 0;
  if (status >= 400 && status < 500) return { problem: `the target refused it: ${(e as Error).message}` };
  throw e;
}

/** The endpoint once no config update is in progress, or undefined when that takes longer than the wait allows. */
async function settle(dst: ServingClient, name: string, wait: SettleWait): Promise<EndpointJson | undefined> {
  const until = Date.now() + wait.timeoutMs;
  for (;;) {
    const e = await dst.get(name);
    if (!e) throw new Error(`serving endpoint '${name}' disappeared from the target while its update was awaited`);
    if (e.state?.config_update !== "IN_PROGRESS") return e;
    if (Date.now() >= until) return undefined;
    await sleep(Math.min(wait.pollMs, Math.max(0, until - Date.now())));
  }
}

/**
 * Gives the source's direct entries: on an endpoint the move created, exactly those (the creator's own CAN_MANAGE
 * goes unless the source has it); on an adopted one, those over the target's own. Returns the entries given (0: none
 * was needed).
 */
async function giveAcl(dst: ServingClient, endpoint: EndpointJson, source: DirectGrant[], created: boolean): Promise<number> {
  const current = await dst.acl(endpoint.id, endpoint.name);
  const key = (g: DirectGrant) => `${g.kind}:${g.principal.toLowerCase()}`;
  const inSource = new Set(source.map(key));
  const want = created ? source : [...current.filter((g) => !inSource.has(key(g))), ...source];
  const canon = (acl: DirectGrant[]) =>
    acl
      .map((g) => `${key(g)}=${g.level}`)
      .sort()
      .join("\n");
  if (canon(want) === canon(current)) return 0;
  await dst.setAcl(endpoint.id, endpoint.name, want);
  return source.length;
}

/** Whether an endpoint's (last written) config is the one wanted: the same served entities and traffic. */
function sameConfig(have: ServingEndpointInventory, want: ConfigInput): boolean {
  const entities = (list: ServedEntity[]) => list.map(canonicalEntity).sort().join("\n");
  const traffic = Object.fromEntries(want.traffic_config.routes.map((r) => [r.served_entity_name, r.traffic_percentage]));
  return entities(have.entities) === entities(want.served_entities) && sameRecord(have.traffic, traffic);
}

/** A served entity's fields in one order, with Databricks' defaults filled in (CPU, no scale to zero). */
function canonicalEntity(s: ServedEntity): string {
  const env = s.environment_vars && Object.keys(s.environment_vars).length ? sortedRecord(s.environment_vars) : undefined;
  return JSON.stringify([
    s.name,
    s.entity_name,
    s.entity_version,
    s.workload_size ?? null,
    s.workload_type ?? "CPU",
    s.scale_to_zero_enabled === true,
    s.min_provisioned_throughput ?? null,
    s.max_provisioned_throughput ?? null,
    env ?? null,
  ]);
}

/** JSON with every object's keys sorted: two settings objects compare equal whatever order their fields came in. */
function canonicalJson(v: unknown): string {
  const sort = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sort)
      : x !== null && typeof x === "object"
        ? Object.fromEntries(
            Object.entries(x as Record<string, unknown>)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, y]) => [k, sort(y)]),
          )
        : x;
  return JSON.stringify(sort(v));
}

const sortedRecord = <T>(r: Record<string, T>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
const sameRecord = <T>(a: Record<string, T>, b: Record<string, T>) => JSON.stringify(sortedRecord(a)) === JSON.stringify(sortedRecord(b));

/**
 * The differences between each source endpoint and the target's of the same name: served entities matched by model
 * and (mapped) version, their scaling, the traffic, the tags and the direct ACL. Environment variable values are
 * never named (they may reference secrets).
 */
export function compareServingEndpoints(
  source: ServingEndpointInventory[],
  target: ServingEndpointInventory[],
  versionMap?: VersionMap,
  principalMap: Record<string, string> = {},
): { subject: string; detail: string }[] {
  const out: { subject: string; detail: string }[] = [];
  const principalOf = (p: string) => principalMap[p] ?? p;
  for (const unmapped of source) {
    const s = {
      ...unmapped,
      acls: unmapped.acls.map((g) => ({ ...g, principal: principalOf(g.principal) })),
      gateway: Array.isArray(unmapped.gateway.rate_limits)
        ? {
            ...unmapped.gateway,
            rate_limits: (unmapped.gateway.rate_limits as Record<string, unknown>[]).map((r) =>
              typeof r.principal === "string" ? { ...r, principal: principalOf(r.principal) } : r,
            ),
          }
        : unmapped.gateway,
    };
    const subject = `serving endpoint '${s.name}'`;
    const differs = (what: string) => out.push({ subject, detail: `${subject}${what}` });
    const t = target.find((x) => x.name === s.name);
    if (!t) {
      differs(" is missing");
      continue;
    }
    const mapped = mapServedEntities(s, versionMap);
    const sameModel = (a: ServedEntity, b: ServedEntity) => a.entity_name === b.entity_name && a.entity_version === b.entity_version;
    for (const [i, want] of mapped.entities.entries()) {
      const was =
        mapped.versions[i].sourceVersion === want.entity_version ? "" : ` (the source's version ${mapped.versions[i].sourceVersion})`;
      const entity = `'${want.entity_name}' version ${want.entity_version}${was}`;
      const have = t.entities.find((x) => sameModel(x, want));
      if (!have) {
        differs(`: serves no ${entity}`);
        continue;
      }
      for (const d of entityDifferences(want, have)) differs(`: ${entity}: ${d}`);
      const [pWant, pHave] = [mapped.traffic[want.name] ?? 0, t.traffic[have.name] ?? 0];
      if (pWant !== pHave) differs(`: ${entity} gets ${pHave}% of the traffic, the source's ${pWant}%`);
    }
    for (const x of t.entities)
      if (!mapped.entities.some((w) => sameModel(w, x)))
        differs(`: serves '${x.entity_name}' version ${x.entity_version}, which the source does not`);
    for (const [k, v] of Object.entries(s.tags))
      if (t.tags[k] !== v) differs(`: tag '${k}' is ${k in t.tags ? `'${t.tags[k]}'` : "missing"}, the source's '${v}'`);
    for (const k of Object.keys(t.tags)) if (!(k in s.tags)) differs(`: tag '${k}' is in the target only`);
    for (const k of [...new Set([...Object.keys(s.gateway), ...Object.keys(t.gateway)])].sort())
      if (canonicalJson(s.gateway[k]) !== canonicalJson(t.gateway[k]))
        differs(
          `: AI gateway ${k} ${!(k in t.gateway) ? "is missing" : !(k in s.gateway) ? "is in the target only" : `is ${canonicalJson(t.gateway[k])}, the source's ${canonicalJson(s.gateway[k])}`}`,
        );
    if (s.routeOptimized !== t.routeOptimized)
      differs(
        `: route_optimized is ${t.routeOptimized}, the source's ${s.routeOptimized} (set at creation only: recreate the endpoint to change it)`,
      );
    if (s.description !== t.description) differs(`: its description differs from the source's (set at creation only)`);
    const level = (acl: DirectGrant[], g: DirectGrant) =>
      acl
        .filter((x) => x.kind === g.kind && x.principal.toLowerCase() === g.principal.toLowerCase())
        .map((x) => x.level)
        .sort()
        .join("+");
    for (const g of s.acls) {
      const has = level(t.acls, g);
      if (has !== level(s.acls, g)) differs(`: ${g.kind} ${g.principal} has ${has || "no permission"}, the source's ${level(s.acls, g)}`);
    }
    // The creator's own CAN_MANAGE, which Databricks gives, is the mover's (as for jobs): not the team's, not a difference.
    const creators = t.creator ? [t.creator.toLowerCase()] : [];
    for (const g of t.acls)
      if (!level(s.acls, g) && !(g.kind === "user" && g.level === "CAN_MANAGE" && creators.includes(g.principal.toLowerCase())))
        differs(`: ${g.kind} ${g.principal} has ${g.level} in the target only`);
  }
  return [...new Map(out.map((d) => [d.detail, d])).values()];
}

/** How a target served entity differs from the wanted one: its name (which the traffic routes use) and scaling. */
function entityDifferences(want: ServedEntity, have: ServedEntity): string[] {
  const out: string[] = [];
  if (want.name !== have.name) out.push(`is served as '${have.name}', the source's mapped name '${want.name}'`);
  const fields: [string, unknown, unknown][] = [
    ["workload_size", want.workload_size, have.workload_size],
    ["workload_type", want.workload_type ?? "CPU", have.workload_type ?? "CPU"],
    ["scale_to_zero_enabled", want.scale_to_zero_enabled === true, have.scale_to_zero_enabled === true],
    ["min_provisioned_throughput", want.min_provisioned_throughput, have.min_provisioned_throughput],
    ["max_provisioned_throughput", want.max_provisioned_throughput, have.max_provisioned_throughput],
  ];
  for (const [f, w, h] of fields) if (w !== h) out.push(`${f} is ${h ?? "unset"}, the source's ${w ?? "unset"}`);
  const [we, he] = [want.environment_vars ?? {}, have.environment_vars ?? {}];
  for (const k of new Set([...Object.keys(we), ...Object.keys(he)]))
    if (we[k] !== he[k])
      out.push(`environment variable ${k} ${!(k in he) ? "is missing" : !(k in we) ? "is in the target only" : "differs"}`);
  return out;
}

/**
 * Where each source version of these models landed in the target, read from the provenance every moved version
 * carries (so it holds for versions an earlier move placed too): what a served entity's version becomes.
 */
export async function movedVersions(from: Endpoint, to: Endpoint, models: string[]): Promise<VersionMap> {
  const dst = mlflowClient(to);
  const placed = new Map<string, string>();
  for (const model of new Set(models))
    for (const v of await dst.listVersions(model).catch(() => [])) {
      const t = tagMap(v.tags);
      if (t[TAG.sourceHost] === from.baseUrl && t[TAG.sourceModel] === model && t[TAG.sourceVersion])
        placed.set(`${model}\u0000${t[TAG.sourceVersion]}`, v.version);
    }
  return (model, version) => placed.get(`${model}\u0000${version}`);
}
