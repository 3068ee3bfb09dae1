/**
 * Turns a tracking URI into an endpoint: base URL, token and artifact transport, decided once here.
 * Tokens come only from the environment or a Databricks config profile, never from the command line.
 *
 *   http://127.0.0.1:5000                  OSS tracking server (token: MLFLOW_TRACKING_TOKEN, if any)
 *   https://<ws>.cloud.databricks.com      Databricks workspace (token: DATABRICKS_TOKEN)
 *   databricks://<profile>                 host and token from ~/.databrickscfg (or DATABRICKS_CONFIG_FILE)
 *   databricks+http://127.0.0.1:8000       the Databricks API at a plain-HTTP address (test servers)
 *   databricks-uc://<profile>, databricks-uc+https://<ws>, databricks-uc+http://127.0.0.1:8000
 *                                          the same workspace, with its Unity Catalog model registry
 *                                          (MLflow's `databricks-uc` registry URI)
 * MIGRATE_FROM_TOKEN / MIGRATE_TO_TOKEN override the token of each side.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Endpoint } from "../clients/mlflow";
import { redact } from "../clients/http";

const DATABRICKS_HOST = /(^|\.)(cloud\.databricks\.com|azuredatabricks\.net|gcp\.databricks\.com|databricks\.azure\.cn)$/;

/** Reads one profile of a Databricks config file (INI). */
export function databricksProfile(name: string, file: string): { host?: string; token?: string } {
  if (!fs.existsSync(file)) throw new Error(`Databricks config file ${file} does not exist (profile '${name}')`);
  let current: string | undefined;
  const out: Record<string, string> = {};
  for (const raw of fs.readFileSync(file, "utf8").split(/\r?\n/)) {
    const line = raw.trim();
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = section[1].trim();
      continue;
    }
    const kv = /^([^=#;]+?)\s*=\s*(.*)$/.exec(line);
    if (kv && current === name) out[kv[1].trim()] = kv[2].trim();
  }
  if (current === undefined || Object.keys(out).length === 0) throw new Error(`profile '${name}' not found in ${file}`);
  return { host: out.host, token: out.token };
}

/** Credentials or secrets in the URI itself: refused, and never repeated in the message. */
function refuseSecretsIn(uri: string): void {
  const authority = /^[^:/?#]*:\/\/([^/?#]*)/.exec(uri)?.[1] ?? /^databricks:([^/]*@)/.exec(uri)?.[1] ?? "";
  if (authority.includes("@"))
    throw new Error(`'${redact(uri)}' carries credentials in the URI; pass tokens through the environment or a Databricks profile`);
  if (/[?#]/.test(uri))
    throw new Error(
      `'${redact(uri)}' has a query string or fragment, which may hold a secret; give the server's address only and pass tokens through the environment or a Databricks profile`,
    );
}

export function resolveEndpoint(uri: string, side: "from" | "to", env: NodeJS.ProcessEnv = process.env): Endpoint {
  const uc = /^databricks-uc(?=$|:|\+)/.exec(uri);
  if (uc) {
    const ws = resolveEndpoint(`databricks${uri.slice("databricks-uc".length)}`, side, env);
    return { ...ws, uri, registry: "unity-catalog" };
  }
  const override = env[side === "from" ? "MIGRATE_FROM_TOKEN" : "MIGRATE_TO_TOKEN"] || undefined;
  refuseSecretsIn(uri);
  const profile = /^databricks(?::\/\/(.*))?$/.exec(uri);
  if (profile) {
    const name = profile[1] || env.DATABRICKS_CONFIG_PROFILE || "DEFAULT";
    const p = databricksProfile(name, env.DATABRICKS_CONFIG_FILE || path.join(os.homedir(), ".databrickscfg"));
    if (!p.host) throw new Error(`profile '${name}' has no host`);
    return { uri, baseUrl: p.host.replace(/\/+$/, ""), token: override ?? p.token, transport: "databricks" };
  }
  const plain = /^databricks\+(https?:\/\/.+)$/.exec(uri);
  if (plain) return { uri, baseUrl: plain[1].replace(/\/+$/, ""), token: override ?? env.DATABRICKS_TOKEN, transport: "databricks" };
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new Error(
      `'${redact(uri)}' is not a tracking URI; expected http(s)://host[:port], databricks://<profile>, databricks+http://host:port, or databricks-uc... for a Unity Catalog registry`,
    );
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new Error(
      `'${redact(uri)}' is not a tracking URI; expected http(s)://host[:port], databricks://<profile>, databricks+http://host:port, or databricks-uc... for a Unity Catalog registry`,
    );
  if (u.username || u.password)
    throw new Error(`'${redact(uri)}' carries credentials in the URI; pass tokens through the environment or a Databricks profile`);
  const baseUrl = uri.replace(/\/+$/, "");
  return DATABRICKS_HOST.test(u.hostname)
    ? { uri, baseUrl, token: override ?? env.DATABRICKS_TOKEN, transport: "databricks" }
    : { uri, baseUrl, token: override ?? env.MLFLOW_TRACKING_TOKEN, transport: "mlflow-artifacts" };
}
