/**
 * `doctor` against the local platform: three Databricks workspaces (the control-plane API the real provider is
 * tested against, served over loopback HTTP) and the GitLab test server, seeded with the state the plan of each
 * stack implies. Each check is broken once, out of band, and the doctor must name it and its fix; an all-pass
 * member exits 0, findings exit 3, an unreadable side exits 1. No Pulumi engine: fast.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { doctorCli, runDoctor } from "../../cli/doctor";
import { UsageError } from "../../cli/command";
import { GIT_ACCESS_LEVELS } from "../../config/schema";
import { aclKey } from "../../devenv/databricks/controlPlaneState";
import { DatabricksControlApi } from "../../devenv/databricks/databricksControlApi";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { closeServer, listenLoopback } from "../../devenv/loopback";
import { WorkspaceApi } from "../../devenv/databricks/workspaceApi";
import { buildAccessPlan } from "../../plan/accessPlan";
import { Check } from "../../plan/doctor";
import { PROJECT_DIR, shippedModel } from "../fixtures/config";
import { liveServers } from "../fixtures/liveServers";

const STACKS = ["quant", "quant_lr", "quant_stg"];
const ANA = "ana.ruiz"; // developer, pushes to quant only
const ADMIN_TOKEN = (s: string) => `dapi-doctor-admin-${s}`;
const MEMBER_TOKEN = (s: string, id: string) => `dapi-doctor-${id.replace(".", "-")}-${s}`;
const GITLAB_TOKEN = "glpat-doctor-read";

interface Workspace {
  api: DatabricksControlApi;
  server: http.Server;
  url: string;
}

/** A workspace's control-plane and Workspace APIs on a loopback HTTP listener, as the HTTPS control server mounts them. */
async function startWorkspace(stack: string, mlflowUrl: string): Promise<Workspace> {
  const workspace = new WorkspaceApi();
  const api = new DatabricksControlApi({ token: ADMIN_TOKEN(stack), workspace, mlflowUrl });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      if (await api.handle(req, res, body)) return;
      if (!api.caller(req)) return void res.writeHead(401).end();
      if (!workspace.handle(req, res, new URL(req.url ?? "/", "http://x"), body)) res.writeHead(501).end();
    });
  });
  return { api, server, url: await listenLoopback(server) };
}

