/**
 * What an environment holds: registered models and their versions (stage, aliases, artifact files and
 * bytes), experiments (runs, artifact bytes) and, for a Databricks workspace, the notebooks and files under
 * given paths with the Git folders among them. With `hashes`, every artifact file, run and notebook is read
 * and hashed, which is what verify-move compares.
 *
 * Against a Unity Catalog registry (`databricks-uc...`) the models are the registry's (`catalog.schema.model`,
 * aliases and no stages) and a version's files are read at its storage location with temporary read
 * credentials, through the cloud store's SDK; experiments and notebooks are the workspace's, as ever.
 */
import { DEFAULT_RETRY, orUndefined, RetryPolicy } from "../clients/http";
import { Endpoint, mlflowClient, MlflowClient, ModelVersion, RegistryKind, registryOf, Run, tagMap } from "../clients/mlflow";
import { StoreSettings } from "../clients/objectStore";
import { REGISTRY_NAME } from "./lifecycle";
import { workspaceClient } from "../clients/databricksWorkspace";
import { DEFAULT_CONCURRENCY, forEachLimited, mapLimited } from "./concurrency";
import { hashFiles, ManifestEntry, sha256 } from "./hashing";
import { metricHistories, modelLinksOf } from "./lineage";
import { loggedModelsClient, MODEL_TAG } from "./loggedModels";
import { listTree, runFiles } from "./treeCopy";
import { ArtifactTransport } from "./transports/transport";
import { transportFor } from "./transports/transportFor";
import { walkWorkspace } from "./notebooks";
import { noSecretsApi, SecretScopeInventory, secretScopeInventory } from "./secrets";
import { ComputeInventory, computeInventory, noComputeApi } from "./compute";
import { JobInventory, jobInventory } from "./jobs";
import { ServingEndpointInventory, servingEndpointInventory } from "./serving";
import { humanSize, noUnityCatalogApi, TableInventory, tableInventory } from "./tables";

export interface VersionInventory {
  version: string;
  stage: string | undefined;
  aliases: string[];
  status: string | undefined;
  runId: string | undefined;
  description: string | undefined;
  tags: Record<string, string>;
  /** Unity Catalog: where the version's files live (s3://, abfss://). */
  storageLocation?: string;
  files: number;
  bytes: number;
  /** Path -> size, and sha256 when hashed. */
  manifest?: ManifestEntry[];
  /** Why the files could not be listed (for example a store this registry's transport does not reach). */
  problem?: string;
}
export interface ModelInventory {
  name: string;
  versions: VersionInventory[];
}

export interface RunInventory {
  runId: string;
  name: string | undefined;
  status: string;
  startTime: number | undefined;
  endTime: number | undefined;
  params: Record<string, string>;
  tags: Record<string, string>;
  /** Each dataset input, as `name@digest (source_type source) [context]` plus its schema's and profile's lengths: sorted. */
  datasets?: string[];
  /** The MLflow 3 logged models the run used and produced, only when hashed (read with runs/get). */
  models?: ModelLink[];
  /** Metric key -> full history as [step, timestamp, value], only when hashed. */
  metrics?: Record<string, [number, number, number][]>;
  metricKeys: string[];
  files: number;
  bytes: number;
  manifest?: ManifestEntry[];
}
/** A run's link to a logged model it used (input) or produced (output, at a step), and the source model that one is a moved copy of. */
export interface ModelLink {
  kind: "input" | "output";
  modelId: string;
  step?: number;
  movedFrom?: string;
}

export interface ExperimentInventory {
  id: string;
  name: string;
  runs: RunInventory[];
  artifactBytes: number;
}

export interface WorkspaceEntry {
  path: string;
  type: "NOTEBOOK" | "FILE";
  language?: string;
  size?: number;
  sha256?: string;
  problem?: string;
}
export interface WorkspaceInventory {
  paths: string[];
  objects: WorkspaceEntry[];
  directories: string[];
  gitFolders: string[];
  other: { path: string; type: string }[];
}

