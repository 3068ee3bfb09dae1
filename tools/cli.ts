/** What every command-line tool shares: argument parsing and exit codes. */

/** A usage error: the tool prints it and exits 2. */
export class UsageError extends Error {}

/** Parses `--name value` and `--flag` arguments; flags listed in `booleans` take no value. */
export function parseArgs(argv: string[], known: string[], booleans: string[] = []): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument '${a}'`);
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (!known.includes(name) && !booleans.includes(name)) throw new UsageError(`unknown option --${name}; expected one of: ${[...known, ...booleans].map((k) => `--${k}`).join(", ")}`);
    if (booleans.includes(name)) {
      out[name] = true;
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`--${name} needs a value`);
    out[name] = v;
  }
  return out;
}

/** Runs a tool's main, mapping UsageError to exit 2 and any other error to exit 1. */
export function runMain(usage: string, main: () => Promise<number> | number): void {
  Promise.resolve()
    .then(main)
    .then((code) => { process.exitCode = code; })
    .catch((e: unknown) => {
      if (e instanceof UsageError) {
        process.stderr.write(`error: ${e.message}\n${usage}\n`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
      }
    });
}
