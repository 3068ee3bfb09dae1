/**
 * Proves a move: both inventories are taken with every file, notebook and metric history hashed, and every
 * model version, run and notebook of the source must be in the target with the same content. Target
 * objects are found by the provenance the migrations record (source host, model and version; source run),
 * notebooks by path. Inside what the move covered (its experiments, the target models of its models, its
 * folders), a target object that is no source object's copy is a difference too, named one by one: the team's
 * own work in the target (`extra`, never removed), a second copy of a source object (`duplicate`), a
 * migration's lease run (`orphaned-lease`). What `move` leaves out (movePlan.ts SKIP) is not checked, and is
 * listed as skipped with the reason.
 *
 * Between a workspace registry and Unity Catalog the model names differ (`m` and `catalog.schema.m`): the
 * names each source model must have in the target are given (`ModelNames`), and a migrated version counts
 * only in that model. What each side can hold differs too (stages, aliases): the target version must have
 * what the migration engine gives it under the same stage -> alias mapping (planLifecycle); what the target
 * cannot hold is listed as not carried, as the migration reported it.
 */
import { compareSecretScopes } from "./secrets";
import { Endpoint, mlflowClient, RegistryKind, registryOf } from "../clients/mlflow";
import { workspaceClient } from "../clients/databricksWorkspace";
import { StoreSettings } from "../clients/objectStore";
import { ManifestEntry } from "./hashing";
import { LifecyclePlan, planLifecycle, REGISTRY_NAME } from "./lifecycle";
import { SKIP } from "./movePlan";
import { RUN_TAG, TAG } from "./provenance";
import {
  Inventory,
  isProvenanceTag,
  ModelLink,
  sameModelName,
  takeInventory,
  UC_SCHEMA,
  VersionInventory,
  RunInventory,
} from "./inventory";
import { RetryPolicy } from "../clients/http";
import { compareCompute, Remaps } from "./compute";
import { compareJobs, sideNames } from "./jobs";
import { compareServingEndpoints, movedVersions } from "./serving";
import { compareLoggedModels, loggedModelInventory } from "./loggedModels";
import { hasStatus } from "../clients/http";

export interface Difference {
  kind:
    | "model-version"
    | "experiment"
    | "run"
    | "notebook"
    | "git-folder"
    | "secret-scope"
    | "cluster-policy"
    | "instance-pool"
    | "job"
    | "serving-endpoint"
    | "logged-model";
  subject: string;
  detail: string;
  /**
   * Set on a target object that no source object maps to: `extra` (no provenance of the source: the team's own work
   * in the target, never removed), `duplicate` (a second copy of a source object that has its copy), `orphaned-lease`
   * (a migration's lease run).
   */
  finding?: Finding;
  /** The target object's id (run id, version number, path) and name, on a finding. */
  id?: string;
  name?: string;
}

export type Finding = "extra" | "duplicate" | "orphaned-lease";

/** Source objects not checked because `move` does not move them (movePlan.ts SKIP), by kind and reason. */
export interface Skipped {
  kind: "model-version" | "experiment" | "run";
  why: string;
  count: number;
  names: string[];
}

export interface MoveVerification {
  from: string;
  to: string;
  checked: {
    modelVersions: number;
    runs: number;
    notebooks: number;
    files: number;
    bytes: number;
    secretScopes?: number;
    clusterPolicies?: number;
    instancePools?: number;
    jobs?: number;
    servingEndpoints?: number;
    loggedModels?: number;
  };
  differences: Difference[];
  /** Stages and aliases of the source that the target cannot hold and no stage -> alias mapping carries. */
  notCarried: { subject: string; detail: string }[];
  /** What was not checked because `move` does not move it, and why. */
  skipped: Skipped[];
}

/** The name each source model has in the target (see targetModelName). */
export interface ModelNames {
  /** The Unity Catalog side's `catalog.schema`: model `m` there is `<catalog>.<schema>.m`. */
  ucSchema?: string;
  /** Source name -> target name, for models migrated under another name (`--to-model`); wins over ucSchema. */
  map?: Record<string, string>;
}

