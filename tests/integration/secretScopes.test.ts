/**
 * Secret scopes move with `move` (issue 35 item 3): their keys and ACLs from the old workspace, the values from the
 * operator (`--secret-values`), since the Secrets API never hands a value to the tools. A key with no value is a
 * to-do and the move exits 3 until it is given; no value is ever printed; verify-move compares keys and ACLs. An
 * ACL principal the new workspace lacks holds the scope, with nothing of it created, until the plan maps it.
 * Two local-platform workspaces over plain HTTP (WorkspaceServer: SCIM, and the Secrets API of
 * devenv/databricks/secretsApi.ts, which refuses a principal SCIM does not know), each over a real MLflow server;
 * the move runs as the CLI does, with a plan that names the scope.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { WorkspaceServer } from "../../devenv/localPlatform";
import { PROJECT_DIR } from "../../devenv/localMlflow";
import { MoveReport } from "../../migration/move";
import { liveServers } from "../fixtures/liveServers";
import { runAsync } from "../fixtures/process";

const OLD = "dapi-secrets-old";
const NEW = "dapi-secrets-new";
const SCOPE = "quant-feeds";
const VALUES = { "feed-token": "tok-3f9a-very-secret", "db-password": "pw-77c1-very-secret" };

describe("move: secret scopes with their keys and ACLs, the values from the operator", function () {
  this.timeout(300000);
  let src: WorkspaceServer;
  let dst: WorkspaceServer;
  let dir: string;
  /** The plan: the scope, and the principals mapped (none at first). */
  const writePlan = (principalMap = "") =>
    fs.writeFileSync(path.join(dir, "plan.yaml"), `paths: []\nexperiments: []\nmodels: []\nsecretScopes:\n  - ${SCOPE}\n${principalMap}`);

  before(async () => {
    const { a, b } = await liveServers();
    src = new WorkspaceServer("quant", OLD, a);
    dst = new WorkspaceServer("quant_stg", NEW, b);
    await Promise.all([src.start(), dst.start()]);
    // The developers' group is in both workspaces; the platform team is `quant-platform` in the old, `platform-team` in the new.
    src.state.addGroup("quant-developer");
    src.state.addGroup("quant-platform");
    dst.state.addGroup("quant-developer");
    dst.state.addGroup("platform-team");
    // The old workspace's scope: two keys, the developers' READ and the platform's MANAGE.
    src.mlflowApi.secrets.scopes.set(SCOPE, {
      name: SCOPE,
      secrets: new Map(Object.entries(VALUES).map(([k, v]) => [k, { value: Buffer.from(v), updated: Date.now() }])),
      acls: new Map([
        ["quant-developer", "READ"],
        ["quant-platform", "MANAGE"],
      ]),
    });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "secrets-"));
    writePlan();
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const move = (values: Record<string, string>, ...extra: string[]) =>
    runAsync(
      process.execPath,
      [
        "bin/quant-platform.js",
        "move",
        "--from",
        `databricks+${src.url}`,
        "--to",
        `databricks+${dst.url}`,
        "--plan",
        path.join(dir, "plan.yaml"),
        "--secret-values",
        "env:VAULT_EXPORT",
        "--json",
        ...extra,
      ],
      {
        cwd: PROJECT_DIR,
        env: { ...process.env, MIGRATE_FROM_TOKEN: OLD, MIGRATE_TO_TOKEN: NEW, VAULT_EXPORT: JSON.stringify({ [SCOPE]: values }) },
      },
    );
  const target = () => dst.mlflowApi.secrets.scopes.get(SCOPE);

  it("a group the new workspace lacks holds the scope: the dry run and the move name it and the map to give (exit 3), and nothing is created", async () => {
    const held = `secret scope '${SCOPE}': principal quant-platform (MANAGE) does not exist in the target: create it, or map it in the plan's principalMap`;
    for (const extra of [["--dry-run"], []]) {
      const r = await move(VALUES, ...extra);
      assert.strictEqual(r.status, 3, `${extra}: ${r.stdout.slice(-2000)}\n${r.stderr}`);
      const report = JSON.parse(r.stdout) as MoveReport;
      const item = report.items.find((i) => i.key === `secret-scope:${SCOPE}`)!;
      assert.deepStrictEqual([item.outcome, item.problem, report.decisions], ["held", held, [held]], `${extra}`);
      assert.strictEqual(target(), undefined, `${extra}: nothing of the scope was created`);
    }
    // The new workspace refuses that principal itself: what the check above spares the move.
    const r = await fetch(`${dst.url}/api/2.0/secrets/scopes/create`, {
      method: "POST",
      headers: { Authorization: `Bearer ${NEW}` },
      body: JSON.stringify({ scope: "probe" }),
    });
    assert.strictEqual(r.status, 200);
    const put = await fetch(`${dst.url}/api/2.0/secrets/acls/put`, {
      method: "POST",
      headers: { Authorization: `Bearer ${NEW}` },
      body: JSON.stringify({ scope: "probe", principal: "quant-platform", permission: "MANAGE" }),
    });
    assert.deepStrictEqual([put.status, ((await put.json()) as { error_code: string }).error_code], [400, "INVALID_PARAMETER_VALUE"]);
    dst.mlflowApi.secrets.scopes.delete("probe");
    writePlan("principalMap:\n  quant-platform: platform-team\n");
  });

  it("with the group mapped and one value given: the scope and its ACLs are made, that value written, the other key a to-do (exit 3); no value printed", async () => {
    const r = await move({ "feed-token": VALUES["feed-token"] });
    assert.strictEqual(r.status, 3, r.stderr);
    assert.match(r.stdout, /MANAGE of quant-platform given to platform-team \(principalMap\)/);
    for (const v of Object.values(VALUES)) assert.ok(!`${r.stdout}${r.stderr}`.includes(v), "a secret value was printed");
    const report = JSON.parse(r.stdout) as MoveReport;
    assert.deepStrictEqual(report.secretsToDo, [`${SCOPE}/db-password`]);
    assert.deepStrictEqual(
      report.verification?.differences.map((d) => d.detail),
      [`secret scope '${SCOPE}': key 'db-password' is missing (give its value)`],
    );
    assert.strictEqual(target()!.secrets.get("feed-token")!.value.toString(), VALUES["feed-token"]);
    assert.ok(!target()!.secrets.has("db-password"));
    // The source's ACL through the map and nothing else: the creator's own MANAGE, which Databricks gives, went once the ACL was copied.
    assert.deepStrictEqual(Object.fromEntries(target()!.acls), { "quant-developer": "READ", "platform-team": "MANAGE" });
  });

  it("again with both values: both written, verify-move identical through the map, secret scopes counted (exit 0)", async () => {
    const r = await move(VALUES);
    assert.strictEqual(r.status, 0, `${r.stdout.slice(-2000)}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as MoveReport;
    assert.strictEqual(report.secretsToDo, undefined);
    assert.deepStrictEqual(report.verification?.differences, []);
    assert.strictEqual(report.verification?.checked.secretScopes, 1);
    for (const [k, v] of Object.entries(VALUES)) assert.strictEqual(target()!.secrets.get(k)!.value.toString(), v);
  });

  it("an ACL changed in the new workspace afterwards is a difference verify-move names", async () => {
    dst.state.addGroup("quant-consumer");
    target()!.acls.set("quant-consumer", "WRITE");
    const r = await move(VALUES);
    assert.strictEqual(r.status, 3);
    assert.deepStrictEqual(
      (JSON.parse(r.stdout) as MoveReport).verification?.differences.map((d) => d.detail),
      [`secret scope '${SCOPE}': quant-consumer has WRITE in the target only`],
    );
  });
});
