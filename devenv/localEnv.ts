/**
 * Two local stand-ins for Databricks environments, "old" and "new", for trying the environment move
 * (docs/moving-an-environment.md) on one machine. Each is a real MLflow server behind the in-repo
 * Databricks API test server (MLflow REST API, signed-URL artifact store, Workspace API). The old one is
 * seeded like the team's workspace: the experiment /Users/alice@quant.example/quant-alpha (a workspace
 * path, as Databricks names experiments) with three training runs compared by
 * precision, the best registered in stage Production (a workspace registry has no aliases; the model carries
 * the signature Unity Catalog requires), notebooks and files under /Shared and /Users, and a Git folder under
 * /Repos.
 *
 * With `unityCatalog`, the new workspace also has a Unity Catalog model registry (catalog `main`, schema
 * `quant`) whose version files live in a real cloud-store emulator (Azurite or moto), reached as Unity
 * Catalog is: temporary credentials and the store's own API, at the endpoint `uc.env` names.
 *
 * With `members` (the roster's emails), every member gets a token of their own on each stand-in, written as a
 * Databricks config file with a profile per member and workspace (`[new-grace.lee]`), so that one person can
 * act locally as author, consumer and approver (`--from databricks://new-grace.lee`), each recorded as
 * themselves.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { MlflowServer, seedFixture, FixtureInfo } from "./localMlflow";
import { DatabricksTestServer, DEFAULT_USER } from "./databricks/databricksServer";
import { WorkspaceServer } from "./localPlatform";
import { AzuriteHandle, MotoHandle, startAzurite, startMoto } from "./stores/cloudEmulators";
import { ControlPlaneState } from "./databricks/controlPlaneState";
import { storeEnv, UcRegistryApi, UcStorage } from "./databricks/ucRegistryApi";
import { Readable } from "stream";
import { mlflowClient } from "../clients/mlflow";
import { forEachLimited } from "../migration/concurrency";
import { transportFor } from "../migration/transports/transportFor";

/** The stage of the old workspace's registered version (a workspace registry has stages, not aliases). */
export const STAGE = "Production";

/** The team's experiment, named by its workspace path as Databricks names experiments. */
export const EXPERIMENT = "/Users/alice@quant.example/quant-alpha";

export interface LocalEnvironment {
  name: string;
  mlflow: MlflowServer;
  /** The workspace API (MLflow, artifacts, Workspace, Jobs, Secrets, Serving, ...). */
  api: DatabricksTestServer;
  /** The whole workspace: `api` and the control plane (SCIM, Permissions, Unity Catalog) behind one listener. */
  workspace: WorkspaceServer;
  uri: string;
  /** Stops the listener (the MLflow server stays: `mlflow.dispose()`). */
  stop(): Promise<void>;
}
/** The catalog and schema of the new workspace's Unity Catalog registry. */
export const LOCAL_UC_SCHEMA = "main.quant";

/** The new workspace's Unity Catalog model registry, when asked for. */
export interface LocalUnityCatalog {
  /** `databricks-uc+http://127.0.0.1:PORT`: the new workspace, with its Unity Catalog registry. */
  uri: string;
  /** `main.quant`: models go in as `main.quant.<model>`. */
  schema: string;
  /** Where version files live: the emulator and its account keys (for tests to read or change blobs directly). */
  storage: UcStorage;
  /** What a client needs to reach the emulator: STORAGE_AZURE_BLOB_ENDPOINT, or STORAGE_S3_ENDPOINT and the like. */
  env: Record<string, string>;
  registry: UcRegistryApi;
}