export interface VerifyMoveOptions {
  from: Endpoint;
  to: Endpoint;
  paths?: string[];
  models?: string[];
  experiments?: string[];
  /** Model names in the target; required from a registry without Unity Catalog names into Unity Catalog. */
  names?: ModelNames;
  /** Stage -> alias, as given to the migrations (`--map-stage`). */
  stageAliases?: Record<string, string>;
  /** Source model -> the only versions of it to check (what a move selected); other models: every version `move` takes. */
  versions?: Record<string, string[]>;
  /** Check archived versions too, as `move --include-archived` moves them (without it they are skipped, as by move). */
  includeArchived?: boolean;
  /** Secret scopes to compare, by their keys and ACLs (Databricks workspaces). */
  secretScopes?: string[];
  /** Cluster policies, instance pools and jobs to compare (settings and ACLs), by name, through the plan's decisions. */
  clusterPolicies?: string[];
  instancePools?: string[];
  jobs?: string[];
  /** Serving endpoints to compare: config (served versions as moved), traffic, tags and ACL. */
  servingEndpoints?: string[];
  remaps?: Remaps;
  retry?: RetryPolicy;
  /** Cloud stores (Unity Catalog): endpoints and part settings; absent fields come from the environment. */
  storeSettings?: Partial<StoreSettings>;
}

/**
 * The name `source` must have in the target, or undefined when none is given (then a version migrated from
 * it counts in any target model). `map` first; else with `ucSchema`, into Unity Catalog `<catalog>.<schema>.m`
 * (Unity Catalog keeps names lower-case), out of it the model's own name `m`.
 */
export function targetModelName(source: string, names: ModelNames, from: RegistryKind, to: RegistryKind): string | undefined {
  const mapped = Object.entries(names.map ?? {}).find(([s]) => sameModelName(s, source, from))?.[1];
  if (mapped !== undefined) return to === "unity-catalog" ? mapped.toLowerCase() : mapped;
  if (names.ucSchema === undefined) return undefined;
  const own = from === "unity-catalog" ? source.slice(source.lastIndexOf(".") + 1) : source;
  return to === "unity-catalog" ? `${names.ucSchema}.${own}`.toLowerCase() : own;
}

/**
 * Checks that `names` fit the two registries, every problem at once: a well-formed schema on a Unity
 * Catalog side, three-part names into Unity Catalog, and some naming at all when moving into Unity Catalog
 * from a registry without its names.
 */
export function checkModelNames(names: ModelNames, from: Endpoint, to: Endpoint): void {
  const [src, dst] = [registryOf(from), registryOf(to)];
  const problems: string[] = [];
  const three = (n: string) => n.split(".").length === 3 && n.split(".").every(Boolean);
  if (names.ucSchema !== undefined) {
    if (!UC_SCHEMA.test(names.ucSchema))
      problems.push(`--uc-schema '${names.ucSchema}' is not <catalog>.<schema> (for example main.quant)`);
    if (src !== "unity-catalog" && dst !== "unity-catalog")
      problems.push(
        `--uc-schema names the Unity Catalog side's catalog and schema, and neither ${from.uri} (${REGISTRY_NAME[src]}) nor ${to.uri} (${REGISTRY_NAME[dst]}) is one; give databricks-uc://<profile> or databricks-uc+https://<workspace> for it`,
      );
  }
  for (const [s, t] of Object.entries(names.map ?? {})) {
    if (dst === "unity-catalog" && !three(t))
      problems.push(`--model-map ${s}=${t}: Unity Catalog names models <catalog>.<schema>.<model>, and '${t}' is not one`);
    if (src === "unity-catalog" && !three(s))
      problems.push(
        `--model-map ${s}=${t}: the source is Unity Catalog, whose models are named <catalog>.<schema>.<model>, and '${s}' is not one`,
      );
  }
  if (dst === "unity-catalog" && src !== "unity-catalog" && names.ucSchema === undefined && !Object.keys(names.map ?? {}).length)
    problems.push(
      `${to.uri} is a Unity Catalog registry, whose models are named <catalog>.<schema>.<model>: pass --uc-schema <catalog>.<schema> (the schema the models were migrated into, e.g. main.quant) or --model-map <model>=<catalog>.<schema>.<model>`,
    );
  if (problems.length) throw new Error(problems.length === 1 ? problems[0] : `Invalid model names:\n - ${problems.join("\n - ")}`);
}

/** The `A=B` entries of option values (each may hold several, comma-separated), each with its text; `pair` undefined when not `A=B`. */
export function optionPairs(values: string[]): { entry: string; pair?: [string, string] }[] {
  return values
    .flatMap((v) => v.split(","))
    .map((x) => x.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = /^([^=\s]+)=([^=\s]+)$/.exec(entry);
      return { entry, ...(m ? { pair: [m[1], m[2]] as [string, string] } : {}) };
    });
}

