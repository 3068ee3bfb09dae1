/**
 * python/quant_lifecycle's own tests (python/tests, pytest): the sign-off's refusals and the notebook sign-off path,
 * against a real MLflow server and the Databricks test workspace, which the pytest fixtures start and stop. Run here
 * so that `npm test` runs them: pytest's failure fails this test with pytest's output, and its summary is checked
 * (nothing skipped, something passed), since mocha's forbid-pending does not see a skip inside pytest.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_DIR, VENV_BIN } from "../../devenv/localMlflow";
import { runAsync } from "../fixtures/process";

/** Processes whose command line or environment names `marker` (what a server started under that folder carries). */
function processesNaming(marker: string): string[] {
  const read = (f: string) => {
    try {
      return fs.readFileSync(f, "utf8").split("\0").join(" ");
    } catch {
      return ""; // the process ended meanwhile
    }
  };
  return fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((pid) => read(`/proc/${pid}/cmdline`).includes(marker) || read(`/proc/${pid}/environ`).includes(marker))
    .map((pid) => `${pid}: ${read(`/proc/${pid}/cmdline`)}`);
}

describe("python/quant_lifecycle (pytest, python/tests)", function () {
  this.timeout(900000);

  it("the sign-off refuses anything but a passed validation of the version, and the notebook path signs off as the consumer", async () => {
    // pytest's temporary folders (the MLflow server's store among them) under one folder of this run's own.
    const basetemp = fs.mkdtempSync(path.join(os.tmpdir(), "quant-lifecycle-pytest-"));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, MLFLOW_ENABLE_TELEMETRY: "false", DO_NOT_TRACK: "true" };
      const args = ["-m", "pytest", "python/tests", "-q", "-p", "no:cacheprovider", "-rfEs", `--basetemp=${path.join(basetemp, "t")}`];
      const r = await runAsync(path.join(VENV_BIN, "python"), args, { cwd: PROJECT_DIR, env });
      const output = `${r.stdout.slice(-12000)}\n${r.stderr.slice(-4000)}`;
      assert.strictEqual(r.status, 0, `pytest exited ${r.status}:\n${output}`);
      const summary = r.stdout.trim().split("\n").at(-1) ?? "";
      assert.match(summary, /^\d+ passed/, output);
      assert.doesNotMatch(summary, /skipped|xfail|xpass|deselected|error/, output);
      assert.deepStrictEqual(processesNaming(basetemp), [], "the MLflow server pytest started was stopped with the session");
      assert.deepStrictEqual(processesNaming("workspaceServerMain.ts"), [], "and so was the test workspace");
    } finally {
      fs.rmSync(basetemp, { recursive: true, force: true });
    }
  });
});
