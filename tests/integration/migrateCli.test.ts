import * as assert from "assert";
import { spawnSync } from "child_process";
import { migrateCli, progressLine } from "../../cli/migrate";
import { UsageError } from "../../cli/command";
import { liveServers } from "../fixtures/liveServers";
import { MlflowServer, PROJECT_DIR, seedFixture } from "../../devenv/localMlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { rejectsWithoutWrites } from "../fixtures/targetSnapshot";

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await migrateCli(
    argv,
    env,
    (s) => out.push(s),
    (s) => err.push(s),
    false,
  );
  return { code, out: out.join("\n"), err: err.join("") };
}

describe("npm run migrate (CLI)", function () {
  this.timeout(600000);
  let a: MlflowServer;
  let b: MlflowServer;
  before(async () => {
    ({ a, b } = await liveServers());
    seedFixture(a, "cli-model", { sizeMb: 1, shards: 2 });
  });
  const target = () => resolveEndpoint(b.url, "to", {});

  it("--json prints the report with the documented fields, exit 0; a second run adopts", async () => {
    const r = await cli(["--from", a.url, "--to", b.url, "--model", "cli-model", "--alias", "champion", "--json"]);
    assert.strictEqual(r.code, 0);
    const j = JSON.parse(r.out);
    for (const k of ["sourceVersion", "targetModel", "targetVersion", "files", "bytes", "manifestDigest", "adopted", "durationMs"])
      assert.ok(k in j, k);
    assert.strictEqual(j.adopted, false);
    const again = JSON.parse((await cli(["--from", a.url, "--to", b.url, "--model", "cli-model", "--version", "1", "--json"])).out);
    assert.deepStrictEqual([again.adopted, again.targetVersion], [true, j.targetVersion]);
  });

  it("--dry-run lists what would be copied, with sizes", async () => {
    const r = await cli([
      "--from",
      a.url,
      "--to",
      b.url,
      "--model",
      "cli-model",
      "--alias",
      "champion",
      "--to-model",
      "cli-dry",
      "--dry-run",
    ]);
    assert.match(r.out, /^dry run: would copy \d+ files \([\d.]+ MB\) of cli-model version 1 to cli-dry/);
    assert.match(r.out, /\s+0\s+components\/tokenizer\/added_tokens\.json/);
  });

  it("usage errors exit 2 (the real npm script), including any attempt to pass a token on the command line", () => {
    const run = (args: string[]) => spawnSync("npm", ["run", "-s", "migrate", "--", ...args], { cwd: PROJECT_DIR, encoding: "utf8" });
    const token = run(["--from", a.url, "--to", b.url, "--model", "m", "--alias", "x", "--token", "dapi-secret"]);
    assert.strictEqual(token.status, 2);
    assert.match(token.stderr, /unknown option --token/);
    assert.match(token.stderr, /tokens are never taken on the command line: set MLFLOW_TRACKING_TOKEN/);
    assert.doesNotMatch(token.stderr, /dapi-secret/);
    assert.strictEqual(run(["--from", a.url, "--to", b.url, "--model", "m"]).status, 2, "no selector");
    assert.strictEqual(run(["--from", a.url, "--to", b.url, "--model", "m", "--version", "1", "--alias", "a"]).status, 2, "two selectors");
  });

  it("a failure exits 1 with the reason (the real npm script)", () => {
    const r = spawnSync(
      "npm",
      ["run", "-s", "migrate", "--", "--from", a.url, "--to", b.url, "--model", "no-such-model", "--version", "1"],
      { cwd: PROJECT_DIR, encoding: "utf8" },
    );
    assert.strictEqual(r.status, 1);
    assert.match(r.stderr, /model 'no-such-model' does not exist on/);
  });

  it("--from-env/--to-env apply the flow guard from the project config", async () => {
    const fromQuant = ["--from", a.url, "--to", b.url, "--model", "cli-model", "--alias", "champion", "--from-env", "quant"];
    await rejectsWithoutWrites(
      target(),
      () => cli([...fromQuant, "--to-env", "quant_live"]),
      /refusing to migrate from quant to quant_live: not an edge/,
    );
    await assert.rejects(cli(fromQuant), (e) => e instanceof UsageError);
  });

  it("into production, the guard asks the Git host for the merge request that declared the promotion; a tag or a missing token is refused", async () => {
    const prod = [
      "--from",
      a.url,
      "--to",
      b.url,
      "--model",
      "cli-model",
      "--alias",
      "champion",
      "--from-env",
      "quant_stg",
      "--to-env",
      "quant_lr",
    ];
    await rejectsWithoutWrites(
      target(),
      () => cli(prod),
      /refusing to promote model 'cli-model' version 1 into production environment quant_lr: no approval evidence: .*set GITLAB_TOKEN/,
    );
    await rejectsWithoutWrites(
      target(),
      () => cli(prod, { GITLAB_TOKEN: "glpat-x" }),
      /Pulumi\.yaml in .* declares no promotion of 'cli-model' from quant_stg to quant_lr/,
    );
    await assert.rejects(
      cli(["--from", a.url, "--to", b.url, "--model", "cli-model", "--alias", "champion", "--git-dir", "."]),
      /--git-dir and --config go with --from-env and --to-env/,
    );
  });

  it("the progress line shows bytes, files, rate and ETA", () => {
    const line = progressLine({ phase: "copying", filesDone: 3, filesTotal: 12, bytesDone: 50 * 1048576, bytesTotal: 200 * 1048576 }, 5000);
    assert.strictEqual(line, "[######..................]  25%  3/12 files  50.0 MB/200.0 MB  10.0 MB/s  ETA 15s");
  });
});
