/**
 * The consumer's sign-off: a transition request to Production on the workspace registry, raised with the
 * consumer's own credentials and naming the validation run (python/quant_lifecycle sign_off, as from a notebook).
 * Exit 0: requested. 1: refused or failed (nothing requested). 2: usage error.
 */
import { resolveEndpoint } from "../migration/endpoint";
import { Command, parseArgs, UsageError } from "./command";
import { lifecycleEnv, pythonError, runLifecycle } from "./validate";

const USAGE = `usage: quant-platform sign-off --model <name> --version <n> --run <validation run id> --from <workspace>
         [--to-env quant_lr] [--stage Production] [--json]

Signs off a validated version for production as the consumer: a transition request to --stage on the
Databricks workspace registry, with the comment 'validated: run <run id>; signed off for <to-env>'. The
registry records who raised it from the token, which is what the production gate reads. Refused (nothing
requested) unless the run is a passed validation of this model version.
  --from     the workspace: databricks://<profile>, https://<workspace> (DATABRICKS_TOKEN) or databricks+http://host:port
  --run      the validation run ('quant-platform validate' prints it)
  --to-env   the production environment signed off for (default quant_lr)
  --stage    the registry stage requested (default Production)
  --json     the request as the registry recorded it, as JSON
Exit 0: requested; 1: refused or failed; 2: usage error.`;

interface SignOffResult {
  model: string;
  version: string;
  stage: string;
  comment: string;
  run_id: string;
  request: { user_id?: string; creation_timestamp?: number };
}

export async function signOffCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  // --dir is taken like every project command's, though a sign-off reads no configuration.
  const a = parseArgs(argv, ["model", "version", "run", "from", "to-env", "stage", "dir"], ["json"]);
  for (const k of ["model", "version", "run", "from"]) if (typeof a[k] !== "string") throw new UsageError(`--${k} is required`);
  let pyEnv: NodeJS.ProcessEnv;
  try {
    const ep = resolveEndpoint(a.from as string, "from", env);
    if (ep.transport !== "databricks" || ep.registry === "unity-catalog")
      throw new Error(
        `a sign-off is a transition request, which only a Databricks workspace registry records; '${a.from}' is not one (on Unity Catalog the consumer approves the promotion's merge request)`,
      );
    pyEnv = lifecycleEnv(a.from as string, env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const toEnv = typeof a["to-env"] === "string" ? a["to-env"] : "quant_lr";
  const stage = typeof a.stage === "string" ? a.stage : "Production";
  const args = ["sign-off", "--model", a.model, "--version", a.version, "--run", a.run, "--to-env", toEnv, "--stage", stage] as string[];
  const { code, result, stderr } = await runLifecycle(args, pyEnv);
  if (code !== 0 || !result) throw new Error(pythonError(stderr, code));
  const r = result as SignOffResult;
  out(
    a.json
      ? JSON.stringify(r, null, 2)
      : `${r.model} version ${r.version}: transition request to ${r.stage} raised by ${r.request.user_id ?? "you"}\n  comment  ${r.comment}`,
  );
  return 0;
}

export const command: Command = {
  name: "sign-off",
  usage: USAGE,
  run: (argv) => signOffCli(argv, process.env, (s) => console.log(s)),
};
