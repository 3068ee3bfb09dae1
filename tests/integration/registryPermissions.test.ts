/**
 * Issue 34 (1, 4): the workspace test server refuses in its model registry what Databricks refuses, judged by the
 * official Databricks SDK for Python acting as each person with their own token. The expected outcome of every
 * act is written here from Databricks' documented table ("Share MLflow Models", MLflow Model permissions:
 * https://docs.databricks.com/en/mlflow/models-acl.html), not computed by the code under test. A refusal changes
 * nothing: the stages, the ACL and the admins group are read back after the acts.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ADMIN, mlflowCall, WorkspaceServer } from "../../devenv/localPlatform";
import { makeSelfSignedCert, writeCertFile } from "../../devenv/selfSignedCert";
import { liveServers } from "../fixtures/liveServers";
import { actWithSdk, callAs } from "../fixtures/member";

const ADMIN_TOKEN = "dapi-registry-acl-admin";
const MODEL = `acl-model-${process.pid}`;
/** The people, each acting with their own token, and the level the model's ACL gives them (by a group or directly). */
const PEOPLE = {
  outsider: { email: "olga.outsider@quantfirm.example", grant: undefined },
  reader: { email: "rita.reader@quantfirm.example", grant: "CAN_READ" },
  editor: { email: "eddie.editor@quantfirm.example", grant: "CAN_EDIT" },
  staging: { email: "sam.staging@quantfirm.example", grant: "CAN_MANAGE_STAGING_VERSIONS" },
  production: { email: "pia.production@quantfirm.example", grant: "CAN_MANAGE_PRODUCTION_VERSIONS" },
} as const;
type Who = keyof typeof PEOPLE | "admin";

interface Act {
  who: Who;
  op: string;
  version?: string;
  stage?: string;
  key?: string;
  value?: string;
  grants?: [string, string][];
  group?: string;
  path?: string;
  content?: string;
  overwrite?: boolean;
  url?: string;
  user?: string;
  branch?: string;
  /** The documented outcome: the value the call answers, or "refused" (403 PERMISSION_DENIED). */
  expect: unknown;
}

/**
 * In order: each row acts on the model as it is after the rows before it (version 1 starts in None, version 2
 * too). Each refusal is of an ability the person's level lacks in the documented table.
 */
const ACTS: Act[] = [
  { who: "outsider", op: "get-model", expect: "refused" },
  { who: "outsider", op: "search-versions", expect: [] }, // a search answers only what the caller may read
  { who: "reader", op: "get-model", expect: "CAN_READ" }, // permission_level is the caller's own
  { who: "reader", op: "search-versions", expect: ["1", "2"] },
  { who: "reader", op: "request", version: "1", stage: "Archived", expect: "Archived" }, // Can Read may request a transition
  { who: "reader", op: "set-tag", version: "1", key: "k", value: "r", expect: "refused" },
  { who: "reader", op: "transition", version: "1", stage: "Staging", expect: "refused" },
  { who: "editor", op: "get-model", expect: "CAN_EDIT" },
  { who: "editor", op: "set-tag", version: "1", key: "k", value: "e", expect: "e" },
  { who: "editor", op: "transition", version: "1", stage: "Staging", expect: "refused" },
  { who: "editor", op: "transition", version: "1", stage: "Production", expect: "refused" },
  { who: "staging", op: "transition", version: "1", stage: "Staging", expect: "Staging" },
  { who: "staging", op: "transition", version: "1", stage: "Production", expect: "refused" },
  { who: "staging", op: "request", version: "1", stage: "Production", expect: "Production" },
  { who: "staging", op: "approve", version: "1", stage: "Production", expect: "refused" }, // approving into Production needs Can Manage Production Versions
  { who: "production", op: "approve", version: "1", stage: "Production", expect: "Production" },
  { who: "staging", op: "transition", version: "1", stage: "Archived", expect: "refused" }, // out of Production
  { who: "production", op: "delete-version", version: "2", expect: "refused" }, // deleting needs Can Manage
  { who: "editor", op: "set-permissions", grants: [["quant-acl-editors", "CAN_MANAGE"]], expect: "refused" },
  { who: "editor", op: "join-group", group: "admins", expect: "refused" }, // SCIM writes are for admins
  { who: "admin", op: "get-model", expect: "CAN_MANAGE" },
  { who: "admin", op: "delete-version", version: "2", expect: "2" },
];

