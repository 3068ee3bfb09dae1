/**
 * `status` read live from a Databricks workspace registry (the Databricks test server over a real MLflow
 * server), with a token per member: the consumer's validation run, the consumer's sign-off and the approver's
 * request are made with their own tokens, and the report judges each as the production gate does and says
 * what the version still lacks at every step.
 */
import * as assert from "assert";
import { statusCli } from "../../cli/status";
import { runCommand } from "../../cli/command";
import { command as statusCommand } from "../../cli/status";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { resolveEndpoint } from "../../migration/endpoint";
import { SELECTION_TAG, signOffComment, TAG, VALIDATION_TAG } from "../../migration/provenance";
import { judgeStatus, readStatus, StatusReport, statusScope, StatusScope } from "../../migration/status";
import { shippedModel } from "../fixtures/config";
import { liveServers } from "../fixtures/liveServers";
import { mlflowAs } from "../fixtures/member";

const PLATFORM = "platform@quantfirm.example";
const ANA = "ana.ruiz@quantfirm.example"; // developer: the version's author
const BEN = "ben.okafor@quantfirm.example"; // developer: no signer
const DARA = "dara.singh@quantfirm.example"; // approver
const GRACE = "grace.lee@quantfirm.example"; // consumer: a signer
const TOKEN: Record<string, string> = Object.fromEntries(
  [PLATFORM, ANA, BEN, DARA, GRACE].map((u) => [u, `dapi-status-${u.split("@")[0].replace(".", "-")}`]),
);
const DIGEST = "4f".repeat(32);

