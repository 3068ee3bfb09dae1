/**
 * The consumer's validation run: scores a registered model version on a historical sample with MLflow's own
 * evaluation and records the evidence as one run, by running the project's Python module
 * (python/quant_lifecycle, the same code a notebook imports) in the project's virtualenv.
 * Exit 0: passed. 3: below the threshold (the run is recorded, verdict failed). 1: error. 2: usage error.
 */
import { spawn } from "child_process";
import * as path from "path";
import { ManagedModel } from "../config/schema";
import { resolveEndpoint } from "../migration/endpoint";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform validate --model <name> --version <n> --from <workspace> --data <file> --label <column>
         [--predictions <file>] [--data-table <table>@<version>] [--metric precision] [--threshold 0.8] [--experiment <name>]
         [--json] [--dir <project>]

Scores a registered model version on a historical sample and records the consumer's validation as one MLflow
run in the validation workspace: the sample as a dataset input with the SHA-256 of its bytes, the version's
manifest digest (over the files downloaded and scored), mlflow.models.evaluate's metrics, the threshold and
verdict (MetricThreshold / validate_evaluation_results), and a report (validation_report.md and .json:
metric table, confusion matrix, first wrong predictions). Run it with your own credentials: the workspace
records who created the run, and that is who validated.
  --from         the workspace: databricks://<profile>, https://<workspace> (DATABRICKS_TOKEN),
                 databricks+http://host:port, databricks-uc://<profile> for Unity Catalog, or
                 http://<mlflow server> (MLFLOW_TRACKING_TOKEN)
  --data         the historical sample, a .csv or .parquet file (a table export is one of these)
  --data-table   the Delta table and version the sample was exported from, <catalog.schema.table>@<version>
                 (where the model's validation.data pins a table version; the file's SHA-256 is recorded too)
  --label        its label column
  --predictions  predictions made elsewhere (same rows, same order, column 'prediction'): the model is not loaded
  --metric       precision, recall, f1 or accuracy;  --threshold  the value it must reach
                 (defaults: the model's validation in Pulumi.yaml, else precision and 0.8)
  --experiment   default <organization.experimentFolder>/validation/<model> (/Teams/quant/experiments/validation/<model>),
                 where the production gate looks for it
  --dir          the project whose Pulumi.yaml holds the model's validation (default: this one)
  --json         the result as JSON
Runs <project>/.venv/bin/python -m quant_lifecycle validate; in a notebook, %pip install the repository's
python/ folder and call quant_lifecycle.validate (the same evidence).
Exit 0: passed; 3: below the threshold (recorded as failed); 1: error (bad inputs record nothing); 2: usage error.`;

/** What the Python side prints: the validation's result. */
export interface ValidationResult {
  run_id: string;
  verdict: "passed" | "failed";
  value: number;
  threshold: number;
  metric: string;
  model: string;
  version: string;
  manifest_digest: string;
  data_sha256: string;
  predictions: "model" | "file";
  experiment_id: string;
  report: string;
}

/**
 * The environment MLflow's Python client (and the Databricks SDK inside it) needs to reach a workspace as
 * `--from` names it: tracking and registry URI, and host and token or profile. Tokens travel only here.
 * Any Databricks or MLflow setting inherited from the caller's shell that could point elsewhere is replaced.
 */
export function lifecycleEnv(from: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const ep = resolveEndpoint(from, "from", env);
  const out: NodeJS.ProcessEnv = { ...env, MLFLOW_ENABLE_TELEMETRY: "false", DO_NOT_TRACK: "true" };
  for (const k of ["MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_TOKEN", "DATABRICKS_HOST", "DATABRICKS_TOKEN"])
    delete out[k];
  if (ep.transport !== "databricks") {
    out.MLFLOW_TRACKING_URI = ep.baseUrl;
    out.MLFLOW_REGISTRY_URI = ep.baseUrl;
    if (ep.token) out.MLFLOW_TRACKING_TOKEN = ep.token;
    return out;
  }
  out.MLFLOW_TRACKING_URI = "databricks";
  out.MLFLOW_REGISTRY_URI = ep.registry === "unity-catalog" ? "databricks-uc" : "databricks";
  const profile = /^databricks(?:-uc)?:\/\/(.+)$/.exec(from)?.[1];
  if (profile) {
    // The SDK reads the profile itself (whatever its auth type); a MIGRATE_FROM_TOKEN override still wins.
    out.DATABRICKS_CONFIG_PROFILE = profile;
    if (env.MIGRATE_FROM_TOKEN) out.DATABRICKS_TOKEN = env.MIGRATE_FROM_TOKEN;
    return out;
  }
  if (/^databricks(?:-uc)?$/.test(from)) return out; // the default profile, or DATABRICKS_CONFIG_PROFILE
  delete out.DATABRICKS_CONFIG_PROFILE;
  out.DATABRICKS_HOST = ep.baseUrl;
  if (ep.token) out.DATABRICKS_TOKEN = ep.token;
  return out;
}

/** The metric and threshold a validation uses: the options, else the model's `validation`, else precision and 0.8. */
export function validationDefaults(
  model: ManagedModel | undefined,
  given: { metric?: string; threshold?: string },
): { metric: string; threshold: string } {
  return {
    metric: given.metric ?? model?.validation?.metric ?? "precision",
    threshold: given.threshold ?? (model?.validation ? String(model.validation.threshold) : "0.8"),
  };
}

/** The project's configured model of that name and its validation experiment, read only when an option is left to the config. */
async function configuredModel(name: string, dir = projectDir()): Promise<{ model?: ManagedModel; experiment: string }> {
  const { readConfigSources } = await import("../config/load");
  const { validate } = await import("../config/validate");
  const { validationExperiment } = await import("../plan/accessPlan");
  const model = validate(readConfigSources(dir));
  return {
    model: model.models.find((m) => m.name === name),
    experiment: validationExperiment(model.organization.experimentFolder, name),
  };
}

/**
 * Runs `python -m quant_lifecycle <args>` in the project's virtualenv: its JSON stdout parsed, its exit code,
 * and its stderr (MLflow's log lines, and on failure the one-line error).
 */
export function runLifecycle(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; result?: unknown; stderr: string }> {
  const dir = projectDir();
  const pythonPath = [path.join(dir, "python"), env.PYTHONPATH].filter(Boolean).join(path.delimiter);
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(dir, ".venv", "bin", "python"), ["-m", "quant_lifecycle", ...args], {
      env: { ...env, PYTHONPATH: pythonPath },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", (e) => reject(new Error(`cannot run the project's Python (${e.message}): run \`npm run setup:mlflow\` first`)));
    child.on("close", (code) => {
      let result: unknown;
      try {
        result = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        result = undefined;
      }
      resolve({ code: code ?? 1, result, stderr });
    });
  });
}

