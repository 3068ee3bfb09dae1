/**
 * The model lifecycle's configuration and evidence, as pure tables: what `selection` and `validation` accept,
 * which validation runs and sign-offs count for a version, and what the plan requires of a promotion.
 */
import * as assert from "assert";
import fc from "fast-check";
import { problemsOf, proj, shipped, shippedModel } from "../fixtures/config";
import { SECRET_PLACEHOLDER } from "../../config/load";
import { validate } from "../../config/validate";
import { buildAccessPlan, validationRequirement } from "../../plan/accessPlan";
import { judgeSignOffRequests, judgeValidations, ValidationRun } from "../../migration/evidence";
import { runIdsIn, signOffComment } from "../../migration/provenance";

const model0 = (s: ReturnType<typeof shipped>) => proj(s, "models")[0];
function expectOne(problems: string[], ...patterns: RegExp[]): void {
  const hits = problems.filter((p) => patterns.every((re) => re.test(p)));
  assert.strictEqual(hits.length, 1, `expected one problem matching ${patterns.join(" and ")}; got:\n${problems.join("\n")}`);
}

describe("model lifecycle configuration", () => {
  it("the shipped config selects by precision (max, minimum 0.8) and validates in quant_stg with the consumers as signers", () => {
    const m = shippedModel().models.find((x) => x.name === "quant-alpha-transformer")!;
    assert.deepStrictEqual(m.selection, { metric: "precision", mode: "max", minimum: 0.8 });
    assert.deepStrictEqual(m.validation, { in: "quant_stg", metric: "precision", threshold: 0.8, signers: ["consumer"] });
  });
  it("rejects a signer role without the duty consume, naming the role, its duty and the consumer roles", () => {
    const s = shipped();
    model0(s).validation.signers = ["consumer", "approver"];
    expectOne(
      problemsOf(s, "quant_lr"),
      /models\[0\]\.validation\.signers\[1\] = "approver"/,
      /duty 'consume'.*role 'approver' has duty 'approve'.*roles with duty consume: consumer/,
    );
  });
  it("rejects an unknown signer role", () => {
    const s = shipped();
    model0(s).validation.signers = ["auditor"];
    expectOne(problemsOf(s), /validation\.signers\[0\] = "auditor": expected a role; expected one of: developer/);
  });
  it("rejects a validation stack the model does not pass through before production", () => {
    for (const bad of ["quant_lr", "quant"]) {
      const s = shipped();
      model0(s).validation.in = bad;
      expectOne(
        problemsOf(s, "quant"),
        new RegExp(
          `models\\[0\\]\\.validation\\.in = "${bad}": expected a stack model 'quant-alpha-transformer' passes through before production: where its production promotions start \\(quant_stg\\)`,
        ),
      );
    }
  });
  it("rejects a threshold that is not a number, and a minimum that is not a number", () => {
    const s = shipped();
    model0(s).validation.threshold = "0.8";
    model0(s).selection.minimum = "high";
    const p = problemsOf(s, "quant_stg");
    expectOne(
      p,
      /^stack quant_stg: Pulumi\.yaml quant-platform:models\[0\]\.validation\.threshold = "0\.8": expected a number the metric must reach/,
    );
    expectOne(p, /models\[0\]\.selection\.minimum = "high": expected a number/);
  });
  it("rejects signer roles that no roster member holds", () => {
    const s = shipped();
    for (const m of proj(s, "roster")) m.roles = m.roles.filter((r: string) => r !== "consumer");
    for (const m of proj(s, "roster")) if (m.roles.length === 0) m.roles = ["developer"];
    expectOne(problemsOf(s), /models\[0\]\.validation\.signers: no roster member holds a signer role \(consumer\)/);
  });
  it("rejects unknown keys and a mode other than max or min", () => {
    const s = shipped();
    model0(s).selection.mode = "best";
    model0(s).validation.approvers = ["x"];
    const p = problemsOf(s);
    expectOne(p, /selection\.mode = "best": expected one of max, min/);
    expectOne(p, /validation\.approvers: unknown key; expected one of: in, metric, threshold, signers/);
  });
  it("rejects signers who cannot log a run or request a transition in the validation stack", () => {
    const s = shipped();
    const consumer = proj(s, "roles").consumer;
    consumer.experiments = { quant: "CAN_READ", quant_stg: "CAN_READ", quant_lr: "CAN_READ" };
    consumer.registry = { quant_lr: "CAN_READ" };
    const p = problemsOf(s);
    expectOne(
      p,
      /role 'consumer' validates in quant_stg but has CAN_READ experiments access there; expected roles\.consumer\.experiments\.quant_stg: CAN_EDIT/,
    );
    expectOne(
      p,
      /role 'consumer' signs off in quant_stg but has no registry access there; expected roles\.consumer\.registry\.quant_stg: CAN_READ/,
    );
  });
  it("quant_lr: the production promotion from quant_stg requires the consumers' validation; the staging promotion does not", () => {
    const m = shippedModel();
    const lr = buildAccessPlan(m, "quant_lr").migrations.find((x) => x.model === "quant-alpha-transformer")!;
    assert.deepStrictEqual(lr.validation, {
      signers: ["grace.lee@quantfirm.example", "hiro.tanaka@quantfirm.example"],
      metric: "precision",
      threshold: 0.8,
      experiment: "/Teams/quant/experiments/validation/quant-alpha-transformer",
    });
    const stg = buildAccessPlan(m, "quant_stg").migrations.find((x) => x.model === "quant-alpha-transformer")!;
    assert.strictEqual(stg.validation, undefined);
    assert.strictEqual(validationRequirement(m, "quant-risk-scorer", "quant_stg", "quant_lr"), undefined);
  });
});

