import { Readable } from "stream";
import { DEFAULT_RETRY, RetryPolicy, withRetry } from "../../clients/http";
import { ModelVersion } from "../../clients/mlflow";
import { ObjectSink, StoredObject } from "../../clients/objectStore";

/** Where a tree of artifacts lives: a run and a path under its artifact root, or a proxy path. */
export interface ArtifactRoot {
  runId?: string;
  path: string;
  /** A Unity Catalog model version's files (`path` is its storage location): read, or written while pending. */
  model?: { name: string; version: string; write: boolean };
  /**
   * An MLflow 3 logged model's files on a Databricks workspace (`path` is below its artifact root), reached through
   * the logged-model artifact routes rather than a run's.
   */
  loggedModel?: string;
}

/** One entry of a one-level listing; `path` is relative to the root it was listed under. */
export interface ArtifactEntry {
  path: string;
  isDir: boolean;
  size?: number;
}

/** How bytes move in and out of one kind of artifact store. */
export interface ArtifactTransport {
  readonly name: string;
  /** The artifact root holding a model version's files. */
  versionRoot(version: ModelVersion, downloadUri: string): Promise<ArtifactRoot>;
  /**
   * The root `sub` below a run's artifact root (where the engine writes in the target). `artifactUri`, the
   * run's as the caller already holds it (a run as searched or created), saves reading the run again.
   */
  runRoot(runId: string, sub: string, artifactUri?: string): Promise<ArtifactRoot>;
  list(root: ArtifactRoot, dir: string): Promise<ArtifactEntry[]>;
  download(root: ArtifactRoot, path: string): Promise<{ body: Readable; length: number | undefined }>;
  upload(root: ArtifactRoot, path: string, body: Readable, length: number): Promise<void>;
  /** Why this store cannot hold a file under that name, or undefined when it can. */
  refuses(path: string): string | undefined;
  /**
   * Cloud stores: where one file is written, checksummed on every request, in parts when large. When it gives
   * one, the engine writes through it instead of `upload`; undefined when this file's store takes no checksums
   * (then `upload` streams it, and `--verify store` is refused).
   */
  sink?(root: ArtifactRoot, path: string): Promise<ObjectSink | undefined>;
  /**
   * Why `--verify store` cannot be relied on here, or undefined when the store checks a checksum sent with
   * every write and `stat` reports what it holds.
   */
  storeVerification?(): string | undefined;
  /** What the store holds for one file (size, stored checksum, committed parts), for `--verify store`. */
  stat?(root: ArtifactRoot, path: string): Promise<StoredObject | undefined>;
}

/** A logged model's storage location on Databricks, and a path below it: `.../logged_models/<id>/artifacts[/<sub>]`. */
export const LOGGED_MODEL_LOCATION = /\/logged_models\/(m-[^/]+)\/artifacts(?:\/(.*))?$/;

/**
 * The id of the logged model a version was registered from: its `model_id`, a `models:/m-...` source, or a source
 * that is the model's storage location (how MLflow's client registers one in a Databricks workspace registry, which
 * takes no `models:/` source).
 */
export function sourceModelIdOf(version: ModelVersion & { model_id?: string }): string | undefined {
  const source = version.source ?? "";
  const stored = LOGGED_MODEL_LOCATION.exec(source);
  return (
    version.model_id ||
    /^models:\/(m-[0-9a-f]+)\/?$/.exec(source)?.[1] ||
    (stored && !stored[2]?.replace(/\/+$/, "") ? stored[1] : undefined)
  );
}

/** Joins artifact path parts with '/', ignoring empty ones. */
export const joinPath = (...parts: string[]) => parts.filter((p) => p !== "").join("/");

/** Percent-encodes each segment of a path (MLflow's own client does not, and loses names at '#'). */
export const encodePath = (p: string) => p.split("/").map(encodeURIComponent).join("/");

/**
 * One file of a tree, read whole, read again from the start while the read fails retryably (an answer refused
 * with 429 or 5xx, a connection dropped, a body cut short): a GET is safe to send twice.
 */
export function readWhole(t: ArtifactTransport, root: ArtifactRoot, path: string, retry: RetryPolicy = DEFAULT_RETRY): Promise<Buffer> {
  return withRetry(retry, async () => {
    const chunks: Buffer[] = [];
    for await (const c of (await t.download(root, path)).body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  });
}
