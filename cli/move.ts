/**
 * The move command: a whole environment in one command, planned, resumable and verified, optionally one shard
 * of several. A thin shell: the plan is movePlan.ts's, the work move.ts's (which composes the engines).
 */
import * as fs from "fs";
import { workspaceClient } from "../clients/databricksWorkspace";
import { DEFAULT_CONCURRENCY } from "../migration/concurrency";
import { resolveEndpoint } from "../migration/endpoint";
import { takeInventory } from "../migration/inventory";
import { parseStageAliases } from "../migration/lifecycle";
import { move, MoveProgress, MoveReport, verifyPlan } from "../migration/move";
import { MovePlan, parsePlan, parseShard, planFromInventory, PlanError, renderPlan, resolveItems } from "../migration/movePlan";
import { VERIFY_MODES, VerifyMode } from "../migration/treeCopy";
import { checkModelNames, MoveVerification, optionPairs, parseModelMap, renderVerification } from "../migration/verifyMove";
import { Command, parseArgs, takeRepeated, UsageError } from "./command";
import { setRequestBudget } from "../clients/http";
import { parseSecretValues, SecretValues } from "../migration/secrets";
import { listOption, storeEndpoints } from "./inventory";
import { cutOver } from "../migration/jobs";
import { metastoreAssignment, renderTablePlan, tablePlan } from "../migration/tables";

/**
 * Requests a second to a workspace when --max-rps is not given: under the lowest of Databricks' documented
 * per-workspace limits a move leans on (experiment and run searches), leaving room for the team's own traffic.
 */
export const DEFAULT_MAX_RPS = 20;
const defaultMaxRps = (baseUrl: string) =>
  /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|\/|$)/.test(baseUrl) ? 0 : DEFAULT_MAX_RPS;

