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
});
