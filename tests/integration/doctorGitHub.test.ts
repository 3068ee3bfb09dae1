/**
 * `doctor` on a GitHub repository: the GitHub test server (organization, teams, collaborators, rulesets) seeded with
 * what the GitHub branch policy declares for the plan, read by the doctor through the REST API. Each GitHub check is
 * broken once, out of band: a suspended account, a member dropped from their team, a bypass actor that lets a
 * developer push where the plan says no. The workspace side is not served here (tests/integration/doctor.test.ts).
 */
import * as assert from "assert";
import { runDoctor } from "../../cli/doctor";
import { githubAccess } from "../../components/github/rights";
import { ConfigSources } from "../../config/load";
import { validate } from "../../config/validate";
import { GitHubTestServer } from "../../devenv/github/githubServer";
import { GitHubOrganization } from "../../devenv/github/githubOrgApi";
import { AccessPlan, buildAccessPlan } from "../../plan/accessPlan";
import { Check } from "../../plan/doctor";
import { shipped, stackVal } from "../fixtures/config";

const TOKEN = "ghp_doctor_read";
const REPO = "quantfirm/quant-research";

function onGitHub(s: ConfigSources = shipped()): ConfigSources {
  for (const stack of Object.keys(s.stacks)) {
    stackVal(s, stack, "git").provider = "github";
    stackVal(s, stack, "git").url = "https://github.com";
    stackVal(s, stack, "git").project = REPO;
  }
  return s;
}

/** The teams, their repository access and the rulesets the GitHub branch policy declares, as the API stores them. */
function seed(org: GitHubOrganization, plan: AccessPlan): void {
  const access = githubAccess(plan);
  const ids = new Map<string, number>();
  let next = 9000;
  for (const t of access.teams) {
    const id = next++;
    ids.set(t.key, id);
    org.teams.set(id, {
      id,
      slug: t.name.toLowerCase().replace(/[^a-z0-9_-]+/g, "-"),
      name: t.name,
      description: t.description,
      privacy: "closed",
      notification_setting: "notifications_enabled",
      members: new Map(t.members.map((m) => [m.toLowerCase(), "member" as const])),
      repos: new Map([[REPO.toLowerCase(), t.permission]]),
    });
  }
  const repo = org.repos.get(REPO.toLowerCase())!;
  for (const r of access.rulesets) {
    const id = next++;
    const rules: { type: string; parameters?: Record<string, unknown> }[] = [];
    if (r.rules.creation) rules.push({ type: "creation" });
    if (r.rules.update) rules.push({ type: "update" });
    rules.push({ type: "deletion" }, { type: "non_fast_forward" });
    const pr = r.rules.pullRequest;
    if (pr)
      rules.push({
        type: "pull_request",
        parameters: {
          required_approving_review_count: pr.requiredApprovingReviewCount,
          required_reviewers: pr.requiredReviewers.map((x) => ({
            minimum_approvals: x.minimumApprovals,
            file_patterns: ["*"],
            reviewer: { id: ids.get(x.team), type: "Team" },
          })),
        },
      });
    if (r.rules.requiredStatusChecks)
      rules.push({ type: "required_status_checks", parameters: { required_status_checks: [{ context: "branch-flow" }] } });
    repo.rulesets.set(id, {
      id,
      name: r.name,
      target: "branch",
      enforcement: "active",
      source_type: "Repository",
      source: REPO,
      conditions: { ref_name: { include: r.includes, exclude: r.excludes } },
      rules,
      bypass_actors: r.bypass.map((b) => ({ actor_id: ids.get(b.team), actor_type: "Team", bypass_mode: b.mode })),
    });
  }
}

