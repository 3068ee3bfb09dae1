/**
 * Lists what an environment holds: registered models and versions (stage, aliases, files, bytes),
 * experiments (runs, artifact bytes) and, for a Databricks workspace, notebooks and files under --paths,
 * noting the Git folders (they move through Git). Against a Unity Catalog registry, its models.
 * Exit 0: listed. 1: the source could not be read. 2: usage error.
 */
import { settingsFrom } from "../clients/cloudStores";
import { StoreSettings } from "../clients/objectStore";
import { resolveEndpoint } from "../migration/endpoint";
import { renderInventory, takeInventory, UC_SCHEMA } from "../migration/inventory";
import { Command, parseArgs, UsageError } from "./command";

const USAGE = `usage: quant-platform inventory --from <tracking-uri | workspace> [--paths <path>[,<path>...]] [--model <name>[,...]]
         [--experiment <name>[,...]] [--uc-schema <catalog>.<schema>] [--hashes] [--json]

Lists what an environment holds: registered models and versions (stage, aliases, files, bytes), experiments
(runs, artifact bytes) and, for a Databricks workspace, notebooks and files under --paths, secret scopes (keys and
ACLs), cluster policies, instance pools, jobs, and the catalogs, schemas and tables with their sizes.
  --from        http(s)://<mlflow server>, https://<workspace>, databricks://<profile> or databricks+http://host:port;
                databricks-uc://<profile>, databricks-uc+https://<workspace> (or +http://host:port) for the
                workspace's Unity Catalog registry: its models (<catalog>.<schema>.<model>, aliases, no stages),
                whose files are read at each version's storage location with temporary credentials
  --paths       workspace folders to list (Databricks only)
  --model       only these models;  --experiment  only these experiments
  --uc-schema   Unity Catalog: only the models of this catalog and schema (e.g. main.quant)
  --hashes      hash every file (slow; what verify-move compares)
  --json        JSON instead of text
Tokens: MLFLOW_TRACKING_TOKEN / DATABRICKS_TOKEN / MIGRATE_FROM_TOKEN, or databricks://<profile>.
Cloud-store endpoints (emulators): STORAGE_S3_ENDPOINT, STORAGE_AZURE_BLOB_ENDPOINT (http://host:port/{account}).
Exit 0: listed; 1: the source could not be read; 2: usage error.`;

/** Splits a comma-separated option; undefined when absent. */
export const listOption = (v: string | true | undefined): string[] | undefined =>
  typeof v === "string"
    ? v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean)
    : undefined;

/**
 * The cloud-store endpoints `env` sets (STORAGE_S3_ENDPOINT and the like, STORAGE_AZURE_BLOB_ENDPOINT), for
 * reading Unity Catalog files on emulators; an invalid value is a usage error naming it.
 */
export function storeEndpoints(env: NodeJS.ProcessEnv): Partial<StoreSettings> {
  let s: StoreSettings;
  try {
    s = settingsFrom({}, env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    ...(s.s3Endpoint ? { s3Endpoint: s.s3Endpoint } : {}),
    ...(s.azureBlobEndpoint ? { azureBlobEndpoint: s.azureBlobEndpoint } : {}),
  };
}

export async function inventoryCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const a = parseArgs(argv, ["from", "paths", "model", "experiment", "uc-schema"], ["json", "hashes"]);
  if (typeof a.from !== "string") throw new UsageError("--from is required");
  let endpoint;
  try {
    endpoint = resolveEndpoint(a.from, "from", env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const paths = listOption(a.paths);
  if (paths && endpoint.transport !== "databricks")
    throw new UsageError(
      `--paths lists workspace notebooks, which only a Databricks workspace has; ${a.from} is an MLflow tracking server`,
    );
  const ucSchema = a["uc-schema"] as string | undefined;
  if (ucSchema !== undefined) {
    if (endpoint.registry !== "unity-catalog")
      throw new UsageError(
        `--uc-schema selects Unity Catalog models; ${a.from} is not a Unity Catalog registry (give databricks-uc://<profile> or databricks-uc+https://<workspace>)`,
      );
    if (!UC_SCHEMA.test(ucSchema)) throw new UsageError(`--uc-schema '${ucSchema}' is not <catalog>.<schema> (for example main.quant)`);
  }
  const inv = await takeInventory({
    endpoint,
    paths,
    models: listOption(a.model),
    experiments: listOption(a.experiment),
    ucSchema,
    hashes: !!a.hashes,
    storeSettings: storeEndpoints(env),
    // A workspace's secret scopes (keys, never values), policies, pools, jobs and tables: what move plans.
    ...(endpoint.transport === "databricks"
      ? {
          secretScopes: "all" as const,
          clusterPolicies: "all" as const,
          instancePools: "all" as const,
          jobs: "all" as const,
          servingEndpoints: "all" as const,
          tables: true,
        }
      : {}),
  });
  out(a.json ? JSON.stringify(inv, null, 2) : renderInventory(inv));
  return 0;
}

export const command: Command = { name: "inventory", usage: USAGE, run: (argv) => inventoryCli(argv, process.env, (s) => console.log(s)) };
