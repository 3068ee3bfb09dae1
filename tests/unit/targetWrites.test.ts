import * as assert from "assert";
import { isRead, writesIn } from "../fixtures/targetWrites";

/** Every kind of write a migration or move sends a workspace, as the test workspace records it. */
const WRITES = [
  "POST /api/2.0/mlflow/experiments/create",
  "POST /api/2.0/mlflow/experiments/set-experiment-tag",
  "POST /api/2.0/mlflow/experiments/delete",
  "POST /api/2.0/mlflow/runs/create",
  "POST /api/2.0/mlflow/runs/set-tag",
  "POST /api/2.0/mlflow/runs/update",
  "POST /api/2.0/mlflow/runs/delete",
  "POST /api/2.0/mlflow/runs/log-batch",
  "POST /api/2.0/mlflow/runs/log-inputs",
  "POST /api/2.0/mlflow/registered-models/create",
  "POST /api/2.0/mlflow/registered-models/set-tag",
  "POST /api/2.0/mlflow/registered-models/alias",
  "DELETE /api/2.0/mlflow/registered-models/alias",
  "POST /api/2.0/mlflow/model-versions/create",
  "POST /api/2.0/mlflow/model-versions/set-tag",
  "PATCH /api/2.0/mlflow/model-versions/update",
  "DELETE /api/2.0/mlflow/model-versions/delete",
  "POST /api/2.0/mlflow/model-versions/transition-stage",
  "POST /api/2.0/mlflow/databricks/model-versions/transition-stage",
  "POST /api/2.0/mlflow/transition-requests/create",
  "POST /api/2.0/mlflow/artifacts/credentials-for-write",
  "POST /api/2.0/mlflow/artifacts/create-multipart-upload",
  "GET /api/2.0/mlflow/artifacts/get-presigned-upload-part-url",
  "POST /api/2.0/mlflow/artifacts/complete-multipart-upload",
  "PUT /blob/0123456789abcdef0123456789abcdef/model/weights.bin",
  "POST /api/2.0/workspace/import",
  "POST /api/2.0/workspace/mkdirs",
  "POST /api/2.0/workspace/delete",
];

const READS = [
  "GET /.well-known/databricks-config",
  "GET /api/2.0/mlflow/experiments/get-by-name",
  "POST /api/2.0/mlflow/experiments/search",
  "POST /api/2.0/mlflow/runs/search",
  "GET /api/2.0/mlflow/runs/get",
  "GET /api/2.0/mlflow/metrics/get-history",
  "GET /api/2.0/mlflow/registered-models/search",
  "GET /api/2.0/mlflow/model-versions/search",
  "GET /api/2.0/mlflow/artifacts/list",
  "POST /api/2.0/mlflow/artifacts/credentials-for-read",
  "GET /blob/0123456789abcdef0123456789abcdef/model/weights.bin",
  "GET /api/2.0/workspace/list",
  "GET /api/2.0/workspace/export",
];

describe("what counts as a write to a test workspace (tests/fixtures/targetWrites.ts)", () => {
  it("every kind of write is one: creates, tags, run updates, deletes, stage transitions, log-batch, write credentials, signed-URL PUTs, workspace import and mkdirs", () => {
    assert.deepStrictEqual(WRITES.filter(isRead), []);
  });

  it("the reads a dry run sends are reads", () => {
    assert.deepStrictEqual(writesIn(READS), []);
  });

  it("a request not listed as a read counts as a write: a new kind of write cannot slip through", () => {
    assert.deepStrictEqual(writesIn(["GET /api/2.0/mlflow/runs/get", "POST /api/2.0/mlflow/some-new/endpoint"]), [
      "POST /api/2.0/mlflow/some-new/endpoint",
    ]);
  });
});
