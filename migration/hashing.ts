/**
 * Content identity: SHA-256 of strings, streams and artifact files, and the digest of a manifest. No API
 * returns checksums, so bytes are hashed while they stream and verified by reading them back.
 */
import { createHash } from "crypto";
import { Readable, Transform } from "stream";
import { DEFAULT_RETRY, httpError, withRetry } from "../clients/http";
import { DEFAULT_CONCURRENCY, mapLimited } from "./concurrency";
import { ArtifactRoot, ArtifactTransport } from "./transports/transport";

/** One file of a manifest: what the target must hold. */
export interface ManifestEntry {
  path: string;
  size: number;
  sha256: string;
}

export const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

/** The digest of a manifest: sha256 of its canonical JSON (files sorted by path). */
export function manifestDigest(files: ManifestEntry[]): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sha256(JSON.stringify(sorted.map((f) => [f.path, f.size, f.sha256])));
}

/**
 * A pass-through that hashes and counts, and fails (retryably) when the stream is not exactly `expected`
 * bytes.
 */
export function hashTap(expected: number, what: string): Transform & { digest(): string; count(): number } {
  const h = createHash("sha256");
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > expected) return cb(httpError(0, `${what}: the source sent more than the ${expected} bytes it listed`, true));
      h.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      cb(n === expected ? null : httpError(0, `${what}: the source stream ended after ${n} of ${expected} bytes (truncated)`, true));
    },
  });
  return Object.assign(t, { digest: () => h.digest("hex"), count: () => n });
}

/** Hashes a whole stream. */
export async function hashStream(body: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of body) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest("hex"), size };
}

/** Reads and hashes the given files of a tree, a few at a time; entries come back in the order given. */
export function hashFiles(
  t: ArtifactTransport,
  root: ArtifactRoot,
  files: { path: string }[],
  concurrency = DEFAULT_CONCURRENCY,
): Promise<ManifestEntry[]> {
  return mapLimited(files, concurrency, async (f) => {
    // Read again from the start while the read fails retryably: a GET is safe to send twice.
    const h = await withRetry(DEFAULT_RETRY, async () => hashStream((await t.download(root, f.path)).body));
    return { path: f.path, size: h.size, sha256: h.sha256 };
  });
}
