/**
 * Moves a whole environment by composing the engines: notebooks and files (notebooks.ts), then experiments
 * with all their runs (experiments.ts), then model versions (modelVersion.ts), then verify-move over exactly
 * what was moved. The plan (movePlan.ts) says what moves; `shard` takes this process's part of it. Every
 * engine adopts what is already in the target and resumes from its journal, so a re-run or an overlapping
 * shard adds nothing.
 */
import { Endpoint, mlflowClient, registryOf, Run, tagMap } from "../clients/mlflow";
import { StoreSettings } from "../clients/objectStore";
import { workspaceClient } from "../clients/databricksWorkspace";
import { DEFAULT_CONCURRENCY, forEachLimited } from "./concurrency";
import { ExperimentMigrationReport, migrateExperiment } from "./experiments";
import { isIncompleteMigration } from "./failure";
import { migrate, MigrationReport } from "./modelVersion";
import { KIND_ORDER, MoveItem, MovePlan, splitShards } from "./movePlan";
import { migrateNotebooks, NotebookMigrationReport } from "./notebooks";
import { moveSecretScope, SecretScopeReport, SecretValues } from "./secrets";
import { ComputeReport, computeInventory, moveCompute, Remaps, TargetFacts, targetFacts } from "./compute";
import { jobById, JobReport, moveJob, SideNames, sideNames } from "./jobs";
import { movedVersions, moveServingEndpoint, ServingEndpointReport, servingEndpointInventory } from "./serving";
import { migrationsExperimentFor, RUN_TAG, TAG } from "./provenance";
import { VerifyMode } from "./treeCopy";
import { MoveVerification, targetModelName, verifyMove } from "./verifyMove";

/** `held`: not moved, because the operator must decide something first (the item's problem says what). */
export type ItemOutcome = "moved" | "adopted" | "planned" | "held" | "failed";

export interface MoveItemResult {
  kind: MoveItem["kind"];
  key: string;
  /** What it is, for people: `notebooks under /Shared`, `experiment '/Users/...'`, `model 'm' version 3 -> 'main.quant.m'`. */
  subject: string;
  outcome: ItemOutcome;
  /** Files (artifact files, or notebooks and files) and their bytes in the source. */
  files: number;
  bytes: number;
  ms: number;
  /** What the engine reported: run mappings, target version, conflicts. */
  detail?: string;
  problem?: string;
  report?:
    | NotebookMigrationReport
    | ExperimentMigrationReport
    | MigrationReport
    | SecretScopeReport
    | ComputeReport
    | JobReport
    | ServingEndpointReport;
}

export interface MoveReport {
  from: string;
  to: string;
  shard?: { index: number; count: number };
  dryRun: boolean;
  items: MoveItemResult[];
  totals: { items: number; bytes: number; ms: number; moved: number; adopted: number; held: number; failed: number; files: number };
  /** verify-move over what this move covered; absent on a shard of several (the verify step checks them all) and on a dry run. */
  verification?: MoveVerification;
  /** Per model whose versions did not keep their numbers: source -> target number, and why. */
  renumbered?: Renumbering[];
  /** Secret keys whose values were not given (`scope/key`): the move is not done until they are (exit 3). */
  secretsToDo?: string[];
  /** What the operator must decide before the held items move (exit 3 until then): each names the item and the decision. */
  decisions?: string[];
}

export interface Renumbering {
  model: string;
  targetModel: string;
  /** Source version -> target version, for each version whose number differs. */
  versions: Record<string, string>;
  why: string;
  /** Placeholder versions that could not be deleted (a re-run of the move deletes them). */
  placeholdersLeft?: string[];
}

type ModelVersionItem = Extract<MoveItem, { kind: "model-version" }>;
type JobItem = Extract<MoveItem, { kind: "job" }>;

