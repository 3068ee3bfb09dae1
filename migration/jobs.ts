/**
 * Jobs move (Jobs API 2.2) with their tasks, job clusters, libraries, parameters, schedules and triggers,
 * notifications, `run_as` and permissions, and nothing runs twice: every job is created paused (schedule,
 * continuous and file-arrival or periodic triggers alike) and only `move --cut-over` switches the running side.
 *
 * On the way, what points into the source is pointed into the target: notebook, Python and SQL file paths and
 * workspace libraries through the plan's pathMap (the move keeps paths, so only what moves elsewhere is mapped),
 * cluster policies, instance pools and `run_job_task` jobs by name, node types through nodeTypeMap. What cannot be
 * decided for the operator holds the job back, with the reason, and creates nothing: an owner, `run_as` or ACL
 * principal the target does not know, a node type it does not offer, a policy, pool or job it does not have, a
 * task on an all-purpose cluster (clusters do not move). `--dry-run` lists all of it before anything is created.
 *
 * A job is found in the target by name; a second move adopts it, resets it only where its settings differ, and
 * keeps its pause state (the cut-over's).
 */
import { aclBody, databricksApi, DatabricksApi } from "../clients/databricksApi";
import { createOnce, DEFAULT_RETRY, hasStatus, RetryPolicy } from "../clients/http";
import { Endpoint } from "../clients/mlflow";
import { DirectGrant } from "../clients/permissionsAcl";
import { canonical, compareAcl, KINDS, mapAcl, mapNodeType, noComputeApi, ObjectMoveReport, Remaps, TargetFacts } from "./compute";

type Json = Record<string, unknown>;

export interface JobInventory {
  id: string;
  name: string;
  settings: Json;
  acl: DirectGrant[];
  /** Who the job runs as (`run_as_user_name`: its owner unless run_as names someone). */
  runAs?: string;
  /** Who created it: on Databricks the creator keeps a direct CAN_MANAGE once the owner is changed. */
  creator?: string;
}

/** Ids of the policies, pools and jobs of one side, by name and back: how references are compared and mapped. */
export interface SideNames {
  policy: Map<string, string>;
  pool: Map<string, string>;
  job: Map<string, string>;
}

export type JobReport = ObjectMoveReport;

/** What a dry run's move makes before a job (not in the target yet, but it will be), by kind. */
export type Coming = { job?: string[]; "cluster-policy"?: string[]; "instance-pool"?: string[] };

export const JOB_TRIGGERS = ["schedule", "continuous", "trigger"] as const;

async function pages<T>(api: DatabricksApi, path: string, key: string, what: string): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api.call<Json>("GET", `${path}${token ? `${sep}page_token=${encodeURIComponent(token)}` : ""}`, what);
    out.push(...((page[key] as T[] | undefined) ?? []));
    token = page.next_page_token as string | undefined;
  } while (token);
  return out;
}

/** One job's whole settings: Jobs 2.2 pages tasks and job clusters beyond 100 (`next_page_token` on jobs/get). */
type JobGet = { settings: Json; run_as_user_name?: string; creator_user_name?: string };

async function getJob(api: DatabricksApi, id: string): Promise<JobGet> {
  let token: string | undefined;
  let first: JobGet | undefined;
  do {
    const page = await api.call<Partial<JobGet> & { next_page_token?: string }>(
      "GET",
      `/api/2.2/jobs/get?job_id=${id}${token ? `&page_token=${encodeURIComponent(token)}` : ""}`,
      `job ${id}`,
    );
    const s = page.settings ?? {};
    if (!first)
      first = {
        settings: { ...s },
        ...(page.run_as_user_name ? { run_as_user_name: page.run_as_user_name } : {}),
        ...(page.creator_user_name ? { creator_user_name: page.creator_user_name } : {}),
      };
    else
      for (const k of ["tasks", "job_clusters", "parameters", "environments"])
        if (Array.isArray(s[k])) first.settings[k] = [...((first.settings[k] as unknown[]) ?? []), ...(s[k] as unknown[])];
    token = page.next_page_token;
  } while (token);
  return first!;
}

/** No names where the workspace has no such API (an older workspace); any other failure is the caller's. */
const noneWithoutApi = (e: unknown): Map<string, string> => {
  if (noComputeApi(e)) return new Map();
  throw e;
};