const TEAM = "/Teams/acl-team";
/**
 * Workspace objects ("Folder ACLs" and "Notebook ACLs", https://docs.databricks.com/en/security/auth/access-control/index.html):
 * creating, importing and deleting items and creating Git folders need Can Manage on the folder; a notebook's
 * content is replaced with Can Edit on it and exported with Can Read; a home folder is its user's to manage.
 * The team folder's ACL: the editors' group CAN_MANAGE, the reader CAN_READ. /Shared gives every user CAN_MANAGE.
 */
const WORKSPACE_ACTS: Act[] = [
  { who: "reader", op: "mkdirs", path: `${TEAM}/reader-dir`, expect: "refused" },
  { who: "reader", op: "import", path: `${TEAM}/reader-nb`, content: "print('r')\n", expect: "refused" },
  { who: "editor", op: "import", path: `${TEAM}/nb`, content: "# Databricks notebook source\nprint('e')\n", expect: "imported" },
  { who: "reader", op: "export", path: `${TEAM}/nb`, expect: "# Databricks notebook source\nprint('e')\n" },
  { who: "outsider", op: "export", path: `${TEAM}/nb`, expect: "refused" },
  { who: "reader", op: "import", path: `${TEAM}/nb`, content: "print('r')\n", overwrite: true, expect: "refused" },
  { who: "outsider", op: "mkdirs", path: `/Users/${PEOPLE.outsider.email}/scratch`, expect: "created" },
  // "All users have Can Manage permission for items in the Shared folder": anyone creates and deletes there.
  { who: "outsider", op: "import", path: "/Shared/outsider-nb", content: "print('o')\n", expect: "imported" },
  { who: "reader", op: "delete", path: "/Shared/outsider-nb", expect: "deleted" },
  { who: "reader", op: "clone", path: `${TEAM}/reader-repo`, url: "https://gitlab.example/quant/quant-research.git", expect: "refused" },
  { who: "editor", op: "clone", path: `${TEAM}/repo`, url: "https://gitlab.example/quant/quant-research.git", expect: `${TEAM}/repo` },
  // Checking out a branch and pulling in a Git folder needs Can Edit on it: the reader's inherited Can Read is not enough.
  { who: "reader", op: "pull", path: `${TEAM}/repo`, branch: "quant_stg", expect: "refused" },
  { who: "editor", op: "pull", path: `${TEAM}/repo`, branch: "quant_stg", expect: "quant_stg" },
  { who: "reader", op: "set-folder-permissions", path: TEAM, grants: [["users", "CAN_MANAGE"]], expect: "refused" },
];

const EXPERIMENTS = `${TEAM}-experiments`;
const TEAM_EXPERIMENT = `${EXPERIMENTS}/team`;
/**
 * Experiments ("MLflow experiment ACLs" and "Folder permissions", experimentAcl.ts): an experiment inherits its
 * folder's levels (CAN_RUN reads as CAN_READ); creating one needs CAN_MANAGE on the folder, an absolute name and
 * an existing folder; runs are created and logged to with CAN_EDIT, read with CAN_READ; deleting the experiment
 * needs CAN_MANAGE; its creator gets CAN_MANAGE on it; a search shows only what the caller may read. The folder's
 * ACL: the editors' group CAN_EDIT, the reader CAN_RUN, the staging manager CAN_MANAGE.
 */
