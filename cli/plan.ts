/**
 * The offline plan view: what a stack would grant, from the same plan function the program uses.
 * No credentials, no Pulumi CLI.
 */
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { buildAccessPlan } from "../plan/accessPlan";
import { planSections, renderMarkdown, renderTable } from "../plan/render";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform plan [--stack <stack>] [--format table|json|markdown] [--dir <project dir>]

What each stack would grant: groups, members, entitlements, folders, Git folders, ACLs, registry
permissions, branch rules and promotions, from the same plan the Pulumi program uses. Offline.
  --stack    one stack (default: all)
  --format   table (default), json or markdown
  --dir      the project folder (default: this project)`;

function plan(argv: string[]): number {
  const args = parseArgs(argv, ["stack", "format", "dir"]);
  const dir = typeof args.dir === "string" ? args.dir : projectDir();
  const format = (args.format ?? "table") as string;
  if (!["table", "json", "markdown"].includes(format)) throw new UsageError(`unknown format '${format}'; expected table, json or markdown`);
  const sources = readConfigSources(dir);
  const names = Object.keys(sources.stacks).sort();
  const stack = args.stack as string | undefined;
  if (stack !== undefined && !names.includes(stack)) throw new UsageError(`unknown stack '${stack}'; valid stacks: ${names.join(", ")}`);
  const model = validate(sources, stack);
  const plans = (stack ? [stack] : names).map((s) => buildAccessPlan(model, s));
  for (const w of model.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  if (format === "json") {
    process.stdout.write(JSON.stringify(stack ? plans[0] : { stacks: plans }, null, 2) + "\n");
  } else {
    const render = format === "markdown" ? renderMarkdown : renderTable;
    process.stdout.write(plans.map((p) => render(planSections(p))).join("\n"));
  }
  return 0;
}

export const command: Command = { name: "plan", usage: USAGE, run: plan };