export interface Inventory {
  source: string;
  host: string;
  /** Which registry holds the models: what it can hold (stages, aliases) decides how verify-move compares them. */
  registry: RegistryKind;
  models: ModelInventory[];
  experiments: ExperimentInventory[];
  workspace?: WorkspaceInventory;
  /** A workspace's secret scopes with their keys and ACLs (never values); absent elsewhere. */
  secretScopes?: SecretScopeInventory[];
  /** A workspace's cluster policies, instance pools and jobs with their ACLs; absent elsewhere. */
  clusterPolicies?: ComputeInventory[];
  instancePools?: ComputeInventory[];
  jobs?: JobInventory[];
  servingEndpoints?: ServingEndpointInventory[];
  /** A workspace's catalogs, schemas and tables (Unity Catalog and its Hive metastore) with their sizes; the data does not move. */
  tables?: TableInventory;
}

export interface InventoryOptions {
  endpoint: Endpoint;
  /** Workspace paths to list (Databricks only). */
  paths?: string[];
  /** Only these models / experiments (all when absent). Unity Catalog compares model names case-insensitively. */
  models?: string[];
  experiments?: string[];
  /** Unity Catalog: only the models of this `catalog.schema`. */
  ucSchema?: string;
  /** Read and hash every file, notebook and metric history (for verify-move). */
  hashes?: boolean;
  /** Secret scopes to read (keys and ACLs, never values): these, or all; none when absent. Databricks workspaces only. */
  secretScopes?: string[] | "all";
  /** Cluster policies, instance pools and jobs to read (by name): these, or all; none when absent. Databricks workspaces only. */
  clusterPolicies?: string[] | "all";
  instancePools?: string[] | "all";
  jobs?: string[] | "all";
  servingEndpoints?: string[] | "all";
  /** List the catalogs, schemas and tables (Databricks workspaces only). */
  tables?: boolean;
  retry?: RetryPolicy;
  /** Cloud stores (Unity Catalog): endpoints and part settings; absent fields come from the environment. */
  storeSettings?: Partial<StoreSettings>;
}

/** Runs or versions read at once, each reading a few of its files at once. */
const INVENTORY_ITEMS = DEFAULT_CONCURRENCY / 2;

/** `catalog.schema`, as `--uc-schema` takes it. */
export const UC_SCHEMA = /^[^.\s/]+\.[^.\s/]+$/;

/**
 * Whether two model names name the same model in `registry`: Unity Catalog keeps names lower-case and
 * compares them case-insensitively; the other registries compare them exactly.
 */
export function sameModelName(a: string, b: string, registry: RegistryKind): boolean {
  return registry === "unity-catalog" ? a.toLowerCase() === b.toLowerCase() : a === b;
}

async function versionInventory(
  c: MlflowClient,
  t: ArtifactTransport,
  name: string,
  v: ModelVersion,
  hashes: boolean,
): Promise<VersionInventory> {
  const out: VersionInventory = {
    version: v.version,
    stage: v.current_stage,
    aliases: [...(v.aliases ?? [])].sort(),
    status: v.status,
    runId: v.run_id,
    description: v.description,
    tags: tagMap(v.tags),
    ...(v.storage_location ? { storageLocation: v.storage_location } : {}),
    files: 0,
    bytes: 0,
  };
  try {
    const root = await t.versionRoot(v, await c.getDownloadUri(name, v.version));
    const files = await listTree(t, root);
    out.files = files.length;
    out.bytes = files.reduce((s, f) => s + f.size, 0);
    out.manifest = hashes ? await hashFiles(t, root, files) : files.map((f) => ({ path: f.path, size: f.size, sha256: "" }));
  } catch (e) {
    out.problem = (e as Error).message;
  }
  return out;
}

/** A run's dataset inputs, one line each, comparable across workspaces (the schema and profile by content hash). */
export function datasetsOf(run: Run): string[] {
  const h = (x: string | undefined) => (x ? sha256(x).slice(0, 12) : "-");
  return (run.inputs?.dataset_inputs ?? [])
    .map((d) => {
      const context = (d.tags ?? [])
        .map((t) => `${t.key}=${t.value}`)
        .sort()
        .join(",");
      const ds = d.dataset;
      return `${ds.name}@${ds.digest} (${ds.source_type} ${ds.source}) [${context}] schema ${h(ds.schema)} profile ${h(ds.profile)}`;
    })
    .sort();
}

