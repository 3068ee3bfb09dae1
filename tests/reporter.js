// Mocha's spec output for people, plus the run's real counts in test-results/summary.json for CI,
// which prints them as the closing `N passed, N failed` line, and the wall time each test file took
// (`files`, slowest first), so that where the run's time goes is on record.
const fs = require("fs");
const path = require("path");
const Mocha = require("mocha");

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const failedTitles = [];
    const files = new Map();
    // In parallel mode the workers time each file (tests/hooks.ts) and this process only replays their events.
    const fileTimes = path.resolve(__dirname, "..", "test-results", "file-times.jsonl");
    fs.rmSync(fileTimes, { force: true });
    runner.on("fail", (test) => failedTitles.push(test.fullTitle()));
    // A file's time: from its first top-level suite starting to its last one ending (hooks included).
    runner.on("suite", (suite) => {
      if (!suite.file || suite.parent?.file === suite.file) return;
      const f = files.get(suite.file) ?? { ms: 0, tests: 0 };
      f.started = Date.now();
      files.set(suite.file, f);
    });
    runner.on("suite end", (suite) => {
      const f = suite.file && files.get(suite.file);
      if (!f || suite.parent?.file === suite.file || f.started === undefined) return;
      f.ms += Date.now() - f.started;
      f.started = undefined;
    });
    runner.on("test end", (test) => {
      const f = test.file && files.get(test.file);
      if (f) f.tests++;
    });
    runner.once("end", () => {
      const dir = path.resolve(__dirname, "..", "test-results");
      fs.mkdirSync(dir, { recursive: true });
      const { passes, failures, pending, tests, duration } = runner.stats;
      const root = path.resolve(__dirname, "..");
      const timed = fs.existsSync(fileTimes)
        ? fs
            .readFileSync(fileTimes, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l))
            .map((f) => [f.file, { ms: f.ms, tests: f.tests }])
        : [];
      const perFile = [...files, ...timed]
        .map(([file, f]) => ({ file: path.relative(root, file), seconds: Math.round(f.ms / 100) / 10, tests: f.tests }))
        .sort((a, b) => b.seconds - a.seconds);
      fs.writeFileSync(
        path.join(dir, "summary.json"),
        JSON.stringify(
          { passes, failures, pending, tests, seconds: Math.round((duration ?? 0) / 1000), failedTitles, files: perFile },
          null,
          2,
        ),
      );
    });
  }
}
module.exports = SpecWithSummary;
