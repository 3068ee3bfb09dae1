import * as assert from "assert";
import fc from "fast-check";
import { readyPollDelayMs } from "../../migration/modelVersion";
import { LOG_BATCH, lineageBatches } from "../../migration/lineage";

describe("migration speed: READY polling and lineage batches", () => {
  it("READY is polled after 25 ms, doubling to at most 500 ms, never at a fixed half second", () => {
    assert.deepStrictEqual(
      Array.from({ length: 8 }, (_, i) => readyPollDelayMs(i)),
      [25, 50, 100, 200, 400, 500, 500, 500],
    );
    // A registry that needs 1 s to be READY is found READY within a poll interval of that second.
    let waited = 0;
    let attempt = 0;
    while (waited < 1000) waited += readyPollDelayMs(attempt++);
    assert.ok(waited < 1500, `first poll after READY at ${waited} ms`);
  });

  it("lineage goes in as few log-batch calls as MLflow's limits allow, every entity once, in order", () => {
    const tag = (i: number) => ({ key: `k${i}`, value: String(i) });
    const metric = (i: number) => ({ key: `m${i % 3}`, value: i, timestamp: i, step: i });
    fc.assert(
      fc.property(fc.nat(250), fc.nat(3500), fc.nat(250), (np, nm, nt) => {
        const params = Array.from({ length: np }, (_, i) => tag(i));
        const metrics = Array.from({ length: nm }, (_, i) => metric(i));
        const tags = Array.from({ length: nt }, (_, i) => tag(i));
        const batches = lineageBatches(params, metrics, tags);
        for (const b of batches) {
          assert.ok(b.params.length <= LOG_BATCH.params && b.tags.length <= LOG_BATCH.tags);
          assert.ok(b.params.length + b.metrics.length + b.tags.length <= LOG_BATCH.total);
          assert.ok(b.params.length + b.metrics.length + b.tags.length > 0);
        }
        assert.deepStrictEqual(
          batches.flatMap((b) => b.params),
          params,
        );
        assert.deepStrictEqual(
          batches.flatMap((b) => b.metrics),
          metrics,
        );
        assert.deepStrictEqual(
          batches.flatMap((b) => b.tags),
          tags,
        );
        const least = Math.max(
          Math.ceil(np / LOG_BATCH.params),
          Math.ceil(nt / LOG_BATCH.tags),
          Math.ceil((np + nm + nt) / LOG_BATCH.total),
        );
        assert.ok(batches.length <= least + 1, `${batches.length} calls for ${np}/${nm}/${nt}, at least ${least}`);
      }),
    );
    assert.strictEqual(lineageBatches([tag(1), tag(2)], [metric(1), metric(2), metric(3)], [tag(3)]).length, 1);
  });
});
