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
 */
import * as crypto from "crypto";
import { MlflowServer, seedFixture, FixtureInfo } from "./localMlflow";
import { DatabricksTestServer } from "./databricksServer";
import { AzuriteHandle, MotoHandle, startAzurite, startMoto } from "./cloudEmulators";
import { ControlPlaneState } from "./controlPlaneState";
import { storeEnv, UcRegistryApi, UcStorage } from "./ucRegistryApi";
import { mlflowClient } from "../clients/mlflow";

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
  uc?: LocalUnityCatalog;
  stop(): Promise<void>;
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

async function environment(name: string, token: string): Promise<LocalEnvironment> {
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
  opts: { sizeMb?: number; unityCatalog?: "azure" | "s3" | UcStorage } = {},
): Promise<LocalEnvironments> {
  const token = `dapi-local-${crypto.randomBytes(8).toString("hex")}`;
  const settled = await Promise.allSettled([
    environment("old", token),
    environment("new", token),
    opts.unityCatalog ? ucStorage(opts.unityCatalog) : undefined,
  ]);
  const value = <T>(r: PromiseSettledResult<T>) => (r.status === "fulfilled" ? r.value : undefined);
  const [o, n, store] = [value(settled[0]), value(settled[1]), value(settled[2])];
  // Whatever started is stopped again, also when another part failed to start.
  const stop = async () => {
    await Promise.all([o?.api.stop(), n?.api.stop()]);
    await Promise.all([o?.mlflow.dispose(), n?.mlflow.dispose(), store?.stop()]);
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
    for (const nb of SEEDED_NOTEBOOKS) o.api.workspace.put(nb.path, nb.type, nb.content, nb.language);
    o.api.workspace.put("/Repos/alice@quant.example/quant-research", "REPO");
    n.api.workspace.put("/Shared", "DIRECTORY");
    n.api.workspace.put("/Users/alice@quant.example", "DIRECTORY");
    return { old: o, new: n, token, fixture, ...(uc ? { uc } : {}), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
