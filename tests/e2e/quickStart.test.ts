/**
 * The README's quick start, exactly as a newcomer runs it: `npm start` walks the platform team's job under the
 * real engine on the local platform, and leaves its state in .local/state for `pulumi stack export`.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { findPulumiToolchain, PROJECT_DIR } from "../../devenv/pulumiToolchain";
import { runAsync } from "../fixtures/process";

describe("the quick start: npm start runs pulumi up of the three stacks and walks the model to production", function () {
  this.timeout(1200000);
  let out = "";
  let code: number | null = null;
  let env: NodeJS.ProcessEnv = {};
  const local = path.join(PROJECT_DIR, ".local");

  before(async function () {
    const tc = findPulumiToolchain();
    if (!tc.pulumi) {
      console.log(`      SKIPPED the quick-start test: ${tc.reason}`);
      this.skip();
    }
    // Nothing of the caller's Pulumi, cloud or MLflow settings: what a fresh shell has.
    env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DATABRICKS_|PULUMI_|MLFLOW_|MIGRATE_|GITLAB_)/.test(k)));
    const r = await runAsync("npm", ["start"], { cwd: PROJECT_DIR, env });
    out = `${r.stdout}\n${r.stderr}`;
    code = r.status;
  });

  it("exits 0, each step saying what it does, in the lifecycle's order", () => {
    assert.strictEqual(code, 0, out.slice(-8000));
    const steps = [
      /^1\. pulumi up -s quant: groups, members, Git folders/m,
      /^2\. three training iterations logged in quant/m,
      /^3\. \S+ \(approver\) moves version \d+ to Staging in quant/m,
      /^4\. pulumi up -s quant_stg: /m,
      /^5\. \S+ \(consumer\) validates quant-alpha-transformer version \d+ in quant_stg/m,
      /^6\. pulumi up -s quant_lr: .*through the gate/m,
      /^7\. pulumi preview --expect-no-changes of quant, quant_stg, quant_lr/m,
    ];
    let at = 0;
    for (const re of steps) {
      const m = re.exec(out.slice(at));
      assert.ok(m, `step ${re} after position ${at}:\n${out}`);
      at += m.index + m[0].length;
    }
    assert.match(out, /registered quant-alpha-transformer version \d+ in quant/);
    assert.match(out, /^\s+no changes$/m);
  });

  it("prints who can do what per workspace as read back, the branch rules, the journey with its evidence, and the time", () => {
    for (const s of ["quant", "quant_stg", "quant_lr"]) assert.match(out, new RegExp(`^\\s+${s}:\\n\\s+quant-`, "m"), `access of ${s}`);
    assert.match(out, /quant-consumer \(2\): grace\.lee@quantfirm\.example, hiro\.tanaka@quantfirm\.example/);
    assert.match(out, /CAN_MANAGE on \/Teams\/quant\/git/);
    assert.match(
      out,
      /Git folder \/Teams\/quant\/shared\/quant-research: https:\/\/127\.0\.0\.1:\d+\/quant\/quant-research\.git at quant_lr/,
    );
    assert.match(out, /^\s+quant_live: push .*; force push never$/m);
    assert.match(out, /^\s+quant: push .*; force push never$/m);
    assert.match(out, /sign-off {5}grace\.lee@quantfirm\.example to Production naming run [0-9a-f]{32}: counted/);
    assert.match(out, /next: ready for pulumi up of quant_lr/);
    assert.match(
      out,
      /promoted on {2}validation run [0-9a-f]{32} by grace\.lee@quantfirm\.example \(precision 0\.\d+ >= 0\.8, historical-sample\.csv sha256:[0-9a-f]{64}\); signed off by grace\.lee@quantfirm\.example; approved by \S+@quantfirm\.example/,
    );
    assert.match(out, /^Done in \d+ s\./m);
  });

  it("acts the Git rules out, not read back: a line per member, each showing what went through with their own token", () => {
    const section = out.slice(out.indexOf("The Git rules acted out, not read back"));
    assert.ok(section.length > 40, out.slice(-4000));
    // Two rows of the seed's table, as the team's rules say: a developer pushes to quant only and merges into quant;
    // a consumer pushes nowhere and merges nowhere. Everyone: only the flow's pairs pass the guard, own approval refused.
    const flow = "guard passes quant->quant_stg, quant_stg->quant_lr, quant_stg->quant_live, quant_lr->quant_live;";
    assert.match(
      section,
      new RegExp(
        `ana\\.ruiz \\(developer\\): push quant; force-push nowhere; ${flow} own approval refused, merged alone nowhere; merges with others' approvals into quant$`,
        "m",
      ),
    );
    assert.match(
      section,
      new RegExp(
        `grace\\.lee \\(consumer\\): push nowhere; force-push nowhere; ${flow} own approval refused, merged alone nowhere; merges with others' approvals into nowhere$`,
        "m",
      ),
    );
  });

  it("leaves the state in .local/state: pulumi stack export -s quant_lr shows the production promotion, and no token in plaintext", async () => {
    const tc = findPulumiToolchain();
    if (!tc.pulumi) throw new Error(tc.reason);
    const stateEnv = {
      ...env,
      PATH: `${tc.binDir}${path.delimiter}${env.PATH}`,
      PULUMI_BACKEND_URL: `file://${path.join(local, "state")}`,
      PULUMI_CONFIG_PASSPHRASE_FILE: path.join(local, "passphrase"),
      PULUMI_HOME: path.join(local, "pulumi-home"),
      PULUMI_SKIP_UPDATE_CHECK: "true",
    };
    const r = await runAsync("pulumi", ["stack", "export", "-s", "quant_lr"], { cwd: path.join(local, "project"), env: stateEnv });
    assert.strictEqual(r.status, 0, r.stderr);
    const resources = (JSON.parse(r.stdout) as { deployment: { resources: { urn: string; outputs?: Record<string, unknown> }[] } })
      .deployment.resources;
    const promotion = resources.find((x) => /ModelPromotions\$pulumi-nodejs:dynamic\/mlflow:ModelMigration::/.test(x.urn));
    assert.ok(promotion, resources.map((x) => x.urn).join("\n"));
    assert.strictEqual(promotion!.outputs?.toEnv, "quant_lr");
    assert.match(String(promotion!.outputs?.targetVersion), /^\d+$/);
    const tokens = [...fs.readFileSync(path.join(local, "databrickscfg"), "utf8").matchAll(/^token = (.+)$/gm)].map((m) => m[1]);
    assert.ok(tokens.length >= 30, "a token per member and workspace");
    const stateText = fs
      .readdirSync(path.join(local, "state", ".pulumi", "stacks", "quant-platform"))
      .map((f) => fs.readFileSync(path.join(local, "state", ".pulumi", "stacks", "quant-platform", f), "utf8"))
      .join("\n");
    for (const t of tokens) assert.ok(!stateText.includes(t), "no member token in the state");
    assert.ok(!/dapi-e2e-/.test(stateText), "no workspace token in plaintext in the state");
  });
});