const USAGE = `usage: quant-platform move --from <uri> --to <uri> [--paths <path>[,...]] [--plan FILE | --plan-out FILE]
         [--shard i/N] [--verify-only] [--uc-schema <catalog>.<schema>] [--model-map SRC=DST[,...]]
         [--map-stage STAGE=ALIAS[,...]] [--include-archived] [--verify full|size|store] [--concurrency N]
         [--claim-timeout S] [--max-rps N] [--secret-values FILE|env:VAR] [--path-map OLD=NEW[,...]] [--dry-run] [--json]
       quant-platform move --from <uri> --to <uri> --cut-over [--roll-back] [--plan FILE] [--dry-run] [--json]

Moves a whole environment: secret scopes (keys and ACLs), cluster policies and instance pools (definitions and
permissions), notebooks and files under --paths, then every experiment with all its runs and MLflow 3 logged
models, then every registered model with every version that is not archived (keeping stages, or aliases by
--map-stage), then every job (created PAUSED, with its permissions and owner), then every serving endpoint
(serving the moved versions), each streamed, checksummed and verified by the migration engines; then verify-move
over exactly what moved.
Re-runs adopt what is already there, and a killed or cut-off run resumes: a target run it left half-moved is
finished, or replaced (the partial one deleted), and spare copies of a run it left are deleted.
  --from, --to   as for migrate (http(s)://<mlflow server>, https://<workspace>, databricks://<profile>,
                 databricks+http://host:port, databricks-uc://<profile> for a Unity Catalog registry)
  --paths        workspace folders whose notebooks and files move (Databricks workspaces; default /Shared,/Users
                 where they exist; Git folders under them move through Git and are skipped)
  --plan-out     write the plan (every path, experiment, model with versions: all, scope, policy, pool, job and
                 endpoint) as editable YAML, and beside it FILE.tables.sql: the DEEP CLONE statements (or catalog
                 bindings on a shared metastore) that give the new workspace the tables, whose data move does not
                 copy, with row-count queries to reconcile; move nothing
  --plan         move what this YAML plan selects: paths, experiments, models with versions all |
                 latest-per-stage | [1, 3], ucSchema, modelMap, stageAliases, includeArchived, secretScopes,
                 clusterPolicies, instancePools, jobs, servingEndpoints, and your decisions principalMap,
                 nodeTypeMap and pathMap;
                 errors name the entry
  --shard i/N    move only part i of N of the plan, split deterministically and balanced by bytes, so that N
                 processes or CI jobs (GitLab parallel: N, a GitHub matrix) move disjoint parts at once. A shard of
                 several does not verify: run 'move --verify-only' with the same plan once all are done
  --verify-only  move nothing: verify-move over what the plan covers (exit 0 identical, 3 differences); like
                 verify-move it names target runs, versions and notebooks no source object maps to (extra,
                 duplicate, orphaned-lease) and lists what move skips
  --uc-schema, --model-map, --map-stage
                 names and stage -> alias mapping, as for verify-move and migrate (without --plan; with it, the
                 plan's ucSchema, modelMap and stageAliases)
  --include-archived
                 move archived versions too (versions: all), with stage Archived in the target; verify-move then
                 needs the same flag (with --plan: the plan's includeArchived: true)
  --verify       how each file is checked in the target: full (default), size, or store (as for migrate)
  --concurrency  files in flight across the whole move (default 8, 1 to 64), the one limit that bounds
                 memory: items move side by side, each with its share of files
  --claim-timeout
                 seconds another migration of the same experiment may stay silent (its lease beats every tenth
                 of this), or a version another migration registered may stay unfinished, before it counts as
                 left by a killed process (then its runs are resumed, the unfinished version removed and
                 migrated again); default the engines' own, 120 for experiments and 300 for versions. Never
                 shorter than a live migration of one version could take, when another process may be moving
                 the same versions
  --secret-values
                 the values of the secret scopes' keys, as JSON {"<scope>": {"<key>": "<value>"}}, from a file or an
                 environment variable (env:VAR), e.g. an export of your vault: the Secrets API never gives the tools
                 a value. Scopes move with their keys and ACLs (every scope, or the plan's secretScopes); a value is
                 written to the new workspace only, never to disk, a log or the report. A key with no value (and
                 none in the target yet) is a to-do, and the move exits 3 until it is given
  --max-rps      requests a second this process sends to each workspace (source and target each), spaced
                 evenly across everything the move does; default ${DEFAULT_MAX_RPS} for a workspace on another host,
                 none for one on this machine (127.0.0.1, localhost); 0: none. A 429 that still comes is retried
                 after its Retry-After, losing nothing. Split a budget between shards: N shards at --max-rps R
                 send up to N x R
  --path-map     workspace path (or Git URL) prefixes that move elsewhere, OLD=NEW: jobs' notebook, file and
                 library paths and Git sources are pointed there (without --plan; with it, the plan's pathMap)
  --cut-over     move nothing: for each job of the plan (all jobs without one) that runs in the old workspace
                 (--from; a schedule, continuous run or trigger UNPAUSED), pause it there and unpause its copy
                 in the new one (--to), and list every change. With --roll-back, the reverse: each copy that
                 runs in the new workspace is paused and the old job unpaused
  --dry-run      print what would move, with counts and bytes, and copy nothing; cluster policies, instance pools
                 and jobs are checked against the target, listing what the move changes (paths, node types,
                 principals) and what you must decide first (held)
  --json         one JSON document on stdout: every item with its outcome, files, bytes and ms, totals
                 {items, bytes, ms, ...} and the verification
A progress line (items done of total, bytes, rate, ETA) goes to stderr.
Tokens come only from the environment (DATABRICKS_TOKEN, MIGRATE_FROM_TOKEN, MIGRATE_TO_TOKEN,
MLFLOW_TRACKING_TOKEN) or a Databricks config profile, never from the command line.
A job, policy or pool whose owner, run_as or ACL principal the target does not know, whose node type it does not
offer, or whose policy, pool or job it does not have is held: nothing of it is created, and the report says what to
decide (principalMap, nodeTypeMap in the plan).
Exit 0: moved and identical; 3: moved, and verify-move found differences, secret values are to do or items are held
for a decision (listed); 1: an item failed
(listed; run again to resume); 2: usage error or an invalid plan.`;

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/** items done/total, bytes, rate and time left, for stderr. */
export function moveProgressLine(p: MoveProgress): string {
  const rate = p.elapsedMs > 0 ? p.bytesDone / (p.elapsedMs / 1000) : 0;
  const eta = rate > 0 ? Math.ceil((p.bytesTotal - p.bytesDone) / rate) : undefined;
  return `move: ${p.itemsDone}/${p.itemsTotal} items  ${mb(p.bytesDone)}/${mb(p.bytesTotal)}  ${mb(rate)}/s  ETA ${p.itemsDone === p.itemsTotal ? "0s" : eta === undefined ? "?" : `${eta}s`}`;
}

