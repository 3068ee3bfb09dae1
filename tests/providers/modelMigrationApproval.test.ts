/**
 * ModelMigration into production, through the real dynamic-provider host: the approval is read from the Git
 * host (the merge request that declared the promotion), with the token from stack config, never a tag.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ProviderHost } from "./host";
import { modelMigrationProvider } from "../../components/mlflow/modelMigration";
import { liveServers } from "../fixtures/liveServers";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { MlflowServer, seedFixture } from "../../devenv/localMlflow";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { TAG } from "../../migration/provenance";
import { approverEmails } from "../../plan/accessPlan";
import { shippedModel } from "../fixtures/config";
import { rejectsWithoutWrites } from "../fixtures/targetSnapshot";

const GITLAB_TOKEN = "glpat-deploy-41c7";

describe("ModelMigration into production checks the approving merge request (dynamic-provider host)", function () {
  this.timeout(600000);
  let a: MlflowServer;
  let b: MlflowServer;
  let host: ProviderHost;
  let gl: GitLabTestServer;
  let repo: string;
  let inputs: Record<string, unknown>;
  const model = `prov-prod-${Date.now()}`;
  const ids: Record<string, number> = {};
  const mr = () => gl.projects[0].mergeRequests.get(1)!;

  before(async () => {
    ({ a, b } = await liveServers());
    seedFixture(a, model, { sizeMb: 1, shards: 1 });
    gl = new GitLabTestServer();
    gl.tokens.set(GITLAB_TOKEN, "read_api");
    for (const u of ["aruiz", "dsingh"]) ids[u] = gl.addUser(u);
    const p = gl.addProject("quant/quant-research");
    await gl.start();
    repo = fs.mkdtempSync(path.join(os.tmpdir(), "prov-prod-repo-"));
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=Ana Ruiz", "-c", "user.email=ana@x", ...args], { cwd: repo, encoding: "utf8" }).trim();
    git("init", "-q");
    fs.writeFileSync(
      path.join(repo, "Pulumi.yaml"),
      [
        "config:",
        "  quant-platform:models:",
        "    value:",
        `      - name: ${model}`,
        "        promotions:",
        "          - { from: quant_stg, to: quant_lr, alias: champion }",
        "",
      ].join("\n"),
    );
    git("add", ".");
    git("commit", "-q", "-m", "promote");
    p.mergeRequests.set(1, {
      iid: 1,
      state: "merged",
      source_branch: "quant_stg",
      target_branch: "quant_lr",
      notes: [],
      author_id: ids.aruiz,
      approved_by: [],
      commits: [git("rev-parse", "HEAD")],
    });
    const shipped = shippedModel();
    inputs = {
      fromUri: a.url,
      toUri: b.url,
      fromEnv: "quant_stg",
      toEnv: "quant_lr",
      model,
      alias: "champion",
      toModel: `${model}-lr`,
      verify: "full",
      readVerify: "size",
      concurrency: 4,
      production: true,
      approvers: approverEmails(shipped),
      members: shipped.roster.map((m) => ({ email: m.email, gitUsername: m.gitUsername })),
      git: {
        provider: "gitlab",
        apiUrl: gl.url,
        project: "quant/quant-research",
        configPath: "Pulumi.yaml",
        repoDir: repo,
        fromStack: "quant_stg",
        toStack: "quant_lr",
      },
      flow: shipped.flow,
      deleteOnDestroy: true,
    };
    host = await ProviderHost.start(modelMigrationProvider, "pulumi-nodejs:dynamic/mlflow:ModelMigration", { GITLAB_TOKEN: "" });
    await host.configure({ "quant-platform:gitlabToken": GITLAB_TOKEN });
  });
  after(async () => {
    await host?.stop();
    await gl?.stop();
    if (repo) fs.rmSync(repo, { recursive: true, force: true });
  });

  it("create is refused while the merge request that declared the promotion has no approval by an approving member; a forged tag does not help", async () => {
    await mlflowClient(resolveEndpoint(a.url, "from", {})).setModelVersionTag(model, "1", TAG.approvedBy, "dara.singh@quantfirm.example");
    await rejectsWithoutWrites(
      resolveEndpoint(b.url, "to", {}),
      () => host.create("m", inputs),
      /refusing to promote model '.*' version 1 into production environment quant_lr: .*quant\/quant-research!1 by aruiz: nobody approved it.*is not evidence/,
      "quant_lr",
    );
  });

  it("create goes through once an approver approved it, records the merge request and approver, and a later diff does not re-ask", async () => {
    mr().approved_by = [ids.dsingh];
    const state = await host.create("m", inputs);
    const v = await mlflowClient(resolveEndpoint(b.url, "to", {})).getModelVersion(`${model}-lr`, state.props.targetVersion);
    const t = tagMap(v.tags);
    assert.deepStrictEqual(
      [t[TAG.approvalKind], t[TAG.approvalRef], t[TAG.approvedBy]],
      ["merge-request", "quant/quant-research!1", "dsingh"],
    );
    assert.ok(
      gl.log.every((l) => l.token === GITLAB_TOKEN),
      "the token from stack config",
    );
    assert.ok(!JSON.stringify(state.props).includes(GITLAB_TOKEN), "no token in state");
    mr().approved_by = [];
    assert.deepStrictEqual(await host.diff("m", state.id, state.props, inputs), { changes: false, replaces: [] });
    await host.delete("m", state.id, state.props);
  });
});