const REQ = { signers: ["grace@x", "hiro@x"], metric: "precision", threshold: 0.8, experiment: "/v/m" };
const DIGEST = "a".repeat(64);
const run = (over: Partial<ValidationRun> = {}): ValidationRun => ({
  runId: "1".repeat(32),
  user: "grace@x",
  status: "FINISHED",
  model: "m",
  version: "3",
  manifestDigest: DIGEST,
  dataSha256: "d".repeat(64),
  dataName: "ticks.parquet",
  metric: "precision",
  threshold: 0.8,
  value: 0.87,
  verdict: "passed",
  predictions: "model",
  endTime: 1,
  ...over,
});

describe("which validation runs count for a version", () => {
  const cases: [string, Partial<ValidationRun>, RegExp | undefined][] = [
    ["a passed validation by a signer of these bytes counts", {}, undefined],
    ["a validation of another version does not", { version: "2" }, /of version 2, not 3/],
    ["a validation by a non-signer does not", { user: "dara@x" }, /by dara@x, not a member of a signer role/],
    ["a validation whose creator the server did not record does not", { user: undefined }, /by \(unknown\)/],
    ["a failed validation does not", { value: 0.71, verdict: "failed" }, /failed: precision 0\.71 < 0\.8/],
    [
      "a 'passed' tag over a value below the configured threshold does not",
      { value: 0.75, threshold: 0.7 },
      /against threshold 0\.7, below the configured 0\.8.*failed: precision 0\.75/,
    ],
    [
      "a validation of other bytes does not",
      { manifestDigest: "b".repeat(64) },
      /of other bytes \(manifest digest bbbbbbbbbbbb, the version's is aaaaaaaaaaaa\)/,
    ],
    ["a validation of another metric does not", { metric: "recall" }, /measured recall, not precision/],
    ["an unfinished validation does not", { status: "RUNNING" }, /not finished \(RUNNING\)/],
  ];
  for (const [name, over, why] of cases)
    it(name, () => {
      const [j] = judgeValidations([run(over)], REQ, { version: "3", digest: DIGEST });
      assert.strictEqual(j.counted, why === undefined, j.reasons.join(", "));
      if (why) assert.match(j.reasons.join(", "), why);
    });
  it("property: a run counts only if its creator is a signer, its version and digest match and its value reaches the threshold", () => {
    fc.assert(
      fc.property(
        fc.record({
          user: fc.constantFrom("grace@x", "hiro@x", "dara@x", undefined),
          version: fc.constantFrom("2", "3"),
          value: fc.double({ min: 0, max: 1, noNaN: true }),
          digest: fc.constantFrom(DIGEST, "b".repeat(64)),
        }),
        (r) => {
          const [j] = judgeValidations([run({ user: r.user, version: r.version, value: r.value, manifestDigest: r.digest })], REQ, {
            version: "3",
            digest: DIGEST,
          });
          const expected = (r.user === "grace@x" || r.user === "hiro@x") && r.version === "3" && r.value >= 0.8 && r.digest === DIGEST;
          return j.counted === expected;
        },
      ),
    );
  });
});

describe("which sign-offs count", () => {
  const RUN = "f".repeat(32);
  const ENDED = Date.UTC(2026, 11, 1, 12);
  const req = (user: string, comment: string, at = ENDED + 60000) => ({
    activity_type: "REQUESTED_TRANSITION",
    to_stage: "Production",
    user_id: user,
    comment,
    creation_timestamp: at,
  });
  const counted = [{ runId: RUN, endTime: ENDED }];
  it("a signer's request naming the counted validation run, raised after it ended, counts", () => {
    const r = judgeSignOffRequests([req("grace@x", signOffComment(RUN, "quant_lr"))], REQ, ["ana@x"], counted);
    assert.deepStrictEqual(
      r.counted.map((c) => [c.user, c.runId]),
      [["grace@x", RUN]],
    );
  });
  it("a sign-off by the version's author does not count", () => {
    const r = judgeSignOffRequests([req("grace@x", signOffComment(RUN, "quant_lr"))], REQ, ["grace@x"], counted);
    assert.deepStrictEqual(r.counted, []);
    assert.deepStrictEqual(r.refused, ["grace@x (the version's author)"]);
  });
  it("a sign-off raised before its validation run ended does not count, naming both times", () => {
    const r = judgeSignOffRequests([req("grace@x", signOffComment(RUN, "quant_lr"), ENDED - 1000)], REQ, [], counted);
    assert.deepStrictEqual(r.counted, []);
    assert.match(
      r.refused[0],
      /^grace@x \(raised at 2026-12-01T11:59:59\.000Z, before validation run f{32} ended at 2026-12-01T12:00:00\.000Z: a sign-off counts only once the validation it names has ended\)$/,
    );
  });
  it("a sign-off of a validation whose end is unknown (still running) does not count", () => {
    const r = judgeSignOffRequests([req("grace@x", signOffComment(RUN, "quant_lr"))], REQ, [], [{ runId: RUN }]);
    assert.deepStrictEqual(r.counted, []);
  });
  it("a sign-off naming no run, or a run that does not count, does not count", () => {
    const r = judgeSignOffRequests(
      [req("grace@x", "looks good"), req("hiro@x", signOffComment("e".repeat(32), "quant_lr"))],
      REQ,
      [],
      counted,
    );
    assert.deepStrictEqual(r.counted, []);
    assert.match(
      r.refused.join("; "),
      /grace@x \(names no validation run in its comment\); hiro@x \(names run e{32}, not a counted validation\)/,
    );
  });
  it("an approver's request is not a sign-off", () => {
    const r = judgeSignOffRequests([req("dara@x", signOffComment(RUN, "quant_lr"))], REQ, [], counted);
    assert.deepStrictEqual(r.counted, []);
  });
  it("the sign-off comment names its run and is read back", () => {
    assert.deepStrictEqual(runIdsIn(signOffComment(RUN, "quant_lr")), [RUN]);
  });
});

describe("four eyes and the data in validations", () => {
  it("the author's own validation never counts, even when the author holds a signer role", () => {
    const [j] = judgeValidations([run({ user: "grace@x" })], REQ, { version: "3", digest: DIGEST }, ["Grace@x"]);
    assert.strictEqual(j.counted, false);
    assert.match(j.reasons.join(", "), /by grace@x, the version's author \(an author never validates their own model\)/);
  });
  it("a validation that records no hash of its data never counts", () => {
    const [j] = judgeValidations([run({ dataSha256: undefined })], REQ, { version: "3", digest: DIGEST });
    assert.strictEqual(j.counted, false);
    assert.match(j.reasons.join(", "), /records no hash of its data \(quant\.validation\.data_sha256\)/);
  });
  it("pinned by SHA-256: a validation on other data does not count, and both hashes are named", () => {
    const pinned = { ...REQ, data: { sha256: "c".repeat(64) } };
    const [j] = judgeValidations([run()], pinned, { version: "3", digest: DIGEST });
    assert.strictEqual(j.counted, false);
    assert.match(j.reasons.join(", "), new RegExp(`sha256 ${"d".repeat(64)}; validation.data pins sha256 ${"c".repeat(64)}`));
    const [ok] = judgeValidations([run({ dataSha256: "C".repeat(64) })], pinned, { version: "3", digest: DIGEST });
    assert.strictEqual(ok.counted, true, ok.reasons.join(", "));
  });
  it("pinned by a Delta table version: only a validation that read that table at that version counts", () => {
    const pinned = { ...REQ, data: { table: "main.quant.ticks", version: 42 } };
    const judge = (over: Partial<ValidationRun>) => judgeValidations([run(over)], pinned, { version: "3", digest: DIGEST })[0];
    assert.strictEqual(judge({ dataTable: "main.quant.ticks", dataTableVersion: "42" }).counted, true);
    assert.match(
      judge({ dataTable: "main.quant.ticks", dataTableVersion: "41" }).reasons.join(),
      /main\.quant\.ticks version 41; validation\.data pins main\.quant\.ticks version 42/,
    );
    assert.match(judge({}).reasons.join(), /no table named; validation\.data pins main\.quant\.ticks version 42/);
  });
});

describe("four-eyes configuration: pinned validation data, origin tokens, and a member in two roles", () => {
  const origin = (s: ReturnType<typeof shipped>, value: unknown, secret = true) => {
    s.stacks.quant_lr.originTokens = { value, secret };
  };
  it("validation.data pins the sample by SHA-256 or by a Delta table version; anything else is named", () => {
    const s = shipped();
    model0(s).validation.data = { sha256: "A".repeat(64) };
    assert.deepStrictEqual(validate(s).models[0].validation?.data, { sha256: "a".repeat(64) });
    model0(s).validation.data = { table: "main.quant.ticks", version: 42 };
    assert.deepStrictEqual(buildAccessPlan(validate(s), "quant_lr").migrations[0].validation?.data, {
      table: "main.quant.ticks",
      version: 42,
    });
    model0(s).validation.data = { sha256: "abc" };
    expectOne(problemsOf(s), /models\[0\]\.validation\.data\.sha256 = "abc": expected the SHA-256 of the sample file's bytes/);
    model0(s).validation.data = { table: "main.quant.ticks", version: "latest" };
    expectOne(problemsOf(s), /models\[0\]\.validation\.data\.version = "latest": expected the Delta table version/);
    model0(s).validation.data = { sha256: "a".repeat(64), table: "main.quant.ticks" };
    expectOne(problemsOf(s), /models\[0\]\.validation\.data = .*expected either \{ sha256/);
  });
  it("quant_lr: the production promotion reads origins in quant, with the token originTokens.quant holds as a secret", () => {
    const lr = buildAccessPlan(shippedModel(), "quant_lr").migrations.find((x) => x.model === "quant-alpha-transformer")!;
    assert.deepStrictEqual(
      lr.origins.map((o) => o.stack),
      ["quant"],
    );
    const stg = buildAccessPlan(shippedModel(), "quant_stg").migrations.find((x) => x.model === "quant-alpha-transformer")!;
    assert.deepStrictEqual(stg.origins, [], "quant's versions are origins themselves");
    const s = shipped();
    origin(s, { quant: SECRET_PLACEHOLDER });
    assert.deepStrictEqual(validate(s, "quant_lr").stacks.find((x) => x.name === "quant_lr")!.originTokenStacks, ["quant"]);
  });
  it("rejects a plaintext origin token, an unknown stack, and the stack itself, without showing the value", () => {
    const s = shipped();
    origin(s, { quant: "dapi-plain", quant_dev: SECRET_PLACEHOLDER, quant_lr: SECRET_PLACEHOLDER });
    const p = problemsOf(s, "quant_lr");
    expectOne(
      p,
      /^stack quant_lr: Pulumi\.quant_lr\.yaml quant-platform:originTokens\.quant: is plaintext; expected a secret: run `pulumi config set --secret --path 'quant-platform:originTokens\.quant'/,
    );
    expectOne(p, /originTokens\.quant_dev = "quant_dev": expected a stack whose registry holds origins/);
    expectOne(p, /originTokens\.quant_lr: names this stack itself/);
    assert.ok(!p.join("\n").includes("dapi-plain"), "the plaintext value is not shown");
  });
  it("warns, without failing, of a member who holds an approving role and a signer role of a validated model", () => {
    assert.deepStrictEqual(shippedModel().warnings, undefined, "the shipped roster gives nobody both");
    const s = shipped();
    proj(s, "roster").find((m: { id: string }) => m.id === "hiro.tanaka").roles = ["consumer", "approver"];
    const w = validate(s).warnings ?? [];
    assert.strictEqual(w.length, 1, w.join("\n"));
    assert.match(
      w[0],
      /quant-platform:roster\[8\] \(hiro\.tanaka\) holds an approving role \(approver\) and a signer role \(consumer\) of model 'quant-alpha-transformer': within one promotion the approval and the sign-off come from two different people/,
    );
  });
});
