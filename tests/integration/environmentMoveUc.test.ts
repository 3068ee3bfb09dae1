/**
 * The environment move into Unity Catalog: a workspace-registry model migrated by the engine into the new
 * workspace's Unity Catalog registry on a real cloud-store emulator, then both sides inventoried and compared by
 * verify-move, which must find them identical and must notice a file changed in the store behind the registry's
 * back. And `local-env --unity-catalog`, started as a user starts it, taking a migration into Unity Catalog.
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { inventoryCli } from "../../cli/inventory";
import { verifyMoveCli } from "../../cli/verifyMove";
import { UsageError } from "../../cli/command";
import { parseStorageLocation } from "../../clients/cloudStores";
import { MotoHandle } from "../../devenv/stores/cloudEmulators";
import { EXPERIMENT, LOCAL_UC_SCHEMA, LocalEnvironments, startLocalEnvironments } from "../../devenv/localEnv";
import { PROJECT_DIR } from "../../devenv/localMlflow";
import { migrateExperiment } from "../../migration/experiments";
import { resolveEndpoint } from "../../migration/endpoint";
import { Inventory } from "../../migration/inventory";
import { migrate } from "../../migration/modelVersion";
import { emulators } from "../fixtures/cloudEmulators";
import { runAsync } from "../fixtures/process";
import { RUNBOOK, runbookCommands, walkthrough } from "../fixtures/runbook";

const MODEL = "quant-alpha-transformer";
const UC_MODEL = `${LOCAL_UC_SCHEMA}.${MODEL}`;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * The runbook's `npm run <command> -- <args>` as the built CLI, arguments as written (what `npm run` runs:
 * bin/quant-platform.js, which rebuilds first only when a source is newer than the build).
 */
const asBuilt = (script: string) =>
  script.replace(/\bnpm run (?:--silent )?([\w-]+) --/g, `'${process.execPath}' bin/quant-platform.js $1`);

/** Runs a CLI function, collecting what it prints. */
async function cli(
  fn: (argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void) => Promise<number>,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const code = await fn(argv, env, (s) => out.push(s));
  return { code, out: out.join("\n") };
}