const decisionLines = (r: MoveReport) =>
  r.decisions?.length
    ? [`  to decide before the held items move (exit 3 until then; nothing of them was created):`, ...r.decisions.map((d) => `    - ${d}`)]
    : [];

/** `--path-map OLD=NEW[,...]`: absolute workspace paths or Git URLs. */
export function parsePathMap(values: string[]): Record<string, string> {
  const ok = (x: string) => x.startsWith("/") || /^[a-z]+:\/\//.test(x);
  const out: Record<string, string> = {};
  for (const { entry, pair } of optionPairs(values)) {
    if (!pair || !ok(pair[0]) || !ok(pair[1]))
      throw new Error(
        `--path-map '${entry}' is not OLD=NEW with absolute workspace paths or Git URLs (for example /Users/ana@old.example=/Users/ana@new.example)`,
      );
    out[pair[0]] = pair[1];
  }
  return out;
}

export function renderMove(r: MoveReport): string {
  const shard = r.shard ? ` (shard ${r.shard.index}/${r.shard.count})` : "";
  if (r.dryRun) {
    const kind = (k: string) => r.items.filter((i) => i.kind === k);
    return [
      `dry run: would move ${r.totals.items} items, ${r.totals.files} files, ${mb(r.totals.bytes)} from ${r.from} to ${r.to}${shard}; nothing copied`,
      `  ${kind("notebooks").length} workspace folders (${kind("notebooks").reduce((s, i) => s + i.files, 0)} notebooks and files), ${kind("experiment").length} experiments, ${kind("model-version").length} model versions`,
      ...r.items.map(
        (i) =>
          `  ${i.outcome === "planned" ? "" : `${i.outcome.toUpperCase()} `}${i.subject}: ${i.kind === "job" || i.kind === "cluster-policy" || i.kind === "instance-pool" ? (i.detail ?? "") : `${i.files} files, ${mb(i.bytes)}`}${i.problem ? `\n      ${i.problem.replace(/\n/g, "\n      ")}` : ""}`,
      ),
      ...decisionLines(r),
    ].join("\n");
  }
  const t = r.totals;
  return [
    `move ${r.from} -> ${r.to}${shard}`,
    ...r.items.map(
      (i) =>
        `  ${i.outcome.padEnd(8)} ${i.subject}: ${i.detail ?? ""}${i.detail ? "; " : ""}${i.files} files, ${mb(i.bytes)}, ${(i.ms / 1000).toFixed(1)} s${i.problem ? `\n      ${i.problem.replace(/\n/g, "\n      ")}` : ""}`,
    ),
    `${t.items} items: ${t.moved} moved, ${t.adopted} already there, ${t.held ? `${t.held} held for a decision, ` : ""}${t.failed} failed; ${t.files} files, ${mb(t.bytes)}, ${(t.ms / 1000).toFixed(1)} s`,
    ...decisionLines(r),
    ...(r.secretsToDo?.length
      ? [`  to do: give the values of secret keys ${r.secretsToDo.join(", ")} with --secret-values, then move again (exit 3 until then)`]
      : []),
    ...(r.renumbered ?? []).map(
      (n) =>
        `  renumbered: model '${n.model}' -> '${n.targetModel}': ${Object.entries(n.versions)
          .map(([a, b]) => `version ${a} is ${b}`)
          .join(
            ", ",
          )} (${n.why})${n.placeholdersLeft ? `; placeholder versions ${n.placeholdersLeft.join(", ")} are left: move again to delete them` : ""}`,
    ),
    ...(r.verification
      ? [renderVerification(r.verification)]
      : r.shard && r.shard.count > 1
        ? [`not verified here: once every shard is done, run move --verify-only with the same plan (or verify-move)`]
        : []),
  ].join("\n");
}