/** Parses `a=main.quant.a,b=main.quant.beta` (each of `values` may hold several) into a name map; throws naming the bad entry. */
export function parseModelMap(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { entry, pair } of optionPairs(values)) {
    if (!pair) throw new Error(`--model-map '${entry}' is not SOURCE=TARGET (for example quant-alpha=main.quant.quant-alpha)`);
    const [from, to] = pair;
    if (out[from] !== undefined && out[from] !== to)
      throw new Error(`--model-map names model '${from}' twice ('${out[from]}' and '${to}')`);
    out[from] = to;
  }
  return out;
}

/** Differences between two manifests, by path. */
export function manifestDifferences(src: ManifestEntry[], dst: ManifestEntry[]): string[] {
  const d = new Map(dst.map((f) => [f.path, f]));
  const out: string[] = [];
  for (const f of src) {
    const g = d.get(f.path);
    if (!g) out.push(`'${f.path}' is missing`);
    else if (g.size !== f.size) out.push(`'${f.path}' is ${g.size} bytes, the source's ${f.size}`);
    else if (g.sha256 !== f.sha256)
      out.push(`'${f.path}' differs (sha256 ${g.sha256.slice(0, 12)}…, the source's ${f.sha256.slice(0, 12)}…)`);
  }
  const s = new Set(src.map((f) => f.path));
  for (const g of dst) if (!s.has(g.path)) out.push(`'${g.path}' is in the target only`);
  return out;
}

function recordDifferences(
  a: Record<string, string>,
  b: Record<string, string>,
  what: string,
  skip: (k: string) => boolean = () => false,
): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(a)) {
    if (skip(k)) continue;
    if (!(k in b)) out.push(`${what} '${k}' is missing`);
    else if (b[k] !== v) out.push(`${what} '${k}' is '${b[k]}', the source's '${v}'`);
  }
  return out;
}