describe("doctor on GitHub: the account, the repository permission and push rights per branch, read through the API", function () {
  this.timeout(60000);
  const model = validate(onGitHub());
  const plan = buildAccessPlan(model, "quant");
  const ana = model.roster.find((m) => m.id === "ana.ruiz")!; // developer: pushes to quant only
  let github: GitHubTestServer;
  let org: GitHubOrganization;
  const githubSide = (checks: Check[]) => checks.filter((c) => c.side === `github ${REPO}`);
  const doctor = async () => githubSide(await runDoctor(model, ana.id, { gitApi: `${github.url}/api/v3` }, { GITHUB_TOKEN: TOKEN }));
  const failed = (checks: Check[]) => checks.filter((c) => c.status !== "pass");

  beforeEach(async () => {
    github = new GitHubTestServer();
    github.tokens.set(TOKEN, "platform-reader");
    org = github.organization(REPO.split("/")[0]);
    for (const m of model.roster) org.addUser(m.gitUsername);
    org.addRepository(REPO);
    seed(org, plan);
    await github.start();
  });
  afterEach(() => github.stop());

  it("all in place: account, permission, and push and merge rights on every branch pass", async () => {
    const checks = await doctor();
    assert.deepStrictEqual(failed(checks), []);
    assert.deepStrictEqual(
      checks.map((c) => c.check),
      [
        "account exists",
        "account active",
        "can clone and pull",
        "repository permission push",
        ...plan.branchRules
          .filter((b) => b.branch !== "*")
          .map((b) => `${b.pushMembers.includes(ana.id) ? "can" : "cannot"} push to ${b.branch}`),
        ...plan.branchRules
          .filter((b) => b.branch !== "*" && b.merge.length)
          .map((b) => `${b.mergeMembers.includes(ana.id) ? "can" : "cannot"} merge into ${b.branch}`),
      ],
    );
    assert.ok(checks.some((c) => c.check === "can push to quant") && checks.some((c) => c.check === "cannot push to quant_stg"));
    assert.deepStrictEqual(github.unimplemented, []);
  });

  it("a suspended account is named, with who unsuspends it", async () => {
    org.users.get(ana.gitUsername.toLowerCase())!.suspended = true;
    const [f, ...rest] = failed(await doctor());
    assert.deepStrictEqual(rest, []);
    assert.strictEqual(f.check, "account active");
    assert.match(f.detail, /is suspended/);
    assert.match(f.fix!, /site administrator unsuspends aruiz/);
  });

  it("dropped from her team out of band: no access to clone or pull, nor to push to or merge into quant; the fix is the owning stack", async () => {
    for (const t of org.teams.values()) t.members.delete(ana.gitUsername.toLowerCase());
    const f = failed(await doctor());
    assert.deepStrictEqual(
      f.map((c) => c.check),
      ["can clone and pull", "can push to quant", "can merge into quant"],
    );
    assert.match(f[0].fix!, /pulumi up --refresh -s quant restores aruiz's team memberships/);
  });

  it("a developers' bypass added to quant_stg's rulesets lets her push there and merge there alone: two findings", async () => {
    const repo = org.repos.get(REPO.toLowerCase())!;
    const dev = [...org.teams.values()].find((t) => t.name === plan.groups.find((g) => g.role === "developer")!.name)!;
    for (const r of repo.rulesets.values())
      if ((r.name as string).startsWith("quant_stg"))
        (r.bypass_actors as unknown[]).push({ actor_id: dev.id, actor_type: "Team", bypass_mode: "always" });
    const f = failed(await doctor());
    assert.deepStrictEqual(
      f.map((c) => [c.check, c.detail]),
      [
        ["cannot push to quant_stg", "can push to quant_stg; the plan says no push"],
        ["cannot merge into quant_stg", "can merge a pull request into quant_stg; the plan says no merge"],
      ],
    );
    assert.match(f[0].fix!, /restores the rulesets of quant_stg/);
  });

  it("without GITHUB_TOKEN the GitHub side is unreadable, and says which token", async () => {
    const checks = githubSide(await runDoctor(model, ana.id, { gitApi: `${github.url}/api/v3` }, {}));
    assert.deepStrictEqual(
      checks.map((c) => [c.status, c.detail.split(" (")[0]]),
      [["unreadable", "GITHUB_TOKEN is not set"]],
    );
  });
});
