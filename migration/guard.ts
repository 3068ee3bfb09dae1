/**
 * The migration guard: a model moves only along an edge of the promotion flow, and into production only
 * with an approval recorded by an approver who is not the version's author. Checked before any copy.
 */
import { ModelVersion, Run, tagMap } from "../clients/mlflow";
import { allowedTargets, Edge, isEdge } from "../plan/flow";
import { migrationError } from "./failure";
import { TAG } from "./provenance";

export interface MigrationGuard {
  flow: Edge[];
  fromEnv: string;
  toEnv: string;
  /** Promotion into production needs an approval by someone other than the version's author. */
  production: boolean;
  /** Who holds an approving role (emails or user names as the registry records them). */
  approvers: string[];
}

/** Who authored a version: the registry's user_id, else the user who ran the source run. */
export function authorOf(version: ModelVersion, run: Run | undefined): string | undefined {
  return version.user_id || tagMap(run?.data.tags)["mlflow.user"] || undefined;
}

/** The source -> target environments must be a promotion edge: checked before any request. */
export function checkEdge(g: MigrationGuard): void {
  if (!isEdge(g.flow, g.fromEnv, g.toEnv)) {
    const allowed = allowedTargets(g.flow, g.fromEnv);
    throw migrationError(`refusing to migrate from ${g.fromEnv} to ${g.toEnv}: not an edge of the promotion flow (allowed from ${g.fromEnv}: ${allowed.join(", ") || "none"})`);
  }
}

/** Into production, the version needs an approval by an approver who is not its author. */
export function checkApproval(g: MigrationGuard, version: ModelVersion, author?: string): void {
  if (!g.production) return;
  const approver = tagMap(version.tags)[TAG.approvedBy];
  const who = `model '${version.name}' version ${version.version}`;
  if (!approver) throw migrationError(`refusing to promote ${who} into production environment ${g.toEnv}: it has no approval tag ${TAG.approvedBy}`);
  if (author && approver.toLowerCase() === author.toLowerCase()) {
    throw migrationError(`refusing to promote ${who} into production environment ${g.toEnv}: it was approved by its own author ${approver}; another approver must sign off`);
  }
  if (!g.approvers.map((a) => a.toLowerCase()).includes(approver.toLowerCase())) {
    throw migrationError(`refusing to promote ${who} into production environment ${g.toEnv}: approver ${approver} does not hold an approving role`);
  }
}