/** How the target version differs from the source, whose stage and aliases the target holds as `plan` says. */
function compareVersion(s: VersionInventory, t: VersionInventory, plan: LifecyclePlan): string[] {
  const out = manifestDifferences(s.manifest ?? [], t.manifest ?? []);
  if ((s.description ?? "") !== (t.description ?? "")) out.push("the description differs");
  for (const a of plan.aliases) {
    if (t.aliases.includes(a)) continue;
    const m = plan.mapped.find((x) => x.from === "stage" && x.to === a);
    out.push(`alias '${a}' is missing${m ? ` (the source's stage ${m.name}, by --map-stage ${m.name}=${a})` : ""}`);
  }
  if (plan.stage && plan.stage !== t.stage) {
    const m = plan.mapped.find((x) => x.from === "alias" && x.to === plan.stage);
    out.push(
      `stage is ${t.stage ?? "None"}, ${m ? `expected ${plan.stage} (the source's alias '${m.name}', by --map-stage ${plan.stage}=${m.name})` : `the source's ${plan.stage}`}`,
    );
  }
  out.push(...recordDifferences(s.tags, t.tags, "tag", isProvenanceTag));
  return out;
}

/**
 * A migrated version is complete when its migration set the state tag to `complete` last; one migrated
 * before that tag existed, when it is READY. Pending or failed ones (a Unity Catalog version is created
 * before its files are written) are not the copy.
 */
function isComplete(v: VersionInventory): boolean {
  const state = v.tags[TAG.state];
  return state === undefined ? !v.status || v.status === "READY" : state === "complete";
}

function compareRun(s: RunInventory, t: RunInventory): string[] {
  const out: string[] = [];
  if (s.status !== t.status) out.push(`status is ${t.status}, the source's ${s.status}`);
  if ((s.startTime ?? null) !== (t.startTime ?? null)) out.push(`start time is ${t.startTime}, the source's ${s.startTime}`);
  if ((s.endTime ?? null) !== (t.endTime ?? null)) out.push(`end time is ${t.endTime}, the source's ${s.endTime}`);
  out.push(...recordDifferences(s.params, t.params, "param"));
  for (const k of Object.keys(t.params)) if (!(k in s.params)) out.push(`param '${k}' is in the target only`);
  out.push(...recordDifferences(s.tags, t.tags, "tag", (k) => isProvenanceTag(k) || k === "mlflow.parentRunId"));
  for (const [k, h] of Object.entries(s.metrics ?? {})) {
    const g = t.metrics?.[k];
    if (!g) out.push(`metric '${k}' is missing`);
    else if (JSON.stringify(g) !== JSON.stringify(h))
      out.push(`metric '${k}' history differs (${g.length} points, the source's ${h.length})`);
  }
  const targetSets = new Set(t.datasets ?? []);
  const sourceSets = new Set(s.datasets ?? []);
  for (const d of sourceSets) if (!targetSets.has(d)) out.push(`dataset input ${d} is missing`);
  for (const d of targetSets) if (!sourceSets.has(d)) out.push(`dataset input ${d} is in the target only`);
  // Logged models by the source's ids: a target run's link counts for the source model its model is a copy of.
  const link = (l: ModelLink, id: string) => `model ${l.kind} ${id}${l.kind === "output" ? ` (step ${l.step})` : ""}`;
  const sourceLinks = new Set((s.models ?? []).map((l) => link(l, l.modelId)));
  const targetLinks = new Map((t.models ?? []).map((l) => [link(l, l.movedFrom ?? l.modelId), l]));
  for (const l of sourceLinks) if (!targetLinks.has(l)) out.push(`${l} is missing`);
  for (const [k, l] of targetLinks)
    if (!sourceLinks.has(k)) out.push(`${link(l, l.modelId)}${l.movedFrom ? ` (a copy of ${l.movedFrom})` : ""} is in the target only`);
  out.push(...manifestDifferences(s.manifest ?? [], t.manifest ?? []).map((x) => `artifact ${x}`));
  return out;
}

/** What compareInventories checks: the target names, the stage -> alias mapping, and the move's scope. */
export interface CompareOptions {
  names?: ModelNames;
  stageAliases?: Record<string, string>;
  /** Source model -> the only versions of it to check (a move's selection); other models: what `move` takes. */
  versions?: Record<string, string[]>;
  /** Archived versions are checked too (`--include-archived`). */
  includeArchived?: boolean;
}

/**
 * Compares two inventories taken with hashes. `names` gives each source model's name in the target (a
 * migrated version elsewhere does not count); `stageAliases` is the migrations' stage -> alias mapping.
 */
export function compareInventories(src: Inventory, dst: Inventory, opts: CompareOptions = {}): MoveVerification {
  const differences: Difference[] = [];
  const notCarried: MoveVerification["notCarried"] = [];
  const checked = { modelVersions: 0, runs: 0, notebooks: 0, files: 0, bytes: 0 };
  const names = opts.names ?? {};
  const skipped: Skipped[] = [];
  const skip = (kind: Skipped["kind"], why: string, name: string) => {
    const s = skipped.find((x) => x.kind === kind && x.why === why) ?? skipped[skipped.push({ kind, why, count: 0, names: [] }) - 1];
    s.count++;
    s.names.push(name);
  };

  // Model versions, by the provenance the model migration records: every target version migrated from each
  // source version, in whichever model it is. A Unity Catalog source's names are compared in lower case, as
  // it compares them (the migration records the name as it was typed).
  const migrated = new Map<string, { model: string; v: VersionInventory }[]>();
  const sourceKey = (model: string, version: string) => `${src.registry === "unity-catalog" ? model.toLowerCase() : model}\n${version}`;
  for (const m of dst.models) {
    for (const v of m.versions) {
      if (v.tags[TAG.sourceHost] !== src.host || (v.tags[TAG.fingerprint] ?? "").endsWith(":retired")) continue;
      const key = sourceKey(v.tags[TAG.sourceModel] ?? "", v.tags[TAG.sourceVersion] ?? "");
      migrated.set(key, [...(migrated.get(key) ?? []), { model: m.name, v }]);
    }
  }
  // The copy each source version in scope has (the complete one), and the target models the move covers.
  const copies = new Set<VersionInventory>();
  const copied = new Set<string>();
  const inScope = new Set<string>();
  const coveredModels: string[] = [];
  for (const m of src.models) {
    const expected = targetModelName(m.name, names, src.registry, dst.registry);
    coveredModels.push(expected ?? m.name);
    const by =
      names.map && Object.keys(names.map).some((k) => sameModelName(k, m.name, src.registry))
        ? "--model-map"
        : `--uc-schema ${names.ucSchema}`;
    const only = opts.versions?.[m.name];
    for (const v of m.versions) {
      // Not registered in the source: never moved. Otherwise the move's selection, or what `move` takes.
      const why =
        SKIP.version(v, { includeArchived: true }) ??
        (only ? (only.includes(v.version) ? undefined : "not selected by the move's plan") : SKIP.version(v, opts));
      if (why) {
        skip("model-version", why, `${m.name} version ${v.version}`);
        continue;
      }
      inScope.add(sourceKey(m.name, v.version));
      checked.modelVersions++;
      checked.files += v.files;
      checked.bytes += v.bytes;
      const subject = `model '${m.name}' version ${v.version}`;
      if (v.problem) {
        differences.push({ kind: "model-version", subject, detail: `its files could not be read in the source: ${v.problem}` });
        continue;
      }
      const all = migrated.get(sourceKey(m.name, v.version)) ?? [];
      const found = expected === undefined ? all : all.filter((c) => sameModelName(c.model, expected, dst.registry));
      if (!found.length) {
        const elsewhere = all.map((c) => `'${c.model}' version ${c.v.version}`).join(", ");
        differences.push({
          kind: "model-version",
          subject,
          detail:
            expected === undefined
              ? `no version in ${dst.source} was migrated from it`
              : `no version of '${expected}' (its name there by ${by}) in ${dst.source} was migrated from it${elsewhere ? `; ${elsewhere} was` : ""}`,
        });
        continue;
      }
      const done = found.filter((c) => isComplete(c.v)).sort((a, b) => Number(a.v.version) - Number(b.v.version));
      copies.add((done[0] ?? found[0]).v);
      copied.add(sourceKey(m.name, v.version));
      if (!done.length) {
        const c = found[0];
        const state = c.v.tags[TAG.state];
        differences.push({
          kind: "model-version",
          subject: `${subject} -> '${c.model}' version ${c.v.version}`,
          detail:
            state === "failed"
              ? "its migration failed and could not remove it: delete that version and migrate again"
              : `its migration did not finish (state ${state ?? "-"}, status ${c.v.status ?? "-"}); run it again to resume`,
        });
        continue;
      }
      const t = done[0];
      const plan = planLifecycle(src.registry, dst.registry, v.stage, v.aliases, opts.stageAliases);
      const to = `${subject} -> '${t.model}' version ${t.v.version}`;
      for (const d of compareVersion(v, t.v, plan)) differences.push({ kind: "model-version", subject: to, detail: d });
      for (const d of plan.dropped)
        notCarried.push({ subject: to, detail: `${d.kind} ${d.kind === "alias" ? `'${d.name}'` : d.name}: ${d.reason}` });
    }
  }

  // Versions in the target models the move covers that are no source version's copy.
  const sourceVersions = new Set(src.models.flatMap((m) => m.versions.map((v) => sourceKey(m.name, v.version))));
  for (const m of dst.models) {
    if (!coveredModels.some((n) => sameModelName(n, m.name, dst.registry))) continue;
    for (const v of m.versions) {
      if (copies.has(v) || (v.tags[TAG.fingerprint] ?? "").endsWith(":retired")) continue;
      const key = sourceKey(v.tags[TAG.sourceModel] ?? "", v.tags[TAG.sourceVersion] ?? "");
      const mine = v.tags[TAG.sourceHost] === src.host;
      // A copy of a source version this verification does not check (skipped, or out of the plan) is not a finding,
      // nor one in another model than its name there says (reported above, by the source version).
      if (mine && sourceVersions.has(key) && (!inScope.has(key) || !copied.has(key))) continue;
      const subject = `model '${m.name}' version ${v.version}`;
      const of = `version ${v.tags[TAG.sourceVersion]} of '${v.tags[TAG.sourceModel]}'`;
      const at = { kind: "model-version" as const, subject, id: v.version, name: m.name };
      if (mine && copied.has(key))
        differences.push({
          ...at,
          finding: "duplicate",
          detail: `duplicate: a second copy of the source's ${of}, which has its copy; left by an interrupted migration (delete it)`,
        });
      else differences.push({ ...at, finding: "extra", detail: `extra: ${provenanceOf(v.tags, src.host, of)}` });
    }
  }

  // Runs, by the source run each target run records.
  for (const e of src.experiments) {
    const skipE = SKIP.experiment(e);
    if (skipE) {
      skip("experiment", skipE, e.name);
      continue;
    }
    const runs = e.runs.filter((r) => {
      const why = SKIP.run(r);
      if (why) skip("run", why, `${r.runId} of experiment '${e.name}'`);
      return !why;
    });
    const te = dst.experiments.find((x) => x.name === e.name);
    if (!te && runs.length) {
      differences.push({
        kind: "experiment",
        subject: `experiment '${e.name}'`,
        detail: `missing in ${dst.source} (${runs.length} runs)`,
      });
    }
    // Every target run tied to each source run: the complete one is the copy, the others are findings below.
    const byRun = new Map<string, RunInventory[]>();
    for (const r of te?.runs ?? [])
      if (r.tags[RUN_TAG.sourceHost] === src.host && r.tags[RUN_TAG.sourceRun])
        byRun.set(r.tags[RUN_TAG.sourceRun], [...(byRun.get(r.tags[RUN_TAG.sourceRun]) ?? []), r]);
    const runCopies = new Map<RunInventory, string>();
    for (const r of runs) {
      checked.runs++;
      checked.files += r.files;
      checked.bytes += r.bytes;
      if (!te) continue;
      const subject = `run ${r.runId} ('${r.name ?? ""}') of experiment '${e.name}'`;
      const all = byRun.get(r.runId) ?? [];
      const t = all.find((x) => x.tags[RUN_TAG.complete]) ?? all[0];
      if (!t) {
        differences.push({ kind: "run", subject, detail: `no run in ${dst.source} was migrated from it` });
        continue;
      }
      runCopies.set(t, r.runId);
      if (!t.tags[RUN_TAG.complete]) {
        differences.push({
          kind: "run",
          subject: `${subject} -> ${t.runId}`,
          detail: "the migration of this run did not finish; run it again to resume",
        });
        continue;
      }
      for (const d of compareRun(r, t)) differences.push({ kind: "run", subject: `${subject} -> ${t.runId}`, detail: d });
    }
    // Runs of the target experiment that are no source run's copy.
    const sourceRuns = new Set(runs.map((r) => r.runId));
    for (const t of te?.runs ?? []) {
      if (runCopies.has(t)) continue;
      const at = {
        kind: "run" as const,
        subject: `run ${t.runId} ('${t.name ?? ""}') of experiment '${e.name}'`,
        id: t.runId,
        name: t.name ?? "",
      };
      const of = t.tags[RUN_TAG.sourceRun];
      if (t.tags[RUN_TAG.lease])
        differences.push({
          ...at,
          finding: "orphaned-lease",
          detail: `orphaned lease: a migration's lease run (tag ${RUN_TAG.lease}), left by a migration that stopped (or one still running); the next migration of this experiment removes it once it is silent`,
        });
      else if (t.tags[RUN_TAG.sourceHost] === src.host && sourceRuns.has(of))
        differences.push({
          ...at,
          finding: "duplicate",
          detail: `duplicate: a second copy of source run ${of}, which has its copy; left by an interrupted migration (a re-run of the move removes it)`,
        });
      else
        differences.push({
          ...at,
          finding: "extra",
          detail: `extra: ${provenanceOf(t.tags, src.host, `run ${of} (as an active run of this experiment)`, RUN_TAG.sourceHost)}`,
        });
    }
  }

  // Notebooks and files, by path; Git folders must exist as Git folders.
  if (src.workspace) {
    const t = new Map((dst.workspace?.objects ?? []).map((o) => [o.path, o]));
    for (const o of src.workspace.objects) {
      checked.notebooks++;
      const subject = `${o.type === "NOTEBOOK" ? "notebook" : "file"} '${o.path}'`;
      const g = t.get(o.path);
      if (o.problem) differences.push({ kind: "notebook", subject, detail: `could not be exported from the source: ${o.problem}` });
      else if (!g) differences.push({ kind: "notebook", subject, detail: `missing in ${dst.source}` });
      else if (g.type !== o.type || (g.language ?? "") !== (o.language ?? ""))
        differences.push({
          kind: "notebook",
          subject,
          detail: `the target holds a ${`${(g.language ?? "").toLowerCase()} ${g.type.toLowerCase()}`.trim()} there, the source a ${`${(o.language ?? "").toLowerCase()} ${o.type.toLowerCase()}`.trim()}`,
        });
      else if (g.problem) differences.push({ kind: "notebook", subject, detail: `could not be exported from the target: ${g.problem}` });
      else if (g.sha256 !== o.sha256)
        differences.push({ kind: "notebook", subject, detail: `content differs (${g.size} bytes, the source's ${o.size})` });
    }
    const s = new Set(src.workspace.objects.map((o) => o.path));
    for (const g of dst.workspace?.objects ?? [])
      if (!s.has(g.path))
        differences.push({
          kind: "notebook",
          subject: `${g.type === "NOTEBOOK" ? "notebook" : "file"} '${g.path}'`,
          id: g.path,
          name: g.path.slice(g.path.lastIndexOf("/") + 1),
          finding: "extra",
          detail: "extra: in the target only, under a folder the move covers (made there; move never removes it)",
        });
    const gits = new Set(dst.workspace?.gitFolders ?? []);
    for (const g of src.workspace.gitFolders) {
      if (!gits.has(g))
        differences.push({
          kind: "git-folder",
          subject: `Git folder '${g}'`,
          detail: "missing in the target: Git folders move through Git (the stack's Git folders, or a clone by the user)",
        });
    }
  }
  return { from: src.source, to: dst.source, checked, differences, notCarried, skipped };
}

/** Why a target object with these tags is no copy of a source object: which provenance it has, if any. */
function provenanceOf(tags: Record<string, string>, host: string, of: string, hostTag: string = TAG.sourceHost): string {
  const from = tags[hostTag];
  if (!from) return "no provenance tags: made in the target (the team's own work there), reported and never removed by move";
  if (from !== host) return `migrated from another host (${from}), not from the source`;
  return `migrated from the source's ${of}, which is not there (any more)`;
}

/** Both results; when either fails, the other is still awaited (nothing keeps reading behind the caller's back), then the first failure is thrown. */
async function bothSides<A, B>(a: Promise<A>, b: Promise<B>): Promise<readonly [A, B]> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === "rejected") throw x.reason;
  if (y.status === "rejected") throw y.reason;
  return [x.value, y.value];
}

export async function verifyMove(o: VerifyMoveOptions): Promise<MoveVerification> {
  const names = o.names ?? {};
  checkModelNames(names, o.from, o.to);
  const [fromKind, toKind] = [registryOf(o.from), registryOf(o.to)];
  // Into Unity Catalog by --model-map alone, every model needs its name there: refused before anything is hashed.
  if (toKind === "unity-catalog" && fromKind !== "unity-catalog" && names.ucSchema === undefined) {
    const listed = o.models ?? (await mlflowClient(o.from, o.retry).searchRegisteredModels()).map((m) => m.name);
    const unnamed = listed.filter((n) => targetModelName(n, names, fromKind, toKind) === undefined).map((n) => `'${n}'`);
    if (unnamed.length)
      throw new Error(
        `model${unnamed.length > 1 ? "s" : ""} ${unnamed.join(", ")} of ${o.from.uri} ha${unnamed.length > 1 ? "ve" : "s"} no name in Unity Catalog: add ${unnamed.length > 1 ? "them" : "it"} to --model-map (<model>=<catalog>.<schema>.<model>), pass --uc-schema <catalog>.<schema>, or leave ${unnamed.length > 1 ? "them" : "it"} out with --model`,
      );
  }
  const workspaceObjects = {
    ...(o.clusterPolicies?.length ? { clusterPolicies: o.clusterPolicies } : {}),
    ...(o.instancePools?.length ? { instancePools: o.instancePools } : {}),
    ...(o.jobs?.length ? { jobs: o.jobs } : {}),
    ...(o.servingEndpoints?.length ? { servingEndpoints: o.servingEndpoints } : {}),
  };
  const source = takeInventory({
    endpoint: o.from,
    paths: o.paths,
    models: o.models,
    experiments: o.experiments,
    // Out of Unity Catalog with a schema: that schema's models, unless they are named.
    ucSchema: fromKind === "unity-catalog" && !o.models ? names.ucSchema : undefined,
    hashes: true,
    retry: o.retry,
    storeSettings: o.storeSettings,
    ...(o.secretScopes?.length ? { secretScopes: o.secretScopes } : {}),
    ...workspaceObjects,
  });
  // In the target: the models the source's are named as there (all of them when no names are given; versions
  // are found by provenance), the source's experiments that exist, and the source's workspace paths that
  // exist. What is absent shows up as differences, not errors. When the models and experiments are named, both
  // sides are read at once; otherwise the source's inventory names them first.
  const target = async (models: string[], experiments: string[]) => {
    const dstClient = mlflowClient(o.to, o.retry);
    const expected = models.map((n) => targetModelName(n, names, fromKind, toKind));
    let inTarget: string[] | undefined;
    if (expected.every((n) => n !== undefined)) {
      inTarget = [];
      for (const n of new Set(expected as string[])) if (await dstClient.getRegisteredModel(n)) inTarget.push(n);
    }
    const existing = new Set((await dstClient.searchExperiments()).map((e) => e.name));
    const present: string[] = [];
    if (o.paths?.length) {
      const ws = workspaceClient(o.to, o.retry);
      for (const p of o.paths) if (await ws.getStatus(p)) present.push(p);
    }
    return takeInventory({
      endpoint: o.to,
      hashes: true,
      retry: o.retry,
      paths: present,
      models: inTarget,
      experiments: experiments.filter((n) => existing.has(n)),
      storeSettings: o.storeSettings,
      ...(o.secretScopes?.length ? { secretScopes: o.secretScopes } : {}),
      ...workspaceObjects,
    });
  };
  const [src, dst] =
    o.models && o.experiments
      ? await bothSides(source, target(o.models, o.experiments))
      : await source.then(
          async (s) =>
            [
              s,
              await target(
                s.models.map((m) => m.name),
                s.experiments.map((e) => e.name),
              ),
            ] as const,
        );
  const v = compareInventories(src, dst, {
    names,
    stageAliases: o.stageAliases,
    ...(o.versions ? { versions: o.versions } : {}),
    ...(o.includeArchived ? { includeArchived: true } : {}),
  });
  const remaps = o.remaps ?? {};
  if (o.secretScopes?.length) {
    for (const d of compareSecretScopes(src.secretScopes ?? [], dst.secretScopes ?? [], remaps.principalMap))
      v.differences.push({ kind: "secret-scope", ...d });
    v.checked.secretScopes = src.secretScopes?.length ?? 0;
  }
  for (const [kind, key, list] of [
    ["cluster-policy", "clusterPolicies", o.clusterPolicies],
    ["instance-pool", "instancePools", o.instancePools],
  ] as const)
    if (list?.length) {
      for (const d of compareCompute(src[key] ?? [], dst[key] ?? [], remaps)) v.differences.push({ kind, ...d });
      v.checked[key] = src[key]?.length ?? 0;
    }
  if (o.jobs?.length) {
    const [s, t] = await Promise.all([sideNames(o.from, o.retry), sideNames(o.to, o.retry)]);
    for (const d of compareJobs(src.jobs ?? [], dst.jobs ?? [], { source: s, target: t }, remaps))
      v.differences.push({ kind: "job", ...d });
    v.checked.jobs = src.jobs?.length ?? 0;
  }
  // The experiments' MLflow 3 logged models, each against its copy (found by the copy's record of its source).
  const [srcIds, dstIds] = [src.experiments.map((e) => e.id), dst.experiments.map((e) => e.id)];
  if (srcIds.length) {
    const noApi = (e: unknown) => {
      if (hasStatus(e, 404) || hasStatus(e, 501)) return [];
      throw e;
    };
    const [a, b] = await Promise.all([
      loggedModelInventory(o.from, srcIds, o.retry).catch(noApi),
      dstIds.length ? loggedModelInventory(o.to, dstIds, o.retry).catch(noApi) : [],
    ]);
    for (const d of compareLoggedModels(a, b, new Map())) v.differences.push({ kind: "logged-model", ...d });
    if (a.length) v.checked.loggedModels = a.length;
  }
  if (o.servingEndpoints?.length) {
    const served = (src.servingEndpoints ?? []).flatMap((e) => e.entities.map((x) => x.entity_name));
    const versions = await movedVersions(o.from, o.to, served);
    for (const d of compareServingEndpoints(src.servingEndpoints ?? [], dst.servingEndpoints ?? [], versions, remaps.principalMap))
      v.differences.push({ kind: "serving-endpoint", ...d });
    v.checked.servingEndpoints = src.servingEndpoints?.length ?? 0;
  }
  return v;
}

const KIND_WORDS: Record<Skipped["kind"], string> = { "model-version": "model versions", experiment: "experiments", run: "runs" };

export function renderVerification(v: MoveVerification): string {
  const head = [
    `verify-move ${v.from} -> ${v.to}: checked ${v.checked.modelVersions} model versions, ${v.checked.runs} runs, ${v.checked.notebooks} notebooks and files${v.checked.secretScopes !== undefined ? `, ${v.checked.secretScopes} secret scopes (keys and ACLs)` : ""}${v.checked.clusterPolicies !== undefined ? `, ${v.checked.clusterPolicies} cluster policies` : ""}${v.checked.instancePools !== undefined ? `, ${v.checked.instancePools} instance pools` : ""}${v.checked.jobs !== undefined ? `, ${v.checked.jobs} jobs (settings and permissions)` : ""}${v.checked.servingEndpoints !== undefined ? `, ${v.checked.servingEndpoints} serving endpoints` : ""}${v.checked.loggedModels !== undefined ? `, ${v.checked.loggedModels} logged models` : ""} (${v.checked.files} artifact files, ${(v.checked.bytes / 1048576).toFixed(1)} MB)`,
    // One line per kind and reason; the names are in --json.
    ...(v.skipped ?? []).map((s) => `skipped, as move does: ${KIND_WORDS[s.kind]} (${s.count}): ${s.why}`),
  ].join("\n");
  const notCarried = v.notCarried.length
    ? [
        `not carried (the target cannot hold them, as the migration reported; --map-stage checks a stage as an alias):`,
        ...v.notCarried.map((n) => `  ${n.subject}: ${n.detail}`),
      ]
    : [];
  if (!v.differences.length)
    return [head, ...notCarried, "identical: every model version, run and notebook of the source is in the target, byte for byte"].join(
      "\n",
    );
  return [
    head,
    ...notCarried,
    `${v.differences.length} difference(s):`,
    ...v.differences.map((d) => `  [${d.kind}] ${d.subject}: ${d.detail}`),
  ].join("\n");
}
