/**
 * What a Databricks workspace model registry adds to MLflow's registry API, for tests, with the fields of
 * the Databricks REST reference (Model Registry; the Databricks SDK's `service/ml.py`):
 * - `POST transition-requests/create {name, version, stage, comment}` -> `{request: TransitionRequest}`;
 *   one open request per (version, stage, creator), as `transition-requests/delete` identifies it;
 * - `GET transition-requests/list ?name&version` -> `{requests: Activity[]}` (the open ones);
 * - `POST transition-requests/approve {name, version, stage, archive_existing_versions, comment}` ->
 *   `{activity}`: closes the open requests to that stage, moves the version (archiving the others in that
 *   stage when asked, each a SYSTEM_TRANSITION activity);
 * - `POST transition-requests/reject {name, version, stage, comment}` -> `{activity}`;
 * - `DELETE transition-requests/delete ?name&version&stage&creator&comment` -> `{activity}` (creator only);
 * - `POST comments/create {name, version, comment}`, `PATCH comments/update {id, comment}` ->
 *   `{comment: CommentObject}`; `DELETE comments/delete ?id` -> `{}` (author only);
 * - `GET databricks/registered-models/get ?name` -> `{registered_model_databricks}`;
 * - `POST databricks/model-versions/transition-stage` and MLflow's own `model-versions/transition-stage`,
 *   recorded as APPLIED_TRANSITION.
 * Activities carry activity_type, from_stage, to_stage, user_id (the bearer token's owner),
 * creation_timestamp, last_updated_timestamp, comment, system_comment. Every activity and comment is kept
 * (`history`) for tests to assert on; it is not served over HTTP, because Databricks documents no read of
 * past activities (only `transition-requests/list`, the open requests), so the migration guard reads that
 * one (migration/guard.ts). The alias endpoints do not exist on a
 * workspace registry (aliases are a Unity Catalog feature): 404 ENDPOINT_NOT_FOUND.
 */
import * as crypto from "crypto";
import { ApiRequest, apiError, jsonBody, sendJson } from "./apiReply";

export type ActivityType =
  | "APPLIED_TRANSITION"
  | "REQUESTED_TRANSITION"
  | "CANCELLED_REQUEST"
  | "APPROVED_REQUEST"
  | "REJECTED_REQUEST"
  | "SYSTEM_TRANSITION"
  | "NEW_COMMENT";

export interface Activity {
  id: string;
  activity_type: ActivityType;
  from_stage?: string;
  to_stage?: string;
  user_id?: string;
  comment?: string;
  system_comment?: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
}

export interface RegistryComment {
  id: string;
  user_id: string;
  comment: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
}

/** One call to the MLflow server behind the test server: status and parsed JSON body. */
export type Backend = (
  method: "GET" | "POST",
  path: string,
  params: Record<string, unknown>,
) => Promise<{ status: number; json: Record<string, unknown> }>;

const STAGES = ["None", "Staging", "Production", "Archived"];
const ROUTES =
  /^\/api\/2\.0\/mlflow\/(transition-requests\/(?:create|list|approve|reject|delete)|comments\/(?:create|update|delete)|databricks\/registered-models\/get|databricks\/model-versions\/transition-stage|model-versions\/transition-stage|registered-models\/alias)$/;
const METHOD: Record<string, string> = {
  "transition-requests/create": "POST",
  "transition-requests/list": "GET",
  "transition-requests/approve": "POST",
  "transition-requests/reject": "POST",
  "transition-requests/delete": "DELETE",
  "comments/create": "POST",
  "comments/update": "PATCH",
  "comments/delete": "DELETE",
  "databricks/registered-models/get": "GET",
  "databricks/model-versions/transition-stage": "POST",
  "model-versions/transition-stage": "POST",
};

interface OpenRequest extends Activity {
  creator: string;
}

const key = (name: string, version: string) => `${name}\n${version}`;