const EXPERIMENT_ACTS: Act[] = [
  { who: "editor", op: "create-experiment", path: `${EXPERIMENTS}/by-editor`, expect: "refused" },
  { who: "staging", op: "create-experiment", path: TEAM_EXPERIMENT, expect: "created" },
  { who: "staging", op: "create-experiment", path: "team-experiment", expect: "error INVALID_PARAMETER_VALUE" },
  { who: "staging", op: "create-experiment", path: `${EXPERIMENTS}/missing/team`, expect: "error RESOURCE_DOES_NOT_EXIST" },
  { who: "admin", op: "experiment-acl", path: TEAM_EXPERIMENT, expect: [`${PEOPLE.staging.email}:CAN_MANAGE`] },
  { who: "outsider", op: "create-run", path: TEAM_EXPERIMENT, expect: "refused" },
  { who: "reader", op: "create-run", path: TEAM_EXPERIMENT, expect: "refused" },
  { who: "editor", op: "create-run", path: TEAM_EXPERIMENT, expect: "created" },
  { who: "editor", op: "log-metric", path: TEAM_EXPERIMENT, key: "precision", value: "0.91", expect: "logged" },
  { who: "reader", op: "log-metric", path: TEAM_EXPERIMENT, key: "precision", value: "0.99", expect: "refused" },
  { who: "reader", op: "count-runs", path: TEAM_EXPERIMENT, expect: 1 },
  { who: "outsider", op: "count-runs", path: TEAM_EXPERIMENT, expect: "refused" },
  { who: "outsider", op: "sees-experiment", path: TEAM_EXPERIMENT, expect: false },
  { who: "reader", op: "sees-experiment", path: TEAM_EXPERIMENT, expect: true },
  { who: "editor", op: "delete-experiment", path: TEAM_EXPERIMENT, expect: "refused" },
  { who: "outsider", op: "create-experiment", path: `/Users/${PEOPLE.outsider.email}/scratch-experiment`, expect: "created" },
  { who: "outsider", op: "create-run", path: `/Users/${PEOPLE.outsider.email}/scratch-experiment`, expect: "created" },
];