/** Jobs ordered so that each comes after the jobs it runs (a cycle, which Databricks refuses anyway, keeps key order). */
export function jobOrder(jobs: JobItem[]): JobItem[] {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const out: JobItem[] = [];
  const seen = new Set<string>();
  const visit = (j: JobItem) => {
    if (seen.has(j.name)) return;
    seen.add(j.name);
    for (const r of j.runs ?? []) {
      const dep = byName.get(r);
      if (dep) visit(dep);
    }
    out.push(j);
  };
  for (const j of [...jobs].sort((a, b) => a.key.localeCompare(b.key))) visit(j);
  return out;
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of xs) out.set(key(x), [...(out.get(key(x)) ?? []), x]);
  return out;
}

function secretsToDo(results: MoveItemResult[]): { secretsToDo?: string[] } {
  const todo = results.flatMap((r) =>
    r.kind === "secret-scope" && r.report
      ? (r.report as SecretScopeReport).todo.map((k) => `${(r.report as SecretScopeReport).scope}/${k}`)
      : [],
  );
  return todo.length ? { secretsToDo: todo } : {};
}

function decisionsOf(results: MoveItemResult[]): { decisions?: string[] } {
  const d = results.flatMap((r) => (r.outcome === "held" && r.problem ? r.problem.split("\n") : []));
  return d.length ? { decisions: d } : {};
}

/** The tag on a placeholder version that holds a number the source does not use (a deleted version's). */
export const FILLER_TAG = "quant.migration.number_filler";

/**
 * Keeps a model's version numbers in the target. A registry numbers a model's versions one after another and never
 * gives a number again (MLflow and Databricks count deleted versions too). So, when the target model holds nothing
 * but this source's copies and placeholders, the next version gets the next number: before source version N is
 * registered, a placeholder takes each number below N that the source no longer has (a deleted version's), and
 * the placeholders are deleted once the model's versions are in. A target model with versions of its own (the
 * team's work there) keeps its numbering: the versions get the next free numbers, reported old -> new.
 * Placeholders left by an interrupted move are reused by the next one, and deleted at its end.
 */
async function versionNumbering(o: MoveOptions, model: string, toModel: string) {
  const dst = mlflowClient(o.to);
  let placeholderRun: Run | undefined;
  let madeRun: Run | undefined;
  const existing = await dst.listVersions(toModel).catch((e: { status?: number }) => {
    if (e.status === 404) return [];
    throw e;
  });
  const ours = (t: Record<string, string>) =>
    t[FILLER_TAG] !== undefined || (t[TAG.sourceHost] === o.from.baseUrl && t[TAG.sourceModel] === model);
  const foreign = existing.filter((v) => !ours(tagMap(v.tags)));
  const fillers = existing.filter((v) => tagMap(v.tags)[FILLER_TAG] !== undefined).map((v) => v.version);
  let next = existing.reduce((m, v) => Math.max(m, Number(v.version)), 0) + 1;
  let why: string | undefined = foreign.length
    ? `the target model already held ${foreign.length} version(s) of its own (${foreign.map((v) => v.version).join(", ")})`
    : undefined;
  const moved: Record<string, string> = {};
  return {
    /** Fills the numbers below `n` that the target has not reached yet with placeholders. */
    async before(n: number) {
      if (why || n <= next) return;
      await dst.ensureRegisteredModel(toModel);
      // A registry takes a version's source from a run: the placeholder's names an empty path of the run this move
      // made of version n's run; when that run did not move, an empty run of the engine's own experiment.
      placeholderRun ??= (await movedRunOf(o, model, String(n))) ?? (madeRun = await placeholderRunIn(o, toModel, model));
      const { run_id, artifact_uri } = placeholderRun.info;
      while (next < n) {
        const v = await dst.createModelVersion({
          name: toModel,
          source: `${artifact_uri}/placeholder`,
          run_id,
          tags: [{ key: FILLER_TAG, value: `${model} ${next}` }],
        });
        fillers.push(v.version);
        if (Number(v.version) !== next) {
          why = `the target gave number ${v.version} where ${next} was next (a number taken by a version deleted there)`;
          return;
        }
        next++;
      }
    },
    placed(sourceVersion: string, targetVersion: string) {
      moved[sourceVersion] = targetVersion;
      next = Math.max(next, Number(targetVersion) + 1);
    },
    giveUp(reason: string) {
      why ??= `placeholders could not be made: ${reason}`;
    },
    /** Deletes the placeholders; the renumbering, when any version's number differs or a placeholder is left. */
    async finish(): Promise<Renumbering | undefined> {
      const left: string[] = [];
      for (const v of fillers) await dst.deleteModelVersion(toModel, v).catch(() => left.push(v));
      if (madeRun) await dst.deleteRun(madeRun.info.run_id).catch(() => undefined);
      const differ = Object.entries(moved).filter(([a, b]) => a !== b);
      if (!differ.length && !left.length) return undefined;
      return {
        model,
        targetModel: toModel,
        versions: Object.fromEntries(differ),
        why: why ?? "the target had already given those numbers (to versions deleted there)",
        ...(left.length ? { placeholdersLeft: left } : {}),
      };
    },
  };
}

