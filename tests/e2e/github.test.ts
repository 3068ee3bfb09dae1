/**
 * The three stacks with `git.provider: github` under the real engine and the real GitHub provider
 * (pulumi-resource-github, through `baseUrl` as GitHub Enterprise Server) against the GitHub test server, and the
 * real Databricks provider against the workspaces, on one set of local services. The project copy drops the
 * models (their lifecycle is proven by the stacks suite on GitLab), so these scenarios are about Git rights.
 * The scenarios run in order and share state: deploy with rights read back, no perpetual diff, a member added in
 * a commit, ruleset drift reported and repaired, the policy pack's bypass check, secrets, destroy.
 * Skips, saying why, only when no toolchain with the GitHub provider is found; under CI a skip fails the run.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { readConfigSources } from "../../config/load";
import { validate } from "../../config/validate";
import { AccessPlan, buildAccessPlan } from "../../plan/accessPlan";
import { githubAccess } from "../../components/github/rights";
import { findPulumiToolchain, PROJECT_DIR } from "../../devenv/pulumiToolchain";
import { readGitHubRights } from "../../clients/githubRights";
import { httpsGetJson } from "../../devenv/workspaceReadback";
import { productChecks } from "../../devenv/gitCi";
import { actOnGitHub, BRANCHES, gitTableActs } from "../../devenv/gitActs";
import { cellsThatDiffer, doctorBesideActs } from "../fixtures/gitTable";
import {
  copyProject,
  commitProject,
  initStacks,
  pulumiEnv,
  Run,
  Runner,
  Services,
  STACKS,
  startServices,
} from "../../devenv/localPlatform";

const NEW_MEMBER = {
  id: "kim.nguyen",
  name: "Kim Nguyen",
  email: "kim.nguyen@quantfirm.example",
  gitUsername: "knguyen",
  roles: ["developer"],
};

describe("e2e: the three stacks on GitHub under the real engine and the real GitHub provider", function () {
  this.timeout(600000);
  let services: Services;
  let tmp = "";
  let dir = "";
  let runner: Runner;
  let repo = "";
  const started = Date.now();
  const ok = (r: Run, what: string) => assert.strictEqual(r.code, 0, `${what} failed (exit ${r.code}):\n${r.out.slice(-8000)}`);
  const plan = (s: string): AccessPlan => buildAccessPlan(validate(readConfigSources(dir), s), s);
  const api = () => `${services.github.url}/api/v3`;
  const readBack = () =>
    readGitHubRights(
      <T>(p: string) =>
        httpsGetJson<T>(
          `${api()}${p}`,
          { Authorization: `Bearer ${services.githubToken}`, Accept: "application/vnd.github+json" },
          services.cert.cert,
        ),
      repo,
    );
  const org = () => services.github.org!;
  const noUnimplemented = () => {
    assert.deepStrictEqual(services.github.unimplemented, [], "GitHub answered 501 (a route the test server lacks)");
    for (const s of STACKS) assert.deepStrictEqual(services.workspaces[s].unimplemented, [], `workspace ${s} answered 501`);
  };
  let git: (...args: string[]) => Buffer;

  /** Every roster member's push, merge and approve rights on every branch, read back, equal the plan's. */
  async function assertRightsMatchPlan(p: AccessPlan) {
    const r = await readBack();
    const expectedTeams = Object.fromEntries(githubAccess(p).teams.map((t) => [t.name, t.members.map((m) => m.toLowerCase()).sort()]));
    assert.deepStrictEqual(r.teams, expectedTeams, "the teams and their members, and no other (the creator is no maintainer)");
    const table: string[] = [];
    for (const b of p.branchRules) {
      const branch = b.branch === "*" ? "some-feature" : b.branch;
      for (const m of p.gitMembers) {
        const expected = {
          push: b.pushMembers.includes(m.member),
          merge: b.mergeMembers.includes(m.member) || b.pushMembers.includes(m.member),
          approve: b.approveMembers.includes(m.member),
        };
        assert.deepStrictEqual(r.rights(m.gitUsername, branch), expected, `${branch}: ${m.member} (${m.roles.join(", ")})`);
        table.push(`${branch}:${m.member}:${JSON.stringify(expected)}`);
      }
    }
    // Not a loop over nothing: every member on every branch, and somebody may do each thing somewhere.
    assert.strictEqual(table.length, p.branchRules.length * p.gitMembers.length);
    for (const right of ["push", "merge", "approve"])
      assert.ok(
        table.some((t) => t.includes(`"${right}":true`)),
        `somebody may ${right}`,
      );
    return r;
  }

  before(async function () {
    const tc = findPulumiToolchain();
    if (!tc.pulumi) {
      console.log(`      SKIPPED e2e GitHub test: ${tc.reason}`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "github-e2e-"));
    const shipped = validate(readConfigSources(PROJECT_DIR));
    repo = shipped.stacks.find((s) => s.git.ownsProjectSettings)!.git.project;
    services = await startServices(tmp, [...shipped.roster.map((m) => m.gitUsername), NEW_MEMBER.gitUsername], repo);
    dir = path.join(tmp, "project");
    copyProject(PROJECT_DIR, dir, services, "github");
    const projectFile = path.join(dir, "Pulumi.yaml");
    const doc = YAML.parseDocument(fs.readFileSync(projectFile, "utf8"));
    doc.setIn(["config", "quant-platform:models", "value"], []);
    fs.writeFileSync(projectFile, doc.toString());
    const env = pulumiEnv(tmp, tc.binDir, services.certFile);
    runner = new Runner(dir, env);
    git = commitProject(dir, env, "the shipped configuration on GitHub, pointed at loopback");
    await initStacks(runner, services, validate(readConfigSources(dir)));
  });

  after(async function () {
    if (runner) console.log(`      steps: ${runner.timings.join(", ")}; total ${((Date.now() - started) / 1000).toFixed(0)}s`);
    await services?.stop();
    if (tmp && !process.env.E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("1. up of the three stacks: teams, memberships, team access and rulesets; the rights read back equal the plan", async () => {
    const runs = await Promise.all(STACKS.map((s) => runner.pulumi(["up", "--yes", "--skip-preview", "-s", s])));
    runs.forEach((r, i) => ok(r, `pulumi up -s ${STACKS[i]}`));
    noUnimplemented();
    const p = plan("quant");
    const r = await assertRightsMatchPlan(p);
    const expected = githubAccess(p);
    assert.deepStrictEqual(Object.keys(r.rulesets).sort(), expected.rulesets.map((x) => x.name).sort(), "every ruleset, and no other");
    // The provider went through the API the docs describe: the organization first, a team created per role.
    const calls = services.github.requests.map((q) => `${q.method} ${q.path.replace(/\?.*/, "")}`);
    assert.ok(calls.includes(`GET /orgs/${repo.split("/")[0]}`), "the provider read the organization");
    assert.strictEqual(calls.filter((c) => c === `POST /orgs/${repo.split("/")[0]}/teams`).length, expected.teams.length);
  });

  it("2. a second preview of every stack expects no changes (no perpetual diff)", async () => {
    const runs = await Promise.all(STACKS.map((s) => runner.pulumi(["preview", "--expect-no-changes", "--diff", "-s", s])));
    runs.forEach((r, i) => ok(r, `pulumi preview --expect-no-changes -s ${STACKS[i]}`));
    noUnimplemented();
  });

  it("2b. the Git rules acted out, not read back: every roster member, with their own GitHub token and PyGithub, pushes to each branch, opens a pull request on each of the 12 pairs, and merges their own with only their own approval, then with others'", async () => {
    for (const b of BRANCHES) services.github.commit(repo, b, `history of ${b}`);
    // The required check is the product's branch-flow guard, as .github/workflows/branch-flow.yml reports it.
    services.github.ci = productChecks(dir);
    const roster = validate(readConfigSources(dir)).roster;
    const tokens = new Map(roster.map((m) => [m.id, `ghp_${m.gitUsername}_${Math.random().toString(36).slice(2, 10)}`]));
    for (const m of roster) services.github.tokens.set(tokens.get(m.id)!, m.gitUsername);
    // GitHub: no branch but the environments' takes pushes ("other branches: no pushes"), so nobody has a branch of
    // their own to merge into quant from; developers push to quant directly.
    const { acts, cells } = gitTableActs(roster, (m) => tokens.get(m.id)!, false);
    const answers = await actOnGitHub(api(), repo, acts, services.certFile);
    assert.deepStrictEqual(cellsThatDiffer(roster, cells, answers), [], "cells that differ from the team's rules");
    assert.strictEqual(cells.filter(Boolean).length, roster.length * (8 + 12 + 3 * 3), "every member acted every cell");
    // The doctor, reading GitHub with the platform's token, tells each member what they just did or were refused.
    const cfg = path.join(tmp, "doctor.databrickscfg");
    fs.writeFileSync(
      cfg,
      STACKS.map((s) => `[${s}]\nhost = ${services.workspaces[s].url}\ntoken = ${services.workspaces[s].token}\n`).join("\n"),
      {
        mode: 0o600,
      },
    );
    const doctorSays: string[] = [];
    const actedSays: string[] = [];
    for (const m of roster) {
      const r = await runner.cli(PROJECT_DIR, ["doctor", "--member", m.id, "--json"], {
        env: { DATABRICKS_CONFIG_FILE: cfg, GITHUB_TOKEN: services.githubToken },
      });
      assert.ok(r.stdout.includes("{"), `doctor --member ${m.id} --json printed no report (exit ${r.code}):\n${r.out.slice(-3000)}`);
      const said = doctorBesideActs(m, JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))).checks, cells, answers, "github", false);
      doctorSays.push(...said.doctor);
      actedSays.push(...said.acted);
    }
    assert.deepStrictEqual(doctorSays, actedSays, "the doctor's verdicts on pushes and merges equal what each member's acts met");
    noUnimplemented();
  });

  it("3. a member added in a commit: the preview lists exactly the member's user, groups and team memberships; access-diff names them", async () => {
    const before = plan("quant");
    const file = path.join(dir, "Pulumi.yaml");
    const original = fs.readFileSync(file, "utf8");
    const doc = YAML.parseDocument(original);
    (doc.getIn(["config", "quant-platform:roster", "value"]) as YAML.YAMLSeq).add(doc.createNode(NEW_MEMBER, { flow: true }));
    fs.writeFileSync(file, doc.toString());
    git("commit", "-q", "-am", `add ${NEW_MEMBER.id}`);
    try {
      const after = plan("quant");
      const teamsWith = githubAccess(after).teams.filter((t) => t.members.includes(NEW_MEMBER.gitUsername));
      assert.ok(teamsWith.length > 0, "the new member is in a team");
      const expected = [
        ...after.users.filter((u) => !before.users.some((b) => b.key === u.key)).map((u) => `workspace-quant/${u.key}`),
        ...after.memberships.filter((m) => !before.memberships.some((b) => b.key === m.key)).map((m) => `workspace-quant/${m.key}`),
        ...teamsWith.map((t) => `git-quant/${t.key}/${NEW_MEMBER.gitUsername}`),
      ].sort();
      const r = await runner.pulumi(["preview", "--diff", "--json", "-s", "quant"]);
      ok(r, "pulumi preview --diff --json");
      const steps = (JSON.parse(r.stdout).steps ?? []) as { op: string; urn: string }[];
      const changed = steps.filter((x) => x.op !== "same").map((x) => `${x.op} ${x.urn.split("::").pop()}`);
      assert.deepStrictEqual(changed.sort(), expected.map((e) => `create ${e}`).sort(), "the resources the member adds, and nothing else");
      const d = await runner.cli(PROJECT_DIR, ["access-diff", "--base", "HEAD~1", "--head", "HEAD"]);
      assert.strictEqual(d.code, 3, `access-diff exits 3 on changes:\n${d.out}`);
      assert.match(d.stdout, /kim\.nguyen/);
    } finally {
      fs.writeFileSync(file, original);
      git("commit", "-q", "-am", `remove ${NEW_MEMBER.id} again`);
    }
  });

  it("4. ruleset drift out of band (a bypass actor added, a review count lowered) is reported (exit 3) and repaired by deploy --refresh", async () => {
    const p = plan("quant");
    const before = await readBack();
    const review = Object.values(before.rulesets).find((x) => x.name === "quant_live: reviewed pull request")!;
    const update = Object.values(before.rulesets).find((x) => x.name.startsWith("quant_stg: only"))!;
    // The developers' team may write (they push to quant) but not merge into quant_stg: a bypass there grants it.
    const developers = [...org().teams.values()].find((t) => t.name === p.groups.find((g) => g.role === "developer")!.name)!;
    // Changed out of band, in the server (as an organization owner would in the UI).
    const rs = (id: number) => [...org().repos.values()][0].rulesets.get(id)!;
    const reviewRules = rs(review.id).rules as { type: string; parameters?: Record<string, unknown> }[];
    reviewRules.find((x) => x.type === "pull_request")!.parameters!.required_approving_review_count = 0;
    (rs(update.id).bypass_actors as unknown[]).push({ actor_id: developers.id, actor_type: "Team", bypass_mode: "pull_request" });
    // A developer may now merge into quant_stg: drift that matters.
    const developer = p.gitMembers.find((m) => m.roles.length === 1 && m.roles[0] === "developer")!;
    assert.strictEqual(before.rights(developer.gitUsername, "quant_stg").merge, false, "a developer does not merge into quant_stg");
    assert.strictEqual((await readBack()).rights(developer.gitUsername, "quant_stg").merge, true, "the drift grants a merge");

    const out = path.join(tmp, "drift.md");
    const r = await runner.cli(PROJECT_DIR, ["drift", "--stack", "quant", "--out", out]);
    assert.strictEqual(r.code, 3, `npm run drift -- --stack quant exits 3 on drift:\n${r.out.slice(-6000)}`);
    const report = fs.readFileSync(out, "utf8");
    assert.match(report, /requiredApprovingReviewCount/, "the lowered review count");
    assert.match(report, /bypassActors/, "the added bypass actor");

    ok(await runner.cli(PROJECT_DIR, ["deploy", "--stack", "quant", "--refresh"]), "npm run deploy -- --stack quant --refresh");
    await assertRightsMatchPlan(p);
    ok(await runner.pulumi(["preview", "--refresh", "--expect-no-changes", "-s", "quant"]), "clean preview after repair");
    noUnimplemented();
  });

  it("5. the policy pack passes the shipped configuration and names a team that bypasses without the plan's leave", async () => {
    ok(await runner.pulumi(["preview", "--policy-pack", "policy", "-s", "quant"]), "preview --policy-pack policy");
    // A violation the configuration could not express: the consumers' team added as a bypass actor in code.
    const file = path.join(dir, "components", "github", "branchPolicy.ts");
    const code = fs.readFileSync(file, "utf8");
    fs.writeFileSync(
      file,
      code.replace(
        'bypassActors: r.bypass.map((b) => ({ actorId: teamId(b.team), actorType: "Team", bypassMode: b.mode })),',
        'bypassActors: [...r.bypass, ...(r.branch === "quant_stg" ? [{ team: "team:consumer", mode: "pull_request" as const }] : [])].map((b) => ({ actorId: teamId(b.team), actorType: "Team", bypassMode: b.mode })),',
      ),
    );
    assert.notStrictEqual(fs.readFileSync(file, "utf8"), code, "the violation was written");
    try {
      const r = await runner.pulumi(["preview", "--policy-pack", "policy", "-s", "quant"]);
      assert.notStrictEqual(r.code, 0, "the violating preview fails");
      assert.match(r.out, /bypass-only-by-plan/);
      assert.match(r.out, /lets quant-consumer bypass it on quant_stg; only quant-release_manager may/);
    } finally {
      fs.writeFileSync(file, code);
    }
  });

  it("6. secrets: the GitHub token is in no export, log or state file in plaintext", async () => {
    const state = fs
      .readdirSync(path.join(tmp, "state"), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".json"))
      .map((f) => fs.readFileSync(path.join(tmp, "state", f), "utf8"))
      .join("\n");
    assert.ok(state.length > 0, "the state was read");
    for (const text of [state, ...runner.outputs]) assert.ok(!text.includes(services.githubToken), "the GitHub token in plaintext");
    assert.match(
      fs.readFileSync(path.join(dir, "Pulumi.quant.yaml"), "utf8"),
      /githubToken:\s+secure: /,
      "the token is a secret in the stack file",
    );
  });

  it("7. destroy removes every team and ruleset the stacks created; the repository and organization stay", async () => {
    for (const s of [...STACKS].reverse())
      ok(await runner.pulumi(["destroy", "--yes", "--skip-preview", "-s", s]), `pulumi destroy -s ${s}`);
    noUnimplemented();
    assert.deepStrictEqual(
      [...org().teams.values()].map((t) => t.name),
      [],
      "no teams left",
    );
    const r = [...org().repos.values()][0];
    assert.strictEqual(r.rulesets.size, 0, "no rulesets left");
    assert.strictEqual(r.collaborators.size, 0, "no collaborators added");
    for (const s of STACKS) ok(await runner.pulumi(["stack", "rm", "--yes", "-s", s]), `stack rm ${s}`);
  });
});
