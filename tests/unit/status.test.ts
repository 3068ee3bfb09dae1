/**
 * `status` as pure functions: the scope from the config, the evidence judged as the gate judges it, what each
 * version still lacks, and the rendering (exact lines).
 */
import * as assert from "assert";
import { ModelVersion } from "../../clients/mlflow";
import { RequestActivity, ValidationRun } from "../../migration/evidence";
import { judgeStatus, renderStatus, statusScope, StatusRecords } from "../../migration/status";
import { SELECTION_TAG, signOffComment, TAG } from "../../migration/provenance";
import { shippedModel } from "../fixtures/config";

const MODEL = "quant-alpha-transformer";
const ANA = "ana.ruiz@quantfirm.example";
const BEN = "ben.okafor@quantfirm.example";
const DARA = "dara.singh@quantfirm.example";
const GRACE = "grace.lee@quantfirm.example";
const DIGEST = "d".repeat(64);
const RUN = "a".repeat(32);
const BEN_RUN = "b".repeat(32);

const version = (over: Partial<ModelVersion> = {}): ModelVersion => ({
  name: MODEL,
  version: "3",
  current_stage: "Production",
  source: "dbfs:/x",
  user_id: ANA,
  tags: [
    { key: TAG.manifestDigest, value: DIGEST },
    { key: TAG.sourceHost, value: "https://quant.cloud.databricks.com" },
    { key: TAG.sourceModel, value: MODEL },
    { key: TAG.sourceVersion, value: "7" },
    { key: SELECTION_TAG.metric, value: "precision" },
    { key: SELECTION_TAG.mode, value: "max" },
    { key: SELECTION_TAG.value, value: "0.91" },
    { key: SELECTION_TAG.rank, value: "1" },
    { key: SELECTION_TAG.candidates, value: "3" },
  ],
  ...over,
});

const validation = (over: Partial<ValidationRun> = {}): ValidationRun => ({
  runId: RUN,
  user: GRACE,
  status: "FINISHED",
  model: MODEL,
  version: "3",
  manifestDigest: DIGEST,
  dataSha256: "e".repeat(64),
  dataName: "ticks-2024.csv",
  metric: "precision",
  threshold: 0.8,
  value: 0.9,
  verdict: "passed",
  predictions: "model",
  endTime: 1,
  ...over,
});

const request = (user: string, comment?: string): RequestActivity => ({
  activity_type: "REQUESTED_TRANSITION",
  to_stage: "Production",
  user_id: user,
  creation_timestamp: 10,
  ...(comment ? { comment } : {}),
});

const records = (requests: RequestActivity[], validations: ValidationRun[], v = version()): StatusRecords => ({
  model: MODEL,
  workspace: "databricks://quant_stg",
  registry: "workspace",
  versions: [{ version: v, run: undefined, requests }],
  validations,
});

const stg = () => statusScope(shippedModel(), MODEL, "quant_stg");
const nextOf = (r: StatusRecords) => judgeStatus(r, stg()).versions[0].next;

