/**
 * The pipeline jobs, one command each, so what CI runs is what the end-to-end tests run:
 *   deploy   pulumi up for one stack
 *   preview  a merge request's preview for one stack: the access diff and `pulumi preview --diff`
 *   drift    scheduled drift detection: `pulumi preview --refresh --expect-no-changes --json`, then the report
 * They run the `pulumi` found on PATH in the project folder; the state backend, the passphrase or access
 * token and the provider credentials come from the environment and the stack's secrets, as for any
 * pulumi command.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Command, parseArgs, projectDir, UsageError } from "./command";

/** Runs pulumi, streaming its output through (or collecting stdout), and returns its exit code. */
export function runPulumi(args: string[], cwd: string, collect = false): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn("pulumi", args, {
      cwd,
      stdio: ["ignore", collect ? "pipe" : "inherit", "inherit"],
      env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
    });
    const chunks: Buffer[] = [];
    p.stdout?.on("data", (c: Buffer) => chunks.push(c));
    p.on("error", (e) =>
      reject(
        (e as NodeJS.ErrnoException).code === "ENOENT"
          ? new Error("the pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/install/) or run `npm run setup:pulumi`")
          : e,
      ),
    );
    p.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(chunks).toString("utf8") }));
  });
}

function stackArgs(argv: string[], known: string[], booleans: string[] = []) {
  const a = parseArgs(argv, ["stack", "dir", ...known], booleans);
  if (typeof a.stack !== "string" || !a.stack) throw new UsageError("--stack <stack> is required");
  const dir = typeof a.dir === "string" ? a.dir : projectDir();
  if (!fs.existsSync(path.join(dir, `Pulumi.${a.stack}.yaml`)))
    throw new UsageError(`unknown stack '${a.stack}': there is no Pulumi.${a.stack}.yaml in ${dir}`);
  return { a, stack: a.stack, dir };
}

const DEPLOY_USAGE = `usage: quant-platform deploy --stack <stack> [--refresh] [--policy-pack <dir>] [--dir <project dir>]

The deploy job: \`pulumi up --yes --non-interactive\` for one stack.
  --refresh       refresh the state first (restores anything changed outside Pulumi)
  --policy-pack   run the CrossGuard pack too (the project's is ./policy)
Exit: pulumi's (0 done, non-zero failed).`;

async function deploy(argv: string[]): Promise<number> {
  const { a, stack, dir } = stackArgs(argv, ["policy-pack"], ["refresh"]);
  const args = ["up", "--yes", "--non-interactive", "--skip-preview", "-s", stack];
  if (a.refresh) args.push("--refresh");
  if (typeof a["policy-pack"] === "string") args.push("--policy-pack", a["policy-pack"]);
  return (await runPulumi(args, dir)).code;
}

const PREVIEW_USAGE = `usage: quant-platform preview --stack <stack> [--base <git-ref>] [--out-dir <dir>] [--policy-pack <dir>] [--dir <project dir>]

A merge request's preview for one stack: \`pulumi preview --diff\` into <out-dir>/preview.txt and, with
--base, the access diff (who gains or loses what) into <out-dir>/access.md. mr-note posts both.
  --base          the merge request's target ref (for example origin/main)
  --out-dir       where the files go (default: the current folder)
  --policy-pack   run the CrossGuard pack too
Exit: 0 the preview ran (changes or not); 1 pulumi preview failed (its output is in preview.txt).`;

async function preview(argv: string[]): Promise<number> {
  const { a, stack, dir } = stackArgs(argv, ["base", "out-dir", "policy-pack"]);
  const out = path.resolve(typeof a["out-dir"] === "string" ? a["out-dir"] : ".");
  fs.mkdirSync(out, { recursive: true });
  if (typeof a.base === "string") {
    const { accessDiffCli } = await import("./accessDiff");
    let text = "";
    accessDiffCli(["--base", a.base, "--stack", stack, "--dir", dir], (s) => (text += s));
    fs.writeFileSync(path.join(out, "access.md"), text.endsWith("\n") ? text : `${text}\n`);
  }
  const args = ["preview", "--diff", "--non-interactive", "-s", stack];
  if (typeof a["policy-pack"] === "string") args.push("--policy-pack", a["policy-pack"]);
  const r = await runPulumi(args, dir, true);
  fs.writeFileSync(path.join(out, "preview.txt"), r.stdout);
  process.stdout.write(r.stdout);
  return r.code === 0 ? 0 : 1;
}

const DRIFT_USAGE = `usage: quant-platform drift --stack <stack> [--out <report.md>] [--json-out <preview.json>] [--dir <project dir>]

Scheduled drift detection for one stack: \`pulumi preview --refresh --expect-no-changes --json\`, turned
into a report (which resource, which property, declared vs actual, who is affected).
  --out        write the Markdown report here too (the job's artifact)
  --json-out   keep pulumi's preview JSON here
Exit 0: no drift; 3: drift (the report lists it); 1: the preview failed for another reason.`;

async function drift(argv: string[]): Promise<number> {
  const { a, stack, dir } = stackArgs(argv, ["out", "json-out"]);
  const r = await runPulumi(["preview", "--refresh", "--expect-no-changes", "--json", "--non-interactive", "-s", stack], dir, true);
  if (typeof a["json-out"] === "string") fs.writeFileSync(a["json-out"], r.stdout);
  let doc: unknown;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    throw new Error(`pulumi preview of stack ${stack} gave no JSON document (exit ${r.code}); see its messages above`);
  }
  const { reportDrift } = await import("./driftReport");
  if (reportDrift(stack, doc, { out: typeof a.out === "string" ? a.out : undefined }, (s) => process.stdout.write(s))) return 3;
  if (r.code !== 0)
    throw new Error(`pulumi preview of stack ${stack} failed (exit ${r.code}) without reporting drift; see its messages above`);
  return 0;
}

export const deployCommand: Command = { name: "deploy", usage: DEPLOY_USAGE, run: deploy };
export const previewCommand: Command = { name: "preview", usage: PREVIEW_USAGE, run: preview };
export const driftCommand: Command = { name: "drift", usage: DRIFT_USAGE, run: drift };
