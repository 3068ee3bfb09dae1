/**
 * Unity Catalog lists only what the caller may read: a search of registered models, or of a model's versions,
 * answers the models on which the caller holds USE CATALOG, USE SCHEMA and EXECUTE (or owns them), as Databricks
 * does ("Unity Catalog privileges and securable objects": a user sees only the objects they have privileges on).
 * Acted with the Databricks SDK as each person, on the local platform's workspace.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { UcRegistryApi } from "../../devenv/databricks/ucRegistryApi";
import { WorkspaceServer } from "../../devenv/localPlatform";
import { makeSelfSignedCert, writeCertFile } from "../../devenv/selfSignedCert";
import { emulators } from "../fixtures/cloudEmulators";
import { liveServers } from "../fixtures/liveServers";
import { actWithSdk } from "../fixtures/member";

const ADMIN = `dapi-ucvis-admin-${process.pid}`;
const PEOPLE = { reader: "grace.lee@quantfirm.example", schemaOnly: "ana.ruiz@quantfirm.example", outsider: "eve.stone@quantfirm.example" };
const SIGNAL = "main.quant.signal_model";
const RISK = "main.quant.risk_model";

describe("Unity Catalog searches list only the models the caller may read, acted with the Databricks SDK", function () {
  this.timeout(180000);
  let ws: WorkspaceServer;
  let dir: string;
  let certFile: string;
  const token = (who: keyof typeof PEOPLE) => `dapi-ucvis-${who}-${process.pid}`;

  before(async () => {
    const [{ a }, { moto }] = await Promise.all([liveServers(), emulators()]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "uc-visibility-"));
    const cert = makeSelfSignedCert();
    certFile = writeCertFile(dir, cert);
    ws = new WorkspaceServer("quant_lr", ADMIN, a, cert);
    await ws.start();
    for (const [who, email] of Object.entries(PEOPLE)) {
      const u = ws.state.addUser(email);
      ws.mlflowApi.addUser(token(who as keyof typeof PEOPLE), email);
      ws.state.tokens.set(token(who as keyof typeof PEOPLE), u.id);
    }
    ws.state.ucSchemas.add("main.quant");
    const uc = new UcRegistryApi({ storage: { kind: "s3", moto, bucket: `uc-visibility-${process.pid}` }, state: ws.state });
    await uc.ensureStore();
    ws.mlflowApi.ucRegistry = uc;
    const set = await act([
      { token: ADMIN, op: "uc-create-model", name: SIGNAL },
      { token: ADMIN, op: "uc-create-model", name: RISK },
      { token: ADMIN, op: "uc-grant", securable: "catalog", name: "main", principal: PEOPLE.reader, privileges: ["USE_CATALOG"] },
      { token: ADMIN, op: "uc-grant", securable: "schema", name: "main.quant", principal: PEOPLE.reader, privileges: ["USE_SCHEMA"] },
      { token: ADMIN, op: "uc-grant", securable: "function", name: SIGNAL, principal: PEOPLE.reader, privileges: ["EXECUTE"] },
      { token: ADMIN, op: "uc-grant", securable: "catalog", name: "main", principal: PEOPLE.schemaOnly, privileges: ["USE_CATALOG"] },
      { token: ADMIN, op: "uc-grant", securable: "schema", name: "main.quant", principal: PEOPLE.schemaOnly, privileges: ["USE_SCHEMA"] },
    ]);
    assert.deepStrictEqual(
      set.filter((r) => !r.ok),
      [],
      "the admin's setup",
    );
  });
  after(async () => {
    await ws?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const act = (acts: Record<string, unknown>[]) => actWithSdk(ws.url, acts, certFile);

  it("the admin sees both models; EXECUTE on one shows that one; USE alone, or nothing, shows none", async () => {
    const out = await act([
      { token: ADMIN, op: "uc-search-models" },
      { token: token("reader"), op: "uc-search-models" },
      { token: token("schemaOnly"), op: "uc-search-models" },
      { token: token("outsider"), op: "uc-search-models" },
    ]);
    assert.deepStrictEqual(
      out.map((r) => r.value),
      [[RISK, SIGNAL], [SIGNAL], [], []],
    );
  });

  it("a version search by name answers nothing for a model the caller may not read, and the model's versions for one they may", async () => {
    const made = await act([
      { token: ADMIN, op: "uc-create-version", name: RISK, source: "dbfs:/databricks/mlflow-tracking/0/r1/artifacts/model" },
      { token: ADMIN, op: "uc-create-version", name: SIGNAL, source: "dbfs:/databricks/mlflow-tracking/0/r2/artifacts/model" },
      { token: ADMIN, op: "uc-search-versions", name: RISK },
      { token: token("reader"), op: "uc-search-versions", name: RISK },
      { token: token("reader"), op: "uc-search-versions", name: SIGNAL },
      { token: token("outsider"), op: "uc-search-versions", name: SIGNAL },
    ]);
    assert.deepStrictEqual(
      made.map((r) => (r.ok ? r.value : r.message)),
      ["1", "1", 1, 0, 1, 0],
    );
  });
});