/** The names of one side's policies, pools and jobs by id. */
export async function sideNames(ep: Endpoint, retry?: RetryPolicy): Promise<SideNames> {
  const api = databricksApi(ep, retry);
  const byId = async (list: string, key: string, id: string, name: string) =>
    new Map((await pages<Json>(api, list, key, `${key} list`)).map((o) => [String(o[id]), String(o[name])]));
  const jobs = await pages<{ job_id: number; settings?: { name?: string } }>(api, "/api/2.2/jobs/list?limit=100", "jobs", "job list");
  return {
    policy: await byId(KINDS["cluster-policy"].list, "policies", "policy_id", "name").catch(noneWithoutApi),
    pool: await byId(KINDS["instance-pool"].list, "instance_pools", "instance_pool_id", "instance_pool_name").catch(noneWithoutApi),
    job: new Map(jobs.map((j) => [String(j.job_id), j.settings?.name ?? "Untitled"])),
  };
}

/** The source's jobs (the named ones, all when none is named), each with its whole settings and ACL. */
export async function jobInventory(ep: Endpoint, names?: string[], retry?: RetryPolicy): Promise<JobInventory[]> {
  const api = databricksApi(ep, retry);
  const listed = await pages<{ job_id: number; settings?: { name?: string } }>(api, "/api/2.2/jobs/list?limit=100", "jobs", "job list");
  const out: JobInventory[] = [];
  for (const j of listed) {
    const name = j.settings?.name ?? "Untitled";
    if (names && !names.includes(name)) continue;
    out.push(await readJob(api, String(j.job_id), name));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || Number(a.id) - Number(b.id));
}

/** One job by its id, with its whole settings and ACL (undefined when it is gone). */
export async function jobById(ep: Endpoint, id: string, retry?: RetryPolicy): Promise<JobInventory | undefined> {
  // Jobs 2.2 answers a missing job 400 INVALID_PARAMETER_VALUE "Job <id> does not exist.", not 404.
  return readJob(databricksApi(ep, retry), id).catch((e) => {
    if (hasStatus(e, 404) || (hasStatus(e, 400) && /does not exist/i.test((e as Error).message))) return undefined;
    throw e;
  });
}

async function readJob(api: DatabricksApi, id: string, listedName?: string): Promise<JobInventory> {
  const got = await getJob(api, id);
  const name = listedName ?? (got.settings.name as string | undefined) ?? "Untitled";
  return {
    id,
    name,
    settings: got.settings,
    acl: await api.acl("jobs", id, `job '${name}'`),
    ...(got.run_as_user_name ? { runAs: got.run_as_user_name } : {}),
    ...(got.creator_user_name ? { creator: got.creator_user_name } : {}),
  };
}

/** A path or URL through the plan's pathMap (the longest matching prefix), with and without `/Workspace`. */
export function mapPath(p: string, pathMap: Record<string, string> = {}): string {
  // A workspace path may be written with or without `/Workspace`, in the map and in the job alike: matched without
  // it, and given back in the form the job's path had.
  const bare = (x: string) => (x === "/Workspace" || x.startsWith("/Workspace/") ? x.slice("/Workspace".length) || "/" : x);
  const trim = (x: string) => (x.length > 1 ? x.replace(/\/+$/, "") : x);
  const url = /^[a-z]+:\/\//.test(p);
  const path = url ? p : bare(p);
  const entries = Object.entries(pathMap)
    .map(([from, to]) => [url ? trim(from) : trim(bare(from)), url ? trim(to) : trim(bare(to))] as const)
    .sort((a, b) => b[0].length - a[0].length);
  for (const [from, to] of entries) {
    const under = from === "/" ? path.startsWith("/") : path === from || path.startsWith(`${from}/`);
    if (!under) continue;
    const mapped = from === "/" ? `${to === "/" ? "" : to}${path}` : `${to}${path.slice(from.length)}`;
    return !url && p !== path ? `/Workspace${mapped}` : mapped;
  }
  return p;
}

