/**
 * A `registry.flavour: unity-catalog` stack under the real engine: quant_lr keeps its models in Unity Catalog
 * (catalog `main`, schema `quant`) on moto behind a store gate with a lowered single-request limit, and
 * `pulumi up` promotes quant_stg's Production version of the transformer into it. The Databricks provider
 * declares the registered models and their grants against the test control plane; the ModelMigration dynamic
 * provider, in the process `pulumi up` starts, creates a pending version, writes its files into the storage
 * location with the S3 SDK (in parts), verifies and finalizes it. The bytes are read back with the SDK,
 * independently of the engine. Then: no perpetual diff, no drift on refresh, and destroy retires the version.
 * Skips, saying why, only when no Pulumi toolchain can be found or installed.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { readConfigSources } from "../../config/load";
import { validate } from "../../config/validate";
import { AccessPlan, buildAccessPlan } from "../../plan/accessPlan";
import { FixtureInfo, seedFixture } from "../../devenv/localMlflow";
import type { AzuriteHandle, MotoHandle } from "../../devenv/stores/cloudEmulators";
import { findPulumiToolchain, PROJECT_DIR } from "../../devenv/pulumiToolchain";
import { startStoreGate, StoreGate } from "../../devenv/stores/storeGate";
import { storeEnv, UcRegistryApi, UcRegistryEntry, UcStorage } from "../../devenv/databricks/ucRegistryApi";
import { TAG } from "../../migration/provenance";
import { aclKey } from "../../devenv/databricks/controlPlaneState";
import { emulators } from "../fixtures/cloudEmulators";
import { LIMIT, PART, readBack, sha } from "../fixtures/unityCatalog";
import { runAsync } from "../fixtures/process";
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
} from "../../devenv/localPlatform";

const MODEL = "quant-alpha-transformer";
const UC_MODEL = `main.quant.${MODEL}`;
const UC_STACK = "quant_lr";
const SOURCE = "quant_stg";

interface UcVersion {
  version: string;
  status: string;
  storage_location: string;
  run_id?: string;
  aliases?: { alias: string; version: string }[];
  tags?: { key: string; value: string }[];
}

describe("e2e: a Unity Catalog stack promotes a model under the real engine", function () {
  this.timeout(600000);
  let services: Services;
  let tmp = "";
  let dir = "";
  let runner: Runner;
  let seeded: FixtureInfo;
  let gate: StoreGate;
  let uc: UcRegistryApi;
  let azurite: AzuriteHandle;
  let moto: MotoHandle;
  const started = Date.now();
  const ok = (r: Run, what: string) => assert.strictEqual(r.code, 0, `${what} failed (exit ${r.code}):\n${r.out.slice(-8000)}`);
  const ws = (s: StackName) => services.workspaces[s];
  const plan = (): AccessPlan => buildAccessPlan(validate(readConfigSources(dir), UC_STACK), UC_STACK);
  const noUnimplemented = () => {
    for (const s of STACKS) assert.deepStrictEqual(ws(s).unimplemented, [], `workspace ${s} answered 501 (a route the test server lacks)`);
  };
  const secrets = () => [...STACKS.map((s) => ws(s).token), services.gitlabToken];
  const wsCall = <T = Record<string, unknown>>(
    s: StackName,
    method: string,
    api: string,
    params: Record<string, unknown>,
    token = ws(s).token,
  ) => mlflowCall<T>(ws(s).url, method, api, params, token, services.cert.cert);
  /** A person's own token on a workspace, so the registry records them as the one who acted (the control plane knows it too, once they are a user there). */
  const asUser = (s: StackName, user: string) => {
    const token = `dapi-${user.split("@")[0]}-${s}`;
    ws(s).mlflowApi.addUser(token, user);
    const known = ws(s).state.userByName(user);
    if (known) ws(s).state.tokens.set(token, known.id);
    return token;
  };
  /** The Unity Catalog versions of the model, each as `model-versions/get` answers it (with tags and aliases). */
  const ucVersions = async (): Promise<UcVersion[]> => {
    const listed = await wsCall<{ model_versions?: { version: string }[] }>(UC_STACK, "GET", "unity-catalog/model-versions/search", {
      filter: `name='${UC_MODEL}'`,
    });
    return Promise.all(
      (listed.model_versions ?? []).map(
        async (v) =>
          (
            await wsCall<{ model_version: UcVersion }>(UC_STACK, "GET", "unity-catalog/model-versions/get", {
              name: UC_MODEL,
              version: v.version,
            })
          ).model_version,
      ),
    );
  };
  const tag = (v: { tags?: { key: string; value: string }[] }, key: string) => v.tags?.find((t) => t.key === key)?.value;
  /** The source version's files as quant_stg's MLflow server stores them, path -> sha256. */
  const sourceTree = async () => {
    const base = ws(SOURCE).mlflow.url;
    const { run_id } = (
      await mlflowCall<{ model_version: { run_id: string } }>(base, "GET", "model-versions/get", { name: MODEL, version: seeded.version })
    ).model_version;
    const { artifact_uri } = (await mlflowCall<{ run: { info: { artifact_uri: string } } }>(base, "GET", "runs/get", { run_id })).run.info;
    const tree = await mlflowTree(ws(SOURCE).mlflow, storePath(`${artifact_uri}/model`));
    return new Map([...tree].map(([p, b]) => [p, sha(b)]));
  };

  before(async function () {
    const tc = findPulumiToolchain();
    if (!tc.pulumi) {
      console.log(`      SKIPPED e2e Unity Catalog test: ${tc.reason}`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uc-e2e-"));
    const shipped = validate(readConfigSources(PROJECT_DIR));
    const project = shipped.stacks.find((s) => s.git.ownsProjectSettings)!.git.project;
    // Started at once; whatever started is stopped in `after` (the emulators by the root hook) even if the other failed.
    const [svc, emu] = await Promise.allSettled([
      startServices(
        tmp,
        shipped.roster.map((m) => m.gitUsername),
        project,
      ),
      emulators(),
    ]);
    if (svc.status === "fulfilled") services = svc.value;
    if (svc.status === "rejected") throw svc.reason;
    if (emu.status === "rejected") throw emu.reason;
    ({ azurite, moto } = emu.value);

    // quant_lr's metastore: the Unity Catalog registry on the same host as its control plane (one metastore),
    // its storage on moto behind a gate that refuses any single request over LIMIT, as S3 refuses one over 5 GiB.
    gate = await startStoreGate("s3", moto.endpoint, LIMIT);
    const storage: UcStorage = { kind: "s3", moto, gateUrl: gate.url };
    const lr = ws(UC_STACK);
    lr.state.ucSchemas.add("main.quant");
    uc = new UcRegistryApi({ storage, state: lr.state });
    await uc.ensureStore();
    lr.mlflowApi.ucRegistry = uc;

    // The project, with quant_lr on Unity Catalog and the models living there with aliases (config/validate.ts).
    dir = path.join(tmp, "project");
    copyProject(PROJECT_DIR, dir, services);
    const stackFile = path.join(dir, `Pulumi.${UC_STACK}.yaml`);
    const stackDoc = YAML.parseDocument(fs.readFileSync(stackFile, "utf8"));
    stackDoc.setIn(["config", "quant-platform:workspace", "registry"], { flavour: "unity-catalog", catalog: "main", schema: "quant" });
    fs.writeFileSync(stackFile, stackDoc.toString());
    const projectFile = path.join(dir, "Pulumi.yaml");
    const projectDoc = YAML.parseDocument(fs.readFileSync(projectFile, "utf8"));
    const models = projectDoc.getIn(["config", "quant-platform:models", "value"]) as YAML.YAMLSeq<YAML.YAMLMap>;
    for (const m of models.items) {
      m.set("lifecycle", "aliases");
      m.set("stacks", [UC_STACK]);
      m.set("existingIn", []);
      m.set("promotions", m.get("name") === MODEL ? [{ from: SOURCE, to: UC_STACK, stage: "Production", setAlias: "champion" }] : []);
      // This scenario is about Unity Catalog's mechanics; the consumer's gate is proven by the stacks scenario
      // and tests/integration/productionGate.test.ts.
      m.delete("validation");
    }
    fs.writeFileSync(projectFile, projectDoc.toString());
    const migrations = plan().migrations;
    assert.deepStrictEqual(
      migrations.map((m) => [m.fromUri, m.fromModel, m.toUri, m.toModel, m.select.stage, m.stageAliases]),
      [[`databricks+${ws(SOURCE).url}`, MODEL, `databricks-uc+${lr.url}`, UC_MODEL, "Production", { Production: "champion" }]],
      "the plan promotes quant_stg's Production version into main.quant",
    );

    const env = pulumiEnv(tmp, tc.binDir, services.certFile, {
      // Inherited by the dynamic provider's process: where the store is, and small parts and a low limit.
      ...storeEnv(storage),
      STORAGE_PART_SIZE: String(PART),
      STORAGE_SINGLE_PUT_LIMIT: String(LIMIT),
    });
    runner = new Runner(dir, env);

    // The source: the transformer (with the signature Unity Catalog requires) logged to quant_stg's registry,
    // its shards far above the limit. The production promotion's evidence (migration/guard.ts): an approving
    // member's open transition request to Production; a release manager moves the version there.
    seeded = seedFixture(ws(SOURCE).mlflow, MODEL, { sizeMb: 2, shards: 2, signature: true, dir: tmp });
    assert.ok(
      seeded.files.some((f) => f.size > LIMIT),
      `a model file above the ${LIMIT}-byte limit: ${JSON.stringify(seeded.files.map((f) => f.size))}`,
    );
    // quant_stg's registry as its own deploy leaves it for these two (the team's rules: release managers manage
    // production versions in quant_stg). This suite deploys quant_lr alone, so the entries are put there directly,
    // out of band; the workspace refuses anyone without them (devenv/databricks/registryAcl.ts).
    const sourceId = (
      await wsCall<{ registered_model_databricks: { id: string } }>(SOURCE, "GET", "databricks/registered-models/get", { name: MODEL })
    ).registered_model_databricks.id;
    ws(SOURCE).state.acls.set(
      aclKey("registered-models", sourceId),
      ["elena.petrova@quantfirm.example", "farid.haddad@quantfirm.example"].map((name) => ({
        kind: "user" as const,
        name,
        level: "CAN_MANAGE_PRODUCTION_VERSIONS",
      })),
    );
    await wsCall(
      SOURCE,
      "POST",
      "transition-requests/create",
      { name: MODEL, version: seeded.version, stage: "Production", comment: "validated on 2015-2024" },
      asUser(SOURCE, "elena.petrova@quantfirm.example"),
    );
    await wsCall(
      SOURCE,
      "POST",
      "databricks/model-versions/transition-stage",
      { name: MODEL, version: seeded.version, stage: "Production", archive_existing_versions: false, comment: "released" },
      asUser(SOURCE, "farid.haddad@quantfirm.example"),
    );

    ok(await runner.pulumi(["stack", "init", UC_STACK]), `stack init ${UC_STACK}`);
    for (const [key, value] of [
      ["databricksToken", lr.token],
      ["migrationSourceToken", ws(SOURCE).token],
    ])
      ok(await runner.pulumi(["config", "set", "--secret", `quant-platform:${key}`, value, "-s", UC_STACK]), `config set ${key}`);
  });

  after(async function () {
    if (runner) console.log(`      steps: ${runner.timings.join(", ")}; total ${((Date.now() - started) / 1000).toFixed(0)}s`);
    if (process.env.E2E_KEEP) console.log(`      kept ${tmp}`);
    await services?.stop();
    await gate?.stop();
    if (tmp && !process.env.E2E_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("1. quant_lr: pulumi up registers main.quant's models with their grants and promotes the Production version into Unity Catalog, READY and byte-identical, the shards in parts", async () => {
    ok(await runner.pulumi(["up", "--yes", "--skip-preview", "-s", UC_STACK]), `pulumi up -s ${UC_STACK}`);
    noUnimplemented();
    const lr = ws(UC_STACK);
    const p = plan();

    // The Databricks provider's side: every model of the stack in main.quant, with exactly the planned grants.
    for (const m of p.models) assert.ok(lr.state.ucModels.get(m.name), `registered model ${m.name} exists in Unity Catalog`);
    assert.ok(p.ucGrants.length > 0 && p.ucGrants.every((g) => g.grants.length > 0), "the plan grants something on every model");
    for (const g of p.ucGrants) {
      const held = [...(lr.state.ucGrants.get(`function/${g.model}`) ?? new Map<string, Set<string>>())]
        .filter(([, privs]) => privs.size)
        .map(([principal, privs]) => `${principal}:${[...privs].sort().join("+")}`)
        .sort();
      assert.deepStrictEqual(held, g.grants.map((x) => `${x.principal}:${x.privileges.join("+")}`).sort(), `grants on ${g.model}`);
    }

    // The migration: one version, READY, with the provenance and the approval it was let through on.
    const [v, ...others] = await ucVersions();
    assert.deepStrictEqual(others, [], "one version in Unity Catalog");
    assert.strictEqual(v.status, "READY");
    assert.match(v.storage_location, /^s3:\/\/uc-metastore-root\//);
    assert.ok(tag(v, TAG.fingerprint) && !tag(v, TAG.fingerprint)!.endsWith(":retired"), "the version claims its source's fingerprint");
    assert.strictEqual(tag(v, TAG.state), "complete");
    assert.strictEqual(tag(v, TAG.sourceModel), MODEL);
    assert.strictEqual(tag(v, TAG.sourceVersion), seeded.version);
    assert.strictEqual(tag(v, TAG.approvedBy), "elena.petrova@quantfirm.example", "the approving member's open request");
    assert.strictEqual(tag(v, TAG.approvalKind), "transition-request");
    // Unity Catalog has no stages: the source's Production becomes the alias the promotion's setAlias names.
    assert.deepStrictEqual(
      (v.aliases ?? []).map((a) => [a.alias, a.version]),
      [["champion", v.version]],
      "Production became alias champion",
    );

    // The bytes, read back from moto with the S3 SDK: exactly the source version's files.
    const written = await readBack(v.storage_location, azurite, moto);
    const source = await sourceTree();
    assert.deepStrictEqual(
      [...written].map(([k, h]) => `${k} ${h}`).sort(),
      [...source].map(([k, h]) => `${k} ${h}`).sort(),
      "the files in the storage location are byte-identical to the source's",
    );
    assert.deepStrictEqual(
      [...source].map(([k, h]) => `${k} ${h}`).sort(),
      seeded.files.map((f) => `${f.path} ${f.sha256}`).sort(),
      "the source holds the fixture as logged",
    );
    // Nothing went over the limit in one request: each file above it went up in parts of STORAGE_PART_SIZE,
    // counted by the gate (so the provider's process took the limits from the environment `pulumi up` passed).
    const big = seeded.files.filter((f) => f.size > LIMIT);
    const seen = JSON.stringify(gate.counts);
    assert.strictEqual(gate.counts["create-multipart"], big.length, `one multipart upload per file above the limit; the gate saw ${seen}`);
    assert.ok(
      gate.counts["upload-part"] >= big.reduce((n, f) => n + Math.ceil(f.size / PART), 0),
      `parts of ${PART} bytes; the gate saw ${seen}`,
    );
    assert.deepStrictEqual(gate.rejected, {}, "no request over the single-request limit");
    // The write credentials were vended for that version's location, while it was pending.
    const writes = uc.issued.filter((c) => c.operation === "MODEL_VERSION_OPERATION_READ_WRITE");
    assert.ok(writes.length >= 1, "write credentials were asked for");
    assert.ok(
      writes.every((c) => c.name === UC_MODEL && c.location === v.storage_location),
      "only for that version's location",
    );
  });

  it("1b. each person reaches the Unity Catalog model as the team's rules say, acting with the Databricks SDK and their own token", async () => {
    // From Pulumi.yaml: in quant_lr every role but admin holds CAN_READ on the registry (EXECUTE in Unity Catalog),
    // reading needs USE CATALOG and USE SCHEMA too (the platform grants them), and only the model's owner (the
    // platform) sets an alias. Someone in none of the team's groups reaches nothing.
    const lr = ws(UC_STACK);
    const [v] = await ucVersions();
    const outsider = "olga.outsider@quantfirm.example";
    lr.state.addUser(outsider);
    const people = { grace: "grace.lee@quantfirm.example", ana: "ana.ruiz@quantfirm.example", olga: outsider };
    const acts = [
      { who: "grace", op: "uc-get-model", expect: UC_MODEL },
      { who: "grace", op: "uc-get-version", expect: "READY" },
      { who: "ana", op: "uc-get-version", expect: "READY" },
      { who: "grace", op: "uc-set-alias", alias: "grace-pick", expect: "refused" },
      { who: "ana", op: "uc-set-alias", alias: "champion", expect: "refused" },
      { who: "olga", op: "uc-get-model", expect: "refused" },
      { who: "olga", op: "uc-get-version", expect: "refused" },
    ];
    const ran = await runAsync(
      path.join(PROJECT_DIR, ".venv", "bin", "python"),
      [path.join(PROJECT_DIR, "devenv", "python", "act_as.py")],
      {
        input: JSON.stringify({
          host: lr.url,
          acts: acts.map(({ who, expect: _e, ...a }) => ({
            ...a,
            name: UC_MODEL,
            version: v.version,
            token: asUser(UC_STACK, people[who as keyof typeof people]),
          })),
        }),
        env: { ...process.env, REQUESTS_CA_BUNDLE: services.certFile, DATABRICKS_CONFIG_FILE: path.join(tmp, "none.cfg") },
      },
    );
    assert.strictEqual(ran.status, 0, ran.stderr);
    const out = JSON.parse(ran.stdout) as { ok: boolean; value?: unknown; refused?: boolean; error_code?: string; message?: string }[];
    const differs = acts
      .map((a, i) => ({ a, got: out[i].ok ? out[i].value : out[i].refused ? "refused" : `error ${out[i].error_code}: ${out[i].message}` }))
      .filter(({ a, got }) => got !== a.expect)
      .map(
        ({ a, got }) => `${a.who} ${a.op}${a.alias ? ` ${a.alias}` : ""}: expected ${JSON.stringify(a.expect)}, got ${JSON.stringify(got)}`,
      );
    assert.deepStrictEqual(differs, [], "acts whose outcome differs from the team's rules");
    // The refusals changed nothing: the alias is where the promotion put it.
    const [after] = await ucVersions();
    assert.deepStrictEqual(
      (after.aliases ?? []).map((a) => [a.alias, a.version]),
      [["champion", v.version]],
    );
  });

  it("2. no perpetual diff, no drift on refresh, and destroy retires the version (fingerprint retired, no aliases) before its model goes", async () => {
    ok(await runner.pulumi(["preview", "--expect-no-changes", "--diff", "-s", UC_STACK]), "pulumi preview --expect-no-changes");
    ok(await runner.pulumi(["refresh", "--yes", "--skip-preview", "--expect-no-changes", "-s", UC_STACK]), "pulumi refresh finds no drift");
    ok(await runner.pulumi(["preview", "--expect-no-changes", "-s", UC_STACK]), "pulumi preview after refresh");
    noUnimplemented();

    const [v] = await ucVersions();
    // The registry's record of the model, kept to read after the model itself is deleted with the stack.
    const entry: UcRegistryEntry = uc.entry(UC_MODEL)!;
    const runId = v.run_id!;
    ok(await runner.pulumi(["destroy", "--yes", "--skip-preview", "-s", UC_STACK]), `pulumi destroy -s ${UC_STACK}`);
    noUnimplemented();
    const retired = entry.versions.get(Number(v.version))!;
    assert.match(retired.tags.get(TAG.fingerprint) ?? "", /:retired$/, "the version's fingerprint was retired before its model went");
    assert.deepStrictEqual([...entry.aliases.keys()], [], "no alias left");
    const run = await mlflowCall<{ run: { data: { tags?: { key: string; value: string }[] } } }>(
      ws(UC_STACK).mlflow.url,
      "GET",
      "runs/get",
      { run_id: runId },
    );
    assert.match(tag(run.run.data, TAG.fingerprint) ?? "", /:retired$/, "the migration run's fingerprint was retired too");
    const lr = ws(UC_STACK).state;
    for (const m of plan().models) {
      assert.strictEqual(lr.ucModels.get(m.name), undefined, `${m.name} removed from Unity Catalog`);
      assert.strictEqual(lr.ucGrants.get(`function/${m.name}`), undefined, `no grants left on ${m.name}`);
    }

    // Secrets: neither the stack's export nor any captured output carries a token in plaintext.
    const exported = await runner.pulumi(["stack", "export", "-s", UC_STACK]);
    ok(exported, "stack export");
    for (const t of secrets()) {
      assert.ok(!exported.stdout.includes(t), "the export carries a token in plaintext");
      runner.outputs.forEach((o, i) => assert.ok(!o.includes(t), `captured output #${i} (${runner.timings[i]}) carries a token`));
      assert.ok(!fs.readFileSync(path.join(dir, `Pulumi.${UC_STACK}.yaml`), "utf8").includes(t), `Pulumi.${UC_STACK}.yaml carries a token`);
    }
    ok(await runner.pulumi(["stack", "rm", "--yes", "-s", UC_STACK]), `stack rm ${UC_STACK}`);
  });
});
