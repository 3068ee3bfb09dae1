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
import { DatabricksTestServer } from "./databricks/databricksServer";
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
  api: DatabricksTestServer;
  uri: string;
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

export interface LocalEnvironments {
  old: LocalEnvironment;
  new: LocalEnvironment;
  token: string;
  fixture: FixtureInfo;
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
  for (const p of profiles) envs.find((e) => e.name === p.workspace)!.api.addUser(p.token, p.member);
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
async function asWorkspaceRegistry(mlflowUrl: string, model: string, version: string, alias: string): Promise<void> {
  // Through the project's MLflow client: its retries ride out a kept-alive connection the server closed
  // while the (synchronous) fixture ran.
  const mlflow = mlflowClient({ uri: mlflowUrl, baseUrl: mlflowUrl, token: undefined, transport: "mlflow-artifacts" });
  await mlflow.transitionStage(model, version, STAGE);
  await mlflow.deleteAlias(model, alias);
}

/** One stand-in, empty: a real MLflow server behind the Databricks API test server (stop: `api.stop()`, `mlflow.dispose()`). */
export async function startEnvironment(name: string, token: string): Promise<LocalEnvironment> {
  const mlflow = await MlflowServer.create(name);
  await mlflow.start();
  const api = new DatabricksTestServer(mlflow.url, token, "backend");
  await api.start();
  return { name, mlflow, api, uri: `databricks+${api.url}` };
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
  opts: { sizeMb?: number; unityCatalog?: "azure" | "s3" | UcStorage; members?: string[]; rehearsal?: RehearsalSeed } = {},
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
  // Whatever started is stopped again, also when another part failed to start.
  const stop = async () => {
    await Promise.all([o?.api.stop(), n?.api.stop()]);
    await Promise.all([o?.mlflow.dispose(), n?.mlflow.dispose(), store?.stop()]);
    if (written) fs.rmSync(written.dir, { recursive: true, force: true });
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
