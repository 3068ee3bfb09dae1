/**
 * The three stacks of this project under the real engine and the real Databricks provider, end to end,
 * on one set of local services (tests/e2e/harness.ts) and a temporary copy of the project whose stack
 * files differ from the shipped ones only in hosts, the Git URL and a low provider retry timeout.
 * The scenarios run in order and share state: deploy, no perpetual diff, a member added in a commit,
 * drift made out of band and repaired, the policy pack, secrets, an invalid configuration, destroy.
 * Skips, saying why, only when no Pulumi toolchain can be found or installed.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { readConfigSources } from "../../config/load";
import { validate } from "../../config/validate";
import { AccessPlan, buildAccessPlan } from "../../plan/accessPlan";
import { seedFixture, FixtureInfo } from "../../devenv/localMlflow";
import { findPulumiToolchain, PROJECT_DIR } from "../../devenv/pulumiToolchain";
import { TAG } from "../../migration/provenance";
import { driftItems, PreviewDocument } from "../../plan/driftReport";
import { GIT_ACCESS_LEVELS } from "../../config/schema";
import { DirectGrant, httpsGetJson, readWorkspaceAccess } from "../../devenv/workspaceReadback";
import {
  copyProject,
  mlflowCall,
  mlflowTree,
  pulumiEnv,
  Run,
  Runner,
  Services,
  STACKS,
  StackName,
  startServices,
  storePath,
  commitProject,
  initStacks,
  ADMIN,
} from "../../devenv/localPlatform";
import { resolveEndpoint } from "../../migration/endpoint";
import { memberEnv } from "../fixtures/member";
import { runAsync } from "../fixtures/process";
import { assertUnchanged, targetSnapshot } from "../fixtures/targetSnapshot";
import { readGolden } from "../fixtures/goldenFiles";
import { actOnGitLab, BRANCHES, gitTableActs } from "../../devenv/gitActs";
import { cellsThatDiffer, doctorBesideActs } from "../fixtures/gitTable";
import { Check } from "../../plan/doctor";
import { productCi } from "../../devenv/gitCi";

const MODEL = "quant-alpha-transformer";
const NEW_MEMBER = {
  id: "kim.nguyen",
  name: "Kim Nguyen",
  email: "kim.nguyen@quantfirm.example",
  gitUsername: "knguyen",
  roles: ["developer"],
};

interface Promotion {
  from: string;
  to: string;
  stage?: string;
  alias?: string;
  version?: string;
}

describe("e2e: the project's three stacks under the real engine", function () {
  this.timeout(600000);
  let services: Services;
  let tmp = "";
  let dir = "";
  let runner: Runner;
  let seeded: FixtureInfo;
  const started = Date.now();
  const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");
  const ok = (r: Run, what: string) => assert.strictEqual(r.code, 0, `${what} failed (exit ${r.code}):\n${r.out.slice(-8000)}`);
  const ws = (s: StackName) => services.workspaces[s];
  const plan = (s: StackName): AccessPlan => buildAccessPlan(validate(readConfigSources(dir), s), s);
  const promotions = (): Promotion[] =>
    (
      YAML.parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")).config["quant-platform:models"].value as {
        name: string;
        promotions?: Promotion[];
      }[]
    ).find((m) => m.name === MODEL)!.promotions ?? [];
  /** `doctor --member <id> --json` as the platform team runs it (admin profiles, the GitLab token): its checks. */
  async function doctorChecks(member: string): Promise<Check[]> {
    const cfg = path.join(tmp, "doctor.databrickscfg");
    fs.writeFileSync(cfg, STACKS.map((s) => `[${s}]\nhost = ${ws(s).url}\ntoken = ${ws(s).token}\n`).join("\n"), { mode: 0o600 });
    const r = await runner.cli(PROJECT_DIR, ["doctor", "--member", member, "--json"], {
      env: { DATABRICKS_CONFIG_FILE: cfg, GITLAB_TOKEN: services.gitlabToken },
    });
    assert.ok(r.stdout.includes("{"), `doctor --member ${member} --json printed no report (exit ${r.code}):\n${r.out.slice(-3000)}`);
    return (JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as { checks: Check[] }).checks;
  }
  const noUnimplemented = () => {
    for (const s of STACKS) assert.deepStrictEqual(ws(s).unimplemented, [], `workspace ${s} answered 501 (a route the test server lacks)`);
  };
  const secrets = () => [...STACKS.map((s) => ws(s).token), services.gitlabToken];
  /** The workspace-registry call as a person (a token of their own), through the workspace API. */
  /** A personal token of a member's, known to the workspace's MLflow API and control plane (its SCIM user). */
  const asUser = async (s: StackName, user: string) => {
    const token = `dapi-${user.split("@")[0]}-${s}`;
    ws(s).mlflowApi.addUser(token, user);
    const scim = ws(s).state.userByName(user);
    if (scim) ws(s).state.tokens.set(token, scim.id);
    return token;
  };
  const wsCall = (s: StackName, method: string, api: string, params: Record<string, unknown>, token = ws(s).token) =>
    mlflowCall(ws(s).url, method, api, params, token, services.cert.cert);
  const versions = async (s: StackName) =>
    (
      await mlflowCall<{
        model_versions?: {
          version: string;
          current_stage: string;
          source: string;
          run_id?: string;
          tags?: { key: string; value: string }[];
        }[];
      }>(ws(s).mlflow.url, "GET", "model-versions/search", { filter: `name='${MODEL}'` })
    ).model_versions ?? [];
  /** A version's files as its MLflow server stores them (read there, not through the API under test). */
  const versionTree = async (s: StackName, version: string) => {
    const base = ws(s).mlflow.url;
    const { source } = (
      await mlflowCall<{ model_version: { source: string } }>(base, "GET", "model-versions/get", { name: MODEL, version })
    ).model_version;
    const run = /^runs:\/([0-9a-f]+)\/?(.*)$/.exec(source);
    const uri = run
      ? `${(await mlflowCall<{ run: { info: { artifact_uri: string } } }>(base, "GET", "runs/get", { run_id: run[1] })).run.info.artifact_uri}/${run[2]}`
      : source;
    return mlflowTree(ws(s).mlflow, storePath(uri));
  };
  const migrated = async (s: StackName) =>
    (await versions(s)).filter((v) => (v.tags ?? []).some((t) => t.key === TAG.fingerprint && !t.value.endsWith(":retired")));

  /**
   * A consumer validates `version` of quant_stg on a historical sample (`sample`, written in the test folder) and
   * signs it off, with their own token (`env`), through the CLI; the validation must pass.
   */
  async function validateAndSignOff(version: string, env: NodeJS.ProcessEnv, sample: string, who: string): Promise<void> {
    const from = `databricks+${ws("quant_stg").url}`;
    const data = path.join(tmp, sample);
    execFileSync(path.join(PROJECT_DIR, ".venv", "bin", "python"), [
      path.join(PROJECT_DIR, "devenv", "python", "historical_sample.py"),
      ...["--out", data, "--rows", "400", "--seed", "11"],
    ]);
    const validated = await runner.cli(
      PROJECT_DIR,
      ["validate", "--model", MODEL, "--version", version, "--from", from, "--data", data, "--label", "label", "--json"],
      { env },
    );
    ok(validated, `quant-platform validate as ${who}`);
    const verdict = JSON.parse(validated.stdout) as { run_id: string; verdict: string };
    assert.strictEqual(verdict.verdict, "passed");
    ok(
      await runner.cli(
        PROJECT_DIR,
        ["sign-off", "--model", MODEL, "--version", version, "--run", verdict.run_id, "--from", from, "--to-env", "quant_lr"],
        { env },
      ),
      `quant-platform sign-off as ${who}`,
    );
  }

  before(async function () {
    const tc = findPulumiToolchain();
    if (!tc.pulumi) {
      console.log(`      SKIPPED e2e stacks test: ${tc.reason}`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stacks-e2e-"));
    const model = validate(readConfigSources(PROJECT_DIR));
    const project = model.stacks.find((s) => s.git.ownsProjectSettings)!.git.project;
    services = await startServices(tmp, [...model.roster.map((m) => m.gitUsername), NEW_MEMBER.gitUsername], project);
    dir = path.join(tmp, "project");
    copyProject(PROJECT_DIR, dir, services);
    const env = pulumiEnv(tmp, tc.binDir, services.certFile);
    runner = new Runner(dir, env);
    commitProject(dir, env, "the shipped configuration, pointed at loopback");

    // The model quant adopts: the transformer fixture logged to quant's MLflow, moved to the stage (or
    // alias) the first promotion picks through the workspace API, by the workspace admin: before the first
    // deploy the model's ACL gives no team member any level on it, and the registry refuses them.
    seeded = seedFixture(ws("quant").mlflow, MODEL, { sizeMb: 2, shards: 2, dir: tmp });
    const first = promotions().find((p) => p.from === "quant")!;
    if (first.alias) for (const s of STACKS) ws(s).mlflowApi.aliases = "forwarded";
    if (first.stage) {
      await wsCall("quant", "POST", "model-versions/transition-stage", {
        name: MODEL,
        version: seeded.version,
        stage: first.stage,
        archive_existing_versions: false,
      });
    }

    await initStacks(runner, services, model);
  });

  after(async function () {
    if (runner) console.log(`      steps: ${runner.timings.join(", ")}; total ${((Date.now() - started) / 1000).toFixed(0)}s`);
    if (process.env.E2E_KEEP) console.log(`      kept ${tmp}`);
    await services?.stop();
    if (tmp && !process.env.E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A drift item's text without what differs from run to run: loopback ports, generated ids, digests, times. */
  const scrubRunValues = (v: string) =>
    v
      .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT")
      .replace(/\b[0-9a-f]{32,64}\b/g, "HEX")
      .replace(/\b\d{4,}\b/g, "N");

  /**
   * The workspace as its documented APIs report it (SCIM, Workspace, Repos, Permissions), never the server's
   * memory, compared with the plan: the team groups and no other, their members and entitlements, the users,
   * and every direct ACL entry, user entries included. The one user entry allowed is the deploying admin's own
   * CAN_MANAGE on the models it created, which Databricks lets nobody lower (the provider leaves it).
   */
  async function assertWorkspaceMatchesPlan(s: StackName, p: AccessPlan) {
    const r = await readWorkspaceAccess(ws(s).url, ws(s).token, {
      folders: p.directories.map((d) => d.path),
      models: p.registryAcls.map((a) => a.model),
      ca: services.cert.cert,
    });
    assert.deepStrictEqual(Object.keys(r.groups).sort(), p.groups.map((g) => g.name).sort(), `${s}: the team groups and no other`);
    for (const g of p.groups) {
      assert.deepStrictEqual(r.groups[g.name].entitlements, [...g.entitlements].sort(), `${s}: entitlements of ${g.name}`);
      assert.deepStrictEqual(
        r.groups[g.name].members,
        p.memberships
          .filter((m) => m.group === g.name)
          .map((m) => m.email)
          .sort(),
        `${s}: members of ${g.name}`,
      );
    }
    for (const u of p.users)
      assert.deepStrictEqual([r.users[u.email]?.displayName, r.users[u.email]?.active], [u.displayName, true], `${s}: user ${u.email}`);
    const entries = (grants: DirectGrant[]) => grants.map((g) => `${g.kind}:${g.principal}:${g.level}`).sort();
    for (const a of p.workspaceAcls) {
      assert.strictEqual(r.objects[a.path]?.type, a.objectType === "repo" ? "REPO" : "DIRECTORY", `${s}: ${a.path}`);
      assert.deepStrictEqual(
        entries(r.objects[a.path].grants),
        a.grants.map((g) => `group:${g.group}:${g.level}`).sort(),
        `${s}: every direct entry of ${a.path}`,
      );
    }
    for (const d of p.directories.filter((x) => !p.workspaceAcls.some((a) => a.path === x.path)))
      assert.deepStrictEqual(entries(r.objects[d.path]?.grants ?? []), [], `${s}: no direct entry on ${d.path}`);
    for (const f of p.gitFolders)
      assert.deepStrictEqual([r.objects[f.path]?.url, r.objects[f.path]?.branch], [f.url, f.branch], `${s}: Git folder ${f.path}`);
    for (const a of p.registryAcls)
      assert.deepStrictEqual(
        entries(r.models[a.model] ?? []),
        [...a.grants.map((g) => `group:${g.group}:${g.level}`), `user:${ADMIN}:CAN_MANAGE`].sort(),
        `${s}: every direct entry of model ${a.model}`,
      );
  }

  it("1. deploy quant, quant_stg, quant_lr: quant adopts its model, promotions copy it byte for byte, each workspace holds exactly its plan", async () => {
    for (const s of STACKS) {
      if (s === "quant_lr") {
        // The production promotion's evidence (migration/guard.ts): an approving member's open transition
        // request to the promoted stage, recorded by Databricks as theirs; a release manager moves the
        // version there. A forged approval tag alone would be refused (tests/integration/approvalEvidence.test.ts).
        const pr = promotions().find((p) => p.to === "quant_lr")!;
        const [v] = await migrated("quant_stg");
        const requester = await asUser("quant_stg", "elena.petrova@quantfirm.example");
        const approver = await asUser("quant_stg", "farid.haddad@quantfirm.example");
        if (pr.stage) {
          await wsCall(
            "quant_stg",
            "POST",
            "transition-requests/create",
            { name: MODEL, version: v.version, stage: pr.stage, comment: "validated on 2015-2024" },
            requester,
          );
          await wsCall(
            "quant_stg",
            "POST",
            "databricks/model-versions/transition-stage",
            { name: MODEL, version: v.version, stage: pr.stage, archive_existing_versions: false, comment: "released" },
            approver,
          );
          // The approval alone is not enough: without the consumer's validation and sign-off the gate refuses,
          // naming both, and nothing reaches quant_lr.
          const refused = await runner.cli(PROJECT_DIR, ["deploy", "--stack", s]);
          assert.notStrictEqual(refused.code, 0, "pulumi up of quant_lr without the consumer's evidence");
          assert.match(refused.out, new RegExp(`no passed validation of model '${MODEL}' version ${v.version} by a signer`));
          assert.match(refused.out, /no sign-off: no transition request to Production/);
          assert.doesNotMatch(refused.out, /no transition request to Production on \S+ by an approving member/, "the approval counted");
          assert.strictEqual((await migrated("quant_lr")).length, 0, "nothing promoted into quant_lr");
          // A consumer validates the version on a historical sample with their own token, then signs off.
          const consumer = {
            DATABRICKS_TOKEN: await asUser("quant_stg", "grace.lee@quantfirm.example"),
            REQUESTS_CA_BUNDLE: services.certFile,
          };
          await validateAndSignOff(v.version, consumer, "historical.csv", "the consumer");
        }
      }
      const r = await runner.cli(PROJECT_DIR, ["deploy", "--stack", s]);
      ok(r, `npm run deploy -- --stack ${s}`);
      noUnimplemented();
    }
    // The production version records what the gate accepted: the consumer's validation run, its creator and
    // the data's SHA-256, the sign-off and the approval.
    const [prod] = await migrated("quant_lr");
    const t = Object.fromEntries((prod.tags ?? []).map((x) => [x.key, x.value]));
    assert.strictEqual(t[TAG.validatedBy], "grace.lee@quantfirm.example");
    assert.strictEqual(t[TAG.signedOffBy], "grace.lee@quantfirm.example");
    assert.strictEqual(t[TAG.approvedBy], "elena.petrova@quantfirm.example");
    assert.match(t[TAG.validationResult], /^precision 0\.\d+ >= 0\.8$/);
    assert.match(t[TAG.validationData], / sha256:[0-9a-f]{64}$/);
    // The adopted model keeps its id and its seeded version; nothing was migrated into quant.
    assert.ok((await versions("quant")).some((v) => v.version === seeded.version));
    const sourceTree = await versionTree("quant", seeded.version);
    assert.deepStrictEqual([...sourceTree.values()].map(sha).sort(), seeded.files.map((f) => f.sha256).sort(), "the fixture as logged");
    for (const s of ["quant_stg", "quant_lr"] as const) {
      const pr = promotions().find((p) => p.to === s)!;
      const got = await migrated(s);
      assert.strictEqual(got.length, 1, `${s}: one migrated version`);
      // quant_stg's version has moved on since (approved into the stage the next promotion picks).
      const later = promotions().find((p) => p.from === s)?.stage;
      if (pr.stage)
        assert.ok(
          [pr.stage, later].includes(got[0].current_stage),
          `${s}: the version carries the source's stage (${got[0].current_stage})`,
        );
      const tree = await versionTree(s, got[0].version);
      assert.deepStrictEqual(
        [...tree].map(([k, b]) => `${k} ${sha(b)}`).sort(),
        [...sourceTree].map(([k, b]) => `${k} ${sha(b)}`).sort(),
        `${s}: the promoted files are byte-identical to the source's`,
      );
    }
    for (const s of STACKS) {
      const r = await runner.cli(PROJECT_DIR, ["plan", "--stack", s, "--format", "json"]);
      ok(r, `npm run plan -- --stack ${s} --format json`);
      await assertWorkspaceMatchesPlan(s, JSON.parse(r.stdout) as AccessPlan);
    }
    // GitLab: the declared members and protected branches, no force-push anywhere.
    const proj = services.gitlab.projects[0];
    const p = plan("quant");
    const gitMembers = await httpsGetJson<{ username: string; access_level: number }[]>(
      `${services.gitlab.url}/projects/${encodeURIComponent(proj.path_with_namespace)}/members?per_page=100`,
      { "PRIVATE-TOKEN": services.gitlabToken },
      services.cert.cert,
    );
    assert.deepStrictEqual(
      gitMembers.map((m) => `${m.username}:${m.access_level}`).sort(),
      p.gitMembers.map((m) => `${m.gitUsername}:${GIT_ACCESS_LEVELS[m.access]}`).sort(),
      "GitLab members by name and level, as GitLab's API reports them",
    );
    const rules = proj.rules.map((r) => r.name).sort();
    assert.deepStrictEqual(
      rules.filter((n) => n.startsWith("consumer sign-off")),
      ["consumer sign-off (quant_live)", "consumer sign-off (quant_lr)"],
      "the consumer's sign-off on the production branches",
    );
    assert.deepStrictEqual([...proj.protectedBranches.keys()].sort(), p.branchRules.map((b) => b.branch).sort());
    assert.ok([...proj.protectedBranches.values()].every((b) => !b.allow_force_push));
    // Premium (the server's default tier): the native four-eyes rules.
    assert.ok(proj.rules.length > 0, "approval rules declared natively on Premium");
    assert.ok(proj.rules.every((r) => r.approvals_required >= 1 && r.user_ids.length > 0));
    assert.strictEqual(proj.approvals.merge_requests_author_approval, false, "the author's approval does not count");
    assert.strictEqual(proj.approvals.merge_requests_disable_committers_approval, true, "committers' approvals do not count");
    assert.strictEqual(proj.approvals.disable_overriding_approvers_per_merge_request, true, "no per-MR override");
    assert.strictEqual(proj.only_allow_merge_if_pipeline_succeeds, true);
    assert.strictEqual(proj.allow_merge_on_skipped_pipeline, false);
  });

  it("2. a second preview of every stack expects no changes (no perpetual diff)", async () => {
    const runs = await Promise.all(STACKS.map((s) => runner.pulumi(["preview", "--expect-no-changes", "--diff", "-s", s])));
    runs.forEach((r, i) => ok(r, `pulumi preview --expect-no-changes -s ${STACKS[i]}`));
    noUnimplemented();
  });

  it("3. a member added in a commit: preview --diff lists exactly what the member adds, access-diff names the member", async () => {
    const before = plan("quant");
    const file = path.join(dir, "Pulumi.yaml");
    const original = fs.readFileSync(file, "utf8");
    const doc = YAML.parseDocument(original);
    (doc.getIn(["config", "quant-platform:roster", "value"]) as YAML.YAMLSeq).add(doc.createNode(NEW_MEMBER, { flow: true }));
    fs.writeFileSync(file, doc.toString());
    const git = (...a: string[]) =>
      execFileSync("git", ["-C", dir, ...a], {
        stdio: "pipe",
        env: {
          ...runner.env,
          GIT_AUTHOR_NAME: "e2e",
          GIT_AUTHOR_EMAIL: "e2e@example",
          GIT_COMMITTER_NAME: "e2e",
          GIT_COMMITTER_EMAIL: "e2e@example",
        },
      });
    git("commit", "-q", "-am", `add ${NEW_MEMBER.id}`);
    try {
      const after = plan("quant");
      const stack = "quant";
      const expected = [
        ...after.users.filter((u) => !before.users.some((b) => b.key === u.key)).map((u) => `workspace-${stack}/${u.key}`),
        ...after.memberships.filter((m) => !before.memberships.some((b) => b.key === m.key)).map((m) => `workspace-${stack}/${m.key}`),
        `git-${stack}/members`,
        ...after.branchRules
          .filter((b) => JSON.stringify(b) !== JSON.stringify(before.branchRules.find((x) => x.key === b.key)))
          .flatMap((b) => [
            `git-${stack}/${b.key}`,
            ...(b.approveMembers.includes(NEW_MEMBER.id) ? [`git-${stack}/approvalRule:${b.branch}`] : []),
          ]),
      ].sort();
      const r = await runner.pulumi(["preview", "--diff", "--json", "-s", stack]);
      ok(r, "pulumi preview --diff --json");
      const steps = (JSON.parse(r.stdout).steps ?? []) as { op: string; urn: string }[];
      const changed = steps.filter((x) => x.op !== "same").map((x) => x.urn.split("::").pop()!);
      assert.deepStrictEqual(
        [...new Set(changed)].sort(),
        [...new Set(expected)].sort(),
        "the resources the member adds, and nothing else",
      );
      const text = await runner.pulumi(["preview", "--diff", "-s", stack]);
      ok(text, "pulumi preview --diff");
      assert.match(text.out, new RegExp(NEW_MEMBER.email.replace(/\./g, "\\.")));
      const d = await runner.cli(PROJECT_DIR, ["access-diff", "--base", "HEAD~1", "--head", "HEAD"]);
      assert.strictEqual(d.code, 3, `access-diff exits 3 on changes:\n${d.out}`);
      assert.match(d.stdout, new RegExp(NEW_MEMBER.id.replace(/\./g, "\\.")));
    } finally {
      fs.writeFileSync(file, original);
      git("commit", "-q", "-am", `remove ${NEW_MEMBER.id} again`);
    }
  });

  it("4. drift out of band (an ACL, a protected branch, a migrated version) is reported, repaired by up --refresh, then clean", async () => {
    const q = ws("quant");
    const gitRoot = plan("quant").directories.find((d) => d.purpose === "git-folder-root")!.path;
    const key = `/directories/${q.mlflowApi.workspace.nodes.get(gitRoot)!.id}`;
    const acl = q.state.acl(key);
    q.state.acls.set(
      key,
      acl.map((e, i) => (i === 0 ? { ...e, level: "CAN_READ" } : e)),
    );
    const changedGroup = acl[0].name;
    const proj = services.gitlab.projects[0];
    proj.protectedBranches.get("quant_stg")!.allow_force_push = true;
    const [lost] = await migrated("quant_lr");
    await mlflowCall(ws("quant_lr").mlflow.url, "DELETE", "model-versions/delete", { name: MODEL, version: lost.version });

    const outDir = path.join(tmp, "drift");
    fs.mkdirSync(outDir);
    const reports: Record<string, string> = {};
    for (const s of ["quant", "quant_lr"] as const) {
      const json = path.join(outDir, `${s}.json`);
      const r = await runner.cli(PROJECT_DIR, ["drift", "--stack", s, "--out", path.join(outDir, `${s}.md`), "--json-out", json]);
      assert.strictEqual(r.code, 3, `npm run drift -- --stack ${s} exits 3 on drift:\n${r.out.slice(-6000)}`);
      reports[s] = fs.readFileSync(path.join(outDir, `${s}.md`), "utf8");
      const golden = path.join(PROJECT_DIR, "tests/fixtures/drift", `${s === "quant" ? "acl-and-branch" : "deleted-version"}-real.json`);
      // Kept as golden inputs of the drift report, without the serialized dynamic providers (megabytes of code).
      const elided = JSON.stringify(
        JSON.parse(fs.readFileSync(json, "utf8")),
        (k, v) => (k === "__provider" ? "(serialized dynamic provider, elided)" : v),
        2,
      );
      readGolden(golden, `${elided}\n`);
      // The golden input must still be what the real engine says about this drift: the same items, leaf by
      // leaf, once the run's own values (ports, ids, digests) are set aside.
      const items = (file: string) =>
        driftItems(JSON.parse(fs.readFileSync(file, "utf8")) as PreviewDocument).map((i) =>
          Object.fromEntries(Object.entries(i).map(([k, v]) => [k, scrubRunValues(String(v))])),
        );
      assert.deepStrictEqual(
        items(json),
        items(golden),
        `the drift of ${s} as ${path.basename(golden)} records it (QUANT_UPDATE_GOLDEN=1 rewrites it)`,
      );
    }
    assert.match(
      reports.quant,
      new RegExp(`accessControls\\[\\d\\]\\.permissionLevel \\| "CAN_MANAGE" \\| "CAN_READ" \\| ${gitRoot}: groups [^|]*${changedGroup}`),
      "the changed ACL",
    );
    assert.match(reports.quant, /allowForcePush \| false \| true \| branch quant_stg/, "the flipped protected branch");
    assert.match(reports.quant_lr, new RegExp(`${MODEL}[^\\n]*promoted quant_stg -> quant_lr`), "the deleted migrated version");

    for (const s of ["quant", "quant_lr"] as const)
      ok(await runner.cli(PROJECT_DIR, ["deploy", "--stack", s, "--refresh"]), `npm run deploy -- --stack ${s} --refresh`);
    assert.deepStrictEqual(q.state.acl(key), acl, "the ACL is restored");
    assert.strictEqual(proj.protectedBranches.get("quant_stg")!.allow_force_push, false, "force-push is off again");
    assert.strictEqual((await migrated("quant_lr")).length, 1, "the version is migrated again");
    for (const s of ["quant", "quant_lr"] as const)
      ok(await runner.pulumi(["preview", "--refresh", "--expect-no-changes", "-s", s]), `clean preview of ${s} after repair`);
    noUnimplemented();
  });

  it("4b. Git folders switched off out of band show as drift on refresh; up --refresh switches them on again", async () => {
    const conf = ws("quant_stg").state.workspaceConf;
    conf.set("enableProjectTypeInWorkspace", "false");
    const r = await runner.pulumi(["preview", "--refresh", "--expect-no-changes", "--diff", "-s", "quant_stg"]);
    assert.notStrictEqual(r.code, 0, `the drift is a change:\n${r.out.slice(-3000)}`);
    assert.match(r.out, /enableProjectTypeInWorkspace\W+"false" => "true"/, "the drifted setting and its planned value");
    ok(await runner.cli(PROJECT_DIR, ["deploy", "--stack", "quant_stg", "--refresh"]), "npm run deploy -- --stack quant_stg --refresh");
    assert.strictEqual(conf.get("enableProjectTypeInWorkspace"), "true", "Git folders are enabled again");
  });

  it("5. the policy pack passes the shipped configuration and names each policy a violating change breaks", async () => {
    const r = await runner.cli(PROJECT_DIR, ["preview", "--stack", "quant", "--policy-pack", "policy", "--out-dir", path.join(tmp, "mr")]);
    ok(r, "npm run preview -- --stack quant --policy-pack policy");
    const index = path.join(dir, "index.ts");
    const original = fs.readFileSync(index, "utf8");
    // Violations the configuration's validation would refuse, so they are declared in code: the pack is
    // the second line of defence against a program that bypasses the plan.
    fs.writeFileSync(
      index,
      `${original}
import * as e2eDatabricks from "@pulumi/databricks";
import { GitLabProtectedBranch as E2eBranch } from "./components/gitlab/provider";
import { ModelMigration as E2eMigration } from "./components/mlflow/modelMigration";
new E2eBranch("e2e-force-push", { baseUrl: \`\${plan.git.url}/api/v4\`, project: plan.git.project, branch: "e2e-*", pushLevels: [0], pushUsernames: [], mergeLevels: [0], mergeUsernames: [], allowForcePush: true });
new e2eDatabricks.Permissions("e2e-consumer-manages", { registeredModelId: "e2e-model", accessControls: [{ groupName: "quant-consumer", permissionLevel: "CAN_MANAGE" }] }, { provider });
new E2eMigration("e2e-quant-to-lr", { fromUri: plan.migrations[0]?.fromUri ?? "databricks+${ws("quant").url}", toUri: "databricks+${ws("quant_lr").url}",
  fromEnv: "quant", toEnv: "quant_lr", model: "${MODEL}", stage: "Staging", toModel: "${MODEL}", verify: "full", readVerify: "size", concurrency: 1,
  production: true, approvers: [], flow: [{ from: "quant", to: "quant_lr" }], deleteOnDestroy: false });
`,
    );
    try {
      const bad = await runner.cli(PROJECT_DIR, [
        "preview",
        "--stack",
        "quant",
        "--policy-pack",
        "policy",
        "--out-dir",
        path.join(tmp, "mr-bad"),
      ]);
      assert.strictEqual(bad.code, 1, `npm run preview fails on a violation:\n${bad.out.slice(-4000)}`);
      // The engine's own verdict: pulumi preview with the pack exits 1 ("preview failed") and lists each
      // mandatory violation by name.
      const direct = await runner.pulumi(["preview", "-s", "quant", "--policy-pack", "policy"]);
      assert.strictEqual(direct.code, 1, `pulumi preview --policy-pack exits 1 on a mandatory violation:\n${direct.out.slice(-4000)}`);
      assert.match(direct.out, /error: preview failed/);
      for (const name of ["no-force-push", "no-can-manage-for-non-admin-groups", "migrations-along-flow"])
        for (const out of [bad.out, direct.out])
          assert.match(
            out,
            new RegExp(`\\[mandatory\\][^\\n]*\\b${name}\\b`),
            `names ${name} as a mandatory violation:\n${out.slice(-4000)}`,
          );
    } finally {
      fs.writeFileSync(index, original);
    }
  });

  it("6. secrets: stack exports and every captured log carry no token in plaintext", async () => {
    for (const s of STACKS) {
      const r = await runner.pulumi(["stack", "export", "-s", s]);
      ok(r, `stack export ${s}`);
      for (const t of secrets()) assert.ok(!r.stdout.includes(t), `the export of ${s} carries a token in plaintext`);
    }
    for (const t of secrets()) {
      runner.outputs.forEach((o, i) => assert.ok(!o.includes(t), `captured output #${i} (${runner.timings[i]}) carries a token`));
      for (const s of STACKS)
        assert.ok(!fs.readFileSync(path.join(dir, `Pulumi.${s}.yaml`), "utf8").includes(t), `Pulumi.${s}.yaml carries a token`);
    }
  });

  it("7. an invalid configuration fails preview with the validation message alone, no stack trace", async () => {
    const file = path.join(dir, "Pulumi.quant_stg.yaml");
    const original = fs.readFileSync(file, "utf8");
    const doc = YAML.parseDocument(original);
    doc.setIn(["config", "quant-platform:workspace", "retryTimeoutSeconds"], 0);
    fs.writeFileSync(file, doc.toString());
    try {
      const r = await runner.pulumi(["preview", "-s", "quant_stg"]);
      assert.notStrictEqual(r.code, 0);
      assert.match(r.out, /Invalid quant-platform configuration \(1 problem\)/);
      assert.match(
        r.out,
        /stack quant_stg: Pulumi\.quant_stg\.yaml quant-platform:workspace\.retryTimeoutSeconds = 0: expected a positive whole number/,
      );
      assert.doesNotMatch(r.out, /^\s+at .+\(.+:\d+:\d+\)$/m, `no stack trace:\n${r.out}`);
      assert.doesNotMatch(r.out, /unhandled exception|ConfigError:/i);
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it("7b. a refusal changes nothing: chen.wei approves his own version's production promotion; preview and up -s quant_lr refuse it, naming him as its author, and quant_lr's registry is exactly as it was, its Production version live", async () => {
    // Chen Wei is a developer and an approver. He trains three iterations in quant and `quant-platform select`
    // registers the best with his own token (the workspace records him as the version's creator); an approver moves it
    // to Staging; `pulumi up -s quant_stg` copies it; a consumer validates it there and signs off; then Chen raises
    // its production approval himself and a release manager moves it to Production in quant_stg.
    const CHEN = "chen.wei@quantfirm.example";
    const python = path.join(PROJECT_DIR, ".venv", "bin", "python");
    const chen = { quant: await asUser("quant", CHEN), quant_stg: await asUser("quant_stg", CHEN) };
    const experiment = `${validate(readConfigSources(dir)).organization.experimentFolder}/quant-alpha-${CHEN.split("@")[0]}`;
    // A member's CLI environment (tests/fixtures/member.ts) over the runner's: what it sets for the member (their
    // token, no config file to fall back on), not the rest of this process's environment (its CA bundles).
    const memberCli = (token: string) => ({
      ...Object.fromEntries(Object.entries(memberEnv(token)).filter(([k, x]) => process.env[k] !== x)),
      REQUESTS_CA_BUNDLE: services.certFile,
    });
    // The training runs are logged to quant's tracking server as the platform job logs them (devenv/platformJob.ts);
    // the version is registered through the workspace with Chen's own token.
    ok(
      await runner.run(python, [
        path.join(PROJECT_DIR, "devenv", "python", "transformer_fixture.py"),
        ...["--tracking-uri", ws("quant").mlflow.url, "--model", MODEL, "--experiment", experiment],
        ...["--size-mb", "0.5", "--shards", "1", "--all-iterations", "--no-register"],
      ]),
      "three training iterations logged in quant",
    );
    const selected = await runner.cli(
      PROJECT_DIR,
      ["select", "--model", MODEL, "--experiment", experiment, "--from", `databricks+${ws("quant").url}`, "--json"],
      { env: memberCli(chen.quant) },
    );
    ok(selected, "quant-platform select as chen.wei");
    const registered = (JSON.parse(selected.stdout) as { version: string }).version;
    await wsCall(
      "quant",
      "POST",
      "model-versions/transition-stage",
      { name: MODEL, version: registered, stage: "Staging", archive_existing_versions: false },
      await asUser("quant", "dara.singh@quantfirm.example"),
    );
    const stgBefore = (await migrated("quant_stg")).map((v) => v.version);
    ok(await runner.pulumi(["up", "--yes", "--skip-preview", "-s", "quant_stg"]), "pulumi up -s quant_stg");
    const v = (await migrated("quant_stg")).find((x) => !stgBefore.includes(x.version))!;
    assert.ok(v, "quant_stg holds a copy of chen's version");
    const tag = (x: { tags?: { key: string; value: string }[] }, k: string) => (x.tags ?? []).find((t) => t.key === k)?.value;
    assert.deepStrictEqual([tag(v, TAG.sourceVersion), v.current_stage], [registered, "Staging"]);
    // Create before delete: quant_stg's earlier copy, in Production there since, stays live (released, not archived).
    for (const earlier of stgBefore)
      assert.strictEqual((await versions("quant_stg")).find((x) => x.version === earlier)?.current_stage, "Production");

    const consumer = memberCli(await asUser("quant_stg", "grace.lee@quantfirm.example"));
    await validateAndSignOff(v.version, consumer, "historical-7b.csv", "grace.lee");
    await wsCall(
      "quant_stg",
      "POST",
      "transition-requests/create",
      { name: MODEL, version: v.version, stage: "Production", comment: "approved for quant_lr" },
      chen.quant_stg,
    );
    await wsCall(
      "quant_stg",
      "POST",
      "databricks/model-versions/transition-stage",
      { name: MODEL, version: v.version, stage: "Production", archive_existing_versions: false, comment: "released" },
      await asUser("quant_stg", "elena.petrova@quantfirm.example"),
    );

    // quant_lr as it stands: every experiment, run, registered model and version (stage, tags, aliases) and the
    // migrations' files, and the registry's activities on its Production version.
    const lr = resolveEndpoint(ws("quant_lr").mlflow.url, "to", {});
    const [live] = await migrated("quant_lr");
    assert.strictEqual(live?.current_stage, "Production", "quant_lr's Production version before");
    const before = await targetSnapshot(lr);
    const activities = () => JSON.stringify(ws("quant_lr").mlflowApi.registry.history(MODEL, live.version));
    const activitiesBefore = activities();

    const refusal = (r: Run, what: string) => {
      assert.notStrictEqual(r.code, 0, `${what} let chen's self-approved version through:\n${r.out.slice(-6000)}`);
      const m = new RegExp(`refusing to promote model '${MODEL}' version ${v.version} into production environment quant_lr[^\\n]*`).exec(
        r.out,
      );
      assert.ok(m, `${what} fails with the gate's refusal:\n${r.out.slice(-6000)}`);
      assert.doesNotMatch(r.out, /^\s+at .+:\d+:\d+\)?$/m, `${what}: the refusal alone, no stack trace:\n${r.out.slice(-6000)}`);
      return m[0];
    };
    const previewed = refusal(await runner.pulumi(["preview", "-s", "quant_lr"]), "pulumi preview -s quant_lr");
    const up = refusal(await runner.pulumi(["up", "--yes", "--skip-preview", "-s", "quant_lr"]), "pulumi up -s quant_lr");
    assert.strictEqual(up, previewed, "up is refused as preview showed");
    assertUnchanged(before, await targetSnapshot(lr), "quant_lr");
    assert.strictEqual(activities(), activitiesBefore, "no registry activity on quant_lr's Production version");
    const [still] = await migrated("quant_lr");
    assert.deepStrictEqual([still?.version, still?.current_stage], [live.version, "Production"], "quant_lr's Production version is live");
    noUnimplemented();
    // The author is the person who registered the version in quant, through its whole provenance: the copy in
    // quant_stg was registered by the deploying admin, and Chen's approval does not count.
    assert.match(
      up,
      /not counted: [^;]*chen\.wei@quantfirm\.example \(the version's author/,
      "the refusal names chen.wei as the version's author",
    );
  });

  it("7c. the registry's rules acted out, not read back: every roster member, with their own token, moves a version to Staging and to Production in each workspace, allowed or refused as the team's rules say", async () => {
    // The team's rules (the meeting notes, as the roles' descriptions in Pulumi.yaml word them), written here by
    // hand: developers build in quant and move nothing; approvers manage staging versions in quant and quant_stg;
    // release managers manage production versions in quant_stg and quant_lr (staging ones with them); consumers
    // validate and sign off, and move nothing; admins manage everything. Each cell: [Staging, Production].
    const RULES: Record<string, Record<StackName, [boolean, boolean]>> = {
      developer: { quant: [false, false], quant_stg: [false, false], quant_lr: [false, false] },
      approver: { quant: [true, false], quant_stg: [true, false], quant_lr: [false, false] },
      release_manager: { quant: [false, false], quant_stg: [true, true], quant_lr: [true, true] },
      consumer: { quant: [false, false], quant_stg: [false, false], quant_lr: [false, false] },
      admin: { quant: [true, true], quant_stg: [true, true], quant_lr: [true, true] },
    };
    const roster = validate(readConfigSources(dir)).roster;
    const differs: string[] = [];
    const acted: string[] = [];
    for (const s of STACKS) {
      // A version of the team's model for the acting out (the admin registers it from a version's files), so the
      // promotions' own versions are left as they are; it is deleted again at the end.
      const [some] = await versions(s);
      const made = await wsCall(s, "POST", "model-versions/create", {
        name: MODEL,
        source: some.source,
        ...(some.run_id ? { run_id: some.run_id } : {}),
      });
      const version = (made as { model_version: { version: string } }).model_version.version;
      const toNone = () =>
        wsCall(s, "POST", "model-versions/transition-stage", { name: MODEL, version, stage: "None", archive_existing_versions: false });
      for (const m of roster) {
        const token = await asUser(s, m.email);
        const expected = (["Staging", "Production"] as const).map((_, i) => m.roles.some((r) => RULES[r]?.[s][i]));
        for (const [i, stage] of (["Staging", "Production"] as const).entries()) {
          await toNone();
          const got = await wsCall(
            s,
            "POST",
            "model-versions/transition-stage",
            { name: MODEL, version, stage, archive_existing_versions: false },
            token,
          ).then(
            () => true,
            (e: Error) => {
              if (!/\b403\b.*PERMISSION_DENIED/.test(e.message)) throw e;
              return false;
            },
          );
          acted.push(`${m.id} ${got ? "can" : "cannot"} move ${MODEL} to ${stage} in ${s}`);
          if (got !== expected[i])
            differs.push(
              `${m.id} (${m.roles.join(", ")}) in ${s} to ${stage}: expected ${expected[i] ? "allowed" : "refused"}, got ${got ? "allowed" : "refused"}`,
            );
        }
      }
      await toNone();
      await wsCall(s, "DELETE", "model-versions/delete", { name: MODEL, version });
    }
    assert.deepStrictEqual(differs, [], "cells that differ from the team's rules");
    // The doctor, reading each registry's ACL with the admins' tokens, tells each member what they just did or were refused.
    const said: string[] = [];
    for (const m of roster) {
      const checks = await doctorChecks(m.id);
      for (const s of STACKS)
        for (const stage of ["Staging", "Production"]) {
          const c = checks.find((x) => x.side === s && new RegExp(`^(can|cannot) move ${MODEL} to ${stage}$`).test(x.check));
          assert.ok(c, `the doctor judges ${m.id}'s moves of ${MODEL} to ${stage} in ${s}`);
          said.push(`${m.id} ${c!.detail.startsWith("can ") ? "can" : "cannot"} move ${MODEL} to ${stage} in ${s}`);
        }
    }
    assert.deepStrictEqual([...said].sort(), [...acted].sort(), "the doctor's registry verdicts equal what each member's transitions met");
    noUnimplemented();
  });

  it("7d. the Git rules acted out, not read back: every roster member, with their own GitLab token and python-gitlab, pushes to each branch, opens a merge request on each of the 12 pairs, and merges their own with only their own approval, then with others'", async () => {
    const gl = services.gitlab;
    const proj = gl.projects[0];
    for (const b of BRANCHES) if (!proj.branches.has(b)) gl.commit(proj, b, `history of ${b}`);
    // The merge request pipeline runs the product's branch-flow guard, as ci/gitlab/branch-flow.yml does.
    gl.ci = productCi(dir);
    const roster = validate(readConfigSources(dir)).roster;
    const tokens = new Map(roster.map((m) => [m.id, gl.tokenFor(m.gitUsername)]));
    const { acts, cells } = gitTableActs(roster, (m) => tokens.get(m.id)!, true);
    const answers = await actOnGitLab(gl.url, proj.path_with_namespace, acts, services.certFile);
    assert.deepStrictEqual(cellsThatDiffer(roster, cells, answers), [], "cells that differ from the team's rules");
    // The doctor, reading GitLab with the platform's token, tells each member what they just did or were refused.
    const doctorSays: string[] = [];
    const actedSays: string[] = [];
    for (const m of roster) {
      const checks = await doctorChecks(m.id);
      const said = doctorBesideActs(m, checks, cells, answers, "gitlab", true);
      doctorSays.push(...said.doctor);
      actedSays.push(...said.acted);
    }
    assert.deepStrictEqual(doctorSays, actedSays, "the doctor's verdicts on pushes and merges equal what each member's acts met");
    assert.strictEqual(cells.filter(Boolean).length, roster.length * (8 + 12 + 4 * 3), "every member acted every cell");
  });

  it("7e. the workspace rules acted out, not read back: every roster member, with their own token and databricks-sdk, clones the team repository into a Git folder, pulls it, and creates a notebook in the team folder, in each workspace", async () => {
    // The team's rule (the meeting notes): every member can clone, create and pull Git folders in all three
    // workspaces. Written here, not computed from the plan: every cell is allowed.
    const model = validate(readConfigSources(dir));
    const root = model.organization.gitFolderRoot;
    const repoUrl = `${services.gitlab.url.replace(/\/api\/v4$/, "")}/${model.stacks[0].git.project}.git`;
    const differs: string[] = [];
    for (const s of STACKS) {
      const acts: Record<string, unknown>[] = [];
      const cells: string[] = [];
      // The members' own folders go again afterwards (by the admin), so that destroy finds the team folder as the stacks left it.
      const cleanup: Record<string, unknown>[] = [];
      for (const m of model.roster) {
        const token = await asUser(s, m.email);
        const folder = `${root}/${m.id}/quant-research`;
        acts.push(
          { token, op: "mkdirs", path: `${root}/${m.id}` },
          { token, op: "clone", url: repoUrl, path: folder },
          { token, op: "pull", path: folder, branch: s },
          { token, op: "import", path: `${root}/${m.id}/scratch`, content: `# ${m.id} in ${s}\n` },
        );
        cleanup.push({ token: ws(s).token, op: "delete", path: `${root}/${m.id}` });
        cells.push(
          `${m.id} creates a folder of their own in ${root}`,
          `${m.id} clones`,
          `${m.id} pulls ${s}`,
          `${m.id} creates a notebook`,
        );
      }
      const ran = await runAsync(
        path.join(PROJECT_DIR, ".venv", "bin", "python"),
        [path.join(PROJECT_DIR, "devenv", "python", "act_as.py")],
        {
          input: JSON.stringify({ host: ws(s).url, acts: [...acts, ...cleanup] }),
          env: { ...process.env, REQUESTS_CA_BUNDLE: services.certFile, DATABRICKS_CONFIG_FILE: path.join(tmp, "none.cfg") },
        },
      );
      assert.strictEqual(ran.status, 0, ran.stderr);
      const answers = JSON.parse(ran.stdout) as { ok: boolean; message?: string }[];
      answers.slice(0, acts.length).forEach((a, i) => {
        if (!a.ok) differs.push(`${s}: ${cells[i]}: expected allowed, got ${a.message}`);
      });
      assert.strictEqual(acts.length, model.roster.length * 4);
      assert.deepStrictEqual(
        answers.slice(acts.length).filter((a) => !a.ok),
        [],
        "the admin removed the members' folders",
      );
    }
    assert.deepStrictEqual(differs, [], "cells that differ from the team's rules");
    // The doctor says the same of every member: in each workspace, nothing stands between them and cloning,
    // creating and pulling (every check on the workspace sides passes; the Git credential is theirs to check).
    const findings: string[] = [];
    for (const m of model.roster)
      for (const c of await doctorChecks(m.id))
        if ((STACKS as readonly string[]).includes(c.side) && c.status === "fail")
          findings.push(`${m.id} ${c.side}: ${c.check}: ${c.detail}`);
    assert.deepStrictEqual(findings, [], "the doctor's findings where every member could clone, create and pull");
    noUnimplemented();
  });

  it("8. destroy archives the migrated versions, restores GitLab's defaults, removes the declared objects; stack rm leaves nothing", async () => {
    const lr = (await migrated("quant_lr"))[0];
    const stg = (await migrated("quant_stg"))[0];
    for (const s of [...STACKS].reverse())
      ok(await runner.pulumi(["destroy", "--yes", "--skip-preview", "-s", s]), `pulumi destroy -s ${s}`);
    noUnimplemented();
    for (const [s, v] of [
      ["quant_lr", lr],
      ["quant_stg", stg],
    ] as const) {
      const history = ws(s).mlflowApi.registry.history(MODEL, v.version);
      const archived =
        history.some((a) => a.to_stage === "Archived") ||
        (await versions(s)).some((x) => x.version === v.version && x.current_stage === "Archived");
      assert.ok(
        archived,
        `${s}: migrated version ${v.version} was archived before its model went (activities: ${JSON.stringify(history.map((a) => a.to_stage))})`,
      );
    }
    const proj = services.gitlab.projects[0];
    assert.strictEqual(proj.protectedBranches.size, 0, "no protected branches left");
    assert.strictEqual(proj.members.size, 0, "no members left");
    assert.strictEqual(proj.rules.length, 0, "no approval rules left");
    for (const s of STACKS) {
      const st = ws(s).state;
      const p = plan(s);
      assert.deepStrictEqual(
        [...st.groups.values()].map((g) => g.displayName).sort(),
        ["admins", "users"],
        `${s}: only the built-in groups`,
      );
      for (const d of p.directories) assert.strictEqual(ws(s).mlflowApi.workspace.nodes.get(d.path), undefined, `${s}: ${d.path} removed`);
      assert.strictEqual(st.gitFolders.size, 0, `${s}: no Git folders`);
      for (const u of p.users) assert.strictEqual(st.userByName(u.email), undefined, `${s}: user ${u.email} removed`);
    }
    // The adopted model existed before the stack: destroy releases it rather than deleting its history.
    assert.ok(
      (await versions("quant")).some((v) => v.version === seeded.version),
      "quant's adopted model is kept",
    );
    for (const s of STACKS) ok(await runner.pulumi(["stack", "rm", "--yes", "-s", s]), `stack rm ${s}`);
    const ls = await runner.pulumi(["stack", "ls", "--json"]);
    ok(ls, "stack ls");
    assert.deepStrictEqual(JSON.parse(ls.stdout), []);
    // The file backend keeps a `.bak` of each removed checkpoint, as Pulumi does; no live stack is left.
    const stacksDir = path.join(tmp, "state", ".pulumi", "stacks");
    const left = fs.existsSync(stacksDir)
      ? fs
          .readdirSync(stacksDir, { recursive: true })
          .map(String)
          .filter((f) => /\.json(\.gz)?$/.test(f))
      : [];
    assert.deepStrictEqual(left, [], "no stack checkpoints left in the backend");
  });

  it("9. GitLab Free: pulumi up declares protected branches and merge checks, no approval rules; the approval-check job enforces four eyes", async () => {
    const gl = services.gitlab;
    gl.tier = "free";
    try {
      // `stack rm` removed the stack files with the stacks: take them back as committed (hosts on loopback).
      execFileSync("git", ["-C", dir, "checkout", "HEAD", "--", ...STACKS.map((s) => `Pulumi.${s}.yaml`)], { stdio: "pipe" });
      ok(await runner.pulumi(["stack", "init", "quant"]), "stack init quant (free)");
      for (const [key, value] of [
        ["databricksToken", ws("quant").token],
        ["gitlabToken", services.gitlabToken],
      ])
        ok(await runner.pulumi(["config", "set", "--secret", `quant-platform:${key}`, value, "-s", "quant"]), `config set ${key}`);
      ok(await runner.cli(PROJECT_DIR, ["deploy", "--stack", "quant"]), "npm run deploy -- --stack quant (GitLab Free)");
      const proj = gl.projects[0];
      const p = plan("quant");
      assert.deepStrictEqual([...proj.protectedBranches.keys()].sort(), p.branchRules.map((b) => b.branch).sort());
      assert.ok([...proj.protectedBranches.values()].every((b) => !b.allow_force_push));
      assert.ok(
        [...proj.protectedBranches.values()].every((b) =>
          [...b.push_access_levels, ...b.merge_access_levels].every((e) => e.user_id === null),
        ),
        "Free protects branches by role only",
      );
      assert.strictEqual(proj.rules.length, 0, "no approval rules on Free");
      assert.strictEqual(
        proj.only_allow_merge_if_pipeline_succeeds,
        true,
        "pipelines must succeed: the approval-check job blocks the merge",
      );
      assert.strictEqual(proj.allow_merge_on_skipped_pipeline, false);
      ok(await runner.pulumi(["preview", "--expect-no-changes", "-s", "quant"]), "a second preview on Free expects no changes");

      // The four-eyes job on a merge request quant -> quant_stg: the author's own approval does not count.
      const id = (u: string) => gl.users.find((x) => x.username === u)!.id;
      const gitName = (member: string) => p.gitMembers.find((m) => m.member === member)!.gitUsername;
      const approvers = p.branchRules.find((b) => b.branch === "quant_stg")!.approveMembers;
      const author = approvers[0];
      const approverName = gitName(approvers.find((m) => m !== author)!);
      proj.mergeRequests.set(7, {
        iid: 7,
        state: "opened",
        source_branch: "quant",
        target_branch: "quant_stg",
        notes: [],
        author_id: id(gitName(author)),
        approved_by: [id(gitName(author))],
      });
      const check = () =>
        runner.cli(PROJECT_DIR, ["approval-check", "--mr", "7", "--project", String(proj.id), "--api", gl.url], {
          env: { GITLAB_TOKEN: services.gitlabToken },
        });
      assert.strictEqual((await check()).code, 1, "only the author approved: the job fails");
      proj.mergeRequests.get(7)!.approved_by!.push(id(approverName));
      const passed = await check();
      assert.strictEqual(passed.code, 0, passed.out);

      ok(await runner.pulumi(["destroy", "--yes", "--skip-preview", "-s", "quant"]), "destroy quant (free)");
      assert.strictEqual(proj.protectedBranches.size, 0);
      ok(await runner.pulumi(["stack", "rm", "--yes", "-s", "quant"]), "stack rm quant (free)");
    } finally {
      gl.tier = "premium";
    }
  });
});
