/**
 * The workspace model registry's permission model, as Databricks documents it, enforced on every registry call
 * a workspace test server (localPlatform.ts) answers. Source: "Share MLflow Models", the table "MLflow Model
 * permissions" (https://docs.databricks.com/en/mlflow/models-acl.html):
 * - CAN_READ: view model details, versions, stage transition requests, activities and artifact download URIs;
 *   request a stage transition.
 * - CAN_EDIT: besides, add a version to a model, update model and version descriptions, add or edit tags.
 * - CAN_MANAGE_STAGING_VERSIONS: besides, transition versions between None, Archived and Staging, and approve or
 *   reject requests between those stages.
 * - CAN_MANAGE_PRODUCTION_VERSIONS: besides, transition to and from Production, and approve or reject those.
 * - CAN_MANAGE: besides, cancel any transition request (its creator may cancel their own), rename the model,
 *   modify its permissions, delete the model and its versions.
 * "Workspace admins have the Can Manage permission on all models in their workspace. Users automatically have
 * the Can Manage permission for models they create." A model version inherits the permissions of its model; a
 * model inherits the registry-wide entries (`/registered-models/root`). Anyone may create a model.
 * Searches answer only the models the caller may read (no refusal); every other call on a model the caller
 * may not perform is refused 403 PERMISSION_DENIED, with nothing changed.
 */
import { REGISTRY_LEVELS, RegistryLevel } from "../../config/schema";
import { aclKey, ControlPlaneState } from "./controlPlaneState";

/** The levels' names are Databricks' own, as the configuration names them too. */
export { REGISTRY_LEVELS, type RegistryLevel };

const rank = (l: string | undefined) => (l === undefined ? -1 : REGISTRY_LEVELS.indexOf(l as RegistryLevel));

/** The names a user acts under: their own, every group that holds them (nested groups too), and `users`. */
export function principalsOf(state: ControlPlaneState, userName: string): { user: string; groups: Set<string> } {
  const u = state.userByName(userName);
  const groups = new Set<string>(["users"]);
  if (!u) return { user: userName, groups };
  const holding = new Set<string>([u.id]);
  for (let grew = true; grew;) {
    grew = false;
    for (const g of state.groups.values())
      if (!holding.has(g.id) && [...g.members].some((m) => holding.has(m))) {
        holding.add(g.id);
        groups.add(g.displayName);
        grew = true;
      }
  }
  return { user: u.userName, groups };
}

/** Whether a user is a workspace admin (in `admins`, directly or through a group): they may do everything. */
export const isAdmin = (state: ControlPlaneState, userName: string) => principalsOf(state, userName).groups.has("admins");

/** The caller's own level on a workspace-registry model (undefined: no permission), as the registry answers `permission_level`. */
export function registryLevel(state: ControlPlaneState, caller: string, model: string): RegistryLevel | undefined {
  const who = principalsOf(state, caller);
  if (who.groups.has("admins")) return "CAN_MANAGE";
  const id = state.workspaceModels.get(model)?.id;
  const entries = [...state.acl(aclKey("registered-models", "root")), ...(id ? state.acl(aclKey("registered-models", id)) : [])];
  let best: string | undefined;
  for (const e of entries) {
    const mine = e.kind === "group" ? who.groups.has(e.name) : e.name.toLowerCase() === who.user.toLowerCase();
    if (mine && rank(e.level) > rank(best)) best = e.level;
  }
  return best as RegistryLevel | undefined;
}

/** What one registry call needs: the model it is on, the level, and the ability's words for the refusal. */
export interface Need {
  model: string;
  level: RegistryLevel;
  ability: string;
}

const READS = new Set([
  "registered-models/get",
  "databricks/registered-models/get",
  "registered-models/get-latest-versions",
  "model-versions/get",
  "databricks/model-versions/get",
  "model-versions/get-download-uri",
  "model-versions/list-artifacts",
  "model-versions/get-signed-download-uri",
  "transition-requests/list",
  "activities/list",
  "comments/list",
]);
const EDITS = new Set([
  "model-versions/create",
  "registered-models/update",
  "model-versions/update",
  "registered-models/set-tag",
  "registered-models/delete-tag",
  "model-versions/set-tag",
  "model-versions/delete-tag",
]);
const MANAGES = new Set(["registered-models/rename", "registered-models/delete", "model-versions/delete"]);
const TRANSITIONS = new Set([
  "model-versions/transition-stage",
  "databricks/model-versions/transition-stage",
  "transition-requests/approve",
  "transition-requests/reject",
]);

const stageLevel = (from: string | undefined, to: string): RegistryLevel =>
  [from, to].some((s) => (s ?? "").toLowerCase() === "production") ? "CAN_MANAGE_PRODUCTION_VERSIONS" : "CAN_MANAGE_STAGING_VERSIONS";

/**
 * What the registry call `route` (the path after /api/2.0/mlflow/) needs, from its parameters (query and body
 * merged); undefined for a call on no one model (create a model, search: answered filtered) or not a registry call.
 * `stageOf` reads a version's current stage, for transitions out of Production.
 */
export async function registryNeed(
  route: string,
  p: Record<string, unknown>,
  stageOf: (model: string, version: string) => Promise<string | undefined>,
): Promise<Need | undefined> {
  const model = typeof p.name === "string" ? p.name : undefined;
  if (!model) return undefined;
  if (READS.has(route)) return { model, level: "CAN_READ", ability: "view the model, its versions and their requests" };
  if (route === "transition-requests/create" || route === "comments/create")
    return { model, level: "CAN_READ", ability: "request a stage transition or comment" };
  if (EDITS.has(route)) return { model, level: "CAN_EDIT", ability: "add versions, or edit descriptions and tags" };
  if (MANAGES.has(route)) return { model, level: "CAN_MANAGE", ability: "rename or delete the model or its versions" };
  if (TRANSITIONS.has(route)) {
    const to = String(p.stage ?? "");
    const from = typeof p.version === "string" ? await stageOf(model, p.version) : undefined;
    const level = stageLevel(from, to);
    return {
      model,
      level,
      ability:
        level === "CAN_MANAGE_PRODUCTION_VERSIONS"
          ? `transition versions to or from Production, or approve such requests (from ${from ?? "?"} to ${to})`
          : `transition versions between None, Archived and Staging, or approve such requests (from ${from ?? "?"} to ${to})`,
    };
  }
  return undefined;
}

/** The refusal's message, as Databricks words a missing model permission, or undefined when the caller may. */
export function refusal(state: ControlPlaneState, caller: string, need: Need): string | undefined {
  const has = registryLevel(state, caller, need.model);
  if (rank(has) >= rank(need.level)) return undefined;
  return `User '${caller}' does not have ${need.level} permission on registered model '${need.model}' (it has ${has ?? "no permission"}), which is needed to ${need.ability}.`;
}
