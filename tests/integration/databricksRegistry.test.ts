import * as assert from "assert";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { databricksClient } from "../../devenv/databricks/databricksClientCheck";
import { MlflowServer } from "../../devenv/localMlflow";
import { liveServers } from "../fixtures/liveServers";

const AUTHOR = "ana.ruiz@quantfirm.example";
const APPROVER = "elena.petrova@quantfirm.example";
const CONSUMER = "grace.lee@quantfirm.example";
const TOKENS: Record<string, string> = { [AUTHOR]: "dapi-ana", [APPROVER]: "dapi-elena", [CONSUMER]: "dapi-grace" };

describe("the Databricks test server as a workspace model registry (over a real MLflow server)", function () {
  this.timeout(300000);
  let b: MlflowServer;
  let dbx: DatabricksTestServer;
  const model = `registry-${Date.now()}`;

  /** One REST call as a person (their bearer token). */
  async function call(as: string, method: string, path: string, body?: Record<string, unknown>) {
    const r = await fetch(`${dbx.url}/api/2.0/mlflow/${path}`, {
      method,
      headers: { Authorization: `Bearer ${TOKENS[as]}`, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, json: (await r.json()) as Record<string, any> };
  }
  const q = (o: Record<string, string>) => new URLSearchParams(o).toString();

  before(async () => {
    ({ b } = await liveServers());
    dbx = new DatabricksTestServer(b.url, TOKENS[AUTHOR], "memory", AUTHOR);
    dbx.addUser(TOKENS[APPROVER], APPROVER);
    dbx.addUser(TOKENS[CONSUMER], CONSUMER);
    await dbx.start();
    const exp = await call(AUTHOR, "POST", "experiments/create", { name: `/Users/${AUTHOR}/${model}` });
    const run = await call(AUTHOR, "POST", "runs/create", { experiment_id: exp.json.experiment_id, start_time: Date.now() });
    dbx.putArtifact(run.json.run.info.run_id, "model/MLmodel", Buffer.from("flavors: {}\n"));
    assert.strictEqual((await call(AUTHOR, "POST", "registered-models/create", { name: model })).status, 200);
    for (let i = 0; i < 2; i++) {
      const v = await call(AUTHOR, "POST", "model-versions/create", {
        name: model,
        source: `${run.json.run.info.artifact_uri}/model`,
        run_id: run.json.run.info.run_id,
      });
      assert.strictEqual(v.status, 200, JSON.stringify(v.json));
    }
  });
  after(() => dbx?.stop());

  it("model versions carry their creator as user_id (the bearer token's owner)", async () => {
    const v = await call(CONSUMER, "GET", `model-versions/get?${q({ name: model, version: "1" })}`);
    assert.strictEqual(v.json.model_version.user_id, AUTHOR);
  });

  it("a transition request, approved by another person, moves the stage and is recorded as APPROVED_REQUEST by its user", async () => {
    const req = await call(AUTHOR, "POST", "transition-requests/create", {
      name: model,
      version: "1",
      stage: "Production",
      comment: "validated on 2019-2024",
    });
    assert.strictEqual(req.status, 200, JSON.stringify(req.json));
    assert.deepStrictEqual(
      [req.json.request.to_stage, req.json.request.user_id, req.json.request.comment],
      ["Production", AUTHOR, "validated on 2019-2024"],
    );
    assert.strictEqual(typeof req.json.request.creation_timestamp, "number");
    const dup = await call(AUTHOR, "POST", "transition-requests/create", { name: model, version: "1", stage: "Production" });
    assert.deepStrictEqual([dup.status, dup.json.error_code], [400, "RESOURCE_ALREADY_EXISTS"]);

    const open = await call(APPROVER, "GET", `transition-requests/list?${q({ name: model, version: "1" })}`);
    assert.deepStrictEqual(
      open.json.requests.map((r: any) => [r.activity_type, r.from_stage, r.to_stage, r.user_id]),
      [["REQUESTED_TRANSITION", "None", "Production", AUTHOR]],
    );
    assert.deepStrictEqual(open.json.requests[0].available_actions, ["APPROVE_TRANSITION_REQUEST", "REJECT_TRANSITION_REQUEST"]);

    const missingArchive = await call(APPROVER, "POST", "transition-requests/approve", { name: model, version: "1", stage: "Production" });
    assert.deepStrictEqual([missingArchive.status, missingArchive.json.error_code], [400, "INVALID_PARAMETER_VALUE"]);
    const ok = await call(APPROVER, "POST", "transition-requests/approve", {
      name: model,
      version: "1",
      stage: "Production",
      archive_existing_versions: true,
      comment: "signed off",
    });
    assert.strictEqual(ok.status, 200, JSON.stringify(ok.json));
    assert.deepStrictEqual(
      [
        ok.json.activity.activity_type,
        ok.json.activity.from_stage,
        ok.json.activity.to_stage,
        ok.json.activity.user_id,
        ok.json.activity.comment,
      ],
      ["APPROVED_REQUEST", "None", "Production", APPROVER, "signed off"],
    );
    assert.strictEqual(
      (await call(CONSUMER, "GET", `model-versions/get?${q({ name: model, version: "1" })}`)).json.model_version.current_stage,
      "Production",
    );
    assert.deepStrictEqual((await call(APPROVER, "GET", `transition-requests/list?${q({ name: model, version: "1" })}`)).json.requests, []);
    assert.deepStrictEqual(
      dbx.registry.history(model, "1").map((a) => [a.activity_type, a.user_id]),
      [
        ["REQUESTED_TRANSITION", AUTHOR],
        ["APPROVED_REQUEST", APPROVER],
      ],
    );
    const none = await call(APPROVER, "POST", "transition-requests/approve", {
      name: model,
      version: "1",
      stage: "Staging",
      archive_existing_versions: false,
    });
    assert.deepStrictEqual([none.status, none.json.error_code], [404, "RESOURCE_DOES_NOT_EXIST"]);
  });

  it("approving with archive_existing_versions archives the version in that stage, as a SYSTEM_TRANSITION", async () => {
    await call(AUTHOR, "POST", "transition-requests/create", { name: model, version: "2", stage: "Production" });
    const ok = await call(APPROVER, "POST", "transition-requests/approve", {
      name: model,
      version: "2",
      stage: "Production",
      archive_existing_versions: true,
    });
    assert.strictEqual(ok.status, 200);
    assert.strictEqual(
      (await call(CONSUMER, "GET", `model-versions/get?${q({ name: model, version: "1" })}`)).json.model_version.current_stage,
      "Archived",
    );
    assert.deepStrictEqual(
      dbx.registry
        .history(model, "1")
        .map((a) => [a.activity_type, a.from_stage, a.to_stage])
        .at(-1),
      ["SYSTEM_TRANSITION", "Production", "Archived"],
    );
  });

  it("rejected and cancelled requests are recorded; only the requester may cancel", async () => {
    await call(AUTHOR, "POST", "transition-requests/create", { name: model, version: "1", stage: "Staging" });
    await call(CONSUMER, "POST", "transition-requests/create", { name: model, version: "1", stage: "Staging" });
    const notMine = await call(
      CONSUMER,
      "DELETE",
      `transition-requests/delete?${q({ name: model, version: "1", stage: "Staging", creator: AUTHOR })}`,
    );
    assert.deepStrictEqual([notMine.status, notMine.json.error_code], [403, "PERMISSION_DENIED"]);
    const cancel = await call(
      AUTHOR,
      "DELETE",
      `transition-requests/delete?${q({ name: model, version: "1", stage: "Staging", creator: AUTHOR })}`,
    );
    assert.deepStrictEqual([cancel.json.activity.activity_type, cancel.json.activity.user_id], ["CANCELLED_REQUEST", AUTHOR]);
    const reject = await call(APPROVER, "POST", "transition-requests/reject", {
      name: model,
      version: "1",
      stage: "Staging",
      comment: "precision below 0.8",
    });
    assert.deepStrictEqual(
      [reject.json.activity.activity_type, reject.json.activity.user_id, reject.json.activity.to_stage],
      ["REJECTED_REQUEST", APPROVER, "Staging"],
    );
    assert.strictEqual(
      (await call(CONSUMER, "GET", `model-versions/get?${q({ name: model, version: "1" })}`)).json.model_version.current_stage,
      "Archived",
    );
  });

  it("comments: created, edited and deleted by their author only", async () => {
    const c = await call(CONSUMER, "POST", "comments/create", { name: model, version: "2", comment: "backtest ok" });
    assert.deepStrictEqual(
      [c.json.comment.user_id, c.json.comment.comment, c.json.comment.available_actions],
      [CONSUMER, "backtest ok", ["EDIT_COMMENT", "DELETE_COMMENT"]],
    );
    const foreign = await call(AUTHOR, "PATCH", "comments/update", { id: c.json.comment.id, comment: "forged" });
    assert.deepStrictEqual([foreign.status, foreign.json.error_code], [403, "PERMISSION_DENIED"]);
    const edited = await call(CONSUMER, "PATCH", "comments/update", { id: c.json.comment.id, comment: "backtest ok (2019-2024)" });
    assert.strictEqual(edited.json.comment.comment, "backtest ok (2019-2024)");
    assert.strictEqual((await call(CONSUMER, "DELETE", `comments/delete?${q({ id: c.json.comment.id })}`)).status, 200);
    assert.strictEqual((await call(CONSUMER, "DELETE", `comments/delete?${q({ id: c.json.comment.id })}`)).status, 404);
  });

  it("databricks/registered-models/get answers registered_model_databricks with an id and no aliases", async () => {
    const r = await call(CONSUMER, "GET", `databricks/registered-models/get?${q({ name: model })}`);
    assert.strictEqual(r.json.registered_model_databricks.name, model);
    assert.match(r.json.registered_model_databricks.id, /^[0-9a-f]{32}$/);
    assert.ok(!("aliases" in r.json.registered_model_databricks));
  });

  it("the workspace registry has no aliases: the alias endpoints answer 404 ENDPOINT_NOT_FOUND", async () => {
    for (const [method, path, body] of [
      ["GET", `registered-models/alias?${q({ name: model, alias: "champion" })}`],
      ["POST", "registered-models/alias", { name: model, alias: "champion", version: "1" }],
      ["DELETE", "registered-models/alias", { name: model, alias: "champion" }],
    ] as const) {
      const r = await call(AUTHOR, method, path, body as Record<string, unknown> | undefined);
      assert.deepStrictEqual([r.status, r.json.error_code], [404, "ENDPOINT_NOT_FOUND"], `${method} ${path}`);
    }
    assert.ok(!("aliases" in (await call(AUTHOR, "GET", `registered-models/get?${q({ name: model })}`)).json.registered_model));
  });

  it("MLflowClient().get_model_version_by_alias against the test server fails as on Databricks", async () => {
    const out = (await databricksClient(dbx, TOKENS[CONSUMER], ["--model", model, "--alias", "champion"])) as { error?: string };
    assert.match(out.error ?? "", /Method 'get_model_version_by_alias' is unsupported for models in the Workspace Model Registry/);
  });

  it("a route Databricks does not have is answered 501 naming method and path, never forwarded", async () => {
    const r = await fetch(`${dbx.url}/api/2.0/mlflow-artifacts/artifacts?path=x`, {
      headers: { Authorization: `Bearer ${TOKENS[AUTHOR]}` },
    });
    const body = (await r.json()) as { message: string };
    assert.strictEqual(r.status, 501);
    assert.match(body.message, /GET \/api\/2\.0\/mlflow-artifacts\/artifacts\?path=x/);
    assert.strictEqual((await call(AUTHOR, "POST", "users/create", { username: "x", password: "y" })).status, 501);
  });
});