/** Every cluster spec of a job: its job clusters' and its tasks' own, with where each is. */
function clusterSpecs(s: Json): { spec: Json; where: string }[] {
  const out: { spec: Json; where: string }[] = [];
  for (const c of (s.job_clusters as Json[] | undefined) ?? [])
    if (c.new_cluster) out.push({ spec: c.new_cluster as Json, where: `job cluster '${c.job_cluster_key}'` });
  for (const t of allTasks(s)) if (t.new_cluster) out.push({ spec: t.new_cluster as Json, where: `task '${t.task_key}'` });
  return out;
}

/** Every task of a job: its tasks and, within a `for_each_task`, the task it runs for each input (nested too). */
export function allTasks(s: Json): Json[] {
  const out: Json[] = [];
  const add = (t: Json) => {
    out.push(t);
    const inner = (t.for_each_task as Json | undefined)?.task as Json | undefined;
    if (inner) add(inner);
  };
  for (const t of (s.tasks as Json[] | undefined) ?? []) add(t);
  return out;
}

/** Every trigger of a job with its pause state: schedule, continuous, trigger, and each of `triggers` (a preview's list). */
export function triggersOf(s: Json): { key: string; trigger: Json }[] {
  const out: { key: string; trigger: Json }[] = [];
  for (const t of JOB_TRIGGERS) if (s[t]) out.push({ key: t, trigger: s[t] as Json });
  ((s.triggers as Json[] | undefined) ?? []).forEach((trigger, i) => out.push({ key: `triggers[${i}]`, trigger }));
  return out;
}

/** The ids of the jobs a job runs (`run_job_task`, nested ones too) or watches (job-completion triggers, this workspace's). */
export const referencedJobIds = (s: Json): string[] => [
  ...new Set([
    ...allTasks(s).flatMap((t) =>
      (t.run_job_task as Json | undefined)?.job_id !== undefined ? [String((t.run_job_task as Json).job_id)] : [],
    ),
    ...watchedJobs(s).flatMap((w) => (w.workspace_id === undefined ? [String(w.job_id)] : [])),
  ]),
];

/** The jobs a job's job-completion triggers watch, as `{job_id, workspace_id?}` entries to map. */
const watchedJobs = (s: Json): Json[] =>
  triggersOf(s).flatMap(({ trigger }) => ((trigger.job_completion as Json | undefined)?.jobs as Json[] | undefined) ?? []);

/** The workspace paths a task names, as [object, field, label] to map. */
function taskPaths(t: Json, gitSourced: boolean): [Json, string, string][] {
  const out: [Json, string, string][] = [];
  const at = (o: unknown, field: string, label: string, source?: unknown) => {
    if (!o || typeof (o as Json)[field] !== "string") return;
    const src = source ?? (o as Json).source;
    if (src === "GIT" || (src === undefined && gitSourced)) return;
    out.push([o as Json, field, label]);
  };
  at(t.notebook_task, "notebook_path", "notebook");
  at(t.spark_python_task, "python_file", "Python file");
  at((t.sql_task as Json | undefined)?.file, "path", "SQL file");
  at(t.dbt_task, "project_directory", "dbt project");
  for (const lib of (t.libraries as Json[] | undefined) ?? [])
    for (const f of ["whl", "jar", "requirements"])
      if (typeof lib[f] === "string" && String(lib[f]).startsWith("/")) out.push([lib, f, "library"]);
  return out;
}

/**
 * The settings and ACL a job gets in the target, what the move changes on the way, and what holds it back.
 * Pure but for the target's facts (node types, principals, policies, pools and jobs by name).
 */
