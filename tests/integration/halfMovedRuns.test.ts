/**
 * Issue 33 (b): a run left half-moved by an interrupted attempt always resumes. Each row leaves one target run in
 * one state, made directly through the target's MLflow REST API as the engine would have written it up to the point
 * the attempt stopped; one re-run must then finish or replace every one of them, leaving exactly one active target
 * run per source run and a passing verification.
 */
import * as assert from "assert";
import { Readable } from "stream";
import { mlflowClient, MlflowClient, Run, Tag, tagMap } from "../../clients/mlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { leaseKey, migrateExperiment } from "../../migration/experiments";
import { manifestDigest, sha256 } from "../../migration/hashing";
import { RUN_TAG, TAG } from "../../migration/provenance";
import { JOURNAL_DIR } from "../../migration/treeCopy";
import { transportFor } from "../../migration/transports/transportFor";
import { MoveVerification, verifyMove } from "../../migration/verifyMove";
import { verifyMoveCli } from "../../cli/verifyMove";
import { MlflowServer } from "../../devenv/localMlflow";
import { liveServers } from "../fixtures/liveServers";
import { SourceRun, sourceRun } from "../fixtures/sourceRuns";

const FAST_RETRY = { attempts: 3, backoffMs: 20 };
const oss = (url: string, side: "from" | "to" = "to") => resolveEndpoint(url, side, {});
const EXP = "exp-half-moved";
/** Tags the engine writes after the run is created: they are not part of what an attempt creates the run with. */
const WRITTEN_LATER: string[] = [TAG.lineageCopied, TAG.manifestDigest, RUN_TAG.complete];

/** What an interrupted attempt had written for one source run, and the tags its target run was created with. */
interface Attempt {
  dst: MlflowClient;
  expId: string;
  source: SourceRun;
  /** The tags the engine creates the target run with (from a complete reference copy), fingerprint included. */
  created: Tag[];
}

const create = (a: Attempt, tags = a.created) => a.dst.createRun(a.expId, a.source.run.info.run_name!, a.source.run.info.start_time!, tags);
const lineage = async (a: Attempt, runId: string, whole: boolean) => {
  const metrics = whole ? a.source.metrics : a.source.metrics.slice(0, Math.ceil(a.source.metrics.length / 2));
  await a.dst.logBatch(runId, {
    params: a.source.run.data.params,
    metrics,
    ...(whole ? { tags: [{ key: TAG.lineageCopied, value: "true" }] } : {}),
  });
};
const files = async (a: Attempt, run: Run, count: number, truncateLast = false) => {
  const t = transportFor(a.dst);
  const root = await t.runRoot(run.info.run_id, "", run.info.artifact_uri);
  for (const [i, f] of a.source.files.slice(0, count).entries()) {
    const body = truncateLast && i === count - 1 ? f.body.subarray(0, f.body.length >> 1) : f.body;
    await t.upload(root, f.path, Readable.from([body]), body.length);
  }
};
const manifest = async (a: Attempt, run: Run) => {
  const t = transportFor(a.dst);
  const root = await t.runRoot(run.info.run_id, JOURNAL_DIR, run.info.artifact_uri);
  const entries = a.source.files.map((f) => ({ path: f.path, size: f.body.length, sha256: sha256(f.body) }));
  const fingerprint = tagMap(a.created)[TAG.fingerprint];
  const body = Buffer.from(JSON.stringify({ fingerprint, manifestDigest: manifestDigest(entries), files: entries }));
  await t.upload(root, "manifest.json", Readable.from([body]), body.length);
};
/** Everything but the done-tag: lineage, every file, the manifest, and then the status it is left in. */
const allButDone = async (a: Attempt, status: string) => {
  const r = await create(a);
  await lineage(a, r.info.run_id, true);
  await files(a, r, a.source.files.length);
  await manifest(a, r);
  await a.dst.updateRun(r.info.run_id, status, status === "RUNNING" ? undefined : a.source.run.info.end_time);
};