/** The target run this move made of a source version's run (found by its provenance), if its experiment moved. */
async function movedRunOf(o: MoveOptions, model: string, version: string): Promise<Run | undefined> {
  const src = mlflowClient(o.from);
  const dst = mlflowClient(o.to);
  const runId = (await src.getModelVersion(model, version)).run_id;
  if (!runId) return undefined;
  const id = (await src.getRun(runId)).info.experiment_id;
  const experiment = (await src.searchExperiments()).find((e) => e.experiment_id === id);
  const there = experiment && (await dst.experimentByName(experiment.name));
  if (!there) return undefined;
  return (await dst.searchRuns([there.experiment_id], `tags.\`${RUN_TAG.sourceRun}\` = '${runId}'`))[0];
}

/** An empty run in the engine's own experiment, to name placeholders' files when no moved run is at hand. */
async function placeholderRunIn(o: MoveOptions, toModel: string, model: string): Promise<Run> {
  const dst = mlflowClient(o.to);
  const exp = await dst.ensureExperiment(migrationsExperimentFor(o.to.transport));
  return dst.createRun(exp, `version number placeholders of ${toModel}`, Date.now(), [{ key: FILLER_TAG, value: model }]);
}

/** The numbering of a model whose target could not be read: nothing kept, the versions numbered as they come. */
function keptNothing(model: string, toModel: string, reason: string): Awaited<ReturnType<typeof versionNumbering>> {
  const moved: Record<string, string> = {};
  return {
    before: async () => undefined,
    placed: (a: string, b: string) => void (moved[a] = b),
    giveUp: () => undefined,
    finish: async () => {
      const differ = Object.entries(moved).filter(([a, b]) => a !== b);
      return differ.length
        ? { model, targetModel: toModel, versions: Object.fromEntries(differ), why: `the target model could not be read: ${reason}` }
        : undefined;
    },
  };
}

export interface MoveProgress {
  itemsDone: number;
  itemsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  elapsedMs: number;
}

export interface MoveOptions {
  from: Endpoint;
  to: Endpoint;
  plan: MovePlan;
  /** The source's inventory the plan's items were resolved against. */
  items: MoveItem[];
  shard?: { index: number; count: number };
  dryRun?: boolean;
  /**
   * Files in flight across the whole move, the one limit that bounds memory (each file in flight holds one
   * stream's buffers): items run side by side, and each gets its share of files.
   */
  concurrency?: number;
  verify?: VerifyMode;
  /** Run verify-move at the end (default: yes, unless this is one shard of several). */
  verifyAfter?: boolean;
  storeSettings?: Partial<StoreSettings>;
  /**
   * How long another migration's hold (an experiment's lease that stopped beating, a version registered but not
   * finished) is waited for before it counts as abandoned, left by a process that was killed: then the runs are
   * resumed, and the version left unfinished is removed and migrated again. Default: the engines' own (2 minutes
   * of silence for an experiment, 5 for a version).
   */
  claimTimeoutMs?: number;
  /** Secret values by scope and key, from the operator (`--secret-values`); never written anywhere but the target. */
  secretValues?: SecretValues;
  onProgress?: (p: MoveProgress) => void;
}

