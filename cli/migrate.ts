/**
 * The migrate command: a model version, an experiment, or notebooks, verified end to end. A thin shell:
 * the work is the migration engine's; this parses, guards from the project's flow, and renders.
 */
import { DEFAULT_CONCURRENCY } from "../migration/concurrency";
import { ExperimentMigrationReport, migrateExperiment } from "../migration/experiments";
import { isIncompleteMigration } from "../migration/failure";
import { describeLifecycle, parseStageAliases } from "../migration/lifecycle";
import { migrate, MigrateOptions, MigrationReport, VersionSelector } from "../migration/modelVersion";
import { Progress, VERIFY_MODES, VerifyMode } from "../migration/treeCopy";
import { migrateNotebooks, NotebookMigrationReport } from "../migration/notebooks";
import { resolveEndpoint } from "../migration/endpoint";
import type { AccessModel } from "../config/schema";
import { githubApiRoot } from "../clients/github";
import type { MigrationGuard } from "../migration/guard";
import { Command, parseArgs, projectDir, takeRepeated, UsageError } from "./command";

const USAGE = `usage: quant-platform migrate --from <uri> --to <uri> --model <name> (--version N | --alias A | --stage S)
         [--to-model <name>] [--map-stage STAGE=ALIAS[,...]] [--from-env <env> --to-env <env>] [--verify full|size|store]
         [--concurrency N] [--part-size BYTES] [--single-put-limit BYTES] [--part-concurrency N] [--dry-run] [--json]
       quant-platform migrate --from <uri> --to <uri> --experiment <name> [--to-experiment <name>] [--verify full|size]
         [--concurrency N] [--dry-run] [--json]
       quant-platform migrate --from <workspace> --to <workspace> --notebooks <path>[,<path>...] [--overwrite] [--dry-run] [--json]

Moves a registered model version, a whole experiment, or workspace notebooks and files between tracking
servers / Databricks workspaces: streamed, checksummed, verified by reading back, idempotent, resumable.
  --from, --to     http(s)://<mlflow server>, https://<workspace>, databricks://<profile> or databricks+http://host:port;
                   databricks-uc://<profile> (or databricks-uc+https://<workspace>) for the workspace's Unity Catalog
                   registry, whose models are named <catalog>.<schema>.<model>
  --model          the registered model; pick the version with --version, --alias or --stage
  --to-model       the target model name (default: the same; into Unity Catalog: <catalog>.<schema>.<model>)
  --map-stage      Production=champion (repeatable, or comma-separated): between a Databricks workspace
                   registry (stages, no aliases: select there with --stage or --version) and a registry with
                   aliases, the stage becomes that alias and back; the report says what was mapped or dropped
  --from-env, --to-env
                   guard the move with the project's flow: the edge must exist, and production needs an
                   approval by an approving member who is not the version's author, recorded by a system
                   that knows who acted: from a Databricks workspace registry, an open transition request
                   to the stage by such a member; from a registry with aliases, the merge request that
                   added the promotion to the config, approved by such a member (read from the Git host:
                   the stack's quant-platform:git, GITLAB_TOKEN or GITHUB_TOKEN, --git-dir, --config)
  --git-dir        the working copy whose history holds the config (default: --dir, else the project)
  --config         the file that declares promotions, relative to --git-dir (default Pulumi.yaml)
  --experiment     move every active run of this experiment (--to-experiment to rename it)
  --notebooks      move notebooks and files under these workspace paths (--overwrite replaces differing ones)
  --verify         full (default): read every byte back and compare its SHA-256;
                   store: every request carried a checksum the cloud store verified on write (Content-MD5 on Azure,
                   SHA-256 or Content-MD5 on S3), then the final size and the store's own checksum (or committed
                   parts) are checked; nothing is read back. Offered only where the target store verifies
                   (Unity Catalog, a Databricks workspace on Azure or AWS); refused elsewhere;
                   size: the target lists every file at its size
  --part-size      bytes per part when a file goes up in parts (default 16 MiB, or STORAGE_PART_SIZE); a file
                   larger than one part goes up in parts, each with its checksum, resumable part by part
  --single-put-limit
                   the largest single request (default: the store's own, Azure 5000 MiB, S3 5 GiB)
  --part-concurrency
                   parts of one file in flight (default 4)
  --concurrency    files in flight (default 8, 1 to 64)
  --dry-run        list what would move, change nothing
  --json           a JSON report instead of text
Tokens come only from the environment (MLFLOW_TRACKING_TOKEN, DATABRICKS_TOKEN, MIGRATE_FROM_TOKEN,
MIGRATE_TO_TOKEN) or a Databricks config profile, never from the command line.
Exit 0: migrated or adopted; 1: failed (a model: nothing registered; runs and notebooks: the failed ones
are listed); 2: usage error.`;

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/** A one-line progress bar for a terminal: bytes, files, rate and time left. */
export function progressLine(p: Progress, elapsedMs: number, width = 24): string {
  const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.filesTotal > 0 ? p.filesDone / p.filesTotal : 0;
  const rate = elapsedMs > 0 ? p.bytesDone / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? Math.ceil((p.bytesTotal - p.bytesDone) / rate) : undefined;
  const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
  return `[${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${p.filesDone}/${p.filesTotal} files  ${mb(p.bytesDone)}/${mb(p.bytesTotal)}  ${mb(rate)}/s  ETA ${eta === undefined ? "?" : `${eta}s`}`;
}

