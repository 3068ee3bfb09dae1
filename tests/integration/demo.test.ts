import * as assert from "assert";
import { runAsync } from "../fixtures/process";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");

/** Runs the compiled binary as `npm run demo` does (without the install steps the test run has done). */
const demo = (args: string[]) => runAsync(process.execPath, [path.join(ROOT, "bin/quant-platform.js"), "demo", ...args], { cwd: ROOT });

describe("the migration demo (npm run demo), from the compiled binary", function () {
  this.timeout(300000);

  it("trains, registers the best by precision, migrates quant -> quant_stg and checks every byte independently", async () => {
    const r = await demo(["--size-mb", "1", "--json"]);
    assert.strictEqual(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.strictEqual(report.independentlyVerified, true);
    assert.strictEqual(report.sourceModel, "quant-alpha-transformer");
    assert.ok(report.files > 10 && report.bytes > 1000000, `${report.files} files, ${report.bytes} bytes`);
    assert.match(report.manifestDigest, /^[0-9a-f]{64}$/);
  });
});
