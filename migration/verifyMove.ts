/**
 * Proves a move: both inventories are taken with every file, notebook and metric history hashed, and every
 * model version, run and notebook of the source must be in the target with the same content. Target
 * objects are found by the provenance the migrations record (source host, model and version; source run),
 * notebooks by path. The target may hold more than the source; that is not a difference.
 *
 * Between a workspace registry and Unity Catalog the model names differ (`m` and `catalog.schema.m`): the
 * names each source model must have in the target are given (`ModelNames`), and a migrated version counts
 * only in that model. What each side can hold differs too (stages, aliases): the target version must have
 * what the migration engine gives it under the same stage -> alias mapping (planLifecycle); what the target
 * cannot hold is listed as not carried, as the migration reported it.
 */
import { Endpoint, mlflowClient, RegistryKind, registryOf } from "../clients/mlflow";
import { workspaceClient } from "../clients/databricksWorkspace";
import { StoreSettings } from "../clients/objectStore";
import { ManifestEntry } from "./hashing";
import { LifecyclePlan, planLifecycle, REGISTRY_NAME } from "./lifecycle";
import { RUN_TAG, TAG } from "./provenance";
import { Inventory, isProvenanceTag, sameModelName, takeInventory, UC_SCHEMA, VersionInventory, RunInventory } from "./inventory";
import { RetryPolicy } from "../clients/http";

export interface Difference {
  kind: "model-version" | "experiment" | "run" | "notebook" | "git-folder";
  subject: string;
  detail: string;
}

export interface MoveVerification {
  from: string;
  to: string;
  checked: { modelVersions: number; runs: number; notebooks: number; files: number; bytes: number };
  differences: Difference[];
  /** Stages and aliases of the source that the target cannot hold and no stage -> alias mapping carries. */
  notCarried: { subject: string; detail: string }[];
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
  /** Source model -> the only versions of it to check (what a move selected); other models: every version. */
  versions?: Record<string, string[]>;
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

/** Parses `a=main.quant.a,b=main.quant.beta` (each of `values` may hold several) into a name map; throws naming the bad entry. */
export function parseModelMap(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of values
    .flatMap((v) => v.split(","))
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^([^=\s]+)=([^=\s]+)$/.exec(entry);
    if (!m) throw new Error(`--model-map '${entry}' is not SOURCE=TARGET (for example quant-alpha=main.quant.quant-alpha)`);
    if (out[m[1]] !== undefined && out[m[1]] !== m[2])
      throw new Error(`--model-map names model '${m[1]}' twice ('${out[m[1]]}' and '${m[2]}')`);
    out[m[1]] = m[2];
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
  out.push(...manifestDifferences(s.manifest ?? [], t.manifest ?? []).map((x) => `artifact ${x}`));
  return out;
}

/**
 * Compares two inventories taken with hashes. `names` gives each source model's name in the target (a
 * migrated version elsewhere does not count); `stageAliases` is the migrations' stage -> alias mapping.
 */
export function compareInventories(
  src: Inventory,
  dst: Inventory,
  opts: { names?: ModelNames; stageAliases?: Record<string, string> } = {},
): MoveVerification {
  const differences: Difference[] = [];
  const notCarried: MoveVerification["notCarried"] = [];
  const checked = { modelVersions: 0, runs: 0, notebooks: 0, files: 0, bytes: 0 };
  const names = opts.names ?? {};

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
  for (const m of src.models) {
    const expected = targetModelName(m.name, names, src.registry, dst.registry);
    const by =
      names.map && Object.keys(names.map).some((k) => sameModelName(k, m.name, src.registry))
        ? "--model-map"
        : `--uc-schema ${names.ucSchema}`;
    for (const v of m.versions) {
      if (v.status && v.status !== "READY") continue;
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

  // Runs, by the source run each target run records.
  for (const e of src.experiments) {
    const te = dst.experiments.find((x) => x.name === e.name);
    if (!te && e.runs.length) {
      differences.push({
        kind: "experiment",
        subject: `experiment '${e.name}'`,
        detail: `missing in ${dst.source} (${e.runs.length} runs)`,
      });
    }
    const byRun = new Map<string, RunInventory>();
    for (const r of te?.runs ?? [])
      if (r.tags[RUN_TAG.sourceHost] === src.host && r.tags[RUN_TAG.sourceRun]) byRun.set(r.tags[RUN_TAG.sourceRun], r);
    for (const r of e.runs) {
      checked.runs++;
      checked.files += r.files;
      checked.bytes += r.bytes;
      if (!te) continue;
      const subject = `run ${r.runId} ('${r.name ?? ""}') of experiment '${e.name}'`;
      const t = byRun.get(r.runId);
      if (!t) {
        differences.push({ kind: "run", subject, detail: `no run in ${dst.source} was migrated from it` });
        continue;
      }
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
  return { from: src.source, to: dst.source, checked, differences, notCarried };
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
  }).then((inv) => {
    for (const m of inv.models) {
      const only = o.versions?.[m.name];
      if (only) m.versions = m.versions.filter((v) => only.includes(v.version));
    }
    return inv;
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
  return compareInventories(src, dst, { names, stageAliases: o.stageAliases });
}

export function renderVerification(v: MoveVerification): string {
  const head = `verify-move ${v.from} -> ${v.to}: checked ${v.checked.modelVersions} model versions, ${v.checked.runs} runs, ${v.checked.notebooks} notebooks and files (${v.checked.files} artifact files, ${(v.checked.bytes / 1048576).toFixed(1)} MB)`;
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
