/**
 * `quant-platform select`: registers the best finished run of an experiment by the model's metric (precision),
 * as configured in Pulumi.yaml (`selection`); the work is migration/selection.ts.
 * Exit 0: registered, adopted or (dry run) ranked. 1: nothing reaches the minimum, or an error. 2: usage error.
 */
import type { Selection } from "../config/schema";
import { resolveEndpoint } from "../migration/endpoint";
import { renderRanking, selectBest, SelectionReport } from "../migration/selection";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform select --model <name> --experiment <name> --from <workspace>
         [--metric precision] [--mode max|min] [--minimum 0.8] [--artifact-path model] [--dry-run] [--json] [--dir <project>]

Compares the experiment's finished runs by the metric (its latest value), prints the comparison, and registers
the winner's model (<run>/model) as a new version of --model, tagged with the metric, its value, its rank and
the runs compared (quant.selection.*). Running it again for the same run adopts that version: never a duplicate.
  --from           the workspace: https://<workspace> (DATABRICKS_TOKEN), databricks://<profile>,
                   databricks+http://host:port, or http://<mlflow server> (MLFLOW_TRACKING_TOKEN)
  --metric, --mode, --minimum
                   default: the model's selection in Pulumi.yaml (e.g. precision, max, 0.8), else precision, max
                   and no minimum; a winner below the minimum is refused
  --artifact-path  where each run logged its model (default model)
  --dry-run        print the comparison and what would be registered; change nothing
  --json           the report as JSON
  --dir            the project whose Pulumi.yaml holds the model's selection (default: this one)
Run it with your own credentials: the registry records you as the version's author.
Exit 0: registered, adopted, or ranked (--dry-run); 1: no run reaches the minimum, or an error; 2: usage error.`;

/** The model's selection from the project config, when it declares the model; undefined otherwise. */
async function configured(dir: string, model: string): Promise<Selection | undefined> {
  const { readConfigSources } = await import("../config/load");
  const { validate } = await import("../config/validate");
  return validate(readConfigSources(dir)).models.find((m) => m.name === model)?.selection;
}

export async function selectCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const a = parseArgs(argv, ["model", "experiment", "from", "metric", "mode", "minimum", "artifact-path", "dir"], ["dry-run", "json"]);
  for (const k of ["model", "experiment", "from"] as const) if (typeof a[k] !== "string") throw new UsageError(`--${k} is required`);
  if (a.mode !== undefined && a.mode !== "max" && a.mode !== "min") throw new UsageError(`--mode is max or min, not '${a.mode}'`);
  const minimum = a.minimum === undefined ? undefined : Number(a.minimum);
  if (minimum !== undefined && !Number.isFinite(minimum)) throw new UsageError(`--minimum is a number, not '${a.minimum}'`);
  let from;
  try {
    from = resolveEndpoint(a.from as string, "from", env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const base = await configured(typeof a.dir === "string" ? a.dir : projectDir(), a.model as string);
  const selection: Selection = {
    metric: (a.metric as string | undefined) ?? base?.metric ?? "precision",
    mode: (a.mode as "max" | "min" | undefined) ?? base?.mode ?? "max",
    ...(minimum !== undefined ? { minimum } : base?.minimum !== undefined ? { minimum: base.minimum } : {}),
  };
  const report = await selectBest({
    from,
    model: a.model as string,
    experiment: a.experiment as string,
    selection,
    artifactPath: a["artifact-path"] as string | undefined,
    dryRun: !!a["dry-run"],
  });
  out(a.json ? JSON.stringify(jsonReport(report), null, 2) : renderSelection(report));
  return 0;
}

/** The report for scripts: the ranking flattened, the winner and the version. */
function jsonReport(r: SelectionReport) {
  return {
    workspace: r.workspace,
    model: r.model,
    experiment: r.experiment,
    selection: r.selection,
    candidates: r.ranking.candidates,
    winner: r.ranking.winner,
    tiedWith: r.ranking.tiedWith,
    source: r.source,
    version: r.version,
    adopted: r.adopted,
    dryRun: r.dryRun,
  };
}

export function renderSelection(r: SelectionReport): string {
  const w = r.ranking.winner!;
  const s = r.selection;
  const n = r.ranking.candidates.filter((c) => c.rank !== undefined).length;
  return [
    `${r.experiment} on ${r.workspace}: ${n} finished run(s) compared by ${s.metric} (${s.mode}${s.minimum !== undefined ? `, minimum ${s.minimum}` : ""})`,
    renderRanking(r.ranking, s),
    ...(r.ranking.tiedWith.length ? [`tied with ${r.ranking.tiedWith.join(", ")}: broken by the earlier end time, then the run id`] : []),
    r.dryRun
      ? r.version
        ? `dry run: ${w.runName} is already registered as ${r.model} version ${r.version}; nothing changed`
        : `dry run: would register ${r.source} as a new version of ${r.model}; nothing changed`
      : r.adopted
        ? `adopted ${r.model} version ${r.version}: already registered from run ${w.runId}`
        : `registered ${r.model} version ${r.version} from run ${w.runName} (${w.runId}), ${s.metric} ${w.value}`,
  ].join("\n");
}

export const command: Command = { name: "select", usage: USAGE, run: (argv) => selectCli(argv, process.env, (s) => console.log(s)) };