describe("moving a workspace registry's model into Unity Catalog: inventory and verify-move across the two registries", function () {
  this.timeout(900000);
  let envs: LocalEnvironments;
  let moto: MotoHandle;
  let env: NodeJS.ProcessEnv;
  let ucVersion: Inventory["models"][number]["versions"][number];

  before(async () => {
    ({ moto } = await emulators());
    envs = await startLocalEnvironments({ sizeMb: 1, unityCatalog: { kind: "s3", moto } });
    env = { DATABRICKS_TOKEN: envs.token, ...envs.uc!.env };
  });
  after(async () => {
    await envs?.stop();
  });

  it("verify-move into Unity Catalog without the models' names there is a usage error that names --uc-schema", async () => {
    await assert.rejects(
      cli(verifyMoveCli, ["--from", envs.old.uri, "--to", envs.uc!.uri], env),
      (e: Error) =>
        e instanceof UsageError &&
        /is a Unity Catalog registry, whose models are named <catalog>\.<schema>\.<model>: pass --uc-schema <catalog>\.<schema>/.test(
          e.message,
        ),
    );
    await assert.rejects(
      cli(inventoryCli, ["--from", envs.old.uri, "--uc-schema", "main.quant"], env),
      (e: Error) =>
        e instanceof UsageError && /--uc-schema selects Unity Catalog models; .* is not a Unity Catalog registry/.test(e.message),
    );
  });

  it("before the move, verify-move finds the model version and the runs missing (exit 3)", async () => {
    const r = await cli(verifyMoveCli, ["--from", envs.old.uri, "--to", envs.uc!.uri, "--uc-schema", LOCAL_UC_SCHEMA], env);
    assert.strictEqual(r.code, 3, r.out);
    assert.match(
      r.out,
      /\[model-version\] model 'quant-alpha-transformer' version 1: no version of 'main\.quant\.quant-alpha-transformer' \(its name there by --uc-schema main\.quant\) in databricks-uc\+http:\/\/127\.0\.0\.1:\d+ was migrated from it/,
    );
    assert.match(r.out, /\[experiment\] experiment '\/Users\/alice@quant\.example\/quant-alpha': missing in/);
  });

  it("the engine moves the experiment into the new workspace and the Production version into main.quant as alias champion", async () => {
    const from = resolveEndpoint(envs.old.uri, "from", env);
    const exp = await migrateExperiment({ from, to: resolveEndpoint(envs.new.uri, "to", env), experiment: EXPERIMENT });
    assert.strictEqual(exp.runs.filter((r) => r.outcome === "migrated").length, 3, JSON.stringify(exp.runs));
    const r = await migrate({
      from,
      to: resolveEndpoint(envs.uc!.uri, "to", env),
      model: MODEL,
      select: { stage: "Production" },
      toModel: UC_MODEL,
      stageAliases: { Production: "champion" },
      storeSettings: { s3Endpoint: envs.uc!.env.STORAGE_S3_ENDPOINT },
    });
    assert.deepStrictEqual(
      [r.targetModel, r.files, r.lifecycle.aliases, r.lifecycle.stage],
      [UC_MODEL, envs.fixture.files.length, ["champion"], undefined],
    );
  });

  it("the inventory of the Unity Catalog side lists the version with its alias, no stage, and its files hashed at an s3:// storage location", async () => {
    const r = await cli(inventoryCli, ["--from", envs.uc!.uri, "--uc-schema", LOCAL_UC_SCHEMA, "--hashes", "--json"], env);
    assert.strictEqual(r.code, 0);
    const inv = JSON.parse(r.out) as Inventory;
    assert.strictEqual(inv.registry, "unity-catalog");
    assert.deepStrictEqual(
      inv.models.map((m) => [m.name, m.versions.map((v) => [v.version, v.stage ?? null, v.aliases, v.status, v.problem ?? null])]),
      [[UC_MODEL, [["1", null, ["champion"], "READY", null]]]],
    );
    ucVersion = inv.models[0].versions[0];
    assert.match(ucVersion.storageLocation!, /^s3:\/\/uc-metastore-root\/.+\/versions\//);
    // The hashes are the fixture's own, computed by the Python fixture before anything was logged.
    assert.deepStrictEqual(
      ucVersion.manifest,
      [...envs.fixture.files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    );
    assert.strictEqual(ucVersion.tags.task, "text-classification", "the source version's tags came along");
    // The runs are the workspace's: the same endpoint lists the migrated experiment.
    assert.strictEqual(inv.experiments.find((e) => e.name === EXPERIMENT)?.runs.length, 3);

    const text = await cli(inventoryCli, ["--from", envs.uc!.uri, "--model", UC_MODEL.toUpperCase()], env);
    assert.match(text.out, /registered models: 1 \(1 versions\) in a Unity Catalog model registry/);
    assert.match(text.out, /main\.quant\.quant-alpha-transformer\s+v1\s+None\s+champion/);
  });

  it("verify-move workspace -> Unity Catalog is identical (exit 0) with --uc-schema and the migration's --map-stage", async () => {
    const args = ["--from", envs.old.uri, "--to", envs.uc!.uri, "--uc-schema", LOCAL_UC_SCHEMA];
    const r = await cli(verifyMoveCli, [...args, "--map-stage", "Production=champion"], env);
    assert.strictEqual(r.code, 0, r.out);
    assert.match(r.out, /checked 1 model versions, 3 runs/);
    assert.match(r.out, /identical: every model version, run and notebook of the source is in the target, byte for byte/);
    assert.doesNotMatch(r.out, /not carried/);

    // Without the mapping the stage cannot be checked as an alias: it is listed as not carried, not hidden.
    const unmapped = await cli(verifyMoveCli, args, env);
    assert.strictEqual(unmapped.code, 0, unmapped.out);
    assert.match(
      unmapped.out,
      /not carried .*\n {2}model 'quant-alpha-transformer' version 1 -> 'main\.quant\.quant-alpha-transformer' version 1: stage Production: a Unity Catalog model registry cannot hold it \(map it to an alias with --map-stage\)/,
    );

    // A mapping the migration did not use: the alias it expects is missing.
    const other = await cli(verifyMoveCli, [...args, "--map-stage", "Production=prod", "--json"], env);
    assert.strictEqual(other.code, 3);
    assert.deepStrictEqual(
      (JSON.parse(other.out) as { differences: { detail: string }[] }).differences.map((d) => d.detail),
      ["alias 'prod' is missing (the source's stage Production, by --map-stage Production=prod)"],
    );
    assert.ok(!r.out.includes(envs.token) && !unmapped.out.includes(envs.token) && !other.out.includes(envs.token));

    // The same by an explicit name, as for a model migrated under another name; a wrong schema names what it expected.
    const byMap = await cli(
      verifyMoveCli,
      ["--from", envs.old.uri, "--to", envs.uc!.uri, "--model-map", `${MODEL}=${UC_MODEL}`, "--map-stage", "Production=champion"],
      env,
    );
    assert.strictEqual(byMap.code, 0, byMap.out);
    const wrong = await cli(verifyMoveCli, [...args.slice(0, 4), "--uc-schema", "main.other", "--map-stage", "Production=champion"], env);
    assert.strictEqual(wrong.code, 3, wrong.out);
    assert.match(
      wrong.out,
      /no version of 'main\.other\.quant-alpha-transformer' \(its name there by --uc-schema main\.other\) in .* was migrated from it$/m,
    );
  });

  it("section 6's commands of the runbook run as written against profiles old and new (new with Unity Catalog)", async () => {
    const commands = runbookCommands(fs.readFileSync(RUNBOOK, "utf8"), "unity-catalog");
    assert.ok(commands.length >= 4 && commands.some((c) => c.startsWith("npm run verify-move")), commands.join("\n"));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "runbook-uc-"));
    const cfg = path.join(dir, "databrickscfg");
    fs.writeFileSync(
      cfg,
      `[old]\nhost = ${envs.old.api.url}\ntoken = ${envs.token}\n[new]\nhost = ${envs.new.api.url}\ntoken = ${envs.token}\n`,
    );
    try {
      for (const c of commands) {
        const r = await runAsync("bash", ["-c", asBuilt(c)], {
          cwd: PROJECT_DIR,
          env: { ...process.env, ...envs.uc!.env, DATABRICKS_CONFIG_FILE: cfg, DATABRICKS_TOKEN: "" },
        });
        assert.strictEqual(r.status, 0, `${c}\nexit ${r.status}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
        if (c.startsWith("npm run verify-move")) assert.match(r.stdout, /identical: every model version, run and notebook/);
        if (c.includes(" migrate ") && !c.includes("--dry-run"))
          assert.match(r.stdout, /already migrated: adopted main\.quant\.quant-alpha-transformer version 1/);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a model file changed in the store behind Unity Catalog's back is a difference (exit 3) naming the file", async () => {
    const loc = parseStorageLocation(ucVersion.storageLocation!);
    assert.strictEqual(loc.kind, "s3");
    if (loc.kind !== "s3") return;
    const s3 = new S3Client({
      endpoint: moto.endpoint,
      region: moto.region,
      forcePathStyle: true,
      credentials: { accessKeyId: moto.accessKeyId, secretAccessKey: moto.secretAccessKey },
    });
    const key = `${loc.prefix}/model/config.json`;
    try {
      const original = Buffer.from(
        await (await s3.send(new GetObjectCommand({ Bucket: loc.bucket, Key: key }))).Body!.transformToByteArray(),
      );
      // Same size, other bytes: only the hash can tell.
      const changed = Buffer.from(original.toString("utf8").replace('"hidden_size": 768', '"hidden_size": 512'));
      assert.strictEqual(changed.length, original.length);
      assert.notStrictEqual(sha(changed), sha(original));
      await s3.send(new PutObjectCommand({ Bucket: loc.bucket, Key: key, Body: changed }));
    } finally {
      s3.destroy();
    }
    const r = await cli(
      verifyMoveCli,
      ["--from", envs.old.uri, "--to", envs.uc!.uri, "--uc-schema", LOCAL_UC_SCHEMA, "--map-stage", "Production=champion"],
      env,
    );
    assert.strictEqual(r.code, 3, r.out);
    assert.match(
      r.out,
      /1 difference\(s\):\n {2}\[model-version\] model 'quant-alpha-transformer' version 1 -> 'main\.quant\.quant-alpha-transformer' version 1: 'model\/config\.json' differs \(sha256 [0-9a-f]{12}…, the source's [0-9a-f]{12}…\)$/,
    );
  });
});

/** The exports `local-env` printed, as a shell would set them. */
function parseExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^export (\w+)=('(?:[^']|'\\'')*'|\S*)$/gm))
    out[m[1]] = m[2].startsWith("'") ? m[2].slice(1, -1).replace(/'\\''/g, "'") : m[2];
  return out;
}

describe("local-env --unity-catalog: a Unity Catalog target to rehearse the move on, started and stopped as a user does", function () {
  this.timeout(900000);
  let child: ChildProcess | undefined;
  let stdout = "";
  let stderr = "";
  let exited: Promise<number | null>;
  /** The built CLI (rebuilt first only when a source is newer than the build). */
  const builtCli = (args: string[]): [string, string[]] => [process.execPath, ["bin/quant-platform.js", ...args]];

  before(async () => {
    const [cmd, args] = builtCli(["local-env", "--unity-catalog", "--size-mb", "1"]);
    child = spawn(cmd, args, { cwd: PROJECT_DIR, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    exited = new Promise((r) => child!.once("exit", (code) => r(code)));
    const deadline = Date.now() + 600000;
    while (!/paste the lines above/.test(stderr)) {
      if (child.exitCode !== null) throw new Error(`local-env exited ${child.exitCode} before it was ready:\n${stderr.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`local-env was not ready in time:\n${stderr.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    // A test that failed before stopping it: stop it the way a user does, so it stops its emulator too.
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child?.kill("SIGKILL"), 60000);
      await exited;
      clearTimeout(timer);
    }
  });

  it("--help documents the option", async () => {
    const [cmd, args] = builtCli(["local-env", "--help"]);
    const r = await runAsync(cmd, args, { cwd: PROJECT_DIR });
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /--unity-catalog .*Unity Catalog model registry \(catalog main, schema quant\)/s);
    assert.match(r.stdout, /--store +the emulator: azure \(Azurite, the default\) or s3/);
  });

  it("prints FROM, TO, TO_UC and the store endpoint; pasted into a shell, the runbook's Unity Catalog walk-through passes", async () => {
    const vars = parseExports(stdout);
    assert.deepStrictEqual(Object.keys(vars).sort(), [
      "DATABRICKS_CONFIG_FILE",
      "DATABRICKS_TOKEN",
      "FROM",
      "STORAGE_AZURE_BLOB_ENDPOINT",
      "TO",
      "TO_UC",
    ]);
    assert.match(vars.TO_UC, /^databricks-uc\+http:\/\/127\.0\.0\.1:\d+$/);
    assert.strictEqual(
      vars.TO_UC,
      `databricks-uc+${vars.TO.replace(/^databricks\+/, "")}`,
      "the new workspace, with its Unity Catalog registry",
    );
    assert.match(vars.STORAGE_AZURE_BLOB_ENDPOINT, /^http:\/\/127\.0\.0\.1:\d+\/\{account\}$/);
    assert.match(stderr, /models go in as main\.quant\.<model>/);

    // The exports pasted into a shell, then the runbook's Unity Catalog walk-through as written.
    const script = [stdout.trim(), asBuilt(walkthrough(fs.readFileSync(RUNBOOK, "utf8"), "uc-walkthrough"))].join("\n");
    const r = await runAsync("bash", ["-c", script], {
      cwd: PROJECT_DIR,
      env: { ...process.env, DATABRICKS_TOKEN: "", STORAGE_AZURE_BLOB_ENDPOINT: "" },
    });
    assert.strictEqual(r.status, 0, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    assert.match(r.stdout, /3 migrated, 0 resumed, 0 already migrated, 0 conflicts, 0 failed/);
    assert.match(r.stdout, /migrated quant-alpha-transformer version 1 -> main\.quant\.quant-alpha-transformer version 1/);
    assert.match(r.stdout, /stage Production became alias 'champion'/);
    assert.match(r.stdout, /main\.quant\.quant-alpha-transformer\s+v1\s+None\s+champion/);
    assert.match(r.stdout, /identical: every model version, run and notebook of the source is in the target, byte for byte/);
    assert.ok(
      !r.stdout.includes(vars.DATABRICKS_TOKEN) && !r.stderr.includes(vars.DATABRICKS_TOKEN),
      "the token never appears in the output",
    );
  });

  it("Ctrl-C stops it cleanly: exit 0, and neither the workspaces nor Azurite answer any more", async () => {
    const vars = parseExports(stdout);
    child!.kill("SIGINT");
    assert.strictEqual(await exited, 0, stderr.slice(-3000));
    for (const url of [
      vars.FROM.replace(/^databricks\+/, ""),
      vars.TO.replace(/^databricks\+/, ""),
      vars.STORAGE_AZURE_BLOB_ENDPOINT.replace("/{account}", ""),
    ])
      await assert.rejects(fetch(url, { signal: AbortSignal.timeout(5000) }), `${url} still answers`);
  });
});
