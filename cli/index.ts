/**
 * The `quant-platform` binary: one tool, one subcommand per job. Subcommand modules are loaded only when
 * run, so `--help` and quick commands do not pay for the migration engine or the config loader.
 */
import * as fs from "fs";
import * as path from "path";
import { Command, projectDir, runCommand } from "./command";

/** Every subcommand: its name, a one-line summary, and the module that implements it. */
export const COMMANDS: { name: string; summary: string; load: () => Command }[] = [
  { name: "plan", summary: "what a stack would grant, offline (no credentials)", load: () => require("./plan").command },
  { name: "access-diff", summary: "who gains or loses what between two Git refs", load: () => require("./accessDiff").command },
  {
    name: "branch-flow",
    summary: "merge-request guard: is source -> target a promotion edge?",
    load: () => require("./branchFlow").command,
  },
  {
    name: "approval-check",
    summary: "merge-request job: approved by an approver who is not the author?",
    load: () => require("./approvalCheck").command,
  },
  {
    name: "flow-audit",
    summary: "merged MRs that broke the flow, merge rights or four-eyes rule",
    load: () => require("./flowAudit").command,
  },
  { name: "select", summary: "register the best run of an experiment by the model's metric", load: () => require("./select").command },
  {
    name: "validate",
    summary: "the consumer's validation of a version on historical data, as evidence",
    load: () => require("./validate").command,
  },
  { name: "sign-off", summary: "the consumer's sign-off of a validated version", load: () => require("./signOff").command },
  { name: "status", summary: "a model's lifecycle at a glance, with its evidence", load: () => require("./status").command },
  {
    name: "doctor",
    summary: "why a member cannot clone, pull or push: every check, live, with its fix",
    load: () => require("./doctor").command,
  },
  { name: "migrate", summary: "move a model version, an experiment or notebooks, verified", load: () => require("./migrate").command },
  {
    name: "move",
    summary: "move a whole environment: planned, resumable, verified, shardable",
    load: () => require("./move").command,
  },
  {
    name: "inventory",
    summary: "list what an environment holds (models, experiments, notebooks)",
    load: () => require("./inventory").command,
  },
  { name: "verify-move", summary: "compare two environments after a move", load: () => require("./verifyMove").command },
  {
    name: "drift-report",
    summary: "turn `pulumi preview --refresh --json` into a drift report",
    load: () => require("./driftReport").command,
  },
  { name: "deploy", summary: "the deploy job: pulumi up for one stack", load: () => require("./pulumiJobs").deployCommand },
  {
    name: "preview",
    summary: "a merge request's preview: access diff and pulumi preview --diff",
    load: () => require("./pulumiJobs").previewCommand,
  },
  { name: "drift", summary: "scheduled drift detection for one stack, as a report", load: () => require("./pulumiJobs").driftCommand },
  { name: "mr-note", summary: "post or update the preview note on a GitLab merge request", load: () => require("./mrNote").command },
  {
    name: "local-env",
    summary: "start two local Databricks stand-ins for trying the environment move",
    load: () => require("./localEnv").command,
  },
  {
    name: "start",
    summary: "the platform team's job on a local platform: pulumi up of the three stacks (npm start)",
    load: () => require("./start").command,
  },
  { name: "demo", summary: "train, register and migrate a model between two local MLflow servers", load: () => require("./demo").command },
];

export function version(): string {
  return (JSON.parse(fs.readFileSync(path.join(projectDir(), "package.json"), "utf8")) as { version: string }).version;
}

export const USAGE = `usage: quant-platform <command> [options]
       quant-platform <command> --help

Governs a quant / ML team's Databricks estate: workspace access, registry permissions, branch policy and
verified model migration. Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(16)}${c.summary}`).join("\n")}

Options: --help, --version. Exit codes: 0 done, 1 failed, 2 usage error, 3 differences found.`;

/** Dispatches to a subcommand and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process[name === undefined ? "stderr" : "stdout"].write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(
      `error: unknown command '${name}'; expected one of: ${COMMANDS.map((c) => c.name).join(", ")}\nsee 'quant-platform --help'\n`,
    );
    return 2;
  }
  return runCommand(entry.load(), rest);
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
