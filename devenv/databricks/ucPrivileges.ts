/**
 * Unity Catalog's privileges on registered models, as Databricks documents them, enforced on every Unity Catalog
 * registry call a workspace test server (localPlatform.ts) answers. Sources:
 * - "Upgrade ML workflows to target models in Unity Catalog", Required privileges
 *   (https://docs.databricks.com/en/machine-learning/manage-model-lifecycle/upgrade-workflows.html): every
 *   workflow needs USE CATALOG and USE SCHEMA on the catalog and schema that hold the model; creating a model
 *   needs CREATE MODEL (on the schema); loading one needs EXECUTE on it; a new model version needs ownership of the
 *   model or CREATE MODEL VERSION on it; setting an alias needs ownership.
 * - The API reference (https://docs.databricks.com/api/workspace/registeredmodels, .../modelversions): get, get by
 *   alias and list need ownership of or EXECUTE on the model; update, delete, and setting or deleting an alias need
 *   a metastore admin or the model's owner; each also needs USE_CATALOG and USE_SCHEMA (or owning those).
 * - "Unity Catalog privileges": privileges granted on a catalog or schema are inherited by every object in it;
 *   ALL PRIVILEGES stands for every applicable privilege but MANAGE; APPLY TAG lets a principal tag an object;
 *   MANAGE lets a principal drop, rename and manage grants "similar to an owner".
 * The test workspace's `admins` stand for metastore admins (a departure: on Databricks they are workspace admins,
 * metastore admins being an account-level role). `account users` is every user. A refusal is 403
 * PERMISSION_DENIED in Unity Catalog's words (`User does not have EXECUTE on Routine or Model 'c.s.m'.`).
 */
import { ControlPlaneState } from "./controlPlaneState";
import { principalsOf } from "./registryAcl";

/** What a model needs beyond USE CATALOG and USE SCHEMA: a privilege on it, or its ownership. */
export type ModelPrivilege = "EXECUTE" | "APPLY_TAG" | "CREATE_MODEL_VERSION" | "OWNER" | "OWNER_OR_MANAGE";

export type UcNeed =
  | { model: string; privilege: ModelPrivilege }
  | { schema: string; privilege: "CREATE_MODEL" }
  /** Changing the grants on a catalog or schema (`catalog/c`, `schema/c.s`): MANAGE on it, or a metastore admin. */
  | { securable: string; privilege: "MANAGE" };

const M = "/api/2.0/mlflow/unity-catalog/";
const ON_MODEL: Record<string, ModelPrivilege> = {
  "GET registered-models/get": "EXECUTE",
  "GET registered-models/alias": "EXECUTE",
  "GET model-versions/get": "EXECUTE",
  "GET model-versions/get-download-uri": "EXECUTE",
  "POST registered-models/set-tag": "APPLY_TAG",
  "DELETE registered-models/delete-tag": "APPLY_TAG",
  "POST model-versions/set-tag": "APPLY_TAG",
  "DELETE model-versions/delete-tag": "APPLY_TAG",
  "POST model-versions/create": "CREATE_MODEL_VERSION",
  "POST model-versions/finalize": "CREATE_MODEL_VERSION",
  "POST registered-models/alias": "OWNER",
  "DELETE registered-models/alias": "OWNER",
  "PATCH registered-models/update": "OWNER",
  "PATCH model-versions/update": "OWNER",
  "DELETE registered-models/delete": "OWNER_OR_MANAGE",
  "DELETE model-versions/delete": "OWNER_OR_MANAGE",
};

/**
 * What a Unity Catalog registry call needs, from its method, path and parameters (query and body merged);
 * undefined for a call the rules do not cover (a search is answered in full: a departure, noted in docs/testing.md).
 */