async function runInventory(
  c: MlflowClient,
  t: ArtifactTransport,
  run: Run,
  hashes: boolean,
  movedFrom: (modelId: string) => Promise<string | undefined>,
): Promise<RunInventory> {
  const { root, files } = await runFiles(t, run.info.run_id, run.info.artifact_uri);
  const metricKeys = [...new Set((run.data.metrics ?? []).map((m) => m.key))].sort();
  const out: RunInventory = {
    runId: run.info.run_id,
    name: run.info.run_name,
    status: run.info.status,
    startTime: run.info.start_time,
    endTime: run.info.end_time,
    params: tagMap(run.data.params),
    tags: tagMap(run.data.tags),
    datasets: datasetsOf(run),
    metricKeys,
    files: files.length,
    bytes: files.reduce((s, f) => s + f.size, 0),
  };
  if (hashes) {
    out.metrics = {};
    for (const [k, h] of await metricHistories(c, run)) {
      out.metrics[k] = h
        .map((m) => [m.step, m.timestamp, m.value] as [number, number, number])
        .sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    }
    out.manifest = await hashFiles(t, root, files);
    // A search answers no model inputs: the run is read whole.
    const links = modelLinksOf(await c.getRun(run.info.run_id));
    const all: ModelLink[] = [
      ...links.inputs.map((modelId) => ({ kind: "input" as const, modelId })),
      ...links.outputs.map((m) => ({ kind: "output" as const, modelId: m.model_id, step: m.step })),
    ];
    out.models = await Promise.all(
      all.map(async (l) => {
        const from = await movedFrom(l.modelId);
        return from ? { ...l, movedFrom: from } : l;
      }),
    );
  }
  return out;
}