export class TransitionRequestsApi {
  /** Every activity of every model version, oldest first, keyed by `name\nversion`. */
  readonly activities = new Map<string, Activity[]>();
  /** Open transition requests, keyed by `name\nversion`. */
  readonly open = new Map<string, OpenRequest[]>();
  /** Comments, by id, with the version they are on. */
  readonly comments = new Map<string, RegistryComment & { name: string; version: string }>();
  /** Who created each model version (`name\nversion` -> user), as the model-versions/create caller. */
  readonly authors = new Map<string, string>();
  private nextId = 1;
  /** The caller's own level on a model, as `permission_level` answers it: CAN_MANAGE unless a workspace's ACLs say otherwise (registryAcl.ts). */
  levelOf: (caller: string, model: string) => string | undefined = () => "CAN_MANAGE";

  /**
   * @param backend the MLflow server behind.
   * @param keepAliases whether alias calls pass to MLflow instead of being refused (not Databricks behaviour).
   */
  constructor(
    private readonly backend: Backend,
    private readonly keepAliases: () => boolean = () => false,
  ) {}

  /** Every activity recorded on a model version (approvals, requests, transitions, comments), oldest first. */
  history(name: string, version: string): Activity[] {
    return [...(this.activities.get(key(name, version)) ?? [])];
  }