/** Items in flight and files each, so that items x files stays within `concurrency`. */
export function concurrencySplit(concurrency: number, items: number): { items: number; filesPerItem: number } {
  const n = Math.max(1, Math.floor(concurrency));
  const side = Math.max(1, Math.min(items, Math.floor(n / 2) || 1));
  return { items: side, filesPerItem: Math.max(1, Math.floor(n / side)) };
}

/** The target name of a source model under the plan's name maps (its own name when none applies). */
export function targetModel(plan: MovePlan, model: string, from: Endpoint, to: Endpoint): string {
  return targetModelName(model, { ucSchema: plan.ucSchema, map: plan.modelMap }, registryOf(from), registryOf(to)) ?? model;
}

function subjectOf(item: MoveItem, plan: MovePlan, from: Endpoint, to: Endpoint): string {
  if (item.kind === "secret-scope") return `secret scope '${item.scope}'`;
  if (item.kind === "cluster-policy") return `cluster policy '${item.name}'`;
  if (item.kind === "instance-pool") return `instance pool '${item.name}'`;
  if (item.kind === "job") return `job '${item.name}'`;
  if (item.kind === "serving-endpoint") return `serving endpoint '${item.name}'`;
  if (item.kind === "notebooks") return `notebooks and files under ${item.path}`;
  if (item.kind === "experiment") return `experiment '${item.name}'`;
  const target = targetModel(plan, item.model, from, to);
  return `model '${item.model}' version ${item.version}${target !== item.model ? ` -> '${target}'` : ""}`;
}

const filesOf = (item: MoveItem) =>
  item.kind === "secret-scope"
    ? item.keys
    : item.kind === "notebooks"
      ? item.objects
      : item.kind === "experiment" || item.kind === "model-version"
        ? item.files
        : 0;

/** The plan's decisions (principals, node types, paths), as the engines take them. */
export const remapsOf = (plan: MovePlan): Remaps => ({
  ...(plan.principalMap ? { principalMap: plan.principalMap } : {}),
  ...(plan.nodeTypeMap ? { nodeTypeMap: plan.nodeTypeMap } : {}),
  ...(plan.pathMap ? { pathMap: plan.pathMap } : {}),
});

/** What the workspace objects' moves share, read once per move when the first needs it. */
interface WorkspaceContext {
  facts(): Promise<TargetFacts>;
  source(): Promise<SideNames>;
}

function workspaceContext(o: MoveOptions): WorkspaceContext {
  let facts: Promise<TargetFacts> | undefined;
  let source: Promise<SideNames> | undefined;
  return {
    facts: () =>
      (facts ??= (async () => {
        const f = targetFacts(o.to);
        await f.load();
        return f;
      })()),
    source: () => (source ??= sideNames(o.from)),
  };
}

/** A cluster policy, instance pool or job: moved, or only decided (a dry run), with its changes and what holds it. */
async function moveWorkspaceObject(
  o: MoveOptions,
  ctx: WorkspaceContext,
  item: Extract<MoveItem, { kind: "cluster-policy" | "instance-pool" | "job" }>,
  dryRun: boolean,
): Promise<Pick<MoveItemResult, "outcome" | "detail" | "problem" | "report">> {
  const remaps = remapsOf(o.plan);
  let report: ComputeReport | JobReport;
  if (item.kind === "job") {
    const src = await jobById(o.from, item.id);
    if (!src) throw new Error(`job '${item.name}' (id ${item.id}) is no longer in ${o.from.uri}`);
    report = await moveJob({
      to: o.to,
      src,
      source: await ctx.source(),
      facts: await ctx.facts(),
      remaps,
      dryRun,
      coming: {
        job: item.runs ?? [],
        "cluster-policy": o.items.flatMap((i) => (i.kind === "cluster-policy" ? [i.name] : [])),
        "instance-pool": o.items.flatMap((i) => (i.kind === "instance-pool" ? [i.name] : [])),
      },
    });
  } else {
    const [src] = await computeInventory(o.from, item.kind, [item.name]);
    if (!src) throw new Error(`${item.kind.replace("-", " ")} '${item.name}' is no longer in ${o.from.uri}`);
    report = await moveCompute({ to: o.to, src, facts: await ctx.facts(), remaps, dryRun });
  }
  const detail = [
    ...(dryRun ? [report.outcome === "created" ? "would be created" : "already there"] : [`${report.outcome}, ${report.acls} ACL entries`]),
    ...report.changes,
  ].join("; ");
  if (report.outcome === "held") return { outcome: "held", detail: report.changes.join("; "), problem: report.held.join("\n"), report };
  return { outcome: dryRun ? "planned" : report.outcome === "adopted" ? "adopted" : "moved", detail, report };
}

