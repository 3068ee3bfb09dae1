/**
 * Notebook migration: notebooks and workspace files between Databricks workspaces, over the Workspace API
 * client (clients/databricksWorkspace). Notebooks move in SOURCE format with their language; files move as
 * files. Every object is checksummed on export and checked again by exporting it from the target after
 * import. An object already in the target is skipped when identical and reported as a conflict when it
 * differs; it is replaced only with `overwrite`. Git folders are listed and left alone: they move through Git.
 */
import { DEFAULT_RETRY, RetryPolicy } from "../clients/http";
import { Endpoint } from "../clients/mlflow";
import { isGitFolder, WORKSPACE_CONTENT_LIMIT, WorkspaceClient, workspaceClient, WorkspaceObject } from "../clients/databricksWorkspace";
import { DEFAULT_CONCURRENCY, forEachLimited, mapLimited } from "./concurrency";
import { incompleteMigration, ItemFailure } from "./failure";
import { sha256 } from "./hashing";
import { refuseUnsafePaths, unsafeWorkspacePath } from "./safePaths";

export interface WorkspaceTree {
  /** Notebooks and files to move, sorted by path. */
  objects: WorkspaceObject[];
  /** Folders (created in the target even when empty). */
  directories: string[];
  /** Git folders: listed, never descended into; they move through Git. */
  gitFolders: string[];
  /** Objects of kinds this tool does not move (libraries, dashboards). */
  other: WorkspaceObject[];
}

const normalize = (p: string) => p.replace(/^\/Workspace(?=\/)/, "").replace(/\/+$/, "") || "/";

/** Walks the given paths, a few folders at a time. A path that does not exist is an error naming it. */
export async function walkWorkspace(ws: WorkspaceClient, paths: string[]): Promise<WorkspaceTree> {
  const tree: WorkspaceTree = { objects: [], directories: [], gitFolders: [], other: [] };
  const seen = new Set<string>();
  const add = (o: WorkspaceObject): string | undefined => {
    const p = normalize(o.path);
    if (seen.has(p)) return undefined;
    seen.add(p);
    const obj = { ...o, path: p };
    if (isGitFolder(obj)) tree.gitFolders.push(p);
    else if (obj.object_type === "DIRECTORY") {
      tree.directories.push(p);
      return p;
    } else if (obj.object_type === "NOTEBOOK" || obj.object_type === "FILE") tree.objects.push(obj);
    else tree.other.push(obj);
    return undefined;
  };
  let dirs: string[] = [];
  for (const raw of paths) {
    const path = normalize(raw);
    if (!path.startsWith("/")) throw new Error(`workspace path '${raw}' is not absolute; expected /Users/..., /Shared/... or similar`);
    const o = await ws.getStatus(path);
    if (!o) throw new Error(`workspace path '${path}' does not exist on ${ws.endpoint.uri}`);
    const d = add({ ...o, path });
    if (d) dirs.push(d);
  }
  while (dirs.length) {
    const next: string[] = [];
    const listings = await mapLimited(dirs, DEFAULT_CONCURRENCY, (d) => ws.list(d));
    // Listings are untrusted: every path must be a plain workspace path below the folder listed.
    for (const [i, listing] of listings.entries()) {
      refuseUnsafePaths(
        listing.map((o) => o.path).filter((p) => unsafeWorkspacePath(normalize(p), dirs[i])),
        `the workspace folder '${dirs[i]}' of ${ws.endpoint.uri}`,
        (p) => unsafeWorkspacePath(normalize(p), dirs[i]),
      );
    }
    for (const listing of listings) {
      for (const o of listing) {
        const d = add(o);
        if (d) next.push(d);
      }
    }
    dirs = next;
  }
  tree.objects.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  tree.directories.sort();
  tree.gitFolders.sort();
  return tree;
}

export type NotebookOutcome = "created" | "identical" | "overwritten" | "conflict" | "failed" | "planned";

export interface NotebookResult {
  path: string;
  type: "NOTEBOOK" | "FILE";
  language?: string;
  bytes: number;
  sha256?: string;
  outcome: NotebookOutcome;
  problem?: string;
}

export interface NotebookMigrationReport {
  from: string;
  to: string;
  paths: string[];
  objects: NotebookResult[];
  directories: number;
  gitFolders: string[];
  skipped: { path: string; type: string }[];
  dryRun: boolean;
  durationMs: number;
}

export interface NotebookMigrationOptions {
  from: Endpoint;
  to: Endpoint;
  paths: string[];
  overwrite?: boolean;
  dryRun?: boolean;
  concurrency?: number;
  retry?: RetryPolicy;
}

