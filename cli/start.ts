/**
 * `npm start`: the platform team's job on a local default. The local platform (three HTTPS Databricks
 * workspaces backed by real MLflow servers, a GitLab server) stands in for the estate; the real engine runs
 * `pulumi up` of each stack on a copy of the project pointed at it, and the model is walked from experiment to
 * production through the same commands people run, each as the member who acts (a token of their own).
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform start [--keep] [--size-mb N]        (npm start)

The platform team's job, locally, under the real Pulumi engine:
  1. pulumi up of quant: groups, members, Git folders, permissions, registry ACLs, GitLab branch rules
  2. three training iterations logged in quant; \`select\` registers the best by precision
  3. an approver moves the version to Staging
  4. pulumi up of quant_stg: its promotion copies the version, verified
  5. the consumer validates it on a historical sample and signs off; an approver approves
  6. pulumi up of quant_lr: the production promotion passes the gate, verified
  7. pulumi preview --expect-no-changes of all three stacks
then prints who can do what in each workspace (read back from the workspaces), the branch rules, the model's
journey with its evidence, and the time taken.

State stays in .local/state (passphrase in .local/passphrase), so that after it ends
  cd .local/project && PULUMI_BACKEND_URL=file://$PWD/../state PULUMI_CONFIG_PASSPHRASE_FILE=../passphrase pulumi stack export -s quant_lr
shows what was deployed. Every run starts clean.
  --keep      leave the services running and print the export lines and pulumi commands to try (Ctrl-C ends)
  --size-mb   size of the transformer's weights (default 4)
Needs the Pulumi CLI with the Databricks provider (pulumi plugin install resource databricks 1.110.0) and
python3; npm start installs the Node packages and the MLflow virtualenv itself.`;

const MODEL = "quant-alpha-transformer";

async function start(argv: string[]): Promise<number> {
  const a = parseArgs(argv, ["size-mb"], ["keep"]);
  const sizeMb = a["size-mb"] === undefined ? 4 : Number(a["size-mb"]);
  if (!(sizeMb > 0)) throw new UsageError(`--size-mb is a positive number, not '${a["size-mb"]}'`);
  const t0 = Date.now();
  const { findPulumiToolchain } = await import("../devenv/pulumiToolchain");
  const tc = findPulumiToolchain();
  if (!tc.pulumi)
    throw new Error(
      `no Pulumi toolchain: ${tc.reason}. Install the Pulumi CLI (https://www.pulumi.com/docs/iac/download-install/), then the Databricks provider: pulumi plugin install resource databricks 1.110.0`,
    );
  const { walkLifecycle } = await import("../devenv/platformJob");
  const root = projectDir();
  const local = path.join(root, ".local");
  fs.rmSync(local, { recursive: true, force: true });
  fs.mkdirSync(local, { recursive: true });
  const passphrase = path.join(local, "passphrase");
  fs.writeFileSync(passphrase, crypto.randomBytes(24).toString("hex"), { mode: 0o600 });
  const python = path.join(root, ".venv", "bin", "python");
  if (!fs.existsSync(python)) throw new Error(`no MLflow virtualenv at ${path.dirname(path.dirname(python))}: run npm run setup:mlflow`);
  execFileSync("git", ["--version"], { stdio: "ignore" });
  return walkLifecycle({ root, local, passphrase, binDir: tc.binDir, pulumiVersion: tc.version, sizeMb, keep: !!a.keep, model: MODEL, t0 });
}

export const command: Command = { name: "start", usage: USAGE, run: start };
