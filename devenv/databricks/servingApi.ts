/**
 * The Serving Endpoints API for tests (https://docs.databricks.com/api/workspace/servingendpoints), for endpoints
 * that serve registered model versions; routes and field names as the Databricks SDK for Python has them
 * (databricks/sdk/service/serving.py):
 * - `POST /api/2.0/serving-endpoints {name, config: {served_entities, traffic_config?, auto_capture_config?}, tags?,
 *   rate_limits?, ai_gateway?, route_optimized?, description?}` -> the endpoint (ServingEndpointDetailed). Any user
 *   may create one, and its creator gets CAN_MANAGE on it. 400 RESOURCE_ALREADY_EXISTS for a taken name;
 *   400 INVALID_PARAMETER_VALUE for a name that is not letters, digits, `-` and `_`;
 * - `GET /api/2.0/serving-endpoints` -> `{endpoints: [...]}` (ServingEndpoint summaries): those the caller may view;
 * - `GET /api/2.0/serving-endpoints/{name}`: CAN_VIEW; `permission_level` is the caller's own;
 * - `PUT /api/2.0/serving-endpoints/{name}/config {served_entities, traffic_config?, auto_capture_config?}`:
 *   CAN_MANAGE; 409 RESOURCE_CONFLICT while an update is in progress (`state.config_update: IN_PROGRESS`);
 * - `PATCH /api/2.0/serving-endpoints/{name}/tags {add_tags: [{key, value?}], delete_tags: [key]}` -> `{tags}`:
 *   CAN_MANAGE;
 * - `PUT /api/2.0/serving-endpoints/{name}/ai-gateway {rate_limits?, usage_tracking_config?, inference_table_config?,
 *   guardrails?, fallback_config?}` -> the gateway as set (PutAiGatewayResponse): CAN_MANAGE; the body replaces the
 *   endpoint's gateway (an empty one removes it). A gateway (here or at creation) is checked field by field: rate
 *   limits each with `renewal_period: minute`, a `key` of endpoint, user, user_group or service_principal (`principal`
 *   only with the last three) and `calls` or `tokens` a whole number >= 0; the configs objects with a boolean
 *   `enabled`; an unknown field is refused;
 * - `DELETE /api/2.0/serving-endpoints/{name}`: CAN_MANAGE.
 * A config is checked as Databricks checks it: each served entity names a registered model (workspace registry by
 * name, Unity Catalog by `catalog.schema.model`) and a version that exists for the caller (`modelVersionExists`,
 * else 404 RESOURCE_DOES_NOT_EXIST); served entity names (default `<entity_name>-<entity_version>`, dots made
 * dashes) are unique letters, digits, `-`, `_`; `workload_size` is Small, Medium or Large, or instead
 * min/max_provisioned_throughput are given (0 <= min <= max); `scale_to_zero_enabled` a boolean; `workload_type` one
 * of the SDK's; traffic routes each name one served entity (`served_entity_name` or `served_model_name`) once, with
 * integer percentages 0-100 summing to 100 (one served entity without routes gets all the traffic).
 * A written config is the endpoint's `pending_config` for `settleMs` (`config_update: IN_PROGRESS`), then its
 * `config` with the next `config_version` (at once when settleMs is 0, the default).
 * Levels: CAN_VIEW < CAN_QUERY < CAN_MANAGE, for the user or a group of theirs (`users`: everyone); admins hold
 * CAN_MANAGE on every endpoint. The direct entries live in `acls` under the Permissions API's key
 * (`/serving-endpoints/<id>`), so a host that shares that map with its Permissions API and serves it
 * `permissionObjects` (localPlatform.ts) serves `/api/2.0/permissions/serving-endpoints/{id}` on the same state.
 * A refusal is 403 PERMISSION_DENIED (400/404/409 for a bad request) and changes nothing.
 *
 * Not served (501): `served_models` (deprecated), external and foundation models, provisioned-throughput (`/pt`)
 * endpoints, queries, logs, metrics, OpenAPI, and the (deprecated) rate-limits and notification updates.
 */
