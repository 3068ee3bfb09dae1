/**
 * Model serving endpoints move after the models: their served entities point at the moved model versions (renumbered
 * when the move renumbered them, the default-named entities and the traffic routes renamed with them), with the
 * source's scaling, traffic split, tags, AI gateway, description, route optimization and ACL (the creator's own
 * CAN_MANAGE gone). A second move writes nothing; a
 * version the target's registry lacks fails the endpoint before anything is written; a member given CAN_VIEW cannot
 * change the endpoint with their own token.
 *
 * Two of the local platform's Databricks workspaces (WorkspaceServer: the control plane's Permissions API and the
 * workspace API's Serving Endpoints API on one ACL state), each over a real MLflow server that holds its registry.
 * They are served here over plain HTTP (the product's client then needs no CA of the platform's); the expected
 * configurations are written out below, not computed by the code under test.
 */
import * as assert from "assert";
import * as http from "http";
import { outsideContract } from "../../devenv/databricks/sdkContract";
import { WorkspaceServer } from "../../devenv/localPlatform";
import { MlflowServer } from "../../devenv/localMlflow";
import { closeServer, listenLoopback } from "../../devenv/loopback";
import { makeSelfSignedCert } from "../../devenv/selfSignedCert";
import { Endpoint } from "../../clients/mlflow";
import { compareServingEndpoints, moveServingEndpoint, servingEndpointInventory, VersionMap } from "../../migration/serving";
import { liveServers } from "../fixtures/liveServers";

const stamp = `${process.pid}-${Date.now()}`;
const MODEL = `serving-model-${stamp}`;
const ENDPOINT = `quant-alpha-${stamp}`;
const ABSENT = `quant-absent-${stamp}`;
const LIMITED = `quant-limited-${stamp}`;
const SRC_TOKEN = `dapi-serving-src-${stamp}`;
const DST_TOKEN = `dapi-serving-dst-${stamp}`;
const MEMBER_TOKEN = `dapi-serving-member-${stamp}`;
const MEMBER = "ana.ruiz@quantfirm.example";
/** The move renumbered the model's versions: the target held a version of its own first. */
const RENUMBERED: Record<string, string> = { "1": "2", "2": "3" };
const versionMap: VersionMap = (model, version) => (model === MODEL ? RENUMBERED[version] : undefined);
/** The source endpoint's AI gateway: a rate limit per user and usage tracking. */
const GATEWAY = { rate_limits: [{ calls: 100, renewal_period: "minute", key: "user" }], usage_tracking_config: { enabled: true } };
const DESCRIPTION = "quant-alpha: champion and challenger";

interface Answer {
  status: number;
  json: Record<string, any>;
}

/** One REST call to a workspace as the token's owner. */
async function call(url: string, token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : {} };
}

/** The workspace's two APIs behind one plain-HTTP listener, as WorkspaceServer mounts them (control plane first). */
async function overHttp(ws: WorkspaceServer): Promise<{ url: string; server: http.Server }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      void (async () => {
        if (outsideContract(req, res)) return;
        if (!(await ws.control.handle(req, res, body))) await ws.mlflowApi.handle(req, res, body);
      })().catch((e) => {
        res.writeHead(500, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error_code: "INTERNAL_ERROR", message: String(e) }));
      });
    });
  });
  return { url: await listenLoopback(server), server };
}

/** Registers `count` versions of the model on an MLflow server (1, 2, ...). */
async function registerVersions(server: MlflowServer, count: number): Promise<void> {
  const mlflow = (path: string, body: unknown) => call(server.url, "none", "POST", `/api/2.0/mlflow/${path}`, body);
  assert.strictEqual((await mlflow("registered-models/create", { name: MODEL })).status, 200);
  for (let i = 1; i <= count; i++) {
    const r = await mlflow("model-versions/create", { name: MODEL, source: `s3://quant-models/serving/${stamp}/v${i}` });
    assert.strictEqual(r.json.model_version?.version, String(i), JSON.stringify(r.json));
  }
}

