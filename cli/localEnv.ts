/**
 * The local-env command: two local stand-ins for Databricks environments ("old" and "new") for trying the
 * environment move (docs/moving-an-environment.md) on one machine, the new one optionally with a Unity Catalog
 * registry on a cloud-store emulator. The environments are devenv's.
 */
import { LocalEnvironments, RehearsalSeed, startLocalEnvironments } from "../devenv/localEnv";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform local-env [--size-mb N] [--unity-catalog [--store azure|s3]] [--dir <project dir>]
         [--experiments N [--runs R]] [--models M [--versions K]]

Starts two local environments, each a real MLflow server behind the in-repo Databricks API test server,
seeds the old one like the team's workspace (an experiment with three runs, the best model registered,
notebooks, files and a Git folder), prints the export lines for FROM, TO and DATABRICKS_TOKEN, and serves
until Ctrl-C, which stops both and removes their data.
Every member of the project's roster gets a token of their own on each environment, in a Databricks config
file (mode 0600) with a profile per member and environment, e.g. [new-grace.lee]: the export line for
DATABRICKS_CONFIG_FILE points at it, so that one person can act as author, consumer and approver, each
recorded as themselves (--from databricks://new-grace.lee).
  --size-mb        size of the seeded transformer model (default 4): the one large model
  --experiments    also seed N experiments /Users/alice@quant.example/rehearsal-NN, each with R runs (--runs,
                   default 10: params, a metric history, tags, two artifact files), to rehearse a whole move
  --models         also seed M models rehearsal-model-<j>, each with K versions (--versions, default 3) in
                   different stages: the newest Production, the one before Staging, then Archived, the rest None
  --dir            the project whose roster gets tokens (default: the one holding Pulumi.yaml)
  --unity-catalog  also give the new workspace a Unity Catalog model registry (catalog main, schema quant)
                   whose model files live in a local cloud-store emulator, to rehearse a move into Unity
                   Catalog; prints TO_UC (databricks-uc+http://...) and the STORAGE_* endpoint of the emulator
                   (models go in as main.quant.<model>: migrate --to "$TO_UC" --to-model main.quant.<model>)
  --store          the emulator: azure (Azurite, the default) or s3 (moto, from the project's Python venv)`;

/** The lines to paste into a shell: values single-quoted (a store endpoint template holds '{account}'). */
export function exportLines(envs: LocalEnvironments): string[] {
  const vars: [string, string][] = [
    ["FROM", envs.old.uri],
    ["TO", envs.new.uri],
    ["DATABRICKS_TOKEN", envs.token],
    // The old workspace's secret values as the team's vault exports them (a file, never the terminal): move --secret-values "$VAULT_FILE".
    ...(envs.vaultFile ? ([["VAULT_FILE", envs.vaultFile]] as [string, string][]) : []),
    ...(envs.configFile ? ([["DATABRICKS_CONFIG_FILE", envs.configFile]] as [string, string][]) : []),
    ...(envs.uc ? ([["TO_UC", envs.uc.uri], ...Object.entries(envs.uc.env)] as [string, string][]) : []),
  ];
  return vars.map(([k, v]) => `export ${k}=${/^[\w@%+=:,./-]*$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`}`);
}

async function localEnv(argv: string[]): Promise<number> {
  const a = parseArgs(argv, ["size-mb", "store", "dir", "experiments", "runs", "models", "versions"], ["unity-catalog"]);
  const rehearsal = rehearsalSeed(a);
  const sizeMb = a["size-mb"] === undefined ? 4 : Number(a["size-mb"]);
  if (!(sizeMb > 0)) throw new UsageError(`--size-mb is a positive number, not '${a["size-mb"]}'`);
  if (a.store !== undefined && !a["unity-catalog"]) throw new UsageError("--store goes with --unity-catalog");
  const store = (a.store ?? "azure") as string;
  if (store !== "azure" && store !== "s3") throw new UsageError(`--store is azure or s3, not '${store}'`);
  const uc = a["unity-catalog"] ? store : undefined;
  process.stderr.write(
    `starting two local environments (old, new${uc ? `, with a Unity Catalog registry on ${uc === "azure" ? "Azurite" : "moto"}` : ""}) and seeding the old one ...\n`,
  );
  const members = await rosterEmails(typeof a.dir === "string" ? a.dir : projectDir());
  const envs = await startLocalEnvironments({ sizeMb, unityCatalog: uc, members, ...(rehearsal ? { rehearsal } : {}) });
  if (envs.rehearsal)
    process.stderr.write(
      `seeded besides: ${envs.rehearsal.experiments.length} experiments, ${envs.rehearsal.models.length} models (${envs.rehearsal.models.reduce((s, m) => s + m.versions.length, 0)} versions), ${envs.rehearsal.runs} runs in all; move them with: npm run move -- --from "$FROM" --to "$TO"\n`,
    );
  console.log(exportLines(envs).join("\n"));
  if (envs.profiles.length)
    process.stderr.write(
      `a profile per member and environment in DATABRICKS_CONFIG_FILE: ${envs.profiles.map((p) => p.profile).join(", ")}\n` +
        `act as one of them with --from databricks://<profile>, e.g. --from databricks://${envs.profiles[envs.profiles.length - 1].profile}\n`,
    );
  if (envs.uc)
    process.stderr.write(
      `Unity Catalog: models go in as ${envs.uc.schema}.<model>, e.g. migrate --from "$FROM" --to "$TO_UC" --model ${envs.fixture.model} --stage Production --to-model ${envs.uc.schema}.${envs.fixture.model} --map-stage Production=champion\n`,
    );
  process.stderr.write("paste the lines above into another shell; Ctrl-C here stops both environments\n");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await envs.stop();
  return 0;
}

/** The rehearsal seed the flags ask for (undefined when none): whole numbers, --runs with --experiments, --versions with --models. */
export function rehearsalSeed(a: Record<string, string | true>): RehearsalSeed | undefined {
  const count = (k: string, max: number) => {
    if (a[k] === undefined) return undefined;
    const n = Number(a[k]);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${k} is a whole number from 1 to ${max}, not '${a[k]}'`);
    return n;
  };
  const seed = {
    experiments: count("experiments", 500),
    runs: count("runs", 1000),
    models: count("models", 100),
    versions: count("versions", 50),
  };
  if (seed.runs !== undefined && seed.experiments === undefined) throw new UsageError("--runs goes with --experiments");
  if (seed.versions !== undefined && seed.models === undefined) throw new UsageError("--versions goes with --models");
  if (seed.experiments === undefined && seed.models === undefined) return undefined;
  return Object.fromEntries(Object.entries(seed).filter(([, v]) => v !== undefined)) as RehearsalSeed;
}

/** The roster's emails from the project's config (validated as every command validates it). */
export async function rosterEmails(dir: string): Promise<string[]> {
  const { readConfigSources } = await import("../config/load");
  const { validate } = await import("../config/validate");
  return validate(readConfigSources(dir)).roster.map((m) => m.email);
}

export const command: Command = { name: "local-env", usage: USAGE, run: localEnv };
