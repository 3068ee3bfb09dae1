/**
 * The scheduled drift job's report:
 *   pulumi preview --refresh --expect-no-changes --json -s <stack> > preview.json
 *   quant-platform drift-report --stack <stack> --input preview.json [--out drift.md]
 * Exit 0: no drift. 3: drift found (the job fails; the report is its artifact). 1: unreadable input. 2: usage error.
 */
import * as fs from "fs";
import { driftItems, renderDriftMarkdown } from "../plan/driftReport";
import { Command, parseArgs, UsageError } from "./command";

export function driftReportCli(argv: string[], out: (s: string) => void): number {
  const a = parseArgs(argv, ["stack", "input", "out"], ["json"]);
  if (typeof a.stack !== "string") throw new UsageError("--stack is required");
  if (typeof a.input !== "string") throw new UsageError("--input <preview.json> is required");
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(a.input, "utf8"));
  } catch (e) {
    throw new Error(`cannot read the preview JSON ${a.input}: ${(e as Error).message}`);
  }
  const items = driftItems(doc);
  const text = a.json
    ? JSON.stringify({ stack: a.stack, drift: items.length > 0, items }, null, 2) + "\n"
    : renderDriftMarkdown(a.stack, items);
  if (typeof a.out === "string") fs.writeFileSync(a.out, text);
  out(text);
  return items.length ? 3 : 0;
}

const USAGE = `usage: quant-platform drift-report --stack <stack> --input <preview.json> [--out <file>] [--json]

Turns the JSON of \`pulumi preview --refresh --expect-no-changes --json\` into a drift report: which
resource, which property, declared vs actual, and who is affected.
  --stack    the stack the preview was run for
  --input    the preview JSON file
  --out      also write the report to this file
  --json     JSON instead of Markdown
Exit 0: no drift; 3: drift found (the job fails, the report is its artifact); 1: unreadable input; 2: usage error.`;

export const command: Command = { name: "drift-report", usage: USAGE, run: (argv) => driftReportCli(argv, (s) => process.stdout.write(s)) };