/** The served entities and traffic as read back from the API (what the endpoint serves, whatever wrote it). */
function readBack(e: Record<string, any>) {
  const config = e.pending_config ?? e.config;
  return {
    entities: (config.served_entities as Record<string, unknown>[])
      .map((s) => [s.name, s.entity_name, s.entity_version, s.workload_size, s.scale_to_zero_enabled, s.environment_vars ?? null])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    traffic: Object.fromEntries(
      (config.traffic_config.routes as Record<string, any>[]).map((r) => [
        r.served_entity_name ?? r.served_model_name,
        r.traffic_percentage,
      ]),
    ),
    tags: Object.fromEntries(((e.tags ?? []) as { key: string; value?: string }[]).map((t) => [t.key, t.value])),
    settings: { ai_gateway: e.ai_gateway ?? null, description: e.description ?? null, route_optimized: e.route_optimized ?? false },
  };
}

/** The direct entries of an endpoint's ACL, as `kind:principal=level`, sorted. */
async function directAcl(url: string, token: string, id: string): Promise<string[]> {
  const r = await call(url, token, "GET", `/api/2.0/permissions/serving-endpoints/${id}`);
  assert.strictEqual(r.status, 200, JSON.stringify(r.json));
  const out: string[] = [];
  for (const e of r.json.access_control_list ?? [])
    for (const p of e.all_permissions ?? [])
      if (!p.inherited) out.push(`${e.user_name ? "user" : "group"}:${e.user_name ?? e.group_name}=${p.permission_level}`);
  return out.sort();
}

