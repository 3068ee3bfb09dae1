import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { driftReportCli } from "../../cli/driftReport";
import { driftItems, valueAt } from "../../plan/driftReport";
import { PROJECT_DIR } from "../fixtures/config";
import { assertGolden as golden } from "../fixtures/goldenFiles";

const doc = (n: string) => path.join(PROJECT_DIR, "tests/fixtures/drift", n);
function report(name: string, stack = "quant") {
  let out = "";
  const code = driftReportCli(["--stack", stack, "--input", doc(name)], (s) => (out += s));
  return { code, out };
}

describe("drift report (npm run drift-report)", () => {
  it("a changed ACL: the property, declared against actual, and the groups affected; exit 3", () => {
    const r = report("changed-acl.json");
    assert.strictEqual(r.code, 3);
    const [i] = driftItems(JSON.parse(fs.readFileSync(doc("changed-acl.json"), "utf8")));
    assert.deepStrictEqual([i.property, i.declared, i.actual], ["accessControls[1].permissionLevel", '"CAN_MANAGE"', '"CAN_READ"']);
    assert.match(i.affects, /^\/Teams\/quant\/git: groups quant-admin, quant-consumer, quant-developer$/);
    golden("drift-changed-acl.md", r.out);
  });

  it("an unprotected branch reads as missing, a flipped force-push as declared false, actual true", () => {
    const r = report("unprotected-branch.json");
    assert.strictEqual(r.code, 3);
    assert.match(r.out, /\| \(the resource\) \| exists \| missing: deleted outside Pulumi \| branch quant_live \|/);
    assert.match(r.out, /\| allowForcePush \| false \| true \| branch quant_stg \|/);
    golden("drift-unprotected-branch.md", r.out);
  });

  it("a deleted migrated model version names the model and its promotion", () => {
    const r = report("deleted-model-version.json", "quant_stg");
    assert.strictEqual(r.code, 3);
    assert.match(r.out, /model quant-alpha-transformer \(promoted quant -> quant_stg\)/);
    golden("drift-deleted-model-version.md", r.out);
  });

  it("real preview JSON (captured by tests/e2e/stacks.test.ts): a changed ACL entry and a force-push turned on, named leaf by leaf", () => {
    const r = report("acl-and-branch-real.json");
    assert.strictEqual(r.code, 3);
    assert.match(r.out, /\| accessControls\[\d\]\.permissionLevel \| "CAN_MANAGE" \| "CAN_READ" \| \/Teams\/quant\/git: groups /);
    assert.match(r.out, /\| allowForcePush \| false \| true \| branch quant_stg \|/);
    assert.doesNotMatch(r.out, /unknown property|__defaults/);
    golden("drift-acl-and-branch-real.md", r.out);
  });

  it("real preview JSON: a migrated version deleted in the target reads as missing, naming the model and its promotion", () => {
    const r = report("deleted-version-real.json", "quant_lr");
    assert.strictEqual(r.code, 3);
    assert.match(
      r.out,
      /\| \(the resource\) \| exists \| missing: deleted outside Pulumi \| model quant-alpha-transformer \(promoted quant_stg -> quant_lr\) \|/,
    );
    golden("drift-deleted-version-real.md", r.out);
  });

  it("no drift: exit 0 and says so", () => {
    assert.deepStrictEqual(report("no-drift.json"), {
      code: 0,
      out: "## Drift: stack quant\n\nNo drift: every resource matches its declaration.\n",
    });
  });

  it("--out keeps the report as a file (the job's artifact) and --json is machine-readable", () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "drift-")), "drift.json");
    const code = driftReportCli(["--stack", "quant", "--input", doc("changed-acl.json"), "--out", out, "--json"], () => undefined);
    assert.strictEqual(code, 3);
    assert.strictEqual(JSON.parse(fs.readFileSync(out, "utf8")).items.length, 1);
  });

  it("reads Pulumi property paths", () => {
    assert.strictEqual(valueAt({ a: [{ b: 1 }, { b: 2 }] }, "a[1].b"), 2);
    assert.strictEqual(valueAt({}, "a.b"), undefined);
  });
});
