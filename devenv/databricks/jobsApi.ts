/**
 * The Databricks Jobs API 2.2 for tests (https://docs.databricks.com/api/workspace/jobs), job definitions only (no
 * runs), as the official SDK calls it (databricks-sdk `service/jobs.py` is the judge of field names):
 * - `POST /api/2.2/jobs/create {JobSettings..., access_control_list?}` -> `{job_id}` (an int64 as a JSON number);
 *   any workspace user may create a job, and becomes its owner (IS_OWNER) unless the ACL names another;
 * - `GET /api/2.2/jobs/get ?job_id&page_token` -> `{job_id, creator_user_name, run_as_user_name, created_time,
 *   settings}`: CAN_VIEW. The arrays `tasks`, `job_clusters`, `parameters`, `environments` come 100 at a time, with
 *   `has_more` and `next_page_token` while any has more (all four then present on every page);
 * - `GET /api/2.2/jobs/list ?limit(1-100, 20)&page_token&offset&name&expand_tasks` -> `{jobs: [{job_id,
 *   creator_user_name, created_time, settings}], has_more, next_page_token?}`, newest first, the jobs the caller
 *   may view, `name` an exact case-insensitive match. Without `expand_tasks` the settings carry no `tasks` and no
 *   `job_clusters`; with it their first 100, and the job `has_more` when there are more;
 * - `POST /api/2.2/jobs/reset {job_id, new_settings}` (replaces every setting), `POST /api/2.2/jobs/update {job_id,
 *   new_settings?, fields_to_remove?}` (top-level fields replaced; `tasks`, `job_clusters`, `parameters`,
 *   `environments` merged by key; `fields_to_remove` names top-level fields or `tasks/<key>`, `job_clusters/<key>`),
 *   `POST /api/2.2/jobs/delete {job_id}`: IS_OWNER or CAN_MANAGE. -> `{}`.
 * A job that does not exist is 400 INVALID_PARAMETER_VALUE "Job <id> does not exist." (the SDK reads it as
 * ResourceDoesNotExist on jobs/get).
 *
 * What create, reset and update refuse (400 INVALID_PARAMETER_VALUE unless said), checked on the whole resulting
 * settings: a task without a `task_key` of 1-100 letters, digits, `-`, `_`, or with one another task has; not exactly
 * one task type; a `depends_on` naming no task of the job, or a cycle; more than one compute source (job_cluster_key,
 * existing_cluster_id, new_cluster, environment_key), or none for a task that runs on a cluster (notebook, Python
 * script or wheel, JAR, spark-submit, dbt) unless the workspace runs tasks on serverless compute (`serverless`); a
 * `job_cluster_key` or `environment_key` the job does not define; an `existing_cluster_id` that is not one of
 * `clusters`; a `run_job_task` of a job that does not exist; a cluster spec whose node types the workspace does not
 * offer (list-node-types), or with node_type_id beside instance_pool_id ("The field 'node_type_id' cannot be supplied
 * when an instance pool ID is provided.", and the same for the driver), naming a pool or policy that does not
 * exist, without spark_version, or without node type, pool or policy; more than one of schedule, continuous and
 * trigger; a schedule without a Quartz cron expression or a known time zone; a bad pause_status; a git_source
 * without URL, known provider and exactly one of branch, tag, commit; a GIT-sourced notebook without git_source, or a
 * workspace notebook path that is not absolute; duplicate parameter names; more than 1000 tasks or 25 tags;
 * max_concurrent_runs outside 0-1000. `run_as` names exactly one user, service principal (application id) or group
 * that exists; a non-admin may set only themselves (403 PERMISSION_DENIED otherwise), or a group of theirs; once set
 * it stays when later settings leave it out (Databricks does not unset it). Notebook paths are not checked for
 * existence: Databricks accepts a missing notebook and fails the run.
 *
 * Stored settings read back with Databricks' defaults: name "Untitled", max_concurrent_runs 1, timeout_seconds 0,
 * format MULTI_TASK, empty email and webhook notifications, a schedule UNPAUSED; per task timeout_seconds 0,
 * run_if ALL_SUCCESS, empty notifications, and notebook_task.source WORKSPACE (GIT with a git_source).
 *
 * Permissions (CAN_VIEW < CAN_MANAGE_RUN < IS_OWNER < CAN_MANAGE; admins CAN_MANAGE everywhere, inherited from
 * `/jobs/`) live in the shared ACLs (WorkspaceAccess) and are served by the Permissions API through
 * `permissionObjects`, which applies the owner rule here: exactly one IS_OWNER, a user or service principal, never a
 * group ("The job must have exactly one owner.", also for a PUT without one); only admins change the owner, and the
 * previous owner keeps CAN_MANAGE; a PATCH naming a new owner transfers ownership. `run_as_user_name` is run_as,
 * or the owner.
 */
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";
import { ComputeApi, unsupportedNodeType, WorkspaceAccess } from "./computeApi";
import type { AclEntry, PrincipalKind } from "./controlPlaneState";
import type { Refusal, ServedObjects } from "./permissionsApi";

