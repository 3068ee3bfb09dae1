/**
 * The Databricks side of the workspace model registry for tests. The models themselves live in a real
 * MLflow server (`mlflowUrl`), as for every other /api/2.0/mlflow call of the Databricks test server;
 * this adds what only Databricks has:
 * - `GET /api/2.0/mlflow/databricks/registered-models/get?name=` -> `{registered_model_databricks: {name,
 *   id, creation_timestamp, last_updated_timestamp, user_id, permission_level, description, tags,
 *   latest_versions}}` (no `aliases`: a workspace registry has none). The `id` is the model's permissions
 *   object (`/registered-models/<id>`, what databricks.Permissions takes as `registeredModelId`): 32 hex
 *   digits, stable per model, new when a model of the same name is created again;
 * - `POST registered-models/create`, `POST registered-models/rename` and `DELETE registered-models/delete`
 *   pass through to MLflow and keep ids and ACLs in step (the creator gets a direct CAN_MANAGE; a deleted
 *   model's ACL goes). `delete` takes `name` from the query string, where the Go SDK sends it for DELETE,
 *   and hands it on in the JSON body, the only place MLflow's own server reads it (with the name in the
 *   query alone MLflow answers 400 "Missing value for required parameter 'name'").
 * Every other /api/2.0/mlflow call is not handled here (`handle` returns false) and goes to MLflow through
 * the host server. A known route with the wrong method answers 404 ENDPOINT_NOT_FOUND; MLflow's own errors
 * (`{error_code, message}`, e.g. 404 RESOURCE_DOES_NOT_EXIST, 400 RESOURCE_ALREADY_EXISTS) pass unchanged.
 */
import * as crypto from "crypto";
import { apiError, ApiRequest, jsonBody, sendJson } from "./apiReply";
import { aclKey, ControlPlaneState } from "./controlPlaneState";
import { RegisteredModelLookup } from "./permissionsApi";
import { registryLevel } from "./registryAcl";

const M = "/api/2.0/mlflow/";
const ROUTE = /^\/api\/2\.0\/mlflow\/(databricks\/registered-models\/get|registered-models\/(?:create|rename|delete))$/;
const METHOD: Record<string, string> = {
  "databricks/registered-models/get": "GET",
  "registered-models/create": "POST",
  "registered-models/rename": "POST",
  "registered-models/delete": "DELETE",
};

export class WorkspaceRegistryApi implements RegisteredModelLookup {
  constructor(
    private readonly state: ControlPlaneState,
    private readonly mlflowUrl: string,
  ) {}

  private async mlflow(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
    const r = await fetch(`${this.mlflowUrl}${path}`, {
      method,
      headers: { "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text || "{}");
    } catch {
      /* not JSON: passed on as text */
    }
    return { status: r.status, json, text };
  }

  private pass(req: ApiRequest, r: { status: number; text: string }): true {
    req.res.writeHead(r.status, { "Content-Type": "application/json" });
    req.res.end(r.text);
    return true;
  }

  /** The model's Databricks id, made on first sight (a model registered straight in MLflow gets one too). */
  idOf(name: string, creator?: string): string {
    let m = this.state.workspaceModels.get(name);
    if (!m) {
      m = { id: crypto.randomUUID().replace(/-/g, ""), creator };
      this.state.workspaceModels.set(name, m);
    }
    return m.id;
  }

  private forget(name: string): void {
    const m = this.state.workspaceModels.get(name);
    if (m) this.state.acls.delete(aclKey("registered-models", m.id));
    this.state.workspaceModels.delete(name);
  }

  /** The name of the active experiment an id names, if any. */
  async experimentNamed(id: string): Promise<string | undefined> {
    const r = await this.mlflow("GET", `${M}experiments/get?experiment_id=${encodeURIComponent(id)}`);
    const e = r.json.experiment as { lifecycle_stage?: string; name?: string } | undefined;
    return r.status === 200 && e?.lifecycle_stage === "active" ? e.name : undefined;
  }

  /** Whether a Databricks model id names a model that still exists in the registry. */
  async modelExists(id: string): Promise<boolean> {
    const entry = [...this.state.workspaceModels].find(([, m]) => m.id === id);
    if (!entry) return false;
    const r = await this.mlflow("GET", `${M}registered-models/get?name=${encodeURIComponent(entry[0])}`);
    if (r.status === 404) this.forget(entry[0]);
    return r.status === 200;
  }

  /** Serves the routes above; false for any other path. */
  async handle(req: ApiRequest): Promise<boolean> {
    const m = ROUTE.exec(req.url.pathname);
    if (!m) return false;
    const route = m[1];
    if (req.method !== METHOD[route])
      return apiError(req.res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${req.method} /mlflow/${route}'`);
    const b = jsonBody(req);
    if (!b) return true;
    if (route === "databricks/registered-models/get") {
      const name = req.url.searchParams.get("name");
      if (!name) return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'.");
      const r = await this.mlflow("GET", `${M}registered-models/get?name=${encodeURIComponent(name)}`);
      if (r.status !== 200) {
        if (r.status === 404) this.forget(name);
        return this.pass(req, r);
      }
      const model = (r.json.registered_model ?? {}) as Record<string, unknown>;
      const id = this.idOf(name);
      const creator = this.state.workspaceModels.get(name)?.creator;
      return sendJson(req.res, 200, {
        registered_model_databricks: {
          name: model.name,
          id,
          creation_timestamp: model.creation_timestamp,
          last_updated_timestamp: model.last_updated_timestamp,
          ...(creator ? { user_id: creator } : {}),
          ...(model.description ? { description: model.description } : {}),
          ...(Array.isArray(model.tags) && model.tags.length ? { tags: model.tags } : {}),
          ...(Array.isArray(model.latest_versions) && model.latest_versions.length ? { latest_versions: model.latest_versions } : {}),
          // The caller's own level (registryAcl.ts), as the registry answers it.
          permission_level: registryLevel(this.state, req.caller, model.name as string),
        },
      });
    }
    if (route === "registered-models/create") {
      const r = await this.mlflow("POST", req.url.pathname, b);
      const name = (r.json.registered_model as { name?: string } | undefined)?.name;
      if (r.status === 200 && name) {
        this.forget(name);
        const id = this.idOf(name, req.caller);
        this.state.acls.set(aclKey("registered-models", id), [{ kind: "user", name: req.caller, level: "CAN_MANAGE" }]);
      }
      return this.pass(req, r);
    }
    if (route === "registered-models/rename") {
      const r = await this.mlflow("POST", req.url.pathname, b);
      const known = this.state.workspaceModels.get(String(b.name));
      if (r.status === 200 && known && typeof b.new_name === "string") {
        this.state.workspaceModels.delete(String(b.name));
        this.state.workspaceModels.set(b.new_name, known);
      }
      return this.pass(req, r);
    }
    const name = req.url.searchParams.get("name") ?? b.name;
    if (typeof name !== "string" || !name)
      return apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'.");
    const r = await this.mlflow("DELETE", req.url.pathname, { name });
    if (r.status === 200) this.forget(name);
    return this.pass(req, r);
  }
}
