/**
 * Proves a move: compares the source and target inventories, every artifact, run and notebook hashed.
 * Exit 0: every model version, run and notebook of the source is in the target, byte-identical.
 * 3: differences (listed). 1: a side could not be read. 2: usage error.
 */
import { resolveEndpoint } from "../migration/endpoint";
import { renderVerification, verifyMove } from "../migration/verifyMove";
import { Command, parseArgs, UsageError } from "./command";
import { listOption } from "./inventory";

const USAGE = `usage: quant-platform verify-move --from <uri> --to <uri> [--paths <path>[,...]] [--model <name>[,...]]
         [--experiment <name>[,...]] [--json]

Proves a move: every model version, run and notebook of the source is in the target, byte-identical.
  --from, --to  the two environments (see 'quant-platform inventory --help' for the forms)
  --paths       workspace folders to compare (Databricks only)
  --model       only these models;  --experiment  only these experiments
  --json        JSON instead of text
Exit 0: identical; 3: differences (listed); 1: a side could not be read; 2: usage error.`;

export async function verifyMoveCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const a = parseArgs(argv, ["from", "to", "paths", "model", "experiment"], ["json"]);
  for (const k of ["from", "to"]) if (typeof a[k] !== "string") throw new UsageError(`--${k} is required`);
  let from, to;
  try {
    from = resolveEndpoint(a.from as string, "from", env);
    to = resolveEndpoint(a.to as string, "to", env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const paths = listOption(a.paths);
  if (paths && (from.transport !== "databricks" || to.transport !== "databricks"))
    throw new UsageError("--paths compares workspace notebooks, which only Databricks workspaces have");
  const v = await verifyMove({ from, to, paths, models: listOption(a.model), experiments: listOption(a.experiment) });
  out(a.json ? JSON.stringify(v, null, 2) : renderVerification(v));
  return v.differences.length ? 3 : 0;
}

export const command: Command = {
  name: "verify-move",
  usage: USAGE,
  run: (argv) => verifyMoveCli(argv, process.env, (s) => console.log(s)),
};
