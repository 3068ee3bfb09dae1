/**
 * PyGithub judges the GitHub test server on every route the product calls (devenv/databricks/sdkContract.ts
 * GITHUB_ROUTES; devenv/python/github_contract.py calls each through PyGithub).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GITHUB_ROUTES } from "../../devenv/databricks/sdkContract";
import { GitHubTestServer } from "../../devenv/github/githubServer";
import { makeSelfSignedCert, writeCertFile } from "../../devenv/selfSignedCert";
import { contractTests } from "../fixtures/contract";

const REPO = "quant/quant-research";

describe("contract: every GitHub route the product calls answers as PyGithub expects", function () {
  this.timeout(120000);
  let gh: GitHubTestServer;
  let dir: string;
  let certFile: string;
  const token = (login: string) => `ghp_contract_${login.replace(/\W/g, "")}_${process.pid}`;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "github-contract-"));
    const cert = makeSelfSignedCert();
    certFile = writeCertFile(dir, cert);
    gh = new GitHubTestServer();
    const org = gh.organization("quant");
    for (const u of ["quant-platform-bot", "ana-ruiz", "chen-wei"]) {
      org.addUser(u);
      gh.tokens.set(token(u), u);
    }
    org.owners.add("quant-platform-bot");
    org.addRepository(REPO);
    gh.addRepo(REPO);
    // One team with write on the repository, and one ruleset: merging into quant needs an approval.
    org.teams.set(7001, {
      id: 7001,
      slug: "quant-developer",
      name: "quant-developer",
      description: "",
      privacy: "closed",
      notification_setting: "notifications_enabled",
      members: new Map([
        ["ana-ruiz", "member"],
        ["chen-wei", "member"],
      ]),
      repos: new Map([[REPO.toLowerCase(), "push"]]),
    });
    org.repos.get(REPO.toLowerCase())!.rulesets.set(7002, {
      id: 7002,
      name: "quant: merge requests",
      target: "branch",
      enforcement: "active",
      source_type: "Repository",
      source: REPO,
      conditions: { ref_name: { include: ["refs/heads/quant"], exclude: [] } },
      rules: [{ type: "pull_request", parameters: { required_approving_review_count: 1 } }],
      bypass_actors: [],
    });
    gh.commit(REPO, "quant", "history of quant");
    gh.commit(REPO, "feature/contract", "a change", "ana-ruiz");
    await gh.start(cert);
  });
  after(async () => {
    await gh?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  contractTests({
    script: "github_contract.py",
    client: "PyGithub",
    routes: GITHUB_ROUTES,
    certFile: () => certFile,
    input: () => ({
      url: `${gh.url}/api/v3`,
      token: token("quant-platform-bot"),
      repo: REPO,
      author: token("ana-ruiz"),
      reviewer: token("chen-wei"),
      login: "ana-ruiz",
      source: "feature/contract",
      target: "quant",
    }),
    unlisted: () => ({
      url: `${gh.url}/api/v3/repos/${REPO}/branches/quant`,
      headers: { Authorization: `Bearer ${token("quant-platform-bot")}` },
    }),
  });

  after(() => assert.deepStrictEqual(gh.unimplemented, [], "routes the GitHub test server does not serve"));
});
