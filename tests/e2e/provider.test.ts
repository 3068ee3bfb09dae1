/**
 * The real engine and the real Databricks provider against the control-plane test server: a minimal
 * Pulumi TypeScript program with one of each Databricks resource type our stacks declare, through
 * `up`, a clean `preview --expect-no-changes` (no perpetual diff), a clean `preview --refresh
 * --expect-no-changes` (what the service adds by itself is not drift), an ACL changed out of band and
 * caught by the same refreshed preview, and `destroy`, asserting on the server after each step.
 * Skips, saying why, only when no Pulumi toolchain can be found or installed.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { DatabricksControlServer } from "../../devenv/databricks/databricksControlServer";
import { findPulumiToolchain, PROJECT_DIR } from "../../devenv/pulumiToolchain";
import { liveServers } from "../fixtures/liveServers";
import { pulumiEnv, Run, Runner } from "../../devenv/localPlatform";

const TOKEN = "dapi-e2e-provider-token";

const PROGRAM = `
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";

const cfg = new pulumi.Config();
const sfx = cfg.require("suffix");
const provider = new databricks.Provider("workspace", {
  host: cfg.require("host"), token: cfg.requireSecret("token"), authType: "pat", retryTimeoutSeconds: 5,
});
const opts = { provider };

const developers = new databricks.Group("developers", {
  displayName: "quant-developers", workspaceAccess: true, databricksSqlAccess: true, allowClusterCreate: true, allowInstancePoolCreate: false,
}, opts);
const platform = new databricks.Group("platform", {
  displayName: "quant-platform-admins", workspaceAccess: true, databricksSqlAccess: true, allowClusterCreate: true, allowInstancePoolCreate: true,
}, opts);
const ana = new databricks.User("ana", { userName: "ana.ruiz@quantfirm.example", displayName: "Ana Ruiz" }, opts);
const ines = databricks.getUserOutput({ userName: "ines.moreau@quantfirm.example" }, { provider });
new databricks.GroupMember("ana-developers", { groupId: developers.id, memberId: ana.id }, opts);
new databricks.GroupMember("ines-platform", { groupId: platform.id, memberId: ines.apply((u) => u.id) }, opts);

const gitRoot = new databricks.Directory("git-root", { path: "/Teams/quant/git" }, opts);
const shared = new databricks.Directory("shared", { path: "/Teams/quant/shared" }, opts);
new databricks.Permissions("git-root-acl", {
  directoryPath: "/Teams/quant/git",
  accessControls: [{ groupName: developers.displayName, permissionLevel: "CAN_MANAGE" }, { groupName: platform.displayName, permissionLevel: "CAN_MANAGE" }],
}, { provider, dependsOn: [gitRoot] });
new databricks.Permissions("shared-acl", {
  directoryPath: "/Teams/quant/shared",
  accessControls: [{ groupName: developers.displayName, permissionLevel: "CAN_READ" }, { groupName: platform.displayName, permissionLevel: "CAN_MANAGE" }],
}, { provider, dependsOn: [shared] });
const research = new databricks.Repo("research", {
  url: "https://127.0.0.1:8929/quant/quant-research.git", gitProvider: "gitLab",
  path: "/Teams/quant/shared/quant-research", branch: "quant",
}, { provider, dependsOn: [shared] });
new databricks.Permissions("research-acl", {
  repoId: research.id, accessControls: [{ groupName: developers.displayName, permissionLevel: "CAN_EDIT" }],
}, opts);

const alpha = new databricks.MlflowModel("alpha", { name: "quant-alpha-transformer-" + sfx }, { provider, import: "quant-alpha-transformer-" + sfx });
const risk = new databricks.MlflowModel("risk", { name: "quant-risk-scorer-" + sfx }, opts);
new databricks.Permissions("alpha-acl", {
  registeredModelId: alpha.registeredModelId,
  accessControls: [{ groupName: developers.displayName, permissionLevel: "CAN_EDIT" }, { groupName: platform.displayName, permissionLevel: "CAN_MANAGE_PRODUCTION_VERSIONS" }],
}, opts);

const ucRisk = new databricks.RegisteredModel("uc-risk", { catalogName: "main", schemaName: "quant", name: "risk_scorer" }, opts);
new databricks.Grants("uc-risk-grants", {
  model: ucRisk.fullName.apply((n) => n ?? "main.quant.risk_scorer"),
  grants: [{ principal: developers.displayName, privileges: ["EXECUTE"] }, { principal: platform.displayName, privileges: ["ALL_PRIVILEGES", "MANAGE"] }],
}, opts);

export const repoId = research.id;
export const alphaId = alpha.registeredModelId;
export const riskId = risk.registeredModelId;
`;

describe("e2e: the real Databricks provider against the control-plane test server", function () {
  this.timeout(300000);
  let server: DatabricksControlServer | undefined;
  let tmp = "";
  let env: NodeJS.ProcessEnv = {};
  let mlflowUrl = "";
  const sfx = Math.random().toString(36).slice(2, 8);
  let seededAlphaId = "";

  let runner: Runner | undefined;
  const pulumi = (args: string[], timeoutMs = 120000): Promise<Run> => {
    server?.log.push(`=== pulumi ${args.join(" ")}`);
    return runner!.pulumi(args, { timeoutMs });
  };
  const ok = (r: Run, what: string) => assert.strictEqual(r.code, 0, `${what} failed (exit ${r.code}):\n${r.out.slice(-6000)}`);
  const noUnimplemented = () =>
    assert.deepStrictEqual(server!.unimplemented, [], "the provider called routes the test server does not implement");
  const calls = (from: number) => server!.state.calls.slice(from);

  const state = () => server!.state;
  const group = (name: string) => state().groupByName(name);
  const node = (p: string) => server!.workspace.nodes.get(p);
  const directAcl = (type: string, id: number | string) =>
    state()
      .acl(`/${type}/${id}`)
      .map((e) => `${e.kind}:${e.name}:${e.level}`)
      .sort();
  /** One authenticated call to the test server, trusting its certificate as the provider does. */
  const api = (method: string, p: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const r = https.request(
        `${server!.url}${p}`,
        { method, ca: server!.cert.cert, headers: { Authorization: `Bearer ${TOKEN}` } },
        (res) => {
          let d = "";
          res.on("data", (c) => (d += c));
          res.on("end", () =>
            res.statusCode === 200 ? resolve(JSON.parse(d)) : reject(new Error(`${method} ${p}: ${res.statusCode} ${d}`)),
          );
        },
      );
      r.on("error", reject);
      r.end();
    });
  const entries = (acl: Record<string, unknown>) =>
    (acl.access_control_list as Record<string, unknown>[])
      .flatMap((e) => {
        const who = ["user_name", "group_name", "service_principal_name"].filter((k) => e[k]).map((k) => `${k}=${e[k]}`)[0];
        return (e.all_permissions as { permission_level: string; inherited: boolean; inherited_from_object?: string[] }[]).map(
          (p) => `${who} ${p.permission_level}${p.inherited ? ` inherited from ${p.inherited_from_object!.join(",")}` : ""}`,
        );
      })
      .sort();
  const mlflowModel = async (name: string) =>
    (await fetch(`${mlflowUrl}/api/2.0/mlflow/registered-models/get?name=${encodeURIComponent(name)}`)).status;

  before(async function () {
    const tc = findPulumiToolchain();
    if (!tc.pulumi) {
      console.log(`      SKIPPED e2e provider test: ${tc.reason}`);
      this.skip();
    }
    mlflowUrl = (await liveServers()).a.url;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "provider-e2e-"));
    server = new DatabricksControlServer(TOKEN, { mlflowUrl });
    await server.start(tmp);

    // What the workspace holds before the stack exists: a user found by lookup, a UC schema, and a
    // registered model (with an ACL of its own) that the stack adopts.
    state().addUser("ines.moreau@quantfirm.example", { displayName: "Ines Moreau", entitlements: ["workspace-access"] });
    state().ucSchemas.add("main.quant");
    const r = await fetch(`${mlflowUrl}/api/2.0/mlflow/registered-models/create`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: `quant-alpha-transformer-${sfx}` }),
    });
    assert.strictEqual(r.status, 200, await r.text());
    seededAlphaId = server.api.registry!.idOf(`quant-alpha-transformer-${sfx}`, "former-owner@quantfirm.example");
    state().acls.set(`/registered-models/${seededAlphaId}`, [{ kind: "group", name: "users", level: "CAN_READ" }]);

    const dir = path.join(tmp, "program");
    fs.mkdirSync(dir);
    fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"));
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: provider-e2e\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "provider-e2e", main: "index.ts" }));
    fs.writeFileSync(path.join(dir, "index.ts"), PROGRAM);

    // Only loopback: the provider's HTTPS goes to the test server, trusted through SSL_CERT_FILE.
    env = pulumiEnv(tmp, tc.binDir, server.certFile, {}, false);
    runner = new Runner(dir, env);
    ok(await pulumi(["login", `file://${path.join(tmp, "state")}`]), "pulumi login");
    ok(await pulumi(["stack", "init", "e2e"]), "pulumi stack init");
    ok(
      await pulumi([
        "config",
        "set-all",
        "--plaintext",
        `host=${server.url}`,
        "--plaintext",
        `suffix=${sfx}`,
        "--secret",
        `token=${TOKEN}`,
      ]),
      "pulumi config set-all",
    );
  });

  after(async function () {
    if (runner?.timings.length) console.log(`      pulumi steps: ${runner.timings.join(", ")}`);
    if (process.env.E2E_CALL_LOG && server) fs.writeFileSync(process.env.E2E_CALL_LOG, server.log.join("\n") + "\n");
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("up creates groups, users, members, folders, a Git folder, models, ACLs and grants as declared", async () => {
    const from = state().calls.length;
    const r = await pulumi(["up", "--yes", "--skip-preview"]);
    ok(r, "pulumi up");
    noUnimplemented();
    assert.ok(!/token=|dapi-e2e/.test(r.out), "the token must not be printed");

    const devs = group("quant-developers")!;
    const plat = group("quant-platform-admins")!;
    assert.deepStrictEqual([...devs.entitlements].sort(), ["allow-cluster-create", "databricks-sql-access", "workspace-access"]);
    assert.deepStrictEqual([...plat.entitlements].sort(), [
      "allow-cluster-create",
      "allow-instance-pool-create",
      "databricks-sql-access",
      "workspace-access",
    ]);
    const ana = state().userByName("ana.ruiz@quantfirm.example")!;
    assert.strictEqual(ana.displayName, "Ana Ruiz");
    assert.ok(devs.members.has(ana.id) && plat.members.has(state().userByName("ines.moreau@quantfirm.example")!.id));

    const git = node("/Teams/quant/git")!;
    const sharedDir = node("/Teams/quant/shared")!;
    const repo = node("/Teams/quant/shared/quant-research")!;
    assert.deepStrictEqual([git.type, sharedDir.type, repo.type], ["DIRECTORY", "DIRECTORY", "REPO"]);
    assert.strictEqual(state().gitFolders.get(repo.id)!.branch, "quant");
    assert.deepStrictEqual(directAcl("directories", git.id), [
      "group:quant-developers:CAN_MANAGE",
      "group:quant-platform-admins:CAN_MANAGE",
    ]);
    assert.deepStrictEqual(directAcl("directories", sharedDir.id), [
      "group:quant-developers:CAN_READ",
      "group:quant-platform-admins:CAN_MANAGE",
    ]);
    // The Permissions resource owns all direct entries: the creator's CAN_MANAGE is gone from the Git folder.
    assert.deepStrictEqual(directAcl("repos", repo.id), ["group:quant-developers:CAN_EDIT"]);

    assert.strictEqual(await mlflowModel(`quant-alpha-transformer-${sfx}`), 200);
    assert.strictEqual(await mlflowModel(`quant-risk-scorer-${sfx}`), 200);
    const alphaId = state().workspaceModels.get(`quant-alpha-transformer-${sfx}`)!.id;
    assert.strictEqual(alphaId, seededAlphaId, "the adopted model keeps its id");
    assert.strictEqual(
      calls(from).filter((c) => c.startsWith("POST /api/2.0/mlflow/registered-models/create")).length,
      1,
      "only the new model is created",
    );
    // Adopted, not re-created: same id, and its previous ACL replaced (the provider keeps itself CAN_MANAGE).
    assert.deepStrictEqual(directAcl("registered-models", alphaId), [
      "group:quant-developers:CAN_EDIT",
      "group:quant-platform-admins:CAN_MANAGE_PRODUCTION_VERSIONS",
      `user:${state().admin.userName}:CAN_MANAGE`,
    ]);
    assert.ok(state().ucModels.has("main.quant.risk_scorer"));
    assert.deepStrictEqual(
      [...state().ucGrants.get("function/main.quant.risk_scorer")!].map(([p, s]) => `${p}:${[...s].sort().join("+")}`).sort(),
      ["quant-developers:EXECUTE", "quant-platform-admins:ALL_PRIVILEGES+MANAGE"],
    );
  });

  it("a second preview shows no changes", async () => {
    ok(await pulumi(["preview", "--expect-no-changes", "--diff"]), "pulumi preview --expect-no-changes");
    noUnimplemented();
  });

  it("a refreshed preview shows no drift although the service reports inherited entries, admins and the caller's own CAN_MANAGE", async () => {
    // What the provider reads back holds more than it set, as on Databricks.
    const repo = await api("GET", `/api/2.0/permissions/repos/${node("/Teams/quant/shared/quant-research")!.id}`);
    assert.deepStrictEqual(repo.object_type, "repo");
    assert.deepStrictEqual(entries(repo), [
      "group_name=admins CAN_MANAGE inherited from /directories/",
      "group_name=quant-developers CAN_EDIT",
      `group_name=quant-developers CAN_READ inherited from /directories/${node("/Teams/quant/shared")!.id}`,
      `group_name=quant-platform-admins CAN_MANAGE inherited from /directories/${node("/Teams/quant/shared")!.id}`,
    ]);
    const model = await api("GET", `/api/2.0/permissions/registered-models/${seededAlphaId}`);
    assert.ok(entries(model).includes(`user_name=${state().admin.userName} CAN_MANAGE`));
    assert.ok(entries(model).includes("group_name=admins CAN_MANAGE inherited from /registered-models/root"));
    ok(await pulumi(["preview", "--refresh", "--expect-no-changes", "--diff"]), "pulumi preview --refresh --expect-no-changes");
    noUnimplemented();
  });

  it("an ACL changed out of band is caught by preview --refresh --expect-no-changes", async () => {
    const key = `/directories/${node("/Teams/quant/shared")!.id}`;
    state().acls.set(key, [...state().acl(key), { kind: "group", name: "users", level: "CAN_READ" }]);
    const r = await pulumi(["preview", "--refresh", "--expect-no-changes", "--diff"]);
    assert.notStrictEqual(r.code, 0, `preview --refresh --expect-no-changes should fail on drift:\n${r.out.slice(-4000)}`);
    // The engine names the resource by its type token, databricks:index/permissions:Permissions.
    assert.match(r.out, /~ databricks:index\/permissions:Permissions: \(update\)\s*\n\s*\[id=[^\]]+\]\s*\n\s*\[urn=[^\]]*::shared-acl\]/);
    assert.match(r.out, /accessControls/);
    assert.match(r.out, /no changes were expected/i);
    noUnimplemented();
    // A preview changes nothing on the server.
    assert.ok(
      state()
        .acl(key)
        .some((e) => e.name === "users"),
    );
  });

  it("destroy removes everything the stack declared and leaves what it only looked up", async () => {
    const repoId = node("/Teams/quant/shared/quant-research")!.id;
    const r = await pulumi(["destroy", "--yes", "--skip-preview"]);
    ok(r, "pulumi destroy");
    noUnimplemented();
    assert.strictEqual(group("quant-developers"), undefined);
    assert.strictEqual(group("quant-platform-admins"), undefined);
    assert.strictEqual(state().userByName("ana.ruiz@quantfirm.example"), undefined);
    assert.ok(state().userByName("ines.moreau@quantfirm.example"), "a user only looked up stays");
    assert.strictEqual(node("/Teams/quant/git"), undefined);
    assert.strictEqual(node("/Teams/quant/shared"), undefined);
    assert.strictEqual(state().gitFolders.get(repoId), undefined);
    assert.strictEqual(await mlflowModel(`quant-alpha-transformer-${sfx}`), 404);
    assert.strictEqual(await mlflowModel(`quant-risk-scorer-${sfx}`), 404);
    assert.strictEqual(state().ucModels.size, 0);
    assert.strictEqual(state().ucGrants.get("function/main.quant.risk_scorer"), undefined);
  });
});
