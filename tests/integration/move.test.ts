/**
 * `move`: a whole environment in one command, against real MLflow servers behind the Databricks API test
 * server (devenv/localEnv.ts, seeded with several experiments and models besides the team's fixture). The plan
 * written and validated; a dry run that writes nothing; a move killed with SIGKILL and run again, verified and
 * with one target version per source version; and the same move as two shards run at once as two processes,
 * giving the same target.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalEnvironment, LocalEnvironments, startEnvironment, startLocalEnvironments } from "../../devenv/localEnv";
import { PROJECT_DIR } from "../../devenv/localMlflow";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { takeInventory } from "../../migration/inventory";
import { MoveReport } from "../../migration/move";
import { isMigrationsExperiment, migrationsExperimentFor, RUN_TAG, TAG } from "../../migration/provenance";
import { checkTarget } from "../../migration/modelVersion";
import { Ran, runAsync } from "../fixtures/process";
import { writesIn } from "../fixtures/targetWrites";

const CLI = [process.execPath, "bin/quant-platform.js", "move"];

describe("move: a whole environment in one command, planned, resumable, verified, in shards", function () {
  this.timeout(600000);
  let envs: LocalEnvironments;
  let extra: LocalEnvironment | undefined;
  let dir: string;
  const env = () => ({ ...process.env, DATABRICKS_TOKEN: envs.token });
  const move = (args: string[]): Promise<Ran> => runAsync(CLI[0], [...CLI.slice(1), ...args], { cwd: PROJECT_DIR, env: env() });
  const json = (r: Ran) => JSON.parse(r.stdout) as MoveReport;

  /** Source (model, version) -> the target versions migrated from it, as their provenance tags record. */
  async function targetVersions(target: LocalEnvironment): Promise<Map<string, string[]>> {
    const c = mlflowClient(resolveEndpoint(target.uri, "to", env()));
    const out = new Map<string, string[]>();
    for (const m of await c.searchRegisteredModels())
      for (const v of await c.listVersions(m.name)) {
        const t = Object.fromEntries((v.tags ?? []).map((x) => [x.key, x.value]));
        if (t[TAG.sourceModel] === undefined) continue;
        const k = `${t[TAG.sourceModel]}#${t[TAG.sourceVersion]}`;
        out.set(k, [...(out.get(k) ?? []), `${m.name}#${v.version}#${v.current_stage}`]);
      }
    return out;
  }

  /** What a target holds, without IDs: models with their versions' stages, experiments with run counts, notebooks. */
  async function shape(target: LocalEnvironment) {
    const inv = await takeInventory({ endpoint: resolveEndpoint(target.uri, "to", env()), paths: ["/Shared", "/Users"] });
    return {
      models: inv.models
        .map((m) => [m.name, m.versions.map((v) => `${v.tags[TAG.sourceVersion]}:${v.stage}:${v.files}:${v.bytes}`).sort()])
        .sort(),
      experiments: inv.experiments.filter((e) => !isMigrationsExperiment(e.name)).map((e) => [e.name, e.runs.length, e.artifactBytes]),
      notebooks: inv.workspace!.objects.map((o) => `${o.path}:${o.size}`),
    };
  }

  before(async () => {
    // Runs and versions at scale; the team's jobs and endpoints are environmentMove.test.ts's.
    envs = await startLocalEnvironments({ sizeMb: 1, rehearsal: { experiments: 4, runs: 3, models: 2, versions: 3 }, teamWork: false });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "move-"));
  });
  after(async () => {
    await Promise.all([extra?.stop(), envs?.stop()]);
    await extra?.mlflow.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("--plan-out writes an editable plan of everything; an entry edited wrong is refused, naming it (exit 2)", async () => {
    const plan = path.join(dir, "plan.yaml");
    const r = await move(["--from", envs.old.uri, "--to", envs.new.uri, "--plan-out", plan]);
    assert.strictEqual(r.status, 0, r.stderr);
    const text = fs.readFileSync(plan, "utf8");
    for (const e of envs.rehearsal!.experiments) assert.ok(text.includes(JSON.stringify(e)), e);
    assert.match(text, /- name: "rehearsal-model-2"[^\n]*\n {4}versions: all/);
    assert.match(text, /^paths:\n {2}- "\/Shared"/m);
    const bad = path.join(dir, "bad.yaml");
    fs.writeFileSync(bad, text.replace(/(- name: "rehearsal-model-2"[^\n]*\n {4}versions: )all/, "$1lates"));
    const b = await move(["--from", envs.old.uri, "--to", envs.new.uri, "--plan", bad]);
    assert.strictEqual(b.status, 2, b.stderr);
    assert.match(b.stderr, /models\[2\]\.versions: expected all, latest-per-stage or a list of version numbers, got "lates"/);
    assert.ok(!b.stderr.includes(envs.token) && !r.stdout.includes(envs.token));
  });

  it("--dry-run prints counts and bytes of every item and writes nothing", async () => {
    const before = envs.new.api.calls.length;
    const r = await move(["--from", envs.old.uri, "--to", envs.new.uri, "--dry-run"]);
    assert.strictEqual(r.status, 0, r.stderr);
    // 2 folders, 4 + 2 experiments (rehearsal, its models' runs, the team's), 1 + 2 x 2 versions (one per model archived).
    assert.match(r.stdout, /dry run: would move 13 items, \d+ files, [\d.]+ MB .*; nothing copied/);
    assert.match(r.stdout, /2 workspace folders \(6 notebooks and files\), 6 experiments, 5 model versions/);
    assert.ok(!/rehearsal-model-\d' version 1\b/.test(r.stdout), "the archived versions are not moved by default");
    // Every request the target received (today none: the dry run plans from the source alone) is one of the reads
    // listed in targetWrites.ts: no create, tag, run update, delete, stage transition, log-batch, write credential,
    // signed-URL upload, workspace import or mkdirs, nor any request not known to be a read.
    assert.deepStrictEqual(writesIn(envs.new.api.calls.slice(before)), [], "the dry run sent the target nothing but reads");
  });

  it("a move killed with SIGKILL mid-way resumes on a re-run: verify-move identical, one target version per source version", async () => {
    const args = ["--from", envs.old.uri, "--to", envs.new.uri, "--json", "--concurrency", "4", "--claim-timeout", "5"];
    const child = spawn(CLI[0], [...CLI.slice(1), ...args], { cwd: PROJECT_DIR, env: env(), stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    // Killed once model versions are being registered: notebooks and experiments moved, models part way.
    const deadline = Date.now() + 240000;
    while (!envs.new.api.calls.some((c) => c.includes("model-versions/create")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    child.kill("SIGKILL");
    assert.strictEqual(await exited, null, "the move was killed before it finished");
    const half = await targetVersions(envs.new);
    assert.ok(half.size < 5, `killed part way: ${half.size} of 5 versions had started`);

    const r = await move(args);
    assert.strictEqual(r.status, 0, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    const report = json(r);
    assert.strictEqual(report.totals.items, 13);
    assert.strictEqual(report.totals.failed, 0);
    assert.ok(report.totals.bytes > 1048576 && report.totals.ms > 0);
    assert.ok(
      report.items.some((i) => i.outcome === "adopted"),
      "what the killed run finished is adopted",
    );
    assert.deepStrictEqual(report.verification!.differences, []);
    assert.match(r.stderr, /move: 13\/13 items {2}[\d.]+ MB\/[\d.]+ MB {2}[\d.]+ MB\/s {2}ETA 0s/);
    const versions = await targetVersions(envs.new);
    assert.strictEqual(versions.size, 5);
    for (const [k, vs] of versions) assert.strictEqual(vs.length, 1, `${k}: ${vs.join(", ")}`);
    assert.match(versions.get("rehearsal-model-1#3")![0], /#Production$/);
    assert.match(versions.get("rehearsal-model-1#2")![0], /#Staging$/);
    // Each version's files are its run's, and that run moved with its experiment first: the version is registered
    // from the moved run, its files not copied a second time, and the target check reads them there.
    const to = resolveEndpoint(envs.new.uri, "to", env());
    const dst = mlflowClient(to);
    for (const m of await dst.searchRegisteredModels())
      for (const v of await dst.listVersions(m.name)) {
        const t = tagMap(v.tags);
        if (t[TAG.sourceModel] === undefined) continue;
        const run = await dst.getRun(v.run_id!);
        assert.strictEqual(
          tagMap(run.data.tags)[RUN_TAG.sourceRun],
          t[TAG.sourceRun],
          `${m.name} v${v.version} is registered from its moved run`,
        );
        assert.ok(t[TAG.runPath] !== undefined, `${m.name} v${v.version} records where in the run its files are`);
        assert.deepStrictEqual((await checkTarget(to, m.name, v.version, "full")).problems, []);
      }
    assert.strictEqual(
      await dst.experimentByName(migrationsExperimentFor(to.transport)),
      undefined,
      "no run of its own was made for any version",
    );

    const again = await move(args);
    assert.strictEqual(again.status, 0, again.stderr);
    assert.ok(
      json(again).items.every((i) => i.outcome === "adopted"),
      "a re-run adopts everything and copies nothing",
    );
  });

  it("two shards run at once as two processes move disjoint parts and give the same target as one process", async () => {
    extra = await startEnvironment("new2", envs.token);
    extra.api.workspace.put("/Shared", "DIRECTORY");
    extra.api.workspace.put("/Users/alice@quant.example", "DIRECTORY");
    const plan = path.join(dir, "plan.yaml");
    const shard = (i: number) => move(["--from", envs.old.uri, "--to", extra!.uri, "--plan", plan, "--shard", `${i}/2`, "--json"]);
    const [a, b] = await Promise.all([shard(1), shard(2)]);
    for (const r of [a, b]) assert.strictEqual(r.status, 0, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    const [ka, kb] = [json(a), json(b)].map((r) => r.items.map((i) => i.key));
    assert.deepStrictEqual(
      ka.filter((k) => kb.includes(k)),
      [],
      "the shards are disjoint",
    );
    assert.strictEqual(ka.length + kb.length, 13);
    assert.ok(ka.length && kb.length);
    assert.strictEqual(json(a).verification, undefined, "a shard of several leaves the verification to its own step");
    const [ba, bb] = [json(a), json(b)].map((r) => r.totals.bytes);
    assert.ok(Math.min(ba, bb) > 0);

    const v = await move(["--from", envs.old.uri, "--to", extra.uri, "--plan", plan, "--verify-only"]);
    assert.strictEqual(v.status, 0, v.stdout);
    assert.match(v.stdout, /identical: every model version, run and notebook of the source is in the target/);
    const versions = await targetVersions(extra);
    assert.strictEqual(versions.size, 5);
    for (const [k, vs] of versions) assert.strictEqual(vs.length, 1, `${k}: ${vs.join(", ")}`);
    assert.deepStrictEqual(await shape(extra), await shape(envs.new));
  });
});