export async function remapJob(
  src: JobInventory,
  source: SideNames,
  facts: TargetFacts,
  remaps: Remaps,
  /** Jobs this move makes before this one (a dry run: not in the target yet, but they will be). */
  coming: Coming = {},
): Promise<{ settings: Json; acl: DirectGrant[]; changes: string[]; held: string[] }> {
  const what = `job '${src.name}'`;
  const s = JSON.parse(JSON.stringify(src.settings)) as Json;
  const changes: string[] = [];
  const held: string[] = [];
  const gitSourced = s.git_source !== undefined;
  const jobIdOf = async (id: unknown, where: string, how: string): Promise<number | undefined> => {
    const name = source.job.get(String(id));
    const ids = name === undefined ? [] : ((await facts.ids("job")).get(name) ?? []);
    if (!ids.length && name !== undefined && coming.job?.includes(name)) {
      changes.push(`${what} ${where} will ${how} the copy of job '${name}' this move makes first`);
      return undefined;
    }
    if (ids.length !== 1) {
      held.push(
        `${what} ${where} ${how}s job ${name ? `'${name}'` : id}, which the target ${ids.length ? `has ${ids.length} times` : "does not have"}: move it first (list it in the plan's jobs)`,
      );
      return undefined;
    }
    return Number(ids[0]);
  };
  for (const t of allTasks(s)) {
    for (const [o, field, label] of taskPaths(t, gitSourced)) {
      const to = mapPath(String(o[field]), remaps.pathMap);
      if (to !== o[field]) changes.push(`${what} task '${t.task_key}': ${label} ${o[field]} -> ${to} (pathMap)`);
      o[field] = to;
    }
    if (t.existing_cluster_id !== undefined)
      held.push(
        `${what} task '${t.task_key}' runs on the all-purpose cluster ${t.existing_cluster_id}, and clusters do not move: give the task a job cluster in the source`,
      );
    const run = t.run_job_task as Json | undefined;
    if (run?.job_id !== undefined) {
      const id = await jobIdOf(run.job_id, `task '${t.task_key}'`, "run");
      if (id !== undefined) run.job_id = id;
    }
  }
  for (const watched of watchedJobs(s)) {
    if (watched.workspace_id !== undefined) {
      held.push(
        `${what}'s job-completion trigger watches job ${watched.job_id} of workspace ${watched.workspace_id}: another workspace's job is not mapped; set that trigger on the copy after the move`,
      );
      continue;
    }
    const id = await jobIdOf(watched.job_id, "job-completion trigger", "watch");
    if (id !== undefined) watched.job_id = id;
  }
  const git = s.git_source as Json | undefined;
  if (git && typeof git.git_url === "string") {
    const to = mapPath(git.git_url, remaps.pathMap);
    if (to !== git.git_url) changes.push(`${what}: Git source ${git.git_url} -> ${to} (pathMap)`);
    git.git_url = to;
  }
  const refer = async (spec: Json, field: string, kind: "cluster-policy" | "instance-pool", names: Map<string, string>, where: string) => {
    if (spec[field] === undefined) return;
    const name = names.get(String(spec[field]));
    const ids = name === undefined ? [] : ((await facts.ids(kind)).get(name) ?? []);
    if (ids.length === 1) spec[field] = ids[0];
    else if (!ids.length && name !== undefined && coming[kind]?.includes(name))
      changes.push(`${what} ${where} will use the copy of ${KINDS[kind].label} '${name}' this move makes first`);
    else
      held.push(
        `${what} ${where} uses ${KINDS[kind].label} ${name ? `'${name}'` : spec[field]}, which the target ${ids.length ? `has ${ids.length} times` : "does not have"}: move it with the plan's ${kind === "cluster-policy" ? "clusterPolicies" : "instancePools"}`,
      );
  };
  for (const { spec, where } of clusterSpecs(s)) {
    await refer(spec, "policy_id", "cluster-policy", source.policy, where);
    await refer(spec, "instance_pool_id", "instance-pool", source.pool, where);
    await refer(spec, "driver_instance_pool_id", "instance-pool", source.pool, where);
    for (const [field, pooled] of [
      ["node_type_id", "instance_pool_id"],
      ["driver_node_type_id", "driver_instance_pool_id"],
    ]) {
      // A pooled cluster takes its node type from the pool (checked with the pool).
      if (typeof spec[field] !== "string" || spec[pooled] !== undefined) continue;
      const n = mapNodeType(spec[field] as string, facts, remaps, `${what} ${where}`);
      spec[field] = n.nodeType;
      if (n.change) changes.push(n.change);
      if (n.held) held.push(n.held);
    }
  }
  const runAs = s.run_as as { user_name?: string; service_principal_name?: string; group_name?: string } | undefined;
  if (runAs) {
    const [field, kind] = runAs.user_name
      ? (["user_name", "user"] as const)
      : runAs.group_name
        ? (["group_name", "group"] as const)
        : (["service_principal_name", "servicePrincipal"] as const);
    const from = runAs[field];
    if (from) {
      const to = remaps.principalMap?.[from] ?? from;
      if (to !== from) changes.push(`${what}: runs as ${to} instead of ${from} (principalMap)`);
      if (!(await facts.principalExists(kind, to)))
        held.push(`${what} runs as ${to}, who does not exist in the target: create them, or map them in the plan's principalMap`);
      runAs[field] = to;
    }
  }
  if (!src.acl.some((g) => g.level === "IS_OWNER"))
    held.push(`${what} has no owner in the source (no IS_OWNER): give it one there, so that the target's is not decided for you`);
  const acl = await mapAcl(src.acl, facts, remaps, what);
  changes.push(...acl.changes);
  held.push(...acl.held.map((h) => (h.includes("(IS_OWNER)") ? h.replace(`${what}:`, `${what}'s owner:`) : h)));
  for (const { key, trigger } of triggersOf(s)) {
    if (trigger.pause_status !== "PAUSED")
      changes.push(`${what}: ${key} created PAUSED (UNPAUSED in the source; move --cut-over switches it)`);
    trigger.pause_status = "PAUSED";
  }
  return { settings: s, acl: acl.acl, changes, held };
}