/** Where the guard reads merge-request evidence: the Git context of the target stack, when a token is set. */
export interface GuardGitOptions {
  env: NodeJS.ProcessEnv;
  repoDir: string;
  configPath?: string;
  model: string;
}

/**
 * The guard from the project's flow: an edge, and an approval from someone else into production. With `git`,
 * promotions from a registry without stages are checked against the merge request that declared them.
 */
export function guardFrom(model: AccessModel, fromEnv: string, toEnv: string, git?: GuardGitOptions): MigrationGuard {
  const env = (n: string) => {
    const e = model.environments.find((x) => x.name === n);
    if (!e) throw new UsageError(`unknown environment '${n}'; expected one of: ${model.environments.map((x) => x.name).join(", ")}`);
    return e;
  };
  env(fromEnv);
  const stackOf = (e: string) => model.stacks.find((s) => s.branch === e);
  const target = stackOf(toEnv);
  const token = target?.git.provider === "github" ? git?.env.GITHUB_TOKEN : git?.env.GITLAB_TOKEN;
  return {
    flow: model.flow,
    fromEnv,
    toEnv,
    production: env(toEnv).tier === "production",
    // Loaded on use: most migrations take no guard, and the config modules add to every start. Emails, as
    // Databricks records the creator of a transition request and the author of a version.
    approvers: (require("../plan/accessPlan") as typeof import("../plan/accessPlan")).approverEmails(model),
    members: model.roster.map((m) => ({ email: m.email, gitUsername: m.gitUsername })),
    ...(git && target && token
      ? {
          git: {
            provider: target.git.provider,
            project: target.git.project,
            token,
            repoDir: git.repoDir,
            configPath: git.configPath ?? "Pulumi.yaml",
            apiUrl: target.git.provider === "github" ? githubApiRoot(target.git.url) : `${target.git.url.replace(/\/+$/, "")}/api/v4`,
            model: git.model,
            fromStack: stackOf(fromEnv)?.name ?? fromEnv,
            toStack: target.name,
          },
        }
      : {}),
    ...validationOf(model, git?.model, stackOf(fromEnv)?.name, toEnv),
    ...(git ? { origins: originEndpoints(model, git.env) } : {}),
  };
}

/**
 * The workspaces a version's origin may live in, as the CLI reaches them: each stack's Databricks profile named
 * after the stack (`[quant]` in ~/.databrickscfg), in the stack's registry flavour. A stack without a profile is
 * left out, and a chain that leads there is refused, saying so.
 */
export function originEndpoints(model: AccessModel, env: NodeJS.ProcessEnv) {
  const plain = { ...env };
  delete plain.MIGRATE_FROM_TOKEN;
  return model.stacks.flatMap((s) => {
    try {
      const scheme = s.registry.flavour === "unity-catalog" ? "databricks-uc" : "databricks";
      return [resolveEndpoint(`${scheme}://${s.name}`, "from", plain)];
    } catch (e) {
      // No such profile (or no config file): that workspace is not readable from here.
      if (/not found in|does not exist/.test((e as Error).message)) return [];
      throw e;
    }
  });
}