/**
 * A secret scope or serving endpoint: moved, or only decided (a dry run). Its principals go through the plan's
 * principalMap, and one the target lacks holds it, with nothing of it written.
 */
async function moveAclObject(
  o: MoveOptions,
  ctx: WorkspaceContext,
  item: Extract<MoveItem, { kind: "secret-scope" | "serving-endpoint" }>,
  dryRun: boolean,
): Promise<Pick<MoveItemResult, "outcome" | "detail" | "problem" | "report">> {
  const facts = await ctx.facts();
  const common = {
    from: o.from,
    to: o.to,
    principalExists: facts.principalExists,
    dryRun,
    ...(o.plan.principalMap ? { principalMap: o.plan.principalMap } : {}),
  };
  if (item.kind === "secret-scope") {
    const report = await moveSecretScope({ ...common, scope: item.scope, values: o.secretValues ?? {} });
    if (report.outcome === "held") return { outcome: "held", detail: report.changes.join("; "), problem: report.held.join("\n"), report };
    if (report.outcome === "planned")
      return { outcome: "planned", ...(report.changes.length ? { detail: report.changes.join("; ") } : {}), report };
    return {
      outcome: report.outcome === "created" || report.written.length ? "moved" : "adopted",
      detail: [
        `${report.written.length} values written, ${report.kept.length} already there, ${report.acls} ACL entries`,
        ...report.changes,
        ...(report.todo.length ? [`to do: give the values of ${report.todo.map((k) => `'${k}'`).join(", ")} (--secret-values)`] : []),
      ].join("; "),
      report,
    };
  }
  const served = (await servingEndpointInventory(o.from, [item.name]))[0]?.entities.map((e) => e.entity_name) ?? [];
  const report = await moveServingEndpoint({ ...common, name: item.name, versionMap: await movedVersions(o.from, o.to, served) });
  if (report.outcome === "held") return { outcome: "held", detail: report.changes.join("; "), problem: report.held.join("\n"), report };
  const moved = report.entities.map(
    (e) => `${e.entity} v${e.sourceVersion}${e.targetVersion !== e.sourceVersion ? ` as v${e.targetVersion}` : ""}`,
  );
  const detail = [
    `${dryRun ? "would serve" : `${report.outcome}, serving`} ${moved.join(", ")}${dryRun ? "" : `; ${report.acls} ACL entries given`}`,
    ...report.changes,
  ].join("; ");
  return {
    outcome:
      report.outcome === "failed"
        ? "failed"
        : report.outcome === "planned"
          ? "planned"
          : report.outcome === "adopted"
            ? "adopted"
            : "moved",
    detail,
    ...(report.problem ? { problem: report.problem } : {}),
    report,
  };
}

/** Runs an engine that reports per object and throws IncompleteMigration when some failed: its report either way. */
async function settled<R>(run: Promise<R>): Promise<{ report: R; complete: boolean; message?: string }> {
  try {
    return { report: await run, complete: true };
  } catch (e) {
    if (isIncompleteMigration<R>(e)) return { report: e.report, complete: false, message: e.message };
    throw e;
  }
}