/** The CLI as a function of its arguments and environment; progress lines go to `err`. */
export async function moveCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (s: string) => void,
  err: (s: string) => void,
  tty: boolean,
): Promise<number> {
  const mapStage = takeRepeated(argv, "map-stage");
  const modelMap = takeRepeated(mapStage.rest, "model-map");
  const pathMapArg = takeRepeated(modelMap.rest, "path-map");
  const a = parseArgs(
    pathMapArg.rest,
    ["from", "to", "paths", "plan", "plan-out", "shard", "uc-schema", "verify", "concurrency", "claim-timeout", "max-rps", "secret-values"],
    ["dry-run", "json", "verify-only", "include-archived", "cut-over", "roll-back"],
  );
  for (const k of ["from", "to"]) if (typeof a[k] !== "string") throw new UsageError(`--${k} is required`);
  if (a.plan !== undefined && a["plan-out"] !== undefined) throw new UsageError("give --plan or --plan-out, not both");
  if (a.plan !== undefined)
    for (const k of ["paths", "uc-schema"])
      if (a[k] !== undefined) throw new UsageError(`--${k} goes in the plan (${a.plan}), not with --plan`);
  if (a.plan !== undefined && (mapStage.values.length || modelMap.values.length))
    throw new UsageError(`--map-stage and --model-map go in the plan (stageAliases, modelMap), not with --plan`);
  if (a.plan !== undefined && pathMapArg.values.length) throw new UsageError(`--path-map goes in the plan (pathMap), not with --plan`);
  if (a["roll-back"] && !a["cut-over"]) throw new UsageError("--roll-back reverses a cut-over: give it with --cut-over");
  if (a["cut-over"] && (a["plan-out"] !== undefined || a.shard !== undefined || a["verify-only"]))
    throw new UsageError("--cut-over switches the jobs' running side and moves nothing: no --plan-out, --shard or --verify-only");
  let pathMap: Record<string, string> = {};
  try {
    pathMap = parsePathMap(pathMapArg.values);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (a.plan !== undefined && a["include-archived"])
    throw new UsageError(`--include-archived goes in the plan (includeArchived: true), not with --plan`);
  if (a["plan-out"] !== undefined && (a.shard !== undefined || a["verify-only"] || a["dry-run"]))
    throw new UsageError("--plan-out writes the plan and moves nothing: it takes no --shard, --verify-only or --dry-run");
  if (a["verify-only"] && (a.shard !== undefined || a["dry-run"]))
    throw new UsageError("--verify-only checks the whole plan: no --shard or --dry-run");
  const verify = (a.verify ?? "full") as VerifyMode;
  if (!VERIFY_MODES.includes(verify)) throw new UsageError(`--verify is full, size or store, not '${verify}'`);
  const concurrency = a.concurrency === undefined ? DEFAULT_CONCURRENCY : Number(a.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    throw new UsageError(`--concurrency is a whole number from 1 to 64, not '${a.concurrency}'`);
  let claimTimeoutMs: number | undefined;
  if (a["claim-timeout"] !== undefined) {
    const n = Number(a["claim-timeout"]);
    if (!Number.isInteger(n) || n < 1)
      throw new UsageError(`--claim-timeout is a whole number of seconds, at least 1, not '${a["claim-timeout"]}'`);
    claimTimeoutMs = n * 1000;
  }
  let secretValues: SecretValues | undefined;
  if (typeof a["secret-values"] === "string") {
    const where = a["secret-values"];
    const env_ = /^env:(\w+)$/.exec(where);
    const text = env_ ? env[env_[1]] : fs.existsSync(where) ? fs.readFileSync(where, "utf8") : undefined;
    if (text === undefined) throw new UsageError(`--secret-values ${where}: ${env_ ? `${env_[1]} is not set` : "no such file"}`);
    try {
      secretValues = parseSecretValues(text, `--secret-values ${where}`);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  let maxRps: number | undefined;
  if (a["max-rps"] !== undefined) {
    maxRps = Number(a["max-rps"]);
    if (!Number.isFinite(maxRps) || maxRps < 0)
      throw new UsageError(`--max-rps is a number of requests a second, 0 or more, not '${a["max-rps"]}'`);
  }
  let from, to, shard;
  let given: MovePlan | undefined;
  let maps: Pick<MovePlan, "ucSchema" | "modelMap" | "stageAliases" | "includeArchived" | "pathMap">;
  try {
    from = resolveEndpoint(a.from as string, "from", env);
    to = resolveEndpoint(a.to as string, "to", env);
    shard = a.shard !== undefined ? parseShard(a.shard as string) : undefined;
    if (typeof a.plan === "string") {
      if (!fs.existsSync(a.plan)) throw new Error(`--plan ${a.plan}: no such file (write one with --plan-out)`);
      given = parsePlan(fs.readFileSync(a.plan, "utf8"), a.plan);
      maps = {
        ...(given.ucSchema !== undefined ? { ucSchema: given.ucSchema } : {}),
        modelMap: given.modelMap,
        stageAliases: given.stageAliases,
      };
    } else {
      maps = {
        ...(typeof a["uc-schema"] === "string" ? { ucSchema: a["uc-schema"] } : {}),
        modelMap: modelMap.values.length ? parseModelMap(modelMap.values) : {},
        stageAliases: parseStageAliases(mapStage.values),
        ...(a["include-archived"] ? { includeArchived: true } : {}),
        ...(Object.keys(pathMap).length ? { pathMap } : {}),
      };
    }
    checkModelNames({ ucSchema: maps.ucSchema, map: maps.modelMap }, from, to);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  for (const ep of [from, to]) setRequestBudget(ep.baseUrl, maxRps ?? defaultMaxRps(ep.baseUrl));
  const workspaces = from.transport === "databricks" && to.transport === "databricks";
  let paths = given ? given.paths : listOption(a.paths);
  if (paths?.length && !workspaces)
    throw new UsageError("notebooks and files (--paths, the plan's paths) move between Databricks workspaces only");
  if (paths === undefined && workspaces) {
    const ws = workspaceClient(from);
    paths = [];
    for (const p of ["/Shared", "/Users"]) if (await ws.getStatus(p)) paths.push(p);
  }
  const storeSettings = storeEndpoints(env);
  const inv = await takeInventory({
    endpoint: from,
    paths,
    ...(from.registry === "unity-catalog" && maps.ucSchema !== undefined ? { ucSchema: maps.ucSchema } : {}),
    storeSettings,
    ...(workspaces
      ? {
          secretScopes: given ? (given.secretScopes ?? []) : ("all" as const),
          clusterPolicies: given ? (given.clusterPolicies ?? []) : ("all" as const),
          instancePools: given ? (given.instancePools ?? []) : ("all" as const),
          jobs: given ? (given.jobs ?? []) : ("all" as const),
          servingEndpoints: given ? (given.servingEndpoints ?? []) : ("all" as const),
          tables: typeof a["plan-out"] === "string",
        }
      : {}),
  });
  const plan = given ?? { ...planFromInventory(inv, maps), ...(maps.pathMap ? { pathMap: maps.pathMap } : {}) };
  if (a["cut-over"]) {
    if (!workspaces)
      throw new UsageError("--cut-over switches jobs between Databricks workspaces: --from and --to must both be workspaces");
    const r = await cutOver({ from, to, jobs: plan.jobs ?? [], rollback: !!a["roll-back"], dryRun: !!a["dry-run"] });
    if (a.json) out(JSON.stringify(r, null, 2));
    else {
      const verb = a["dry-run"] ? "would " : "";
      const [off, on] = a["roll-back"] ? [to.uri, from.uri] : [from.uri, to.uri];
      out(
        [
          `${a["roll-back"] ? "roll-back" : "cut-over"} ${from.uri} -> ${to.uri}: ${r.changes.length} of ${(plan.jobs ?? []).length} jobs switched${a["dry-run"] ? " (dry run: nothing changed)" : ""}`,
          ...r.changes.map((c) => `  job '${c.job}': ${c.triggers.join(", ")} ${verb}paused in ${off}, ${verb}unpaused in ${on}`),
          ...r.problems.map((p) => `  not switched: ${p}`),
        ].join("\n"),
      );
    }
    return r.problems.length ? 3 : 0;
  }
  if (typeof a["plan-out"] === "string") {
    fs.writeFileSync(a["plan-out"], renderPlan(plan, inv));
    // Tables: their data does not move, but the plan says how: DEEP CLONE statements, or the catalog binding when both
    // workspaces share a metastore, beside the plan.
    let tablesFile: string | undefined;
    if (inv.tables) {
      const target = await metastoreAssignment(to);
      tablesFile = a["plan-out"].replace(/(\.ya?ml)?$/, ".tables.sql");
      fs.writeFileSync(
        tablesFile,
        renderTablePlan(tablePlan(inv.tables, target.metastoreId, target.workspaceId ? { targetWorkspaceId: target.workspaceId } : {})),
      );
    }
    const versions = plan.models.reduce((s, m) => s + (inv.models.find((x) => x.name === m.name)?.versions.length ?? 0), 0);
    out(
      `wrote ${a["plan-out"]}: ${plan.paths.length} workspace folders, ${plan.experiments.length} experiments, ${plan.models.length} models (${versions} versions), ${plan.secretScopes?.length ?? 0} secret scopes, ${plan.clusterPolicies?.length ?? 0} cluster policies, ${plan.instancePools?.length ?? 0} instance pools, ${plan.jobs?.length ?? 0} jobs, ${plan.servingEndpoints?.length ?? 0} serving endpoints; edit it, then move --plan ${a["plan-out"]}${tablesFile ? `\nwrote ${tablesFile}: the SQL that gives the new workspace the tables (the data does not move with move): review it, run it as its header says, then compare the row counts it lists` : ""}`,
    );
    return 0;
  }
  let items;
  try {
    items = resolveItems(plan, inv);
  } catch (e) {
    if (e instanceof PlanError) throw new UsageError(e.message);
    throw e;
  }
  if (a["verify-only"]) {
    const v: MoveVerification = await verifyPlan({ from, to, plan, items, storeSettings });
    out(a.json ? JSON.stringify(v, null, 2) : renderVerification(v));
    return v.differences.length ? 3 : 0;
  }
  let last = 0;
  const report = await move({
    from,
    to,
    plan,
    items,
    shard,
    dryRun: !!a["dry-run"],
    concurrency,
    verify,
    storeSettings,
    ...(claimTimeoutMs !== undefined ? { claimTimeoutMs } : {}),
    ...(secretValues ? { secretValues } : {}),
    onProgress: (p) => {
      const end = p.itemsDone === p.itemsTotal;
      // On a terminal a line redrawn in place; in CI logs a line every ten seconds and the last.
      if (Date.now() - last < (tty ? 200 : 10000) && !end) return;
      last = Date.now();
      err(tty ? `\r${moveProgressLine(p)}${end ? "\n" : ""}` : `${moveProgressLine(p)}\n`);
    },
  });
  out(a.json ? JSON.stringify(report, null, 2) : renderMove(report));
  if (report.totals.failed) return 1;
  return report.verification?.differences.length || report.secretsToDo?.length || report.decisions?.length ? 3 : 0;
}

export const command: Command = {
  name: "move",
  usage: USAGE,
  run: (argv) =>
    moveCli(
      argv,
      process.env,
      (s) => console.log(s),
      (s) => process.stderr.write(s),
      !!process.stderr.isTTY,
    ),
};