/** One row per state an interrupted attempt can leave a target run in. */
const STATES: { state: string; leave: (a: Attempt) => Promise<void> }[] = [
  { state: "created with only its tags (status RUNNING)", leave: (a) => create(a).then(() => undefined) },
  {
    state: "lineage partly logged (params and half the metric points)",
    leave: async (a) => lineage(a, (await create(a)).info.run_id, false),
  },
  {
    state: "lineage whole, artifacts partly written (one file missing, one cut short)",
    leave: async (a) => {
      const r = await create(a);
      await lineage(a, r.info.run_id, true);
      await files(a, r, a.source.files.length - 1, true);
    },
  },
  { state: "everything written but the done-tag, status FINISHED", leave: (a) => allButDone(a, "FINISHED") },
  { state: "everything written but the done-tag, status RUNNING", leave: (a) => allButDone(a, "RUNNING") },
  { state: "everything written but the done-tag, status FAILED", leave: (a) => allButDone(a, "FAILED") },
  { state: "everything written but the done-tag, status KILLED", leave: (a) => allButDone(a, "KILLED") },
  {
    state: "created with the fingerprint of an older state of its source",
    leave: (a) =>
      create(
        a,
        a.created.map((t) => (t.key === TAG.fingerprint ? { ...t, value: "0".repeat(64) } : t)),
      ).then(() => undefined),
  },
  {
    state: "created without a fingerprint tag",
    leave: (a) =>
      create(
        a,
        a.created.filter((t) => t.key !== TAG.fingerprint),
      ).then(() => undefined),
  },
  {
    // A runs/create the server applied whose answer was lost, sent again: the retry's run was finished (by a
    // full attempt), the first stayed with only its tags.
    state: "a spare run with only its tags made before a complete copy (runs/create applied, its answer lost)",
    leave: (a) => spareBesideComplete(a, "before"),
  },
  {
    state: "a spare run with only its tags made after a complete copy",
    leave: (a) => spareBesideComplete(a, "after"),
  },
];

/** A complete copy, as a whole attempt leaves it, and a spare run of the same source with only its creation tags. */
async function spareBesideComplete(a: Attempt, spare: "before" | "after") {
  if (spare === "before") await create(a);
  const r = await create(a);
  await lineage(a, r.info.run_id, true);
  await files(a, r, a.source.files.length);
  await manifest(a, r);
  await a.dst.updateRun(r.info.run_id, a.source.run.info.status, a.source.run.info.end_time);
  const digest = manifestDigest(a.source.files.map((f) => ({ path: f.path, size: f.body.length, sha256: sha256(f.body) })));
  await a.dst.logBatch(r.info.run_id, {
    tags: [
      { key: TAG.manifestDigest, value: digest },
      { key: RUN_TAG.complete, value: tagMap(a.created)[TAG.fingerprint] },
    ],
  });
  if (spare === "after") await create(a);
}