async function moveItem(
  o: MoveOptions,
  ctx: WorkspaceContext,
  item: MoveItem,
  files: number,
  onBytes: (bytesDone: number) => void,
): Promise<Pick<MoveItemResult, "outcome" | "detail" | "problem" | "report">> {
  if (item.kind === "cluster-policy" || item.kind === "instance-pool" || item.kind === "job")
    return moveWorkspaceObject(o, ctx, item, false);
  if (item.kind === "serving-endpoint" || item.kind === "secret-scope") return moveAclObject(o, ctx, item, false);
  if (item.kind === "notebooks") {
    const { report, complete, message } = await settled(
      migrateNotebooks({ from: o.from, to: o.to, paths: [item.path], concurrency: files }),
    );
    const n = (x: string) => report.objects.filter((r) => r.outcome === x).length;
    return {
      outcome: !complete ? "failed" : n("created") + n("overwritten") ? "moved" : "adopted",
      detail: `${n("created")} created, ${n("identical")} already identical, ${n("conflict")} conflicts, ${n("failed")} failed`,
      ...(message ? { problem: message } : {}),
      report,
    };
  }
  if (item.kind === "experiment") {
    // A Databricks experiment lives in a workspace folder: make it here, so no shard waits for the one moving notebooks.
    if (o.to.transport === "databricks" && item.name.startsWith("/") && item.name.lastIndexOf("/") > 0)
      await workspaceClient(o.to).mkdirs(item.name.slice(0, item.name.lastIndexOf("/")));
    const perRun = new Map<string, number>();
    const { report, complete, message } = await settled(
      migrateExperiment({
        from: o.from,
        to: o.to,
        experiment: item.name,
        concurrency: files,
        verify: o.verify,
        ...(o.claimTimeoutMs !== undefined ? { claimTimeoutMs: o.claimTimeoutMs } : {}),
        onProgress: (p) => {
          perRun.set(p.run, p.bytesDone);
          onBytes([...perRun.values()].reduce((s, b) => s + b, 0));
        },
      }),
    );
    const n = (x: string) => report.runs.filter((r) => r.outcome === x).length;
    const removed = report.runs.reduce((s, r) => s + (r.removed?.length ?? 0), 0);
    return {
      outcome: !complete ? "failed" : n("migrated") + n("resumed") || removed ? "moved" : "adopted",
      detail: `${report.runs.length} runs: ${n("migrated")} migrated, ${n("resumed")} resumed, ${n("adopted")} already migrated, ${n("conflict")} conflicts, ${n("failed")} failed${removed ? `; ${removed} partial or spare target runs left by an interrupted migration removed` : ""}`,
      ...(message ? { problem: message } : {}),
      report,
    };
  }
  const toModel = targetModel(o.plan, item.model, o.from, o.to);
  const once = () =>
    migrate({
      from: o.from,
      to: o.to,
      model: item.model,
      select: { version: item.version },
      ...(toModel !== item.model ? { toModel } : {}),
      concurrency: files,
      verify: o.verify,
      stageAliases: o.plan.stageAliases,
      storeSettings: o.storeSettings,
      // Its run moved with its experiment just before: registered from there, its files not copied twice.
      reuseMovedRuns: true,
      ...(o.claimTimeoutMs !== undefined ? { readyTimeoutMs: o.claimTimeoutMs } : {}),
      onProgress: (p) => onBytes(p.bytesDone),
    });
  let report: MigrationReport;
  try {
    report = await once();
  } catch (e) {
    // The engine waited out a version registered from this source whose migration never completed: one left by a
    // killed process. It is removed, and this version migrated again (the engine's own resume takes the files).
    if (!/did not complete it in time/.test((e as Error).message) || !(await removeAbandoned(o, item.model, item.version, toModel)))
      throw e;
    report = await once();
  }
  return {
    outcome: report.adopted ? "adopted" : "moved",
    detail: `${report.targetModel} version ${report.targetVersion}${report.lifecycle.stage ? `, stage ${report.lifecycle.stage}` : ""}${report.lifecycle.aliases.length ? `, aliases ${report.lifecycle.aliases.join(", ")}` : ""}`,
    report,
  };
}