export async function takeInventory(o: InventoryOptions): Promise<Inventory> {
  const retry = o.retry ?? DEFAULT_RETRY;
  const c = mlflowClient(o.endpoint, retry);
  const t = transportFor(c, o.storeSettings);
  const hashes = !!o.hashes;
  const registry = registryOf(o.endpoint);
  const inv: Inventory = { source: o.endpoint.uri, host: o.endpoint.baseUrl, registry, models: [], experiments: [] };
  if (o.ucSchema !== undefined) {
    if (registry !== "unity-catalog")
      throw new Error(
        `a schema (${o.ucSchema}) selects Unity Catalog models, and ${o.endpoint.uri} is ${REGISTRY_NAME[registry]}; give its databricks-uc... form`,
      );
    if (!UC_SCHEMA.test(o.ucSchema)) throw new Error(`'${o.ucSchema}' is not <catalog>.<schema> (for example main.quant)`);
  }
  const inSchema = (name: string) => o.ucSchema === undefined || sameModelName(name.slice(0, name.lastIndexOf(".")), o.ucSchema, registry);
  const same = (a: string, b: string) => sameModelName(a, b, registry);

  const registered = (await c.searchRegisteredModels())
    .filter((m) => inSchema(m.name) && (!o.models || o.models.some((n) => same(n, m.name))))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const missing of (o.models ?? []).filter((n) => !registered.some((m) => same(m.name, n))))
    throw new Error(
      `model '${missing}' does not exist on ${o.endpoint.uri}${o.ucSchema !== undefined ? ` in schema ${o.ucSchema}` : ""}${registry === "unity-catalog" && missing.split(".").length !== 3 ? " (Unity Catalog names models <catalog>.<schema>.<model>)" : ""}`,
    );
  for (const { name, aliases } of registered) {
    const versions = (await c.listVersions(name)).sort((a, b) => Number(a.version) - Number(b.version));
    // A few versions at a time (and a few files of each): the reads are independent.
    const vs = await mapLimited(versions, INVENTORY_ITEMS, (v) =>
      versionInventory(
        c,
        t,
        name,
        // Version search results carry no aliases; the registered model lists them.
        { ...v, aliases: v.aliases?.length ? v.aliases : (aliases ?? []).filter((x) => x.version === v.version).map((x) => x.alias) },
        hashes,
      ),
    );
    inv.models.push({ name, versions: vs });
  }

  // The source model each logged model the runs link to is a copy of (its copy's record), each read once.
  const origins = new Map<string, Promise<string | undefined>>();
  const lm = loggedModelsClient(o.endpoint, retry);
  const movedFrom = (id: string) => {
    if (!origins.has(id))
      origins.set(
        id,
        orUndefined(lm.get(id)).then((m) => tagMap(m?.info.tags)[MODEL_TAG.sourceModel]),
      );
    return origins.get(id)!;
  };
  const experiments = (await c.searchExperiments())
    .filter((e) => !o.experiments || o.experiments.includes(e.name))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const missing of (o.experiments ?? []).filter((n) => !experiments.some((e) => e.name === n)))
    throw new Error(`experiment '${missing}' does not exist on ${o.endpoint.uri}`);
  for (const e of experiments) {
    const runs = await mapLimited(await c.allRuns([e.experiment_id]), INVENTORY_ITEMS, (r) => runInventory(c, t, r, hashes, movedFrom));
    inv.experiments.push({ id: e.experiment_id, name: e.name, runs, artifactBytes: runs.reduce((s, r) => s + r.bytes, 0) });
  }

  if (o.paths?.length) {
    const ws = workspaceClient(o.endpoint, retry);
    const tree = await walkWorkspace(ws, o.paths);
    const objects: WorkspaceEntry[] = tree.objects.map((x) => ({
      path: x.path,
      type: x.object_type as "NOTEBOOK" | "FILE",
      language: x.language,
      size: x.size,
    }));
    if (hashes) {
      await forEachLimited(tree.objects, DEFAULT_CONCURRENCY, async (x) => {
        const entry = objects.find((y) => y.path === x.path)!;
        try {
          const content = await ws.export(x);
          entry.size = content.length;
          entry.sha256 = sha256(content);
        } catch (e) {
          entry.problem = (e as Error).message;
        }
      });
    }
    inv.workspace = {
      paths: o.paths,
      objects,
      directories: tree.directories,
      gitFolders: tree.gitFolders,
      other: tree.other.map((x) => ({ path: x.path, type: x.object_type })),
    };
  }
  if (o.endpoint.transport === "databricks" && o.secretScopes !== undefined)
    inv.secretScopes = await secretScopeInventory(o.endpoint, o.secretScopes === "all" ? undefined : o.secretScopes, retry).catch((e) => {
      if (noSecretsApi(e)) return [];
      throw e;
    });
  if (o.endpoint.transport === "databricks") {
    const names = (x: string[] | "all") => (x === "all" ? undefined : x);
    const orNone = <T>(p: Promise<T[]>) =>
      p.catch((e) => {
        if (noComputeApi(e)) return [] as T[];
        throw e;
      });
    if (o.clusterPolicies !== undefined)
      inv.clusterPolicies = await orNone(computeInventory(o.endpoint, "cluster-policy", names(o.clusterPolicies), retry));
    if (o.instancePools !== undefined)
      inv.instancePools = await orNone(computeInventory(o.endpoint, "instance-pool", names(o.instancePools), retry));
    if (o.jobs !== undefined) inv.jobs = await orNone(jobInventory(o.endpoint, names(o.jobs), retry));
    if (o.servingEndpoints !== undefined)
      inv.servingEndpoints = await orNone(servingEndpointInventory(o.endpoint, names(o.servingEndpoints), retry));
    if (o.tables)
      inv.tables = await tableInventory(o.endpoint, {}, retry).catch((e) => {
        if (noUnityCatalogApi(e)) return undefined;
        throw e;
      });
  }
  return inv;
}

/** True for tags the migration itself writes: they are provenance, not content. */
export const isProvenanceTag = (k: string) => k.startsWith("quant.migration.");

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

