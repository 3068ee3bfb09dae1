/**
 * Production approvals are evidence recorded by a system that knows who acted, never a tag: a transition
 * request on a Databricks workspace registry (the Databricks test server over a real MLflow server), or
 * the approved merge request that declared the promotion (the GitLab test server and a real Git repository).
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { FixtureInfo, MlflowServer, seedFixture } from "../../devenv/localMlflow";
import { closeServer, listenLoopback } from "../../devenv/loopback";
import { resolveEndpoint } from "../../migration/endpoint";
import { GitEvidenceSource, MigrationGuard } from "../../migration/guard";
import { migrate, MigrateOptions } from "../../migration/modelVersion";
import { TAG } from "../../migration/provenance";
import { approverEmails } from "../../plan/accessPlan";
import { shippedModel } from "../fixtures/config";
import { liveServers } from "../fixtures/liveServers";
import { mlflowAs } from "../fixtures/member";
import { rejectsWithoutWrites } from "../fixtures/targetSnapshot";

const FAST_RETRY = { attempts: 3, backoffMs: 20 };
const oss = (url: string, side: "from" | "to" = "to") => resolveEndpoint(url, side, {});

const PLATFORM = "platform@quantfirm.example";
const ANA = "ana.ruiz@quantfirm.example"; // developer
const CHEN = "chen.wei@quantfirm.example"; // developer and approver
const DARA = "dara.singh@quantfirm.example"; // approver
const GRACE = "grace.lee@quantfirm.example"; // consumer
const TOKENS: Record<string, string> = {
  [PLATFORM]: "dapi-platform",
  [ANA]: "dapi-ana",
  [CHEN]: "dapi-chen",
  [DARA]: "dapi-dara",
  [GRACE]: "dapi-grace",
};

const model = shippedModel();
const guard = (over: Partial<MigrationGuard> = {}): MigrationGuard => ({
  flow: model.flow,
  fromEnv: "quant_stg",
  toEnv: "quant_lr",
  production: true,
  approvers: approverEmails(model),
  members: model.roster.map((m) => ({ email: m.email, gitUsername: m.gitUsername })),
  ...over,
});

describe("production approvals are evidence recorded by the registry or the Git host, never a tag", function () {
  this.timeout(300000);
  let a: MlflowServer;
  let b: MlflowServer;
  before(async () => {
    ({ a, b } = await liveServers());
  });
  /** The promotion is refused as `expected` says, and quant_lr is left exactly as it was. */
  const refuses = (promotion: () => Promise<unknown>, expected: assert.AssertPredicate) =>
    rejectsWithoutWrites(oss(b.url), promotion, expected, "quant_lr");

  describe("from a Databricks workspace registry: a transition request by an approving member other than the author", () => {
    let dbx: DatabricksTestServer;
    const stamp = Date.now();
    const call = (as: string, method: string, p: string, body?: Record<string, unknown>) => mlflowAs(dbx.url, TOKENS[as], method, p, body);
    /** A model with one version by `author`, moved to Production by a release manager. */
    async function productionVersion(name: string, author: string): Promise<void> {
      const exp = await call(author, "POST", "experiments/create", { name: `/Users/${author}/${name}` });
      const run = await call(author, "POST", "runs/create", { experiment_id: exp.experiment_id, start_time: Date.now() });
      for (const [p, text] of [
        ["model/MLmodel", "flavors: {}\n"],
        ["model/weights.bin", "w".repeat(2048)],
      ])
        dbx.putArtifact(run.run.info.run_id, p, Buffer.from(text));
      await call(author, "POST", "registered-models/create", { name });
      await call(author, "POST", "model-versions/create", {
        name,
        source: `${run.run.info.artifact_uri}/model`,
        run_id: run.run.info.run_id,
      });
      await call(PLATFORM, "POST", "databricks/model-versions/transition-stage", {
        name,
        version: "1",
        stage: "Production",
        archive_existing_versions: false,
      });
    }
    const from = () => resolveEndpoint(`databricks+${dbx.url}`, "from", { DATABRICKS_TOKEN: TOKENS[PLATFORM] });
    const run = (name: string, over: Partial<MigrateOptions> = {}) =>
      migrate({
        from: from(),
        to: oss(b.url),
        model: name,
        select: { stage: "Production" },
        toModel: `${name}-lr`,
        retry: FAST_RETRY,
        guard: guard(),
        ...over,
      });

    before(async () => {
      dbx = new DatabricksTestServer(b.url, TOKENS[PLATFORM], "memory", PLATFORM);
      for (const [who, token] of Object.entries(TOKENS)) dbx.addUser(token, who);
      await dbx.start();
    });
    after(() => dbx?.stop());

    it("quant_stg -> quant_lr: a transition request to Production by an approver who is not the author lets the promotion through, and is recorded on the target", async () => {
      const name = `evidence-genuine-${stamp}`;
      await productionVersion(name, ANA);
      await call(DARA, "POST", "transition-requests/create", {
        name,
        version: "1",
        stage: "Production",
        comment: "validated on 2019-2024",
      });
      const r = await run(name);
      assert.deepStrictEqual([r.approval?.kind, r.approval?.approver], ["transition-request", DARA]);
      const t = tagMap((await mlflowClient(oss(b.url)).getModelVersion(`${name}-lr`, r.targetVersion!)).tags);
      assert.deepStrictEqual([t[TAG.approvalKind], t[TAG.approvedBy]], ["transition-request", DARA]);
      assert.match(t[TAG.approvalRef], new RegExp(`transition request to Production by ${DARA.replace(/\./g, "\\.")}`));
      assert.ok(dbx.calls.includes("GET /api/2.0/mlflow/transition-requests/list"), "read with the documented endpoint");
    });

    it("refuses a self-approval: the request was raised by the version's own author, an approver", async () => {
      const name = `evidence-self-${stamp}`;
      await productionVersion(name, CHEN);
      await call(CHEN, "POST", "transition-requests/create", { name, version: "1", stage: "Production" });
      await refuses(
        () => run(name),
        (e: Error) => {
          assert.match(
            e.message,
            /refusing to promote model '.*' version 1 into production environment quant_lr: no transition request to Production on .* by an approving member other than the author chen\.wei@quantfirm\.example/,
          );
          assert.match(e.message, /not counted: chen\.wei@quantfirm\.example \(the version's author\)/);
          return true;
        },
      );
    });

    it("refuses a forged tag alone, saying what evidence is missing and how to give it", async () => {
      const name = `evidence-forged-${stamp}`;
      await productionVersion(name, ANA);
      await call(ANA, "POST", "model-versions/set-tag", { name, version: "1", key: TAG.approvedBy, value: DARA });
      await refuses(
        () => run(name),
        (e: Error) => {
          assert.match(
            e.message,
            /no transition request to Production on .* by an approving member other than the author ana\.ruiz@quantfirm\.example/,
          );
          assert.match(e.message, /the tag quant\.approval\.approved_by=dara\.singh@quantfirm\.example is not evidence/);
          assert.match(e.message, /databricks model-registry create-transition-request '.*' 1 Production/);
          assert.match(
            e.message,
            /an approving member \(chen\.wei@quantfirm\.example, dara\.singh@quantfirm\.example, elena\.petrova@quantfirm\.example, farid\.haddad@quantfirm\.example\)/,
          );
          return true;
        },
      );
    });

    it("refuses a request by a member without an approving role", async () => {
      const name = `evidence-consumer-${stamp}`;
      await productionVersion(name, ANA);
      await call(GRACE, "POST", "transition-requests/create", { name, version: "1", stage: "Production" });
      await refuses(() => run(name), /not counted: grace\.lee@quantfirm\.example \(not an approving member\)/);
    });

    it("a request to another stage does not count; an approval that closed its request leaves nothing Databricks documents a read for", async () => {
      const name = `evidence-closed-${stamp}`;
      await productionVersion(name, ANA);
      await call(DARA, "POST", "transition-requests/create", { name, version: "1", stage: "Staging" });
      await refuses(() => run(name), /no transition request to Production/);
      await call(ANA, "POST", "transition-requests/create", { name, version: "1", stage: "Production" });
      await call(DARA, "POST", "transition-requests/approve", {
        name,
        version: "1",
        stage: "Production",
        archive_existing_versions: false,
      });
      assert.ok(
        dbx.registry.history(name, "1").some((x) => x.activity_type === "APPROVED_REQUEST" && x.user_id === DARA),
        "recorded by the registry",
      );
      await refuses(() => run(name), /Databricks documents no read of past approvals/);
    });

    it("below production no evidence is asked for (quant -> quant_stg)", async () => {
      const name = `evidence-staging-${stamp}`;
      await productionVersion(name, ANA);
      const r = await run(name, { guard: guard({ fromEnv: "quant", toEnv: "quant_stg", production: false }) });
      assert.strictEqual(r.approval, undefined);
    });
  });

  describe("from a registry with aliases: the merge request that declared the promotion, approved on GitLab", () => {
    let gl: GitLabTestServer;
    let repo: string;
    let sha: string;
    let src: FixtureInfo;
    const name = `evidence-alias-${Date.now()}`;
    const ids: Record<string, number> = {};
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=Ana Ruiz", "-c", "user.email=ana.ruiz@quantfirm.example", ...args], {
        cwd: repo,
        encoding: "utf8",
      }).trim();
    const source = (): GitEvidenceSource => ({
      provider: "gitlab",
      apiUrl: gl.url,
      project: "quant/quant-research",
      token: "glpat-platform",
      repoDir: repo,
      configPath: "Pulumi.yaml",
      model: name,
      fromStack: "quant_stg",
      toStack: "quant_lr",
    });
    const mr = () => gl.projects[0].mergeRequests.get(1)!;
    const run = (over: Partial<MigrationGuard> = {}, toModel = `${name}-lr`) =>
      migrate({
        from: oss(a.url, "from"),
        to: oss(b.url),
        model: name,
        select: { alias: "champion" },
        toModel,
        retry: FAST_RETRY,
        guard: guard({ git: source(), ...over }),
      });

    before(async () => {
      src = seedFixture(a, name, { sizeMb: 1, shards: 1 });
      gl = new GitLabTestServer();
      gl.tokens.set("glpat-platform", "read_api");
      for (const u of ["aruiz", "cwei", "dsingh", "glee"]) ids[u] = gl.addUser(u);
      const p = gl.addProject("quant/quant-research");
      await gl.start();
      repo = fs.mkdtempSync(path.join(os.tmpdir(), "promotion-repo-"));
      git("init", "-q");
      const yaml = (promotions: string) =>
        [
          "name: quant-platform",
          "config:",
          "  quant-platform:models:",
          "    value:",
          "      - name: other-model",
          "        stacks: [quant_stg, quant_lr]",
          "        promotions:",
          "          - { from: quant_stg, to: quant_lr, alias: champion }",
          `      - name: ${name}`,
          "        stacks: [quant_stg, quant_lr]",
          ...(promotions ? ["        promotions:", promotions] : []),
          "",
        ].join("\n");
      fs.writeFileSync(path.join(repo, "Pulumi.yaml"), yaml(""));
      git("add", "Pulumi.yaml");
      git("commit", "-q", "-m", "models");
      fs.writeFileSync(path.join(repo, "Pulumi.yaml"), yaml("          - { from: quant_stg, to: quant_lr, alias: champion }"));
      git("commit", "-q", "-am", "promote to quant_lr");
      sha = git("rev-parse", "HEAD");
      p.mergeRequests.set(1, {
        iid: 1,
        state: "merged",
        source_branch: "quant_stg",
        target_branch: "quant_lr",
        notes: [],
        author_id: ids.aruiz,
        approved_by: [],
        merged_by_id: ids.dsingh,
        merged_at: "2026-11-01T10:00:00Z",
        commits: [sha],
      });
    });
    after(async () => {
      await gl?.stop();
      if (repo) fs.rmSync(repo, { recursive: true, force: true });
    });

    it("finds the commit that introduced the promotion entry with git blame, not another model's identical line", async () => {
      const { promotionCommit } = await import("../../migration/guard");
      assert.deepStrictEqual(promotionCommit(source()), { sha, line: 12 });
      assert.strictEqual(promotionCommit({ ...source(), toStack: "quant_live" }), undefined);
    });

    it("refuses a merge request approved only by its own author", async () => {
      mr().approved_by = [ids.aruiz];
      await refuses(
        () => run(),
        /merged without an approval by an approving member other than the merge request's author.*quant\/quant-research!1 by aruiz: not counted aruiz \(the author of quant\/quant-research!1\)/,
      );
    });

    it("refuses an approval by a member without an approving role", async () => {
      mr().approved_by = [ids.glee];
      await refuses(() => run(), /not counted glee \(not an approving member\)/);
    });

    it("refuses a forged tag alone: the merge request was not approved", async () => {
      mr().approved_by = [];
      await mlflowClient(oss(a.url)).setModelVersionTag(name, src.version, TAG.approvedBy, DARA);
      await refuses(
        () => run(),
        (e: Error) => {
          assert.match(e.message, /quant\/quant-research!1 by aruiz: nobody approved it/);
          assert.match(e.message, /the tag quant\.approval\.approved_by=dara\.singh@quantfirm\.example is not evidence/);
          assert.match(e.message, /an approving member \(cwei, dsingh, epetrova, fhaddad\) must approve a merge request that declares it/);
          return true;
        },
      );
      await refuses(() => run({ git: undefined }), /no Git context was given to check it.*is not evidence/);
    });

    it("refuses a promotion whose commit reached the branch without a merge request", async () => {
      mr().commits = [];
      mr().approved_by = [ids.dsingh];
      try {
        await refuses(
          () => run(),
          new RegExp(
            `commit ${sha.slice(0, 12)}, which introduced the promotion of '${name}' quant_stg -> quant_lr in Pulumi\\.yaml \\(line 12\\), was not merged through a merge request`,
          ),
        );
      } finally {
        mr().commits = [sha];
      }
    });

    it("refuses an approval by the version's author (who ran the source run)", async () => {
      const c = mlflowClient(oss(a.url));
      const runId = (await c.getModelVersion(name, src.version)).run_id!;
      const was = tagMap((await c.getRun(runId)).data.tags)["mlflow.user"] ?? "";
      await c.setRunTag(runId, "mlflow.user", CHEN);
      mr().approved_by = [ids.cwei];
      try {
        await refuses(() => run(), /not counted cwei \(the version's author\)/);
      } finally {
        await c.setRunTag(runId, "mlflow.user", was);
      }
    });

    it("an approval by an approving member who is neither author lets it through, and the merge request and approver are recorded", async () => {
      mr().approved_by = [ids.aruiz, ids.dsingh];
      const r = await run();
      assert.deepStrictEqual(
        [r.approval?.kind, r.approval?.ref, r.approval?.approver],
        ["merge-request", "quant/quant-research!1", "dsingh"],
      );
      const t = tagMap((await mlflowClient(oss(b.url)).getModelVersion(`${name}-lr`, r.targetVersion!)).tags);
      assert.deepStrictEqual(
        [t[TAG.approvalKind], t[TAG.approvalRef], t[TAG.approvedBy]],
        ["merge-request", "quant/quant-research!1", "dsingh"],
      );
      assert.ok(gl.log.some((l) => l.path.startsWith(`/api/v4/projects/quant%2Fquant-research/repository/commits/${sha}/merge_requests`)));
      assert.ok(
        gl.log.every((l) => l.method === "GET"),
        "read-only",
      );
    });
  });

  describe("the same on GitHub: the pull request of the commit (GET /repos/{o}/{r}/commits/{sha}/pulls) and its reviews", () => {
    // The two documented endpoints, served on loopback with GitHub's fields (devenv/github/githubServer.ts has no commit route yet).
    let server: http.Server;
    let api = "";
    let repo: string;
    let sha: string;
    const pr = {
      number: 3,
      merged_at: "2026-11-02T10:00:00Z" as string | null,
      user: "aruiz",
      reviews: [] as { user: string; state: string }[],
      commits: [] as string[],
    };
    const name = `evidence-github-${Date.now()}`;
    const source = (): GitEvidenceSource => ({
      provider: "github",
      apiUrl: api,
      project: "quantfirm/quant-research",
      token: "ghp-x",
      repoDir: repo,
      configPath: "Pulumi.yaml",
      model: name,
      fromStack: "quant_stg",
      toStack: "quant_lr",
    });
    const run = () =>
      migrate({
        from: oss(a.url, "from"),
        to: oss(b.url),
        model: name,
        select: { alias: "champion" },
        toModel: `${name}-lr`,
        retry: FAST_RETRY,
        guard: guard({ git: source() }),
      });

    before(async () => {
      seedFixture(a, name, { sizeMb: 1, shards: 1 });
      server = http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://x");
        const send = (status: number, body: unknown) => {
          res.writeHead(status, { "Content-Type": "application/json" });
          res.end(JSON.stringify(body));
        };
        if (req.headers.authorization !== "Bearer ghp-x") return send(401, { message: "Bad credentials" });
        const c = /^\/repos\/quantfirm\/quant-research\/commits\/([0-9a-f]+)\/pulls$/.exec(url.pathname);
        if (c)
          return send(
            200,
            pr.commits.includes(c[1])
              ? [
                  {
                    number: pr.number,
                    state: "closed",
                    user: { login: pr.user },
                    head: { ref: "quant_stg" },
                    base: { ref: "quant_lr" },
                    updated_at: pr.merged_at,
                    merged_at: pr.merged_at,
                  },
                ]
              : [],
          );
        if (url.pathname === `/repos/quantfirm/quant-research/pulls/${pr.number}/reviews`)
          return send(
            200,
            pr.reviews.map((r, i) => ({ id: i + 1, user: { login: r.user }, state: r.state })),
          );
        send(404, { message: "Not Found" });
      });
      api = await listenLoopback(server);
      repo = fs.mkdtempSync(path.join(os.tmpdir(), "promotion-gh-"));
      const git = (...args: string[]) =>
        execFileSync("git", ["-c", "user.name=Ana Ruiz", "-c", "user.email=ana@x", ...args], { cwd: repo, encoding: "utf8" }).trim();
      git("init", "-q");
      fs.writeFileSync(
        path.join(repo, "Pulumi.yaml"),
        [
          "config:",
          "  quant-platform:models:",
          "    value:",
          `      - name: ${name}`,
          "        promotions:",
          "          - from: quant_stg",
          "            to: quant_lr",
          "            alias: champion",
          "",
        ].join("\n"),
      );
      git("add", ".");
      git("commit", "-q", "-m", "promote");
      sha = git("rev-parse", "HEAD");
      pr.commits = [sha];
    });
    after(async () => {
      await closeServer(server);
      if (repo) fs.rmSync(repo, { recursive: true, force: true });
    });

    it("refuses a self-approval, a non-approver's, and an approval withdrawn by a later request for changes", async () => {
      pr.reviews = [{ user: "aruiz", state: "APPROVED" }];
      await refuses(() => run(), /quantfirm\/quant-research#3 by aruiz: not counted aruiz \(the author of quantfirm\/quant-research#3\)/);
      pr.reviews = [{ user: "glee", state: "APPROVED" }];
      await refuses(() => run(), /not counted glee \(not an approving member\)/);
      pr.reviews = [
        { user: "dsingh", state: "APPROVED" },
        { user: "dsingh", state: "CHANGES_REQUESTED" },
      ];
      await refuses(() => run(), /quantfirm\/quant-research#3 by aruiz: nobody approved it.*must approve a pull request that declares it/);
    });

    it("refuses a pull request that was closed without merging", async () => {
      pr.reviews = [{ user: "dsingh", state: "APPROVED" }];
      pr.merged_at = null;
      try {
        await refuses(() => run(), /was not merged through a pull request of quantfirm\/quant-research/);
      } finally {
        pr.merged_at = "2026-11-02T10:00:00Z";
      }
    });

    it("an approving member's review (block-style entry, found by blame) lets it through and is recorded", async () => {
      pr.reviews = [
        { user: "dsingh", state: "COMMENTED" },
        { user: "dsingh", state: "APPROVED" },
        { user: "dsingh", state: "COMMENTED" },
      ];
      const r = await run();
      assert.deepStrictEqual(
        [r.approval?.kind, r.approval?.ref, r.approval?.approver],
        ["merge-request", "quantfirm/quant-research#3", "dsingh"],
      );
    });
  });
});