/** Removes the target versions migrated from this source version whose migration never completed; whether there were any. */
async function removeAbandoned(o: MoveOptions, model: string, version: string, toModel: string): Promise<boolean> {
  const dst = mlflowClient(o.to);
  const left = (await dst.listVersions(toModel)).filter((v) => {
    const t = tagMap(v.tags);
    return (
      t[TAG.sourceHost] === o.from.baseUrl &&
      t[TAG.sourceModel] === model &&
      t[TAG.sourceVersion] === version &&
      t[TAG.state] !== undefined &&
      t[TAG.state] !== "complete"
    );
  });
  for (const v of left) await dst.deleteModelVersion(toModel, v.version);
  return left.length > 0;
}

/**
 * Moves this shard's items (all of them without `shard`) in the move's order, kind by kind, items of a kind side
 * by side; a failed item is reported and does not stop the others. Then, unless told otherwise, verify-move over
 * what the plan covers.
 */
export async function move(o: MoveOptions): Promise<MoveReport> {
  const started = Date.now();
  const mine = o.shard ? splitShards(o.items, o.shard.count)[o.shard.index - 1] : o.items;
  const bytesTotal = mine.reduce((s, i) => s + i.bytes, 0);
  const results: MoveItemResult[] = [];
  const renumbering: Renumbering[] = [];
  const inFlight = new Map<string, number>();
  let itemsDone = 0;
  let bytesFinished = 0;
  const progress = () =>
    o.onProgress?.({
      itemsDone,
      itemsTotal: mine.length,
      bytesDone: bytesFinished + [...inFlight.values()].reduce((s, b) => s + b, 0),
      bytesTotal,
      elapsedMs: Date.now() - started,
    });
  const base = (item: MoveItem) => ({
    kind: item.kind,
    key: item.key,
    subject: subjectOf(item, o.plan, o.from, o.to),
    files: filesOf(item),
    bytes: item.bytes,
  });

  const ctx = workspaceContext(o);
  if (o.dryRun) {
    // Scopes, policies, pools, jobs and endpoints are decided against the target now: what they need changed or decided is listed before anything is created.
    for (const item of mine) {
      const failed = (e: Error) => ({ outcome: "failed" as const, problem: e.message });
      const decided =
        item.kind === "cluster-policy" || item.kind === "instance-pool" || item.kind === "job"
          ? await moveWorkspaceObject(o, ctx, item, true).catch(failed)
          : item.kind === "secret-scope" || item.kind === "serving-endpoint"
            ? await moveAclObject(o, ctx, item, true).catch(failed)
            : { outcome: "planned" as const };
      results.push({ ...base(item), ...decided, ms: 0 });
    }
  } else {
    progress();
    const moveOne = async (item: MoveItem, split: { filesPerItem: number }) => {
      const t0 = Date.now();
      inFlight.set(item.key, 0);
      let r: Pick<MoveItemResult, "outcome" | "detail" | "problem" | "report">;
      try {
        r = await moveItem(o, ctx, item, split.filesPerItem, (b) => {
          inFlight.set(item.key, Math.min(b, item.bytes));
          progress();
        });
      } catch (e) {
        r = { outcome: "failed", problem: (e as Error).message };
      }
      inFlight.delete(item.key);
      itemsDone++;
      bytesFinished += item.bytes;
      results.push({ ...base(item), ...r, ms: Date.now() - t0 });
      progress();
      return r;
    };
    for (const kind of KIND_ORDER) {
      const batch = mine.filter((i) => i.kind === kind);
      if (kind === "job") {
        // One at a time, a job after the jobs it runs (their copies' ids go into it).
        for (const item of jobOrder(batch as JobItem[])) await moveOne(item, { filesPerItem: 1 });
        continue;
      }
      if (kind !== "model-version") {
        const split = concurrencySplit(o.concurrency ?? DEFAULT_CONCURRENCY, batch.length);
        await forEachLimited(batch, split.items, (item) => moveOne(item, split).then(() => undefined));
        continue;
      }
      // A model's versions one after another, oldest first, so that they keep their numbers; models side by side.
      const byModel = [...groupBy(batch as ModelVersionItem[], (i) => i.model)];
      const split = concurrencySplit(o.concurrency ?? DEFAULT_CONCURRENCY, byModel.length);
      await forEachLimited(byModel, split.items, async ([model, items]) => {
        // Best effort: keeping the numbers never fails a version's move (what it could not keep, the report says).
        const toModel = targetModel(o.plan, model, o.from, o.to);
        const numbers = await versionNumbering(o, model, toModel).catch((e: Error) => keptNothing(model, toModel, e.message));
        for (const item of items.sort((a, b) => Number(a.version) - Number(b.version))) {
          await numbers.before(Number(item.version)).catch((e: Error) => numbers.giveUp(e.message));
          const r = await moveOne(item, split);
          const placed = (r.report as MigrationReport | undefined)?.targetVersion;
          if (placed !== undefined) numbers.placed(item.version, placed);
        }
        const left = await numbers.finish();
        if (left) renumbering.push(left);
      });
    }
  }
  const order = new Map(mine.map((i, n) => [i.key, n]));
  results.sort((a, b) => order.get(a.key)! - order.get(b.key)!);
  const count = (x: ItemOutcome) => results.filter((r) => r.outcome === x).length;
  const report: MoveReport = {
    from: o.from.uri,
    to: o.to.uri,
    ...(o.shard ? { shard: o.shard } : {}),
    dryRun: !!o.dryRun,
    items: results,
    ...(renumbering.length ? { renumbered: renumbering } : {}),
    ...secretsToDo(results),
    ...decisionsOf(results),
    totals: {
      items: results.length,
      files: results.reduce((s, r) => s + r.files, 0),
      bytes: results.reduce((s, r) => s + r.bytes, 0),
      ms: 0,
      moved: count("moved"),
      adopted: count("adopted"),
      held: count("held"),
      failed: count("failed"),
    },
  };
  const verifyAfter = o.verifyAfter ?? !(o.shard && o.shard.count > 1);
  if (!o.dryRun && verifyAfter) report.verification = await verifyPlan(o);
  report.totals.ms = Date.now() - started;
  return report;
}

