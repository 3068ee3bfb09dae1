import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EXPERIMENT, LocalEnvironments, startLocalEnvironments, TEAM_WORK } from "../../devenv/localEnv";
import { PROJECT_DIR } from "../../devenv/localMlflow";
import { inventoryCli } from "../../cli/inventory";
import { Inventory } from "../../migration/inventory";
import { Ran, runAsync } from "../fixtures/process";
import { RUNBOOK, runbookCommands, walkthrough } from "../fixtures/runbook";

/** Runs a bash script from the project directory, asynchronously (the stand-ins answer from this process). */
function bash(script: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return runAsync("bash", ["-c", script], { cwd: PROJECT_DIR, env: { ...process.env, ...env } });
}

describe("moving a whole environment: the runbook's local walk-through, end to end", function () {
  this.timeout(900000);
  let envs: LocalEnvironments;
  let run: { status: number | null; stdout: string; stderr: string };
  const env = () => ({ FROM: envs.old.uri, TO: envs.new.uri, DATABRICKS_TOKEN: envs.token, VAULT_FILE: envs.vaultFile! });

  before(async () => {
    envs = await startLocalEnvironments();
  });
  after(async () => {
    await envs?.stop();
  });

  it("the inventory of the old environment lists models, experiments, notebooks and the Git folder", async () => {
    const out: string[] = [];
    assert.strictEqual(
      await inventoryCli(["--from", envs.old.uri, "--paths", "/Shared,/Users,/Repos", "--json"], env(), (s) => out.push(s)),
      0,
    );
    const inv = JSON.parse(out.join("")) as Inventory;
    assert.deepStrictEqual(
      inv.models.map((m) => [m.name, m.versions.map((v) => [v.version, v.stage, v.aliases, v.files])]),
      [
        ["quant-alpha-mlflow3", [["1", "Staging", [], envs.loggedModel!.files.length]]],
        ["quant-alpha-transformer", [["1", "Production", [], envs.fixture.files.length]]],
      ],
      "a workspace registry: a stage, no aliases",
    );
    const alpha = inv.experiments.find((e) => e.name === EXPERIMENT)!;
    assert.strictEqual(alpha.runs.length, 3);
    assert.strictEqual(
      alpha.artifactBytes,
      envs.fixture.files.reduce((s, f) => s + f.size, 0),
      "only the best run logged the model",
    );
    assert.deepStrictEqual(inv.workspace!.gitFolders, ["/Repos/alice@quant.example/quant-research"]);
    assert.strictEqual(inv.workspace!.objects.filter((o) => o.type === "NOTEBOOK").length, 4);
    assert.strictEqual(inv.workspace!.objects.filter((o) => o.type === "FILE").length, 2);
  });

  it("runs the walk-through block as written: exit 0, with verify-move 3 before the move and 0 after", async () => {
    const script = walkthrough(fs.readFileSync(RUNBOOK, "utf8"));
    run = await bash(script, env());
    assert.strictEqual(run.status, 0, `walk-through failed (exit ${run.status}):\n${run.stdout.slice(-4000)}\n${run.stderr.slice(-4000)}`);
    assert.match(
      run.stdout,
      /11 difference\(s\):/,
      "before the move: two model versions, two experiments, the logged model and six notebooks and files are missing",
    );
    assert.match(run.stdout, /identical: every model version, run and notebook of the source is in the target, byte for byte/);
  });

  it("its output shows every step: dry runs, 3 runs mapped to new IDs, the model, and re-runs that copy nothing", () => {
    assert.match(run.stdout, /dry run: would copy 6 notebooks and files under \/Shared, \/Users/);
    assert.match(run.stdout, /dry run: would migrate 3 runs .* of experiment '\/Users\/alice@quant.example\/quant-alpha'/);
    assert.match(run.stdout, /notebooks and files under \/Shared, \/Users: 6 created, 0 already identical/);
    assert.match(
      run.stdout,
      /experiment '\/Users\/alice@quant.example\/quant-alpha' -> '\/Users\/alice@quant.example\/quant-alpha' \(id \d+\): 3 migrated, 0 resumed, 0 already migrated, 0 conflicts, 0 failed/,
    );
    assert.match(run.stdout, /migrated quant-alpha-transformer version 1 -> quant-alpha-transformer version 1/);
    assert.match(run.stdout, /stage Production, aliases -/);
    assert.ok(
      !envs.old.api.calls.some((c) => c.includes("registered-models/alias")) &&
        !envs.new.api.calls.some((c) => c.includes("registered-models/alias")),
      "no alias endpoint was called on a workspace registry",
    );
    assert.match(run.stdout, /3 already migrated, 0 conflicts, 0 failed/);
    assert.match(run.stdout, /0 created, 6 already identical/);
    assert.ok(!run.stdout.includes(envs.token) && !run.stderr.includes(envs.token), "the token never appears in the output");
    for (const v of Object.values(envs.vault![TEAM_WORK.secretScope]))
      assert.ok(!run.stdout.includes(v) && !run.stderr.includes(v), "a secret value never appears in the output");
  });

  it("the team's work moved with the whole-environment move: the scope with the vault's values, the policy, the pool, the jobs created paused and switched by the cut-over and back, the endpoint with its AI gateway", async () => {
    const t = TEAM_WORK;
    const scope = envs.new.api.secrets.scopes.get(t.secretScope)!;
    assert.deepStrictEqual(
      Object.fromEntries([...scope.secrets].map(([k, s]) => [k, s.value.toString()])),
      envs.vault![t.secretScope],
      "each key holds the value the vault gave",
    );
    assert.deepStrictEqual([...scope.acls], [[t.group, "READ"]]);
    assert.ok([...envs.new.api.compute.policies.values()].some((p) => p.name === t.policy));
    assert.ok([...envs.new.api.compute.pools.values()].some((p) => p.instance_pool_name === t.pool));
    // After the walk-through's cut-over and roll-back: the jobs run in the old workspace again, their copies are paused.
    const state = (side: LocalEnvironments["old"]) =>
      Object.fromEntries(
        [...side.api.jobs.jobs.values()].map((j) => [
          j.settings.name,
          (j.settings.schedule ?? j.settings.trigger)?.pause_status ?? "UNPAUSED",
        ]),
      );
    assert.deepStrictEqual(state(envs.new), { [t.jobs[0]]: "PAUSED", [t.jobs[1]]: "PAUSED" });
    assert.deepStrictEqual(state(envs.old), { [t.jobs[0]]: "UNPAUSED", [t.jobs[1]]: "UNPAUSED" });
    assert.match(run.stdout, new RegExp(`job '${t.jobs[0]}': schedule paused in ${envs.old.uri.replace(/[+.]/g, "\\$&")}, unpaused in`));
    assert.match(run.stdout, new RegExp(`job '${t.jobs[1]}': trigger paused in ${envs.new.uri.replace(/[+.]/g, "\\$&")}, unpaused in`));
    const endpoint = envs.new.api.serving.endpoints.get(t.endpoint);
    assert.ok(endpoint, "the serving endpoint is in the new workspace");
    // Its AI gateway and description, which only the old workspace's endpoint was given, are the new one's too.
    const { ai_gateway: gateway, description } = envs.old.api.serving.endpoints.get(t.endpoint)!.extras;
    assert.ok(gateway && description, "the seeded endpoint has an AI gateway and a description");
    assert.deepStrictEqual([endpoint.extras.ai_gateway, endpoint.extras.description], [gateway, description]);
  });

  it("the runbook's own commands (sections 2 to 5, profiles old and new) run against the two environments after the move", async () => {
    const commands = runbookCommands(fs.readFileSync(RUNBOOK, "utf8"));
    assert.ok(commands.length >= 7, commands.join("\n"));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "runbook-"));
    const cfg = path.join(dir, "databrickscfg");
    fs.writeFileSync(
      cfg,
      `[old]\nhost = ${envs.old.api.url}\ntoken = ${envs.token}\n[new]\nhost = ${envs.new.api.url}\ntoken = ${envs.token}\n`,
    );
    try {
      for (const c of commands) {
        // The files the commands write (the inventory, the move plan) go to the test's folder, not the project's.
        const r = await bash(
          c
            .replace(/> inventory-old\.json$/, `> ${path.join(dir, "inventory-old.json")}`)
            .replace(/\bmove-plan\.yaml\b/g, path.join(dir, "move-plan.yaml"))
            .replace(/\bvault\.json\b/g, envs.vaultFile!),
          {
            DATABRICKS_CONFIG_FILE: cfg,
            DATABRICKS_TOKEN: "",
          },
        );
        assert.strictEqual(r.status, 0, `${c}\nexit ${r.status}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
        if (c.startsWith("npm run verify-move") || (c.startsWith("npm run move") && !/--dry-run|--plan-out|--shard|--cut-over/.test(c)))
          assert.match(r.stdout, /identical: every model version, run and notebook/);
      }
      // The plan came with the SQL that gives the new workspace the tables: two metastores, so deep clones.
      const sql = fs.readFileSync(path.join(dir, "move-plan.tables.sql"), "utf8");
      assert.match(sql, /CREATE TABLE IF NOT EXISTS `main`\.`quant`\.`daily_prices` DEEP CLONE /);
      assert.match(sql, /CREATE TABLE IF NOT EXISTS `hive_metastore`\.`default`\.`positions` AS SELECT/);
      assert.match(sql, /CREATE VIEW IF NOT EXISTS `main`\.`quant`\.`latest_prices` AS SELECT/);
      assert.match(sql, /SELECT COUNT\(\*\) AS row_count FROM `main`\.`quant`\.`daily_prices`/);
      const inv = JSON.parse(fs.readFileSync(path.join(dir, "inventory-old.json"), "utf8").replace(/^[^{]*/, "")) as Inventory;
      assert.deepStrictEqual(
        inv.tables?.catalogs.flatMap((c) => c.schemas.flatMap((s) => s.tables.map((x) => [x.fullName, x.sizeBytes ?? null]))).sort(),
        [
          ["hive_metastore.default.positions", 2048],
          ["main.quant.daily_prices", 3 * 2 ** 30],
          ["main.quant.latest_prices", null],
        ],
        "the inventory lists every table with its size",
      );
      assert.strictEqual(inv.experiments.find((e) => e.name === EXPERIMENT)!.runs.length, 3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the new environment holds the same notebooks, byte for byte, and no Git folder was copied", () => {
    for (const [p, n] of envs.old.api.workspace.nodes) {
      if (n.type === "REPO" || p.startsWith("/Repos")) continue;
      const m = envs.new.api.workspace.nodes.get(p);
      assert.ok(m, `${p} is in the new environment`);
      assert.deepStrictEqual([m.type, m.language, m.content?.toString("hex")], [n.type, n.language, n.content?.toString("hex")], p);
    }
    assert.ok(![...envs.new.api.workspace.nodes.keys()].some((p) => p.startsWith("/Repos")));
  });
});
