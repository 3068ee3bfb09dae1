import * as assert from "assert";
import { ProviderHost } from "./host";
import { providers } from "../../components/gitlab/provider";
import { gitlabApi, GitLabApiError } from "../../clients/gitlab";
import { GitLabTestServer, Project } from "../../devenv/gitlab/gitlabServer";

const TOKEN = "glpat-TEST-7f3a9c1e5b";
const PROJECT = "quant/quant-research";

/**
 * Every test gets its own GitLab (server, users, project) and its own provider hosts, set up before it and
 * torn down after it: any one test passes alone (`--grep`) and in any order.
 */
describe("GitLab dynamic providers, through the real dynamic-provider host over gRPC", function () {
  this.timeout(120000);
  let gl: GitLabTestServer;
  let url: string;
  let project: Project;
  let hosts: ProviderHost[] = [];
  let ids: Record<string, number> = {};
  let everything: unknown[] = [];

  async function host(
    provider: object,
    config: Record<string, string> = { "quant-platform:gitlabToken": TOKEN },
    env: NodeJS.ProcessEnv = {},
  ) {
    const h = await ProviderHost.start(provider, undefined, env);
    hosts.push(h);
    await h.configure(config);
    return h;
  }
  /** Keeps every result so the token test can search them all. */
  const keep = <T>(x: T): T => {
    everything.push(x);
    return x;
  };

  beforeEach(async () => {
    hosts = [];
    ids = {};
    everything = [];
    gl = new GitLabTestServer();
    url = await gl.start();
    gl.tokens.set(TOKEN, "api");
    gl.tokens.set("glpat-readonly", "read_api");
    project = gl.addProject(PROJECT);
    for (const u of ["aruiz", "bokafor", "cwei", "dsingh", "epetrova", "fhaddad", "glee"]) ids[u] = gl.addUser(u);
  });
  afterEach(async () => {
    for (const h of hosts) await h.stop();
    await gl.stop();
  });

  describe("project members (one resource for the roster's members)", () => {
    const inputs = (
      members = [
        { username: "glee", accessLevel: 30 },
        { username: "fhaddad", accessLevel: 30 },
      ],
    ) => ({ baseUrl: url, project: PROJECT, members });
    it("creates the members at their levels; update changes a level, adds and removes; delete removes them", async () => {
      const h = await host(providers.projectMembers);
      project.members.set(ids.epetrova, 40); // added outside the roster: never touched
      const c = keep(await h.create("m", inputs()));
      assert.deepStrictEqual([project.members.get(ids.glee), project.members.get(ids.fhaddad)], [30, 30]);
      assert.strictEqual(c.id, "quant/quant-research/project-members/roster");
      assert.deepStrictEqual(c.props.members, [
        { username: "fhaddad", accessLevel: 30 },
        { username: "glee", accessLevel: 30 },
      ]);
      const news = inputs([
        { username: "glee", accessLevel: 40 },
        { username: "dsingh", accessLevel: 30 },
      ]);
      const u = keep(await h.update("m", c.id, c.props, news));
      assert.deepStrictEqual(
        [project.members.get(ids.glee), project.members.get(ids.dsingh), project.members.has(ids.fhaddad)],
        [40, 30, false],
      );
      assert.deepStrictEqual(u.members, [
        { username: "dsingh", accessLevel: 30 },
        { username: "glee", accessLevel: 40 },
      ]);
      await h.delete("m", c.id, u);
      assert.ok(!project.members.has(ids.glee) && !project.members.has(ids.dsingh), "GitLab's default: not a member");
      assert.strictEqual(project.members.get(ids.epetrova), 40);
    });
    it("adopts existing members, at another level or added meanwhile, instead of failing with 409", async () => {
      project.members.set(ids.glee, 20);
      const h = await host(providers.projectMembers);
      keep(await h.create("m", inputs()));
      assert.deepStrictEqual([project.members.get(ids.glee), project.members.get(ids.fhaddad)], [30, 30]);
    });
    it("drift: a member removed out of band reads as missing, diff flags it and update restores it", async () => {
      const h = await host(providers.projectMembers);
      const c = keep(await h.create("m", inputs()));
      project.members.delete(ids.glee);
      const r = await h.read("m", c.id, c.props);
      assert.deepStrictEqual(r.props.members, [{ username: "fhaddad", accessLevel: 30 }]);
      assert.deepStrictEqual(await h.diff("m", c.id, r.props, inputs()), { changes: true, replaces: [] });
      keep(await h.update("m", c.id, r.props, inputs()));
      assert.strictEqual(project.members.get(ids.glee), 30);
    });
    it("reads members across pages (more than 100 in the project)", async () => {
      const extra = Array.from({ length: 120 }, (_, i) => gl.addUser(`bulk${i}`));
      for (const id of extra) project.members.set(id, 10);
      const h = await host(providers.projectMembers);
      const c = keep(
        await h.create(
          "m",
          inputs([
            { username: "bulk119", accessLevel: 10 },
            { username: "glee", accessLevel: 30 },
          ]),
        ),
      );
      assert.deepStrictEqual(c.props.members, [
        { username: "bulk119", accessLevel: 10 },
        { username: "glee", accessLevel: 30 },
      ]);
    });
    it("fails clearly when the roster's Git username does not exist in GitLab", async () => {
      const h = await host(providers.projectMembers);
      await assert.rejects(
        h.create("m", inputs([{ username: "nobody", accessLevel: 30 }])),
        /GitLab user 'nobody' does not exist \(project quant\/quant-research\); check the member's gitUsername/,
      );
    });
    it("check rejects invalid inputs before any request", async () => {
      const h = await host(providers.projectMembers);
      const before = gl.log.length;
      const r = await h.check(
        "m",
        {},
        {
          ...inputs([
            { username: "glee", accessLevel: 35 },
            { username: "glee", accessLevel: 30 },
          ]),
          baseUrl: "http://x",
        },
      );
      assert.deepStrictEqual(r.failures.map((f) => f.reason).sort(), [
        "expected the API root, like https://gitlab.example.com/api/v4; got http://x",
        "glee is listed twice",
        "glee: accessLevel must be 10, 20, 30, 40 or 50",
      ]);
      assert.strictEqual(gl.log.length, before);
    });
    it("diff replaces when the project changes, updates when the members do, and ignores their order", async () => {
      const h = await host(providers.projectMembers);
      const olds = {
        ...inputs(),
        members: [
          { username: "fhaddad", accessLevel: 30 },
          { username: "glee", accessLevel: 30 },
        ],
      };
      assert.deepStrictEqual(await h.diff("m", "id", olds, { ...inputs(), project: "quant/other" }), {
        changes: true,
        replaces: ["project"],
      });
      assert.deepStrictEqual(await h.diff("m", "id", olds, inputs([{ username: "glee", accessLevel: 40 }])), {
        changes: true,
        replaces: [],
      });
      assert.deepStrictEqual(await h.diff("m", "id", olds, inputs()), { changes: false, replaces: [] });
    });
  });

  describe("protected branch", () => {
    const stg = () => ({
      baseUrl: url,
      project: PROJECT,
      branch: "quant_stg",
      pushLevels: [0],
      pushUsernames: [] as string[],
      mergeLevels: [0],
      mergeUsernames: ["epetrova", "fhaddad"],
      allowForcePush: false,
    });
    /** quant_stg protected through the provider, as `pulumi up` would leave it. */
    const protectedStg = async () => keep(await (await host(providers.protectedBranch)).create("pb", stg()));

    it("protects quant_stg: nobody pushes, only release managers merge, no force-push", async () => {
      const h = await host(providers.protectedBranch);
      const state = keep(await h.create("pb", stg()));
      const pb = project.protectedBranches.get("quant_stg")!;
      assert.strictEqual(pb.allow_force_push, false);
      assert.deepStrictEqual(
        pb.push_access_levels.map((e) => [e.access_level, e.user_id]),
        [[0, null]],
      );
      assert.deepStrictEqual(
        pb.merge_access_levels
          .filter((e) => e.user_id)
          .map((e) => e.user_id)
          .sort(),
        [ids.epetrova, ids.fhaddad].sort(),
      );
      assert.deepStrictEqual(state.props.mergeUsernames, ["epetrova", "fhaddad"]);
    });

    it("drift: a change made in GitLab shows in read, in diff, and update restores it", async () => {
      const state = await protectedStg();
      const h = await host(providers.protectedBranch);
      const pb = project.protectedBranches.get("quant_stg")!;
      pb.allow_force_push = true; // someone flips force-push on in the UI
      pb.push_access_levels.push({
        id: 99999,
        access_level: 40,
        access_level_description: "Maintainers",
        user_id: null,
        group_id: null,
        deploy_key_id: null,
      });
      const r = keep(await h.read("pb", state.id, state.props));
      assert.strictEqual(r.props.allowForcePush, true);
      assert.deepStrictEqual(r.props.pushLevels, [0, 40]);
      const d = await h.diff("pb", state.id, r.props, stg());
      assert.deepStrictEqual(d, { changes: true, replaces: [] });
      const u = keep(await h.update("pb", state.id, r.props, stg()));
      assert.strictEqual(u.allowForcePush, false);
      assert.strictEqual(pb.allow_force_push, false);
      assert.deepStrictEqual(
        pb.push_access_levels.map((e) => e.access_level),
        [0],
      );
      assert.ok(project.protectedBranches.has("quant_stg"), "updated in place, never unprotected");
      assert.ok(!gl.log.some((l) => l.method === "DELETE" && l.path.includes("protected_branches")));
    });

    it("drift: an unprotected branch reads as gone, so refresh drops it and up re-protects it", async () => {
      const state = await protectedStg();
      const h = await host(providers.protectedBranch);
      project.protectedBranches.delete("quant_stg");
      const r = await h.read("pb", state.id, state.props);
      assert.strictEqual(r.id, "");
      keep(await h.create("pb", stg()));
      assert.ok(project.protectedBranches.has("quant_stg"));
    });

    it("adopts an existing protection (Maintainers push, force-push on) and brings it to the declared state", async () => {
      gl.protect(project, "quant_live", 40, 40, true);
      const h = await host(providers.protectedBranch);
      const c = keep(await h.create("live", { ...stg(), branch: "quant_live" }));
      const pb = project.protectedBranches.get("quant_live")!;
      assert.strictEqual(pb.allow_force_push, false);
      assert.deepStrictEqual(
        pb.push_access_levels.map((e) => e.access_level),
        [0],
      );
      assert.deepStrictEqual(c.props.mergeUsernames, ["epetrova", "fhaddad"]);
      assert.ok(!gl.log.some((l) => l.status === 409), "no 409: create adopts");
    });

    it("delete restores GitLab's default: the branch is unprotected", async () => {
      gl.protect(project, "quant_live", 0, 40, false);
      const h = await host(providers.protectedBranch);
      await h.delete("live", "x", { ...stg(), branch: "quant_live" });
      assert.ok(!project.protectedBranches.has("quant_live"));
    });
  });

  describe("merge request approval settings and merge checks", () => {
    it("author approval off, committers' approval off, reset on push, no per-MR override; delete restores defaults", async () => {
      const h = await host(providers.approvalSettings);
      const inputs = {
        baseUrl: url,
        project: PROJECT,
        resetApprovalsOnPush: true,
        disableOverridingApproversPerMergeRequest: true,
        mergeRequestsAuthorApproval: false,
        mergeRequestsDisableCommittersApproval: true,
      };
      project.approvals.merge_requests_author_approval = true; // drifted before we start: adopt and correct
      const c = keep(await h.create("a", inputs));
      assert.deepStrictEqual(project.approvals, {
        reset_approvals_on_push: true,
        disable_overriding_approvers_per_merge_request: true,
        merge_requests_author_approval: false,
        merge_requests_disable_committers_approval: true,
        require_password_to_approve: false,
      });
      project.approvals.merge_requests_author_approval = true;
      const r = keep(await h.read("a", c.id, c.props));
      assert.strictEqual(r.props.mergeRequestsAuthorApproval, true, "read reports the drift");
      await h.delete("a", c.id, c.props);
      assert.strictEqual(project.approvals.disable_overriding_approvers_per_merge_request, false);
      assert.strictEqual(project.approvals.merge_requests_disable_committers_approval, false);
    });

    it("merge only when the pipeline succeeds, skipped pipelines do not count", async () => {
      const h = await host(providers.mergeChecks);
      const inputs = { baseUrl: url, project: PROJECT, onlyAllowMergeIfPipelineSucceeds: true, allowMergeOnSkippedPipeline: false };
      project.allow_merge_on_skipped_pipeline = true;
      keep(await h.create("mc", inputs));
      assert.strictEqual(project.only_allow_merge_if_pipeline_succeeds, true);
      assert.strictEqual(project.allow_merge_on_skipped_pipeline, false);
    });
  });

  describe("approval rule", () => {
    it("creates a rule scoped to its protected branch, found across pages, and updates it in place", async () => {
      gl.protect(project, "quant_live", 0, 0, false);
      // 120 unrelated rules: ours is on the second page of 100.
      for (let i = 0; i < 120; i++)
        project.rules.push({
          id: 50000 + i,
          name: `legacy-${i}`,
          rule_type: "regular",
          approvals_required: 1,
          user_ids: [],
          protected_branch_ids: [],
        });
      const h = await host(providers.approvalRule);
      const inputs = {
        baseUrl: url,
        project: PROJECT,
        ruleName: "quant_live approvers",
        branch: "quant_live",
        approvalsRequired: 2,
        approverUsernames: ["cwei", "dsingh", "fhaddad"],
      };
      const c = keep(await h.create("r", inputs));
      const rule = project.rules.find((r) => r.name === "quant_live approvers")!;
      assert.strictEqual(rule.approvals_required, 2);
      assert.deepStrictEqual(rule.protected_branch_ids, [project.protectedBranches.get("quant_live")!.id]);
      const r = keep(await h.read("r", c.id, c.props));
      assert.deepStrictEqual(r.props.approverUsernames, ["cwei", "dsingh", "fhaddad"]);
      assert.ok(
        gl.log.some((l) => l.path.includes("approval_rules") && l.path.includes("page=2")),
        "followed the next page",
      );
      keep(await h.update("r", c.id, c.props, { ...inputs, approvalsRequired: 1 }));
      assert.strictEqual(project.rules.filter((x) => x.name === "quant_live approvers").length, 1, "updated, not duplicated");
      assert.strictEqual(project.rules.find((x) => x.name === "quant_live approvers")!.approvals_required, 1);
      await h.delete("r", c.id, c.props);
      assert.ok(!project.rules.some((x) => x.name === "quant_live approvers"));
    });

    it("check refuses zero approvals: the author's own approval never counts", async () => {
      const h = await host(providers.approvalRule);
      const r = await h.check(
        "r",
        {},
        { baseUrl: url, project: PROJECT, ruleName: "x", branch: "quant", approvalsRequired: 0, approverUsernames: [] },
      );
      assert.deepStrictEqual(
        r.failures.map((f) => f.property),
        ["approvalsRequired"],
      );
    });
  });

  describe("error paths", () => {
    const member = () => ({ baseUrl: url, project: PROJECT, members: [{ username: "aruiz", accessLevel: 30 }] });
    it("401: a wrong token names the resource and the project, and never echoes the token", async () => {
      const h = await host(providers.projectMembers, { "quant-platform:gitlabToken": "glpat-WRONG-000" });
      await assert.rejects(h.create("m", member()), (e: Error) => {
        assert.match(
          e.message,
          /GitLab GET \/projects\/quant%2Fquant-research\/members\?per_page=100 for project members of project quant\/quant-research failed: 401 401 Unauthorized; the token is missing, expired or revoked/,
        );
        assert.ok(!e.message.includes("glpat-WRONG-000"));
        return true;
      });
      assert.ok(!h.output.includes("glpat-WRONG-000"));
    });
    it("403: a read-only token fails on the first write, naming what it tried to change", async () => {
      const h = await host(providers.mergeChecks, { "quant-platform:gitlabToken": "glpat-readonly" });
      await assert.rejects(
        h.create("mc", { baseUrl: url, project: PROJECT, onlyAllowMergeIfPipelineSucceeds: true, allowMergeOnSkippedPipeline: true }),
        /GitLab PUT \/projects\/quant%2Fquant-research for merge checks of project quant\/quant-research failed: 403 .*needs the api scope and at least Maintainer/,
      );
    });
    it("404: an unknown project says so", async () => {
      const h = await host(providers.approvalSettings);
      await assert.rejects(
        h.create("a", {
          baseUrl: url,
          project: "quant/missing",
          resetApprovalsOnPush: true,
          disableOverridingApproversPerMergeRequest: true,
          mergeRequestsAuthorApproval: false,
          mergeRequestsDisableCommittersApproval: true,
        }),
        /merge request approval settings of project quant\/missing failed: 404 404 Project Not Found; it does not exist, or the token's user cannot see it/,
      );
    });
    it("409 and 422: the client names the resource and GitLab's reason", async () => {
      const api = gitlabApi({ baseUrl: url, token: TOKEN, project: PROJECT, backoffMs: 1 });
      gl.protect(project, "quant_lr", 0, 40, false);
      await assert.rejects(
        api.post(`${api.project}/protected_branches`, "protected branch quant_lr", { name: "quant_lr" }),
        (e: GitLabApiError) =>
          e.status === 409 &&
          /protected branch quant_lr of project quant\/quant-research failed: 409 Protected branch 'quant_lr' already exists; it already exists/.test(
            e.message,
          ),
      );
      await assert.rejects(
        api.post(`${api.project}/approval_rules`, "approval rule broken", { name: "broken", approvals_required: -1 }),
        (e: GitLabApiError) =>
          e.status === 422 &&
          /approval rule broken of project quant\/quant-research failed: 422 .*approvals_required must be greater than or equal to 0.*GitLab rejected the values sent/.test(
            e.message,
          ),
      );
    });
    it("no token anywhere: a clear error saying where to set one", async () => {
      const h = await host(providers.projectMembers, {}, { GITLAB_TOKEN: "" });
      await assert.rejects(
        h.create("m", member()),
        /no GitLab token for project members roster in project quant\/quant-research: set quant-platform:gitlabToken/,
      );
    });
    it("falls back to GITLAB_TOKEN from the environment at run time", async () => {
      const h = await host(providers.projectMembers, {}, { GITLAB_TOKEN: TOKEN });
      keep(await h.create("m", member()));
      assert.strictEqual(project.members.get(ids.aruiz), 30);
    });
  });

  describe("retries", () => {
    it("429 with Retry-After, then success", async () => {
      const h = await host(providers.mergeChecks);
      const n = gl.log.length;
      gl.inject({ status: 429, retryAfter: 1, times: 2 });
      keep(
        await h.create("mc", {
          baseUrl: url,
          project: PROJECT,
          onlyAllowMergeIfPipelineSucceeds: true,
          allowMergeOnSkippedPipeline: false,
        }),
      );
      const statuses = gl.log.slice(n).map((l) => l.status);
      assert.deepStrictEqual(statuses.slice(0, 3), [429, 429, 200]);
    });
    it("5xx and a dropped connection, then success", async () => {
      const h = await host(providers.projectMembers);
      const n = gl.log.length;
      gl.inject({ status: 503 }, { status: 502 }, { drop: true });
      keep(await h.create("m2", { baseUrl: url, project: PROJECT, members: [{ username: "bokafor", accessLevel: 30 }] }));
      assert.deepStrictEqual(
        gl.log.slice(n, n + 4).map((l) => l.status),
        [503, 502, 0, 200],
      );
      assert.strictEqual(project.members.get(ids.bokafor), 30);
    });
    it("gives up after the last attempt with the last status", async () => {
      const api = gitlabApi({ baseUrl: url, token: TOKEN, project: PROJECT, attempts: 3, backoffMs: 1 });
      gl.inject({ status: 500, times: 3 });
      await assert.rejects(api.get(api.project, "project"), /failed: 500 .*unexpected response/);
    });
  });

  describe("secrets", () =>
    it("the token never appears in the serialized provider, outputs, state properties or host logs", async () => {
      // A full life cycle of each resource kind, then a search of everything it produced.
      const members = { baseUrl: url, project: PROJECT, members: [{ username: "glee", accessLevel: 30 }] };
      const m = await host(providers.projectMembers);
      const mc = keep(await m.create("m", members));
      keep(await m.read("m", mc.id, mc.props));
      keep(await m.update("m", mc.id, mc.props, { ...members, members: [{ username: "glee", accessLevel: 40 }] }));
      keep(await m.diff("m", mc.id, mc.props, members));
      await m.delete("m", mc.id, mc.props);
      const stg = {
        baseUrl: url,
        project: PROJECT,
        branch: "quant_stg",
        pushLevels: [0],
        pushUsernames: [],
        mergeLevels: [0],
        mergeUsernames: ["epetrova"],
        allowForcePush: false,
      };
      const pb = await host(providers.protectedBranch);
      const pc = keep(await pb.create("pb", stg));
      keep(await pb.read("pb", pc.id, pc.props));
      const ar = await host(providers.approvalRule);
      const rule = {
        baseUrl: url,
        project: PROJECT,
        ruleName: "quant_stg approvers",
        branch: "quant_stg",
        approvalsRequired: 1,
        approverUsernames: ["cwei", "dsingh"],
      };
      const rc = keep(await ar.create("r", rule));
      keep(await ar.read("r", rc.id, rc.props));
      const as = await host(providers.approvalSettings);
      keep(
        await as.create("a", {
          baseUrl: url,
          project: PROJECT,
          resetApprovalsOnPush: true,
          disableOverridingApproversPerMergeRequest: true,
          mergeRequestsAuthorApproval: false,
          mergeRequestsDisableCommittersApproval: true,
        }),
      );
      const ck = await host(providers.mergeChecks);
      keep(
        await ck.create("mc", {
          baseUrl: url,
          project: PROJECT,
          onlyAllowMergeIfPipelineSucceeds: true,
          allowMergeOnSkippedPipeline: false,
        }),
      );
      for (const h of hosts) {
        assert.ok(!h.text.includes(TOKEN), "serialized provider");
        assert.ok(!h.output.includes(TOKEN), "host output");
      }
      assert.ok(everything.length >= 9);
      assert.ok(!JSON.stringify(everything).includes(TOKEN), "outputs and state");
      assert.ok(
        gl.log.some((l) => l.token === TOKEN),
        "the token did reach GitLab, in the header",
      );
    }));
});