/** verify-move over exactly what the plan covers: its paths, experiments, models and selected versions. */
export function verifyPlan(o: Pick<MoveOptions, "from" | "to" | "plan" | "items" | "storeSettings">): Promise<MoveVerification> {
  const versions: Record<string, string[]> = {};
  for (const i of o.items) if (i.kind === "model-version") (versions[i.model] ??= []).push(i.version);
  const workspace = o.from.transport === "databricks" && o.to.transport === "databricks";
  return verifyMove({
    from: o.from,
    to: o.to,
    paths: workspace ? o.items.flatMap((i) => (i.kind === "notebooks" ? [i.path] : [])) : undefined,
    models: Object.keys(versions),
    experiments: o.items.flatMap((i) => (i.kind === "experiment" ? [i.name] : [])),
    secretScopes: o.items.flatMap((i) => (i.kind === "secret-scope" ? [i.scope] : [])),
    clusterPolicies: o.items.flatMap((i) => (i.kind === "cluster-policy" ? [i.name] : [])),
    instancePools: o.items.flatMap((i) => (i.kind === "instance-pool" ? [i.name] : [])),
    jobs: o.items.flatMap((i) => (i.kind === "job" ? [i.name] : [])),
    servingEndpoints: o.items.flatMap((i) => (i.kind === "serving-endpoint" ? [i.name] : [])),
    remaps: remapsOf(o.plan),
    names: {
      ...(o.plan.ucSchema !== undefined ? { ucSchema: o.plan.ucSchema } : {}),
      ...(Object.keys(o.plan.modelMap).length ? { map: o.plan.modelMap } : {}),
    },
    stageAliases: o.plan.stageAliases,
    versions,
    ...(o.plan.includeArchived ? { includeArchived: true } : {}),
    storeSettings: o.storeSettings,
  });
}