import * as crypto from "crypto";
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";
import { AclEntry, aclKey } from "./controlPlaneState";
import type { ServedObjects } from "./permissionsApi";

export type ServingLevel = "CAN_VIEW" | "CAN_QUERY" | "CAN_MANAGE";
export const SERVING_LEVELS: ServingLevel[] = ["CAN_VIEW", "CAN_QUERY", "CAN_MANAGE"];
const NAME = /^[A-Za-z0-9_-]+$/;
const WORKLOAD_SIZES = ["Small", "Medium", "Large"];
const WORKLOAD_TYPES = ["CPU", "CPU_LARGE", "CPU_MEDIUM", "GPU_SMALL", "GPU_MEDIUM", "GPU_LARGE", "GPU_XLARGE", "MULTIGPU_MEDIUM"];

/** A served entity as the endpoint keeps it (the API's field names). */
export interface ServedEntity {
  name: string;
  entity_name: string;
  entity_version: string;
  workload_size?: string;
  workload_type: string;
  scale_to_zero_enabled: boolean;
  min_provisioned_throughput?: number;
  max_provisioned_throughput?: number;
  environment_vars?: Record<string, string>;
  creator: string;
  creation_timestamp: number;
}

export interface ServingRoute {
  served_entity_name?: string;
  served_model_name?: string;
  traffic_percentage: number;
}

export interface ServingConfig {
  served_entities: ServedEntity[];
  traffic_config: { routes: ServingRoute[] };
  auto_capture_config?: Record<string, unknown>;
}

export interface ServingEndpoint {
  /** 32 hex digits: the endpoint's object id in the Permissions API. */
  id: string;
  name: string;
  creator: string;
  created: number;
  updated: number;
  /** The active config, once the first update is done. */
  config?: ServingConfig;
  configVersion: number;
  /** The last config written, until it becomes active. */
  pending?: { config: ServingConfig; since: number };
  /** key -> value (a tag may have no value). */
  tags: Map<string, string | undefined>;
  /** `ai_gateway`, `route_optimized`, `description` and `rate_limits` as given at creation. */
  extras: Record<string, unknown>;
}

interface Refusal {
  status: number;
  code: string;
  message: string;
}
const refused = (status: number, code: string, message: string): Refusal => ({ status, code, message });
const invalid = (message: string) => refused(400, "INVALID_PARAMETER_VALUE", message);
const isRefusal = (x: unknown): x is Refusal => typeof x === "object" && x !== null && "code" in x && "status" in x;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const RATE_LIMIT_KEYS = ["endpoint", "user", "user_group", "service_principal"];
const GATEWAY_CONFIGS = ["usage_tracking_config", "inference_table_config", "guardrails", "fallback_config"];

/** An AI gateway (AiGatewayConfig) as Databricks checks it, or why it is refused. */
function parseGateway(b: Record<string, unknown>): Record<string, unknown> | Refusal {
  const known = ["rate_limits", ...GATEWAY_CONFIGS];
  const unknown = Object.keys(b).filter((k) => !known.includes(k));
  if (unknown.length) return invalid(`Unknown field(s) in the AI gateway: ${unknown.join(", ")}; it takes ${known.join(", ")}.`);
  const out: Record<string, unknown> = {};
  if (b.rate_limits !== undefined) {
    if (!Array.isArray(b.rate_limits)) return invalid("ai_gateway.rate_limits must be a list.");
    for (const [i, r] of (b.rate_limits as unknown[]).entries()) {
      const at = `ai_gateway.rate_limits[${i}]`;
      if (!isObject(r)) return invalid(`${at} must be an object.`);
      if (r.renewal_period !== "minute") return invalid(`${at}.renewal_period must be 'minute'.`);
      const key = r.key ?? "endpoint";
      if (typeof key !== "string" || !RATE_LIMIT_KEYS.includes(key))
        return invalid(`${at}.key must be one of ${RATE_LIMIT_KEYS.join(", ")}.`);
      if (r.principal !== undefined && (typeof r.principal !== "string" || key === "endpoint"))
        return invalid(`${at}.principal is a name, given only with key user, user_group or service_principal.`);
      const counts = (["calls", "tokens"] as const).filter((f) => r[f] !== undefined);
      if (!counts.length || counts.some((f) => !Number.isInteger(r[f]) || (r[f] as number) < 0))
        return invalid(`${at} needs calls or tokens, a whole number of at least 0.`);
    }
    out.rate_limits = b.rate_limits;
  }
  for (const k of GATEWAY_CONFIGS) {
    if (b[k] === undefined) continue;
    if (!isObject(b[k])) return invalid(`ai_gateway.${k} must be an object.`);
    const enabled = (b[k] as Record<string, unknown>).enabled;
    if (enabled !== undefined && typeof enabled !== "boolean") return invalid(`ai_gateway.${k}.enabled must be a boolean.`);
    out[k] = b[k];
  }
  return out;
}

