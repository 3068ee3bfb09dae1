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
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(a.input, "utf8"));
  } catch (e) {
    throw new Error(`cannot read the preview JSON ${a.input}: ${(e as Error).message}`);
  }
  return reportDrift(a.stack, doc, { json: !!a.json, out: typeof a.out === "string" ? a.out : undefined }, out) ? 3 : 0;
}

/**
 * The drift report of one stack from a preview document, written to `out` (and to the file `o.out`):
 * Markdown, or JSON with `json`. Returns the number of drift items. Shared by drift and drift-report.
 */
export function reportDrift(stack: string, doc: unknown, o: { json?: boolean; out?: string }, out: (s: string) => void): number {
  const items = driftItems(doc as Parameters<typeof driftItems>[0]);
  const text = o.json ? JSON.stringify({ stack, drift: items.length > 0, items }, null, 2) + "\n" : renderDriftMarkdown(stack, items);
  if (o.out) fs.writeFileSync(o.out, text);
  out(text);
  return items.length;
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
