/**
 * Proves a move: both inventories are taken with every file, notebook and metric history hashed, and every
 * model version, run and notebook of the source must be in the target with the same content. Target
 * objects are found by the provenance the migrations record (source host, model and version; source run),
 * notebooks by path. The target may hold more than the source; that is not a difference.
 */
import { Endpoint, mlflowClient } from "../clients/mlflow";
import { workspaceClient } from "../clients/databricksWorkspace";
import { ManifestEntry } from "./hashing";
import { RUN_TAG, TAG } from "./provenance";
import { Inventory, isProvenanceTag, takeInventory, VersionInventory, RunInventory } from "./inventory";
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
}

export interface VerifyMoveOptions {
  from: Endpoint;
  to: Endpoint;
  paths?: string[];
  models?: string[];
  experiments?: string[];
  retry?: RetryPolicy;
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

function compareVersion(s: VersionInventory, t: VersionInventory): string[] {
  const out = manifestDifferences(s.manifest ?? [], t.manifest ?? []);
  if ((s.description ?? "") !== (t.description ?? "")) out.push("the description differs");
  for (const a of s.aliases) if (!t.aliases.includes(a)) out.push(`alias '${a}' is missing`);
  if (s.stage && s.stage !== "None" && s.stage !== t.stage) out.push(`stage is ${t.stage ?? "None"}, the source's ${s.stage}`);
  out.push(...recordDifferences(s.tags, t.tags, "tag", isProvenanceTag));
  return out;
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

/** Compares two inventories taken with hashes. */
export function compareInventories(src: Inventory, dst: Inventory): MoveVerification {
  const differences: Difference[] = [];
  const checked = { modelVersions: 0, runs: 0, notebooks: 0, files: 0, bytes: 0 };

  // Model versions, by the provenance the model migration records.
  const migrated = new Map<string, { model: string; v: VersionInventory }>();
  for (const m of dst.models) {
    for (const v of m.versions) {
      if (v.tags[TAG.sourceHost] !== src.host || (v.tags[TAG.fingerprint] ?? "").endsWith(":retired")) continue;
      migrated.set(`${v.tags[TAG.sourceModel]}\n${v.tags[TAG.sourceVersion]}`, { model: m.name, v });
    }
  }
  for (const m of src.models) {
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
      const t = migrated.get(`${m.name}\n${v.version}`);
      if (!t) {
        differences.push({ kind: "model-version", subject, detail: `no version in ${dst.source} was migrated from it` });
        continue;
      }
      for (const d of compareVersion(v, t.v))
        differences.push({ kind: "model-version", subject: `${subject} -> '${t.model}' version ${t.v.version}`, detail: d });
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
  return { from: src.source, to: dst.source, checked, differences };
}

export async function verifyMove(o: VerifyMoveOptions): Promise<MoveVerification> {
  const src = await takeInventory({
    endpoint: o.from,
    paths: o.paths,
    models: o.models,
    experiments: o.experiments,
    hashes: true,
    retry: o.retry,
  });
  // In the target: every model (versions are found by provenance), the source's experiments that exist,
  // and the source's workspace paths that exist. What is absent shows up as differences, not errors.
  const names = new Set((await mlflowClient(o.to, o.retry).searchExperiments()).map((e) => e.name));
  const present: string[] = [];
  if (o.paths?.length) {
    const ws = workspaceClient(o.to, o.retry);
    for (const p of o.paths) if (await ws.getStatus(p)) present.push(p);
  }
  const dst = await takeInventory({
    endpoint: o.to,
    hashes: true,
    retry: o.retry,
    paths: present,
    experiments: src.experiments.map((e) => e.name).filter((n) => names.has(n)),
  });
  return compareInventories(src, dst);
}

export function renderVerification(v: MoveVerification): string {
  const head = `verify-move ${v.from} -> ${v.to}: checked ${v.checked.modelVersions} model versions, ${v.checked.runs} runs, ${v.checked.notebooks} notebooks and files (${v.checked.files} artifact files, ${(v.checked.bytes / 1048576).toFixed(1)} MB)`;
  if (!v.differences.length)
    return `${head}\nidentical: every model version, run and notebook of the source is in the target, byte for byte`;
  return [head, `${v.differences.length} difference(s):`, ...v.differences.map((d) => `  [${d.kind}] ${d.subject}: ${d.detail}`)].join(
    "\n",
  );
}
