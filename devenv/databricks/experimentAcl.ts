/**
 * The MLflow experiment permission model, as Databricks documents it, enforced on every tracking call a workspace
 * test server (localPlatform.ts) answers. Sources:
 * - "MLflow experiment ACLs" (https://docs.databricks.com/en/security/auth/access-control/index.html):
 *   CAN_READ views run info, searches and compares runs, and views, lists and downloads run artifacts;
 *   CAN_EDIT besides creates, deletes and restores runs and logs to them (params, metrics, tags, inputs,
 *   artifacts) and edits the experiment's tags; CAN_MANAGE besides renames, deletes and restores the experiment
 *   and changes its permissions.
 * - "Access control lists overview": admins have CAN_MANAGE on every workspace object; users get CAN_MANAGE on
 *   what they create; an object in a folder inherits the folder's permissions (a workspace experiment is one:
 *   CAN_RUN on the folder reads as CAN_READ on the experiment).
 * - "Folder permissions" (https://docs.databricks.com/en/security/auth/access-control/workspace-acl.html):
 *   "Create, import, and delete items" in a folder needs CAN_MANAGE on it; a user manages their home folder.
 * - The name of a workspace experiment is its absolute workspace path: Databricks refuses any other name with
 *   400 INVALID_PARAMETER_VALUE ("An experiment name must be an absolute path within the Databricks
 *   workspace"), and one whose folder does not exist with 404 RESOURCE_DOES_NOT_EXIST.
 * A refusal is 403 PERMISSION_DENIED in the words of Databricks' knowledge base ("MLflow artifacts permission
 * denied"): `User <u> does not have permission to 'View' experiment with id <id>` ('Edit', 'Manage').
 * A search answers only the experiments the caller may read.
 */

export const EXPERIMENT_LEVELS = ["CAN_READ", "CAN_EDIT", "CAN_MANAGE"] as const;
export type ExperimentLevel = (typeof EXPERIMENT_LEVELS)[number];

/** Which experiment a call is on: named by id, by name, through one of its runs, or a search over several. */
export type ExperimentRef = { id: string } | { name: string } | { runId: string } | { ids: string[] };

export interface ExperimentNeed {
  on: ExperimentRef;
  level: ExperimentLevel;
}

const VERB: Record<ExperimentLevel, string> = { CAN_READ: "View", CAN_EDIT: "Edit", CAN_MANAGE: "Manage" };

const BY_ID: Record<string, ExperimentLevel> = {
  "experiments/get": "CAN_READ",
  "runs/create": "CAN_EDIT",
  "experiments/set-experiment-tag": "CAN_EDIT",
  "experiments/delete-experiment-tag": "CAN_EDIT",
  "logged-models/create": "CAN_EDIT",
  "experiments/update": "CAN_MANAGE",
  "experiments/delete": "CAN_MANAGE",
  "experiments/restore": "CAN_MANAGE",
};
const BY_RUN: Record<string, ExperimentLevel> = {
  "runs/get": "CAN_READ",
  "metrics/get-history": "CAN_READ",
  "artifacts/list": "CAN_READ",
  "artifacts/credentials-for-read": "CAN_READ",
  "runs/update": "CAN_EDIT",
  "runs/delete": "CAN_EDIT",
  "runs/restore": "CAN_EDIT",
  "runs/log-metric": "CAN_EDIT",
  "runs/log-parameter": "CAN_EDIT",
  "runs/log-batch": "CAN_EDIT",
  "runs/set-tag": "CAN_EDIT",
  "runs/delete-tag": "CAN_EDIT",
  "runs/log-inputs": "CAN_EDIT",
  "runs/outputs": "CAN_EDIT",
  "runs/log-model": "CAN_EDIT",
  "artifacts/credentials-for-write": "CAN_EDIT",
  "artifacts/create-multipart-upload": "CAN_EDIT",
  "artifacts/complete-multipart-upload": "CAN_EDIT",
  "artifacts/get-presigned-upload-part-url": "CAN_EDIT",
};

/**
 * What the tracking call `route` (the path after /api/2.0/mlflow/) needs, from its parameters (query and body
 * merged); undefined for a call on no experiment (a create is checked against its folder: `createRefusal`; an
 * experiment search is answered filtered) or a call that names none of what it needs (the API answers that).
 */
export function experimentNeed(route: string, p: Record<string, unknown>): ExperimentNeed | undefined {
  const str = (v: unknown) => (typeof v === "string" && v ? v : typeof v === "number" ? String(v) : undefined);
  if (route === "experiments/get-by-name") {
    const name = str(p.experiment_name);
    return name ? { on: { name }, level: "CAN_READ" } : undefined;
  }
  if (route === "runs/search" || route === "logged-models/search") {
    const ids = Array.isArray(p.experiment_ids)
      ? p.experiment_ids.map(String)
      : typeof p.experiment_ids === "string"
        ? [p.experiment_ids]
        : [];
    return ids.length ? { on: { ids }, level: "CAN_READ" } : undefined;
  }
  if (BY_ID[route]) {
    const id = str(p.experiment_id);
    return id ? { on: { id }, level: BY_ID[route] } : undefined;
  }
  if (BY_RUN[route]) {
    const runId = str(p.run_id) ?? str(p.run_uuid);
    return runId ? { on: { runId }, level: BY_RUN[route] } : undefined;
  }
  return undefined;
}

const rank = (l: string | undefined) => EXPERIMENT_LEVELS.indexOf(l as ExperimentLevel);

/** The refusal's message when the caller's level falls short of the need, or undefined when they may. */
export function experimentRefusal(caller: string, id: string, has: string | undefined, need: ExperimentLevel): string | undefined {
  if (rank(has) >= rank(need)) return undefined;
  return `User ${caller} does not have permission to '${VERB[need]}' experiment with id ${id}`;
}

/** The folder a workspace experiment's name puts it in. */
export const experimentFolder = (name: string) => name.replace(/\/[^/]*$/, "") || "/";

/**
 * Why creating an experiment named `name` is refused, as Databricks answers it, or undefined when it may be:
 * `folderExists` says whether a folder exists, `folderLevel` the caller's level on it (inherited included).
 */
export function createRefusal(
  caller: string,
  name: string,
  folderExists: (path: string) => boolean,
  folderLevel: (path: string) => string | undefined,
): { status: number; code: string; message: string } | undefined {
  if (!name.startsWith("/"))
    return {
      status: 400,
      code: "INVALID_PARAMETER_VALUE",
      message: `Got an invalid experiment name '${name}'. An experiment name must be an absolute path within the Databricks workspace, e.g. '/Users/<some-username>/my-experiment'.`,
    };
  const folder = experimentFolder(name);
  if (!folderExists(folder)) return { status: 404, code: "RESOURCE_DOES_NOT_EXIST", message: `Parent directory ${folder} does not exist.` };
  const has = folderLevel(folder);
  if (has === "CAN_MANAGE") return undefined;
  return {
    status: 403,
    code: "PERMISSION_DENIED",
    message: `User '${caller}' does not have CAN_MANAGE permission on '${folder}' (it has ${has ?? "no permission"}), which is needed to create items in that folder.`,
  };
}
