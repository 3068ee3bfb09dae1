/**
 * The move plan: what `move` carries from one environment to another, as data. Written from an inventory
 * (`move --plan-out`), edited by people, read back and validated (`move --plan`), resolved against the
 * source's inventory into flat, keyed items (notebook paths, experiments, model versions), and split into
 * shards balanced by bytes. Pure: no I/O but the caller's.
 */
import { parse as parseYaml } from "yaml";
import { ExperimentInventory, Inventory, ModelInventory, VersionInventory } from "./inventory";
import { isMigrationsExperiment, RUN_TAG } from "./provenance";
import { referencedJobIds } from "./jobs";

/** Which versions of a model move: every non-archived one (archived too by includeArchived), the newest per stage, or the listed numbers. */
export type VersionSelection = "all" | "latest-per-stage" | string[];

export interface PlannedModel {
  name: string;
  versions: VersionSelection;
}

export interface MovePlan {
  /** Workspace folders whose notebooks and files move (Databricks workspaces only). */
  paths: string[];
  /** Experiments that move, each with all its active runs. */
  experiments: string[];
  models: PlannedModel[];
  /** The Unity Catalog side's `catalog.schema` (model m is `<catalog>.<schema>.m` there), as `--uc-schema`. */
  ucSchema?: string;
  /** Source model -> target model name, as `--model-map`; wins over ucSchema. */
  modelMap: Record<string, string>;
  /** Stage -> alias, as `--map-stage`. */
  stageAliases: Record<string, string>;
  /** `versions: all` takes archived versions too (they keep stage Archived in the target), as `--include-archived`. */
  includeArchived?: boolean;
  /** Secret scopes that move, with their keys and ACLs (values from `--secret-values`); Databricks workspaces only. */
  secretScopes?: string[];
  /** Cluster policies and instance pools that move (by name), before the jobs that use them. */
  clusterPolicies?: string[];
  instancePools?: string[];
  /** Jobs that move (by name), created paused; `move --cut-over` switches the running side. */
  jobs?: string[];
  /** Model serving endpoints that move (by name), after the models they serve, pointing at the moved versions. */
  servingEndpoints?: string[];
  /** The operator's decisions: source principal -> target principal, node type -> node type, path prefix -> path prefix. */
  principalMap?: Record<string, string>;
  nodeTypeMap?: Record<string, string>;
  pathMap?: Record<string, string>;
}

/** One unit of work, with the stable key that identifies it (sorting, sharding, reports). */
export type MoveItem =
  | { kind: "secret-scope"; key: string; scope: string; keys: number; bytes: number }
  | { kind: "cluster-policy"; key: string; name: string; bytes: number }
  | { kind: "instance-pool"; key: string; name: string; bytes: number }
  | {
      kind: "job";
      key: string;
      name: string;
      id: string;
      tasks: number;
      bytes: number;
      /** The jobs its `run_job_task`s run (by name): they move before it, so that it can point at their copies. */
      runs?: string[];
    }
  | { kind: "serving-endpoint"; key: string; name: string; bytes: number }
  | { kind: "notebooks"; key: string; path: string; objects: number; bytes: number }
  | { kind: "experiment"; key: string; name: string; runs: number; files: number; bytes: number }
  | {
      kind: "model-version";
      key: string;
      model: string;
      version: string;
      stage: string | undefined;
      files: number;
      bytes: number;
      /** The experiment item's key that holds the version's run, when the plan moves that experiment. */
      withRun?: string;
    };

/**
 * The order of the move: secret scopes, cluster policies and instance pools (the jobs that use them come later),
 * notebooks and files (the folders experiments live in, the notebooks jobs run), experiments, models, then jobs.
 */
export const KIND_ORDER: MoveItem["kind"][] = [
  "secret-scope",
  "cluster-policy",
  "instance-pool",
  "notebooks",
  "experiment",
  "model-version",
  "job",
  "serving-endpoint",
];

const SELECTIONS = "expected all, latest-per-stage or a list of version numbers";

/**
 * What `move` leaves out of a source, and why: the one rule `move` plans by and verify-move checks by, so that
 * verify-move run alone checks what `move` moves. Each returns the reason, or undefined for what moves.
 */