export const JOB_LEVELS = ["CAN_VIEW", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_MANAGE"] as const;
const ROOT = "/jobs/";
const jobKey = (id: number | string) => `${ROOT}${id}`;
const PAGE = 100;
const KEY = /^[\w-]{1,100}$/;
const PAUSE = ["PAUSED", "UNPAUSED"];
const GIT_PROVIDERS = [
  "awsCodeCommit",
  "azureDevOpsServices",
  "bitbucketCloud",
  "bitbucketServer",
  "gitHub",
  "gitHubEnterprise",
  "gitLab",
  "gitLabEnterpriseEdition",
];
/** The task types (exactly one per task), and those that run on a cluster or serverless compute. */
const TASK_TYPES = [
  "notebook_task",
  "spark_jar_task",
  "spark_python_task",
  "spark_submit_task",
  "python_wheel_task",
  "pipeline_task",
  "sql_task",
  "dbt_task",
  "run_job_task",
  "condition_task",
  "for_each_task",
  "dashboard_task",
  "alert_task",
  "power_bi_task",
  "clean_rooms_notebook_task",
  "dbt_cloud_task",
  "dbt_platform_task",
  "gen_ai_compute_task",
  "ai_function_task",
  "ai_runtime_task",
  "python_operator_task",
];
const ON_CLUSTER = ["notebook_task", "spark_jar_task", "spark_python_task", "spark_submit_task", "python_wheel_task", "dbt_task"];
const ON_SERVERLESS = ["notebook_task", "spark_python_task", "python_wheel_task", "dbt_task"];
const COMPUTE = ["job_cluster_key", "existing_cluster_id", "new_cluster", "environment_key"];
/** The arrays jobs/get pages and jobs/update merges, with the field that keys their entries. */
const KEYED_ARRAYS: Record<string, string> = {
  tasks: "task_key",
  job_clusters: "job_cluster_key",
  parameters: "name",
  environments: "environment_key",
};
const PRINCIPAL_FIELDS: [string, PrincipalKind][] = [
  ["user_name", "user"],
  ["group_name", "group"],
  ["service_principal_name", "servicePrincipal"],
];

type Json = Record<string, any>;

/** A job as stored: the settings include their defaults (and run_as only when it was set). */
export interface Job {
  job_id: number;
  creator_user_name: string;
  created_time: number;
  settings: Json;
}

let nextJobId = 771_112_345_000_001;

export class JobsApi {
  readonly jobs = new Map<number, Job>();
  /** Whether tasks without compute run on serverless compute; false, as on a classic workspace, they need a cluster. */
  serverless = false;
  /** The all-purpose clusters a task's existing_cluster_id may name (none run in a test workspace). */
  readonly clusters = new Set<string>();

  constructor(private readonly compute: ComputeApi) {}

  get access(): WorkspaceAccess {
    return this.compute.access;
  }

  /** The job's owner: its one IS_OWNER entry. */
  ownerOf(jobId: number): AclEntry | undefined {
    return this.access.acl(jobKey(jobId)).find((e) => e.level === "IS_OWNER");
  }

  /** Whom the job runs as: its run_as, or else its owner (`run_as_user_name`). */
  runAsOf(job: Job): string | undefined {
    const r = job.settings.run_as as Json | undefined;
    return r?.user_name ?? r?.service_principal_name ?? r?.group_name ?? this.ownerOf(job.job_id)?.name;
  }

  /** The caller's level on a job (undefined: none). */
  levelOf(jobId: number, caller: string): string | undefined {
    return this.access.level(jobKey(jobId), ROOT, JOB_LEVELS, caller);
  }

  /** What the Permissions API needs of jobs (`/api/2.0/permissions/jobs/{id}`), the owner rule included. */
  readonly permissionObjects: ServedObjects = {
    objectType: "job",
    levels: JOB_LEVELS,
    managers: ["IS_OWNER", "CAN_MANAGE"],
    adminLevel: "CAN_MANAGE",
    exists: (id) => this.jobs.has(Number(id)),
    settle: (id, change) => settleJobAcl(`job ${id}`, change),
  };

  /** Serves `/api/2.2/jobs/...`; other Jobs API versions and the runs routes answer 501; false for any other path. */
  handle(req: ApiRequest): boolean {
    const m = /^\/api\/2\.2\/jobs\/(create|get|list|reset|update|delete)$/.exec(req.url.pathname);
    if (!m) return /^\/api\/2\.\d\/jobs(\/|$)/.test(req.url.pathname) ? notImplemented(req.res, req.method, req.url) : false;
    const op = m[1];
    const reads = op === "get" || op === "list";
    if (req.method !== (reads ? "GET" : "POST"))
      return apiError(req.res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${req.method} ${req.url.pathname}'`);
    const b = reads ? Object.fromEntries(req.url.searchParams) : jsonBody(req);
    if (!b) return true;
    if (op === "list") return this.list(req, b);
    if (op === "create") return this.create(req, b);
    const id = Number(b.job_id);
    const job = this.jobs.get(id);
    if (b.job_id === undefined || b.job_id === "") return refuse(req, invalid("Missing required field: job_id"));
    if (!job) return refuse(req, invalid(`Job ${b.job_id} does not exist.`));
    const level = this.levelOf(id, req.caller);
    if (op === "get") {
      if (!level) return refuse(req, denied(`User ${req.caller} does not have View permissions on job ${id}.`));
      return this.get(req, job, String(b.page_token ?? ""));
    }
    if (!level || JOB_LEVELS.indexOf(level as (typeof JOB_LEVELS)[number]) < JOB_LEVELS.indexOf("IS_OWNER"))
      return refuse(req, denied(`User ${req.caller} does not have Manage permissions on job ${id}, which ${op} needs.`));
    if (op === "delete") {
      this.jobs.delete(id);
      this.access.acls.delete(jobKey(id));
      return sendJson(req.res, 200, {});
    }
    const next = op === "reset" ? this.reset(b, job) : this.update(b, job);
    if (!("settings" in next)) return refuse(req, next);
    const no = this.check(next.settings, req.caller, job);
    if (no) return refuse(req, no);
    job.settings = withDefaults(next.settings);
    return sendJson(req.res, 200, {});
  }

  private create(req: ApiRequest, b: Json): boolean {
    const { access_control_list: acl, ...settings } = b;
    const no = this.check(settings, req.caller, undefined);
    if (no) return refuse(req, no);
    const asked = this.parseAcl(acl);
    if ("status" in asked) return refuse(req, asked);
    const creator: AclEntry = { kind: "user", name: req.caller, level: "IS_OWNER" };
    const owned = asked.some((e) => e.level === "IS_OWNER") ? asked : [creator, ...asked];
    const entries = settleJobAcl("the new job", {
      method: "CREATE",
      asked,
      next: owned,
      previous: [creator],
      caller: req.caller,
      callerIsAdmin: this.access.isAdmin(req.caller),
    });
    if ("status" in entries) return refuse(req, entries);
    const job: Job = { job_id: nextJobId++, creator_user_name: req.caller, created_time: Date.now(), settings: withDefaults(settings) };
    this.jobs.set(job.job_id, job);
    this.access.acls.set(jobKey(job.job_id), entries);
    return sendJson(req.res, 200, { job_id: job.job_id });
  }

  /** An access_control_list given at create, as ACL entries, or why it is refused. */
  private parseAcl(raw: unknown): AclEntry[] | Refusal {
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) return invalid("access_control_list must be a list");
    const out: AclEntry[] = [];
    for (const e of raw as Json[]) {
      const named = PRINCIPAL_FIELDS.filter(([f]) => typeof e?.[f] === "string" && e[f] !== "");
      if (named.length !== 1)
        return invalid(
          `Each access control entry needs exactly one of user_name, group_name, service_principal_name: ${JSON.stringify(e)}`,
        );
      const [field, kind] = named[0];
      const level = String(e.permission_level ?? "");
      if (!(JOB_LEVELS as readonly string[]).includes(level))
        return invalid(`Permission level ${level || "(none)"} is not supported for job objects; allowed: ${JOB_LEVELS.join(", ")}`);
      if (!this.access.principalExists(kind, e[field])) return invalid(`Principal: ${field}(${e[field]}) does not exist`);
      out.push({ kind, name: e[field], level });
    }
    return out;
  }

  private get(req: ApiRequest, job: Job, token: string): boolean {
    const page = token ? Number(/^p(\d+)$/.exec(token)?.[1] ?? NaN) : 0;
    if (!Number.isInteger(page)) return refuse(req, invalid(`Invalid page_token: ${token}`));
    const paged = Object.keys(KEYED_ARRAYS).some((k) => (job.settings[k]?.length ?? 0) > PAGE);
    const more = Object.keys(KEYED_ARRAYS).some((k) => (job.settings[k]?.length ?? 0) > (page + 1) * PAGE);
    const settings = { ...job.settings };
    for (const k of Object.keys(KEYED_ARRAYS)) if (paged) settings[k] = (job.settings[k] ?? []).slice(page * PAGE, (page + 1) * PAGE);
    return sendJson(req.res, 200, {
      job_id: job.job_id,
      creator_user_name: job.creator_user_name,
      ...(this.runAsOf(job) ? { run_as_user_name: this.runAsOf(job) } : {}),
      created_time: job.created_time,
      settings,
      ...(paged ? { has_more: more } : {}),
      ...(more ? { next_page_token: `p${page + 1}` } : {}),
    });
  }

  private list(req: ApiRequest, q: Json): boolean {
    const limit = q.limit === undefined ? 20 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      return refuse(req, invalid(`limit must be greater than 0 and at most 100; got ${q.limit}.`));
    const token = q.page_token ? /^o(\d+)$/.exec(String(q.page_token)) : undefined;
    if (token === null) return refuse(req, invalid(`Invalid page_token: ${q.page_token}`));
    const start = token ? Number(token[1]) : Number(q.offset ?? 0);
    const expand = String(q.expand_tasks ?? "").toLowerCase() === "true";
    const name = q.name === undefined ? undefined : String(q.name).toLowerCase();
    const visible = [...this.jobs.values()]
      .filter((j) => this.levelOf(j.job_id, req.caller) && (name === undefined || String(j.settings.name).toLowerCase() === name))
      .sort((a, b) => b.created_time - a.created_time || b.job_id - a.job_id);
    const page = visible.slice(start, start + limit).map((j) => {
      const { tasks, job_clusters, ...rest } = j.settings;
      if (!expand) return { job_id: j.job_id, creator_user_name: j.creator_user_name, created_time: j.created_time, settings: rest };
      const cut = Object.keys(KEYED_ARRAYS).some((k) => (j.settings[k]?.length ?? 0) > PAGE);
      const settings: Json = { ...rest, ...(tasks ? { tasks } : {}), ...(job_clusters ? { job_clusters } : {}) };
      for (const k of Object.keys(KEYED_ARRAYS)) if (settings[k]) settings[k] = settings[k].slice(0, PAGE);
      return { job_id: j.job_id, creator_user_name: j.creator_user_name, created_time: j.created_time, settings, has_more: cut };
    });
    const more = start + limit < visible.length;
    return sendJson(req.res, 200, {
      ...(page.length ? { jobs: page } : {}),
      has_more: more,
      ...(more ? { next_page_token: `o${start + limit}` } : {}),
    });
  }

  /** A reset's settings: all of new_settings; a run_as once set stays when they leave it out. */
  private reset(b: Json, job: Job): { settings: Json } | Refusal {
    if (!b.new_settings || typeof b.new_settings !== "object") return invalid("Missing required field: new_settings");
    return { settings: { ...(job.settings.run_as ? { run_as: job.settings.run_as } : {}), ...b.new_settings } };
  }

  /** An update's settings: top-level fields replaced, keyed arrays merged by key, then fields_to_remove removed. */
  private update(b: Json, job: Job): { settings: Json } | Refusal {
    const given: Json = b.new_settings ?? {};
    const remove = b.fields_to_remove ?? [];
    if (!Array.isArray(remove)) return invalid("fields_to_remove must be a list of field names");
    const next: Json = { ...job.settings };
    for (const [k, v] of Object.entries(given)) {
      const key = KEYED_ARRAYS[k];
      if (!key || !Array.isArray(v) || !Array.isArray(next[k])) next[k] = v;
      else {
        const merged = [...next[k]];
        for (const entry of v as Json[]) {
          const at = merged.findIndex((e) => e[key] === entry?.[key]);
          if (at < 0) merged.push(entry);
          else merged[at] = entry;
        }
        next[k] = merged;
      }
    }
    for (const f of remove as unknown[]) {
      const m = /^(tasks|job_clusters)\/(.+)$/.exec(String(f));
      if (m) {
        const key = KEYED_ARRAYS[m[1]];
        if (!(next[m[1]] ?? []).some((e: Json) => e[key] === m[2])) return invalid(`fields_to_remove: ${f} names no entry of the job.`);
        next[m[1]] = next[m[1]].filter((e: Json) => e[key] !== m[2]);
      } else if (String(f).includes("/")) return invalid(`fields_to_remove: removing the nested field ${f} is not supported.`);
      else if (given[String(f)] !== undefined) return invalid(`Field ${f} cannot be both updated and removed.`);
      else if (f !== "run_as") delete next[String(f)];
    }
    return { settings: next };
  }

  /** Why settings are refused (the whole settings a create, reset or update would store), or undefined. */
  private check(s: Json, caller: string, job: Job | undefined): Refusal | undefined {
    return this.checkShape(s) ?? this.checkTriggers(s) ?? this.checkTasks(s) ?? this.checkRunAs(s.run_as, caller, job);
  }

  private checkShape(s: Json): Refusal | undefined {
    if (s.name !== undefined && typeof s.name !== "string") return invalid("name must be a string");
    for (const k of Object.keys(KEYED_ARRAYS)) if (s[k] !== undefined && !Array.isArray(s[k])) return invalid(`${k} must be a list`);
    if ((s.tasks ?? []).length > 1000) return invalid(`A job can have at most 1000 tasks; this one has ${s.tasks.length}.`);
    if (Object.keys(s.tags ?? {}).length > 25) return invalid("A job can have at most 25 tags.");
    const mcr = s.max_concurrent_runs;
    if (mcr !== undefined && !(Number.isInteger(mcr) && mcr >= 0 && mcr <= 1000))
      return invalid(`max_concurrent_runs must be between 0 and 1000; got ${JSON.stringify(mcr)}.`);
    if (s.timeout_seconds !== undefined && !(Number.isInteger(s.timeout_seconds) && s.timeout_seconds >= 0))
      return invalid("timeout_seconds must be a non-negative integer.");
    if (s.format !== undefined && !["SINGLE_TASK", "MULTI_TASK"].includes(s.format)) return invalid(`Invalid format: ${s.format}`);
    const names = new Set<string>();
    for (const p of (s.parameters ?? []) as Json[]) {
      if (typeof p?.name !== "string" || !p.name) return invalid("Every job parameter needs a name.");
      if (typeof p.default !== "string") return invalid(`Job parameter ${p.name} needs a default value.`);
      if (names.has(p.name)) return invalid(`Job parameter names must be unique: ${p.name} is given twice.`);
      names.add(p.name);
    }
    const g = s.git_source;
    if (g !== undefined) {
      if (typeof g?.git_url !== "string" || !g.git_url) return invalid("git_source.git_url is required.");
      if (!GIT_PROVIDERS.some((p) => p.toLowerCase() === String(g.git_provider ?? "").toLowerCase()))
        return invalid(`Invalid git_provider ${g.git_provider}: one of ${GIT_PROVIDERS.join(", ")}.`);
      if (["git_branch", "git_tag", "git_commit"].filter((f) => g[f]).length !== 1)
        return invalid("git_source needs exactly one of git_branch, git_tag and git_commit.");
    }
    return undefined;
  }

  private checkTriggers(s: Json): Refusal | undefined {
    const set = ["schedule", "continuous", "trigger"].filter((k) => s[k] !== undefined && s[k] !== null);
    if (set.length > 1) return invalid(`A job can have at most one of schedule, continuous and trigger; this one sets ${set.join(", ")}.`);
    for (const k of set)
      if (s[k].pause_status !== undefined && !PAUSE.includes(s[k].pause_status))
        return invalid(`Invalid ${k}.pause_status ${s[k].pause_status}: PAUSED or UNPAUSED.`);
    const c = s.schedule;
    if (c) {
      const fields = String(c.quartz_cron_expression ?? "")
        .trim()
        .split(/\s+/)
        .filter(Boolean);
      if (fields.length < 6 || fields.length > 7)
        return invalid(`Invalid Quartz cron expression '${c.quartz_cron_expression ?? ""}': six or seven fields, seconds first.`);
      if (!c.timezone_id || !knownTimeZone(c.timezone_id)) return invalid(`Invalid timezone_id '${c.timezone_id ?? ""}'.`);
    }
    const t = s.trigger;
    if (t) {
      const kinds = ["file_arrival", "periodic", "table", "table_update", "model", "job_completion", "sql_condition"].filter((k) => t[k]);
      if (kinds.length !== 1) return invalid("A trigger needs exactly one of file_arrival, periodic, table_update, model.");
      if (t.file_arrival && !t.file_arrival.url) return invalid("trigger.file_arrival.url is required.");
      if (t.periodic && !(Number.isInteger(t.periodic.interval) && t.periodic.interval > 0 && t.periodic.unit))
        return invalid("trigger.periodic needs a positive interval and a unit.");
    }
    return undefined;
  }

  private checkTasks(s: Json): Refusal | undefined {
    const clusterKeys = new Set<string>();
    for (const jc of (s.job_clusters ?? []) as Json[]) {
      if (typeof jc?.job_cluster_key !== "string" || !KEY.test(jc.job_cluster_key))
        return invalid(`Invalid job_cluster_key '${jc?.job_cluster_key ?? ""}': 1 to 100 letters, digits, '-' and '_'.`);
      if (clusterKeys.has(jc.job_cluster_key)) return invalid(`Job cluster key ${jc.job_cluster_key} is not unique.`);
      clusterKeys.add(jc.job_cluster_key);
      if (!jc.new_cluster) return invalid(`Job cluster ${jc.job_cluster_key} needs a new_cluster.`);
      const no = this.checkCluster(jc.new_cluster, `job cluster ${jc.job_cluster_key}`);
      if (no) return no;
    }
    const envKeys = new Set(((s.environments ?? []) as Json[]).map((e) => e?.environment_key));
    const tasks = (s.tasks ?? []) as Json[];
    const keys = new Set<string>();
    for (const t of tasks) {
      if (typeof t?.task_key !== "string" || !KEY.test(t.task_key))
        return invalid(`Invalid task_key '${t?.task_key ?? ""}': every task needs a key of 1 to 100 letters, digits, '-' and '_'.`);
      if (keys.has(t.task_key)) return invalid(`Task key ${t.task_key} is not unique: each task of a job needs its own.`);
      keys.add(t.task_key);
    }
    for (const t of tasks) {
      const no = this.checkTask(t, s, clusterKeys, envKeys, keys);
      if (no) return no;
    }
    const cycle = findCycle(tasks);
    return cycle ? invalid(`The tasks' dependencies form a cycle: ${cycle.join(" -> ")}.`) : undefined;
  }

  private checkTask(t: Json, s: Json, clusterKeys: Set<string>, envKeys: Set<string>, keys: Set<string>): Refusal | undefined {
    const at = `task ${t.task_key}`;
    const types = TASK_TYPES.filter((k) => t[k]);
    if (types.length !== 1)
      return invalid(
        `Task ${t.task_key} must set exactly one task type (${TASK_TYPES.slice(0, 8).join(", ")}, ...); it sets ${types.length}.`,
      );
    const type = types[0];
    const sources = COMPUTE.filter((k) => t[k] !== undefined && t[k] !== null && t[k] !== "");
    if (sources.length > 1) return invalid(`Task ${t.task_key} can set only one of ${COMPUTE.join(", ")}; it sets ${sources.join(", ")}.`);
    const onWarehouse = type === "notebook_task" && t.notebook_task.warehouse_id;
    if (!sources.length && ON_CLUSTER.includes(type) && !onWarehouse && !(this.serverless && ON_SERVERLESS.includes(type)))
      return invalid(`Task ${t.task_key}: one of job_cluster_key, new_cluster or existing_cluster_id must be specified.`);
    if (t.job_cluster_key !== undefined && !clusterKeys.has(t.job_cluster_key))
      return invalid(`Task ${t.task_key} names job cluster ${t.job_cluster_key}, which job_clusters does not define.`);
    if (t.environment_key !== undefined && !envKeys.has(t.environment_key))
      return invalid(`Task ${t.task_key} names environment ${t.environment_key}, which environments does not define.`);
    if (t.existing_cluster_id !== undefined && !this.clusters.has(t.existing_cluster_id))
      return invalid(`Cluster ${t.existing_cluster_id} does not exist`);
    if (t.new_cluster) {
      const no = this.checkCluster(t.new_cluster, at);
      if (no) return no;
    }
    for (const d of (t.depends_on ?? []) as Json[]) {
      if (!keys.has(d?.task_key) || d.task_key === t.task_key)
        return invalid(`Task ${t.task_key} depends on ${d?.task_key}, which is not another task of this job.`);
    }
    if (type === "notebook_task") {
      const nb = t.notebook_task;
      if (typeof nb.notebook_path !== "string" || !nb.notebook_path)
        return invalid(`Task ${t.task_key}: notebook_task.notebook_path is required.`);
      const source = nb.source ?? (s.git_source ? "GIT" : "WORKSPACE");
      if (!["GIT", "WORKSPACE"].includes(source)) return invalid(`Task ${t.task_key}: invalid notebook_task.source ${source}.`);
      if (source === "GIT" && !s.git_source)
        return invalid(`Task ${t.task_key} takes its notebook from Git, but the job has no git_source.`);
      if (source === "WORKSPACE" && !nb.notebook_path.startsWith("/"))
        return invalid(`Task ${t.task_key}: the workspace notebook path ${nb.notebook_path} must be absolute.`);
    }
    if (type === "spark_python_task" && !t.spark_python_task.python_file)
      return invalid(`Task ${t.task_key}: spark_python_task.python_file is required.`);
    if (type === "python_wheel_task" && !(t.python_wheel_task.package_name && t.python_wheel_task.entry_point))
      return invalid(`Task ${t.task_key}: python_wheel_task needs package_name and entry_point.`);
    if (type === "run_job_task" && !this.jobs.has(Number(t.run_job_task.job_id)))
      return invalid(`Task ${t.task_key} runs job ${t.run_job_task.job_id}: Job ${t.run_job_task.job_id} does not exist.`);
    if (type === "for_each_task") {
      const inner = t.for_each_task.task;
      if (!t.for_each_task.inputs || !inner) return invalid(`Task ${t.task_key}: for_each_task needs inputs and a task.`);
      return this.checkTask({ ...inner, task_key: inner.task_key ?? `${t.task_key}_iteration` }, s, clusterKeys, envKeys, keys);
    }
    return undefined;
  }

  /** Why a cluster spec (a job cluster's or a task's new_cluster) is refused, or undefined. */
  private checkCluster(c: Json, where: string): Refusal | undefined {
    if (typeof c !== "object" || Array.isArray(c)) return invalid(`The cluster spec of ${where} must be an object.`);
    const { policies, pools } = this.compute;
    if (c.policy_id !== undefined && !policies.has(c.policy_id))
      return invalid(`Cluster policy ${c.policy_id} of ${where} does not exist.`);
    if (!c.spark_version && !c.policy_id) return invalid(`Missing required field spark_version in the cluster spec of ${where}.`);
    for (const [pool, node, what] of [
      ["instance_pool_id", "node_type_id", "an instance pool ID"],
      ["driver_instance_pool_id", "driver_node_type_id", "a driver instance pool ID"],
    ]) {
      if (c[pool] !== undefined && !pools.has(c[pool])) return invalid(`Instance pool ${c[pool]} of ${where} does not exist.`);
      if (c[pool] !== undefined && c[node] !== undefined)
        return invalid(`The field '${node}' cannot be supplied when ${what} is provided.`);
      if (c[node] !== undefined && !this.compute.offersNodeType(c[node]))
        return invalid(`${unsupportedNodeType(c[node], this.compute.nodeTypes)} (${node} of ${where})`);
    }
    if (!c.node_type_id && !c.instance_pool_id && !c.policy_id)
      return invalid(`The cluster spec of ${where} needs node_type_id or instance_pool_id.`);
    const a = c.autoscale;
    if (a && !(Number.isInteger(a.min_workers) && Number.isInteger(a.max_workers) && a.min_workers >= 0 && a.min_workers <= a.max_workers))
      return invalid(`autoscale of ${where} needs 0 <= min_workers <= max_workers.`);
    if (c.num_workers !== undefined && !(Number.isInteger(c.num_workers) && c.num_workers >= 0))
      return invalid(`num_workers of ${where} must be a non-negative integer.`);
    return undefined;
  }

  /**
   * Whom the job may run as: exactly one existing user, service principal or group; a non-admin only themselves or a
   * group of theirs (the SDK: "Non-admin users can only set this field to their own email"; a service principal needs
   * the servicePrincipal/user role, which only admins are taken to hold here). Unchanged run_as is not re-checked.
   */
  private checkRunAs(r: Json | undefined, caller: string, job: Job | undefined): Refusal | undefined {
    if (r === undefined) return undefined;
    const named = PRINCIPAL_FIELDS.filter(([f]) => typeof r?.[f] === "string" && r[f]);
    if (named.length !== 1) return invalid("run_as needs exactly one of user_name, service_principal_name and group_name.");
    if (job && JSON.stringify(job.settings.run_as) === JSON.stringify(r)) return undefined;
    const [field, kind] = named[0];
    const name: string = r[field];
    if (!this.access.principalExists(kind, name)) return invalid(`run_as ${field} ${name} does not exist in this workspace.`);
    if (this.access.isAdmin(caller)) return undefined;
    if (kind === "user" && name.toLowerCase() === caller.toLowerCase()) return undefined;
    if (kind === "group" && this.access.groupsOf(caller).includes(name)) return undefined;
    return denied(
      kind === "group"
        ? `User ${caller} is not a member of group ${name} and cannot set it as the job's run_as.`
        : `User ${caller} cannot set run_as to ${name}: non-admin users can only set it to themselves${kind === "servicePrincipal" ? " (or a service principal they hold the servicePrincipal/user role on)" : ""}.`,
    );
  }
}

/**
 * The owner rule of job ACLs, for create (`previous` is the creator's ownership) and for Permissions API PUTs and
 * PATCHes: exactly one IS_OWNER, a user or service principal; changing the owner is for admins; the previous owner
 * keeps CAN_MANAGE. `next` is the direct ACL the change would leave; answers the ACL to store or the refusal.
 */
export function settleJobAcl(
  what: string,
  change: {
    method: "PUT" | "PATCH" | "CREATE";
    asked: AclEntry[];
    next: AclEntry[];
    previous: AclEntry[];
    caller: string;
    callerIsAdmin: boolean;
  },
): AclEntry[] | Refusal {
  const owns = (e: AclEntry) => e.level === "IS_OWNER";
  const same = (a: AclEntry, b: AclEntry) => a.kind === b.kind && a.name.toLowerCase() === b.name.toLowerCase();
  const group = change.asked.find((e) => owns(e) && e.kind === "group");
  if (group) return invalid(`Group ${group.name} cannot own ${what}: the owner is a user or a service principal.`);
  if (change.asked.filter(owns).length > 1) return invalid("The job must have exactly one owner.");
  const current = change.previous.find(owns);
  const named = change.asked.find(owns);
  let next = change.next;
  if (change.method === "PATCH" && named && current && !same(current, named)) next = next.filter((e) => !(owns(e) && same(e, current)));
  const owners = next.filter(owns);
  if (owners.length !== 1) return invalid("The job must have exactly one owner.");
  if (current && !same(current, owners[0]) && !change.callerIsAdmin)
    return denied(`Only workspace admins can change the owner of ${what}; '${change.caller}' is not one.`);
  if (change.method !== "CREATE" && current && !same(current, owners[0]) && !next.some((e) => same(e, current)))
    next = [...next, { kind: current.kind, name: current.name, level: "CAN_MANAGE" }];
  return next;
}

/** Stored settings with the defaults Databricks reads back. */
function withDefaults(s: Json): Json {
  const git = !!s.git_source;
  return {
    name: "Untitled",
    email_notifications: {},
    webhook_notifications: {},
    timeout_seconds: 0,
    max_concurrent_runs: 1,
    format: "MULTI_TASK",
    ...s,
    ...(s.schedule ? { schedule: { pause_status: "UNPAUSED", ...s.schedule } } : {}),
    ...(s.tasks
      ? {
          tasks: (s.tasks as Json[]).map((t) => ({
            timeout_seconds: 0,
            email_notifications: {},
            webhook_notifications: {},
            run_if: "ALL_SUCCESS",
            ...t,
            ...(t.notebook_task
              ? { notebook_task: { ...t.notebook_task, source: t.notebook_task.source ?? (git ? "GIT" : "WORKSPACE") } }
              : {}),
          })),
        }
      : {}),
  };
}

/** A dependency cycle among tasks, as task keys, or undefined. */
function findCycle(tasks: Json[]): string[] | undefined {
  const deps = new Map(tasks.map((t) => [t.task_key as string, ((t.depends_on ?? []) as Json[]).map((d) => d.task_key as string)]));
  const state = new Map<string, "open" | "done">();
  const visit = (k: string, path: string[]): string[] | undefined => {
    if (state.get(k) === "done") return undefined;
    if (state.get(k) === "open") return [...path.slice(path.indexOf(k)), k];
    state.set(k, "open");
    for (const d of deps.get(k) ?? []) {
      const c = visit(d, [...path, k]);
      if (c) return c;
    }
    state.set(k, "done");
    return undefined;
  };
  for (const k of deps.keys()) {
    const c = visit(k, []);
    if (c) return c;
  }
  return undefined;
}

function knownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function invalid(message: string): Refusal {
  return { status: 400, code: "INVALID_PARAMETER_VALUE", message };
}

function denied(message: string): Refusal {
  return { status: 403, code: "PERMISSION_DENIED", message };
}

function refuse(req: ApiRequest, r: Refusal): true {
  return apiError(req.res, r.status, r.code, r.message);
}
