/**
 * Lists what an environment holds: registered models and versions (stage, aliases, files, bytes),
 * experiments (runs, artifact bytes) and, for a Databricks workspace, notebooks and files under --paths,
 * noting the Git folders (they move through Git).
 *   npm run inventory -- --from <tracking-uri | workspace> [--paths /Shared,/Users/a@b.c] [--model a,b] [--experiment e,f] [--hashes] [--json]
 * Exit 0: listed. 1: the source could not be read. 2: usage error.
 */
import { resolveEndpoint } from "../migration/endpoint";
import { renderInventory, takeInventory } from "../migration/inventory";
import { parseArgs, runMain, UsageError } from "./cli";

const USAGE = "usage: npm run inventory -- --from <tracking-uri | workspace> [--paths <path>[,<path>...]] [--model <name>[,...]] [--experiment <name>[,...]] [--hashes] [--json]";

/** Splits a comma-separated option; undefined when absent. */
export const listOption = (v: string | true | undefined): string[] | undefined => (typeof v === "string" ? v.split(",").map((x) => x.trim()).filter(Boolean) : undefined);

export async function inventoryCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const a = parseArgs(argv, ["from", "paths", "model", "experiment"], ["json", "hashes"]);
  if (typeof a.from !== "string") throw new UsageError("--from is required");
  let endpoint;
  try { endpoint = resolveEndpoint(a.from, "from", env); } catch (e) { throw new UsageError((e as Error).message); }
  const paths = listOption(a.paths);
  if (paths && endpoint.transport !== "databricks") throw new UsageError(`--paths lists workspace notebooks, which only a Databricks workspace has; ${a.from} is an MLflow tracking server`);
  const inv = await takeInventory({ endpoint, paths, models: listOption(a.model), experiments: listOption(a.experiment), hashes: !!a.hashes });
  out(a.json ? JSON.stringify(inv, null, 2) : renderInventory(inv));
  return 0;
}

if (require.main === module) runMain(USAGE, () => inventoryCli(process.argv.slice(2), process.env, (s) => console.log(s)));