/** The pause state of each trigger a job has, by its key (`schedule`, `triggers[1]`). */
const pauses = (s: Json) =>
  Object.fromEntries(triggersOf(s).map(({ key, trigger }) => [key, (trigger.pause_status as string | undefined) ?? "UNPAUSED"]));

/** Settings that set these triggers' pause state: the top-level ones whole, and the `triggers` list whole. */
function withPauses(s: Json, states: Record<string, string>): Json {
  const out: Json = {};
  for (const { key, trigger } of triggersOf(s)) {
    if (!(key in states)) continue;
    const m = /^triggers\[(\d+)\]$/.exec(key);
    if (!m) out[key] = { ...trigger, pause_status: states[key] };
    else {
      out.triggers ??= (s.triggers as Json[]).map((t) => ({ ...t }));
      (out.triggers as Json[])[Number(m[1])].pause_status = states[key];
    }
  }
  return out;
}

/**
 * Moves one job: held when the operator must decide something; otherwise created paused (or found by name, reset
 * where it differs, its pause state kept) and given the source's ACL, owner included. `dryRun`: decides, writes nothing.
 */
export async function moveJob(o: {
  to: Endpoint;
  src: JobInventory;
  source: SideNames;
  facts: TargetFacts;
  remaps: Remaps;
  dryRun?: boolean;
  /** On a dry run, the jobs the move makes before this one. */
  coming?: Coming;
  retry?: RetryPolicy;
}): Promise<JobReport> {
  const api = databricksApi(o.to, o.retry);
  const r = await remapJob(o.src, o.source, o.facts, o.remaps, o.dryRun ? o.coming : {});
  const report: JobReport = { name: o.src.name, outcome: "adopted", changes: r.changes, held: r.held, acls: 0 };
  if (r.held.length) return { ...report, outcome: "held" };
  const ids = (await o.facts.ids("job")).get(o.src.name) ?? [];
  if (ids.length > 1)
    return { ...report, outcome: "held", held: [`the target has ${ids.length} jobs named '${o.src.name}' (${ids.join(", ")}): keep one`] };
  if (o.dryRun) return { ...report, outcome: ids.length ? "adopted" : "created" };
  let creator: string | undefined;
  let id = ids[0];
  if (id === undefined) {
    const lookup = async () => {
      o.facts.forget("job");
      return (await o.facts.ids("job")).get(o.src.name)?.[0];
    };
    id = await createOnce(
      o.retry ?? DEFAULT_RETRY,
      // The ACL goes with the create: a refused owner or principal leaves nothing behind (no job without its ACL).
      async () =>
        String(
          (
            await api.once<{ job_id: number }>("POST", "/api/2.2/jobs/create", `job '${o.src.name}'`, {
              ...r.settings,
              access_control_list: aclBody(r.acl),
            })
          ).job_id,
        ),
      lookup,
    );
    o.facts.forget("job");
    report.outcome = "created";
  } else {
    const target = await getJob(api, id);
    creator = target.creator_user_name;
    const there = target.settings;
    // The target's pause state is the cut-over's: a re-run keeps it.
    const thereStates = pauses(there);
    const want = {
      ...r.settings,
      ...withPauses(
        r.settings,
        Object.fromEntries(
          Object.keys(pauses(r.settings))
            .filter((k) => k in thereStates)
            .map((k) => [k, thereStates[k]]),
        ),
      ),
    };
    if (Object.keys(want).some((k) => canonical(want[k]) !== canonical(there[k]))) {
      await api.call("POST", "/api/2.2/jobs/reset", `job '${o.src.name}'`, { job_id: Number(id), new_settings: want });
      report.outcome = "updated";
    }
  }
  report.targetId = id;
  if (report.outcome === "created") {
    report.acls = r.acl.length;
    return report;
  }
  const current = withoutCreator(await api.acl("jobs", id, `job '${o.src.name}'`), r.acl, creator);
  if (canonical(sortAcl(current)) !== canonical(sortAcl(r.acl))) {
    await api.setAcl("jobs", id, `job '${o.src.name}'`, r.acl);
    if (report.outcome === "adopted") report.outcome = "updated";
  }
  report.acls = r.acl.length;
  return report;
}