/** The Python side's one-line error (its last `error: ...` line), or the tail of its stderr. */
export function pythonError(stderr: string, code: number): string {
  const line = stderr
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("error: "));
  return line ? line.slice("error: ".length) : `quant_lifecycle exited ${code}: ${stderr.trim().split("\n").slice(-3).join(" ")}`;
}

export function renderValidation(r: ValidationResult): string {
  return [
    `${r.model} version ${r.version}: ${r.verdict.toUpperCase()}, ${r.metric} ${r.value.toFixed(4)} ${r.verdict === "passed" ? ">=" : "<"} ${r.threshold}`,
    `  run          ${r.run_id} (experiment ${r.experiment_id})`,
    `  predictions  ${r.predictions === "model" ? "scored with the version loaded through MLflow pyfunc" : "from the given file"}`,
    `  data sha256  ${r.data_sha256}`,
    `  digest       ${r.manifest_digest} (the version's files as downloaded and scored)`,
    `  report       ${r.report}`,
  ].join("\n");
}

export async function validateCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const a = parseArgs(
    argv,
    ["model", "version", "from", "data", "label", "predictions", "metric", "threshold", "experiment", "dir", "data-table"],
    ["json"],
  );
  for (const k of ["model", "version", "from", "data", "label"]) if (typeof a[k] !== "string") throw new UsageError(`--${k} is required`);
  let pyEnv: NodeJS.ProcessEnv;
  try {
    pyEnv = lifecycleEnv(a.from as string, env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const given = { metric: a.metric as string | undefined, threshold: a.threshold as string | undefined };
  const configured =
    given.metric === undefined || given.threshold === undefined || a.experiment === undefined
      ? await configuredModel(a.model as string, typeof a.dir === "string" ? a.dir : undefined)
      : undefined;
  const { metric, threshold } = validationDefaults(configured?.model, given);
  // Where the production gate looks for it: the validation experiment under the organization's experiment folder.
  const experiment = typeof a.experiment === "string" ? a.experiment : configured?.experiment;
  const args = [
    "validate",
    ...["--model", a.model, "--version", a.version, "--data", path.resolve(a.data as string), "--label", a.label],
    ...["--metric", metric, "--threshold", threshold, "--registry-uri", pyEnv.MLFLOW_REGISTRY_URI!],
    ...(typeof a.predictions === "string" ? ["--predictions", path.resolve(a.predictions)] : []),
    ...(typeof a["data-table"] === "string" ? ["--data-table", a["data-table"]] : []),
    ...(experiment ? ["--experiment", experiment] : []),
  ] as string[];
  const { code, result, stderr } = await runLifecycle(args, pyEnv);
  if ((code !== 0 && code !== 3) || !result) throw new Error(pythonError(stderr, code));
  out(a.json ? JSON.stringify(result, null, 2) : renderValidation(result as ValidationResult));
  return code;
}

export const command: Command = {
  name: "validate",
  usage: USAGE,
  run: (argv) => validateCli(argv, process.env, (s) => console.log(s)),
};