/** The team's work around its models, seeded in the old workspace (issue 35 item 10). */
export const TEAM_WORK = {
  owner: "alice@quant.example",
  group: "quant-developer",
  secretScope: "quant-feeds",
  policy: "quant-jobs",
  pool: "quant-pool",
  /** The nightly training job (schedule) and the scoring job it runs first (file arrival), both UNPAUSED. */
  jobs: ["quant-alpha-nightly-train", "quant-alpha-score"],
  endpoint: "quant-alpha",
  /** Tables the old workspace sees (their data does not move: `move --plan-out` writes the SQL that copies it). */
  tables: ["hive_metastore.default.positions", "main.quant.daily_prices", "main.quant.latest_prices"],
  /** An MLflow 3 logged model (models:/m-...) with a version registered from it, in stage Staging. */
  loggedModel: { model: "quant-alpha-mlflow3", experiment: "/Users/alice@quant.example/quant-alpha-mlflow3", stage: "Staging" },
} as const;

export interface LocalEnvironments {
  old: LocalEnvironment;
  new: LocalEnvironment;
  token: string;
  fixture: FixtureInfo;
  /** The MLflow 3 logged model and its registered version (TEAM_WORK.loggedModel), when the team's work was seeded. */
  loggedModel?: FixtureInfo;
  /**
   * The secret scope's values, as the team's vault would export them (`move --secret-values env:VAULT_EXPORT`): the
   * Secrets API never gives them to the tools.
   */
  vault?: Record<string, Record<string, string>>;
  /** `vault` as a file (mode 0600, removed by `stop`): what `move --secret-values` reads. */
  vaultFile?: string;
  /** What `rehearsal` seeded besides the team's fixture. */
  rehearsal?: RehearsalInfo;
  uc?: LocalUnityCatalog;
  /** One profile per member and stand-in, each with the member's own token there (when members were given). */
  profiles: MemberProfile[];
  /** The Databricks config file (INI, mode 0600) holding `profiles`; removed by `stop`. */
  configFile?: string;
  stop(): Promise<void>;
}

/** A roster member's own token on one stand-in, as a Databricks config profile (`[new-grace.lee]`). */
export interface MemberProfile {
  profile: string;
  member: string;
  workspace: string;
  host: string;
  token: string;
}

/**
 * A profile per member and workspace, named `<workspace>-<local part of the email>` (the whole email where two
 * members share a local part), each with a fresh token from `newToken`. Pure but for `newToken`.
 */
export function memberProfiles(workspaces: { name: string; host: string }[], members: string[], newToken: () => string): MemberProfile[] {
  const local = (m: string) => m.split("@")[0];
  const shared = new Set(members.filter((m, i) => members.findIndex((x) => local(x) === local(m)) !== i).map(local));
  return workspaces.flatMap((w) =>
    members.map((member) => ({
      profile: `${w.name}-${shared.has(local(member)) ? member : local(member)}`,
      member,
      workspace: w.name,
      host: w.host,
      token: newToken(),
    })),
  );
}

/** A Databricks config file as the Databricks CLI and SDKs read it: one `[profile]` section with `host` and `token` each. */
export const databricksConfigText = (profiles: MemberProfile[]): string =>
  profiles.map((p) => `; ${p.member} on the ${p.workspace} workspace\n[${p.profile}]\nhost = ${p.host}\ntoken = ${p.token}\n`).join("\n");

/** Gives each member their token on the stand-ins and writes the config file (0600, in a fresh directory). */
function writeMemberProfiles(envs: LocalEnvironment[], members: string[]): { profiles: MemberProfile[]; configFile: string; dir: string } {
  const profiles = memberProfiles(
    envs.map((e) => ({ name: e.name, host: e.api.url })),
    members,
    () => `dapi-local-${crypto.randomBytes(12).toString("hex")}`,
  );
  for (const p of profiles)
    addMember(
      envs.find((e) => e.name === p.workspace)!,
      p.token,
      p.member,
    );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quant-local-env-"));
  const configFile = path.join(dir, "databrickscfg");
  fs.writeFileSync(configFile, databricksConfigText(profiles), { mode: 0o600 });
  fs.chmodSync(configFile, 0o600);
  return { profiles, configFile, dir };
}

