import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import * as YAML from "yaml";
import { branchFlow, judge } from "../../cli/branchFlow";
import { PROJECT_DIR, shippedModel } from "../fixtures/config";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { GitHubTestServer } from "../../devenv/github/githubServer";
import { UsageError } from "../../cli/command";

const BRANCHES = ["quant", "quant_stg", "quant_lr", "quant_live"];
const FLOW = new Set(["quant>quant_stg", "quant_stg>quant_lr", "quant_stg>quant_live", "quant_lr>quant_live"]);

async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await branchFlow(argv, env, (l) => out.push(l), PROJECT_DIR);
  return { code, out };
}

describe("branch-flow guard", () => {
  for (const source of BRANCHES) {
    for (const target of BRANCHES) {
      const ok = FLOW.has(`${source}>${target}`);
      it(`${source} -> ${target}: ${ok ? "allowed (exit 0)" : "blocked (exit 1)"}`, async () => {
        const r = await run(["--source", source, "--target", target]);
        assert.strictEqual(r.code, ok ? 0 : 1, r.out.join("\n"));
        if (!ok)
          assert.match(
            r.out[0],
            new RegExp(`^blocked: ${source} -> ${target} is not in the promotion flow\\. Allowed targets for ${source}: `),
          );
      });
    }
  }

  it("quant -> quant_live (dev straight to production) lists quant_stg as the only allowed target", async () => {
    const r = await run(["--source", "quant", "--target", "quant_live"]);
    assert.deepStrictEqual(r, {
      code: 1,
      out: ["blocked: quant -> quant_live is not in the promotion flow. Allowed targets for quant: quant_stg"],
    });
  });

  it("a contributor's branch may target quant, and nothing else", () => {
    const m = shippedModel();
    assert.strictEqual(judge(m, "fix-tokenizer", "quant").allowed, true);
    for (const t of ["quant_stg", "quant_lr", "quant_live"]) {
      assert.deepStrictEqual(judge(m, "fix-tokenizer", t), {
        allowed: false,
        message: `blocked: fix-tokenizer -> ${t} is not in the promotion flow. Allowed targets for fix-tokenizer: quant`,
      });
    }
  });

  it("usage errors: a missing --target or an unknown option", async () => {
    await assert.rejects(run(["--source", "quant"]), (e) => e instanceof UsageError && /--target <branch> is required/.test(e.message));
    await assert.rejects(
      run(["--source", "quant", "--target", "quant_stg", "--force"]),
      (e) => e instanceof UsageError && /unknown option --force/.test(e.message),
    );
  });

  it("the npm script exits 0, 1 and 2 as documented", () => {
    const npm = (args: string[]) => spawnSync("npm", ["run", "-s", "branch-flow", "--", ...args], { cwd: PROJECT_DIR, encoding: "utf8" });
    assert.strictEqual(npm(["--source", "quant_stg", "--target", "quant_lr"]).status, 0);
    const blocked = npm(["--source", "quant", "--target", "quant_live"]);
    assert.strictEqual(blocked.status, 1);
    assert.match(blocked.stdout, /Allowed targets for quant: quant_stg/);
    const usage = npm(["--source", "quant"]);
    assert.strictEqual(usage.status, 2);
    assert.match(usage.stderr, /--target <branch> is required\nsee 'quant-platform branch-flow --help'/);
  });

  describe("--close (opt-in)", () => {
    it("GitLab CI: comments with the allowed targets and closes the merge request", async () => {
      const gl = new GitLabTestServer();
      const url = await gl.start();
      try {
        gl.tokens.set("glpat-ci", "api");
        const p = gl.addProject("quant/quant-research");
        p.mergeRequests.set(7, { iid: 7, state: "opened", source_branch: "quant", target_branch: "quant_live", notes: [] });
        const env = {
          GITLAB_CI: "true",
          CI_API_V4_URL: url,
          CI_PROJECT_ID: String(p.id),
          CI_MERGE_REQUEST_IID: "7",
          GITLAB_TOKEN: "glpat-ci",
        };
        const r = await run(["--source", "quant", "--target", "quant_live", "--close"], env);
        assert.strictEqual(r.code, 1);
        const mr = p.mergeRequests.get(7)!;
        assert.strictEqual(mr.state, "closed");
        assert.match(mr.notes[0].body, /Allowed targets for quant: quant_stg/);
        const allowed = await run(["--source", "quant", "--target", "quant_stg", "--close"], env);
        assert.strictEqual(allowed.code, 0);
      } finally {
        await gl.stop();
      }
    });

    it("GitHub Actions: comments and closes the pull request", async () => {
      const gh = new GitHubTestServer();
      const url = await gh.start();
      try {
        gh.tokens.set("ghs_test", "github-actions[bot]");
        gh.addRepo("quantfirm/quant-research").set(42, {
          number: 42,
          state: "open",
          user: "aruiz",
          head: "quant_lr",
          base: "quant_stg",
          updated_at: "2024-05-01T10:00:00Z",
          reviews: [],
          comments: [],
        });
        const event = path.join(fs.mkdtempSync("/tmp/gh-event-"), "event.json");
        fs.writeFileSync(event, JSON.stringify({ pull_request: { number: 42 } }));
        const env = {
          GITHUB_ACTIONS: "true",
          GITHUB_API_URL: url,
          GITHUB_REPOSITORY: "quantfirm/quant-research",
          GITHUB_TOKEN: "ghs_test",
          GITHUB_EVENT_PATH: event,
        };
        const r = await run(["--source", "quant_lr", "--target", "quant_stg", "--close"], env);
        assert.strictEqual(r.code, 1);
        assert.deepStrictEqual(
          gh.requests.map((c) => `${c.method} ${c.path}`),
          ["POST /repos/quantfirm/quant-research/issues/42/comments", "PATCH /repos/quantfirm/quant-research/pulls/42"],
        );
        const pr = gh.repos.get("quantfirm/quant-research")!.get(42)!;
        assert.match(pr.comments[0].body, /Allowed targets for quant_lr: quant_live/);
        assert.deepStrictEqual(gh.requests[1].body, { state: "closed" });
        assert.strictEqual(pr.state, "closed");
        assert.strictEqual(gh.requests[0].auth, "Bearer ghs_test");
      } finally {
        await gh.stop();
      }
    });

    it("outside CI it is a usage error", async () => {
      await assert.rejects(run(["--source", "quant", "--target", "quant_live", "--close"], {}), /--close runs in GitLab CI/);
    });
  });

  it("ships CI definitions that run the guard on every merge request", () => {
    const gl = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, "ci/gitlab/branch-flow.yml"), "utf8"));
    assert.deepStrictEqual(gl["branch-flow"].rules, [{ if: '$CI_PIPELINE_SOURCE == "merge_request_event"' }]);
    assert.ok(
      gl["branch-flow"].script.some((l: string) =>
        l.includes('branch-flow -- --source "$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME" --target "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"'),
      ),
    );
    const gh = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, ".github/workflows/branch-flow.yml"), "utf8"));
    assert.ok("pull_request" in gh.on);
    assert.ok(
      gh.jobs["branch-flow"].steps.some((s: { run?: string }) => s.run?.includes('branch-flow -- --source "$SOURCE" --target "$TARGET"')),
    );
  });
});