/**
 * A target job's ACL without its creator's own CAN_MANAGE, which Databricks leaves when the owner is changed (the
 * mover's, not the team's), unless the source gives the creator that too.
 */
export const withoutCreator = (acl: DirectGrant[], want: DirectGrant[], creator: string | undefined) =>
  acl.filter(
    (g) => !(g.principal === creator && g.level === "CAN_MANAGE" && !want.some((w) => w.principal === creator && w.level === "CAN_MANAGE")),
  );

const sortAcl = (acl: DirectGrant[]) =>
  [...acl].sort((a, b) => `${a.kind}${a.principal}${a.level}`.localeCompare(`${b.kind}${b.principal}${b.level}`));

/** A job's settings with the side's ids of policies, pools and jobs replaced by their names, and pause states left out. */
export function comparableJob(s: Json, names: SideNames): Json {
  const c = JSON.parse(JSON.stringify(s)) as Json;
  for (const { spec } of clusterSpecs(c)) {
    if (spec.policy_id !== undefined) spec.policy_id = `policy:${names.policy.get(String(spec.policy_id)) ?? spec.policy_id}`;
    for (const f of ["instance_pool_id", "driver_instance_pool_id"])
      if (spec[f] !== undefined) spec[f] = `pool:${names.pool.get(String(spec[f])) ?? spec[f]}`;
  }
  for (const t of allTasks(c)) {
    const run = t.run_job_task as Json | undefined;
    if (run?.job_id !== undefined) run.job_id = `job:${names.job.get(String(run.job_id)) ?? run.job_id}`;
  }
  for (const w of watchedJobs(c)) w.job_id = `job:${names.job.get(String(w.job_id)) ?? w.job_id}`;
  for (const { trigger } of triggersOf(c)) delete trigger.pause_status;
  return c;
}

/**
 * Each source job against the target's of the same name: every setting the source has (paths, node types and
 * principals through the plan's maps; policies, pools and jobs by name; pause states aside) and the ACL.
 */
export function compareJobs(
  source: JobInventory[],
  target: JobInventory[],
  names: { source: SideNames; target: SideNames },
  remaps: Remaps,
): { subject: string; detail: string }[] {
  const out: { subject: string; detail: string }[] = [];
  for (const s of source) {
    const subject = `job '${s.name}'`;
    const found = target.filter((t) => t.name === s.name);
    if (found.length !== 1) {
      out.push({ subject, detail: `${subject} is ${found.length ? `in the target ${found.length} times` : "missing"}` });
      continue;
    }
    const t = found[0];
    const want = comparableJob(expectedSettings(s.settings, remaps), names.source);
    const have = comparableJob(t.settings, names.target);
    for (const k of Object.keys(want))
      if (canonical(want[k]) !== canonical(have[k])) out.push({ subject, detail: `${subject}: ${k} differs from the source's` });
    const wantAcl = s.acl.map((g) => ({ ...g, principal: remaps.principalMap?.[g.principal] ?? g.principal }));
    out.push(...compareAcl(s.acl, withoutCreator(t.acl, wantAcl, t.creator), remaps, subject));
  }
  return out;
}

