/**
 * Lists what an environment holds: registered models and versions (stage, aliases, files, bytes),
 * experiments (runs, artifact bytes) and, for a Databricks workspace, notebooks and files under --paths,
 * noting the Git folders (they move through Git).
 * Exit 0: listed. 1: the source could not be read. 2: usage error.
 */
import { resolveEndpoint } from "../migration/endpoint";
import { renderInventory, takeInventory } from "../migration/inventory";
import { Command, parseArgs, UsageError } from "./command";

const USAGE = `usage: quant-platform inventory --from <tracking-uri | workspace> [--paths <path>[,<path>...]] [--model <name>[,...]]
         [--experiment <name>[,...]] [--hashes] [--json]

Lists what an environment holds: registered models and versions (stage, aliases, files, bytes), experiments
(runs, artifact bytes) and, for a Databricks workspace, notebooks and files under --paths.
  --from        http(s)://<mlflow server>, https://<workspace>, databricks://<profile> or databricks+http://host:port
  --paths       workspace folders to list (Databricks only)
  --model       only these models;  --experiment  only these experiments
  --hashes      hash every file (slow; what verify-move compares)
  --json        JSON instead of text
Tokens: MLFLOW_TRACKING_TOKEN / DATABRICKS_TOKEN / MIGRATE_FROM_TOKEN, or databricks://<profile>.
Exit 0: listed; 1: the source could not be read; 2: usage error.`;

/** Splits a comma-separated option; undefined when absent. */
export const listOption = (v: string | true | undefined): string[] | undefined =>
  typeof v === "string"
    ? v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean)
    : undefined;

export async function inventoryCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const a = parseArgs(argv, ["from", "paths", "model", "experiment"], ["json", "hashes"]);
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
  const inv = await takeInventory({
    endpoint,
    paths,
    models: listOption(a.model),
    experiments: listOption(a.experiment),
    hashes: !!a.hashes,
  });
  out(a.json ? JSON.stringify(inv, null, 2) : renderInventory(inv));
  return 0;
}

export const command: Command = { name: "inventory", usage: USAGE, run: (argv) => inventoryCli(argv, process.env, (s) => console.log(s)) };