describe("the workspace test server refuses what Databricks refuses, acted out with the Databricks SDK as each person", function () {
  this.timeout(300000);
  let ws: WorkspaceServer;
  let dir: string;
  let certFile: string;
  const tokens = new Map<Who, string>([["admin", ADMIN_TOKEN]]);
  const admin = (method: string, api: string, params: Record<string, unknown>) =>
    mlflowCall<Record<string, any>>(ws.url, method, api, params, ADMIN_TOKEN, ws.cert?.cert);

  before(async () => {
    const { a } = await liveServers();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "registry-acl-"));
    const cert = makeSelfSignedCert();
    certFile = writeCertFile(dir, cert);
    ws = new WorkspaceServer("quant_lr", ADMIN_TOKEN, a, cert);
    await ws.start();
    // The people and their groups, as SCIM holds them once the platform deployed them.
    for (const [who, p] of Object.entries(PEOPLE)) {
      const u = ws.state.addUser(p.email);
      const token = `dapi-${who}-${process.pid}`;
      tokens.set(who as Who, token);
      ws.mlflowApi.addUser(token, p.email);
      ws.state.tokens.set(token, u.id);
    }
    // The editor's level comes through a nested group, the others' directly or through a group of their own.
    const inner = ws.state.addGroup("quant-acl-editors-inner", { members: [ws.state.userByName(PEOPLE.editor.email)!.id] });
    ws.state.addGroup("quant-acl-editors", { members: [inner.id] });
    ws.state.addGroup("quant-acl-production", { members: [ws.state.userByName(PEOPLE.production.email)!.id] });

    // The model and two versions, made by the admin through the workspace API; then its ACL, through the Permissions API.
    await admin("POST", "registered-models/create", { name: MODEL });
    const exp = await admin("POST", "experiments/create", { name: `/Shared/acl-${process.pid}` });
    const run = (await admin("POST", "runs/create", { experiment_id: exp.experiment_id, start_time: Date.now() })).run;
    for (let i = 0; i < 2; i++)
      await admin("POST", "model-versions/create", { name: MODEL, source: `${run.info.artifact_uri}/model`, run_id: run.info.run_id });
    const id = (await admin("GET", "databricks/registered-models/get", { name: MODEL })).registered_model_databricks.id;
    const acl = [
      { user_name: PEOPLE.reader.email, permission_level: "CAN_READ" },
      { group_name: "quant-acl-editors", permission_level: "CAN_EDIT" },
      { user_name: PEOPLE.staging.email, permission_level: "CAN_MANAGE_STAGING_VERSIONS" },
      { group_name: "quant-acl-production", permission_level: "CAN_MANAGE_PRODUCTION_VERSIONS" },
    ];
    const put = await fetchJson("PUT", `${ws.url}/api/2.0/permissions/registered-models/${id}`, { access_control_list: acl });
    assert.strictEqual(put.status, 200, JSON.stringify(put.body));
  });
  after(async () => {
    await ws?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** One request with the admin token and the workspace's CA (the Permissions API is no MLflow route). */
  const fetchJson = (method: string, url: string, body: unknown): Promise<{ status: number; body: unknown }> =>
    callAs(ws, ADMIN_TOKEN, method, url, body);

  /** Runs the acts with the Databricks SDK, each as the person whose token it carries; what the workspace answered to each. */
  const actAll = (acts: Record<string, unknown>[]) => actWithSdk(ws.url, acts, certFile);

  /** A folder the admin makes (with the SDK) and whose ACL it sets (with the Permissions API). */
  async function folderWithAcl(folder: string, acl: Record<string, string>[]): Promise<void> {
    const made = await actAll([{ token: ADMIN_TOKEN, op: "mkdirs", path: folder }]);
    assert.ok(made[0].ok, JSON.stringify(made));
    const { object_id } = (await fetchJson("GET", `${ws.url}/api/2.0/workspace/get-status?path=${encodeURIComponent(folder)}`, undefined))
      .body as { object_id: number };
    const put = await fetchJson("PUT", `${ws.url}/api/2.0/permissions/directories/${object_id}`, { access_control_list: acl });
    assert.strictEqual(put.status, 200, JSON.stringify(put.body));
  }

  /** Each act's outcome that differs from its expected one, in words. */
  function differences(expected: Act[], out: Awaited<ReturnType<typeof actAll>>): string[] {
    const differs: string[] = [];
    expected.forEach((a, i) => {
      // Any other answer is its error code (the expected one is written as `error <CODE>`), its message shown.
      const got = out[i].ok ? out[i].value : out[i].refused ? "refused" : `error ${out[i].error_code}`;
      if (JSON.stringify(got) !== JSON.stringify(a.expect))
        differs.push(
          `${a.who} ${a.op}${a.version ? ` v${a.version}` : ""}${a.stage ? ` ${a.stage}` : ""}${a.path ? ` ${a.path}` : ""}: expected ${JSON.stringify(a.expect)}, got ${JSON.stringify(got)}${out[i].ok ? "" : ` (${out[i].message})`}`,
        );
    });
    return differs;
  }

  it("every act is allowed or refused as the documented table says, and each refusal changed nothing", async () => {
    const id = (await admin("GET", "databricks/registered-models/get", { name: MODEL })).registered_model_databricks.id;
    const aclBefore = JSON.stringify((await fetchJson("GET", `${ws.url}/api/2.0/permissions/registered-models/${id}`, undefined)).body);
    const acts = ACTS.map(({ who, expect: _e, ...a }) => ({ ...a, name: MODEL, id, token: tokens.get(who)! }));
    const out = await actAll(acts);
    const differs = differences(ACTS, out);
    assert.deepStrictEqual(differs, [], "acts whose outcome differs from the documented table");

    // What the refusals would have changed is as the allowed acts left it.
    const v1 = (await admin("GET", "model-versions/get", { name: MODEL, version: "1" })).model_version;
    assert.strictEqual(v1.current_stage, "Production", "version 1: moved only by the allowed transitions");
    assert.deepStrictEqual(
      (v1.tags ?? []).filter((t: { key: string }) => t.key === "k"),
      [{ key: "k", value: "e" }],
      "version 1's tag: the editor's, not the reader's",
    );
    assert.strictEqual(
      JSON.stringify((await fetchJson("GET", `${ws.url}/api/2.0/permissions/registered-models/${id}`, undefined)).body),
      aclBefore,
      "the model's ACL is as it was",
    );
    const admins = ws.state.groupByName("admins")!;
    assert.ok(!admins.members.has(ws.state.userByName(PEOPLE.editor.email)!.id), "the editor is not in admins");
  });
  it("workspace objects and Git folders: every act is allowed or refused as the documented table says, and a refusal changes nothing", async () => {
    await folderWithAcl(TEAM, [
      { group_name: "quant-acl-editors", permission_level: "CAN_MANAGE" },
      { user_name: PEOPLE.reader.email, permission_level: "CAN_READ" },
    ]);
    const out = await actAll(WORKSPACE_ACTS.map(({ who, expect: _e, ...a }) => ({ ...a, token: tokens.get(who)! })));
    assert.deepStrictEqual(differences(WORKSPACE_ACTS, out), [], "acts whose outcome differs from the documented table");
    const nodes = ws.mlflowApi.workspace.nodes;
    assert.deepStrictEqual(
      [...nodes.keys()].filter((p) => p.startsWith(`${TEAM}/`)).sort(),
      [`${TEAM}/nb`, `${TEAM}/repo`],
      "the team folder holds what the allowed acts made, nothing the refused ones tried",
    );
    assert.strictEqual(nodes.get(`${TEAM}/nb`)?.content?.toString("utf8"), "# Databricks notebook source\nprint('e')\n");
  });
  it("experiments and their runs: every act is allowed or refused as the documented table says, and a refusal changes nothing", async () => {
    await folderWithAcl(EXPERIMENTS, [
      { group_name: "quant-acl-editors", permission_level: "CAN_EDIT" },
      { user_name: PEOPLE.reader.email, permission_level: "CAN_RUN" },
      { user_name: PEOPLE.staging.email, permission_level: "CAN_MANAGE" },
    ]);
    const out = await actAll(EXPERIMENT_ACTS.map(({ who, expect: _e, ...a }) => ({ ...a, token: tokens.get(who)! })));
    assert.deepStrictEqual(differences(EXPERIMENT_ACTS, out), [], "acts whose outcome differs from the documented table");

    // The refused acts left nothing: one experiment in the folder, still active, with the editor's one run and metric.
    const found = await admin("POST", "experiments/search", { max_results: 1000, filter: `name LIKE '${EXPERIMENTS}/%'` });
    assert.deepStrictEqual(
      (found.experiments ?? []).map((e: { name: string }) => e.name),
      [TEAM_EXPERIMENT],
      "the folder holds the experiment the staging manager made, nothing the refused creates tried",
    );
    const runs = await admin("POST", "runs/search", { experiment_ids: [found.experiments[0].experiment_id] });
    assert.deepStrictEqual(
      runs.runs.map((r: { data: { metrics?: { key: string; value: number }[] } }) => r.data.metrics),
      [[{ key: "precision", value: 0.91, timestamp: 0, step: 0 }]],
      "one run, with the editor's metric only",
    );
  });
  it("the SDK's ordinary calls the stand-in answered off the documentation are answered as documented", async () => {
    const exp = await admin("POST", "experiments/create", { name: `/Users/${ADMIN}/acl-sdk-${process.pid}` });
    const id = String(exp.experiment_id);
    const acts: Act[] = [
      // GET/PATCH /api/2.0/permissions/experiments/{id}: admins' CAN_MANAGE inherited; a reader may not change it.
      { who: "admin", op: "set-experiment-permissions", grants: [["quant-acl-editors", "CAN_EDIT"]], expect: "updated" },
      { who: "reader", op: "set-experiment-permissions", grants: [["users", "CAN_MANAGE"]], expect: "refused" },
      { who: "admin", op: "experiment-permissions", expect: ["admins:CAN_MANAGE", "quant-acl-editors:CAN_EDIT"] },
      // GET experiments/list and POST experiments/search with {}.
      { who: "admin", op: "list-experiments", expect: "listed" },
      { who: "admin", op: "search-experiments", expect: "listed" },
      // workspace.upload: /api/2.0/workspace/import as multipart/form-data.
      { who: "admin", op: "upload", path: `${TEAM}-upload`, content: "# Databricks notebook source\nprint('u')\n", expect: "uploaded" },
      { who: "admin", op: "export", path: `${TEAM}-upload`, expect: "# Databricks notebook source\nprint('u')\n" },
      // A SCIM PatchOp add without path: the attributes are the value's keys.
      {
        who: "admin",
        op: "add-member-no-path",
        group: "quant-acl-production",
        user: PEOPLE.reader.email,
        expect: [PEOPLE.production.email, PEOPLE.reader.email].sort(),
      },
    ];
    const out = await actAll(acts.map(({ who, expect: _e, ...a }) => ({ ...a, id, token: tokens.get(who)! })));
    // The listings are long (every experiment of the shared server): what counts is that they name this one.
    for (const i of [3, 4])
      if (out[i].ok)
        out[i] = {
          ok: true,
          value: (out[i].value as string[]).includes(`/Users/${ADMIN}/acl-sdk-${process.pid}`) ? "listed" : out[i].value,
        };
    assert.deepStrictEqual(differences(acts, out), [], "calls answered otherwise than documented");
  });
});