/** The consumer's validation and sign-off the promotion needs, where the project validates the model. */
function validationOf(model: AccessModel, name: string | undefined, fromStack: string | undefined, toEnv: string) {
  if (!name || !fromStack) return {};
  const { validationRequirement } = require("../plan/accessPlan") as typeof import("../plan/accessPlan");
  const validation = validationRequirement(model, name, fromStack, toEnv);
  return validation ? { validation } : {};
}

export function renderReport(r: MigrationReport): string {
  const lifecycle = r.lifecycle
    ? [
        `  stage ${r.lifecycle.stage ?? "-"}, aliases ${r.lifecycle.aliases.join(", ") || "-"}`,
        ...describeLifecycle(r.lifecycle).map((l) => `  ${l}`),
      ]
    : [];
  if (r.dryRun) {
    return [
      `dry run: would copy ${r.files} files (${mb(r.bytes)}) of ${r.sourceModel} version ${r.sourceVersion} to ${r.targetModel}`,
      ...lifecycle.map((l) => l.replace(/^ {2}stage/, "  would set stage")),
      ...(r.plannedFiles ?? []).map((f) => `  ${String(f.size).padStart(12)}  ${f.path}`),
    ].join("\n");
  }
  return [
    r.adopted
      ? `already migrated: adopted ${r.targetModel} version ${r.targetVersion} (nothing copied)`
      : `migrated ${r.sourceModel} version ${r.sourceVersion} -> ${r.targetModel} version ${r.targetVersion}`,
    `  files ${r.files}, ${mb(r.bytes)}, every file verified${r.skippedFiles && !r.adopted ? ` (${r.skippedFiles} already verified by an earlier run)` : ""}`,
    `  manifest sha256 ${r.manifestDigest}`,
    ...lifecycle,
    `  source ${r.sourceHost} run ${r.sourceRunId ?? "-"}; target run ${r.targetRunId}`,
    ...(r.approval
      ? [
          `  approved by ${r.approval.approver} (${r.approval.kind === "merge-request" ? `merge request ${r.approval.ref}` : r.approval.ref})`,
        ]
      : []),
    ...(r.validation
      ? [
          `  validated by ${r.validation.by}: ${r.validation.metric} ${r.validation.value} >= ${r.validation.threshold} on ${r.validation.dataName ?? "data"} (sha256 ${r.validation.dataSha256.slice(0, 12)}), run ${r.validation.runId}`,
        ]
      : []),
    ...(r.signOff ? [`  signed off by ${r.signOff.signer} (${r.signOff.ref})`] : []),
    ...(r.warnings ?? []).map((w) => `  warning: ${w}`),
    `  ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join("\n");
}

export function renderExperimentReport(r: ExperimentMigrationReport): string {
  const count = (o: string) => r.runs.filter((x) => x.outcome === o).length;
  const head = r.dryRun
    ? `dry run: would migrate ${r.runs.length} runs (${r.files} files, ${mb(r.bytes)}) of experiment '${r.sourceExperiment}' to '${r.targetExperiment}' (${count("adopted")} already migrated)`
    : `experiment '${r.sourceExperiment}' -> '${r.targetExperiment}' (id ${r.targetExperimentId}): ${count("migrated")} migrated, ${count("resumed")} resumed, ${count("adopted")} already migrated, ${count("conflict")} conflicts, ${count("failed")} failed; ${r.files} files, ${mb(r.bytes)}, every file verified`;
  return [
    head,
    "  source run                        -> target run                        outcome   name",
    ...r.runs.map(
      (x) =>
        `  ${x.sourceRunId.padEnd(32)}  -> ${(x.targetRunId ?? "-").padEnd(32)}  ${x.outcome.padEnd(9)} ${x.runName ?? ""}${x.problem ? `\n      ${x.problem}` : ""}${(x.warnings ?? []).map((w) => `\n      warning: ${w}`).join("")}`,
    ),
    `  ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join("\n");
}

export function renderNotebookReport(r: NotebookMigrationReport): string {
  const count = (o: string) => r.objects.filter((x) => x.outcome === o).length;
  const head = r.dryRun
    ? `dry run: would copy ${r.objects.length} notebooks and files under ${r.paths.join(", ")}`
    : `notebooks and files under ${r.paths.join(", ")}: ${count("created")} created, ${count("identical")} already identical, ${count("overwritten")} overwritten, ${count("conflict")} conflicts, ${count("failed")} failed`;
  return [
    head,
    ...r.objects.map(
      (x) =>
        `  ${x.outcome.padEnd(11)} ${(x.type === "NOTEBOOK" ? `notebook ${(x.language ?? "").toLowerCase()}` : "file").padEnd(16)} ${x.path}${x.sha256 ? `  sha256 ${x.sha256.slice(0, 12)}…` : ""}${x.problem ? `\n      ${x.problem}` : ""}`,
    ),
    ...r.gitFolders.map((g) => `  skipped     Git folder       ${g}  (moves through Git)`),
    ...r.skipped.map((x) => `  skipped     ${x.type.toLowerCase().padEnd(16)} ${x.path}  (not moved by this tool)`),
  ].join("\n");
}

/**
 * Runs an experiment or notebook migration and returns its report, with `complete: false` when it threw an
 * IncompleteMigration (the report then lists what did not move); any other error propagates.
 */
async function settled<R>(run: Promise<R>): Promise<{ report: R; complete: boolean }> {
  try {
    return { report: await run, complete: true };
  } catch (e) {
    if (isIncompleteMigration<R>(e)) return { report: e.report, complete: false };
    throw e;
  }
}

function endpoints(a: Record<string, string | true>, env: NodeJS.ProcessEnv) {
  try {
    return { from: resolveEndpoint(a.from as string, "from", env), to: resolveEndpoint(a.to as string, "to", env) };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The CLI as a function of its arguments and environment. */
export async function migrateCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (s: string) => void,
  err: (s: string) => void,
  tty: boolean,
): Promise<number> {
  // --map-stage may be repeated: its values are taken out before the strict parse (which keeps only the last).
  const taken = takeRepeated(argv, "map-stage");
  const mapStage = taken.values;
  argv = taken.rest;
  let stageAliases: Record<string, string>;
  try {
    stageAliases = parseStageAliases(mapStage);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const a = parseArgs(
    argv,
    [
      "from",
      "to",
      "model",
      "version",
      "alias",
      "stage",
      "to-model",
      "concurrency",
      "verify",
      "from-env",
      "to-env",
      "dir",
      "experiment",
      "to-experiment",
      "notebooks",
      "git-dir",
      "config",
      "part-size",
      "single-put-limit",
      "part-concurrency",
    ],
    ["dry-run", "json", "overwrite"],
  );
  for (const k of ["from", "to"]) if (typeof a[k] !== "string") throw new UsageError(`--${k} is required`);
  const modes = (["model", "experiment", "notebooks"] as const).filter((k) => typeof a[k] === "string");
  if (modes.length !== 1) throw new UsageError("give exactly one of --model, --experiment or --notebooks");
  const verify = (a.verify ?? "full") as VerifyMode;
  if (!VERIFY_MODES.includes(verify)) throw new UsageError(`--verify is full, size or store, not '${verify}'`);
  const bytesOption = (k: string, min: number) => {
    if (a[k] === undefined) return undefined;
    const n = Number(a[k]);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${k} is a whole number of bytes, at least ${min}, not '${a[k]}'`);
    return n;
  };
  const partConcurrency = bytesOption("part-concurrency", 1);
  if (partConcurrency !== undefined && partConcurrency > 64) throw new UsageError("--part-concurrency is a whole number from 1 to 64");
  const storeSettings = {
    ...(a["part-size"] !== undefined ? { partSize: bytesOption("part-size", 1024) } : {}),
    ...(a["single-put-limit"] !== undefined ? { singlePutLimit: bytesOption("single-put-limit", 1024) } : {}),
    ...(partConcurrency !== undefined ? { partConcurrency } : {}),
  };
  const concurrency = a.concurrency === undefined ? DEFAULT_CONCURRENCY : Number(a.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    throw new UsageError("--concurrency is a whole number from 1 to 64");
  const misplaced = (mode: string, keys: string[]) => {
    for (const k of keys) if (a[k] !== undefined) throw new UsageError(`--${k} does not go with --${mode}`);
  };
  if (mapStage.length && modes[0] !== "model") throw new UsageError(`--map-stage goes with --model`);
  if (modes[0] !== "model") misplaced(modes[0], ["part-size", "single-put-limit", "part-concurrency"]);
  if (modes[0] === "experiment") {
    misplaced("experiment", ["version", "alias", "stage", "to-model", "from-env", "to-env", "overwrite", "git-dir", "config"]);
    const { from, to } = endpoints(a, env);
    const { report, complete } = await settled(
      migrateExperiment({
        from,
        to,
        experiment: a.experiment as string,
        toExperiment: a["to-experiment"] as string | undefined,
        dryRun: !!a["dry-run"],
        verify,
        concurrency,
        onProgress: tty && !a.json ? (p) => err(`\r${p.run.slice(0, 8)} ${progressLine(p, 0)}`) : undefined,
      }),
    );
    if (tty && !a.json) err("\n");
    out(a.json ? JSON.stringify(report, null, 2) : renderExperimentReport(report));
    return complete ? 0 : 1;
  }
  if (modes[0] === "notebooks") {
    misplaced("notebooks", ["version", "alias", "stage", "to-model", "from-env", "to-env", "to-experiment", "verify", "git-dir", "config"]);
    const { from, to } = endpoints(a, env);
    const paths = (a.notebooks as string)
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    if (!paths.length) throw new UsageError("--notebooks needs at least one workspace path");
    if (from.transport !== "databricks" || to.transport !== "databricks")
      throw new UsageError(
        "--notebooks moves between Databricks workspaces: give https://<workspace>, databricks://<profile> or databricks+http://host:port for --from and --to",
      );
    const { report, complete } = await settled(
      migrateNotebooks({ from, to, paths, overwrite: !!a.overwrite, dryRun: !!a["dry-run"], concurrency }),
    );
    out(a.json ? JSON.stringify(report, null, 2) : renderNotebookReport(report));
    return complete ? 0 : 1;
  }
  misplaced("model", ["to-experiment", "overwrite"]);
  const selectors = (["version", "alias", "stage"] as const).filter((k) => typeof a[k] === "string");
  if (selectors.length !== 1) throw new UsageError("give exactly one of --version, --alias or --stage");
  const select = { [selectors[0]]: a[selectors[0]] } as VersionSelector;
  if ((a["from-env"] === undefined) !== (a["to-env"] === undefined)) throw new UsageError("--from-env and --to-env go together");
  let guard: MigrateOptions["guard"];
  if (typeof a["from-env"] === "string") {
    const { readConfigSources } = await import("../config/load");
    const { validate } = await import("../config/validate");
    const dir = typeof a.dir === "string" ? a.dir : projectDir();
    const model = validate(readConfigSources(dir));
    guard = guardFrom(model, a["from-env"], a["to-env"] as string, {
      env,
      repoDir: typeof a["git-dir"] === "string" ? a["git-dir"] : dir,
      configPath: typeof a.config === "string" ? a.config : undefined,
      model: a.model as string,
    });
  } else if (a["git-dir"] !== undefined || a.config !== undefined) {
    throw new UsageError("--git-dir and --config go with --from-env and --to-env");
  }
  const { from, to } = endpoints(a, env);
  const started = Date.now();
  let last = 0;
  const report = await migrate({
    from,
    to,
    model: a.model as string,
    select,
    toModel: a["to-model"] as string | undefined,
    dryRun: !!a["dry-run"],
    verify,
    concurrency,
    guard,
    stageAliases,
    storeSettings,
    onProgress:
      tty && !a.json
        ? (p) => {
            if (Date.now() - last < 100 && p.phase === "copying" && p.filesDone < p.filesTotal) return;
            last = Date.now();
            err(`\r${progressLine(p, Date.now() - started)}${p.phase === "done" || p.phase === "registering" ? "\n" : ""}`);
          }
        : undefined,
  });
  out(a.json ? JSON.stringify(report, null, 2) : renderReport(report));
  return 0;
}

export const command: Command = {
  name: "migrate",
  usage: USAGE,
  run: (argv) =>
    migrateCli(
      argv,
      process.env,
      (s) => console.log(s),
      (s) => process.stderr.write(s),
      !!process.stderr.isTTY,
    ),
};
