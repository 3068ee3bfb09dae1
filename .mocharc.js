// Under CI the end-to-end layer cannot go quiet: a skipped test (a missing toolchain) fails the run.
module.exports = {
  require: ["ts-node/register/transpile-only", "tests/hooks.ts"],
  spec: ["tests/**/*.test.ts"],
  reporter: "tests/reporter.js",
  timeout: 120000,
  recursive: true,
  "forbid-pending": process.env.CI === "true",
};