/** A served entity's name when none is given: `<entity_name>-<entity_version>`, dots (a Unity Catalog name's) made dashes. */
export const defaultServedEntityName = (entityName: string, version: string) => `${entityName}-${version}`.replace(/\./g, "-");

export class ServingApi {
  readonly endpoints = new Map<string, ServingEndpoint>();
  /**
   * Direct ACL entries by the Permissions API's key (`/serving-endpoints/<id>`). A host with a Permissions API sets
   * its own map here (ControlPlaneState.acls), so that both APIs read and write one ACL.
   */
  acls = new Map<string, AclEntry[]>();
  /** How long a written config stays pending before it becomes the active one (ms); 0: at once. */
  settleMs = 0;

  constructor(
    /** Whether the caller is a workspace admin (CAN_MANAGE on every endpoint); a host with SCIM state sets its own. */
    public isAdmin: (caller: string) => boolean,
    /** Whether a registered model's version exists and the caller may read it (the registry the host fronts). */
    private readonly modelVersionExists: (caller: string, name: string, version: string) => Promise<boolean>,
    /** The groups a caller belongs to (`users` is added for everyone). */
    public groupsOf: (caller: string) => string[] = () => [],
  ) {}

  /** What the Permissions API needs of serving endpoints (`/api/2.0/permissions/serving-endpoints/{id}`): admins manage all. */
  readonly permissionObjects: ServedObjects = {
    objectType: "serving-endpoint",
    levels: SERVING_LEVELS,
    adminLevel: "CAN_MANAGE",
    exists: (id) => this.byId(id) !== undefined,
  };

  /** The endpoint whose Permissions API id is `id`, if any. */
  byId(id: string): ServingEndpoint | undefined {
    return [...this.endpoints.values()].find((e) => e.id === id);
  }

  /** The caller's level on an endpoint (undefined: none). */
  levelOf(e: ServingEndpoint, caller: string): ServingLevel | undefined {
    if (this.isAdmin(caller)) return "CAN_MANAGE";
    const groups = new Set(["users", ...this.groupsOf(caller)]);
    let best = -1;
    for (const a of this.acls.get(aclKey("serving-endpoints", e.id)) ?? []) {
      const mine = a.kind === "group" ? groups.has(a.name) : a.name.toLowerCase() === caller.toLowerCase();
      if (mine) best = Math.max(best, SERVING_LEVELS.indexOf(a.level as ServingLevel));
    }
    return best < 0 ? undefined : SERVING_LEVELS[best];
  }

