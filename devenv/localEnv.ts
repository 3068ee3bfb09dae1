/**
 * Two local stand-ins for Databricks environments, "old" and "new", for trying the environment move
 * (docs/moving-an-environment.md) on one machine. Each is a real MLflow server behind the in-repo
 * Databricks API test server (MLflow REST API, signed-URL artifact store, Workspace API). The old one is
 * seeded like the team's workspace: the experiment /Users/alice@quant.example/quant-alpha (a workspace
 * path, as Databricks names experiments) with three training runs compared by
 * precision, the best registered in stage Production (a workspace registry has no aliases), notebooks and files under /Shared and /Users, and a Git
 * folder under /Repos.
 */
import * as crypto from "crypto";
import { MlflowServer, seedFixture, FixtureInfo } from "./localMlflow";
import { DatabricksTestServer } from "./databricksServer";
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
export interface LocalEnvironments {
  old: LocalEnvironment;
  new: LocalEnvironment;
  token: string;
  fixture: FixtureInfo;
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

export async function startLocalEnvironments(opts: { sizeMb?: number } = {}): Promise<LocalEnvironments> {
  const token = `dapi-local-${crypto.randomBytes(8).toString("hex")}`;
  const [o, n] = await Promise.all([environment("old", token), environment("new", token)]);
  const stop = async () => {
    await Promise.all([o.api.stop(), n.api.stop()]);
    await Promise.all([o.mlflow.dispose(), n.mlflow.dispose()]);
  };
  try {
    const fixture = seedFixture(o.mlflow, "quant-alpha-transformer", {
      sizeMb: opts.sizeMb ?? 4,
      layout: "run",
      shards: 3,
      experiment: EXPERIMENT,
    });
    await asWorkspaceRegistry(o.mlflow.url, fixture.model, fixture.version, fixture.alias);
    for (const nb of SEEDED_NOTEBOOKS) o.api.workspace.put(nb.path, nb.type, nb.content, nb.language);
    o.api.workspace.put("/Repos/alice@quant.example/quant-research", "REPO");
    n.api.workspace.put("/Shared", "DIRECTORY");
    n.api.workspace.put("/Users/alice@quant.example", "DIRECTORY");
    return { old: o, new: n, token, fixture, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
