/**
 * Who gains or loses what between two Git refs, for merge-request previews.
 * Without --head the working tree is compared. Exit 0: no change. 3: changes found. 1: error (an invalid
 * configuration at either ref, reported with the ref). 2: usage error.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { AccessModel } from "../config/schema";
import { accessDiff, renderAccessDiffMarkdown } from "../plan/accessDiff";
import { Command, parseArgs, projectDir, UsageError } from "./command";

const USAGE = `usage: quant-platform access-diff --base <git-ref> [--head <git-ref>] [--stack <stack>] [--format markdown|json] [--dir <project dir>]

Who gains or loses what between two refs of the configuration, per stack, from the access plan.
  --base     the ref to compare from (for example origin/main)
  --head     the ref to compare to (default: the working tree)
  --stack    one stack (default: all)
  --format   markdown (default) or json
Exit 0: no change; 3: changes found; 1: an invalid configuration at either ref; 2: usage error.`;

/** The configuration files as they are at `ref` (undefined: the working tree), validated. */
export function modelAt(dir: string, ref: string | undefined): AccessModel {
  if (ref === undefined) return validate(readConfigSources(dir));
  const git = (...args: string[]) => execFileSync("git", ["-C", dir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  let names: string[];
  try {
    names = git("ls-tree", "--name-only", ref)
      .split("\n")
      .filter((f) => /^Pulumi(\..+)?\.ya?ml$/.test(f));
  } catch (e) {
    throw new Error(`cannot read ref '${ref}': ${((e as { stderr?: string }).stderr ?? "").trim() || (e as Error).message}`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "access-diff-"));
  try {
    for (const f of names) fs.writeFileSync(path.join(tmp, f), git("show", `${ref}:${f}`));
    return validate(readConfigSources(tmp));
  } catch (e) {
    throw new Error(`the configuration at ${ref} is invalid:\n${(e as Error).message}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function accessDiffCli(argv: string[], out: (s: string) => void, dir = projectDir()): number {
  const a = parseArgs(argv, ["base", "head", "stack", "format", "dir"]);
  if (typeof a.base !== "string") throw new UsageError("--base <git-ref> is required");
  const format = (a.format ?? "markdown") as string;
  if (format !== "markdown" && format !== "json") throw new UsageError(`--format is markdown or json, not '${format}'`);
  const root = typeof a.dir === "string" ? a.dir : dir;
  const head = a.head as string | undefined;
  const d = accessDiff(
    { ref: a.base, model: modelAt(root, a.base) },
    { ref: head ?? "working tree", model: modelAt(root, head) },
    a.stack as string | undefined,
  );
  if (typeof a.stack === "string" && d.stacks.length === 0) throw new UsageError(`unknown stack '${a.stack}'`);
  out(format === "json" ? JSON.stringify(d, null, 2) : renderAccessDiffMarkdown(d));
  return d.changed ? 3 : 0;
}

export const command: Command = {
  name: "access-diff",
  usage: USAGE,
  run: (argv) => accessDiffCli(argv, (s) => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`)),
};
