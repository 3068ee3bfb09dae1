/**
 * `local-env` gives every roster member a token of their own on each stand-in, in a Databricks config file with
 * a profile per member and workspace: read through `databricks://<profile>` as every command reads it, each
 * member's calls are recorded by the stand-in as that member.
 */
import * as assert from "assert";
import * as fs from "fs";
import { exportLines, rosterEmails } from "../../cli/localEnv";
import { databricksProfile, resolveEndpoint } from "../../migration/endpoint";
import { LocalEnvironments, memberProfiles, startLocalEnvironments } from "../../devenv/localEnv";
import { PROJECT_DIR } from "../../devenv/localMlflow";
import { Endpoint } from "../../clients/mlflow";

const ANA = "ana.ruiz@quantfirm.example";
const DARA = "dara.singh@quantfirm.example";
const GRACE = "grace.lee@quantfirm.example";

/** One call to the workspace's MLflow API with the endpoint's token: the status and the answer. */
async function call(ep: Endpoint, method: string, p: string, body?: Record<string, unknown>) {
  const r = await fetch(`${ep.baseUrl}/api/2.0/mlflow/${p}`, {
    method,
    headers: { Authorization: `Bearer ${ep.token}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, json: (await r.json()) as Record<string, any> };
}
async function ok(ep: Endpoint, method: string, p: string, body?: Record<string, unknown>) {
  const r = await call(ep, method, p, body);
  assert.strictEqual(r.status, 200, `${p}: ${JSON.stringify(r.json)}`);
  return r.json;
}

describe("local-env: one token per roster member on each stand-in, in a Databricks config file", function () {
  this.timeout(600000);
  let envs: LocalEnvironments;
  let members: string[];
  let file: string;
  const as = (profile: string) => resolveEndpoint(`databricks://${profile}`, "from", { DATABRICKS_CONFIG_FILE: file });

  before(async () => {
    members = await rosterEmails(PROJECT_DIR);
    envs = await startLocalEnvironments({ sizeMb: 1, members });
    file = envs.configFile!;
  });
  after(async () => {
    await envs?.stop();
  });

  it("writes a profile per member and workspace, mode 0600, and prints it as export DATABRICKS_CONFIG_FILE", () => {
    assert.ok(members.includes(GRACE) && members.includes(DARA) && members.includes(ANA), "the project's roster");
    assert.strictEqual(fs.statSync(file).mode & 0o777, 0o600);
    const sections = [...fs.readFileSync(file, "utf8").matchAll(/^\[(.+)\]$/gm)].map((m) => m[1]).sort();
    assert.deepStrictEqual(sections, ["old", "new"].flatMap((w) => members.map((m) => `${w}-${m.split("@")[0]}`)).sort());
    assert.ok(exportLines(envs).includes(`export DATABRICKS_CONFIG_FILE=${file}`), exportLines(envs).join("\n"));
    const tokens = envs.profiles.map((p) => databricksProfile(p.profile, file).token);
    assert.strictEqual(new Set(tokens).size, members.length * 2, "every member has a token of their own on each stand-in");
    assert.ok(!tokens.includes(envs.token), "nobody acts with the platform's token");
    const grace = as("new-grace.lee");
    assert.deepStrictEqual([grace.baseUrl, grace.transport], [envs.new.api.url, "databricks"]);
  });

  it("each member's calls through their profile are recorded as themselves: the version's author and each request's user_id", async () => {
    const name = `local-env-tokens-${Date.now()}`;
    const ana = as("new-ana.ruiz");
    const exp = await ok(ana, "POST", "experiments/create", { name: `/Users/${ANA}/${name}` });
    const run = (await ok(ana, "POST", "runs/create", { experiment_id: exp.experiment_id, start_time: Date.now() })).run.info;
    assert.strictEqual(run.user_id, ANA, "the run's creator");
    await ok(ana, "POST", "registered-models/create", { name });
    await ok(ana, "POST", "model-versions/create", { name, source: `${run.artifact_uri}/model`, run_id: run.run_id });
    await ok(as("new-grace.lee"), "POST", "transition-requests/create", { name, version: "1", stage: "Production", comment: "signed off" });
    await ok(as("new-dara.singh"), "POST", "transition-requests/create", { name, version: "1", stage: "Production", comment: "approved" });
    const listed = await ok(ana, "GET", `transition-requests/list?${new URLSearchParams({ name, version: "1" })}`);
    assert.deepStrictEqual(
      (listed.requests as { user_id: string; comment: string }[]).map((r) => [r.user_id, r.comment]),
      [
        [GRACE, "signed off"],
        [DARA, "approved"],
      ],
    );
    assert.strictEqual((await ok(as("new-dara.singh"), "GET", `model-versions/get?name=${name}&version=1`)).model_version.user_id, ANA);
  });

  it("a member's token belongs to one stand-in: the new workspace's token is refused by the old one", async () => {
    const crossed = { ...as("new-grace.lee"), baseUrl: envs.old.api.url };
    assert.strictEqual((await call(crossed, "GET", "experiments/search?max_results=1")).status, 401);
    assert.strictEqual((await call(as("old-grace.lee"), "GET", "experiments/search?max_results=1")).status, 200);
  });

  it("members sharing a local part get profiles named by their whole email", () => {
    let n = 0;
    const p = memberProfiles(
      [{ name: "new", host: "http://127.0.0.1:1" }],
      ["a.b@x.example", "a.b@y.example", "c@x.example"],
      () => `t${n++}`,
    );
    assert.deepStrictEqual(
      p.map((x) => [x.profile, x.token]),
      [
        ["new-a.b@x.example", "t0"],
        ["new-a.b@y.example", "t1"],
        ["new-c", "t2"],
      ],
    );
  });
});
