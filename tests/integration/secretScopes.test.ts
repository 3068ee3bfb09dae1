/**
 * Secret scopes move with `move` (issue 35 item 3): their keys and ACLs from the old workspace, the values from the
 * operator (`--secret-values`), since the Secrets API never hands a value to the tools. A key with no value is a
 * to-do and the move exits 3 until it is given; no value is ever printed; verify-move compares keys and ACLs.
 * Two Databricks test workspaces (their Secrets API, devenv/databricks/secretsApi.ts), each over a real MLflow
 * server; the move runs as the CLI does, with a plan that names the scope.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
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
  let src: DatabricksTestServer;
  let dst: DatabricksTestServer;
  let dir: string;

  before(async () => {
    const { a, b } = await liveServers();
    src = new DatabricksTestServer(a.url, OLD, "backend");
    dst = new DatabricksTestServer(b.url, NEW, "backend");
    await Promise.all([src.start(), dst.start()]);
    // The old workspace's scope: two keys, the developers' READ and the platform's MANAGE.
    src.secrets.scopes.set(SCOPE, {
      name: SCOPE,
      secrets: new Map(Object.entries(VALUES).map(([k, v]) => [k, { value: Buffer.from(v), updated: Date.now() }])),
      acls: new Map([
        ["quant-developer", "READ"],
        ["quant-platform", "MANAGE"],
      ]),
    });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "secrets-"));
    fs.writeFileSync(path.join(dir, "plan.yaml"), `paths: []\nexperiments: []\nmodels: []\nsecretScopes:\n  - ${SCOPE}\n`);
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const move = (values: Record<string, string>) =>
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
      ],
      {
        cwd: PROJECT_DIR,
        env: { ...process.env, MIGRATE_FROM_TOKEN: OLD, MIGRATE_TO_TOKEN: NEW, VAULT_EXPORT: JSON.stringify({ [SCOPE]: values }) },
      },
    );
  const target = () => dst.secrets.scopes.get(SCOPE);

  it("with one value given: the scope and its ACLs are made, that value written, the other key a to-do (exit 3); no value printed", async () => {
    const r = await move({ "feed-token": VALUES["feed-token"] });
    assert.strictEqual(r.status, 3, r.stderr);
    for (const v of Object.values(VALUES)) assert.ok(!`${r.stdout}${r.stderr}`.includes(v), "a secret value was printed");
    const report = JSON.parse(r.stdout) as MoveReport;
    assert.deepStrictEqual(report.secretsToDo, [`${SCOPE}/db-password`]);
    assert.deepStrictEqual(
      report.verification?.differences.map((d) => d.detail),
      [`secret scope '${SCOPE}': key 'db-password' is missing (give its value)`],
    );
    assert.strictEqual(target()!.secrets.get("feed-token")!.value.toString(), VALUES["feed-token"]);
    assert.ok(!target()!.secrets.has("db-password"));
    // The source's ACL and nothing else: the creator's own MANAGE, which Databricks gives, went once the ACL was copied.
    assert.deepStrictEqual(Object.fromEntries(target()!.acls), { "quant-developer": "READ", "quant-platform": "MANAGE" });
  });

  it("again with both values: both written, verify-move identical, secret scopes counted (exit 0)", async () => {
    const r = await move(VALUES);
    assert.strictEqual(r.status, 0, `${r.stdout.slice(-2000)}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as MoveReport;
    assert.strictEqual(report.secretsToDo, undefined);
    assert.deepStrictEqual(report.verification?.differences, []);
    assert.strictEqual(report.verification?.checked.secretScopes, 1);
    for (const [k, v] of Object.entries(VALUES)) assert.strictEqual(target()!.secrets.get(k)!.value.toString(), v);
  });

  it("an ACL changed in the new workspace afterwards is a difference verify-move names", async () => {
    target()!.acls.set("quant-consumer", "WRITE");
    const r = await move(VALUES);
    assert.strictEqual(r.status, 3);
    assert.deepStrictEqual(
      (JSON.parse(r.stdout) as MoveReport).verification?.differences.map((d) => d.detail),
      [`secret scope '${SCOPE}': quant-consumer has WRITE in the target only`],
    );
  });
});
