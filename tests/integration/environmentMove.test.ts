import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { LocalEnvironments, startLocalEnvironments } from "../../tools/localEnv";
import { PROJECT_DIR } from "../../tools/localMlflow";
import { inventoryCli } from "../../tools/inventory";
import { Inventory } from "../../migration/inventory";

const RUNBOOK = path.join(PROJECT_DIR, "docs/moving-an-environment.md");

/** The runbook's local walk-through: the one ```bash walkthrough block. */
export function walkthrough(markdown: string): string {
  const blocks = [...markdown.matchAll(/^```bash walkthrough\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  assert.strictEqual(blocks.length, 1, "the runbook has exactly one walk-through block");
  return blocks[0];
}

describe("moving a whole environment: the runbook's local walk-through, end to end", function () {
  this.timeout(900000);
  let envs: LocalEnvironments;
  let run: { status: number | null; stdout: string; stderr: string };
  const env = () => ({ FROM: envs.old.uri, TO: envs.new.uri, DATABRICKS_TOKEN: envs.token });

  before(async () => {
    envs = await startLocalEnvironments();
  });
  after(async () => { await envs?.stop(); });

  it("the inventory of the old environment lists models, experiments, notebooks and the Git folder", async () => {
    const out: string[] = [];
    assert.strictEqual(await inventoryCli(["--from", envs.old.uri, "--paths", "/Shared,/Users,/Repos", "--json"], env(), (s) => out.push(s)), 0);
    const inv = JSON.parse(out.join("")) as Inventory;
    assert.deepStrictEqual(inv.models.map((m) => [m.name, m.versions.map((v) => [v.version, v.aliases, v.files])]),
      [["quant-alpha-transformer", [["1", ["champion"], envs.fixture.files.length]]]]);
    const alpha = inv.experiments.find((e) => e.name === "quant-alpha")!;
    assert.strictEqual(alpha.runs.length, 3);
    assert.strictEqual(alpha.artifactBytes, envs.fixture.files.reduce((s, f) => s + f.size, 0), "only the best run logged the model");
    assert.deepStrictEqual(inv.workspace!.gitFolders, ["/Repos/alice@quant.example/quant-research"]);
    assert.strictEqual(inv.workspace!.objects.filter((o) => o.type === "NOTEBOOK").length, 4);
    assert.strictEqual(inv.workspace!.objects.filter((o) => o.type === "FILE").length, 2);
  });

  it("runs the walk-through block as written: exit 0, with verify-move 3 before the move and 0 after", async () => {
    const script = walkthrough(fs.readFileSync(RUNBOOK, "utf8"));
    // Asynchronously: the Databricks stand-ins answer from this process's event loop.
    run = await new Promise((resolve) => {
      const p = spawn("bash", ["-c", script], { cwd: PROJECT_DIR, env: { ...process.env, ...env() } });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (c) => { stdout += c; });
      p.stderr.on("data", (c) => { stderr += c; });
      p.on("close", (status) => resolve({ status, stdout, stderr }));
    });
    assert.strictEqual(run.status, 0, `walk-through failed (exit ${run.status}):\n${run.stdout.slice(-4000)}\n${run.stderr.slice(-4000)}`);
    assert.match(run.stdout, /8 difference\(s\):/, "before the move: the model version, the experiment and six notebooks and files are missing");
    assert.match(run.stdout, /identical: every model version, run and notebook of the source is in the target, byte for byte/);
  });

  it("its output shows every step: dry runs, 3 runs mapped to new IDs, the model, and re-runs that copy nothing", () => {
    assert.match(run.stdout, /dry run: would copy 6 notebooks and files under \/Shared, \/Users/);
    assert.match(run.stdout, /dry run: would migrate 3 runs .* of experiment 'quant-alpha'/);
    assert.match(run.stdout, /notebooks and files under \/Shared, \/Users: 6 created, 0 already identical/);
    assert.match(run.stdout, /experiment 'quant-alpha' -> 'quant-alpha' \(id \d+\): 3 migrated, 0 resumed, 0 already migrated, 0 conflicts, 0 failed/);
    assert.match(run.stdout, /migrated quant-alpha-transformer version 1 -> quant-alpha-transformer version 1/);
    assert.match(run.stdout, /3 already migrated, 0 conflicts, 0 failed/);
    assert.match(run.stdout, /0 created, 6 already identical/);
    assert.ok(!run.stdout.includes(envs.token) && !run.stderr.includes(envs.token), "the token never appears in the output");
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
