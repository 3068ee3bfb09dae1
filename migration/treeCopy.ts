/**
 * Artifact tree copy: list a tree, stream every file through SHA-256 into the target, verify each by reading
 * it back, keep a progress journal so an interrupted copy resumes, and write the manifest (read back before
 * anything is registered). Shared by model version and experiment migration.
 */
import { Readable } from "stream";
import { DEFAULT_RETRY, httpError, isNotFound, RetryPolicy, withRetry } from "../clients/http";
import { DEFAULT_CONCURRENCY, forEachLimited, mapLimited } from "./concurrency";
import { migrationError } from "./failure";
import { hashStream, hashTap, ManifestEntry, sha256 } from "./hashing";
import { PartedUploadResult, storeMismatch, uploadParted, UploadState } from "./partedUpload";
import { refuseUnsafePaths, unsafeArtifactPath } from "./safePaths";
import { ArtifactRoot, ArtifactTransport, readWhole } from "./transports/transport";

/**
 * `full`: every file read back and hashed. `size`: the target lists every file at its size. `store`: every
 * write carried a checksum the store verified, and the store reports each object whole (size, stored checksum or
 * committed parts); nothing is read back. Only where the target store verifies on write.
 */
export type VerifyMode = "full" | "size" | "store";
export const VERIFY_MODES: readonly VerifyMode[] = ["full", "size", "store"];

