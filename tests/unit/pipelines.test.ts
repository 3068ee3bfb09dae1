import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { PROJECT_DIR } from "../fixtures/config";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { marker, mrNote } from "../../cli/mrNote";

const read = (f: string) => fs.readFileSync(path.join(PROJECT_DIR, f), "utf8");
const yaml = (f: string) => YAML.parse(read(f), { merge: true });
const STACKS = ["quant", "quant_stg", "quant_lr"];
const scriptOf = (job: { script: string[] }) => job.script.join("\n");

describe("pipelines shipped for users", () => {
  describe(".gitlab-ci.yml", () => {
    const ci = yaml(".gitlab-ci.yml");

    it("tests with the same command as CI here", () => assert.deepStrictEqual(ci.test.script, ["bash .ci/run"]));

    it("on merge requests, per stack: the access diff and pulumi preview --diff, posted as one note updated in place", () => {
      assert.deepStrictEqual(ci.preview.rules, [{ if: '$CI_PIPELINE_SOURCE == "merge_request_event"' }]);
      assert.deepStrictEqual(ci.preview.parallel.matrix, [{ STACK: STACKS }]);
      const s = scriptOf(ci.preview);
      assert.match(
        s,
        /npm run --silent preview -- --stack "\$STACK" --base "origin\/\$CI_MERGE_REQUEST_TARGET_BRANCH_NAME" --policy-pack policy/,
      );
      assert.match(s, /npm run --silent mr-note -- --stack "\$STACK"/);
    });

    it("deploys on main in order quant -> quant_stg -> quant_lr, with manual gates for quant_stg and quant_lr", () => {
      for (const s of STACKS) assert.match(scriptOf(ci[`deploy-${s}`]), new RegExp(`^npm run --silent deploy -- --stack ${s}$`));
      assert.strictEqual(ci["deploy-quant"].needs, undefined);
      assert.deepStrictEqual(ci["deploy-quant_stg"].needs, ["deploy-quant"]);
      assert.deepStrictEqual(ci["deploy-quant_lr"].needs, ["deploy-quant_stg"]);
      for (const j of ["deploy-quant_stg", "deploy-quant_lr"]) assert.strictEqual(ci[j].rules[0].when, "manual", j);
      assert.strictEqual(ci["deploy-quant"].rules[0].when, undefined);
    });

    it("a scheduled drift job per stack that fails on drift and keeps the report", () => {
      assert.deepStrictEqual(ci.drift.rules, [{ if: '$CI_PIPELINE_SOURCE == "schedule"' }]);
      assert.deepStrictEqual(ci.drift.parallel.matrix, [{ STACK: STACKS }]);
      assert.match(scriptOf(ci.drift), /^npm run --silent drift -- --stack "\$STACK" --out "drift-\$STACK.md" --json-out preview.json$/);
      assert.strictEqual(ci.drift.artifacts.when, "always");
    });
  });

  describe("GitHub Actions", () => {
    it("preview: per stack, access diff and pulumi/actions preview --diff in one sticky comment per stack", () => {
      const w = yaml(".github/workflows/preview.yml");
      assert.ok(w.on === "pull_request" || "pull_request" in w.on);
      assert.deepStrictEqual(w.jobs.preview.strategy.matrix.stack, STACKS);
      const steps = w.jobs.preview.steps;
      assert.ok(steps.some((s: { run?: string }) => s.run?.startsWith("npm run --silent preview -- --stack ${{ matrix.stack }} --base")));
      assert.ok(
        steps.some(
          (s: { uses?: string; with?: { header?: string } }) =>
            s.uses?.startsWith("marocchino/sticky-pull-request-comment") && s.with?.header === "quant-platform-preview-${{ matrix.stack }}",
        ),
      );
    });

    it("deploy: quant -> quant_stg -> quant_lr, gated by environments", () => {
      const w = yaml(".github/workflows/deploy.yml");
      assert.deepStrictEqual(Object.keys(w.jobs), STACKS);
      assert.strictEqual(w.jobs.quant_stg.needs, "quant");
      assert.strictEqual(w.jobs.quant_lr.needs, "quant_stg");
      for (const s of STACKS) assert.strictEqual(w.jobs[s].environment, s);
      assert.ok(w.jobs.quant_lr.steps.some((s: { run?: string }) => s.run === "npm run --silent deploy -- --stack ${{ github.job }}"));
    });

    it("drift: scheduled, per stack, report kept as an artifact", () => {
      const w = yaml(".github/workflows/drift.yml");
      assert.ok(w.on.schedule.length > 0);
      assert.deepStrictEqual(w.jobs.drift.strategy.matrix.stack, STACKS);
      assert.ok(
        w.jobs.drift.steps.some((s: { run?: string }) => s.run?.startsWith("npm run --silent drift -- --stack ${{ matrix.stack }}")),
      );
      assert.ok(
        w.jobs.drift.steps.some(
          (s: { uses?: string; if?: string }) => s.uses?.startsWith("actions/upload-artifact") && s.if === "always()",
        ),
      );
    });

    it("drift: the scheduled flow audit reads the last 8 days of merged pull requests and fails on findings", () => {
      const w = yaml(".github/workflows/drift.yml");
      const job = w.jobs["flow-audit"];
      assert.deepStrictEqual(job.permissions, { contents: "read", "pull-requests": "read" });
      const step = job.steps.find((s: { run?: string }) => s.run?.startsWith("npm run --silent flow-audit --"));
      assert.ok(step, "a flow-audit step");
      assert.match(step.run, /--since "\$\(date -u -d '-8 days' \+%F\)" --api "\$GITHUB_API_URL" > flow-audit\.md$/);
      assert.deepStrictEqual(step.env, { GITHUB_TOKEN: "${{ secrets.GITHUB_TOKEN }}" });
      assert.strictEqual(step.if, undefined, "its exit code (3 on findings) fails the job");
      assert.ok(
        job.steps.some(
          (s: { uses?: string; if?: string; with?: { path?: string } }) =>
            s.uses?.startsWith("actions/upload-artifact") && s.if === "always()" && s.with?.path === "flow-audit.md",
        ),
      );
    });
  });

  it("no pipeline file holds a credential: secrets come from CI variables only", () => {
    for (const f of [
      ".gitlab-ci.yml",
      ".github/workflows/preview.yml",
      ".github/workflows/deploy.yml",
      ".github/workflows/drift.yml",
      ".github/workflows/branch-flow.yml",
      "ci/gitlab/branch-flow.yml",
    ]) {
      const text = read(f);
      assert.ok(!/(glpat-|dapi[0-9a-f]|ghp_|gho_|pul-[0-9a-f]{8})/.test(text), f);
      for (const m of text.matchAll(/^\s*[A-Z_]*(TOKEN|SECRET)[A-Z_]*:\s*(.+)$/gm))
        assert.match(m[2], /^\$\{\{ secrets\.\w+ \}\}$/, `${f}: ${m[0]}`);
    }
  });

  it("mr-note creates the stack's note once, then updates it in place", async () => {
    const gl = new GitLabTestServer();
    const url = await gl.start();
    try {
      gl.tokens.set("glpat-ci", "api");
      const p = gl.addProject("quant/quant-platform");
      p.mergeRequests.set(3, {
        iid: 3,
        state: "opened",
        source_branch: "feature",
        target_branch: "main",
        notes: [{ id: 1, body: "LGTM" }],
      });
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mr-note-"));
      fs.writeFileSync(path.join(dir, "access.md"), "## Access changes\n\nkai.novak gains approve");
      fs.writeFileSync(path.join(dir, "preview.txt"), "~ 1 to update");
      const env = { CI_API_V4_URL: url, CI_PROJECT_ID: String(p.id), CI_MERGE_REQUEST_IID: "3", GITLAB_TOKEN: "glpat-ci" };
      const args = ["--stack", "quant_stg", "--access", path.join(dir, "access.md"), "--preview", path.join(dir, "preview.txt")];
      assert.strictEqual(await mrNote(args, env), "created");
      fs.writeFileSync(path.join(dir, "access.md"), "## Access changes\n\nNo access changes.");
      assert.strictEqual(await mrNote(args, env), "updated");
      const mine = p.mergeRequests.get(3)!.notes.filter((n) => n.body.startsWith(marker("quant_stg")));
      assert.strictEqual(mine.length, 1);
      assert.match(mine[0].body, /No access changes\./);
      assert.match(mine[0].body, /~ 1 to update/);
      assert.strictEqual(p.mergeRequests.get(3)!.notes.length, 2, "other notes untouched");
    } finally {
      await gl.stop();
    }
  });
});