describe("a half-moved run always resumes (issue 33)", function () {
  this.timeout(600000);
  let a: MlflowServer;
  let b: MlflowServer;
  let sources: SourceRun[];
  let dst: MlflowClient;
  let expId: string;

  before(async () => {
    ({ a, b } = await liveServers());
    const src = mlflowClient(oss(a.url, "from"));
    dst = mlflowClient(oss(b.url));
    const srcExp = await src.ensureExperiment(EXP);
    const t0 = Date.now() - 3600000;
    sources = [];
    for (let i = 0; i < STATES.length; i++) sources.push(await sourceRun(src, srcExp, `state-${i}`, t0 + i * 10000));
    // A complete copy made by the engine elsewhere: the tags it creates a target run with, fingerprint included.
    const ref = await migrateExperiment({
      from: oss(a.url, "from"),
      to: oss(b.url),
      experiment: EXP,
      toExperiment: `${EXP}-reference`,
      retry: FAST_RETRY,
    });
    const created = new Map<string, Tag[]>();
    for (const r of ref.runs) {
      const tags = (await dst.getRun(r.targetRunId!)).data.tags ?? [];
      created.set(
        r.sourceRunId,
        tags.filter((t) => !WRITTEN_LATER.includes(t.key)),
      );
    }
    expId = await dst.ensureExperiment(EXP);
    for (const [i, { leave }] of STATES.entries())
      await leave({ dst, expId, source: sources[i], created: created.get(sources[i].run.info.run_id)! });
    // And the lease of the attempt, never released (its delete was lost): numbered, silent.
    const lease = await dst.createRun(expId, "quant-platform migration lease (deleted when the migration ends)", Date.now(), [
      { key: RUN_TAG.lease, value: leaseKey(oss(a.url, "from").baseUrl, srcExp) },
      { key: RUN_TAG.leaseTicket, value: "1" },
    ]);
    assert.ok(lease.info.run_id);
  });

  it("before the re-run, verify-move names the spare copies and the orphaned lease one by one (exit 3)", async () => {
    const out: string[] = [];
    const code = await verifyMoveCli(["--from", a.url, "--to", b.url, "--experiment", EXP, "--model", "", "--json"], {}, (s) =>
      out.push(s),
    );
    assert.strictEqual(code, 3);
    const v = JSON.parse(out.join("")) as MoveVerification;
    const spares = STATES.filter((s) => s.state.startsWith("a spare run")).length;
    assert.deepStrictEqual(
      v.differences
        .filter((d) => d.finding)
        .map((d) => d.finding)
        .sort(),
      [...Array<string>(spares).fill("duplicate"), "orphaned-lease"],
    );
    for (const d of v.differences.filter((x) => x.finding)) assert.ok(d.id && d.name !== undefined && d.detail, JSON.stringify(d));
  });

  it("one re-run finishes or replaces each of them; the closing verification passes", async () => {
    const r = await migrateExperiment({
      from: oss(a.url, "from"),
      to: oss(b.url),
      experiment: EXP,
      retry: FAST_RETRY,
      claimTimeoutMs: 2000,
    });
    assert.deepStrictEqual(
      r.runs.filter((x) => x.problem).map((x) => x.problem),
      [],
    );
    const v = await verifyMove({ from: oss(a.url, "from"), to: oss(b.url), experiments: [EXP], models: [], retry: FAST_RETRY });
    assert.deepStrictEqual(v.differences, []);
    assert.strictEqual(v.checked.runs, STATES.length);
  });

  for (const [i, { state }] of STATES.entries()) {
    it(`left ${state}: exactly one active, complete target run afterwards`, async () => {
      const id = sources[i].run.info.run_id;
      const mine = (await dst.allRuns([expId])).filter((r) => tagMap(r.data.tags)[RUN_TAG.sourceRun] === id);
      assert.strictEqual(mine.length, 1, mine.map((r) => r.info.run_id).join(", "));
      const t = tagMap(mine[0].data.tags);
      assert.ok(t[RUN_TAG.complete], "it carries the done-tag");
      assert.strictEqual(mine[0].info.status, sources[i].run.info.status);
    });
  }

  it("no lease run is left, and nothing but the copies: as many active target runs as source runs", async () => {
    const all = await dst.allRuns([expId]);
    assert.deepStrictEqual(
      all.filter((r) => tagMap(r.data.tags)[RUN_TAG.lease]).map((r) => r.info.run_id),
      [],
    );
    assert.strictEqual(all.length, STATES.length);
  });

  it("the team's own run in the target experiment is reported as extra (exit 3), and a re-run leaves it alone", async () => {
    const own = await dst.createRun(expId, "tuning-in-the-new-workspace", Date.now(), [{ key: "team", value: "quant" }]);
    const v = await verifyMove({ from: oss(a.url, "from"), to: oss(b.url), experiments: [EXP], models: [], retry: FAST_RETRY });
    assert.deepStrictEqual(
      v.differences.map((d) => [d.kind, d.finding, d.id, d.name]),
      [["run", "extra", own.info.run_id, "tuning-in-the-new-workspace"]],
    );
    await migrateExperiment({ from: oss(a.url, "from"), to: oss(b.url), experiment: EXP, retry: FAST_RETRY });
    assert.strictEqual((await dst.getRun(own.info.run_id)).info.lifecycle_stage, "active");
    await dst.deleteRun(own.info.run_id);
  });

  it("a second re-run adopts every run and removes nothing", async () => {
    const r = await migrateExperiment({ from: oss(a.url, "from"), to: oss(b.url), experiment: EXP, retry: FAST_RETRY });
    assert.deepStrictEqual(new Set(r.runs.map((x) => x.outcome)), new Set(["adopted"]));
    assert.deepStrictEqual(
      r.runs.flatMap((x) => x.removed ?? []),
      [],
    );
  });
});