export function ucNeed(method: string, path: string, p: Record<string, unknown>): UcNeed | undefined {
  if (path.startsWith(M)) {
    const route = `${method} ${path.slice(M.length)}`;
    const name = typeof p.name === "string" ? p.name.toLowerCase() : undefined;
    if (!name) return undefined;
    if (route === "POST registered-models/create") return { schema: name.split(".").slice(0, 2).join("."), privilege: "CREATE_MODEL" };
    if (route === "POST model-versions/generate-temporary-credentials")
      return { model: name, privilege: String(p.operation ?? "").endsWith("READ_WRITE") ? "CREATE_MODEL_VERSION" : "EXECUTE" };
    const privilege = ON_MODEL[route];
    return privilege ? { model: name, privilege } : undefined;
  }
  if (path === "/api/2.1/unity-catalog/models" && method === "POST") {
    const [c, s] = [p.catalog_name, p.schema_name].map((x) => String(x ?? "").toLowerCase());
    return c && s ? { schema: `${c}.${s}`, privilege: "CREATE_MODEL" } : undefined;
  }
  // Granting: on a model, its owner or MANAGE; on a catalog or schema, MANAGE on it.
  const grants = /^\/api\/2\.1\/unity-catalog\/permissions\/(function|catalog|schema)\/([^/]+)$/.exec(path);
  if (grants && method === "PATCH") {
    const name = decodeURIComponent(grants[2]).toLowerCase();
    return grants[1] === "function"
      ? { model: name, privilege: "OWNER_OR_MANAGE" }
      : { securable: `${grants[1]}/${name}`, privilege: "MANAGE" };
  }
  const model = /^\/api\/2\.1\/unity-catalog\/models\/([^/]+)$/.exec(path);
  if (model) {
    const name = decodeURIComponent(model[1]).toLowerCase();
    const privilege = ({ GET: "EXECUTE", PATCH: "OWNER", DELETE: "OWNER_OR_MANAGE" } as Record<string, ModelPrivilege>)[method];
    return privilege ? { model: name, privilege } : undefined;
  }
  return undefined;
}

/** The privileges a caller holds on a securable, directly or through a group, with those inherited from above. */
function held(state: ControlPlaneState, caller: string, securables: string[]): Set<string> {
  const who = principalsOf(state, caller);
  const mine = (principal: string) =>
    principal.toLowerCase() === who.user.toLowerCase() || who.groups.has(principal) || principal === "account users";
  const out = new Set<string>();
  for (const key of securables)
    for (const [principal, privileges] of state.ucGrants.get(key) ?? []) if (mine(principal)) for (const p of privileges) out.add(p);
  return out;
}

/** The refusal's message, in Unity Catalog's words, or undefined when the caller may. */
export function ucRefusal(state: ControlPlaneState, caller: string, need: UcNeed): string | undefined {
  const who = principalsOf(state, caller);
  if (who.groups.has("admins")) return undefined;
  if ("securable" in need) {
    const [type, name] = need.securable.split("/");
    const above = type === "schema" ? [`catalog/${name.split(".")[0]}`] : [];
    return held(state, caller, [...above, need.securable]).has("MANAGE")
      ? undefined
      : `User does not have MANAGE on ${type === "schema" ? "Schema" : "Catalog"} '${name}'.`;
  }
  const full = "model" in need ? need.model : need.schema;
  const [catalog, schema] = full.split(".");
  const catalogKey = `catalog/${catalog}`;
  const schemaKey = `schema/${catalog}.${schema}`;
  const model = "model" in need ? state.ucModels.get(need.model) : undefined;
  // A model that does not exist is the API's to answer (404), as is a schema.
  if ("model" in need && !model) return undefined;
  const owns = (owner: string | undefined) =>
    owner !== undefined && (owner.toLowerCase() === who.user.toLowerCase() || who.groups.has(owner));
  const onCatalog = held(state, caller, [catalogKey]);
  const onSchema = held(state, caller, [catalogKey, schemaKey]);
  const all = (s: Set<string>, p: string) => s.has(p) || s.has("ALL_PRIVILEGES");
  if (!all(onCatalog, "USE_CATALOG")) return `User does not have USE CATALOG on Catalog '${catalog}'.`;
  if (!all(onSchema, "USE_SCHEMA")) return `User does not have USE SCHEMA on Schema '${catalog}.${schema}'.`;
  if (!("model" in need)) return all(onSchema, "CREATE_MODEL") ? undefined : `User does not have CREATE MODEL on Schema '${full}'.`;
  if (owns(model!.owner)) return undefined;
  const onModel = held(state, caller, [catalogKey, schemaKey, `function/${need.model}`]);
  switch (need.privilege) {
    case "OWNER":
      return `User is not an owner of Routine or Model '${need.model}'.`;
    case "OWNER_OR_MANAGE":
      return onModel.has("MANAGE") ? undefined : `User is not an owner of Routine or Model '${need.model}' and does not have MANAGE on it.`;
    default:
      return all(onModel, need.privilege)
        ? undefined
        : `User does not have ${need.privilege.replace(/_/g, " ")} on Routine or Model '${need.model}'.`;
  }
}
