/**
 * The status command: a model's lifecycle in one workspace at a glance, read live. A thin shell over
 * migration/status.ts: resolve the workspace, load the scope from the config when --stack is given, read,
 * judge, render.
 */
import { resolveEndpoint } from "../migration/endpoint";
import { judgeStatus, readStatus, renderStatus, statusScope, StatusScope } from "../migration/status";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform status --model <name> --from <workspace> [--stack <stack>] [--dir <project dir>] [--json]

Shows every version of the model that is not archived: its stage and author, how it was selected, where it
came from, its manifest digest, its validation runs, the open transition requests (sign-offs and approvals),
and what it still lacks for its next step. The evidence is judged as the production gate judges it.
  --from     the workspace: databricks://<profile>, databricks+https://<host>, https://<workspace> (DATABRICKS_TOKEN,
             or MIGRATE_FROM_TOKEN), databricks+http://host:port
  --stack    the stack the workspace is (e.g. quant_stg): with the project's config, say where the model goes next
             and judge the evidence that step needs; without it, the versions are listed and nothing is judged
  --dir      the project directory (default: the one holding Pulumi.yaml)
  --json     the report as JSON
Tokens come only from the environment or a Databricks config profile, never from the command line.
Exit 0: shown; 1: failed (e.g. the model does not exist in the workspace); 2: usage error.`;

/** The CLI as a function of its arguments and environment. */
export async function statusCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const a = parseArgs(argv, ["model", "from", "stack", "dir"], ["json"]);
  for (const k of ["model", "from"]) if (typeof a[k] !== "string") throw new UsageError(`--${k} is required`);
  if (a.dir !== undefined && a.stack === undefined) throw new UsageError("--dir goes with --stack");
  let from;
  try {
    from = resolveEndpoint(a.from as string, "from", env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let scope: StatusScope | undefined;
  if (typeof a.stack === "string") {
    const { readConfigSources } = await import("../config/load");
    const { validate } = await import("../config/validate");
    const config = validate(readConfigSources(typeof a.dir === "string" ? a.dir : projectDir()));
    try {
      scope = statusScope(config, a.model as string, a.stack);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const report = judgeStatus(await readStatus(from, a.model as string, scope), scope);
  out(a.json ? JSON.stringify(report, null, 2) : renderStatus(report));
  return 0;
}

export const command: Command = {
  name: "status",
  usage: USAGE,
  run: (argv) => statusCli(argv, process.env, (s) => console.log(s)),
};
