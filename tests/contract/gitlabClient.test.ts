/**
 * python-gitlab judges the GitLab test server on every route the product calls (devenv/databricks/sdkContract.ts
 * GITLAB_ROUTES; devenv/python/gitlab_contract.py calls each through python-gitlab's managers).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GITLAB_ROUTES } from "../../devenv/databricks/sdkContract";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { PROJECT_DIR } from "../../devenv/localMlflow";
import { makeSelfSignedCert, writeCertFile } from "../../devenv/selfSignedCert";
import { runAsync } from "../fixtures/process";
import { USER_AGENT } from "../../clients/http";
import * as https from "https";

const SCRIPT = path.join(PROJECT_DIR, "devenv", "python", "gitlab_contract.py");
const PYTHON = path.join(PROJECT_DIR, ".venv", "bin", "python");
const PROJECT = "quant/quant-research";

describe("contract: every GitLab route the product calls answers as python-gitlab expects", function () {
  this.timeout(120000);
  let gl: GitLabTestServer;
  let dir: string;
  let certFile: string;
  const token = `glpat-contract-${process.pid}`;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitlab-contract-"));
    const cert = makeSelfSignedCert();
    certFile = writeCertFile(dir, cert);
    gl = new GitLabTestServer();
    gl.tokens.set(token, "api");
    const p = gl.addProject(PROJECT);
    gl.addUser("ana.ruiz");
    const author = gl.addUser("chen.wei");
    p.members.set(author, 30);
    gl.commit(p, "quant", "history of quant");
    gl.commit(p, "feature/contract", "a change", author);
    await gl.start(cert);
  });
  after(async () => {
    await gl?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A GET with the loopback CA and the given headers. */
  const fetchInsecure = (url: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = https.request(url, { ca: fs.readFileSync(certFile), headers }, (res) => {
        let d = "";
        res.on("data", (c) => (d += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: d }));
      });
      r.on("error", reject);
      r.end();
    });

  const run = async (args: string[], input?: object): Promise<unknown> => {
    const r = await runAsync(PYTHON, [SCRIPT, ...args], {
      input: input && JSON.stringify(input),
      env: { ...process.env, REQUESTS_CA_BUNDLE: certFile },
    });
    assert.strictEqual(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  it("covers exactly the routes the product calls, one case each", async () => {
    const cases = (await run(["--routes"])) as string[];
    assert.deepStrictEqual([...cases].sort(), [...GITLAB_ROUTES].sort());
  });

  it("answers every case as python-gitlab expects, and what was written reads back", async () => {
    const out = (await run([], {
      url: gl.url.replace(/\/api\/v4$/, ""),
      token,
      project: PROJECT,
      member: "ana.ruiz",
      author: gl.tokenFor("chen.wei"),
      source: "feature/contract",
      target: "quant",
    })) as { route: string; ok: boolean; error?: string }[];
    const failed = out.filter((o) => !o.ok).map((o) => `${o.route}: ${o.error}`);
    assert.deepStrictEqual(failed, [], `python-gitlab refused the test server's answers:\n${failed.join("\n")}`);
  });

  it("refuses the product a route the contract does not list (501 CONTRACT_MISSING), while the same call from another client is served", async () => {
    const get = async (agent: string) => {
      const r = await fetchInsecure(`${gl.url}/projects/${encodeURIComponent(PROJECT)}/repository/branches`, {
        ...{ "PRIVATE-TOKEN": token },
        "User-Agent": agent,
      });
      return { status: r.status, body: r.body };
    };
    const product = await get(USER_AGENT);
    assert.strictEqual(product.status, 501);
    assert.match(product.body, /CONTRACT_MISSING: the product called GET .*sdkContract\.ts/);
    assert.strictEqual((await get("python-requests/2.32")).status, 200);
  });
});
