/**
 * Listings are untrusted: artifact paths and workspace paths come from the source server. A path that is
 * absolute, holds `..`, `.` or empty segments, or would land outside the target root is refused, naming
 * it, before anything is copied.
 */
import * as path from "path";
import { migrationError } from "./failure";

/** Why an artifact path (relative to its tree's root) is unsafe, or undefined when it is not. */
export function unsafeArtifactPath(p: string): string | undefined {
  if (p === "") return "it is empty";
  if (p.includes("\0")) return "it holds a NUL character";
  if (p.startsWith("/") || p.startsWith("\\") || /^[A-Za-z]:/.test(p)) return "it is absolute";
  const segments = p.split(/[\\/]/);
  if (segments.includes("..")) return "it holds a '..' segment";
  if (segments.includes(".")) return "it holds a '.' segment";
  if (segments.includes("")) return "it holds an empty segment";
  const root = "/target-root";
  if (!path.posix.resolve(root, p).startsWith(`${root}/`)) return "it would land outside the target root";
  return undefined;
}

/**
 * Why a workspace path listed under `root` (an absolute workspace path) is unsafe: it must be absolute,
 * without `..`, `.` or empty segments, and below `root`.
 */
export function unsafeWorkspacePath(p: string, root: string): string | undefined {
  if (!p.startsWith("/")) return "it is not an absolute workspace path";
  if (p.includes("\0")) return "it holds a NUL character";
  const segments = p.slice(1).split("/");
  if (segments.includes("..")) return "it holds a '..' segment";
  if (segments.includes(".")) return "it holds a '.' segment";
  if (segments.includes("")) return "it holds an empty segment";
  const under = root === "/" ? "/" : `${root.replace(/\/+$/, "")}/`;
  if (!path.posix.resolve(p).startsWith(under)) return `it would land outside '${root}'`;
  return undefined;
}

/** Throws one error naming every unsafe path of a listing, before anything is copied. */
export function refuseUnsafePaths(paths: string[], what: string, why: (p: string) => string | undefined = unsafeArtifactPath): void {
  const bad = paths.map((p) => ({ p, reason: why(p) })).filter((x) => x.reason);
  if (!bad.length) return;
  const shown = bad
    .slice(0, 10)
    .map((x) => `'${x.p}' (${x.reason})`)
    .join("; ");
  throw migrationError(
    `refusing to copy ${what}: its source listed ${bad.length === 1 ? "an unsafe path" : `${bad.length} unsafe paths`}: ${shown}${bad.length > 10 ? `; and ${bad.length - 10} more` : ""}; nothing was copied`,
  );
}
