/**
 * The local-env command: two local stand-ins for Databricks environments ("old" and "new") for trying the
 * environment move (docs/moving-an-environment.md) on one machine. The environments are devenv's.
 */
import { startLocalEnvironments } from "../devenv/localEnv";
import { Command, parseArgs, UsageError } from "./command";

const USAGE = `usage: quant-platform local-env [--size-mb N]

Starts two local environments, each a real MLflow server behind the in-repo Databricks API test server,
seeds the old one like the team's workspace (an experiment with three runs, the best model registered,
notebooks, files and a Git folder), prints the export lines for FROM, TO and DATABRICKS_TOKEN, and serves
until Ctrl-C, which stops both and removes their data.
  --size-mb   size of the seeded transformer model (default 4)`;

async function localEnv(argv: string[]): Promise<number> {
  const a = parseArgs(argv, ["size-mb"]);
  const sizeMb = a["size-mb"] === undefined ? 4 : Number(a["size-mb"]);
  if (!(sizeMb > 0)) throw new UsageError(`--size-mb is a positive number, not '${a["size-mb"]}'`);
  process.stderr.write("starting two local environments (old, new) and seeding the old one ...\n");
  const envs = await startLocalEnvironments({ sizeMb });
  console.log(`export FROM=${envs.old.uri}\nexport TO=${envs.new.uri}\nexport DATABRICKS_TOKEN=${envs.token}`);
  process.stderr.write("paste the lines above into another shell; Ctrl-C here stops both environments\n");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await envs.stop();
  return 0;
}

export const command: Command = { name: "local-env", usage: USAGE, run: localEnv };
