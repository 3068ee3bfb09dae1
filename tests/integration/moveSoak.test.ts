/**
 * Issue 33 (4): `move` under a seeded random mix of network faults on the target, its API and its artifact
 * transport alike: 503 and 429 with Retry-After, connections dropped before the request reaches the server and
 * after the server applied it (the answer lost), answers cut short, slow answers. Each seed moves its own slice
 * of the old environment (one experiment, one model; notebooks with the first two) into the same new one. After
 * the move, and plain re-runs if it failed, the target holds exactly one active run per source run, one version
 * per source version and no lease, and verification passes. What is counted is read from the target directly,
 * never through the proxy, and compared with the source, never with the move's own report. A last case moves the
 * team's workspace objects (a secret scope, a cluster policy, an instance pool, two jobs, a serving endpoint and the
 * model version it serves) under the same faults: each exactly once in the target, with the source's ACL.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalEnvironments, REHEARSAL_MODELS_EXPERIMENT, startLocalEnvironments, TEAM_WORK } from "../../devenv/localEnv";
import { PROJECT_DIR } from "../../devenv/localMlflow";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { migrationsExperimentFor, RUN_TAG, TAG } from "../../migration/provenance";
import { FaultAction, FaultProxy } from "../fixtures/faultProxy";
import { Ran, runAsync } from "../fixtures/process";

const CLI = [process.execPath, "bin/quant-platform.js", "move"];
const SEEDS = [1, 2, 3];
const MIN_FAULTS = 50;
/** The mix the issue names, each kind equally likely. */
const KINDS: FaultAction[] = [
  { kind: "status", status: 503, retryAfter: 1 },
  { kind: "status", status: 429, retryAfter: 1 },
  { kind: "drop" },
  { kind: "drop-after" },
  { kind: "truncate-response" },
  { kind: "delay", ms: 1500 },
];
/** The items a move's report lists as failed, each with the problem on the line under it. */
const failedItems = (stdout: string): string[] => {
  const lines = stdout.split("\n");
  return lines.flatMap((l, i) => {
    if (!/^ {2}failed /.test(l)) return [];
    const end = lines.findIndex((x, j) => j > i && !/^ {6}/.test(x));
    return [[l, ...lines.slice(i + 1, end < 0 ? undefined : end)].map((x) => x.trim()).join(" | ")];
  });
};
/** A plain re-run after a failed move, as the runbook says; more than this is a failure of the test. */
const RERUNS = 3;