/** Notebooks and files of the old workspace: SOURCE text as the Workspace API exports it. */
export const SEEDED_NOTEBOOKS: { path: string; type: "NOTEBOOK" | "FILE"; language?: "PYTHON" | "SQL" | "SCALA" | "R"; content: string }[] =
  [
    {
      path: "/Shared/quant/features",
      type: "NOTEBOOK",
      language: "PYTHON",
      content:
        "# Databricks notebook source\nimport pandas as pd\n\n# COMMAND ----------\n\ndef features(ticks: pd.DataFrame) -> pd.DataFrame:\n    return ticks.assign(ret=ticks.close.pct_change())\n",
    },
    {
      path: "/Shared/quant/reports/daily_pnl",
      type: "NOTEBOOK",
      language: "SQL",
      content: "-- Databricks notebook source\nSELECT book, sum(pnl) AS pnl FROM quant.trades GROUP BY book\n",
    },
    { path: "/Shared/quant/backtest", type: "NOTEBOOK", language: "SCALA", content: "// Databricks notebook source\nval window = 252\n" },
    { path: "/Shared/quant/config/thresholds.json", type: "FILE", content: '{"precision_min": 0.8, "holdout": "2019-2024"}\n' },
    // A file whose text looks like a notebook: it must stay a file.
    {
      path: "/Shared/quant/templates/notebook_header.py",
      type: "FILE",
      content: "# Databricks notebook source\n# a template kept as a plain file\n",
    },
    {
      path: "/Users/alice@quant.example/scratch",
      type: "NOTEBOOK",
      language: "R",
      content: "# Databricks notebook source\nsummary(cars)\n",
    },
  ];

/** How much more the old environment holds for rehearsing a whole move (`local-env --experiments N --models M --versions K`). */
export interface RehearsalSeed {
  /** Experiments `/Users/alice@quant.example/rehearsal-<i>`, each with `runs` runs. */
  experiments?: number;
  runs?: number;
  /** Models `rehearsal-model-<j>`, each with `versions` versions in different stages (newest Production, then Staging, Archived, None). */
  models?: number;
  versions?: number;
}

/** What the rehearsal seed put in the old environment. */
export interface RehearsalInfo {
  experiments: string[];
  models: { name: string; versions: { version: string; stage: string }[] }[];
  runs: number;
  bytes: number;
}

/** Where the rehearsal models' training runs live. */
export const REHEARSAL_MODELS_EXPERIMENT = "/Users/alice@quant.example/rehearsal-models";

/** The stage of version `v` of `k`: the newest Production, the one before Staging, then Archived, the rest None. */
export const rehearsalStage = (v: number, k: number): string => ["Production", "Staging", "Archived"][k - v] ?? "None";

/** A small MLmodel with the signature Unity Catalog requires, so the rehearsal models can go there too. */
const MLMODEL = `artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
    python_version: 3.11.0
signature:
  inputs: '[{"type": "double", "name": "close", "required": true}]'
  outputs: '[{"type": "double", "required": true}]'
`;

/**
 * Seeds the old environment's MLflow server through its REST API (fast: no Python): experiments with runs
 * (params, a metric history, tags, two small artifact files each) and models with versions in different stages,
 * each version's run holding its model files. Deterministic content, so a move can be compared byte for byte.
 */