/** The source's settings as the target should hold them: paths, node types and run_as through the plan's maps. */
function expectedSettings(settings: Json, remaps: Remaps): Json {
  const s = JSON.parse(JSON.stringify(settings)) as Json;
  for (const t of allTasks(s))
    for (const [o, field] of taskPaths(t, s.git_source !== undefined)) o[field] = mapPath(String(o[field]), remaps.pathMap);
  const git = s.git_source as Json | undefined;
  if (git && typeof git.git_url === "string") git.git_url = mapPath(git.git_url, remaps.pathMap);
  for (const { spec } of clusterSpecs(s))
    for (const f of ["node_type_id", "driver_node_type_id"])
      if (typeof spec[f] === "string") spec[f] = remaps.nodeTypeMap?.[spec[f] as string] ?? spec[f];
  const runAs = s.run_as as Record<string, string> | undefined;
  if (runAs)
    for (const f of ["user_name", "service_principal_name", "group_name"])
      if (runAs[f]) runAs[f] = remaps.principalMap?.[runAs[f]] ?? runAs[f];
  return s;
}

export interface CutOverChange {
  job: string;
  /** The triggers switched (schedule, continuous, trigger). */
  triggers: string[];
  /** What was done on each side. */
  source: "PAUSED" | "UNPAUSED";
  target: "PAUSED" | "UNPAUSED";
}

/**
 * The cut-over: each job that runs in the old environment (a trigger UNPAUSED there) is paused there and its copy
 * unpaused in the new one, the same triggers. `rollback`: the reverse, for each copy that runs in the new one.
 * A job without exactly one copy is reported, not guessed at. Every change is listed; `dryRun` lists and writes nothing.
 */
export async function cutOver(o: {
  from: Endpoint;
  to: Endpoint;
  jobs: string[];
  rollback?: boolean;
  dryRun?: boolean;
  retry?: RetryPolicy;
}): Promise<{ changes: CutOverChange[]; problems: string[] }> {
  const [src, dst] = [databricksApi(o.from, o.retry), databricksApi(o.to, o.retry)];
  const [running, standby] = o.rollback ? [dst, src] : [src, dst];
  const [runningJobs, standbyJobs] = await Promise.all([
    jobInventory(running.endpoint, o.jobs, o.retry),
    jobInventory(standby.endpoint, o.jobs, o.retry),
  ]);
  const changes: CutOverChange[] = [];
  const problems: string[] = [];
  for (const name of o.jobs) {
    const a = runningJobs.filter((j) => j.name === name);
    const b = standbyJobs.filter((j) => j.name === name);
    if (a.length !== 1 || b.length !== 1) {
      problems.push(
        `job '${name}': ${a.length} in ${running.endpoint.uri}, ${b.length} in ${standby.endpoint.uri}; expected one on each side`,
      );
      continue;
    }
    const [runs, waits] = [pauses(a[0].settings), pauses(b[0].settings)];
    const live = Object.keys(runs).filter((t) => runs[t] === "UNPAUSED");
    const missing = live.filter((t) => !(t in waits));
    if (missing.length) {
      problems.push(
        `job '${name}': its ${missing.join(", ")} runs in ${running.endpoint.uri}, and its copy in ${standby.endpoint.uri} has no such trigger: nothing switched; move the job again, then cut over`,
      );
      continue;
    }
    // Nothing running here (paused on purpose, or switched already): nothing to switch.
    if (!live.length) continue;
    const triggers = live;
    if (!o.dryRun) {
      const set = (api: DatabricksApi, j: JobInventory, state: string) =>
        api.call("POST", "/api/2.2/jobs/update", `job '${name}'`, {
          job_id: Number(j.id),
          new_settings: withPauses(j.settings, Object.fromEntries(triggers.map((t) => [t, state]))),
        });
      // Paused first: for a moment nothing runs, never both. A failure is this job's problem; the others go on.
      try {
        await set(running, a[0], "PAUSED");
      } catch (e) {
        problems.push(`job '${name}': not paused in ${running.endpoint.uri}, nothing switched: ${(e as Error).message}`);
        continue;
      }
      try {
        await set(standby, b[0], "UNPAUSED");
      } catch (e) {
        problems.push(
          `job '${name}': paused in ${running.endpoint.uri} but not unpaused in ${standby.endpoint.uri} (it runs nowhere now): ${(e as Error).message}`,
        );
        continue;
      }
    }
    changes.push({
      job: name,
      triggers,
      source: o.rollback ? "UNPAUSED" : "PAUSED",
      target: o.rollback ? "PAUSED" : "UNPAUSED",
    });
  }
  return { changes, problems };
}
