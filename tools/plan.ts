/**
 * The offline plan view: what a stack would grant, from the same plan function the program uses.
 * No credentials, no Pulumi CLI.
 *   npm run plan -- [--stack <name>] [--format table|json|markdown] [--dir <project dir>]
 */
import * as path from "path";
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { buildAccessPlan } from "../plan/accessPlan";
import { planSections, renderMarkdown, renderTable } from "../plan/render";
import { parseArgs, runMain, UsageError } from "./cli";

const USAGE = "usage: npm run plan -- [--stack <stack>] [--format table|json|markdown]";

runMain(USAGE, () => {
  const args = parseArgs(process.argv.slice(2), ["stack", "format", "dir"]);
  const dir = typeof args.dir === "string" ? args.dir : path.resolve(__dirname, "..");
  const format = (args.format ?? "table") as string;
  if (!["table", "json", "markdown"].includes(format)) throw new UsageError(`unknown format '${format}'; expected table, json or markdown`);
  const sources = readConfigSources(dir);
  const names = Object.keys(sources.stacks).sort();
  const stack = args.stack as string | undefined;
  if (stack !== undefined && !names.includes(stack)) throw new UsageError(`unknown stack '${stack}'; valid stacks: ${names.join(", ")}`);
  const model = validate(sources, stack);
  const plans = (stack ? [stack] : names).map((s) => buildAccessPlan(model, s));
  if (format === "json") {
    process.stdout.write(JSON.stringify(stack ? plans[0] : { stacks: plans }, null, 2) + "\n");
  } else {
    const render = format === "markdown" ? renderMarkdown : renderTable;
    process.stdout.write(plans.map((p) => render(planSections(p))).join("\n"));
  }
  return 0;
});