export async function seedRehearsal(mlflowUrl: string, seed: RehearsalSeed): Promise<RehearsalInfo> {
  const ep = { uri: mlflowUrl, baseUrl: mlflowUrl, token: undefined, transport: "mlflow-artifacts" as const };
  const c = mlflowClient(ep);
  const t = transportFor(c);
  const info: RehearsalInfo = { experiments: [], models: [], runs: 0, bytes: 0 };
  const upload = async (runId: string, path: string, data: Buffer) => {
    await t.upload(await t.runRoot(runId, ""), path, Readable.from([data]), data.length);
    info.bytes += data.length;
  };
  const newRun = async (experimentId: string, name: string, i: number, files: [string, Buffer][]) => {
    const start = 1767225600000 + i * 60000;
    const run = await c.createRun(experimentId, name, start, [{ key: "mlflow.user", value: "alice@quant.example" }]);
    const id = run.info.run_id;
    await c.logBatch(id, {
      params: [
        { key: "lr", value: String(0.001 * (1 + (i % 5))) },
        { key: "window", value: String(20 + i) },
      ],
      metrics: Array.from({ length: 5 }, (_, step) => ({
        key: "precision",
        value: 0.5 + ((i * 7 + step) % 40) / 100,
        timestamp: start + step,
        step,
      })),
      tags: [{ key: "team", value: "quant" }],
    });
    for (const [p, data] of files) await upload(id, p, data);
    await c.updateRun(id, "FINISHED", start + 30000);
    info.runs++;
    return run;
  };
  const runs = seed.runs ?? 10;
  await forEachLimited(
    Array.from({ length: seed.experiments ?? 0 }, (_, i) => i + 1),
    4,
    async (e) => {
      const name = `/Users/alice@quant.example/rehearsal-${String(e).padStart(2, "0")}`;
      const id = await c.ensureExperiment(name);
      for (let r = 1; r <= runs; r++) {
        const text = `experiment ${e} run ${r}\n`.repeat(64 * r);
        await newRun(id, `run-${r}`, e * 100 + r, [
          ["metrics/summary.json", Buffer.from(JSON.stringify({ experiment: e, run: r, precision: 0.5 + r / 100 }))],
          ["reports/log.txt", Buffer.from(text)],
        ]);
      }
      info.experiments.push(name);
    },
  );
  const k = seed.versions ?? 3;
  if (seed.models) {
    const id = await c.ensureExperiment(REHEARSAL_MODELS_EXPERIMENT);
    for (let m = 1; m <= seed.models; m++) {
      const name = `rehearsal-model-${m}`;
      await c.ensureRegisteredModel(name);
      const versions: RehearsalInfo["models"][number]["versions"] = [];
      for (let v = 1; v <= k; v++) {
        const weights = Buffer.alloc(16384 * v, `${name} v${v} `);
        const run = await newRun(id, `${name}-v${v}`, m * 1000 + v, [
          ["model/MLmodel", Buffer.from(MLMODEL)],
          ["model/weights.bin", weights],
        ]);
        const mv = await c.createModelVersion({ name, source: `${run.info.artifact_uri}/model`, run_id: run.info.run_id, tags: [] });
        const stage = rehearsalStage(v, k);
        if (stage !== "None") await c.transitionStage(name, mv.version, stage);
        versions.push({ version: mv.version, stage });
      }
      info.models.push({ name, versions });
    }
  }
  info.experiments.sort();
  return info;
}

/**
 * The fixture registers its best version with an alias, as an OSS server allows; a workspace model registry
 * has stages instead. So in the old workspace the version is in stage Production and has no alias.
 */
async function asWorkspaceRegistry(mlflowUrl: string, model: string, version: string, alias: string, stage: string = STAGE): Promise<void> {
  // Through the project's MLflow client: its retries ride out a kept-alive connection the server closed
  // while the (synchronous) fixture ran.
  const mlflow = mlflowClient({ uri: mlflowUrl, baseUrl: mlflowUrl, token: undefined, transport: "mlflow-artifacts" });
  await mlflow.transitionStage(model, version, stage);
  await mlflow.deleteAlias(model, alias);
}

/**
 * The team's work around its models in the old workspace, made through its APIs as the team made it: the developers'
 * group (in both workspaces, with Alice, who owns the jobs), a secret scope the jobs read, a cluster policy and an
 * instance pool the developers use, the nightly training job (a job cluster under the policy, scheduled) and the
 * scoring job (on the pool, run when files arrive, running the training job first), both UNPAUSED and owned by Alice,
 * and a serving endpoint serving the registered model version.
 */