  /** Serves the registry routes a workspace adds (or refuses); false for any other path. */
  async handle(req: ApiRequest): Promise<boolean> {
    const m = ROUTES.exec(req.url.pathname);
    if (!m) return false;
    const route = m[1];
    const { res, method } = req;
    if (route === "registered-models/alias") {
      if (this.keepAliases()) return false;
      // Not an endpoint of the workspace registry; MLflow's client refuses these calls before sending them.
      return apiError(res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${method} /mlflow/registered-models/alias'`);
    }
    if (method !== METHOD[route]) return apiError(res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${method} /mlflow/${route}'`);
    const p = method === "GET" || method === "DELETE" ? Object.fromEntries(req.url.searchParams) : jsonBody(req);
    if (!p) return true;
    const need = (...names: string[]) => {
      const missing = names.find((n) => p[n] === undefined || p[n] === "");
      if (missing) apiError(res, 400, "INVALID_PARAMETER_VALUE", `Missing required field: ${missing}`);
      return !missing;
    };
    const stageOf = (s: unknown) => STAGES.find((x) => x.toLowerCase() === String(s).toLowerCase());
    const badStage = (s: unknown) =>
      apiError(res, 400, "INVALID_PARAMETER_VALUE", `Invalid stage '${String(s)}'. Valid stages are: ${STAGES.join(", ")}.`);

    switch (route) {
      case "comments/update":
      case "comments/delete": {
        if (!need("id", ...(route === "comments/update" ? ["comment"] : []))) return true;
        const c = this.comments.get(String(p.id));
        if (!c) return apiError(res, 404, "RESOURCE_DOES_NOT_EXIST", `Comment with id '${String(p.id)}' does not exist.`);
        if (c.user_id !== req.caller)
          return apiError(res, 403, "PERMISSION_DENIED", `User '${req.caller}' can only edit or delete their own comments.`);
        if (route === "comments/delete") {
          this.comments.delete(c.id);
          return sendJson(res, 200, {});
        }
        c.comment = String(p.comment);
        c.last_updated_timestamp = Date.now();
        return sendJson(res, 200, { comment: this.commentJson(c, req.caller) });
      }
      case "databricks/registered-models/get": {
        if (!need("name")) return true;
        const r = await this.backend("GET", "registered-models/get", { name: p.name });
        if (r.status !== 200) return sendJson(res, r.status, r.json);
        const rm = r.json.registered_model as Record<string, unknown>;
        const { aliases: _a, ...rest } = rm;
        return sendJson(res, 200, {
          registered_model_databricks: {
            ...rest,
            id: crypto.createHash("sha256").update(String(rm.name)).digest("hex").slice(0, 32),
            permission_level: this.levelOf(req.caller, String(rm.name)),
            latest_versions: ((rm.latest_versions as Record<string, unknown>[] | undefined) ?? []).map((v) => this.withAuthor(v)),
          },
        });
      }
    }

    if (!need("name", "version")) return true;
    const name = String(p.name);
    const version = String(p.version);
    const got = await this.backend("GET", "model-versions/get", { name, version });
    if (got.status !== 200) return sendJson(res, got.status, got.json);
    const current = String((got.json.model_version as { current_stage?: string }).current_stage ?? "None");
    const k = key(name, version);
    const open = this.open.get(k) ?? [];
    this.open.set(k, open);

    switch (route) {
      case "transition-requests/list":
        return sendJson(res, 200, { requests: open.map((o) => this.requestJson(o, req.caller)) });
      case "comments/create": {
        if (!need("comment")) return true;
        const now = Date.now();
        const c = {
          id: this.id(),
          user_id: req.caller,
          comment: String(p.comment),
          creation_timestamp: now,
          last_updated_timestamp: now,
          name,
          version,
        };
        this.comments.set(c.id, c);
        this.record(k, { activity_type: "NEW_COMMENT", user_id: req.caller, comment: c.comment });
        return sendJson(res, 200, { comment: this.commentJson(c, req.caller) });
      }
    }

    if (!need("stage")) return true;
    const stage = stageOf(p.stage);
    if (!stage) return badStage(p.stage);
    switch (route) {
      case "transition-requests/create": {
        if (open.some((o) => o.to_stage === stage && o.creator === req.caller)) {
          return apiError(
            res,
            400,
            "RESOURCE_ALREADY_EXISTS",
            `Transition request to '${stage}' for model '${name}' version ${version} by '${req.caller}' already exists.`,
          );
        }
        const a = this.record(k, {
          activity_type: "REQUESTED_TRANSITION",
          from_stage: current,
          to_stage: stage,
          user_id: req.caller,
          ...(p.comment ? { comment: String(p.comment) } : {}),
        });
        open.push({ ...a, creator: req.caller });
        return sendJson(res, 200, { request: this.requestJson({ ...a, creator: req.caller }, req.caller) });
      }
      case "transition-requests/approve":
      case "transition-requests/reject": {
        if (route === "transition-requests/approve" && !need("archive_existing_versions")) return true;
        if (!open.some((o) => o.to_stage === stage)) {
          return apiError(
            res,
            404,
            "RESOURCE_DOES_NOT_EXIST",
            `No open transition request to '${stage}' for model '${name}' version ${version}.`,
          );
        }
        this.open.set(
          k,
          open.filter((o) => o.to_stage !== stage),
        );
        const comment = p.comment ? { comment: String(p.comment) } : {};
        if (route === "transition-requests/reject") {
          return sendJson(res, 200, {
            activity: this.json(
              this.record(k, { activity_type: "REJECTED_REQUEST", from_stage: current, to_stage: stage, user_id: req.caller, ...comment }),
            ),
          });
        }
        const moved = await this.transition(
          name,
          version,
          stage,
          p.archive_existing_versions === true,
          req.caller,
          "APPROVED_REQUEST",
          comment,
        );
        if ("error" in moved) return sendJson(res, moved.status, moved.error);
        return sendJson(res, 200, { activity: this.json(moved.activity) });
      }
      case "transition-requests/delete": {
        if (!need("creator")) return true;
        const mine = open.find((o) => o.to_stage === stage && o.creator === String(p.creator));
        if (!mine)
          return apiError(
            res,
            404,
            "RESOURCE_DOES_NOT_EXIST",
            `No open transition request to '${stage}' by '${String(p.creator)}' for model '${name}' version ${version}.`,
          );
        if (mine.creator !== req.caller)
          return apiError(res, 403, "PERMISSION_DENIED", `Only '${mine.creator}', who made the request, can cancel it.`);
        this.open.set(
          k,
          open.filter((o) => o !== mine),
        );
        return sendJson(res, 200, {
          activity: this.json(
            this.record(k, {
              activity_type: "CANCELLED_REQUEST",
              from_stage: current,
              to_stage: stage,
              user_id: req.caller,
              ...(p.comment ? { comment: String(p.comment) } : {}),
            }),
          ),
        });
      }
      default: {
        // databricks/model-versions/transition-stage (Databricks) and model-versions/transition-stage (MLflow).
        const databricks = route.startsWith("databricks/");
        if (databricks && !need("archive_existing_versions")) return true;
        const moved = await this.transition(
          name,
          version,
          stage,
          p.archive_existing_versions === true || p.archive_existing_versions === "true",
          req.caller,
          "APPLIED_TRANSITION",
          p.comment ? { comment: String(p.comment) } : {},
        );
        if ("error" in moved) return sendJson(res, moved.status, moved.error);
        const mv = this.withAuthor(moved.modelVersion);
        if (!databricks) return sendJson(res, 200, { model_version: mv });
        return sendJson(res, 200, {
          model_version_databricks: {
            ...mv,
            open_requests: (this.open.get(k) ?? []).map((o) => this.requestJson(o, req.caller)),
            permission_level: this.levelOf(req.caller, name),
          },
        });
      }
    }
  }

  /** Moves a version on the backend and records the activity, plus a SYSTEM_TRANSITION per archived version. */
  private async transition(
    name: string,
    version: string,
    stage: string,
    archive: boolean,
    user: string,
    type: ActivityType,
    comment: { comment?: string },
  ): Promise<{ activity: Activity; modelVersion: Record<string, unknown> } | { status: number; error: Record<string, unknown> }> {
    const before = await this.backend("GET", "model-versions/search", { filter: `name='${name.replace(/'/g, "\\'")}'`, max_results: 1000 });
    const versions = (before.json.model_versions as { version: string; current_stage?: string }[] | undefined) ?? [];
    const from = versions.find((v) => v.version === version)?.current_stage ?? "None";
    const r = await this.backend("POST", "model-versions/transition-stage", { name, version, stage, archive_existing_versions: archive });
    if (r.status !== 200) return { status: r.status, error: r.json };
    const activity = this.record(key(name, version), { activity_type: type, from_stage: from, to_stage: stage, user_id: user, ...comment });
    if (archive && (stage === "Staging" || stage === "Production")) {
      for (const v of versions) {
        if (v.version === version || v.current_stage !== stage) continue;
        this.record(key(name, v.version), {
          activity_type: "SYSTEM_TRANSITION",
          from_stage: stage,
          to_stage: "Archived",
          system_comment: `Archived because version ${version} was transitioned to ${stage} by ${user}.`,
        });
      }
    }
    return { activity, modelVersion: r.json.model_version as Record<string, unknown> };
  }

  /** Sets `user_id` on a model version the test server saw created, as Databricks reports its creator. */
  withAuthor(v: Record<string, unknown>): Record<string, unknown> {
    const author = this.authors.get(key(String(v.name), String(v.version)));
    const { aliases, ...rest } = v;
    const out = this.keepAliases() && aliases !== undefined ? { ...rest, aliases } : rest;
    return author ? { ...out, user_id: author } : out;
  }

  private id(): string {
    return crypto.createHash("sha256").update(`activity-${this.nextId++}-${Math.random()}`).digest("hex").slice(0, 32);
  }

  private record(k: string, a: Omit<Activity, "id" | "creation_timestamp" | "last_updated_timestamp">): Activity {
    const now = Date.now();
    const full: Activity = { id: this.id(), creation_timestamp: now, last_updated_timestamp: now, ...a };
    const list = this.activities.get(k) ?? [];
    list.push(full);
    this.activities.set(k, list);
    return full;
  }

  private json(a: Activity): Activity {
    return { ...a };
  }

  /** An open request as an Activity, with the actions the caller may take on it. */
  private requestJson(o: OpenRequest, caller: string) {
    const { creator, ...a } = o;
    return {
      ...a,
      available_actions:
        creator === caller
          ? ["APPROVE_TRANSITION_REQUEST", "REJECT_TRANSITION_REQUEST", "CANCEL_TRANSITION_REQUEST"]
          : ["APPROVE_TRANSITION_REQUEST", "REJECT_TRANSITION_REQUEST"],
    };
  }

  private commentJson(c: RegistryComment, caller: string) {
    return {
      id: c.id,
      user_id: c.user_id,
      comment: c.comment,
      creation_timestamp: c.creation_timestamp,
      last_updated_timestamp: c.last_updated_timestamp,
      available_actions: c.user_id === caller ? ["EDIT_COMMENT", "DELETE_COMMENT"] : [],
    };
  }
}