  /** Serves `/api/2.0/serving-endpoints[/...]`; false for any other path. */
  async handle(req: ApiRequest): Promise<boolean> {
    const path = req.url.pathname;
    if (path !== "/api/2.0/serving-endpoints" && !path.startsWith("/api/2.0/serving-endpoints/")) return false;
    this.settle();
    const m = /^\/api\/2\.0\/serving-endpoints(?:\/([^/]+)(?:\/(config|tags|ai-gateway))?)?$/.exec(path);
    const route = m ? `${req.method} ${m[1] === undefined ? "" : m[2] ? `{name}/${m[2]}` : "{name}"}` : "";
    if (route === "GET ") return this.list(req);
    if (route === "POST ") return this.create(req);
    if (!["GET {name}", "DELETE {name}", "PUT {name}/config", "PATCH {name}/tags", "PUT {name}/ai-gateway"].includes(route))
      return notImplemented(req.res, req.method, req.url);
    const name = decodeURIComponent(m![1]);
    const e = this.endpoints.get(name);
    if (!e) return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Endpoint with name '${name}' does not exist.`);
    const need = (level: ServingLevel) => {
      const has = this.levelOf(e, req.caller);
      if (has && SERVING_LEVELS.indexOf(has) >= SERVING_LEVELS.indexOf(level)) return false;
      apiError(req.res, 403, "PERMISSION_DENIED", `User ${req.caller} does not have ${level} permission on serving endpoint ${name}.`);
      return true;
    };
    if (route === "GET {name}") return need("CAN_VIEW") || sendJson(req.res, 200, this.detailed(e, req.caller));
    if (need("CAN_MANAGE")) return true;
    if (route === "DELETE {name}") {
      this.endpoints.delete(name);
      this.acls.delete(aclKey("serving-endpoints", e.id));
      return sendJson(req.res, 200, {});
    }
    const b = jsonBody(req);
    if (!b) return true;
    if (route === "PATCH {name}/tags") return this.patchTags(req, e, b);
    if (route === "PUT {name}/ai-gateway") {
      const gateway = parseGateway(b);
      if (isRefusal(gateway)) return this.refuse(req, gateway);
      if (Object.keys(gateway).length) e.extras.ai_gateway = gateway;
      else delete e.extras.ai_gateway;
      e.updated = Date.now();
      return sendJson(req.res, 200, gateway);
    }
    if (e.pending)
      return apiError(
        req.res,
        409,
        "RESOURCE_CONFLICT",
        `Endpoint ${name} is currently being updated: its config can be updated again once state.config_update is NOT_UPDATING.`,
      );
    const config = await this.parseConfig(b, req.caller);
    if (isRefusal(config)) return this.refuse(req, config);
    e.pending = { config, since: Date.now() };
    e.updated = Date.now();
    this.settle();
    return sendJson(req.res, 200, this.detailed(e, req.caller));
  }

  private list(req: ApiRequest): boolean {
    const endpoints = [...this.endpoints.values()]
      .filter((e) => this.levelOf(e, req.caller))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((e) => ({
        ...this.summary(e),
        ...(e.config
          ? {
              config: {
                served_entities: e.config.served_entities.map((s) => ({
                  name: s.name,
                  entity_name: s.entity_name,
                  entity_version: s.entity_version,
                })),
              },
            }
          : {}),
      }));
    return sendJson(req.res, 200, endpoints.length ? { endpoints } : {});
  }

  private async create(req: ApiRequest): Promise<boolean> {
    const b = jsonBody(req);
    if (!b) return true;
    const name = typeof b.name === "string" ? b.name : "";
    if (!name) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'.");
    if (!NAME.test(name))
      return apiError(
        req.res,
        400,
        "INVALID_PARAMETER_VALUE",
        `Endpoint name '${name}' is invalid: it may consist of letters, digits, dashes and underscores only.`,
      );
    if (this.endpoints.has(name)) return apiError(req.res, 400, "RESOURCE_ALREADY_EXISTS", `Endpoint with name '${name}' already exists.`);
    const tags = this.tagList(b.tags, "tags");
    if (isRefusal(tags)) return this.refuse(req, tags);
    const extras = this.extras(b);
    if (isRefusal(extras)) return this.refuse(req, extras);
    if (typeof b.config !== "object" || b.config === null || Array.isArray(b.config))
      return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "The endpoint's config (served_entities) is required.");
    const config = await this.parseConfig(b.config as Record<string, unknown>, req.caller);
    if (isRefusal(config)) return this.refuse(req, config);
    // Re-checked: the name may have been taken while the registry was asked.
    if (this.endpoints.has(name)) return apiError(req.res, 400, "RESOURCE_ALREADY_EXISTS", `Endpoint with name '${name}' already exists.`);
    const now = Date.now();
    const e: ServingEndpoint = {
      id: crypto.randomBytes(16).toString("hex"),
      name,
      creator: req.caller,
      created: now,
      updated: now,
      configVersion: 0,
      pending: { config, since: now },
      tags: new Map(tags.map((t) => [t.key, t.value])),
      extras,
    };
    this.endpoints.set(name, e);
    this.acls.set(aclKey("serving-endpoints", e.id), [{ kind: "user", name: req.caller, level: "CAN_MANAGE" }]);
    this.settle();
    return sendJson(req.res, 200, this.detailed(e, req.caller));
  }

  private patchTags(req: ApiRequest, e: ServingEndpoint, b: Record<string, unknown>): boolean {
    const add = this.tagList(b.add_tags, "add_tags");
    if (isRefusal(add)) return this.refuse(req, add);
    const del = b.delete_tags ?? [];
    if (!Array.isArray(del) || del.some((k) => typeof k !== "string"))
      return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "delete_tags must be a list of tag keys.");
    for (const k of del as string[]) e.tags.delete(k);
    for (const t of add) e.tags.set(t.key, t.value);
    e.updated = Date.now();
    return sendJson(req.res, 200, { tags: this.tagsJson(e) });
  }

  /** Active configs for every pending one whose time has come. */
  private settle(): void {
    const now = Date.now();
    for (const e of this.endpoints.values())
      if (e.pending && now - e.pending.since >= this.settleMs) {
        e.config = e.pending.config;
        e.configVersion++;
        e.pending = undefined;
      }
  }

  private refuse(req: ApiRequest, r: Refusal): true {
    return apiError(req.res, r.status, r.code, r.message);
  }

  private tagList(raw: unknown, field: string): { key: string; value?: string }[] | Refusal {
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) return invalid(`${field} must be a list of {key, value}.`);
    const out: { key: string; value?: string }[] = [];
    for (const t of raw as Record<string, unknown>[]) {
      if (typeof t?.key !== "string" || !t.key) return invalid(`Each of ${field} needs a key: ${JSON.stringify(t)}`);
      if (t.value !== undefined && typeof t.value !== "string") return invalid(`The value of tag '${t.key}' must be a string.`);
      out.push({ key: t.key, ...(t.value !== undefined ? { value: t.value as string } : {}) });
    }
    return out;
  }

  private extras(b: Record<string, unknown>): Record<string, unknown> | Refusal {
    const out: Record<string, unknown> = {};
    if (b.route_optimized !== undefined) {
      if (typeof b.route_optimized !== "boolean") return invalid("route_optimized must be a boolean.");
      out.route_optimized = b.route_optimized;
    }
    if (b.description !== undefined) {
      if (typeof b.description !== "string") return invalid("description must be a string.");
      out.description = b.description;
    }
    if (b.ai_gateway !== undefined) {
      if (!isObject(b.ai_gateway)) return invalid("ai_gateway must be an object.");
      const gateway = parseGateway(b.ai_gateway);
      if (isRefusal(gateway)) return gateway;
      if (Object.keys(gateway).length) out.ai_gateway = gateway;
    }
    if (b.rate_limits !== undefined) {
      const ok =
        Array.isArray(b.rate_limits) &&
        (b.rate_limits as Record<string, unknown>[]).every(
          (r) =>
            Number.isInteger(r?.calls) &&
            (r.calls as number) >= 0 &&
            r.renewal_period === "minute" &&
            (r.key === undefined || r.key === "user" || r.key === "endpoint"),
        );
      if (!ok) return invalid("rate_limits must be a list of {calls, renewal_period: minute, key?: user | endpoint}.");
      out.rate_limits = b.rate_limits;
    }
    return out;
  }

  /** A config as Databricks checks it, or why it is refused; the registry is asked last, once the rest holds. */
  private async parseConfig(c: Record<string, unknown>, caller: string): Promise<ServingConfig | Refusal> {
    if (c.served_models !== undefined)
      return refused(
        501,
        "NOT_IMPLEMENTED",
        "the Databricks test server does not implement served_models (deprecated): give served_entities",
      );
    const raw = c.served_entities;
    if (!Array.isArray(raw) || raw.length === 0) return invalid("The config must have at least one served entity (served_entities).");
    const now = Date.now();
    const entities: ServedEntity[] = [];
    for (const s of raw as Record<string, unknown>[]) {
      if (typeof s !== "object" || s === null) return invalid(`A served entity must be an object: ${JSON.stringify(s)}`);
      if (s.external_model !== undefined || s.foundation_model !== undefined)
        return refused(501, "NOT_IMPLEMENTED", "the Databricks test server serves registered model versions only, not external models");
      const entityName = s.entity_name;
      const version = s.entity_version;
      if (typeof entityName !== "string" || !entityName) return invalid("Missing value for required parameter 'entity_name'.");
      if (typeof version !== "string" || !version)
        return invalid(`Missing value for required parameter 'entity_version' of '${entityName}'.`);
      const name = s.name === undefined ? defaultServedEntityName(entityName, version) : s.name;
      if (typeof name !== "string" || !NAME.test(name))
        return invalid(`Served entity name '${String(name)}' is invalid: it may consist of letters, digits, dashes and underscores only.`);
      if (entities.some((x) => x.name === name))
        return invalid(`Served entity names must be unique within an endpoint: '${name}' is given twice.`);
      const scaling = this.scaling(s, name);
      if (isRefusal(scaling)) return scaling;
      const env = s.environment_vars;
      if (
        env !== undefined &&
        (typeof env !== "object" || env === null || Array.isArray(env) || Object.values(env).some((v) => typeof v !== "string"))
      )
        return invalid(`environment_vars of served entity '${name}' must map names to string values.`);
      entities.push({
        name,
        entity_name: entityName,
        entity_version: version,
        ...scaling,
        ...(env !== undefined ? { environment_vars: { ...(env as Record<string, string>) } } : {}),
        creator: caller,
        creation_timestamp: now,
      });
    }
    const routes = this.routes(c.traffic_config, entities);
    if (isRefusal(routes)) return routes;
    const capture = c.auto_capture_config;
    if (capture !== undefined && (typeof capture !== "object" || capture === null || Array.isArray(capture)))
      return invalid("auto_capture_config must be an object.");
    for (const s of entities)
      if (!(await this.modelVersionExists(caller, s.entity_name, s.entity_version)))
        return refused(
          404,
          "RESOURCE_DOES_NOT_EXIST",
          `Served entity '${s.name}': version ${s.entity_version} of model '${s.entity_name}' does not exist, or ${caller} may not read it.`,
        );
    return {
      served_entities: entities,
      traffic_config: { routes },
      ...(capture !== undefined ? { auto_capture_config: capture as Record<string, unknown> } : {}),
    };
  }

  private scaling(
    s: Record<string, unknown>,
    name: string,
  ):
    | Pick<
        ServedEntity,
        "workload_size" | "workload_type" | "scale_to_zero_enabled" | "min_provisioned_throughput" | "max_provisioned_throughput"
      >
    | Refusal {
    const size = s.workload_size;
    const [min, max] = [s.min_provisioned_throughput, s.max_provisioned_throughput];
    const throughput = min !== undefined || max !== undefined;
    if (size !== undefined && throughput)
      return invalid(`Served entity '${name}': give workload_size or min/max_provisioned_throughput, not both.`);
    if (size === undefined && !throughput) return invalid(`Served entity '${name}': workload_size is required (Small, Medium or Large).`);
    if (size !== undefined && !WORKLOAD_SIZES.includes(size as string))
      return invalid(`Served entity '${name}': workload_size '${String(size)}' is invalid; valid sizes: ${WORKLOAD_SIZES.join(", ")}.`);
    if (throughput && !(Number.isInteger(min) && Number.isInteger(max) && (min as number) >= 0 && (min as number) <= (max as number)))
      return invalid(
        `Served entity '${name}': min_provisioned_throughput and max_provisioned_throughput must be integers, 0 <= min <= max.`,
      );
    if (s.scale_to_zero_enabled !== undefined && typeof s.scale_to_zero_enabled !== "boolean")
      return invalid(`Served entity '${name}': scale_to_zero_enabled must be a boolean.`);
    const type = s.workload_type ?? "CPU";
    if (!WORKLOAD_TYPES.includes(type as string))
      return invalid(`Served entity '${name}': workload_type '${String(type)}' is invalid; valid types: ${WORKLOAD_TYPES.join(", ")}.`);
    return {
      ...(size !== undefined ? { workload_size: size as string } : {}),
      workload_type: type as string,
      scale_to_zero_enabled: s.scale_to_zero_enabled === true,
      ...(throughput ? { min_provisioned_throughput: min as number, max_provisioned_throughput: max as number } : {}),
    };
  }

  private routes(raw: unknown, entities: ServedEntity[]): ServingRoute[] | Refusal {
    const given = (raw as { routes?: unknown } | undefined)?.routes;
    if (raw !== undefined && (typeof raw !== "object" || raw === null || (given !== undefined && !Array.isArray(given))))
      return invalid("traffic_config must be {routes: [{served_entity_name, traffic_percentage}]}.");
    const list = (given ?? []) as Record<string, unknown>[];
    if (list.length === 0) {
      if (entities.length === 1) return [{ served_entity_name: entities[0].name, traffic_percentage: 100 }];
      return invalid("traffic_config is required when an endpoint serves more than one entity.");
    }
    const out: ServingRoute[] = [];
    const seen = new Set<string>();
    for (const r of list) {
      const names = [r?.served_entity_name, r?.served_model_name].filter((n) => n !== undefined);
      if (names.length === 0 || names.some((n) => n !== names[0]) || typeof names[0] !== "string")
        return invalid(`A route names one served entity (served_entity_name or served_model_name): ${JSON.stringify(r)}`);
      const target = names[0] as string;
      if (!entities.some((s) => s.name === target))
        return invalid(`The route to '${target}' names no served entity of this config (${entities.map((s) => s.name).join(", ")}).`);
      if (seen.has(target)) return invalid(`Served entity '${target}' has more than one route.`);
      seen.add(target);
      const pct = r.traffic_percentage;
      if (!Number.isInteger(pct) || (pct as number) < 0 || (pct as number) > 100)
        return invalid(`The traffic percentage of the route to '${target}' must be an integer from 0 to 100, not ${String(pct)}.`);
      out.push({
        ...(r.served_entity_name !== undefined ? { served_entity_name: target } : { served_model_name: target }),
        traffic_percentage: pct as number,
      });
    }
    const sum = out.reduce((n, r) => n + r.traffic_percentage, 0);
    if (sum !== 100) return invalid(`The traffic percentages of the routes must sum to 100, not ${sum}.`);
    return out;
  }

  private tagsJson(e: ServingEndpoint) {
    return [...e.tags].map(([key, value]) => (value === undefined ? { key } : { key, value }));
  }

  private summary(e: ServingEndpoint) {
    return {
      id: e.id,
      name: e.name,
      creator: e.creator,
      creation_timestamp: e.created,
      last_updated_timestamp: e.updated,
      state: { ready: e.config ? "READY" : "NOT_READY", config_update: e.pending ? "IN_PROGRESS" : "NOT_UPDATING" },
      ...(e.tags.size ? { tags: this.tagsJson(e) } : {}),
    };
  }

  private configJson(c: ServingConfig, deployment: string) {
    return {
      served_entities: c.served_entities.map((s) => ({ ...s, state: { deployment, deployment_state_message: "" } })),
      traffic_config: c.traffic_config,
      ...(c.auto_capture_config ? { auto_capture_config: c.auto_capture_config } : {}),
    };
  }

  private detailed(e: ServingEndpoint, caller: string) {
    const { rate_limits: _rateLimits, ...shown } = e.extras;
    return {
      ...this.summary(e),
      ...shown,
      ...(e.config ? { config: { ...this.configJson(e.config, "DEPLOYMENT_READY"), config_version: e.configVersion } } : {}),
      ...(e.pending
        ? {
            pending_config: {
              ...this.configJson(e.pending.config, "DEPLOYMENT_CREATING"),
              config_version: e.configVersion + 1,
              start_time: e.pending.since,
            },
          }
        : {}),
      permission_level: this.levelOf(e, caller),
    };
  }
}