const kindOf = (o: WorkspaceObject) => (o.object_type === "NOTEBOOK" ? `${(o.language ?? "?").toLowerCase()} notebook` : "file");

/**
 * Moves notebooks and files under the paths; nothing is overwritten unless asked. An object that fails or
 * conflicts does not stop the others; but then the migration throws an `IncompleteMigration` carrying this
 * report and those objects, so it is never taken for success.
 */
export async function migrateNotebooks(o: NotebookMigrationOptions): Promise<NotebookMigrationReport> {
  const started = Date.now();
  const retry = o.retry ?? DEFAULT_RETRY;
  const src = workspaceClient(o.from, retry);
  const dst = workspaceClient(o.to, retry);
  const tree = await walkWorkspace(src, o.paths);
  const report: NotebookMigrationReport = {
    from: o.from.uri,
    to: o.to.uri,
    paths: o.paths,
    objects: [],
    directories: tree.directories.length,
    gitFolders: tree.gitFolders,
    skipped: tree.other.map((x) => ({ path: x.path, type: x.object_type })),
    dryRun: !!o.dryRun,
    durationMs: 0,
  };
  if (!o.dryRun) {
    // Parents first: a folder that is a notebook or file in the target is a conflict for everything under it.
    for (const d of tree.directories) {
      try {
        await dst.mkdirs(d);
      } catch (e) {
        throw new Error(`cannot create folder '${d}': ${(e as Error).message.replace(/\.$/, "")}; nothing under it was copied`);
      }
    }
  }
  const results = new Map<string, NotebookResult>();
  await forEachLimited(tree.objects, o.concurrency ?? DEFAULT_CONCURRENCY, async (obj) => {
    const r: NotebookResult = {
      path: obj.path,
      type: obj.object_type as "NOTEBOOK" | "FILE",
      language: obj.language,
      bytes: obj.size ?? 0,
      outcome: "planned",
    };
    results.set(obj.path, r);
    try {
      if (obj.size !== undefined && obj.size > WORKSPACE_CONTENT_LIMIT) {
        throw new Error(
          `it is ${obj.size} bytes; the Workspace API moves at most ${WORKSPACE_CONTENT_LIMIT} bytes (10 MB) per object, so move it through Git or the Files API`,
        );
      }
      const content = await src.export(obj);
      r.bytes = content.length;
      r.sha256 = sha256(content);
      if (o.dryRun) return;
      const existing = await dst.getStatus(obj.path);
      let overwrite = false;
      if (existing) {
        const same = existing.object_type === obj.object_type && (obj.object_type !== "NOTEBOOK" || existing.language === obj.language);
        const differs = !same
          ? `the target holds a ${kindOf(existing)} there, the source a ${kindOf(obj)}`
          : sha256(await dst.export({ ...existing, path: obj.path })) !== r.sha256
            ? "the target's content differs from the source's"
            : undefined;
        if (!differs) {
          r.outcome = "identical";
          return;
        }
        if (!o.overwrite) {
          r.outcome = "conflict";
          r.problem = `${differs}; not overwritten (pass --overwrite to replace it)`;
          return;
        }
        if (!same && existing.object_type === "DIRECTORY") {
          r.outcome = "conflict";
          r.problem = `${differs}; a folder is never replaced`;
          return;
        }
        overwrite = true;
      }
      await dst.import(obj, content, overwrite);
      const back = await dst.export(obj);
      if (sha256(back) !== r.sha256)
        throw new Error(
          `after import the target exports ${back.length} bytes with sha256 ${sha256(back).slice(0, 12)}…, the source ${content.length} bytes with ${r.sha256.slice(0, 12)}…`,
        );
      r.outcome = overwrite ? "overwritten" : "created";
    } catch (e) {
      r.outcome = "failed";
      r.problem = `${kindOf(obj)} '${obj.path}': ${(e as Error).message}`;
    }
  });
  report.objects = tree.objects.map((x) => results.get(x.path)!);
  report.durationMs = Date.now() - started;
  const failures: ItemFailure[] = report.objects
    .filter((r) => r.outcome === "failed" || r.outcome === "conflict")
    .map((r) => ({
      item: r.path,
      outcome: r.outcome as ItemFailure["outcome"],
      problem: r.outcome === "conflict" ? `'${r.path}': ${r.problem}` : r.problem!,
    }));
  if (failures.length)
    throw incompleteMigration(
      `notebooks under ${o.paths.join(", ")} were not migrated completely to ${o.to.uri}`,
      report.objects.length,
      report,
      failures,
    );
  return report;
}