describe("a move under random network faults leaves exactly one copy of everything and verifies (seeded soak)", function () {
  this.timeout(900000);
  let envs: LocalEnvironments;
  let proxy: FaultProxy;
  let dir: string;
  const env = () => ({ ...process.env, DATABRICKS_TOKEN: envs.token });
  const move = (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Ran> =>
    runAsync(CLI[0], [...CLI.slice(1), ...args], { cwd: PROJECT_DIR, env: { ...env(), ...extraEnv } });

  /** Moves a plan through the faults, re-running as the runbook says; every attempt, and the faults drawn. */
  async function moveThroughFaults(plan: string, seed: number, extra: string[] = [], extraEnv: NodeJS.ProcessEnv = {}) {
    proxy.seen.length = 0;
    proxy.randomFaults({ seed, rate: 0.3, max: 80, kinds: KINDS });
    const through = `databricks+${proxy.url}`;
    const attempts: Ran[] = [];
    for (let i = 0; i <= RERUNS; i++) {
      const r = await move(
        ["--from", envs.old.uri, "--to", through, "--plan", plan, "--concurrency", "4", "--claim-timeout", "5", ...extra],
        extraEnv,
      );
      attempts.push(r);
      if (r.status === 0) break;
      // The runbook re-runs a move that names what is left: exit 1 (items failed, each listed with its problem)
      // or exit 3 (moved, and verify-move found differences). A crash, or an exit 1 naming no failed item, is a defect.
      const named =
        r.status === 3 || (r.status === 1 && failedItems(r.stdout).length > 0 && /\d+ items: .* [1-9]\d* failed/.test(r.stdout));
      assert.ok(named, `seed ${seed}, attempt ${i + 1}: exit ${r.status}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
    }
    const faults = proxy.faultCounts();
    proxy.clear();
    const left = attempts.flatMap((a, i) => failedItems(a.stdout).map((f) => `attempt ${i + 1}: ${f}`));
    const story = `seed ${seed}: ${attempts.length} attempt(s), exits ${attempts.map((a) => a.status).join(", ")}; faults ${JSON.stringify(faults)} among ${proxy.seen.length} requests${left.length ? `; left for a re-run:\n  ${left.join("\n  ")}` : ""}`;
    if (left.length) console.log(`      ${story}`);
    assert.strictEqual(attempts[attempts.length - 1].status, 0, `${story}\n${attempts[attempts.length - 1].stderr.slice(-3000)}`);
    return { faults, story };
  }

  before(async () => {
    envs = await startLocalEnvironments({
      sizeMb: 1,
      rehearsal: { experiments: SEEDS.length, runs: 6, models: SEEDS.length, versions: 2 },
      teamWork: true,
    });
    proxy = new FaultProxy(() => Number(new URL(envs.new.api.url).port));
    await proxy.start();
    // Signed URLs lead through the proxy too: the artifact transport sees the same network.
    envs.new.api.blobUrl = proxy.url;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "move-soak-"));
  });
  after(async () => {
    await proxy?.stop();
    await envs?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  SEEDS.forEach((seed, k) => {
    const experiment = `/Users/alice@quant.example/rehearsal-${String(k + 1).padStart(2, "0")}`;
    const model = `rehearsal-model-${k + 1}`;
    const paths = ["/Shared", "/Users"].slice(k, k + 1);

    it(`seed ${seed}: ${experiment.split("/").pop()}, ${model}${paths.length ? ` and ${paths[0]}` : ""}, with at least ${MIN_FAULTS} faults`, async () => {
      assert.ok(envs.rehearsal!.experiments.includes(experiment), `the seed made ${experiment}`);
      const plan = path.join(dir, `plan-${seed}.yaml`);
      fs.writeFileSync(
        plan,
        [
          `paths: [${paths.map((p) => JSON.stringify(p)).join(", ")}]`,
          `experiments: [${JSON.stringify(experiment)}]`,
          `models:`,
          `  - name: ${JSON.stringify(model)}`,
          `    versions: all`,
          "",
        ].join("\n"),
      );
      const { faults, story } = await moveThroughFaults(plan, seed);
      const total = Object.values(faults).reduce((a, b) => a + b, 0);
      assert.ok(total >= MIN_FAULTS, `${story}: fewer than ${MIN_FAULTS} faults`);
      for (const kind of ["status-503", "status-429", "drop", "drop-after", "truncate-response", "delay"])
        assert.ok(faults[kind] > 0, `${story}: no ${kind} fault was drawn`);

      // The source, read directly: the runs of the experiment and the versions of the model.
      const src = mlflowClient(resolveEndpoint(envs.old.uri, "from", env()));
      const dst = mlflowClient(resolveEndpoint(envs.new.uri, "to", env()));
      const srcExp = (await src.experimentByName(experiment))!;
      const srcRuns = (await src.allRuns([srcExp.experiment_id])).map((r) => r.info.run_id).sort();
      const srcVersions = (await src.listVersions(model)).map((v) => v.version).sort();
      assert.strictEqual(srcRuns.length, 6);
      assert.strictEqual(srcVersions.length, 2);

      // Exactly one active target run per source run, and nothing else: no duplicate, no lease.
      const dstExp = (await dst.experimentByName(experiment))!;
      const dstRuns = await dst.allRuns([dstExp.experiment_id]);
      assert.deepStrictEqual(
        dstRuns.map((r) => tagMap(r.data.tags)[RUN_TAG.sourceRun] ?? `(no source: ${r.info.run_id}, ${r.info.run_name})`).sort(),
        srcRuns,
        `${story}: the target experiment's active runs, by the source run each was moved from`,
      );
      assert.ok(
        dstRuns.every((r) => tagMap(r.data.tags)[RUN_TAG.complete]),
        `${story}: every target run is complete`,
      );

      // Exactly one target version per source version; the runs that hold their files, one each, none spare.
      const versions = await dst.listVersions(model);
      assert.deepStrictEqual(
        versions.map((v) => tagMap(v.tags)[TAG.sourceVersion]).sort(),
        srcVersions,
        `${story}: the target versions, by source version`,
      );
      const migrations = (await dst.experimentByName(migrationsExperimentFor(resolveEndpoint(envs.new.uri, "to", env()).transport)))!;
      const copies = (await dst.allRuns([migrations.experiment_id])).filter((r) => tagMap(r.data.tags)[TAG.sourceModel] === model);
      assert.deepStrictEqual(
        copies.map((r) => tagMap(r.data.tags)[TAG.sourceVersion]).sort(),
        srcVersions,
        `${story}: the target runs holding the versions' files (in ${migrations.name}), by source version`,
      );
      assert.deepStrictEqual(
        versions.map((v) => v.run_id).sort(),
        copies.map((r) => r.info.run_id).sort(),
        `${story}: each version is registered from its own copy run`,
      );
      assert.ok(!(await dst.experimentByName(REHEARSAL_MODELS_EXPERIMENT)), "the models' training experiment was not in the plan");

      // Verification, without faults, of what the plan covers: every object identical, no extra anywhere.
      const v = await move(["--from", envs.old.uri, "--to", envs.new.uri, "--plan", plan, "--verify-only"]);
      assert.strictEqual(v.status, 0, `${story}\n${v.stdout.slice(-3000)}\n${v.stderr.slice(-2000)}`);
    });
  });

  it("seed 4: the team's scope, policy, pool, jobs and serving endpoint (with the version it serves): each exactly once, with the source's ACL", async () => {
    const t = TEAM_WORK;
    const plan = path.join(dir, "plan-team.yaml");
    fs.writeFileSync(
      plan,
      [
        "paths: []",
        "experiments: []",
        "models:",
        `  - name: ${JSON.stringify(envs.fixture.model)}`,
        `    versions: [${JSON.stringify(envs.fixture.version)}]`,
        `secretScopes: [${t.secretScope}]`,
        `clusterPolicies: [${t.policy}]`,
        `instancePools: [${t.pool}]`,
        `jobs: [${t.jobs.join(", ")}]`,
        `servingEndpoints: [${t.endpoint}]`,
        "",
      ].join("\n"),
    );
    // Besides the random mix: the answers to the scope's and the endpoint's creation are lost (the target made them).
    const LOST_CREATES = [/\/api\/2\.0\/secrets\/scopes\/create$/, /\/api\/2\.0\/serving-endpoints$/];
    for (const p of LOST_CREATES) proxy.add({ method: "POST", path: p, action: { kind: "drop-after" }, times: 1 });
    const { faults, story } = await moveThroughFaults(plan, 4, ["--secret-values", "env:VAULT_EXPORT"], {
      VAULT_EXPORT: JSON.stringify(envs.vault),
    });
    for (const p of LOST_CREATES)
      assert.ok(
        proxy.seen.some((r) => r.method === "POST" && p.test(r.path) && r.fault === "drop-after"),
        `${story}: the answer to POST ${p.source} was not lost (${JSON.stringify(faults)})`,
      );
    // Read from the new workspace's state directly: one of each, never a second copy of a create whose answer was lost.
    const api = envs.new.api;
    const count = <T>(all: Iterable<T>, name: (x: T) => string) => [...all].map(name).sort();
    assert.deepStrictEqual(
      count(api.compute.policies.values(), (p: any) => p.name).filter((n) => n === t.policy),
      [t.policy],
      story,
    );
    assert.deepStrictEqual(
      count(api.compute.pools.values(), (p: any) => p.instance_pool_name).filter((n) => n === t.pool),
      [t.pool],
      story,
    );
    assert.deepStrictEqual(
      count(api.jobs.jobs.values(), (j) => j.settings.name as string),
      [...t.jobs].sort(),
      story,
    );
    const scope = api.secrets.scopes.get(t.secretScope)!;
    assert.deepStrictEqual(
      Object.fromEntries([...scope.secrets].map(([k, v]) => [k, v.value.toString()])),
      envs.vault![t.secretScope],
      story,
    );
    // The scope's ACL is the old one's exactly: no creator's MANAGE left by a create whose answer was lost.
    assert.deepStrictEqual(Object.fromEntries(scope.acls), Object.fromEntries(envs.old.api.secrets.scopes.get(t.secretScope)!.acls), story);
    assert.ok(api.serving.endpoints.has(t.endpoint), story);
    const v = await move(["--from", envs.old.uri, "--to", envs.new.uri, "--plan", plan, "--verify-only"]);
    assert.strictEqual(v.status, 0, `${story}\n${v.stdout.slice(-3000)}\n${v.stderr.slice(-2000)}`);
  });
});
