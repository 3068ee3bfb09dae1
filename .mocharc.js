// Under CI the end-to-end layer cannot go quiet: a skipped test (a missing toolchain) fails the run, and a
// left-over `.only` cannot silently narrow the run to one test.
//
// The whole suite is the default; files named on the command line (`npx mocha tests/unit/plan.test.ts`, or with
// `--spec`) run alone, instead of being added to it as mocha does with a spec from its config.
const named = process.argv.slice(2).some((a) => /\.test\.ts$/.test(a) || a === "--spec" || a.startsWith("--spec="));
module.exports = {
  require: ["ts-node/register/transpile-only", "tests/hooks.ts"],
  ...(named ? {} : { spec: ["tests/**/*.test.ts"] }),
  reporter: "tests/reporter.js",
  timeout: 120000,
  recursive: true,
  "forbid-only": process.env.CI === "true",
  "forbid-pending": process.env.CI === "true",
};