describe("doctor: why a member cannot clone, pull or push, checked live with the fix", function () {
  this.timeout(60000);
  const model = shippedModel();
  const ana = model.roster.find((m) => m.id === ANA)!;
  let ws: Record<string, Workspace>;
  let gitlab: GitLabTestServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const gitUser = (u: string) => gitlab.users.find((x) => x.username === u)!;
  const userId = (s: string, email: string) => ws[s].api.state.userByName(email)!.id;
  const group = (s: string, name: string) => ws[s].api.state.groupByName(name)!;
  const doctor = (opts: { self?: boolean; workspace?: string } = {}) => runDoctor(model, ANA, { ...opts, gitApi: gitlab.url }, env);
  const failed = (checks: Check[]) => checks.filter((c) => c.status === "fail");
  /** Exactly one failed check, on `side`, named `check`, with a fix matching `fix`; returns it. */
  function onlyFailure(checks: Check[], side: string, check: RegExp, fix: RegExp): Check {
    const f = failed(checks);
    assert.strictEqual(f.length, 1, `expected one failure, got:\n${JSON.stringify(f, null, 1)}`);
    assert.strictEqual(f[0].side, side);
    assert.match(f[0].check, check);
    assert.match(f[0].fix ?? "", fix);
    return f[0];
  }

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "doctor-"));
    // The workspace registries hold the team's models (one MLflow server behind the three; each its own ids and ACLs).
    const { a } = await liveServers();
    for (const m of model.models)
      await fetch(`${a.url}/api/2.0/mlflow/registered-models/create`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: m.name }),
      });
    ws = Object.fromEntries(await Promise.all(STACKS.map(async (s) => [s, await startWorkspace(s, a.url)] as const)));
    const profiles: string[] = [];
    for (const s of STACKS) {
      const { api, url } = ws[s];
      const plan = buildAccessPlan(model, s);
      const st = api.state;
      for (const m of model.roster) {
        const u = st.addUser(m.email, { displayName: m.name });
        st.tokens.set(MEMBER_TOKEN(s, m.id), u.id);
        profiles.push(`[${s}-${m.email.split("@")[0]}]\nhost = ${url}\ntoken = ${MEMBER_TOKEN(s, m.id)}\n`);
      }
      for (const g of plan.groups) st.addGroup(g.name, { entitlements: g.entitlements });
      for (const m of plan.memberships) group(s, m.group).members.add(userId(s, m.email));
      for (const d of plan.directories) api.workspace.put(d.path, "DIRECTORY");
      for (const f of plan.gitFolders) api.workspace.put(f.path, "REPO");
      for (const a of plan.workspaceAcls) {
        const node = api.workspace.nodes.get(a.path)!;
        st.acls.set(
          aclKey(a.objectType === "repo" ? "repos" : "directories", node.id),
          a.grants.map((g) => ({ kind: "group" as const, name: g.group, level: g.level })),
        );
      }
      for (const w of plan.workspaceSettings) st.workspaceConf.set(w.setting, w.value);
      for (const r of plan.registryAcls)
        st.acls.set(
          aclKey("registered-models", api.registry!.idOf(r.model)),
          r.grants.map((g) => ({ kind: "group" as const, name: g.group, level: g.level })),
        );
      // Ana linked her GitLab token in every workspace.
      st.gitCredentials.set(userId(s, ana.email), {
        credentialId: 1,
        gitProvider: "gitLab",
        gitUsername: "aruiz",
        personalAccessToken: "glpat-ana",
      });
      profiles.push(`[${s}]\nhost = ${url}\ntoken = ${ADMIN_TOKEN(s)}\n`);
    }
    const configFile = path.join(dir, "databrickscfg");
    fs.writeFileSync(configFile, profiles.join("\n"), { mode: 0o600 });

    gitlab = new GitLabTestServer();
    gitlab.tokens.set(GITLAB_TOKEN, "read_api");
    const owner = buildAccessPlan(model, "quant");
    const project = gitlab.addProject(owner.git.project);
    for (const m of model.roster) gitlab.addUser(m.gitUsername);
    for (const m of owner.gitMembers) project.members.set(gitUser(m.gitUsername).id, GIT_ACCESS_LEVELS[m.access]);
    // Protected as the Premium branch policy does: no role may push or merge, named users may; the author's
    // approval does not count, and each branch's rule names its approvers.
    const userEntry = (id: string, offset: number) => {
      const u = gitUser(model.roster.find((m) => m.id === id)!.gitUsername);
      return { id: u.id + offset, access_level: 40, access_level_description: u.name, user_id: u.id, group_id: null, deploy_key_id: null };
    };
    project.approvals.merge_requests_author_approval = false;
    for (const b of owner.branchRules.filter((x) => x.branch !== "*")) {
      const pb = gitlab.protect(project, b.branch, 0, 0, false);
      pb.push_access_levels.push(...b.pushMembers.map((id) => userEntry(id, 50000)));
      pb.merge_access_levels.push(...b.mergeMembers.map((id) => userEntry(id, 60000)));
      if (b.approveMembers.length)
        project.rules.push({
          id: 70000 + project.rules.length,
          name: `${b.branch} approvers`,
          rule_type: "regular",
          approvals_required: b.approvals,
          user_ids: b.approveMembers.map((id) => gitUser(model.roster.find((m) => m.id === id)!.gitUsername).id),
          protected_branch_ids: [pb.id],
        });
    }
    await gitlab.start();
    env = { DATABRICKS_CONFIG_FILE: configFile, GITLAB_TOKEN };
  });

  afterEach(async () => {
    await Promise.all([...Object.values(ws).map((w) => closeServer(w.server)), gitlab.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("all in place: every check passes, the credential is left to the member, exit 0", async () => {
    const checks = await doctor();
    assert.deepStrictEqual(failed(checks), []);
    const names = new Set(checks.map((c) => c.check));
    for (const n of [
      "cannot move quant-alpha-transformer to Staging",
      "cannot move quant-alpha-transformer to Production",
      "user active",
      "workspace-access entitlement",
      "member of quant-developer",
      "CAN_MANAGE on Git folder root /Teams/quant/git",
      "CAN_EDIT on shared Git folder /Teams/quant/shared/quant-research",
      "Git folders enabled",
      "Git URL allowed: https://gitlab.quantfirm.example/quant/quant-research.git",
      "account active",
      "can clone and pull",
      "can push to quant",
      "cannot push to quant_lr",
    ])
      assert.ok(names.has(n), `missing check ${n}`);
    assert.deepStrictEqual(
      checks.filter((c) => c.status === "unchecked").map((c) => [c.side, c.detail]),
      STACKS.map((s) => [s, "only the member can check this: Databricks lists a Git credential to its owner alone"]),
    );
    const lines: string[] = [];
    assert.strictEqual(await doctorCli(["--member", ANA, "--git-api", gitlab.url, "--dir", PROJECT_DIR], env, (s) => lines.push(s)), 0);
    assert.match(lines.join("\n"), /Everything needed to clone, pull and push is in place/);
    assert.match(lines.join("\n"), /fix: ana\.ruiz runs `quant-platform doctor --member ana\.ruiz --self`/);
  });

  it("--self with her own token: the Git credential's provider, username and reach pass, exit 0", async () => {
    const checks = await doctor({ self: true });
    assert.deepStrictEqual(failed(checks), []);
    for (const s of STACKS)
      for (const n of [
        "Git credential linked",
        "Git credential provider",
        "Git credential username",
        "Git credential reaches quant/quant-research",
      ])
        assert.strictEqual(checks.find((c) => c.side === s && c.check === n)?.status, "pass", `${s}: ${n}`);
  });

  it("a deactivated user (quant_stg)", async () => {
    ws.quant_stg.api.state.userByName(ana.email)!.active = false;
    onlyFailure(await doctor(), "quant_stg", /^user active$/, /reactivates ana\.ruiz@quantfirm\.example/);
  });

  it("a missing entitlement: workspace-access dropped from quant-developer in quant", async () => {
    group("quant", "quant-developer").entitlements.delete("workspace-access");
    onlyFailure(await doctor(), "quant", /^workspace-access entitlement$/, /pulumi up --refresh -s quant restores it on quant-developer/);
  });

  it("removed from a group out of band (quant_lr): the membership, and the entitlement it carried", async () => {
    group("quant_lr", "quant-developer").members.delete(userId("quant_lr", ana.email));
    const f = failed(await doctor());
    assert.deepStrictEqual(
      f.map((c) => [c.side, c.check]),
      [
        ["quant_lr", "member of quant-developer"],
        ["quant_lr", "workspace-access entitlement"],
      ],
    );
    assert.match(f[0].fix!, /pulumi up --refresh -s quant_lr restores the group membership \(roster: ana\.ruiz has role developer/);
  });

  it("a folder ACL changed: the Git folder root lowered to CAN_READ in quant", async () => {
    const st = ws.quant.api.state;
    const key = aclKey("directories", ws.quant.api.workspace.nodes.get("/Teams/quant/git")!.id);
    st.acls.set(
      key,
      st.acl(key).map((e) => (e.name === "quant-developer" ? { ...e, level: "CAN_READ" } : e)),
    );
    const f = onlyFailure(
      await doctor(),
      "quant",
      /^CAN_MANAGE on Git folder root \/Teams\/quant\/git$/,
      /pulumi up --refresh -s quant .*organization\.gitFolderRoot/,
    );
    assert.match(f.detail, /quant-developer has CAN_READ; the plan grants CAN_MANAGE/);
  });

  it("Git folders disabled in quant_stg", async () => {
    ws.quant_stg.api.state.workspaceConf.set("enableProjectTypeInWorkspace", "false");
    onlyFailure(await doctor(), "quant_stg", /^Git folders enabled$/, /workspace\.gitFolders\.enabled: true in Pulumi\.quant_stg\.yaml/);
  });

  it("the repository's URL not on the workspace's allow list (quant_lr)", async () => {
    const conf = ws.quant_lr.api.state.workspaceConf;
    conf.set("enableProjectsAllowList", "true");
    conf.set("projectsAllowList", "https://github.com/quantfirm/");
    const f = onlyFailure(
      await doctor(),
      "quant_lr",
      /^Git URL allowed: https:\/\/gitlab\.quantfirm\.example\/quant\/quant-research\.git$/,
      /declare one that includes https:\/\/gitlab\.quantfirm\.example\/quant\/quant-research\.git/,
    );
    assert.match(f.detail, /not on the allow list \(https:\/\/github\.com\/quantfirm\/\)/);
  });

  it("a GitLab Guest cannot clone or pull, nor push to or merge into quant despite the branch naming her", async () => {
    gitlab.projects[0].members.set(gitUser("aruiz").id, 10);
    const f = failed(await doctor());
    assert.deepStrictEqual(
      f.map((c) => [c.side, c.check]),
      [
        ["gitlab quant/quant-research", "can clone and pull"],
        ["gitlab quant/quant-research", "can push to quant"],
        ["gitlab quant/quant-research", "can merge into quant"],
      ],
    );
    assert.match(f[0].detail, /Guest cannot clone or pull/);
    assert.match(f[0].fix!, /pulumi up --refresh -s quant restores aruiz's access \(roles\.<role>\.git\.access/);
  });

  it("four eyes: with the author's own approval counting, each merge she may make is one she could make alone", async () => {
    gitlab.projects[0].approvals.merge_requests_author_approval = true;
    const f = failed(await doctor());
    const merges = buildAccessPlan(model, "quant").branchRules.filter(
      (b) => b.branch !== "*" && b.mergeMembers.includes(ANA) && b.approvals > 0,
    );
    assert.ok(merges.length > 0, "ana merges somewhere");
    assert.deepStrictEqual(
      f.map((c) => c.check),
      merges.map((b) => `own merge requests into ${b.branch} need another approver`),
    );
    assert.match(f[0].detail, /the author's own approval counts \(merge_requests_author_approval is on\)/);
    assert.match(f[0].fix!, /pulumi up --refresh -s quant restores the approval settings and rules of /);
  });

  it("four eyes: a rule whose only eligible approver is the author cannot be met by anyone else", async () => {
    const p = gitlab.projects[0];
    const rule = p.rules.find((r) => r.name === "quant approvers")!;
    rule.user_ids = [gitUser("aruiz").id];
    onlyFailure(
      await doctor(),
      "gitlab quant/quant-research",
      /^own merge requests into quant need another approver$/,
      /approval settings and rules of quant/,
    );
    assert.match(failed(await doctor())[0].detail, /without aruiz, too few eligible approvers in quant approvers/);
  });

  it("a merge entry for her dropped from quant: she cannot merge there, which the plan gives her", async () => {
    const pb = [...gitlab.projects[0].protectedBranches.values()].find((b) => b.name === "quant")!;
    pb.merge_access_levels = pb.merge_access_levels.filter((e) => e.user_id !== gitUser("aruiz").id);
    const f = onlyFailure(await doctor(), "gitlab quant/quant-research", /^can merge into quant$/, /roles\.<role>\.git\.merge/);
    assert.strictEqual(f.detail, "cannot merge into quant; the plan says merge");
  });

  it("registry: a developers' grant raised out of band in quant_lr lets her move the model to Staging and Production there, which the plan does not", async () => {
    const api = ws.quant_lr.api;
    const plan = buildAccessPlan(model, "quant_lr");
    const acl = plan.registryAcls[0];
    const developers = plan.memberships.find((m) => m.member === ANA)!.group;
    const key = aclKey("registered-models", api.registry!.idOf(acl.model));
    api.state.acls.set(key, [...api.state.acl(key), { kind: "group", name: developers, level: "CAN_MANAGE_PRODUCTION_VERSIONS" }]);
    const f = failed(await doctor());
    assert.deepStrictEqual(
      f.map((c) => [c.side, c.check, c.detail]),
      ["Staging", "Production"].map((stage) => [
        "quant_lr",
        `cannot move ${acl.model} to ${stage}`,
        `can move ${acl.model} to ${stage} (CAN_MANAGE_PRODUCTION_VERSIONS); the plan gives ${acl.grants.find((g) => g.group === developers)?.level ?? "no permission"}`,
      ]),
    );
    assert.match(f[0].fix!, /pulumi up --refresh -s quant_lr restores the model's permissions/);
  });

  it("a blocked Git account", async () => {
    gitUser("aruiz").state = "blocked";
    onlyFailure(await doctor(), "gitlab quant/quant-research", /^account active$/, /unblocks aruiz/);
  });

  it("--self: no Git credential linked in quant names the personal step", async () => {
    ws.quant.api.state.gitCredentials.clear();
    const f = onlyFailure(
      await doctor({ self: true }),
      "quant",
      /^Git credential linked$/,
      /Settings > Linked accounts, Git provider gitLab, Git username aruiz/,
    );
    assert.strictEqual(f.detail, "no Git credential is linked");
  });

  it("--self: a credential for the wrong username, and one that cannot reach the project once she is blocked", async () => {
    ws.quant_stg.api.state.gitCredentials.get(userId("quant_stg", ana.email))!.gitUsername = "ana";
    gitUser("aruiz").state = "blocked";
    const f = failed(await doctor({ self: true, workspace: "quant_stg" }));
    assert.deepStrictEqual(
      f.map((c) => [c.side, c.check]),
      [
        ["quant_stg", "Git credential username"],
        ["quant_stg", "Git credential reaches quant/quant-research"],
        ["gitlab quant/quant-research", "account active"],
      ],
    );
  });

  it("push where the plan says no: a developer allowed on quant_lr is a finding; exit 3 with --json", async () => {
    const pb = gitlab.projects[0].protectedBranches.get("quant_lr")!;
    pb.push_access_levels.push({ ...pb.push_access_levels[0], id: 99, access_level: 30, user_id: null });
    const out: string[] = [];
    const code = await doctorCli(["--member", ANA, "--git-api", gitlab.url, "--dir", PROJECT_DIR, "--json"], env, (s) => out.push(s));
    assert.strictEqual(code, 3);
    const report = JSON.parse(out.join(""));
    assert.strictEqual(report.findings, 1);
    assert.deepStrictEqual(
      report.checks.filter((c: Check) => c.status === "fail").map((c: Check) => c.check),
      ["cannot push to quant_lr"],
    );
  });

  it("an unreadable side (a revoked admin token in quant_lr) exits 1 and still reports the rest", async () => {
    ws.quant_lr.api.state.tokens.delete(ADMIN_TOKEN("quant_lr"));
    const out: string[] = [];
    const code = await doctorCli(["--member", ANA, "--git-api", gitlab.url, "--dir", PROJECT_DIR, "--json"], env, (s) => out.push(s));
    assert.strictEqual(code, 1);
    const report = JSON.parse(out.join(""));
    assert.strictEqual(report.unreadable.length, 1);
    assert.match(report.unreadable[0], /^quant_lr: user ana\.ruiz@quantfirm\.example: GET .* answered 401: Invalid access token\./);
    assert.ok(!out.join("").includes(ADMIN_TOKEN("quant")), "no token in the output");
    assert.ok(report.checks.some((c: Check) => c.side === "quant" && c.status === "pass"));
  });

  it("the test workspace serves workspace-conf to admins and each user's own Git credentials only, as documented", async () => {
    const call = async (token: string, method: string, p: string, body?: unknown) => {
      const r = await fetch(`${ws.quant.url}${p}`, {
        method,
        headers: { Authorization: `Bearer ${token}` },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await r.text();
      return { status: r.status, json: text ? JSON.parse(text) : undefined };
    };
    const admin = ADMIN_TOKEN("quant");
    const conf = "/api/2.0/workspace-conf";
    assert.deepStrictEqual((await call(admin, "GET", `${conf}?keys=enableProjectTypeInWorkspace,projectsAllowList`)).json, {
      enableProjectTypeInWorkspace: "true",
      projectsAllowList: null,
    });
    assert.deepStrictEqual((await call(admin, "GET", `${conf}?keys=enableProjectTypeInWorkspace,nope`)).json, {
      error_code: "INVALID_PARAMETER_VALUE",
      message: 'Invalid keys: ["nope"]',
    });
    assert.strictEqual((await call(admin, "PATCH", conf, { enableProjectsAllowList: "maybe" })).status, 400);
    assert.strictEqual((await call(admin, "PATCH", conf, { enableProjectTypeInWorkspace: "false" })).status, 204);
    assert.strictEqual(ws.quant.api.state.workspaceConf.get("enableProjectTypeInWorkspace"), "false");
    assert.strictEqual((await call(MEMBER_TOKEN("quant", ANA), "GET", `${conf}?keys=enableProjectTypeInWorkspace`)).status, 403);

    const creds = "/api/2.0/git-credentials";
    const ben = MEMBER_TOKEN("quant", "ben.okafor");
    assert.deepStrictEqual((await call(ben, "GET", creds)).json, {}, "Ben sees none of Ana's");
    const made = await call(ben, "POST", creds, { git_provider: "gitlab", git_username: "bokafor", personal_access_token: "glpat-ben" });
    assert.deepStrictEqual(made.json, { credential_id: made.json.credential_id, git_provider: "gitLab", git_username: "bokafor" });
    const again = await call(ben, "POST", creds, { git_provider: "gitLab", git_username: "bokafor", personal_access_token: "x" });
    assert.strictEqual(again.json.error_code, "INVALID_STATE");
    assert.match(again.json.message, /^Only one Git credential is supported at this time/);
    assert.deepStrictEqual((await call(MEMBER_TOKEN("quant", ANA), "GET", creds)).json, {
      credentials: [{ credential_id: 1, git_provider: "gitLab", git_username: "aruiz" }],
    });
    assert.strictEqual((await call(MEMBER_TOKEN("quant", ANA), "DELETE", `${creds}/${made.json.credential_id}`)).status, 404);
    assert.strictEqual((await call(ben, "DELETE", `${creds}/${made.json.credential_id}`)).status, 200);
  });

  it("usage: an unknown member or stack names what was expected", async () => {
    await assert.rejects(
      runDoctor(model, "nobody", {}, env),
      (e: Error) => e instanceof UsageError && /not in the roster .*ana\.ruiz/.test(e.message),
    );
    await assert.rejects(
      runDoctor(model, ANA, { workspace: "quant_live" }, env),
      (e: Error) =>
        e instanceof UsageError && /--workspace quant_live is not a stack; expected one of: quant, quant_lr, quant_stg/.test(e.message),
    );
  });
});
