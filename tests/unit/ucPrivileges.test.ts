/**
 * Unity Catalog's documented privileges on registered models (devenv/databricks/ucPrivileges.ts), as a table: each
 * row is one person's call on `main.quant.alpha` (owned by the platform) and the outcome Databricks documents for
 * what they hold, written here from the documentation, not computed by the rules under test.
 */
import * as assert from "assert";
import { ControlPlaneState } from "../../devenv/databricks/controlPlaneState";
import { ucNeed, ucRefusal } from "../../devenv/databricks/ucPrivileges";

const MODEL = "main.quant.alpha";
const M = "/api/2.0/mlflow/unity-catalog/";

function metastore(): ControlPlaneState {
  const s = new ControlPlaneState({ token: "admin-token", adminUserName: "platform@quantfirm.example" });
  s.ucSchemas.add("main.quant");
  s.ucModels.set(MODEL, {
    catalogName: "main",
    schemaName: "quant",
    name: "alpha",
    fullName: MODEL,
    owner: "platform@quantfirm.example",
    createdAt: 0,
    createdBy: "platform@quantfirm.example",
    updatedAt: 0,
    updatedBy: "platform@quantfirm.example",
    storageLocation: "s3://root/models/alpha",
  });
  const grant = (key: string, principal: string, ...privileges: string[]) => {
    const g = s.ucGrants.get(key) ?? new Map<string, Set<string>>();
    g.set(principal, new Set(privileges));
    s.ucGrants.set(key, g);
  };
  for (const u of ["rita", "tom", "cid", "nouse", "noschema", "mia"]) s.addUser(`${u}@quantfirm.example`);
  s.addGroup("readers", { members: [s.userByName("rita@quantfirm.example")!.id] });
  // rita reads through her group; tom tags; cid may add versions; mia manages; nouse and noschema lack USE.
  for (const who of ["readers", "tom@quantfirm.example", "cid@quantfirm.example", "mia@quantfirm.example", "noschema@quantfirm.example"])
    grant("catalog/main", who, "USE_CATALOG");
  for (const who of ["readers", "tom@quantfirm.example", "cid@quantfirm.example", "mia@quantfirm.example", "nouse@quantfirm.example"])
    grant("schema/main.quant", who, "USE_SCHEMA");
  grant(`function/${MODEL}`, "readers", "EXECUTE");
  grant(`function/${MODEL}`, "tom@quantfirm.example", "EXECUTE", "APPLY_TAG");
  grant(`function/${MODEL}`, "cid@quantfirm.example", "EXECUTE", "CREATE_MODEL_VERSION");
  grant(`function/${MODEL}`, "mia@quantfirm.example", "ALL_PRIVILEGES", "MANAGE");
  grant(`function/${MODEL}`, "nouse@quantfirm.example", "EXECUTE");
  grant(`function/${MODEL}`, "noschema@quantfirm.example", "EXECUTE");
  return s;
}

const ROWS: [who: string, method: string, path: string, params: Record<string, unknown>, allowed: boolean][] = [
  ["rita", "GET", `${M}model-versions/get`, { name: MODEL, version: "1" }, true], // EXECUTE, through her group
  ["rita", "GET", `/api/2.1/unity-catalog/models/${MODEL}`, {}, true],
  ["rita", "POST", `${M}model-versions/set-tag`, { name: MODEL, version: "1", key: "k", value: "v" }, false], // no APPLY TAG
  ["tom", "POST", `${M}model-versions/set-tag`, { name: MODEL, version: "1", key: "k", value: "v" }, true],
  ["tom", "POST", `${M}model-versions/create`, { name: MODEL, source: "s3://x" }, false], // not owner, no CREATE MODEL VERSION
  ["cid", "POST", `${M}model-versions/create`, { name: MODEL, source: "s3://x" }, true],
  [
    "cid",
    "POST",
    `${M}model-versions/generate-temporary-credentials`,
    { name: MODEL, version: "2", operation: "MODEL_VERSION_OPERATION_READ_WRITE" },
    true,
  ],
  [
    "rita",
    "POST",
    `${M}model-versions/generate-temporary-credentials`,
    { name: MODEL, version: "2", operation: "MODEL_VERSION_OPERATION_READ_WRITE" },
    false,
  ],
  [
    "rita",
    "POST",
    `${M}model-versions/generate-temporary-credentials`,
    { name: MODEL, version: "2", operation: "MODEL_VERSION_OPERATION_READ" },
    true,
  ],
  ["mia", "POST", `${M}registered-models/alias`, { name: MODEL, alias: "champion", version: "1" }, false], // only the owner sets an alias
  ["mia", "DELETE", `${M}model-versions/delete`, { name: MODEL, version: "1" }, true], // MANAGE drops, like an owner
  ["mia", "POST", `${M}model-versions/set-tag`, { name: MODEL, version: "1", key: "k", value: "v" }, true], // ALL PRIVILEGES holds APPLY TAG
  ["cid", "DELETE", `${M}model-versions/delete`, { name: MODEL, version: "1" }, false],
  ["platform", "POST", `${M}registered-models/alias`, { name: MODEL, alias: "champion", version: "1" }, true], // admins: the metastore admin
  ["nouse", "GET", `${M}model-versions/get`, { name: MODEL, version: "1" }, false], // EXECUTE without USE CATALOG
  ["noschema", "GET", `${M}model-versions/get`, { name: MODEL, version: "1" }, false], // EXECUTE without USE SCHEMA
  ["rita", "POST", `${M}registered-models/create`, { name: "main.quant.beta" }, false], // no CREATE MODEL on the schema
  ["rita", "PATCH", `/api/2.1/unity-catalog/permissions/function/${MODEL}`, { changes: [] }, false], // granting: owner or MANAGE
  ["mia", "PATCH", `/api/2.1/unity-catalog/permissions/function/${MODEL}`, { changes: [] }, true],
  ["mia", "PATCH", "/api/2.1/unity-catalog/permissions/catalog/main", { changes: [] }, false], // MANAGE on the model is not on the catalog
];

describe("Unity Catalog's privileges on registered models, as Databricks documents them (the workspace test server's rules)", () => {
  for (const [who, method, path, params, allowed] of ROWS)
    it(`${who}: ${method} ${path.replace(/^.*unity-catalog\//, "")} ${allowed ? "allowed" : "refused"}`, () => {
      const s = metastore();
      const need = ucNeed(method, path, params);
      assert.ok(need, "the rules cover the call");
      const no = ucRefusal(s, `${who}@quantfirm.example`, need);
      assert.strictEqual(no === undefined, allowed, no ?? "allowed");
    });

  it("a refusal names what is missing in Unity Catalog's words", () => {
    const s = metastore();
    const at = (who: string, method: string, path: string, params: Record<string, unknown>) =>
      ucRefusal(s, `${who}@quantfirm.example`, ucNeed(method, path, params)!);
    assert.strictEqual(
      at("nouse", "GET", `${M}model-versions/get`, { name: MODEL, version: "1" }),
      "User does not have USE CATALOG on Catalog 'main'.",
    );
    assert.strictEqual(
      at("rita", "POST", `${M}model-versions/set-tag`, { name: MODEL, version: "1" }),
      `User does not have APPLY TAG on Routine or Model '${MODEL}'.`,
    );
  });
});
