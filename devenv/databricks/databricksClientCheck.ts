/**
 * MLflow's own Databricks client as the judge of the Databricks test server: runs
 * devenv/python/download_databricks.py with DATABRICKS_HOST / DATABRICKS_TOKEN pointed at a server.
 * Asynchronous on purpose: the test server answers from this process, so a synchronous child would
 * deadlock it.
 */
import { spawn } from "child_process";
import * as path from "path";
import { PROJECT_DIR, VENV_BIN } from "../localMlflow";

export interface DownloadedFile {
  path: string;
  size: number;
  sha256: string;
}

/** Runs download_databricks.py with the given arguments; stdout parsed as JSON. */
export function databricksClient(
  server: { url: string },
  token: string,
  args: string[],
  timeoutMs = 600000,
  /** More environment, e.g. MLFLOW_S3_ENDPOINT_URL for a Unity Catalog version's store (devenv/databricks/ucRegistryApi storeEnv). */
  env: Record<string, string> = {},
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const p = spawn(path.join(VENV_BIN, "python"), [path.join(PROJECT_DIR, "devenv/python/download_databricks.py"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        DATABRICKS_HOST: server.url,
        DATABRICKS_TOKEN: token,
        DATABRICKS_CONFIG_FILE: "/dev/null",
        DATABRICKS_CONFIG_PROFILE: "",
        MLFLOW_ENABLE_TELEMETRY: "false",
        DO_NOT_TRACK: "true",
        ...env,
      },
    });
    let out = "";
    let err = "";
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.stdout.on("data", (c) => {
      out += c;
    });
    p.stderr.on("data", (c) => {
      err += c;
    });
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0)
        return reject(new Error(`download_databricks.py ${args.join(" ")} failed (${signal ?? `exit ${code}`}):\n${err.slice(-3000)}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`download_databricks.py printed no JSON:\n${out.slice(-2000)}\n${err.slice(-2000)}`));
      }
    });
  });
}

/** A model version as MLflow's Databricks client downloads it: path, size and sha256 of every file. */
export async function downloadWithDatabricksClient(
  server: { url: string },
  token: string,
  model: string,
  version: string,
): Promise<DownloadedFile[]> {
  return (await databricksClient(server, token, ["--model", model, "--version", version])) as DownloadedFile[];
}
