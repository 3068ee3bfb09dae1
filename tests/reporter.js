// Mocha's spec output for people, plus the run's real counts in test-results/summary.json for CI,
// which prints them as the closing `N passed, N failed` line.
const fs = require("fs");
const path = require("path");
const Mocha = require("mocha");

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const failedTitles = [];
    runner.on("fail", (test) => failedTitles.push(test.fullTitle()));
    runner.once("end", () => {
      const dir = path.resolve(__dirname, "..", "test-results");
      fs.mkdirSync(dir, { recursive: true });
      const { passes, failures, pending, tests } = runner.stats;
      fs.writeFileSync(path.join(dir, "summary.json"), JSON.stringify({ passes, failures, pending, tests, failedTitles }, null, 2));
    });
  }
}
module.exports = SpecWithSummary;
