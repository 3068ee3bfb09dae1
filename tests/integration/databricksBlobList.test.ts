/**
 * Issue 34 (5): the Databricks test server's Azure blob emulation commits a Put Block List as Azure does: an empty
 * list makes an empty blob (what MLflow's own client sends for a 0-byte file), a list naming a block never staged
 * is refused 400 InvalidBlockList and commits nothing.
 */
import * as assert from "assert";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";

const TOKEN = "dapi-blob-list";

describe("the test workspace's Azure blob store commits block lists as Azure does", function () {
  let ws: DatabricksTestServer;
  before(async () => {
    ws = new DatabricksTestServer("http://127.0.0.1:9", TOKEN);
    await ws.start();
  });
  after(() => ws?.stop());

  const signedWrite = async (path: string): Promise<string> => {
    const r = await fetch(`${ws.url}/api/2.0/mlflow/artifacts/credentials-for-write`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ run_id: "0123456789abcdef0123456789abcdef", path: [path] }),
    });
    assert.strictEqual(r.status, 200);
    return ((await r.json()) as { credential_infos: { signed_uri: string }[] }).credential_infos[0].signed_uri;
  };
  const putList = (url: string, ids: string[]) =>
    fetch(`${url}&comp=blocklist`, {
      method: "PUT",
      body: `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((i) => `<Latest>${i}</Latest>`).join("")}</BlockList>`,
    });

  it("an empty block list commits an empty blob", async () => {
    const url = await signedWrite("model/empty.bin");
    assert.strictEqual((await putList(url, [])).status, 201);
    assert.deepStrictEqual(ws.blobs.get("0123456789abcdef0123456789abcdef/model/empty.bin"), Buffer.alloc(0));
  });

  it("a block list naming a block never staged is refused and commits nothing", async () => {
    const url = await signedWrite("model/bad.bin");
    const r = await putList(url, ["bm90LXN0YWdlZA=="]);
    assert.strictEqual(r.status, 400);
    assert.match(await r.text(), /InvalidBlockList/);
    assert.ok(!ws.blobs.has("0123456789abcdef0123456789abcdef/model/bad.bin"));
  });
});