export const SKIP = {
  /** A version `versions: all` does not take: not registered (pending or failed), or archived unless includeArchived. */
  version(v: Pick<VersionInventory, "stage" | "status">, o: { includeArchived?: boolean } = {}): string | undefined {
    if (v.status && v.status !== "READY") return "not READY in the source (its registration did not finish)";
    if (v.stage === "Archived" && !o.includeArchived) return "archived (move takes archived versions with --include-archived)";
    return undefined;
  },
  /** The engine's own journals, and an MLflow server's empty Default experiment (every server has its own). */
  experiment(e: Pick<ExperimentInventory, "id" | "name" | "runs">): string | undefined {
    if (isMigrationsExperiment(e.name)) return "the migration engine's journals, not the team's";
    if (e.name === "Default" && e.id === "0" && !e.runs.length) return "the empty Default experiment every MLflow server has";
    return undefined;
  },
  /** A lease left in the source by a migration into it that was stopped: no run of the team's. */
  run(r: { tags: Record<string, string> }): string | undefined {
    return r.tags[RUN_TAG.lease] ? "a migration's lease run (left by a migration into the source), not a run of the team's" : undefined;
  },
};

/**
 * The versions a selection names, in version order. `all`: every registered one but archived ones (those too
 * with `includeArchived`). `latest-per-stage`: the newest version in each stage but Archived (None counts as a
 * stage), and in a registry without stages every version with an alias and the newest.
 */
export function selectVersions(m: ModelInventory, selection: VersionSelection, o: { includeArchived?: boolean } = {}): VersionInventory[] {
  const live = m.versions.filter((v) => !SKIP.version(v, o)).sort((a, b) => Number(a.version) - Number(b.version));
  if (selection === "all") return live;
  if (selection === "latest-per-stage") {
    const keep = new Set<string>();
    const byStage = new Map<string, VersionInventory>();
    for (const v of live) {
      if (v.stage === "Archived") continue;
      if (v.stage !== undefined) byStage.set(v.stage, v);
      if (v.aliases.length) keep.add(v.version);
    }
    for (const v of byStage.values()) keep.add(v.version);
    if (live.length && !byStage.size) keep.add(live[live.length - 1].version);
    return live.filter((v) => keep.has(v.version));
  }
  return m.versions.filter((v) => selection.includes(v.version)).sort((a, b) => Number(a.version) - Number(b.version));
}