describe("move: model serving endpoints follow the moved model versions, with traffic, scaling, tags, AI gateway and ACL", function () {
  this.timeout(180000);
  let src: WorkspaceServer;
  let dst: WorkspaceServer;
  let fronts: { url: string; server: http.Server }[] = [];
  let from: Endpoint;
  let to: Endpoint;
  let dstId: string;
  /** Calls the target served that change something, from the control plane and the workspace API. */
  const writes = () => [...dst.state.calls, ...dst.mlflowApi.calls].filter((c) => !c.startsWith("GET ") && !c.includes("/mlflow/")).sort();

  before(async () => {
    const { a, b } = await liveServers();
    const cert = makeSelfSignedCert();
    src = new WorkspaceServer("quant", SRC_TOKEN, a, cert);
    dst = new WorkspaceServer("quant_stg", DST_TOKEN, b, cert);
    fronts = [await overHttp(src), await overHttp(dst)];
    from = { uri: `databricks+${fronts[0].url}`, baseUrl: fronts[0].url, token: SRC_TOKEN, transport: "databricks" };
    to = { uri: `databricks+${fronts[1].url}`, baseUrl: fronts[1].url, token: DST_TOKEN, transport: "databricks" };
    for (const ws of [src, dst]) {
      ws.state.addGroup("quant-developers");
      ws.state.addGroup("quant-consumers");
      const member = ws.state.addUser(MEMBER);
      ws.mlflowApi.addUser(MEMBER_TOKEN, MEMBER);
      ws.state.tokens.set(MEMBER_TOKEN, member.id);
    }
    // The source serves versions 1 and 2 (and has a 4th); in the target the model's versions are 1 (the team's own),
    // then 2 and 3: the moved 1 and 2.
    await registerVersions(a, 4);
    await registerVersions(b, 3);
    // A config written in the target stays pending (deploying) until a test lets it settle.
    dst.mlflowApi.serving.settleMs = 60 * 60 * 1000;

    const created = await call(fronts[0].url, SRC_TOKEN, "POST", "/api/2.0/serving-endpoints", {
      name: ENDPOINT,
      config: {
        served_entities: [
          { entity_name: MODEL, entity_version: "1", workload_size: "Small", scale_to_zero_enabled: true },
          {
            name: "challenger",
            entity_name: MODEL,
            entity_version: "2",
            workload_size: "Medium",
            scale_to_zero_enabled: false,
            environment_vars: { FEED_TOKEN: "{{secrets/quant-feeds/feed-token}}" },
          },
        ],
        traffic_config: {
          routes: [
            { served_entity_name: `${MODEL}-1`, traffic_percentage: 80 },
            { served_entity_name: "challenger", traffic_percentage: 20 },
          ],
        },
      },
      tags: [
        { key: "team", value: "quant" },
        { key: "cost-centre", value: "4711" },
      ],
      ai_gateway: GATEWAY,
      description: DESCRIPTION,
      route_optimized: true,
    });
    assert.strictEqual(created.status, 200, JSON.stringify(created.json));
    const acl = await call(fronts[0].url, SRC_TOKEN, "PUT", `/api/2.0/permissions/serving-endpoints/${created.json.id}`, {
      access_control_list: [
        { group_name: "quant-developers", permission_level: "CAN_MANAGE" },
        { group_name: "quant-consumers", permission_level: "CAN_QUERY" },
        { user_name: MEMBER, permission_level: "CAN_VIEW" },
      ],
    });
    assert.strictEqual(acl.status, 200, JSON.stringify(acl.json));
  });
  after(async () => {
    await Promise.all(fronts.map((f) => closeServer(f.server)));
  });

  it("the test workspace refuses a config as Databricks does (names, scaling, traffic, model versions), and a refusal creates nothing", async () => {
    const entity = (over: Record<string, unknown> = {}) => ({
      entity_name: MODEL,
      entity_version: "1",
      workload_size: "Small",
      scale_to_zero_enabled: true,
      ...over,
    });
    const split = (a: number, b: number) => ({
      routes: [
        { served_entity_name: "a", traffic_percentage: a },
        { served_entity_name: "b", traffic_percentage: b },
      ],
    });
    const two = [entity({ name: "a" }), entity({ name: "b", entity_version: "2" })];
    const cases: [string, Record<string, unknown>, number, string][] = [
      ["bad name", { name: "quant alpha!", config: { served_entities: [entity()] } }, 400, "INVALID_PARAMETER_VALUE"],
      ["taken name", { name: ENDPOINT, config: { served_entities: [entity()] } }, 400, "RESOURCE_ALREADY_EXISTS"],
      [
        "no such size",
        { name: `x-${stamp}`, config: { served_entities: [entity({ workload_size: "Huge" })] } },
        400,
        "INVALID_PARAMETER_VALUE",
      ],
      [
        "scale to zero not a boolean",
        { name: `x-${stamp}`, config: { served_entities: [entity({ scale_to_zero_enabled: "yes" })] } },
        400,
        "INVALID_PARAMETER_VALUE",
      ],
      [
        "traffic summing to 90",
        { name: `x-${stamp}`, config: { served_entities: two, traffic_config: split(70, 20) } },
        400,
        "INVALID_PARAMETER_VALUE",
      ],
      [
        "a route to no served entity",
        { name: `x-${stamp}`, config: { served_entities: [entity({ name: "a" })], traffic_config: split(100, 0) } },
        400,
        "INVALID_PARAMETER_VALUE",
      ],
      ["two entities, no traffic", { name: `x-${stamp}`, config: { served_entities: two } }, 400, "INVALID_PARAMETER_VALUE"],
      [
        "a version the registry lacks",
        { name: `x-${stamp}`, config: { served_entities: [entity({ entity_version: "7" })] } },
        404,
        "RESOURCE_DOES_NOT_EXIST",
      ],
      [
        "a rate limit per hour",
        {
          name: `x-${stamp}`,
          config: { served_entities: [entity()] },
          ai_gateway: { rate_limits: [{ calls: 5, renewal_period: "hour" }] },
        },
        400,
        "INVALID_PARAMETER_VALUE",
      ],
      [
        "an AI gateway field Databricks does not have",
        { name: `x-${stamp}`, config: { served_entities: [entity()] }, ai_gateway: { budget: { enabled: true } } },
        400,
        "INVALID_PARAMETER_VALUE",
      ],
    ];
    const before = [...src.mlflowApi.serving.endpoints.keys()];
    const got = [];
    for (const [, body] of cases) {
      const r = await call(fronts[0].url, SRC_TOKEN, "POST", "/api/2.0/serving-endpoints", body);
      got.push([r.status, r.json.error_code]);
    }
    assert.deepStrictEqual(
      got,
      cases.map(([, , status, code]) => [status, code]),
    );
    assert.deepStrictEqual([...src.mlflowApi.serving.endpoints.keys()], before);
    // The same config with the traffic summing to 100 is taken: the refusals above were for what they name.
    const ok = await call(fronts[0].url, SRC_TOKEN, "POST", "/api/2.0/serving-endpoints", {
      name: `x-${stamp}`,
      config: { served_entities: two, traffic_config: split(70, 30) },
    });
    assert.strictEqual(ok.status, 200, JSON.stringify(ok.json));
    assert.strictEqual((await call(fronts[0].url, SRC_TOKEN, "DELETE", `/api/2.0/serving-endpoints/x-${stamp}`)).status, 200);
  });

  it("creates the endpoint in the target serving the renumbered versions: entities, traffic 80/20, scaling, tags, AI gateway, description, route optimization and ACL read back as the source's, mapped", async () => {
    const r = await moveServingEndpoint({ from, to, name: ENDPOINT, versionMap });
    assert.deepStrictEqual(r, {
      endpoint: ENDPOINT,
      outcome: "created",
      entities: [
        { entity: MODEL, sourceVersion: "1", targetVersion: "2" },
        { entity: MODEL, sourceVersion: "2", targetVersion: "3" },
      ],
      acls: 3,
      changes: [],
      held: [],
    });
    const got = await call(fronts[1].url, DST_TOKEN, "GET", `/api/2.0/serving-endpoints/${ENDPOINT}`);
    assert.strictEqual(got.status, 200, JSON.stringify(got.json));
    dstId = got.json.id;
    // The default-named entity takes its target version's name, and its route with it; the team's name is kept.
    assert.deepStrictEqual(readBack(got.json), {
      entities: [
        [`${MODEL}-2`, MODEL, "2", "Small", true, null],
        ["challenger", MODEL, "3", "Medium", false, { FEED_TOKEN: "{{secrets/quant-feeds/feed-token}}" }],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      traffic: { [`${MODEL}-2`]: 80, challenger: 20 },
      tags: { team: "quant", "cost-centre": "4711" },
      settings: { ai_gateway: GATEWAY, description: DESCRIPTION, route_optimized: true },
    });
    // The source's entries only: the mover's own CAN_MANAGE, which Databricks gave it as the creator, is gone.
    assert.deepStrictEqual(await directAcl(fronts[1].url, DST_TOKEN, dstId), [
      "group:quant-consumers=CAN_QUERY",
      "group:quant-developers=CAN_MANAGE",
      `user:${MEMBER}=CAN_VIEW`,
    ]);
    // Verification reads the configuration back: identical through the version map, and not without it.
    const [s, t] = [await servingEndpointInventory(from, [ENDPOINT]), await servingEndpointInventory(to, [ENDPOINT])];
    assert.deepStrictEqual(compareServingEndpoints(s, t, versionMap), []);
    assert.deepStrictEqual(
      compareServingEndpoints(s, t).map((d) => d.detail),
      [
        `: serves no '${MODEL}' version 1`,
        `: '${MODEL}' version 2: is served as '${MODEL}-2', the source's mapped name 'challenger'`,
        `: '${MODEL}' version 2: workload_size is Small, the source's Medium`,
        `: '${MODEL}' version 2: scale_to_zero_enabled is true, the source's false`,
        `: '${MODEL}' version 2: environment variable FEED_TOKEN is missing`,
        `: '${MODEL}' version 2 gets 80% of the traffic, the source's 20%`,
        `: serves '${MODEL}' version 3, which the source does not`,
      ].map((d) => `serving endpoint '${ENDPOINT}'${d}`),
    );
    // What only creation sets: an endpoint that was there before the move and differs is named, with what to do.
    assert.deepStrictEqual(
      compareServingEndpoints(s, [{ ...t[0], routeOptimized: false, description: "" }], versionMap).map((d) => d.detail),
      [
        `serving endpoint '${ENDPOINT}': route_optimized is false, the source's true (set at creation only: recreate the endpoint to change it)`,
        `serving endpoint '${ENDPOINT}': its description differs from the source's (set at creation only)`,
      ],
    );
  });

  it("a second move writes nothing and adopts the endpoint, even while its deployment is pending", async () => {
    const state = await call(fronts[1].url, DST_TOKEN, "GET", `/api/2.0/serving-endpoints/${ENDPOINT}`);
    assert.strictEqual(state.json.state.config_update, "IN_PROGRESS");
    const before = writes();
    const r = await moveServingEndpoint({ from, to, name: ENDPOINT, versionMap });
    assert.deepStrictEqual([r.outcome, r.acls, r.problem], ["adopted", 0, undefined]);
    assert.deepStrictEqual(writes(), before);
  });

  it("a config, tag and AI gateway changed in the target during an update are put back once that update ends, and verification then finds nothing", async () => {
    // The creation's deployment ends; then someone changes the target's config, which deploys for half a second.
    dst.mlflowApi.serving.settleMs = 0;
    assert.strictEqual((await call(fronts[1].url, DST_TOKEN, "GET", "/api/2.0/serving-endpoints")).status, 200);
    dst.mlflowApi.serving.settleMs = 500;
    const tagged = await call(fronts[1].url, DST_TOKEN, "PATCH", `/api/2.0/serving-endpoints/${ENDPOINT}/tags`, {
      add_tags: [{ key: "owner", value: "someone" }],
      delete_tags: ["team"],
    });
    assert.strictEqual(tagged.status, 200, JSON.stringify(tagged.json));
    const changed = await call(fronts[1].url, DST_TOKEN, "PUT", `/api/2.0/serving-endpoints/${ENDPOINT}/config`, {
      served_entities: [{ entity_name: MODEL, entity_version: "1", workload_size: "Large", scale_to_zero_enabled: false }],
    });
    assert.strictEqual(changed.status, 200, JSON.stringify(changed.json));
    assert.strictEqual(changed.json.state.config_update, "IN_PROGRESS");
    const limited = await call(fronts[1].url, DST_TOKEN, "PUT", `/api/2.0/serving-endpoints/${ENDPOINT}/ai-gateway`, {
      rate_limits: [{ calls: 5, renewal_period: "minute", key: "endpoint" }],
    });
    assert.strictEqual(limited.status, 200, JSON.stringify(limited.json));
    const drifted = [await servingEndpointInventory(from, [ENDPOINT]), await servingEndpointInventory(to, [ENDPOINT])] as const;
    assert.deepStrictEqual(
      compareServingEndpoints(drifted[0], drifted[1], versionMap)
        .map((d) => d.detail)
        .filter((d) => d.includes("AI gateway")),
      [
        `serving endpoint '${ENDPOINT}': AI gateway rate_limits is [{"calls":5,"key":"endpoint","renewal_period":"minute"}], the source's [{"calls":100,"key":"user","renewal_period":"minute"}]`,
        `serving endpoint '${ENDPOINT}': AI gateway usage_tracking_config is missing`,
      ],
    );
    const r = await moveServingEndpoint({ from, to, name: ENDPOINT, versionMap, wait: { timeoutMs: 10000, pollMs: 100 } });
    assert.deepStrictEqual([r.outcome, r.problem], ["updated", undefined]);
    const [s, t] = [await servingEndpointInventory(from, [ENDPOINT]), await servingEndpointInventory(to, [ENDPOINT])];
    assert.deepStrictEqual(compareServingEndpoints(s, t, versionMap), []);
    assert.deepStrictEqual(t[0].tags, { team: "quant", "cost-centre": "4711" });
    assert.deepStrictEqual(t[0].gateway, GATEWAY);
  });

  it("an endpoint serving a version the target lacks fails, naming endpoint, entity and version, and the target is left as it was", async () => {
    const created = await call(fronts[0].url, SRC_TOKEN, "POST", "/api/2.0/serving-endpoints", {
      name: ABSENT,
      config: {
        served_entities: [
          { entity_name: MODEL, entity_version: "1", workload_size: "Small", scale_to_zero_enabled: true },
          { entity_name: MODEL, entity_version: "4", workload_size: "Small", scale_to_zero_enabled: true },
        ],
        traffic_config: {
          routes: [
            { served_entity_name: `${MODEL}-1`, traffic_percentage: 50 },
            { served_entity_name: `${MODEL}-4`, traffic_percentage: 50 },
          ],
        },
      },
    });
    assert.strictEqual(created.status, 200, JSON.stringify(created.json));
    const before = writes();
    const listed = await call(fronts[1].url, DST_TOKEN, "GET", "/api/2.0/serving-endpoints");
    const r = await moveServingEndpoint({ from, to, name: ABSENT, versionMap });
    assert.strictEqual(r.outcome, "failed");
    assert.strictEqual(
      r.problem,
      `serving endpoint '${ABSENT}': served entity '${MODEL}' version 4 does not exist in the target: move that model version first, or give its target number in the version map; nothing of it was written to ${to.uri}`,
    );
    // An existing endpoint whose mapped versions are missing is not touched either.
    const again = await moveServingEndpoint({ from, to, name: ENDPOINT, versionMap: () => "9" });
    assert.match(
      again.problem ?? "",
      new RegExp(`^serving endpoint '${ENDPOINT}': served entity '${MODEL}' version 9 \\(the source's version 1\\) does not exist`),
    );
    assert.strictEqual(again.outcome, "failed");
    assert.deepStrictEqual(writes(), before);
    assert.deepStrictEqual(await call(fronts[1].url, DST_TOKEN, "GET", "/api/2.0/serving-endpoints"), listed);
    assert.strictEqual((await call(fronts[1].url, DST_TOKEN, "GET", `/api/2.0/serving-endpoints/${ABSENT}`)).status, 404);
  });

  it("a member with CAN_VIEW reads the endpoint but cannot change its config or tags with their own token, nor by moving it", async () => {
    const endpoint = `/api/2.0/serving-endpoints/${ENDPOINT}`;
    const seen = await call(fronts[1].url, MEMBER_TOKEN, "GET", endpoint);
    assert.deepStrictEqual([seen.status, seen.json.permission_level], [200, "CAN_VIEW"]);
    const before = readBack((await call(fronts[1].url, DST_TOKEN, "GET", endpoint)).json);
    const put = await call(fronts[1].url, MEMBER_TOKEN, "PUT", `${endpoint}/config`, {
      served_entities: [{ entity_name: MODEL, entity_version: "3", workload_size: "Large", scale_to_zero_enabled: false }],
    });
    assert.deepStrictEqual([put.status, put.json.error_code], [403, "PERMISSION_DENIED"]);
    const patch = await call(fronts[1].url, MEMBER_TOKEN, "PATCH", `${endpoint}/tags`, { add_tags: [{ key: "team", value: "mine" }] });
    assert.deepStrictEqual([patch.status, patch.json.error_code], [403, "PERMISSION_DENIED"]);
    const unlimited = await call(fronts[1].url, MEMBER_TOKEN, "PUT", `${endpoint}/ai-gateway`, {});
    assert.deepStrictEqual([unlimited.status, unlimited.json.error_code], [403, "PERMISSION_DENIED"]);
    // Moving a changed source as the member: the target refuses the config, and the report says so.
    const srcEndpoint = await call(fronts[0].url, SRC_TOKEN, "PUT", `${endpoint}/config`, {
      served_entities: [{ entity_name: MODEL, entity_version: "1", workload_size: "Large", scale_to_zero_enabled: false }],
    });
    assert.strictEqual(srcEndpoint.status, 200, JSON.stringify(srcEndpoint.json));
    const wait = { timeoutMs: 10000, pollMs: 100 };
    const asMember = await moveServingEndpoint({ from, to: { ...to, token: MEMBER_TOKEN }, name: ENDPOINT, versionMap, wait });
    assert.strictEqual(asMember.outcome, "failed");
    assert.match(asMember.problem ?? "", new RegExp(`^serving endpoint '${ENDPOINT}': the target refused it: .* 403 PERMISSION_DENIED: `));
    assert.deepStrictEqual(readBack((await call(fronts[1].url, DST_TOKEN, "GET", endpoint)).json), before);
  });

  it("a group the target lacks (in the ACL and in a rate limit) holds the endpoint with nothing written; mapped in the plan, it moves to the mapped group", async () => {
    src.state.addGroup("quant-risk");
    const gateway = { rate_limits: [{ calls: 20, renewal_period: "minute", key: "user_group", principal: "quant-risk" }] };
    const created = await call(fronts[0].url, SRC_TOKEN, "POST", "/api/2.0/serving-endpoints", {
      name: LIMITED,
      config: { served_entities: [{ entity_name: MODEL, entity_version: "1", workload_size: "Small", scale_to_zero_enabled: true }] },
      ai_gateway: gateway,
    });
    assert.strictEqual(created.status, 200, JSON.stringify(created.json));
    const acl = await call(fronts[0].url, SRC_TOKEN, "PUT", `/api/2.0/permissions/serving-endpoints/${created.json.id}`, {
      access_control_list: [{ group_name: "quant-risk", permission_level: "CAN_QUERY" }],
    });
    assert.strictEqual(acl.status, 200, JSON.stringify(acl.json));
    const before = writes();
    const held = await moveServingEndpoint({ from, to, name: LIMITED, versionMap });
    assert.deepStrictEqual(
      [held.outcome, held.held],
      [
        "held",
        [
          `serving endpoint '${LIMITED}': group quant-risk (CAN_QUERY) does not exist in the target: create it, or map it in the plan's principalMap`,
          `serving endpoint '${LIMITED}': the rate limit's group quant-risk does not exist in the target: create it, or map it in the plan's principalMap`,
        ],
      ],
    );
    assert.deepStrictEqual(writes(), before, "a held endpoint writes nothing");
    assert.strictEqual((await call(fronts[1].url, DST_TOKEN, "GET", `/api/2.0/serving-endpoints/${LIMITED}`)).status, 404);

    const principalMap = { "quant-risk": "quant-consumers" };
    const moved = await moveServingEndpoint({ from, to, name: LIMITED, versionMap, principalMap });
    assert.deepStrictEqual([moved.outcome, moved.problem], ["created", undefined]);
    const got = await call(fronts[1].url, DST_TOKEN, "GET", `/api/2.0/serving-endpoints/${LIMITED}`);
    assert.deepStrictEqual(got.json.ai_gateway, {
      rate_limits: [{ calls: 20, renewal_period: "minute", key: "user_group", principal: "quant-consumers" }],
    });
    assert.deepStrictEqual(await directAcl(fronts[1].url, DST_TOKEN, got.json.id), ["group:quant-consumers=CAN_QUERY"]);
    const [s, t] = [await servingEndpointInventory(from, [LIMITED]), await servingEndpointInventory(to, [LIMITED])];
    assert.deepStrictEqual(compareServingEndpoints(s, t, versionMap, principalMap), []);
    assert.strictEqual(compareServingEndpoints(s, t, versionMap).length, 3, "without the map, the ACL and the rate limit differ");
  });
});