/** The inventory as tables for a terminal. */
export function renderInventory(inv: Inventory): string {
  const lines: string[] = [`inventory of ${inv.source}`, ""];
  const versions = inv.models.reduce((s, m) => s + m.versions.length, 0);
  lines.push(`registered models: ${inv.models.length} (${versions} versions) in ${REGISTRY_NAME[inv.registry]}`);
  for (const m of inv.models) {
    for (const v of m.versions) {
      lines.push(
        `  ${m.name.padEnd(32)} v${v.version.padEnd(4)} ${(v.stage ?? "None").padEnd(10)} ${(v.aliases.join(",") || "-").padEnd(16)} ${String(v.files).padStart(6)} files ${mb(v.bytes).padStart(10)}${v.problem ? `  (${v.problem})` : ""}`,
      );
    }
  }
  lines.push("", `experiments: ${inv.experiments.length}`);
  for (const e of inv.experiments) {
    lines.push(
      `  ${e.name.padEnd(40)} id ${e.id.padEnd(6)} ${String(e.runs.length).padStart(5)} runs ${String(e.runs.reduce((s, r) => s + r.files, 0)).padStart(6)} files ${mb(e.artifactBytes).padStart(10)}`,
    );
  }
  if (inv.workspace) {
    const w = inv.workspace;
    const nb = w.objects.filter((o) => o.type === "NOTEBOOK");
    lines.push(
      "",
      `workspace under ${w.paths.join(", ")}: ${nb.length} notebooks, ${w.objects.length - nb.length} files, ${w.directories.length} folders, ${w.gitFolders.length} Git folders`,
    );
    for (const o of w.objects)
      lines.push(
        `  ${o.type === "NOTEBOOK" ? `notebook ${(o.language ?? "").toLowerCase()}`.padEnd(16) : "file".padEnd(16)} ${o.path}${o.size !== undefined ? `  ${o.size} bytes` : ""}`,
      );
    for (const g of w.gitFolders) lines.push(`  ${"Git folder".padEnd(16)} ${g}  (moves through Git: clone it in the target, not copied)`);
    for (const o of w.other) lines.push(`  ${o.type.toLowerCase().padEnd(16)} ${o.path}  (not moved by this tool)`);
  }
  if (inv.secretScopes) {
    lines.push("", `secret scopes: ${inv.secretScopes.length}`);
    for (const sc of inv.secretScopes)
      lines.push(`  ${sc.name.padEnd(40)} ${String(sc.keys.length).padStart(4)} keys ${Object.keys(sc.acls).length} ACL entries`);
  }
  for (const [label, list] of [
    ["cluster policies", inv.clusterPolicies],
    ["instance pools", inv.instancePools],
  ] as const) {
    if (!list) continue;
    lines.push("", `${label}: ${list.length}`);
    for (const c of list) lines.push(`  ${c.name.padEnd(40)} id ${c.id.padEnd(20)} ${c.acl.length} ACL entries`);
  }
  if (inv.tables) {
    const all = inv.tables.catalogs.flatMap((c) => c.schemas.flatMap((s) => s.tables));
    const known = all.filter((t) => t.sizeBytes !== undefined);
    lines.push(
      "",
      `tables: ${all.length} in ${inv.tables.catalogs.length} catalogs (metastore ${inv.tables.metastoreId}), ${humanSize(known.reduce((s, t) => s + (t.sizeBytes ?? 0), 0))} in the ${known.length} of known size (the data does not move: move --plan-out writes the SQL that copies it)`,
    );
    for (const t of all)
      lines.push(
        `  ${t.fullName.padEnd(48)} ${`${t.type}${t.format ? ` ${t.format}` : ""}`.padEnd(18)} ${(t.sizeBytes === undefined ? "size unknown" : humanSize(t.sizeBytes)).padStart(12)}${t.rows !== undefined ? `  ${t.rows} rows` : ""}`,
      );
  }
  if (inv.servingEndpoints) {
    lines.push("", `serving endpoints: ${inv.servingEndpoints.length}`);
    for (const e of inv.servingEndpoints)
      lines.push(
        `  ${e.name.padEnd(40)} ${e.entities.map((x) => `${x.entity_name} v${x.entity_version} ${e.traffic[x.name ?? ""] ?? 0}%`).join(", ")}`,
      );
  }
  if (inv.jobs) {
    lines.push("", `jobs: ${inv.jobs.length}`);
    for (const j of inv.jobs) {
      const triggers = ["schedule", "continuous", "trigger"].filter((t) => j.settings[t]);
      lines.push(
        `  ${j.name.padEnd(40)} id ${j.id.padEnd(8)} ${String(((j.settings.tasks as unknown[]) ?? []).length).padStart(3)} tasks  ${triggers.join(", ") || "no schedule"}  owner ${j.acl.find((g) => g.level === "IS_OWNER")?.principal ?? "none"}`,
      );
    }
  }
  return lines.join("\n");
}
