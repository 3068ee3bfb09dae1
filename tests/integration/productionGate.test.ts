/**
 * The production gate on a Databricks workspace registry (the Databricks test server over a real MLflow server),
 * with a token per member: the consumer's validation is written by MLflow's own Python client through
 * `quant-platform validate`, as a consumer would write it, and the sign-off and the approval are transition
 * requests raised with the signer's and the approver's own tokens. Each version reaches quant_stg as the shipped
 * flow brings it there: registered in quant by its author, copied by the promotion with the platform's token. The
 * genuine path passes; every other is refused by name, listing what is missing, and nothing reaches the target.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { signOffCli } from "../../cli/signOff";
import { validateCli } from "../../cli/validate";
import { mlflowClient, tagMap } from "../../clients/mlflow";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { MlflowServer, python } from "../../devenv/localMlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { MigrationGuard } from "../../migration/guard";
import { migrate } from "../../migration/modelVersion";
import { TAG, VALIDATION_TAG } from "../../migration/provenance";
import { approverEmails, validationRequirement } from "../../plan/accessPlan";
import { shippedModel } from "../fixtures/config";
import { liveServers } from "../fixtures/liveServers";
import { memberEnv, mlflowAs } from "../fixtures/member";
import { refusedWithoutWrites } from "../fixtures/targetSnapshot";

const PLATFORM = "platform@quantfirm.example";
const ANA = "ana.ruiz@quantfirm.example"; // developer: the versions' author
const BEN = "ben.okafor@quantfirm.example"; // developer: no signer
const DARA = "dara.singh@quantfirm.example"; // approver
const GRACE = "grace.lee@quantfirm.example"; // consumer
const HIRO = "hiro.tanaka@quantfirm.example"; // consumer
const TOKEN: Record<string, string> = Object.fromEntries(
  [PLATFORM, ANA, BEN, DARA, GRACE, HIRO].map((u) => [u, `dapi-${u.split("@")[0].replace(".", "-")}`]),
);
const FAST_RETRY = { attempts: 3, backoffMs: 20 };

describe("the production gate: a passed validation of these bytes by a signer, the signer's sign-off, and an approval", function () {
  this.timeout(900000);
  const stamp = Date.now();
  const model = shippedModel();
  let a: MlflowServer;
  let b: MlflowServer;
  /** quant_stg, over server a; quant (where members train and register), over server b. */
  let dbx: DatabricksTestServer;
  let quant: DatabricksTestServer;
  let work: string;
  let good: string;
  let shifted: string;
  let runs: { run_id: string; precision: number }[];
  const experiment = `/Teams/quant/experiments/gate-${stamp}`;
  const req = (name: string) => ({
    ...validationRequirement(model, "quant-alpha-transformer", "quant_stg", "quant_lr")!,
    experiment: `/v/${name}`,
  });
  const guard = (name: string): MigrationGuard => ({
    flow: model.flow,
    fromEnv: "quant_stg",
    toEnv: "quant_lr",
    production: true,
    approvers: approverEmails(model),
    members: model.roster.map((m) => ({ email: m.email, gitUsername: m.gitUsername })),
    validation: req(name),
    origins: [resolveEndpoint(`databricks+${quant.url}`, "from", { DATABRICKS_TOKEN: TOKEN[PLATFORM] })],
  });

  const call = (as: string, method: string, p: string, body?: Record<string, unknown>) => mlflowAs(dbx.url, TOKEN[as], method, p, body);
  /**
   * A version of `name` in quant_stg as the shipped flow makes it: `author` registers one of the training runs in
   * quant with their own token, an approver moves it to Staging, the promotion (the engine, with the platform's
   * token) copies it to quant_stg, and a release manager moves the copy to Production there.
   */
  async function version(name: string, author: string, run: string): Promise<string> {
    const inQuant = (as: string, method: string, p: string, body?: Record<string, unknown>) =>
      mlflowAs(quant.url, TOKEN[as], method, p, body);
    const info = (await inQuant(PLATFORM, "GET", `runs/get?run_id=${run}`)).run.info;
    await inQuant(author, "POST", "registered-models/create", { name }).catch(() => undefined);
    const v = (await inQuant(author, "POST", "model-versions/create", { name, source: `${info.artifact_uri}/model`, run_id: run }))
      .model_version.version as string;
    await inQuant(DARA, "POST", "databricks/model-versions/transition-stage", {
      name,
      version: v,
      stage: "Staging",
      archive_existing_versions: false,
    });
    const copied = await migrate({
      from: resolveEndpoint(`databricks+${quant.url}`, "from", { DATABRICKS_TOKEN: TOKEN[PLATFORM] }),
      to: resolveEndpoint(`databricks+${dbx.url}`, "to", { DATABRICKS_TOKEN: TOKEN[PLATFORM] }),
      model: name,
      select: { version: v },
      retry: FAST_RETRY,
      guard: { ...guard(name), fromEnv: "quant", toEnv: "quant_stg", production: false },
    });
    await call(PLATFORM, "POST", "databricks/model-versions/transition-stage", {
      name,
      version: copied.targetVersion!,
      stage: "Production",
      archive_existing_versions: false,
    });
    return copied.targetVersion!;
  }
  const envOf = (as: string): NodeJS.ProcessEnv => memberEnv(TOKEN[as]);
  async function validate(as: string, name: string, v: string, data: string): Promise<{ code: number; runId: string }> {
    let out = "";
    const code = await validateCli(
      [
        "--model",
        name,
        "--version",
        v,
        "--from",
        `databricks+${dbx.url}`,
        "--data",
        data,
        "--label",
        "label",
        "--experiment",
        `/v/${name}`,
        "--json",
      ],
      envOf(as),
      (s) => (out += s),
    );
    return { code, runId: JSON.parse(out).run_id };
  }
  async function signOff(as: string, name: string, v: string, runId: string): Promise<void> {
    const args = ["--model", name, "--version", v, "--run", runId, "--from", `databricks+${dbx.url}`, "--to-env", "quant_lr"];
    assert.strictEqual(await signOffCli(args, envOf(as), () => undefined), 0);
  }
  const approve = (name: string, v: string) =>
    call(DARA, "POST", "transition-requests/create", { name, version: v, stage: "Production", comment: "approved for quant_lr" });
  const promote = (name: string, v: string) =>
    migrate({
      from: resolveEndpoint(`databricks+${dbx.url}`, "from", { DATABRICKS_TOKEN: TOKEN[PLATFORM] }),
      to: resolveEndpoint(b.url, "to", {}),
      model: name,
      select: { version: v },
      toModel: `${name}-lr`,
      retry: FAST_RETRY,
      guard: guard(name),
    });
  /** The refusal's message; quant_lr is left exactly as it was (no run, artifact, migration entry or version). */
  const refused = async (name: string, v: string) =>
    (await refusedWithoutWrites(resolveEndpoint(b.url, "to", {}), () => promote(name, v), "quant_lr")).message;

  before(async () => {
    ({ a, b } = await liveServers());
    work = fs.mkdtempSync(path.join(os.tmpdir(), "gate-"));
    const info = path.join(work, "trained.json");
    python("transformer_fixture.py", [
      ...["--tracking-uri", b.url, "--model", "unused", "--experiment", experiment],
      ...["--size-mb", "0.3", "--shards", "1", "--all-iterations", "--no-register", "--out", info],
    ]);
    runs = (JSON.parse(fs.readFileSync(info, "utf8")) as { runs: typeof runs }).runs;
    good = path.join(work, "ticks-2024.csv");
    shifted = path.join(work, "ticks-2025.csv");
    python("historical_sample.py", ["--out", good, "--rows", "300", "--seed", "5"]);
    python("historical_sample.py", ["--out", shifted, "--rows", "300", "--seed", "5", "--shift", "0.6"]);
    dbx = new DatabricksTestServer(a.url, TOKEN[PLATFORM], "backend", PLATFORM);
    quant = new DatabricksTestServer(b.url, TOKEN[PLATFORM], "backend", PLATFORM);
    for (const w of [dbx, quant]) {
      for (const [who, token] of Object.entries(TOKEN)) w.addUser(token, who);
      await w.start();
    }
  });
  after(async () => {
    await dbx?.stop();
    await quant?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("refuses a version with only an approval: no validation and no sign-off, both named with how to provide them", async () => {
    const name = `gate-none-${stamp}`;
    const v = await version(name, ANA, runs[1].run_id);
    await approve(name, v);
    const m = await refused(name, v);
    assert.match(
      m,
      new RegExp(
        `refusing to promote model '${name}' version ${v} into production environment quant_lr: no passed validation of model '${name}' version ${v} by a signer \\(${GRACE}, ${HIRO}\\)`,
      ),
    );
    assert.match(m, /quant-platform validate --model/);
    assert.match(m, /no sign-off: no transition request to Production .* by a signer other than the author ana\.ruiz@quantfirm\.example/);
    assert.match(m, /quant-platform sign-off --model/);
    assert.doesNotMatch(m, /by an approving member other than/, "the approval counted");
    assert.match(m, /2 pieces of evidence missing; nothing was copied/);
  });

  it("refuses a validation by a non-signer, a failed validation, and one of another version, each by name", async () => {
    const name = `gate-bad-${stamp}`;
    const v1 = await version(name, ANA, runs[1].run_id);
    const v2 = await version(name, ANA, runs[2].run_id);
    await approve(name, v1);
    const byBen = await validate(BEN, name, v1, good);
    assert.strictEqual(byBen.code, 0, "ben's validation passed, but he is no signer");
    const failed = await validate(GRACE, name, v1, shifted);
    assert.strictEqual(failed.code, 3, "below the threshold");
    const other = await validate(GRACE, name, v2, good);
    assert.strictEqual(other.code, 0);
    await signOff(GRACE, name, v2, other.runId);
    const m = await refused(name, v1);
    assert.match(m, new RegExp(`run ${byBen.runId} \\(by ${BEN}, not a member of a signer role\\)`));
    assert.match(m, new RegExp(`run ${failed.runId} \\(failed: precision 0\\.\\d+ < 0\\.8\\)`));
    assert.match(m, new RegExp(`run ${other.runId} \\(of version ${v2}, not ${v1}, of other bytes`));
  });

  it("a forged validation (tags written by hand by a non-signer) and a forged approval tag are not evidence", async () => {
    const name = `gate-forged-${stamp}`;
    const v = await version(name, ANA, runs[1].run_id);
    await approve(name, v);
    const exp = await call(ANA, "POST", "experiments/create", { name: `/v/${name}` });
    const run = (await call(ANA, "POST", "runs/create", { experiment_id: exp.experiment_id, user_id: GRACE, start_time: Date.now() })).run;
    const claims: Record<string, string> = {
      [VALIDATION_TAG.model]: name,
      [VALIDATION_TAG.version]: v,
      [VALIDATION_TAG.metric]: "precision",
      [VALIDATION_TAG.threshold]: "0.8",
      [VALIDATION_TAG.value]: "0.99",
      [VALIDATION_TAG.verdict]: "passed",
      [VALIDATION_TAG.manifestDigest]: "0".repeat(64),
      "mlflow.user": GRACE,
    };
    await call(ANA, "POST", "runs/log-batch", {
      run_id: run.info.run_id,
      tags: Object.entries(claims).map(([key, value]) => ({ key, value })),
    });
    await call(ANA, "POST", "runs/update", { run_id: run.info.run_id, status: "FINISHED", end_time: Date.now() });
    await call(ANA, "POST", "model-versions/set-tag", { name, version: v, key: "quant.approval.approved_by", value: DARA });
    const m = await refused(name, v);
    assert.match(
      m,
      new RegExp(`run ${run.info.run_id} \\(by ${ANA}, not a member of a signer role, records no hash of its data`),
      "the workspace recorded who created it",
    );
    assert.match(m, /the tag quant\.approval\.approved_by=dara\.singh@quantfirm\.example is not evidence/);
  });

  it("the version's author neither validates nor signs off, even from a signer role; another signer does both", async () => {
    const name = `gate-author-${stamp}`;
    const v = await version(name, GRACE, runs[1].run_id);
    await approve(name, v);
    const own = await validate(GRACE, name, v, good);
    assert.strictEqual(own.code, 0);
    await signOff(GRACE, name, v, own.runId);
    const m = await refused(name, v);
    assert.match(
      m,
      new RegExp(`not counted: run ${own.runId} \\(by ${GRACE}, the version's author \\(an author never validates their own model\\)\\)`),
    );
    assert.match(m, new RegExp(`no sign-off: .*not counted: ${GRACE} \\(the version's author\\)`));
    const hiros = await validate(HIRO, name, v, good);
    assert.strictEqual(hiros.code, 0);
    await signOff(HIRO, name, v, hiros.runId);
    const r = await promote(name, v);
    assert.deepStrictEqual([r.validation?.runId, r.signOff?.signer], [hiros.runId, HIRO]);
  });

  it("the genuine path passes, and the target version records the validation run, its creator, result and data, the sign-off and the approval", async () => {
    const name = `gate-genuine-${stamp}`;
    const v = await version(name, ANA, runs[1].run_id);
    const ok = await validate(GRACE, name, v, good);
    assert.strictEqual(ok.code, 0);
    await signOff(GRACE, name, v, ok.runId);
    await approve(name, v);
    const r = await promote(name, v);
    assert.deepStrictEqual(
      [r.validation?.runId, r.validation?.by, r.signOff?.signer, r.approval?.approver],
      [ok.runId, GRACE, GRACE, DARA],
    );
    const target = await mlflowClient(resolveEndpoint(b.url, "to", {})).getModelVersion(`${name}-lr`, r.targetVersion!);
    const t = tagMap(target.tags);
    assert.strictEqual(t[TAG.validationRun], ok.runId);
    assert.strictEqual(t[TAG.validatedBy], GRACE);
    assert.match(t[TAG.validationResult], /^precision 0\.\d+ >= 0\.8$/);
    assert.match(t[TAG.validationData], /^ticks-2024\.csv sha256:[0-9a-f]{64}$/);
    assert.strictEqual(t[TAG.signedOffBy], GRACE);
    assert.strictEqual(t[TAG.approvedBy], DARA);
    assert.strictEqual(t[TAG.manifestDigest], r.validation?.manifestDigest, "the bytes promoted are the bytes validated");
  });

  it("a validation of other bytes lets nothing through: the version's files changed after it, and nothing is registered", async () => {
    const name = `gate-bytes-${stamp}`;
    const v = await version(name, ANA, runs[0].run_id);
    const ok = await validate(GRACE, name, v, good);
    assert.strictEqual(ok.code, 0);
    await signOff(GRACE, name, v, ok.runId);
    await approve(name, v);
    // One byte of the version's files changes after the validation (a re-upload, a corrupted store).
    const copyRun = (await call(PLATFORM, "GET", `model-versions/get?name=${name}&version=${v}`)).model_version.run_id as string;
    const info = (await call(PLATFORM, "GET", `runs/get?run_id=${copyRun}`)).run.info;
    const prefix = String(info.artifact_uri).replace(/^dbfs:\/databricks\/mlflow-tracking\//, "");
    const put = await fetch(`${a.url}/api/2.0/mlflow-artifacts/artifacts/${prefix}/model/requirements.txt`, {
      method: "PUT",
      body: "mlflow\n# changed\n",
    });
    assert.ok(put.ok, `${put.status}`);
    const m = await refused(name, v);
    assert.match(m, new RegExp(`run ${ok.runId} \\(of other bytes \\(manifest digest [0-9a-f]{12}, the version's is [0-9a-f]{12}\\)\\)`));
  });
});
