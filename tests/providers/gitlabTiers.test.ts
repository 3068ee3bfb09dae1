import * as assert from "assert";
import { ProviderHost } from "./host";
import { providers } from "../../components/gitlab/provider";
import { GitLabBranchPolicy } from "../../components/gitlab/branchPolicy";
import { buildAccessPlan } from "../../plan/accessPlan";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { GIT_TYPES, installMocks, Recorded, settle } from "../../devenv/pulumiMocks";
import { shippedModel } from "../fixtures/config";

const TOKEN = "glpat-free-tier-5e1d";
const PROJECT = "quant/quant-research";
const USERS = ["aruiz", "bokafor", "cwei", "jberg", "dsingh", "epetrova", "fhaddad", "glee", "htanaka", "imoreau"];
const KIND: Record<string, keyof typeof providers> = {
  ProjectMembers: "projectMembers",
  ProtectedBranch: "protectedBranch",
  ApprovalSettings: "approvalSettings",
  ApprovalRule: "approvalRule",
  MergeChecks: "mergeChecks",
};

/** What the branch policy declares for `tier` (recorded with mocks), pointed at `url`. */
async function declared(tier: "free" | "premium", url: string): Promise<Recorded[]> {
  const recorded = await installMocks("quant", GIT_TYPES);
  new GitLabBranchPolicy("git", { plan: buildAccessPlan(shippedModel(), "quant"), tier });
  await settle(recorded);
  return recorded
    .filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/gitlab:"))
    .map((r) => ({ ...r, inputs: { ...r.inputs, baseUrl: url } }));
}

/**
 * The branch policy's declarations for each tier, created through the real dynamic-provider host against a
 * GitLab test server acting as that tier: what `pulumi up` does for the stack that owns the Git settings.
 */
describe("GitLab branch policy per tier, through the real dynamic-provider host", function () {
  this.timeout(180000);
  let gl: GitLabTestServer;
  let url: string;
  const hosts: ProviderHost[] = [];

  async function upAll(resources: Recorded[]) {
    const outs: Record<string, unknown>[] = [];
    for (const r of resources) {
      const h = await ProviderHost.start(providers[KIND[r.type.split(":").pop()!]]);
      hosts.push(h);
      await h.configure({ "quant-platform:gitlabToken": TOKEN });
      // Sequential, as the engine orders them (an approval rule depends on its protected branch).
      outs.push((await h.create(r.name, r.inputs)).props);
    }
    return outs;
  }

  async function start(tier: GitLabTestServer["tier"]) {
    gl = new GitLabTestServer();
    gl.tier = tier;
    url = await gl.start();
    gl.tokens.set(TOKEN, "api");
    const project = gl.addProject(PROJECT);
    const ids = Object.fromEntries(USERS.map((u) => [u, gl.addUser(u)]));
    return { project, ids };
  }
  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.stop();
    await gl.stop();
  });

  it("Free: a clean create with no approval-rule or approval-settings call; branches protected by role; pipelines must succeed", async () => {
    const { project } = await start("free");
    const resources = await declared("free", url);
    assert.deepStrictEqual(
      resources.filter((r) => /Approval/.test(r.type)),
      [],
      "no approval resources on Free",
    );
    await upAll(resources);
    assert.ok(
      !gl.log.some((l) => /approval/.test(l.path)),
      gl.log
        .filter((l) => /approval/.test(l.path))
        .map((l) => l.path)
        .join(", "),
    );
    assert.deepStrictEqual(
      gl.log.filter((l) => l.status >= 400 && !(l.method === "GET" && l.status === 404)).map((l) => `${l.method} ${l.path} ${l.status}`),
      [],
      "no call failed (a 404 GET is a lookup of what does not exist yet)",
    );
    const levels = (b: string) => ({
      push: project.protectedBranches.get(b)!.push_access_levels.map((e) => e.access_level),
      merge: project.protectedBranches.get(b)!.merge_access_levels.map((e) => e.access_level),
    });
    assert.deepStrictEqual(levels("quant"), { push: [30], merge: [30] });
    for (const b of ["quant_stg", "quant_lr", "quant_live"]) assert.deepStrictEqual(levels(b), { push: [0], merge: [40] }, b);
    assert.deepStrictEqual(levels("*"), { push: [0], merge: [0] });
    assert.ok([...project.protectedBranches.values()].every((b) => b.allow_force_push === false));
    assert.deepStrictEqual([project.only_allow_merge_if_pipeline_succeeds, project.allow_merge_on_skipped_pipeline], [true, false]);
  });

  it("Premium: the native approval rules and settings are created", async () => {
    const { project, ids } = await start("premium");
    await upAll(await declared("premium", url));
    assert.deepStrictEqual(project.rules.map((r) => r.name).sort(), [
      "consumer sign-off (quant_live)",
      "consumer sign-off (quant_lr)",
      "quant approvers",
      "quant_live approvers",
      "quant_lr approvers",
      "quant_stg approvers",
    ]);
    assert.strictEqual(project.approvals.merge_requests_author_approval, false);
    assert.deepStrictEqual(
      project.protectedBranches
        .get("quant_stg")!
        .merge_access_levels.filter((e) => e.user_id)
        .map((e) => e.user_id)
        .sort(),
      [ids.epetrova, ids.fhaddad].sort(),
    );
  });

  it("Premium declarations against a Free server fail loudly on the first approval call, never half-silently", async () => {
    await start("free");
    const resources = await declared("premium", url);
    const settings = resources.find((r) => r.type.endsWith(":ApprovalSettings"))!;
    await assert.rejects(upAll([settings]), /merge request approval settings of project quant\/quant-research failed: 403/);
  });
});
