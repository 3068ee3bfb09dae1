/**
 * python-gitlab judges the GitLab test server on every route the product calls (devenv/databricks/sdkContract.ts
 * GITLAB_ROUTES; devenv/python/gitlab_contract.py calls each through python-gitlab's managers).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GITLAB_ROUTES } from "../../devenv/databricks/sdkContract";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { makeSelfSignedCert, writeCertFile } from "../../devenv/selfSignedCert";
import { contractTests } from "../fixtures/contract";

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

  contractTests({
    script: "gitlab_contract.py",
    client: "python-gitlab",
    routes: GITLAB_ROUTES,
    certFile: () => certFile,
    input: () => ({
      url: gl.url.replace(/\/api\/v4$/, ""),
      token,
      project: PROJECT,
      member: "ana.ruiz",
      author: gl.tokenFor("chen.wei"),
      source: "feature/contract",
      target: "quant",
    }),
    unlisted: () => ({ url: `${gl.url}/projects/${encodeURIComponent(PROJECT)}/repository/branches`, headers: { "PRIVATE-TOKEN": token } }),
  });
});