describe("status: a version's lifecycle read live, judged as the production gate judges it", function () {
  this.timeout(300000);
  const stamp = Date.now();
  const name = `status-${stamp}`;
  let dbx: DatabricksTestServer;
  let scope: StatusScope;

  const call = (as: string, method: string, p: string, body?: Record<string, unknown>) => mlflowAs(dbx.url, TOKEN[as], method, p, body);
  const from = () => resolveEndpoint(`databricks+${dbx.url}`, "from", { DATABRICKS_TOKEN: TOKEN[PLATFORM] });
  const status = async (): Promise<StatusReport> => judgeStatus(await readStatus(from(), name, scope), scope);
  const only = (r: StatusReport) => {
    assert.deepStrictEqual(
      r.versions.map((v) => v.version),
      ["1"],
      "the archived version is not shown",
    );
    return r.versions[0];
  };
  /** A finished validation run logged through the REST API with `as`'s token, as MLflow's client logs it. */
  async function validationRun(as: string, value: number): Promise<string> {
    const exp = await call(
      as,
      "GET",
      `experiments/get-by-name?experiment_name=${encodeURIComponent(scope.promotions[0].validation!.experiment)}`,
    )
      .then((x) => x.experiment.experiment_id as string)
      .catch(
        async () => (await call(as, "POST", "experiments/create", { name: scope.promotions[0].validation!.experiment })).experiment_id,
      );
    const run = (await call(as, "POST", "runs/create", { experiment_id: exp, start_time: Date.now() })).run.info.run_id as string;
    const tags = {
      [VALIDATION_TAG.model]: name,
      [VALIDATION_TAG.version]: "1",
      [VALIDATION_TAG.manifestDigest]: DIGEST,
      [VALIDATION_TAG.dataSha256]: "9c".repeat(32),
      [VALIDATION_TAG.dataName]: "ticks-2024.csv",
      [VALIDATION_TAG.metric]: "precision",
      [VALIDATION_TAG.threshold]: "0.8",
      [VALIDATION_TAG.value]: String(value),
      [VALIDATION_TAG.verdict]: value >= 0.8 ? "passed" : "failed",
      [VALIDATION_TAG.predictions]: "model",
      "mlflow.user": as,
    };
    await call(as, "POST", "runs/log-batch", {
      run_id: run,
      tags: Object.entries(tags).map(([key, v]) => ({ key, value: v })),
      metrics: [{ key: "precision", value, timestamp: Date.now(), step: 0 }],
    });
    await call(as, "POST", "runs/update", { run_id: run, status: "FINISHED", end_time: Date.now() });
    return run;
  }

  before(async () => {
    const { b } = await liveServers();
    dbx = new DatabricksTestServer(b.url, TOKEN[PLATFORM], "memory", PLATFORM);
    for (const [who, token] of Object.entries(TOKEN)) dbx.addUser(token, who);
    await dbx.start();
    const s = statusScope(shippedModel(), "quant-alpha-transformer", "quant_stg");
    // The shipped model's scope, with the validation experiment of this test's model.
    scope = {
      ...s,
      promotions: s.promotions.map((p) => ({
        ...p,
        validation: { ...p.validation!, experiment: `/Teams/quant/experiments/validation/${name}` },
      })),
    };
    // Two versions by ana, migrated here (provenance tags), the second archived.
    const exp = await call(ANA, "POST", "experiments/create", { name: `/Users/${ANA}/${name}` });
    await call(ANA, "POST", "registered-models/create", { name });
    for (const v of ["1", "2"]) {
      const run = await call(ANA, "POST", "runs/create", { experiment_id: exp.experiment_id, start_time: Date.now() });
      await call(ANA, "POST", "model-versions/create", { name, source: `${run.run.info.artifact_uri}/model`, run_id: run.run.info.run_id });
      const tags = {
        [TAG.manifestDigest]: DIGEST,
        [TAG.sourceHost]: "https://quant.cloud.databricks.com",
        [TAG.sourceModel]: "quant-alpha-transformer",
        [TAG.sourceVersion]: String(6 + Number(v)),
        [SELECTION_TAG.metric]: "precision",
        [SELECTION_TAG.mode]: "max",
        [SELECTION_TAG.value]: "0.91",
        [SELECTION_TAG.rank]: "1",
        [SELECTION_TAG.candidates]: "3",
      };
      for (const [key, value] of Object.entries(tags))
        await call(PLATFORM, "POST", "model-versions/set-tag", { name, version: v, key, value });
    }
    await call(PLATFORM, "POST", "databricks/model-versions/transition-stage", {
      name,
      version: "1",
      stage: "Staging",
      archive_existing_versions: false,
    });
    await call(PLATFORM, "POST", "databricks/model-versions/transition-stage", {
      name,
      version: "2",
      stage: "Archived",
      archive_existing_versions: false,
    });
  });
  after(() => dbx?.stop());

  it("quant_stg: nothing -> validated -> signed off -> approved -> ready, each read live and judged by name", async () => {
    const lacks = (s: string) => `${s}, for pulumi up of quant_lr`;
    const move = "moving to stage Production (the promotion to quant_lr takes the version in stage Production; leave the requests open)";

    let v = only(await status());
    assert.deepStrictEqual([v.stage, v.authors, v.manifestDigest, v.validations], ["Staging", [ANA], DIGEST, []]);
    assert.deepStrictEqual(v.source, { host: "https://quant.cloud.databricks.com", model: "quant-alpha-transformer", version: "7" });
    assert.deepStrictEqual(v.selection, { metric: "precision", mode: "max", value: "0.91", rank: "1", candidates: "3" });
    assert.strictEqual(v.next, lacks(`validation by a signer; sign-off; approval by an approving member other than the author; ${move}`));

    // A passed validation by a developer and a failed one by the consumer: neither counts, each says why.
    const byBen = await validationRun(BEN, 0.9);
    const failed = await validationRun(GRACE, 0.6);
    v = only(await status());
    assert.deepStrictEqual(
      v.validations!.map((x) => [x.runId, x.by, x.counted, x.reasons]),
      [
        [byBen, BEN, false, [`by ${BEN}, not a member of a signer role`]],
        [failed, GRACE, false, ["failed: precision 0.6 < 0.8"]],
      ],
    );
    assert.match(v.next, /^validation by a signer; /);

    const passed = await validationRun(GRACE, 0.91);
    v = only(await status());
    assert.deepStrictEqual(
      v.validations!.filter((x) => x.counted).map((x) => [x.runId, x.by, x.value, x.threshold, x.dataName]),
      [[passed, GRACE, 0.91, 0.8, "ticks-2024.csv"]],
    );
    assert.strictEqual(v.next, lacks(`sign-off; approval by an approving member other than the author; ${move}`));

    // A sign-off naming the developer's run does not count; one naming the consumer's passed run does.
    await call(GRACE, "POST", "transition-requests/create", {
      name,
      version: "1",
      stage: "Production",
      comment: signOffComment(byBen, "quant_lr"),
    });
    v = only(await status());
    assert.deepStrictEqual(
      v.signOffs.map((x) => [x.user, x.counted, x.reason]),
      [[GRACE, false, `names run ${byBen}, not a counted validation`]],
    );
    const q = new URLSearchParams({ name, version: "1", stage: "Production", creator: GRACE });
    await call(GRACE, "DELETE", `transition-requests/delete?${q}`);
    await call(GRACE, "POST", "transition-requests/create", {
      name,
      version: "1",
      stage: "Production",
      comment: signOffComment(passed, "quant_lr"),
    });
    v = only(await status());
    assert.deepStrictEqual(
      v.signOffs.map((x) => [x.user, x.runIds, x.counted]),
      [[GRACE, [passed], true]],
    );
    assert.strictEqual(v.next, lacks(`approval by an approving member other than the author; ${move}`));

    // The author's own request is no approval; the approver's is.
    await call(ANA, "POST", "transition-requests/create", { name, version: "1", stage: "Production", comment: "mine" });
    v = only(await status());
    assert.deepStrictEqual(
      v.approvals.map((x) => [x.user, x.counted, x.reason]),
      [[ANA, false, "the version's author"]],
    );
    await call(DARA, "POST", "transition-requests/create", { name, version: "1", stage: "Production", comment: "approved for quant_lr" });
    v = only(await status());
    assert.deepStrictEqual(
      v.approvals.map((x) => [x.user, x.counted]),
      [
        [ANA, false],
        [DARA, true],
      ],
    );
    assert.strictEqual(v.next, lacks(move));

    await call(PLATFORM, "POST", "databricks/model-versions/transition-stage", {
      name,
      version: "1",
      stage: "Production",
      archive_existing_versions: false,
    });
    v = only(await status());
    assert.strictEqual(v.next, "ready for pulumi up of quant_lr");
  });

  it("the command prints the report, --json gives the same judgement, and an unknown model fails naming the workspace", async () => {
    const env = { DATABRICKS_TOKEN: TOKEN[PLATFORM] };
    let out = "";
    assert.strictEqual(await statusCli(["--model", name, "--from", `databricks+${dbx.url}`], env, (s) => (out += s)), 0);
    const lines = out.split("\n");
    assert.strictEqual(lines[0], `model '${name}' on databricks+${dbx.url}`);
    assert.ok(lines.includes(`  manifest     sha256 ${DIGEST}`), out);
    assert.strictEqual(lines[lines.length - 1], "  next: unknown: give --stack to judge the evidence against the project's flow");
    let json = "";
    assert.strictEqual(await statusCli(["--model", name, "--from", `databricks+${dbx.url}`, "--json"], env, (s) => (json += s)), 0);
    const report = JSON.parse(json) as StatusReport;
    assert.deepStrictEqual(
      report.versions.map((v) => [v.version, `  next: ${v.next}`]),
      [["1", lines[lines.length - 1]]],
    );
    await assert.rejects(
      statusCli(["--model", `${name}-missing`, "--from", `databricks+${dbx.url}`], env, () => undefined),
      new RegExp(`model '${name}-missing' not found on databricks\\+${dbx.url.replace(/[.]/g, "\\.")}`),
    );
    const [stdout, stderr] = [process.stdout.write, process.stderr.write];
    let err = "";
    let help = "";
    process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
    process.stdout.write = ((s: string) => ((help += s), true)) as typeof process.stdout.write;
    try {
      assert.strictEqual(await runCommand(statusCommand, ["--help"]), 0);
      assert.strictEqual(await runCommand(statusCommand, ["--model", name]), 2);
      assert.strictEqual(
        await runCommand(statusCommand, ["--model", name, "--from", "databricks+http://127.0.0.1:1", "--stack", "prod"]),
        2,
      );
    } finally {
      process.stdout.write = stdout;
      process.stderr.write = stderr;
    }
    assert.match(help, /^usage: quant-platform status --model <name> --from <workspace>/);
    assert.match(err, /--from is required/);
    assert.match(err, /unknown stack 'prod'; expected one of: /);
  });
});