export interface Progress {
  phase: "listing" | "copying" | "registering" | "done";
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

/** `--verify store` where the target store does not verify what is written: refused before anything is copied. */
export function refuseStoreVerify(t: ArtifactTransport, verify: VerifyMode, where: string): void {
  if (verify !== "store") return;
  const why = t.storeVerification ? t.storeVerification() : `the ${t.name} store does not verify checksums on write`;
  if (why) throw migrationError(`--verify store is not offered for ${where}: ${why}; use --verify full (reads every byte back) or size`);
}

/** Where the progress journal and manifest of a migrated version or run live: never copied, never compared. */
export const JOURNAL_DIR = "_migration";

/** A copy this small is not journalled once it completes: copying it again costs about as much as the journal. */
export const SMALL_TREE = { files: 8, bytes: 16 * 1048576 };

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * Lists a tree recursively (listings are one level deep), a few directories at a time; sorted by path.
 * Listings are untrusted: an entry that is not a safe path below the directory listed (absolute, `..`,
 * empty segments, outside the root) stops the walk with an error naming it, before anything is copied.
 */
export async function listTree(
  t: ArtifactTransport,
  root: ArtifactRoot,
  /** A top-level directory that is neither listed nor returned. */
  skip?: string,
): Promise<{ path: string; size: number }[]> {
  const files: { path: string; size: number }[] = [];
  let dirs = [""];
  while (dirs.length) {
    const next: string[] = [];
    const listings = await mapLimited(dirs, DEFAULT_CONCURRENCY, (d) => t.list(root, d));
    for (const [i, entries] of listings.entries()) {
      const bad = entries.filter((e) => unsafeArtifactPath(e.path) || (dirs[i] !== "" && !e.path.startsWith(`${dirs[i]}/`)));
      const where = `the artifacts${root.runId ? ` of run ${root.runId}` : ""} under '${root.path}'${dirs[i] ? `, listing '${dirs[i]}'` : ""}`;
      refuseUnsafePaths(
        bad.map((e) => e.path),
        where,
        (p) => unsafeArtifactPath(p) ?? `it is not below the directory listed, '${dirs[i]}'`,
      );
      for (const e of entries) {
        if (e.isDir && e.path === skip) continue;
        if (e.isDir) next.push(e.path);
        else files.push({ path: e.path, size: e.size ?? 0 });
      }
    }
    dirs = next;
  }
  return files.sort(byPath);
}

/** A run's artifact root and files, without the journal of an earlier migration hop. */
export async function runFiles(
  t: ArtifactTransport,
  runId: string,
  artifactUri?: string,
): Promise<{ root: ArtifactRoot; files: { path: string; size: number }[] }> {
  const root = await t.runRoot(runId, "", artifactUri);
  // Not descended into; and filtered too, for a store that lists recursively.
  const files = await listTree(t, root, JOURNAL_DIR);
  return { root, files: files.filter((f) => f.path !== JOURNAL_DIR && !f.path.startsWith(`${JOURNAL_DIR}/`)) };
}

/** A JSON document of the tree, or undefined when it is not there. */
export async function readJson<T>(t: ArtifactTransport, root: ArtifactRoot, path: string): Promise<T | undefined> {
  try {
    return JSON.parse((await readWhole(t, root, path)).toString("utf8")) as T;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Writes a JSON document into the tree, sent again while it fails retryably (the same bytes again); returns their sha256. */
export async function writeJson(t: ArtifactTransport, root: ArtifactRoot, path: string, value: unknown): Promise<string> {
  const buf = Buffer.from(JSON.stringify(value, null, 2));
  await withRetry(DEFAULT_RETRY, () => t.upload(root, path, Readable.from([buf]), buf.length));
  return sha256(buf);
}

/** What copyTree needs: both sides, the listed source files, and where the progress journal lives. */
export interface TreeCopyOptions {
  srcT: ArtifactTransport;
  srcRoot: ArtifactRoot;
  dstT: ArtifactTransport;
  dstRoot: ArtifactRoot;
  journalRoot: ArtifactRoot;
  /** The target tree was created by this migration just now: there is no journal to read and nothing to resume. */
  fresh?: boolean;
  listed: { path: string; size: number }[];
  fingerprint: string;
  verify: VerifyMode;
  retry: RetryPolicy;
  concurrency: number;
  /** Parts of one file in flight at once, where the target takes parts (default 4). */
  partConcurrency?: number;
  /** Names a file in messages. */
  what: (path: string) => string;
  /** Names the tree in messages (the journal warning). */
  tree: string;
  progress?: Progress;
  tell?: () => void;
}

export interface TreeCopyResult {
  /** The manifest entries, in listing order. */
  files: ManifestEntry[];
  /** Files found already verified in the target (a resumed copy). */
  skippedFiles: number;
  /**
   * Empty unless the progress journal could not be saved. The copy itself is complete and every file was
   * verified, so this is a warning, not a failure: it only means an interrupted re-run could not have
   * skipped the files copied since the last journal that was saved.
   */
  warnings: string[];
}

/**
 * Streams every listed file through SHA-256 into the target, N at a time, and verifies each by reading it
 * back (full hash or listed size). Resumes from the journal: a file counts as done only while the journal
 * has it and the target still holds a file of that size.
 *
 * A journal that cannot be saved never stops the copy: it is reported in `warnings` when the copy succeeds,
 * and added to the thrown error's message when the copy fails (a re-run then copies more files again).
 */
export async function copyTree(o: TreeCopyOptions): Promise<TreeCopyResult> {
  const { srcT, srcRoot, dstT, dstRoot, journalRoot, listed, fingerprint, verify, retry } = o;
  const progress = o.progress ?? { phase: "copying", filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
  const tell = o.tell ?? (() => undefined);
  const journal = new Map<string, ManifestEntry>();
  // A journal being rewritten by a concurrent migration into the same run may read back torn (bad JSON, or a
  // body the server cut short while the file was replaced): it only saves work, so an unreadable one counts as none.
  const saved = o.fresh
    ? undefined
    : await readJson<{ files: ManifestEntry[]; target?: string; uploads?: Record<string, UploadState> }>(
        dstT,
        journalRoot,
        "progress.json",
      ).catch((e: Error & { status?: number; retryable?: boolean }) => {
        if (e instanceof SyntaxError || (e.status === 0 && e.retryable === true)) return undefined;
        throw e;
      });
  for (const e of saved?.files ?? []) journal.set(e.path, e);
  // Uploads in parts still in progress: only for the same target location (a Unity Catalog version created
  // afresh has another one).
  const target = JSON.stringify(dstRoot);
  const uploads = new Map<string, UploadState>(saved?.target === target ? Object.entries(saved.uploads ?? {}) : []);
  refuseStoreVerify(dstT, verify, o.tree);
  const present = journal.size ? new Map((await listTree(dstT, dstRoot)).map((f) => [f.path, f.size])) : new Map<string, number>();
  const verified = new Map<string, ManifestEntry>();
  for (const f of listed) {
    const j = journal.get(f.path);
    if (j && j.size === f.size && present.get(f.path) === f.size) verified.set(f.path, j);
  }
  const skippedFiles = verified.size;
  const skippedBytes = [...verified.values()].reduce((s, f) => s + f.size, 0);

  progress.phase = "copying";
  progress.filesTotal = listed.length;
  progress.bytesTotal = listed.reduce((s, f) => s + f.size, 0);
  progress.filesDone = verified.size;
  progress.bytesDone = skippedBytes;
  tell();

  // The journal is rewritten every 2 s, or after a tenth of the files (at least 8), whichever comes first, in
  // the background: workers never wait for it. A crash loses little; and with thousands of small files the
  // growing journal is not uploaded more often than the files themselves. A failed write is remembered.
  const every = Math.max(8, Math.ceil(listed.length / 10));
  let journalWritten = Date.now();
  let journalCount = verified.size;
  // Parts acknowledged since the journal was saved: an upload in parts is saved every 2 s as it goes.
  let partChanges = 0;
  let journalWrite: Promise<unknown> = Promise.resolve();
  const journalFailures: string[] = [];
  const saveJournal = (force: boolean) => {
    if (!force && verified.size === journalCount && partChanges === 0) return journalWrite;
    if (!force && Date.now() - journalWritten < 2000 && verified.size - journalCount < every && partChanges < 8) return journalWrite;
    journalWritten = Date.now();
    journalCount = verified.size;
    partChanges = 0;
    const snapshot = [...verified.values()];
    const inProgress = Object.fromEntries(uploads);
    journalWrite = journalWrite
      .then(() =>
        withRetry(retry, () =>
          writeJson(dstT, journalRoot, "progress.json", { fingerprint, files: snapshot, target, uploads: inProgress }),
        ),
      )
      .catch((e: Error) => {
        journalFailures.push(e.message);
      });
    return journalWrite;
  };
  const journalProblem = () =>
    `the progress journal of ${o.tree} could not be saved (${journalFailures.length} of its writes failed; last: ${journalFailures[journalFailures.length - 1]})`;

  const copyOne = async (f: { path: string; size: number }) => {
    const what = o.what(f.path);
    const entry = await withRetry(retry, async () => {
      // The sink first: once the download's response arrives, nothing may wait before its reader is attached.
      const sink = dstT.sink ? await dstT.sink(dstRoot, f.path) : undefined;
      if (!sink && verify === "store")
        throw migrationError(`--verify store is not offered for ${what}: its store takes no checksums on write; use --verify full or size`);
      const { body, length } = await srcT.download(srcRoot, f.path);
      if (length !== undefined && length !== f.size) {
        body.destroy();
        throw httpError(0, `${what}: the source now serves ${length} bytes, but listed ${f.size}`, true);
      }
      let sha: string;
      if (sink) {
        const sent: PartedUploadResult = await uploadParted({
          sink,
          body,
          length: f.size,
          what,
          retry,
          partConcurrency: o.partConcurrency ?? 4,
          resume: uploads.get(f.path),
          onState: (s) => {
            if (s) uploads.set(f.path, s);
            else uploads.delete(f.path);
            partChanges++;
            void saveJournal(false);
          },
        });
        sha = sent.sha256;
        if (verify === "store") {
          const problem = storeMismatch(sent, f.size, await dstT.stat!(dstRoot, f.path));
          // A mismatch is worth another copy; a store that keeps no checksum never will.
          if (problem) throw httpError(0, `${what}: verification failed: ${problem}`, !/no checksum|neither a checksum/.test(problem));
        }
      } else {
        const tap = hashTap(f.size, what);
        body.on("error", (e) => tap.destroy(e));
        body.pipe(tap);
        await dstT.upload(dstRoot, f.path, tap, f.size);
        sha = tap.digest();
      }
      if (verify === "full") {
        const back = await hashStream((await dstT.download(dstRoot, f.path)).body);
        if (back.size !== f.size || back.sha256 !== sha) {
          throw httpError(
            0,
            `${what}: verification failed: the target holds ${back.size} bytes with sha256 ${back.sha256.slice(0, 12)}…, expected ${f.size} bytes with ${sha.slice(0, 12)}…`,
            true,
          );
        }
      }
      return { path: f.path, size: f.size, sha256: sha };
    });
    verified.set(f.path, entry);
    progress.filesDone++;
    progress.bytesDone += f.size;
    tell();
    void saveJournal(false);
  };
  // --verify size: one listing per directory once its files are uploaded, not one per file (a directory of
  // 500 small files would be listed 500 times). A file the target lists at another size is copied again, a few
  // rounds, then the copy fails. Its journal entry may be saved before this check: a resumed run trusts a
  // journal entry only when the target lists the file at its size, which is this same check.
  const checkSizes = async (copied: { path: string; size: number }[]) => {
    const dirOf = (p: string) => (p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "");
    const dirs = [...new Set(copied.map((f) => dirOf(f.path)))];
    const sizes = new Map<string, number | undefined>();
    for (const entries of await mapLimited(dirs, o.concurrency || DEFAULT_CONCURRENCY, (d) =>
      withRetry(retry, () => dstT.list(dstRoot, d)),
    ))
      for (const e of entries) if (!e.isDir) sizes.set(e.path, e.size);
    return copied.filter((f) => sizes.get(f.path) !== f.size).map((f) => ({ f, found: sizes.get(f.path) }));
  };
  try {
    let todo = listed.filter((f) => !verified.has(f.path));
    for (let round = 1; todo.length; round++) {
      await forEachLimited(todo, o.concurrency || DEFAULT_CONCURRENCY, copyOne);
      if (verify !== "size") break;
      const wrong = await checkSizes(todo);
      for (const { f } of wrong) {
        verified.delete(f.path);
        progress.filesDone--;
        progress.bytesDone -= f.size;
      }
      if (wrong.length && round >= retry.attempts) {
        throw migrationError(
          wrong
            .slice(0, 5)
            .map(
              ({ f, found }) => `${o.what(f.path)}: verification failed: the target lists ${found ?? "no file"} bytes, expected ${f.size}`,
            )
            .join("; ") +
            (wrong.length > 5 ? `; and ${wrong.length - 5} more files` : "") +
            ` (after ${round} attempts)`,
        );
      }
      todo = wrong.map(({ f }) => f);
    }
  } catch (e) {
    await saveJournal(true);
    if (journalFailures.length && e instanceof Error)
      e.message = `${e.message}; also, ${journalProblem()}, so a re-run copies those files again`;
    throw e;
  }
  // The last journal, for a re-run after a failure that comes later (the manifest, the registration): not
  // written when copying everything again would cost about as much as writing it (a few small files).
  if (listed.length - skippedFiles >= SMALL_TREE.files || progress.bytesTotal - skippedBytes >= SMALL_TREE.bytes) await saveJournal(true);
  else await journalWrite;
  const warnings = journalFailures.length
    ? [
        `${journalProblem()}; every file was still copied and verified, but had this run been interrupted, a re-run could not have skipped the files copied since the last saved journal`,
      ]
    : [];
  return { files: listed.map((f) => verified.get(f.path)!), skippedFiles, warnings };
}

/** Writes a manifest and reads it back: it must arrive intact before anything is registered. */
export async function writeManifest(
  t: ArtifactTransport,
  journalRoot: ArtifactRoot,
  manifest: unknown,
  what: string,
  where: string,
): Promise<void> {
  // A few attempts: a concurrent migration of the same source may be writing the same manifest (same
  // bytes) into the same run, and a read during its write sees a torn file.
  for (let attempt = 1; ; attempt++) {
    const written = await writeJson(t, journalRoot, "manifest.json", manifest);
    const back = await readJson<unknown>(t, journalRoot, "manifest.json").catch((e) => {
      if (e instanceof SyntaxError) return undefined;
      throw e;
    });
    if (back && sha256(Buffer.from(JSON.stringify(back, null, 2))) === written) return;
    if (attempt >= 3) throw migrationError(`${what} did not read back intact from ${where}`);
    await new Promise((r) => setTimeout(r, 200 * attempt));
  }
}
