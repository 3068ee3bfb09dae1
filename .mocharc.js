// Under CI the end-to-end layer cannot go quiet: a skipped test (a missing toolchain) fails the run, and a
// left-over `.only` cannot silently narrow the run to one test.
//
// The whole suite is the default; files named on the command line (`npx mocha tests/unit/plan.test.ts`, or with
// `--spec`) run alone, instead of being added to it as mocha does with a spec from its config.
//
// The whole suite runs its files in MOCHA_JOBS worker processes (default 3 on the CI machine's 2 cores; 1 runs
// them in this process, one after the other). Much of a file's time is spent waiting on the servers, Python
// clients and Pulumi engines it starts, so a worker more than the cores keeps them busy. Files are handed out
// longest first, by their seconds in a recorded run (tests/file-seconds.json; a file not in it counts as a
// minute), so that the workers end together rather than one starting a long file near the end.
const fs = require("fs");
const path = require("path");

const named = process.argv.slice(2).some((a) => /\.test\.ts$/.test(a) || a === "--spec" || a.startsWith("--spec="));
const jobs = Number(process.env.MOCHA_JOBS ?? 3);
if (!Number.isInteger(jobs) || jobs < 1)
  throw new Error(`MOCHA_JOBS is a number of worker processes (1 or more), not '${process.env.MOCHA_JOBS}'`);

/** Every test file under tests/, the longest first (as recorded), then by name. */
function suite() {
  const walk = (d) =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith(".test.ts") ? [path.join(d, e.name)] : []));
  const recorded = JSON.parse(fs.readFileSync(path.join("tests", "file-seconds.json"), "utf8")).seconds;
  const seconds = (f) => recorded[f.split(path.sep).join("/")] ?? 60;
  return walk("tests").sort((a, b) => seconds(b) - seconds(a) || a.localeCompare(b));
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
