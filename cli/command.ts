/**
 * What every subcommand shares: argument parsing (Node's util.parseArgs, strict), `--help`, and the exit
 * codes of STYLE.md: 0 done, 1 failed, 2 usage, 3 found differences.
 */
import { parseArgs as nodeParseArgs } from "util";
import { projectDir } from "../config/projectDir";

export { projectDir };

/** A usage error: the tool prints it with a hint and exits 2. */
export class UsageError extends Error {}

/** `--help` was asked for: the dispatcher prints the command's usage and exits 0. */
export class HelpRequested extends Error {}

/** One subcommand of the `quant-platform` binary. `run` gets the arguments after the command's name. */
export interface Command {
  name: string;
  usage: string;
  run(argv: string[]): Promise<number> | number;
}

/**
 * Parses `--name value`, `--name=value` and `--flag`. Flags listed in `booleans` take no value. `--help`
 * (and `-h`) anywhere throws HelpRequested; an unknown option or a stray argument is a UsageError.
 */
export function parseArgs(argv: string[], known: string[], booleans: string[] = []): Record<string, string | true> {
  if (argv.includes("--help") || argv.includes("-h")) throw new HelpRequested();
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const k of known) options[k] = { type: "string" };
  for (const k of booleans) options[k] = { type: "boolean" };
  try {
    const { values } = nodeParseArgs({ args: argv, options, strict: true, allowPositionals: false });
    const out: Record<string, string | true> = {};
    for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== false) out[k] = v as string | true;
    return out;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const msg = (e as Error).message;
    const all = [...known, ...booleans].map((k) => `--${k}`).join(", ");
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const name = /'([^']+)'/.exec(msg)?.[1] ?? msg;
      const secret = /token|password|secret/i.test(name)
        ? "; tokens are never taken on the command line: set MLFLOW_TRACKING_TOKEN, DATABRICKS_TOKEN, MIGRATE_FROM_TOKEN or MIGRATE_TO_TOKEN, or use databricks://<profile>"
        : "";
      throw new UsageError(`unknown option ${name}${secret}; expected one of: ${all}`);
    }
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL")
      throw new UsageError(`unexpected argument '${/'([^']+)'/.exec(msg)?.[1] ?? ""}'; options are given as --name value`);
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const name = /'(--[^ ']+)/.exec(msg)?.[1] ?? "an option";
      throw new UsageError(
        `${name.split(" ")[0]} ${booleans.includes(name.replace(/^--/, "").split(" ")[0]) ? "takes no value" : "needs a value"}`,
      );
    }
    throw new UsageError(msg);
  }
}

/**
 * Takes every value of a repeatable option (`--name v`, `--name=v`) out of `argv` before the strict parse,
 * which would keep only the last: the values in order, and the arguments left.
 */
export function takeRepeated(argv: string[], name: string): { values: string[]; rest: string[] } {
  const flag = `--${name}`;
  const values: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x.startsWith(`${flag}=`)) values.push(x.slice(flag.length + 1));
    else if (x === flag) {
      if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
      values.push(argv[++i]);
    } else rest.push(x);
  }
  return { values, rest };
}

/**
 * Runs one command and returns its exit code: usage errors print the message and a pointer to --help (2),
 * `--help` prints the usage (0), any other error prints its message alone, without a stack (1).
 */
export async function runCommand(cmd: Command, argv: string[], prog = "quant-platform"): Promise<number> {
  try {
    return await cmd.run(argv);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(`${cmd.usage}\n`);
      return 0;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\nsee '${prog} ${cmd.name} --help'\n`);
      return 2;
    }
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
