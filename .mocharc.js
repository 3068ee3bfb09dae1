// Under CI the end-to-end layer cannot go quiet: a skipped test (a missing toolchain) fails the run, and a
// left-over `.only` cannot silently narrow the run to one test.
//
// The whole suite is the default; files named on the command line (`npx mocha tests/unit/plan.test.ts`, or with
// `--spec`) run alone, instead of being added to it as mocha does with a spec from its config.
//
// The whole suite runs its files in MOCHA_JOBS worker processes (default 2, the CI machine's cores; 1 runs them
// in this process, one after the other). Much of a file's time is spent waiting on the servers, Python clients
// and Pulumi engines it starts, so two workers finish the suite in about 60% of the serial time. The longest
// file (the stacks e2e) is handed out first, then the rest by layer, so that both workers end together.
const fs = require("fs");
const path = require("path");

const named = process.argv.slice(2).some((a) => /\.test\.ts$/.test(a) || a === "--spec" || a.startsWith("--spec="));
const jobs = Number(process.env.MOCHA_JOBS ?? 2);
if (!Number.isInteger(jobs) || jobs < 1)
  throw new Error(`MOCHA_JOBS is a number of worker processes (1 or more), not '${process.env.MOCHA_JOBS}'`);

/** Every test file under tests/, the longest first, then by layer (end to end, integration, providers, ...). */
function suite() {
  const walk = (d) =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith(".test.ts") ? [path.join(d, e.name)] : []));
  const layers = ["e2e", "integration", "providers", "components", "unit"];
  const rank = (f) =>
    f === path.join("tests", "e2e", "stacks.test.ts") ? -1 : layers.findIndex((l) => f.startsWith(path.join("tests", l) + path.sep)) >>> 0;
  return walk("tests").sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

module.exports = {
  require: ["ts-node/register/transpile-only", "tests/hooks.ts"],
  ...(named ? {} : { spec: suite(), ...(jobs > 1 ? { parallel: true, jobs } : {}) }),
  reporter: "tests/reporter.js",
  timeout: 120000,
  recursive: true,
  "forbid-only": process.env.CI === "true",
  "forbid-pending": process.env.CI === "true",
};
