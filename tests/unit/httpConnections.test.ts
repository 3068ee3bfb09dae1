import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import { jsonCall, streamGet } from "../../clients/http";

/** A local server that counts the connections it accepts and answers by path. */
async function server(handler: http.RequestListener): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const s = http.createServer(handler);
  s.on("connection", () => connections++);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise((r) => s.close(() => r())),
  };
}

describe("HTTP connections: JSON calls and file streams share keep-alive connections", () => {
  it("a registry call, a file download and another registry call go over one connection", async () => {
    const srv = await server((req, res) => {
      if (req.url === "/file") return void res.end("0123456789");
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ ok: true }));
    });
    try {
      await jsonCall("GET", `${srv.url}/api`, {}, undefined, "api");
      const { body } = await streamGet(`${srv.url}/file`, {}, "file");
      for await (const chunk of body) void chunk;
      await jsonCall("POST", `${srv.url}/api`, {}, { a: 1 }, "api");
      assert.strictEqual(srv.connections(), 1);
    } finally {
      await srv.close();
    }
  });

  it("redirects are followed as fetch follows them, and credentials never go on to another origin", async () => {
    const seen: { url?: string; method?: string; auth?: string }[] = [];
    const other = await server((req, res) => {
      seen.push({ url: req.url, method: req.method, auth: req.headers.authorization });
      res.end(JSON.stringify({ at: "other" }));
    });
    const first = await server((req, res) => {
      seen.push({ url: req.url, method: req.method, auth: req.headers.authorization });
      if (req.url === "/moved") res.writeHead(307, { Location: "/here" }).end();
      else if (req.url === "/away") res.writeHead(303, { Location: `${other.url}/there` }).end();
      else res.end(JSON.stringify({ at: "first" }));
    });
    try {
      const auth = { Authorization: "Bearer s3cret-token" };
      assert.deepStrictEqual((await jsonCall("POST", `${first.url}/moved`, auth, { a: 1 }, "x")).body, { at: "first" });
      assert.deepStrictEqual(seen.slice(-1)[0], { url: "/here", method: "POST", auth: "Bearer s3cret-token" });
      assert.deepStrictEqual((await jsonCall("POST", `${first.url}/away`, auth, { a: 1 }, "x")).body, { at: "other" });
      assert.deepStrictEqual(seen.slice(-1)[0], { url: "/there", method: "GET", auth: undefined });
    } finally {
      await Promise.all([first.close(), other.close()]);
    }
  });
});