/** The plan that moves everything the inventory lists (the default, and what `--plan-out` writes). */
export function planFromInventory(
  inv: Inventory,
  maps: Pick<MovePlan, "ucSchema" | "modelMap" | "stageAliases" | "includeArchived">,
): MovePlan {
  return {
    paths: inv.workspace?.paths ?? [],
    experiments: inv.experiments.filter((e) => !SKIP.experiment(e)).map((e) => e.name),
    models: inv.models.map((m) => ({ name: m.name, versions: "all" })),
    ...(maps.ucSchema !== undefined ? { ucSchema: maps.ucSchema } : {}),
    modelMap: maps.modelMap,
    stageAliases: maps.stageAliases,
    ...(maps.includeArchived ? { includeArchived: true } : {}),
    ...(inv.secretScopes?.length ? { secretScopes: inv.secretScopes.map((x) => x.name) } : {}),
    ...(inv.clusterPolicies?.length ? { clusterPolicies: inv.clusterPolicies.map((x) => x.name) } : {}),
    ...(inv.instancePools?.length ? { instancePools: inv.instancePools.map((x) => x.name) } : {}),
    ...(inv.jobs?.length ? { jobs: [...new Set(inv.jobs.map((x) => x.name))] } : {}),
    ...(inv.servingEndpoints?.length ? { servingEndpoints: inv.servingEndpoints.map((x) => x.name) } : {}),
  };
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
const q = (s: string) => JSON.stringify(s);

/** The plan as YAML a person edits: every entry commented with what it holds in the source. */
export function renderPlan(plan: MovePlan, inv: Inventory): string {
  const lines = [
    `# Move plan for quant-platform move, from the inventory of ${inv.source}.`,
    `# Edit, then: quant-platform move --from <uri> --to <uri> --plan <this file> [--shard i/N]`,
    `# models[].versions: all (every version not archived; archived too with includeArchived: true), latest-per-stage,`,
    `# or a list such as [1, 3].`,
    `paths:${plan.paths.length ? "" : " []"}`,
  ];
  for (const p of plan.paths) {
    const under = (inv.workspace?.objects ?? []).filter((o) => o.path.startsWith(`${p.replace(/\/+$/, "")}/`));
    lines.push(`  - ${q(p)}  # ${under.length} notebooks and files`);
  }
  lines.push(`experiments:${plan.experiments.length ? "" : " []"}`);
  for (const n of plan.experiments) {
    const e = inv.experiments.find((x) => x.name === n);
    lines.push(`  - ${q(n)}${e ? `  # ${e.runs.length} runs, ${mb(e.artifactBytes)}` : ""}`);
  }
  lines.push(`models:${plan.models.length ? "" : " []"}`);
  for (const m of plan.models) {
    const found = inv.models.find((x) => x.name === m.name);
    const summary = found?.versions.map((v) => `v${v.version} ${v.stage ?? (v.aliases.join(",") || "-")} ${mb(v.bytes)}`).join("; ");
    lines.push(`  - name: ${q(m.name)}${summary ? `  # ${summary}` : ""}`);
    lines.push(`    versions: ${Array.isArray(m.versions) ? `[${m.versions.join(", ")}]` : m.versions}`);
  }
  lines.push(
    `# The Unity Catalog side's <catalog>.<schema> (as --uc-schema), a source model's name in the target (as --model-map),`,
    `# and stage -> alias (as --map-stage).`,
  );
  if (plan.ucSchema !== undefined) lines.push(`ucSchema: ${q(plan.ucSchema)}`);
  const map = (name: string, m: Record<string, string>) =>
    Object.keys(m).length ? [`${name}:`, ...Object.entries(m).map(([k, v]) => `  ${q(k)}: ${q(v)}`)] : [`${name}: {}`];
  lines.push(...map("modelMap", plan.modelMap), ...map("stageAliases", plan.stageAliases));
  lines.push(`# true: versions: all takes archived versions too (as --include-archived); they keep stage Archived.`);
  lines.push(`includeArchived: ${plan.includeArchived ? "true" : "false"}`);
  lines.push(`# Secret scopes with their keys and ACLs; the values come from move --secret-values (never from the source).`);
  lines.push(`secretScopes:${plan.secretScopes?.length ? "" : " []"}`);
  for (const n of plan.secretScopes ?? []) {
    const sc = inv.secretScopes?.find((x) => x.name === n);
    lines.push(`  - ${q(n)}${sc ? `  # ${sc.keys.length} keys, ${Object.keys(sc.acls).length} ACL entries` : ""}`);
  }
  lines.push(`# Cluster policies and instance pools (definitions and permissions), moved before the jobs that use them.`);
  for (const [key, list, found] of [
    ["clusterPolicies", plan.clusterPolicies, inv.clusterPolicies],
    ["instancePools", plan.instancePools, inv.instancePools],
  ] as const) {
    lines.push(`${key}:${list?.length ? "" : " []"}`);
    for (const n of list ?? []) {
      const c = found?.find((x) => x.name === n);
      lines.push(`  - ${q(n)}${c ? `  # ${c.acl.length} ACL entries` : ""}`);
    }
  }
  lines.push(`# Jobs, created PAUSED in the target (move --cut-over pauses the source's and unpauses these).`);
  lines.push(`jobs:${plan.jobs?.length ? "" : " []"}`);
  for (const n of plan.jobs ?? []) {
    const j = inv.jobs?.find((x) => x.name === n);
    const triggers = j ? ["schedule", "continuous", "trigger"].filter((t) => j.settings[t]) : [];
    lines.push(
      `  - ${q(n)}${j ? `  # ${((j.settings.tasks as unknown[]) ?? []).length} tasks${triggers.length ? `, ${triggers.join(", ")}` : ", no schedule"}, owner ${j.acl.find((g) => g.level === "IS_OWNER")?.principal ?? "none"}` : ""}`,
    );
  }
  lines.push(`# Model serving endpoints, moved after the models, serving the moved versions (renumbered ones followed).`);
  lines.push(`servingEndpoints:${plan.servingEndpoints?.length ? "" : " []"}`);
  for (const n of plan.servingEndpoints ?? []) {
    const e = inv.servingEndpoints?.find((x) => x.name === n);
    lines.push(`  - ${q(n)}${e ? `  # serves ${e.entities.map((x) => `${x.entity_name} v${x.entity_version}`).join(", ")}` : ""}`);
  }
  lines.push(
    `# Your decisions, where the target differs: a principal it does not know (owner, run_as, ACL), a node type it`,
    `# does not offer, a workspace path or Git URL prefix that moves elsewhere. move --dry-run lists what needs one.`,
  );
  lines.push(
    ...map("principalMap", plan.principalMap ?? {}),
    ...map("nodeTypeMap", plan.nodeTypeMap ?? {}),
    ...map("pathMap", plan.pathMap ?? {}),
  );
  return `${lines.join("\n")}\n`;
}

/** A plan file that does not hold together: every problem, each naming its entry. */
export class PlanError extends Error {}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const show = (x: unknown) => (typeof x === "string" ? q(x) : JSON.stringify(x));

/** Reads and validates a plan's YAML; throws a PlanError listing every problem, each naming the entry and what was expected. */
export function parsePlan(text: string, file = "the plan"): MovePlan {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new PlanError(`${file} is not YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  const problems: string[] = [];
  if (!isRecord(doc)) throw new PlanError(`${file}: expected a mapping with paths, experiments and models, got ${show(doc)}`);
  const known = [
    "paths",
    "experiments",
    "models",
    "ucSchema",
    "modelMap",
    "stageAliases",
    "includeArchived",
    "secretScopes",
    "clusterPolicies",
    "instancePools",
    "jobs",
    "servingEndpoints",
    "principalMap",
    "nodeTypeMap",
    "pathMap",
  ];
  for (const k of Object.keys(doc)) if (!known.includes(k)) problems.push(`${k}: unknown key; expected one of ${known.join(", ")}`);
  const strings = (key: string): string[] => {
    const v = doc[key] ?? [];
    if (!Array.isArray(v)) {
      problems.push(`${key}: expected a list, got ${show(v)}`);
      return [];
    }
    const out: string[] = [];
    v.forEach((x, i) => {
      if (typeof x !== "string" || !x.trim()) problems.push(`${key}[${i}]: expected a name, got ${show(x)}`);
      else if (out.includes(x)) problems.push(`${key}[${i}]: ${q(x)} is listed twice`);
      else out.push(x);
    });
    return out;
  };
  const paths = strings("paths");
  paths.forEach((p, i) => {
    if (!p.startsWith("/")) problems.push(`paths[${i}]: expected an absolute workspace path, got ${q(p)}`);
  });
  const experiments = strings("experiments");
  const secretScopes = strings("secretScopes");
  const clusterPolicies = strings("clusterPolicies");
  const instancePools = strings("instancePools");
  const jobs = strings("jobs");
  const servingEndpoints = strings("servingEndpoints");
  const models: PlannedModel[] = [];
  const rawModels = doc.models ?? [];
  if (!Array.isArray(rawModels)) problems.push(`models: expected a list, got ${show(rawModels)}`);
  else
    rawModels.forEach((m, i) => {
      const at = `models[${i}]`;
      if (!isRecord(m)) {
        problems.push(`${at}: expected a mapping with name and versions, got ${show(m)}`);
        return;
      }
      for (const k of Object.keys(m))
        if (k !== "name" && k !== "versions") problems.push(`${at}.${k}: unknown key; expected name, versions`);
      if (typeof m.name !== "string" || !m.name.trim()) {
        problems.push(`${at}.name: expected a model name, got ${show(m.name)}`);
        return;
      }
      if (models.some((x) => x.name === m.name)) problems.push(`${at}.name: ${q(m.name)} is listed twice`);
      const v = m.versions ?? "all";
      let versions: VersionSelection | undefined;
      if (v === "all" || v === "latest-per-stage") versions = v;
      else if (Array.isArray(v) && v.length) {
        const bad = v.findIndex((x) => !/^[1-9]\d*$/.test(String(x)) || (typeof x !== "number" && typeof x !== "string"));
        if (bad >= 0) problems.push(`${at}.versions[${bad}]: expected a version number, got ${show(v[bad])}`);
        else versions = [...new Set(v.map(String))];
      } else problems.push(`${at}.versions: ${SELECTIONS}, got ${show(v)}`);
      if (versions) models.push({ name: m.name, versions });
    });
  const map = (key: string): Record<string, string> => {
    const v = doc[key] ?? {};
    if (!isRecord(v)) {
      problems.push(`${key}: expected a mapping of names, got ${show(v)}`);
      return {};
    }
    for (const [k, x] of Object.entries(v)) if (typeof x !== "string" || !x) problems.push(`${key}.${k}: expected a name, got ${show(x)}`);
    return v as Record<string, string>;
  };
  const modelMap = map("modelMap");
  const stageAliases = map("stageAliases");
  const decisions = Object.fromEntries((["principalMap", "nodeTypeMap", "pathMap"] as const).map((k) => [k, map(k)]));
  for (const [k, v] of Object.entries(decisions.pathMap))
    if (!k.startsWith("/") && !/^[a-z]+:\/\//.test(k))
      problems.push(`pathMap.${k}: expected an absolute workspace path or a Git URL, got ${q(k)}`);
    else if (!v.startsWith("/") && !/^[a-z]+:\/\//.test(v))
      problems.push(`pathMap.${k}: expected an absolute workspace path or a Git URL, got ${q(v)}`);
  const ucSchema = doc.ucSchema;
  if (ucSchema !== undefined && (typeof ucSchema !== "string" || !/^[^.\s/]+\.[^.\s/]+$/.test(ucSchema)))
    problems.push(`ucSchema: expected <catalog>.<schema> (for example main.quant), got ${show(ucSchema)}`);
  const includeArchived = doc.includeArchived ?? false;
  if (typeof includeArchived !== "boolean") problems.push(`includeArchived: expected true or false, got ${show(includeArchived)}`);
  if (problems.length) throw new PlanError(`${file} is not a valid move plan:\n - ${problems.join("\n - ")}`);
  return {
    paths,
    experiments,
    models,
    ...(typeof ucSchema === "string" ? { ucSchema } : {}),
    modelMap,
    stageAliases,
    ...(includeArchived === true ? { includeArchived: true } : {}),
    ...(secretScopes.length ? { secretScopes } : {}),
    ...(clusterPolicies.length ? { clusterPolicies } : {}),
    ...(instancePools.length ? { instancePools } : {}),
    ...(jobs.length ? { jobs } : {}),
    ...(servingEndpoints.length ? { servingEndpoints } : {}),
    ...Object.fromEntries(Object.entries(decisions).filter(([, v]) => Object.keys(v).length)),
  };
}

/**
 * The plan's items, resolved against the source's inventory (taken with the plan's paths, or all): every
 * entry the source lacks is an error naming it, all at once.
 */
export function resolveItems(plan: MovePlan, inv: Inventory): MoveItem[] {
  const problems: string[] = [];
  const items: MoveItem[] = [];
  (plan.secretScopes ?? []).forEach((n, i) => {
    const sc = inv.secretScopes?.find((x) => x.name === n);
    if (!sc) problems.push(`secretScopes[${i}]: ${q(n)} does not exist in ${inv.source}`);
    else items.push({ kind: "secret-scope", key: `secret-scope:${n}`, scope: n, keys: sc.keys.length, bytes: 0 });
  });
  for (const [key, kind, list, found] of [
    ["clusterPolicies", "cluster-policy", plan.clusterPolicies, inv.clusterPolicies],
    ["instancePools", "instance-pool", plan.instancePools, inv.instancePools],
  ] as const)
    (list ?? []).forEach((n, i) => {
      if (!found?.some((x) => x.name === n)) problems.push(`${key}[${i}]: ${q(n)} does not exist in ${inv.source}`);
      else items.push({ kind, key: `${kind}:${n}`, name: n, bytes: 0 });
    });
  (plan.jobs ?? []).forEach((n, i) => {
    const found = (inv.jobs ?? []).filter((x) => x.name === n);
    if (!found.length) problems.push(`jobs[${i}]: ${q(n)} does not exist in ${inv.source}`);
    else if (found.length > 1)
      problems.push(
        `jobs[${i}]: ${inv.source} has ${found.length} jobs named ${q(n)} (ids ${found.map((j) => j.id).join(", ")}): rename all but one there`,
      );
    else {
      const tasks = (found[0].settings.tasks as unknown[] | undefined) ?? [];
      const runs = [
        ...new Set(referencedJobIds(found[0].settings).flatMap((id) => inv.jobs?.filter((j) => j.id === id).map((j) => j.name) ?? [])),
      ];
      items.push({
        kind: "job",
        key: `job:${n}`,
        name: n,
        id: found[0].id,
        tasks: tasks.length,
        bytes: 0,
        ...(runs.length ? { runs } : {}),
      });
    }
  });
  (plan.servingEndpoints ?? []).forEach((n, i) => {
    if (!inv.servingEndpoints?.some((x) => x.name === n)) problems.push(`servingEndpoints[${i}]: ${q(n)} does not exist in ${inv.source}`);
    else items.push({ kind: "serving-endpoint", key: `serving-endpoint:${n}`, name: n, bytes: 0 });
  });
  for (const p of plan.paths) {
    const prefix = `${p.replace(/\/+$/, "")}/`;
    const under = (inv.workspace?.objects ?? []).filter((o) => o.path === p || o.path.startsWith(prefix));
    items.push({
      kind: "notebooks",
      key: `notebooks:${p}`,
      path: p,
      objects: under.length,
      bytes: under.reduce((s, o) => s + (o.size ?? 0), 0),
    });
  }
  plan.experiments.forEach((n, i) => {
    const e = inv.experiments.find((x) => x.name === n);
    if (!e) {
      problems.push(`experiments[${i}]: ${q(n)} does not exist in ${inv.source}`);
      return;
    }
    items.push({
      kind: "experiment",
      key: `experiment:${n}`,
      name: n,
      runs: e.runs.length,
      files: e.runs.reduce((s, r) => s + r.files, 0),
      bytes: e.artifactBytes,
    });
  });
  // A version moves after the experiment that holds its run (when the plan moves it), and in the same shard: it is
  // then registered from the moved run, its files crossing once.
  const experimentOfRun = new Map<string, string>();
  for (const e of inv.experiments)
    if (plan.experiments.includes(e.name)) for (const r of e.runs) experimentOfRun.set(r.runId, `experiment:${e.name}`);
  plan.models.forEach((m, i) => {
    const found = inv.models.find((x) => x.name === m.name);
    if (!found) {
      problems.push(`models[${i}].name: ${q(m.name)} does not exist in ${inv.source}`);
      return;
    }
    if (Array.isArray(m.versions))
      m.versions.forEach((v, j) => {
        const have = found.versions.find((x) => x.version === v);
        if (!have) problems.push(`models[${i}].versions[${j}]: ${q(m.name)} has no version ${v} in ${inv.source}`);
      });
    for (const v of selectVersions(found, m.versions, { includeArchived: plan.includeArchived }))
      items.push({
        kind: "model-version",
        key: `model:${m.name}#${v.version.padStart(6, "0")}`,
        model: m.name,
        version: v.version,
        stage: v.stage,
        files: v.files,
        bytes: v.bytes,
        ...(v.runId && experimentOfRun.has(v.runId) ? { withRun: experimentOfRun.get(v.runId) } : {}),
      });
  });
  if (problems.length) throw new PlanError(`the plan does not fit ${inv.source}:\n - ${problems.join("\n - ")}`);
  return items;
}

/** `i/N` with 1 <= i <= N: which shard this process moves. */
export function parseShard(s: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  const [index, count] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || count < 1 || index < 1 || index > count || count > 1000)
    throw new Error(`--shard is i/N with 1 <= i <= N (for example 2/4, as CI_NODE_INDEX/CI_NODE_TOTAL), not '${s}'`);
  return { index, count };
}

/**
 * Splits items into `count` disjoint shards balanced by bytes, deterministically. A version goes with the
 * experiment that holds its run (one unit, weighing the experiment's bytes, which hold the version's files), and the
 * cluster policies, instance pools and jobs go together (a job needs the others made first); units go largest first (ties by key) onto the shard with the fewest
 * bytes so far (then the fewest items, then the lowest number). Each shard keeps the move's order (notebooks,
 * experiments, models; by key within a kind).
 */
export function splitShards(items: MoveItem[], count: number): MoveItem[][] {
  const shards = Array.from({ length: count }, () => ({ bytes: 0, items: [] as MoveItem[] }));
  const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const keys = new Set(items.map((i) => i.key));
  const units = new Map<string, { key: string; bytes: number; items: MoveItem[] }>();
  for (const item of items) {
    const withRun = item.kind === "model-version" && item.withRun && keys.has(item.withRun) ? item.withRun : undefined;
    // Policies, pools and jobs go together: a job needs its policy, pool and the jobs it runs made before it.
    const together =
      item.kind === "cluster-policy" || item.kind === "instance-pool" || item.kind === "job" ? "workspace-objects" : undefined;
    const key = withRun ?? together ?? item.key;
    const unit = units.get(key) ?? { key, bytes: 0, items: [] };
    // Its files are its run's, moved with the experiment: they weigh once.
    if (!withRun) unit.bytes += item.bytes;
    unit.items.push(item);
    units.set(key, unit);
  }
  for (const unit of [...units.values()].sort((a, b) => b.bytes - a.bytes || byKey(a, b))) {
    let best = 0;
    for (let s = 1; s < count; s++) {
      const [x, y] = [shards[s], shards[best]];
      if (x.bytes < y.bytes || (x.bytes === y.bytes && x.items.length < y.items.length)) best = s;
    }
    shards[best].bytes += unit.bytes;
    shards[best].items.push(...unit.items);
  }
  return shards.map((s) => s.items.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || byKey(a, b)));
}