describe("status: the lifecycle at a glance, judged as the production gate judges it", () => {
  it("quant_stg: the promotion to quant_lr is a production promotion that needs the consumers' validation", () => {
    const s = stg();
    assert.deepStrictEqual(
      s.promotions.map((p) => [p.toStack, p.production, p.validation?.signers, p.validation?.experiment]),
      [["quant_lr", true, [GRACE, "hiro.tanaka@quantfirm.example"], "/Teams/quant/experiments/validation/quant-alpha-transformer"]],
    );
    const q = statusScope(shippedModel(), MODEL, "quant");
    assert.deepStrictEqual(
      q.promotions.map((p) => [p.toStack, p.production, p.validation]),
      [["quant_stg", false, undefined]],
    );
    assert.throws(() => statusScope(shippedModel(), MODEL, "prod"), /unknown stack 'prod'; expected one of: .*quant_stg/);
  });

  it("next names what is missing, step by step: nothing, validated, signed off, approved, ready", () => {
    const lacking = (s: string) => `${s}, for pulumi up of quant_lr`;
    assert.strictEqual(
      nextOf(records([], [])),
      lacking("validation by a signer; sign-off; approval by an approving member other than the author"),
    );
    assert.strictEqual(nextOf(records([], [validation()])), lacking("sign-off; approval by an approving member other than the author"));
    const signed = [request(GRACE, signOffComment(RUN, "quant_lr"))];
    assert.strictEqual(nextOf(records(signed, [validation()])), lacking("approval by an approving member other than the author"));
    const approved = [...signed, request(DARA, "approved")];
    assert.strictEqual(nextOf(records(approved, [validation()])), "ready for pulumi up of quant_lr");
    assert.strictEqual(
      nextOf(records(approved, [validation()], version({ current_stage: "Staging" }))),
      lacking("moving to stage Production (the promotion to quant_lr takes the version in stage Production; leave the requests open)"),
    );
  });

  it("evidence that the gate refuses is listed with the gate's reasons and does not count", () => {
    const r = judgeStatus(
      records(
        [request(GRACE, signOffComment(BEN_RUN, "quant_lr")), request(ANA, "mine"), request(BEN)],
        [validation({ runId: BEN_RUN, user: BEN }), validation({ runId: "c".repeat(32), value: 0.6, verdict: "failed" })],
        version({ user_id: GRACE }),
      ),
      stg(),
    ).versions[0];
    assert.deepStrictEqual(
      r.validations!.map((x) => [x.runId.slice(0, 1), x.counted, x.reasons]),
      [
        ["b", false, [`by ${BEN}, not a member of a signer role`]],
        ["c", false, [`by ${GRACE}, the version's author (an author never validates their own model)`, "failed: precision 0.6 < 0.8"]],
      ],
    );
    assert.deepStrictEqual(
      r.signOffs.map((x) => [x.user, x.counted, x.reason]),
      [[GRACE, false, "the version's author"]],
    );
    assert.deepStrictEqual(
      r.approvals.map((x) => [x.user, x.counted, x.reason]),
      [
        [ANA, false, "not an approving member"],
        [BEN, false, "not an approving member"],
      ],
    );
    assert.match(r.next, /^validation by a signer; sign-off; approval by an approving member other than the author/);
  });

  it("a validation of other bytes does not count, and a sign-off naming it does not either", () => {
    const other = validation({ manifestDigest: "f".repeat(64) });
    const r = judgeStatus(records([request(GRACE, signOffComment(RUN, "quant_lr"))], [other]), stg()).versions[0];
    assert.deepStrictEqual(r.validations![0].reasons, [`of other bytes (manifest digest ffffffffffff, the version's is dddddddddddd)`]);
    assert.deepStrictEqual(
      r.signOffs.map((x) => [x.counted, x.reason]),
      [[false, `names run ${RUN}, not a counted validation`]],
    );
  });

  it("as the gate, a sign-off counts when it names any passed validation, an older one included", () => {
    const newer = "c".repeat(32);
    const r = judgeStatus(
      records([request(GRACE, signOffComment(RUN, "quant_lr"))], [validation({ endTime: 1 }), validation({ runId: newer, endTime: 2 })]),
      stg(),
    ).versions[0];
    assert.deepStrictEqual(
      r.validations!.map((x) => x.counted),
      [true, true],
    );
    assert.deepStrictEqual(
      r.signOffs.map((x) => [x.counted, x.reason]),
      [[true, undefined]],
    );
    assert.doesNotMatch(r.next, /sign-off/);
  });

  it("without --stack nothing is judged and next says how to judge it; in quant a None version must move to Staging", () => {
    const bare = judgeStatus(records([request(DARA)], [validation()])).versions[0];
    assert.strictEqual(bare.validations, undefined);
    assert.strictEqual(bare.next, "unknown: give --stack to judge the evidence against the project's flow");
    const quant = statusScope(shippedModel(), MODEL, "quant");
    const none = judgeStatus(records([], [], version({ current_stage: "None" })), quant).versions[0];
    assert.strictEqual(
      none.next,
      "moving to stage Staging (the promotion to quant_stg takes the version in stage Staging), for pulumi up of quant_stg",
    );
    const staged = judgeStatus(records([], [], version({ current_stage: "Staging" })), quant).versions[0];
    assert.strictEqual(staged.next, "ready for pulumi up of quant_stg");
  });

  it("renders one block per version, ending with its next line (golden)", () => {
    const r = judgeStatus(
      records(
        [request(GRACE, signOffComment(RUN, "quant_lr")), request(DARA, "approved")],
        [validation(), validation({ runId: BEN_RUN, user: BEN })],
      ),
      stg(),
    );
    assert.deepStrictEqual(renderStatus(r).split("\n"), [
      "model 'quant-alpha-transformer' on databricks://quant_stg (stack quant_stg, environment quant_stg)",
      `version 3  stage Production  by ${ANA}`,
      "  selected     precision 0.91 (max), rank 1 of 3",
      "  from         https://quant.cloud.databricks.com model 'quant-alpha-transformer' version 7",
      `  manifest     sha256 ${DIGEST}`,
      `  validation   run ${RUN} passed: precision 0.9 >= 0.8 on ticks-2024.csv (sha256 eeeeeeeeeeee) by ${GRACE}: counted`,
      `  validation   run ${BEN_RUN} passed: precision 0.9 >= 0.8 on ticks-2024.csv (sha256 eeeeeeeeeeee) by ${BEN}: not counted (by ${BEN}, not a member of a signer role)`,
      `  sign-off     ${GRACE} to Production naming run ${RUN}: counted`,
      `  approval     ${DARA} to Production: counted`,
      "  next: ready for pulumi up of quant_lr",
    ]);
  });
});
