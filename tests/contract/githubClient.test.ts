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
import { PROJECT_DIR } from "../../devenv/localMlflow";
import { makeSelfSignedCert, writeCertFile } from "../../devenv/selfSignedCert";
import { runAsync } from "../fixtures/process";
import { USER_AGENT } from "../../clients/http";
import * as https from "https";

const SCRIPT = path.join(PROJECT_DIR, "devenv", "python", "github_contract.py");
const PYTHON = path.join(PROJECT_DIR, ".venv", "bin", "python");
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
    assert.deepStrictEqual([...cases].sort(), [...GITHUB_ROUTES].sort());
  });

  it("answers every case as PyGithub expects, and what was written reads back", async () => {
    const out = (await run([], {
      url: `${gh.url}/api/v3`,
      token: token("quant-platform-bot"),
      repo: REPO,
      author: token("ana-ruiz"),
      reviewer: token("chen-wei"),
      login: "ana-ruiz",
      source: "feature/contract",
      target: "quant",
    })) as { route: string; ok: boolean; error?: string }[];
    const failed = out.filter((o) => !o.ok).map((o) => `${o.route}: ${o.error}`);
    assert.deepStrictEqual(failed, [], `PyGithub refused the test server's answers:\n${failed.join("\n")}`);
    assert.deepStrictEqual(gh.unimplemented, []);
  });

  it("refuses the product a route the contract does not list (501 CONTRACT_MISSING), while the same call from another client is served", async () => {
    const get = async (agent: string) => {
      const r = await fetchInsecure(`${gh.url}/api/v3/repos/${REPO}/branches/quant`, {
        ...{ Authorization: `Bearer ${token("quant-platform-bot")}` },
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
