/**
 * Migrates one registered model version between tracking servers, verified end to end.
 *   npm run migrate -- --from <tracking-uri> --to <tracking-uri> --model <name> (--version N | --alias A | --stage S)
 *     [--to-model <name>] [--dry-run] [--json] [--concurrency N] [--verify full|size] [--from-env E --to-env E]
 * Tokens come only from the environment (MLFLOW_TRACKING_TOKEN, DATABRICKS_TOKEN, MIGRATE_FROM_TOKEN,
 * MIGRATE_TO_TOKEN) or a Databricks config profile (databricks://<profile>), never from the command line.
 * Exit 0: migrated or adopted. 1: failed, nothing registered in the target. 2: usage error.
 */
import * as path from "path";
import { migrate, MigrateOptions, MigrationReport, Progress, VersionSelector } from "../migration/engine";
import { resolveEndpoint } from "../migration/endpoint";
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { AccessModel } from "../config/schema";
import { approvingMembers } from "../plan/accessPlan";
import { parseArgs, runMain, UsageError } from "./cli";

const USAGE = `usage: npm run migrate -- --from <tracking-uri> --to <tracking-uri> --model <name> (--version N | --alias A | --stage S)
         [--to-model <name>] [--dry-run] [--json] [--concurrency N] [--verify full|size] [--from-env <env> --to-env <env>]
tokens: MLFLOW_TRACKING_TOKEN / DATABRICKS_TOKEN / MIGRATE_FROM_TOKEN / MIGRATE_TO_TOKEN, or databricks://<profile>`;

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/** A one-line progress bar for a terminal: bytes, files, rate and time left. */
export function progressLine(p: Progress, elapsedMs: number, width = 24): string {
  const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.filesTotal > 0 ? p.filesDone / p.filesTotal : 0;
  const rate = elapsedMs > 0 ? p.bytesDone / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? Math.ceil((p.bytesTotal - p.bytesDone) / rate) : undefined;
  const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
  return `[${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${p.filesDone}/${p.filesTotal} files  ${mb(p.bytesDone)}/${mb(p.bytesTotal)}  ${mb(rate)}/s  ETA ${eta === undefined ? "?" : `${eta}s`}`;
}

/** The guard from the project's flow: an edge, and an approval from someone else into production. */
export function guardFrom(model: AccessModel, fromEnv: string, toEnv: string) {
  const env = (n: string) => {
    const e = model.environments.find((x) => x.name === n);
    if (!e) throw new UsageError(`unknown environment '${n}'; expected one of: ${model.environments.map((x) => x.name).join(", ")}`);
    return e;
  };
  env(fromEnv);
  return {
    flow: model.flow, fromEnv, toEnv, production: env(toEnv).tier === "production",
    approvers: approvingMembers(model).flatMap((m) => [m.email, m.id]),
  };
}

export function renderReport(r: MigrationReport): string {
  if (r.dryRun) {
    return [`dry run: would copy ${r.files} files (${mb(r.bytes)}) of ${r.sourceModel} version ${r.sourceVersion} to ${r.targetModel}`,
      ...(r.plannedFiles ?? []).map((f) => `  ${String(f.size).padStart(12)}  ${f.path}`)].join("\n");
  }
  return [
    r.adopted ? `already migrated: adopted ${r.targetModel} version ${r.targetVersion} (nothing copied)` : `migrated ${r.sourceModel} version ${r.sourceVersion} -> ${r.targetModel} version ${r.targetVersion}`,
    `  files ${r.files}, ${mb(r.bytes)}, every file verified${r.skippedFiles && !r.adopted ? ` (${r.skippedFiles} already verified by an earlier run)` : ""}`,
    `  manifest sha256 ${r.manifestDigest}`,
    `  source ${r.sourceHost} run ${r.sourceRunId ?? "-"}; target run ${r.targetRunId}`,
    `  ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join("\n");
}

/** The CLI as a function of its arguments and environment. */
export async function migrateCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void, tty: boolean): Promise<number> {
  const a = parseArgs(argv, ["from", "to", "model", "version", "alias", "stage", "to-model", "concurrency", "verify", "from-env", "to-env", "dir"], ["dry-run", "json"]);
  for (const k of ["from", "to", "model"]) if (typeof a[k] !== "string") throw new UsageError(`--${k} is required`);
  const selectors = (["version", "alias", "stage"] as const).filter((k) => typeof a[k] === "string");
  if (selectors.length !== 1) throw new UsageError("give exactly one of --version, --alias or --stage");
  const select = { [selectors[0]]: a[selectors[0]] } as VersionSelector;
  const verify = (a.verify ?? "full") as string;
  if (verify !== "full" && verify !== "size") throw new UsageError(`--verify is full or size, not '${verify}'`);
  const concurrency = a.concurrency === undefined ? 4 : Number(a.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError("--concurrency is a whole number from 1 to 64");
  if ((a["from-env"] === undefined) !== (a["to-env"] === undefined)) throw new UsageError("--from-env and --to-env go together");
  let guard: MigrateOptions["guard"];
  if (typeof a["from-env"] === "string") {
    const model = validate(readConfigSources(typeof a.dir === "string" ? a.dir : path.resolve(__dirname, "..")));
    guard = guardFrom(model, a["from-env"], a["to-env"] as string);
  }
  let from, to;
  try {
    from = resolveEndpoint(a.from as string, "from", env);
    to = resolveEndpoint(a.to as string, "to", env);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const started = Date.now();
  let last = 0;
  const report = await migrate({
    from, to, model: a.model as string, select, toModel: a["to-model"] as string | undefined, dryRun: !!a["dry-run"], verify, concurrency, guard,
    onProgress: tty && !a.json ? (p) => {
      if (Date.now() - last < 100 && p.phase === "copying" && p.filesDone < p.filesTotal) return;
      last = Date.now();
      err(`\r${progressLine(p, Date.now() - started)}${p.phase === "done" || p.phase === "registering" ? "\n" : ""}`);
    } : undefined,
  });
  out(a.json ? JSON.stringify(report, null, 2) : renderReport(report));
  return 0;
}

if (require.main === module) {
  runMain(USAGE, () => migrateCli(process.argv.slice(2), process.env, (s) => console.log(s), (s) => process.stderr.write(s), !!process.stderr.isTTY));
}