async function seedTeamWork(
  o: LocalEnvironment,
  n: LocalEnvironment,
  token: string,
  fixture: FixtureInfo,
): Promise<Record<string, Record<string, string>>> {
  const t = TEAM_WORK;
  for (const env of [o, n]) {
    const s = env.workspace.state;
    const alice = s.userByName(t.owner) ?? s.addUser(t.owner);
    const g = s.groupByName(t.group) ?? s.addGroup(t.group);
    g.members.add(alice.id);
  }
  const values = Object.fromEntries(
    ["vendor-api-key", "ticks-db-password"].map((k) => [k, `local-${crypto.randomBytes(9).toString("hex")}`]),
  );
  // Tables: the team's Delta prices (analysed), a Hive metastore table of positions, and a view over the prices.
  const tables = o.workspace.state;
  tables.addTable("main.quant.daily_prices", {
    properties: { "spark.sql.statistics.totalSize": String(3 * 2 ** 30), "spark.sql.statistics.numRows": "1200000" },
    columns: [
      { name: "d", type: "date" },
      { name: "ticker", type: "string" },
      { name: "close", type: "double" },
    ],
  });
  tables.addTable("hive_metastore.default.positions", { dataSourceFormat: "PARQUET", properties: { totalSize: "2048", numRows: "40" } });
  tables.addTable("main.quant.latest_prices", {
    tableType: "VIEW",
    viewDefinition: "SELECT * FROM main.quant.daily_prices WHERE d = current_date()",
  });
  o.api.secrets.scopes.set(t.secretScope, {
    name: t.secretScope,
    secrets: new Map(Object.entries(values).map(([k, v]) => [k, { value: Buffer.from(v), updated: Date.now() }])),
    acls: new Map([[t.group, "READ"]]),
  });
  const call = async (method: string, route: string, body?: unknown): Promise<Record<string, any>> => {
    const r = await fetch(`${o.workspace.url}${route}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await r.json()) as Record<string, any>;
    if (!r.ok) throw new Error(`seeding the old workspace: ${method} ${route} answered ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
  const grant = (type: string, id: string | number, acl: Record<string, string>[]) =>
    call("PUT", `/api/2.0/permissions/${type}/${id}`, { access_control_list: acl });
  const policy = (
    await call("POST", "/api/2.0/policies/clusters/create", {
      name: t.policy,
      definition: JSON.stringify({
        autotermination_minutes: { type: "fixed", value: 30 },
        "custom_tags.team": { type: "fixed", value: "quant" },
      }),
      max_clusters_per_user: 3,
    })
  ).policy_id;
  await grant("cluster-policies", policy, [{ group_name: t.group, permission_level: "CAN_USE" }]);
  const pool = (
    await call("POST", "/api/2.0/instance-pools/create", {
      instance_pool_name: t.pool,
      node_type_id: "m5d.large",
      min_idle_instances: 0,
      max_capacity: 8,
      idle_instance_autotermination_minutes: 15,
    })
  ).instance_pool_id;
  await grant("instance-pools", pool, [{ group_name: t.group, permission_level: "CAN_ATTACH_TO" }]);
  const train = (
    await call("POST", "/api/2.2/jobs/create", {
      name: t.jobs[0],
      schedule: { quartz_cron_expression: "0 30 1 * * ?", timezone_id: "Europe/London", pause_status: "UNPAUSED" },
      email_notifications: { on_failure: [t.owner] },
      parameters: [{ name: "metric", default: "precision" }],
      job_clusters: [
        {
          job_cluster_key: "train",
          new_cluster: { spark_version: "15.4.x-scala2.12", node_type_id: "m5d.xlarge", num_workers: 2, policy_id: policy },
        },
      ],
      tasks: [
        {
          task_key: "features",
          job_cluster_key: "train",
          notebook_task: { notebook_path: "/Shared/quant/features", base_parameters: { secret_scope: t.secretScope } },
          libraries: [{ pypi: { package: "transformers==4.44.0" } }],
        },
      ],
    })
  ).job_id;
  const score = (
    await call("POST", "/api/2.2/jobs/create", {
      name: t.jobs[1],
      trigger: { pause_status: "UNPAUSED", file_arrival: { url: "s3://quant-feeds/incoming/" } },
      tasks: [
        { task_key: "retrain", run_job_task: { job_id: train } },
        {
          task_key: "backtest",
          depends_on: [{ task_key: "retrain" }],
          new_cluster: { spark_version: "15.4.x-scala2.12", instance_pool_id: pool, num_workers: 1 },
          notebook_task: { notebook_path: "/Shared/quant/backtest" },
        },
      ],
    })
  ).job_id;
  for (const id of [train, score])
    await grant("jobs", id, [
      { user_name: t.owner, permission_level: "IS_OWNER" },
      { group_name: t.group, permission_level: "CAN_MANAGE_RUN" },
    ]);
  const served = `${fixture.model}-${fixture.version}`;
  const endpoint = await call("POST", "/api/2.0/serving-endpoints", {
    name: t.endpoint,
    config: {
      served_entities: [
        { name: served, entity_name: fixture.model, entity_version: fixture.version, workload_size: "Small", scale_to_zero_enabled: true },
      ],
      traffic_config: { routes: [{ served_entity_name: served, traffic_percentage: 100 }] },
    },
    tags: [{ key: "team", value: "quant" }],
    description: "quant-alpha's production scorer",
    ai_gateway: {
      rate_limits: [{ calls: 600, renewal_period: "minute", key: "user" }],
      usage_tracking_config: { enabled: true },
    },
  });
  await grant("serving-endpoints", endpoint.id, [{ group_name: t.group, permission_level: "CAN_QUERY" }]);
  return { [t.secretScope]: values };
}

/**
 * One stand-in, empty: a real MLflow server behind a Databricks test workspace over plain HTTP, the workspace API and
 * the control plane (SCIM, Permissions) as the local platform has them, without its permission gates: here one person
 * acts as every member (stop: `stop()`, then `mlflow.dispose()`).
 */
export async function startEnvironment(name: string, token: string): Promise<LocalEnvironment> {
  const mlflow = await MlflowServer.create(name);
  await mlflow.start();
  const workspace = new WorkspaceServer(name, token, mlflow, undefined, { adminUserName: DEFAULT_USER, enforce: false });
  await workspace.start();
  return { name, mlflow, api: workspace.mlflowApi, workspace, uri: `databricks+${workspace.url}`, stop: () => workspace.stop() };
}

/** A member of a stand-in: their token on both APIs, and a SCIM user (jobs, secrets and ACLs name them). */
export function addMember(env: LocalEnvironment, token: string, email: string): void {
  const u = env.workspace.state.userByName(email) ?? env.workspace.state.addUser(email);
  env.workspace.state.tokens.set(token, u.id);
  env.api.addUser(token, email);
}

/** Starts the emulator a store kind needs (stopped by the returned function), or takes the storage given. */
async function ucStorage(choice: "azure" | "s3" | UcStorage): Promise<{ storage: UcStorage; stop(): Promise<void> }> {
  if (typeof choice !== "string") return { storage: choice, stop: async () => undefined };
  if (choice === "azure") {
    const azurite: AzuriteHandle = await startAzurite();
    return { storage: { kind: "azure", azurite }, stop: () => azurite.stop() };
  }
  const moto: MotoHandle = await startMoto();
  return { storage: { kind: "s3", moto }, stop: () => moto.stop() };
}

/**
 * Starts the old and new environments and seeds the old one. `unityCatalog`: also a Unity Catalog registry in
 * the new workspace, on a fresh Azurite (`azure`) or moto (`s3`), stopped with the rest, or on the storage given
 * (left running).
 */
export async function startLocalEnvironments(
  opts: {
    sizeMb?: number;
    unityCatalog?: "azure" | "s3" | UcStorage;
    members?: string[];
    rehearsal?: RehearsalSeed;
    /**
     * Seed the team's work around its models (TEAM_WORK: jobs, a policy, a pool, a secret scope, a serving endpoint,
     * an MLflow 3 logged model with a registered version). Default: yes, but not with `unityCatalog` (its rehearsal
     * is the model's move into Unity Catalog, and versions registered from logged models do not go there yet).
     */
    teamWork?: boolean;
  } = {},
): Promise<LocalEnvironments> {
  const token = `dapi-local-${crypto.randomBytes(8).toString("hex")}`;
  const settled = await Promise.allSettled([
    startEnvironment("old", token),
    startEnvironment("new", token),
    opts.unityCatalog ? ucStorage(opts.unityCatalog) : undefined,
  ]);
  const value = <T>(r: PromiseSettledResult<T>) => (r.status === "fulfilled" ? r.value : undefined);
  const [o, n, store] = [value(settled[0]), value(settled[1]), value(settled[2])];
  let written: ReturnType<typeof writeMemberProfiles> | undefined;
  let vaultDir: string | undefined;
  // Whatever started is stopped again, also when another part failed to start.
  const stop = async () => {
    await Promise.all([o?.stop(), n?.stop()]);
    await Promise.all([o?.mlflow.dispose(), n?.mlflow.dispose(), store?.stop()]);
    if (written) fs.rmSync(written.dir, { recursive: true, force: true });
    if (vaultDir) fs.rmSync(vaultDir, { recursive: true, force: true });
  };
  if (!o || !n || settled[2].status === "rejected") {
    await stop();
    throw settled.map((r) => (r.status === "rejected" ? r.reason : undefined)).find((e) => e);
  }
  try {
    let uc: LocalUnityCatalog | undefined;
    if (store) {
      const state = new ControlPlaneState({ token });
      state.ucSchemas.add(LOCAL_UC_SCHEMA);
      const registry = new UcRegistryApi({ storage: store.storage, state });
      await registry.ensureStore();
      n.api.ucRegistry = registry;
      uc = { uri: `databricks-uc+${n.api.url}`, schema: LOCAL_UC_SCHEMA, storage: store.storage, env: storeEnv(store.storage), registry };
    }
    const fixture = seedFixture(o.mlflow, "quant-alpha-transformer", {
      sizeMb: opts.sizeMb ?? 4,
      layout: "run",
      shards: 3,
      experiment: EXPERIMENT,
      signature: true,
    });
    await asWorkspaceRegistry(o.mlflow.url, fixture.model, fixture.version, fixture.alias);
    let team: Pick<LocalEnvironments, "loggedModel" | "vault" | "vaultFile"> | undefined;
    if (opts.teamWork ?? !opts.unityCatalog) {
      const lm = TEAM_WORK.loggedModel;
      const loggedModel = seedFixture(o.mlflow, lm.model, {
        sizeMb: 1,
        layout: "logged",
        shards: 2,
        experiment: lm.experiment,
        signature: true,
      });
      await asWorkspaceRegistry(o.mlflow.url, loggedModel.model, loggedModel.version, loggedModel.alias, lm.stage);
      const vault = await seedTeamWork(o, n, token, fixture);
      vaultDir = fs.mkdtempSync(path.join(os.tmpdir(), "quant-local-vault-"));
      const vaultFile = path.join(vaultDir, "vault.json");
      fs.writeFileSync(vaultFile, JSON.stringify(vault, null, 2), { mode: 0o600 });
      team = { loggedModel, vault, vaultFile };
    }
    const rehearsal = opts.rehearsal ? await seedRehearsal(o.mlflow.url, opts.rehearsal) : undefined;
    for (const nb of SEEDED_NOTEBOOKS) o.api.workspace.put(nb.path, nb.type, nb.content, nb.language);
    o.api.workspace.put("/Repos/alice@quant.example/quant-research", "REPO");
    n.api.workspace.put("/Shared", "DIRECTORY");
    n.api.workspace.put("/Users/alice@quant.example", "DIRECTORY");
    if (opts.members?.length) written = writeMemberProfiles([o, n], opts.members);
    return {
      old: o,
      new: n,
      token,
      fixture,
      ...team,
      ...(rehearsal ? { rehearsal } : {}),
      ...(uc ? { uc } : {}),
      profiles: written?.profiles ?? [],
      ...(written ? { configFile: written.configFile } : {}),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
