/** Selection as pure tables: ranking, ties, missing metrics, minimum, min mode, and the compared tag. */
import * as assert from "assert";
import fc from "fast-check";
import type { Run } from "../../clients/mlflow";
import { Candidate, candidateOf, comparedTag, rankRuns, renderRanking } from "../../migration/selection";

const c = (runId: string, value: number | undefined, endTime = 1, params: Record<string, string> = {}): Candidate => ({
  runId,
  runName: `run-${runId}`,
  value,
  endTime,
  params,
});
const MAX = { metric: "precision", mode: "max" as const, minimum: 0.8 };

describe("selection ranking", () => {
  it("the highest precision wins; runs without the metric are listed, unranked", () => {
    const r = rankRuns([c("a", 0.81), c("b", 0.87), c("c", undefined), c("d", 0.84)], MAX);
    assert.strictEqual(r.winner?.runId, "b");
    assert.deepStrictEqual(
      r.candidates.map((x) => [x.runId, x.rank]),
      [
        ["b", 1],
        ["d", 2],
        ["a", 3],
        ["c", undefined],
      ],
    );
  });
  it("no winner when the best is below the minimum", () => {
    const r = rankRuns([c("a", 0.71), c("b", 0.78)], MAX);
    assert.strictEqual(r.winner, undefined);
    assert.strictEqual(r.candidates[0].runId, "b");
  });
  it("min mode: the lowest wins, and the minimum is a ceiling", () => {
    const r = rankRuns([c("a", 0.3), c("b", 0.1), c("c", 0.2)], { metric: "loss", mode: "min", minimum: 0.15 });
    assert.strictEqual(r.winner?.runId, "b");
    assert.deepStrictEqual(
      r.candidates.map((x) => x.reachesMinimum),
      [true, false, false],
    );
  });
  it("ties go to the earlier run, then the smaller run id, and are reported", () => {
    const r = rankRuns([c("z", 0.9, 5), c("y", 0.9, 3), c("x", 0.9, 3)], MAX);
    assert.strictEqual(r.winner?.runId, "x");
    assert.deepStrictEqual(r.tiedWith, ["y", "z"]);
  });
  it("property: the winner is never worse than any ranked candidate, and reaches the minimum", () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }), { maxLength: 30 }), (values) => {
        const r = rankRuns(
          values.map((v, i) => c(String(i).padStart(3, "0"), v, i)),
          MAX,
        );
        const ranked = values.filter((v): v is number => v !== undefined);
        if (!r.winner) return ranked.every((v) => v < 0.8);
        return r.winner.value! >= 0.8 && ranked.every((v) => v <= r.winner!.value!);
      }),
    );
  });
  it("property (min mode): the winner is never above any ranked candidate, and is at most the minimum", () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }), { maxLength: 30 }), (values) => {
        const sel = { metric: "loss", mode: "min" as const, minimum: 0.3 };
        const r = rankRuns(
          values.map((v, i) => c(String(i).padStart(3, "0"), v, i)),
          sel,
        );
        const ranked = values.filter((v): v is number => v !== undefined);
        assert.strictEqual(r.candidates.length, values.length, "every run is listed, ranked or not");
        if (!r.winner) return ranked.every((v) => v > 0.3);
        return r.winner.value! <= 0.3 && ranked.every((v) => v >= r.winner!.value!);
      }),
    );
  });
  it("a run's value is its metric's latest (highest step, then latest timestamp); a run without it has none", () => {
    const run = (metrics: { key: string; value: number; step: number; timestamp: number }[]) =>
      ({
        info: { run_id: "f".repeat(32), artifact_uri: "x", end_time: 7 },
        data: { metrics, params: [{ key: "lr", value: "3e-5" }] },
      }) as unknown as Run;
    const r = run([
      { key: "precision", value: 0.9, step: 1, timestamp: 5 },
      { key: "precision", value: 0.8, step: 2, timestamp: 1 },
      { key: "precision", value: 0.85, step: 2, timestamp: 2 },
      { key: "loss", value: 0.1, step: 9, timestamp: 9 },
    ]);
    assert.deepStrictEqual(candidateOf(r, "precision"), {
      runId: "f".repeat(32),
      runName: "ffffffff",
      value: 0.85,
      endTime: 7,
      params: { lr: "3e-5" },
    });
    assert.strictEqual(candidateOf(r, "recall").value, undefined);
  });
  it("property: the compared tag never exceeds its limit and accounts for every ranked run", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 60, max: 5000 }), (n, max) => {
        const r = rankRuns(
          Array.from({ length: n }, (_, i) => c(`${i}`.padStart(32, "0"), i / 7, i)),
          { metric: "precision", mode: "max" },
        );
        const tag = comparedTag(r, max);
        assert.ok(tag.length <= max, `${tag.length} > ${max}`);
        const cut = /,…\+(\d+)$/.exec(tag);
        const listed = tag === "" ? 0 : tag.split(",").length - (cut ? 1 : 0);
        assert.strictEqual(listed + (cut ? Number(cut[1]) : 0), n);
        if (n) assert.ok(tag.startsWith(`${r.winner!.runId}=`), "best first");
      }),
    );
  });
  it("the compared tag lists every ranked run best first, and is cut to fit a tag with the count left", () => {
    const many = rankRuns(
      Array.from({ length: 300 }, (_, i) => c(`${"r".repeat(31)}${i % 10}${i}`, i / 300, i)),
      { metric: "precision", mode: "max" },
    );
    const tag = comparedTag(many);
    assert.ok(tag.length <= 5000, `${tag.length}`);
    const m = /,…\+(\d+)$/.exec(tag);
    assert.ok(m, tag.slice(-40));
    assert.strictEqual(tag.split(",").length - 1 + Number(m[1]), 300);
    assert.strictEqual(comparedTag(rankRuns([c("a", 0.8), c("b", 0.9)], MAX)), "b=0.9,a=0.8");
  });
  it("the table marks the winner and those below the minimum, with the params that differ", () => {
    const t = renderRanking(
      rankRuns([c("a", 0.81, 1, { lr: "3e-5", epochs: "3" }), c("b", 0.79, 2, { lr: "5e-5", epochs: "3" })], MAX),
      MAX,
    );
    assert.deepStrictEqual(t.split("\n"), [
      "rank  run    run id  precision  lr",
      "1     run-a  a       0.81       3e-5  <- selected",
      "2     run-b  b       0.79       5e-5  below minimum 0.8",
    ]);
  });
});
