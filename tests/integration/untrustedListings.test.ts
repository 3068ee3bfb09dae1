import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import { migrate } from "../../migration/modelVersion";
import { migrateExperiment } from "../../migration/experiments";
import { walkWorkspace } from "../../migration/notebooks";
import { resolveEndpoint } from "../../migration/endpoint";
import { migrateCli } from "../../cli/migrate";
import { WorkspaceClient, WorkspaceObject } from "../../clients/databricksWorkspace";
import { liveServers } from "../fixtures/liveServers";
import { FixtureInfo, MlflowServer, seedFixture } from "../../devenv/localMlflow";
import { rejectsWithoutWrites } from "../fixtures/targetSnapshot";

const RETRY = { attempts: 2, backoffMs: 20 };
const oss = (url: string, side: "from" | "to" = "to") => resolveEndpoint(url, side, {});
const LIST = "/api/2.0/mlflow-artifacts/artifacts";

/**
 * A source server that lies in its listings: every request goes to a real MLflow server, but each artifact
 * listing gets one more entry, `inject`.
 */
async function lyingSource(
  upstream: string,
  inject: { path: string; is_dir: boolean; file_size?: number },
): Promise<{ url: string; puts: () => number; stop: () => Promise<void> }> {
  let puts = 0;
  const server = http.createServer((req, res) => {
    if (req.method === "PUT") puts++;
    const u = new URL(req.url!, upstream);
    const up = http.request(u, { method: req.method, headers: { ...req.headers, host: u.host } }, (ures) => {
      if (req.method !== "GET" || u.pathname !== LIST) {
        res.writeHead(ures.statusCode!, ures.headers);
        ures.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ures.on("data", (c) => chunks.push(c));
      ures.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { files?: unknown[] };
        const text = JSON.stringify({ ...body, files: [...(body.files ?? []), inject] });
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
        res.end(text);
      });
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    puts: () => puts,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

describe("untrusted listings and credentials: nothing lands outside the target root, no error repeats a secret", function () {
  this.timeout(600000);
  let a: MlflowServer;
  let b: MlflowServer;
  let fixture: FixtureInfo;
  const experiment = `untrusted-exp-${Date.now()}`;

  before(async () => {
    ({ a, b } = await liveServers());
    fixture = seedFixture(a, `untrusted-${Date.now()}`, { sizeMb: 1, shards: 1, experiment });
  });

  for (const inject of [
    { path: "../escape", is_dir: false, file_size: 5 },
    { path: "/etc/cron.d/x", is_dir: false, file_size: 5 },
    { path: "..", is_dir: true },
  ]) {
    it(`a source listing '${inject.path}' is refused, naming it, before anything is copied (model version)`, async () => {
      const src = await lyingSource(a.url, inject);
      const toModel = `${fixture.model}-escape-${inject.is_dir ? "dir" : inject.path.length}`;
      try {
        await rejectsWithoutWrites(
          oss(b.url),
          () =>
            migrate({
              from: oss(src.url, "from"),
              to: oss(b.url),
              model: fixture.model,
              select: { version: fixture.version },
              toModel,
              retry: RETRY,
            }),
          (e: Error) => {
            assert.match(
              e.message,
              new RegExp(
                `refusing to copy the artifacts .*: its source listed an unsafe path: '${inject.path.replace(/\./g, "\\.")}' \\(it (holds a '\\.\\.' segment|is absolute)\\); nothing was copied`,
              ),
            );
            return true;
          },
        );
        assert.strictEqual(src.puts(), 0);
      } finally {
        await src.stop();
      }
    });
  }

  it("an experiment whose source lists '../escape' is refused before any run is copied, and no target experiment is created", async () => {
    const src = await lyingSource(a.url, { path: "../escape", is_dir: false, file_size: 5 });
    try {
      await rejectsWithoutWrites(
        oss(b.url),
        () =>
          migrateExperiment({ from: oss(src.url, "from"), to: oss(b.url), experiment, toExperiment: `${experiment}-escape`, retry: RETRY }),
        /its source listed an unsafe path: '\.\.\/escape' \(it holds a '\.\.' segment\); nothing was copied/,
      );
    } finally {
      await src.stop();
    }
  });

  it("a workspace listing with a path outside the folder listed, or with '..', is refused before any notebook moves", async () => {
    const tree: Record<string, WorkspaceObject[]> = {
      "/Shared/quant": [
        { path: "/Shared/quant/ok", object_type: "NOTEBOOK", language: "PYTHON" },
        { path: "/Shared/quant/../../Users/bob/evil", object_type: "NOTEBOOK", language: "PYTHON" },
        { path: "/Users/bob/other", object_type: "FILE" },
      ],
    };
    const ws = {
      endpoint: { uri: "databricks+http://lying-workspace" },
      getStatus: async (p: string) => (p === "/Shared/quant" ? { path: p, object_type: "DIRECTORY" } : undefined),
      list: async (p: string) => tree[p] ?? [],
    } as unknown as WorkspaceClient;
    await assert.rejects(walkWorkspace(ws, ["/Shared/quant"]), (e: Error) => {
      assert.match(
        e.message,
        /refusing to copy the workspace folder '\/Shared\/quant' of databricks\+http:\/\/lying-workspace: its source listed 2 unsafe paths/,
      );
      assert.match(e.message, /'\/Shared\/quant\/\.\.\/\.\.\/Users\/bob\/evil' \(it holds a '\.\.' segment\)/);
      assert.match(e.message, /'\/Users\/bob\/other' \(it would land outside '\/Shared\/quant'\)/);
      return true;
    });
  });

  it("--from http://user:password@host is refused without repeating the password (CLI exit 2, and the engine's resolveEndpoint)", async () => {
    for (const uri of [
      `http://alice:s3cr3t-pw@127.0.0.1:${a.port}`,
      "databricks+http://alice:s3cr3t-pw@127.0.0.1:1",
      "http://alice:s3cr3t@pw@host",
      "http://host/?token=s3cr3t-pw",
    ]) {
      assert.throws(
        () => resolveEndpoint(uri, "from", {}),
        (e: Error) => {
          assert.ok(!/s3cr3t|alice/.test(e.message), e.message);
          return true;
        },
      );
      const err: string[] = [];
      await assert.rejects(
        migrateCli(
          ["--from", uri, "--to", b.url, "--model", fixture.model, "--version", "1"],
          {},
          () => undefined,
          (s) => err.push(s),
          false,
        ),
        (e: Error) => {
          assert.strictEqual(e.constructor.name, "UsageError");
          assert.ok(!/s3cr3t/.test(e.message), e.message);
          assert.match(e.message, /carries credentials in the URI|query string/);
          return true;
        },
      );
    }
  });
});
