/**
 * Issue 33 item 6: verify-move run alone checks what `move` moves. An archived version is left out by `move` and
 * skipped by verify-move, which says so; `move --include-archived` moves it (stage Archived in the target), and
 * verify-move given the same flag checks it.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { UsageError } from "../../cli/command";
import { moveCli } from "../../cli/move";
import { verifyMoveCli } from "../../cli/verifyMove";
import { resolveEndpoint } from "../../migration/endpoint";
import { TAG } from "../../migration/provenance";
import { MoveVerification } from "../../migration/verifyMove";
import { MlflowServer } from "../../devenv/localMlflow";
import { liveServers } from "../fixtures/liveServers";
import { sourceRun } from "../fixtures/sourceRuns";

const EXP = "exp-move-scope";
const MODEL = "move-scope-model";
const oss = (url: string, side: "from" | "to" = "to") => resolveEndpoint(url, side, {});

/** Runs a command as the binary does: its exit code and what it printed. */
async function cli(
  run: (argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void) => Promise<number>,
  argv: string[],
): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const code = await run(argv, {}, (s) => out.push(s));
  return { code, out: out.join("\n") };
}
const move = (argv: string[]) => cli((a, e, o) => moveCli(a, e, o, () => undefined, false), argv);
const verify = (argv: string[]) => cli(verifyMoveCli, argv);

describe("move and verify-move agree on what moves (issue 33)", function () {
  this.timeout(600000);
  let a: MlflowServer;
  let b: MlflowServer;
  let dir: string;
  let plan: string;

  before(async () => {
    ({ a, b } = await liveServers());
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "move-scope-"));
    const src = mlflowClient(oss(a.url, "from"));
    const exp = await src.ensureExperiment(EXP);
    const t0 = Date.now() - 600000;
    const runs = [await sourceRun(src, exp, "old", t0), await sourceRun(src, exp, "new", t0 + 10000)];
    await src.ensureRegisteredModel(MODEL);
    for (const r of runs)
      await src.createModelVersion({ name: MODEL, source: `${r.run.info.artifact_uri}/model`, run_id: r.run.info.run_id, tags: [] });
    await src.transitionStage(MODEL, "1", "Archived");
    await src.transitionStage(MODEL, "2", "Staging");
    plan = path.join(dir, "plan.yaml");
    fs.writeFileSync(plan, `experiments: [${JSON.stringify(EXP)}]\nmodels:\n  - name: ${JSON.stringify(MODEL)}\n    versions: all\n`);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const scope = ["--experiment", EXP, "--model", MODEL];

  it("move leaves the archived version out; verify-move alone skips it and says so (exit 0), instead of reporting it unmigrated", async () => {
    const m = await move(["--from", a.url, "--to", b.url, "--plan", plan]);
    assert.strictEqual(m.code, 0, m.out);
    assert.match(m.out, /identical/);
    const v = await verify(["--from", a.url, "--to", b.url, ...scope]);
    assert.strictEqual(v.code, 0, v.out);
    assert.match(v.out, /skipped, as move does: model versions \(1\): archived \(move takes archived versions with --include-archived\)/);
    assert.ok(!/was migrated from it/.test(v.out), v.out);
    const json = JSON.parse((await verify(["--from", a.url, "--to", b.url, ...scope, "--json"])).out) as MoveVerification;
    assert.deepStrictEqual(
      json.skipped.filter((s) => s.kind === "model-version").map((s) => s.names),
      [[`${MODEL} version 1`]],
    );
    const archivedChecked = await verify(["--from", a.url, "--to", b.url, ...scope, "--include-archived"]);
    assert.strictEqual(archivedChecked.code, 3, "checked with --include-archived, the archived version is not there yet");
    assert.match(archivedChecked.out, new RegExp(`model '${MODEL}' version 1: no version in .* was migrated from it`));
  });

  it("move --include-archived moves it with stage Archived; verify-move --include-archived finds it identical", async () => {
    await assert.rejects(
      move(["--from", a.url, "--to", b.url, "--plan", plan, "--include-archived"]),
      (e: Error) => e instanceof UsageError && /--include-archived goes in the plan \(includeArchived: true\)/.test(e.message),
    );
    const withArchived = path.join(dir, "with-archived.yaml");
    fs.writeFileSync(withArchived, `${fs.readFileSync(plan, "utf8")}includeArchived: true\n`);
    const m = await move(["--from", a.url, "--to", b.url, "--plan", withArchived]);
    assert.strictEqual(m.code, 0, m.out);
    const copies = (await mlflowClient(oss(b.url)).listVersions(MODEL)).filter((v) => tagMap(v.tags)[TAG.sourceVersion] === "1");
    assert.deepStrictEqual(
      copies.map((v) => v.current_stage),
      ["Archived"],
    );
    const v = await verify(["--from", a.url, "--to", b.url, ...scope, "--include-archived"]);
    assert.strictEqual(v.code, 0, v.out);
    assert.ok(!/skipped, as move does: model versions/.test(v.out), v.out);
  });

  it("a version the team registered in the target model is named as extra, and the move leaves it alone", async () => {
    const dst = mlflowClient(oss(b.url));
    const copy = (await dst.listVersions(MODEL)).find((v) => tagMap(v.tags)[TAG.sourceVersion] === "2")!;
    const own = await dst.createModelVersion({ name: MODEL, source: copy.source, run_id: copy.run_id!, tags: [] });
    const v = await verify(["--from", a.url, "--to", b.url, ...scope, "--include-archived", "--json"]);
    assert.strictEqual(v.code, 3);
    assert.deepStrictEqual(
      (JSON.parse(v.out) as MoveVerification).differences.map((d) => [d.kind, d.finding, d.id, d.name]),
      [["model-version", "extra", own.version, MODEL]],
    );
    const m = await move(["--from", a.url, "--to", b.url, "--plan", path.join(dir, "with-archived.yaml")]);
    assert.strictEqual(m.code, 3, "the move's own verification names it too");
    assert.match(m.out, new RegExp(`\\[model-version\\] model '${MODEL}' version ${own.version}: extra: no provenance tags`));
    assert.strictEqual((await dst.getModelVersion(MODEL, own.version)).version, own.version, "never removed");
    await dst.deleteModelVersion(MODEL, own.version);
  });
});
