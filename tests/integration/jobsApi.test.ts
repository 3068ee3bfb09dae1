/**
 * The Databricks test workspace's Jobs API 2.2, cluster policies, instance pools, node types and their permissions
 * refuse what Databricks refuses, acted over HTTP by each person with their own token on the local platform's
 * workspace (WorkspaceServer: the Permissions API and SCIM of its control plane, jobsApi.ts and computeApi.ts on one
 * ACL map). The expected outcomes are written from Databricks' documentation and the SDK's own rules (jobsApi.ts
 * cites them), not computed by the code under test, and each refusal is checked to change nothing.
 */
import * as assert from "assert";
import { ADMIN, WorkspaceServer } from "../../devenv/localPlatform";
import { makeSelfSignedCert } from "../../devenv/selfSignedCert";
import { liveServers } from "../fixtures/liveServers";
import { callAs } from "../fixtures/member";

const ADMIN_TOKEN = `dapi-jobs-admin-${process.pid}`;
const PEOPLE = {
  owner: "olivia.owner@quantfirm.example",
  viewer: "victor.viewer@quantfirm.example",
  poolMaker: "paula.pools@quantfirm.example",
  /** Sees only the jobs they make (the list test counts them). */
  analyst: "ana.lyst@quantfirm.example",
} as const;
type Who = keyof typeof PEOPLE | "admin";
const token = (who: Who) => (who === "admin" ? ADMIN_TOKEN : `dapi-jobs-${who}-${process.pid}`);

interface Answer {
  status: number;
  body: Record<string, any>;
}

describe("the test workspace's jobs, cluster policies and instance pools refuse what Databricks refuses", function () {
  this.timeout(120000);
  let ws: WorkspaceServer;
  let pool: string;
  let policy: string;
  let runner: string;

  /** One REST call to the workspace as `who`, with their own token. */
  const call = (who: Who, method: string, path: string, body?: unknown): Promise<Answer> => callAs(ws, token(who), method, path, body);
  const ok = async (p: Promise<Answer>): Promise<Record<string, any>> => {
    const a = await p;
    assert.strictEqual(a.status, 200, JSON.stringify(a.body));
    return a.body;
  };
  const refused = async (p: Promise<Answer>, status: number, code: string, message?: RegExp) => {
    const a = await p;
    assert.deepStrictEqual([a.status, a.body.error_code], [status, code], JSON.stringify(a.body));
    if (message) assert.match(a.body.message, message);
  };
  const getJob = (who: Who, id: number) => ok(call(who, "GET", `/api/2.2/jobs/get?job_id=${id}`));
  const direct = async (type: string, id: string | number) =>
    ((await ok(call("admin", "GET", `/api/2.0/permissions/${type}/${id}`))).access_control_list as Record<string, any>[])
      .flatMap((e) =>
        (e.all_permissions as { permission_level: string; inherited: boolean }[])
          .filter((p) => !p.inherited)
          .map((p) => `${e.user_name ?? e.group_name ?? e.service_principal_name} ${p.permission_level}`),
      )
      .sort();

  /** A job on the pool and the policy: two notebook tasks, the second after the first. */
  const jobSettings = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    job_clusters: [
      {
        job_cluster_key: "main",
        new_cluster: { spark_version: "15.4.x-scala2.12", instance_pool_id: pool, policy_id: policy, num_workers: 2 },
      },
    ],
    tasks: [
      { task_key: "train", job_cluster_key: "main", notebook_task: { notebook_path: "/Shared/quant/train" } },
      {
        task_key: "score",
        job_cluster_key: "main",
        notebook_task: { notebook_path: "/Shared/quant/score" },
        depends_on: [{ task_key: "train" }],
      },
    ],
    schedule: { quartz_cron_expression: "0 0 6 * * ?", timezone_id: "Europe/London", pause_status: "PAUSED" },
    ...extra,
  });
  const createJob = async (who: Who, name: string, extra: Record<string, unknown> = {}) =>
    (await ok(call(who, "POST", "/api/2.2/jobs/create", jobSettings(name, extra)))).job_id as number;

  before(async () => {
    const { a } = await liveServers();
    ws = new WorkspaceServer("quant_lr", ADMIN_TOKEN, a, makeSelfSignedCert());
    await ws.start();
    for (const [who, email] of Object.entries(PEOPLE)) {
      const u = ws.state.addUser(email);
      ws.mlflowApi.addUser(token(who as Who), email);
      ws.state.tokens.set(token(who as Who), u.id);
    }
    // The pool makers' group holds the entitlement; the others hold none.
    ws.state.addGroup("quant-pool-makers", {
      entitlements: ["allow-instance-pool-create"],
      members: [ws.state.userByName(PEOPLE.poolMaker)!.id],
    });
    runner = ws.state.addServicePrincipal("quant-nightly-runner").applicationId;
    pool = (
      await ok(call("admin", "POST", "/api/2.0/instance-pools/create", { instance_pool_name: "quant-pool", node_type_id: "i3.xlarge" }))
    ).instance_pool_id;
    policy = (await ok(call("admin", "POST", "/api/2.0/policies/clusters/create", { name: "quant-jobs", definition: "{}" }))).policy_id;
  });
  after(async () => {
    await ws?.stop();
  });

  it("a member creates a job on a pool and a policy and owns it; it reads back with Databricks' defaults, runs as its owner, and the notebooks need not exist yet", async () => {
    const id = await createJob("owner", "quant-train");
    const job = await getJob("owner", id);
    assert.deepStrictEqual(
      [job.creator_user_name, job.run_as_user_name, job.settings.max_concurrent_runs, job.settings.format, job.settings.run_as],
      [PEOPLE.owner, PEOPLE.owner, 1, "MULTI_TASK", undefined],
    );
    assert.deepStrictEqual(
      job.settings.tasks.map((t: any) => [t.task_key, t.notebook_task.source, t.run_if, t.timeout_seconds]),
      [
        ["train", "WORKSPACE", "ALL_SUCCESS", 0],
        ["score", "WORKSPACE", "ALL_SUCCESS", 0],
      ],
    );
    assert.strictEqual(ws.mlflowApi.workspace.nodes.has("/Shared/quant/train"), false, "the notebook was made by the test");
    assert.deepStrictEqual(await direct("jobs", id), [`${PEOPLE.owner} IS_OWNER`]);
    const acl = (await ok(call("admin", "GET", `/api/2.0/permissions/jobs/${id}`))).access_control_list as any[];
    assert.deepStrictEqual(acl.find((e) => e.group_name === "admins")?.all_permissions, [
      { permission_level: "CAN_MANAGE", inherited: true, inherited_from_object: ["/jobs/"] },
    ]);
  });

  it("a member who can only view a job cannot pause, reset or delete it, and the job is unchanged", async () => {
    const id = await createJob("owner", "quant-viewed", {
      schedule: { quartz_cron_expression: "0 0 6 * * ?", timezone_id: "UTC", pause_status: "UNPAUSED" },
    });
    await ok(
      call("owner", "PATCH", `/api/2.0/permissions/jobs/${id}`, {
        access_control_list: [{ user_name: PEOPLE.viewer, permission_level: "CAN_VIEW" }],
      }),
    );
    const before = await getJob("viewer", id);
    const pause = { quartz_cron_expression: "0 0 6 * * ?", timezone_id: "UTC", pause_status: "PAUSED" };
    await refused(
      call("viewer", "POST", "/api/2.2/jobs/update", { job_id: id, new_settings: { schedule: pause } }),
      403,
      "PERMISSION_DENIED",
    );
    await refused(
      call("viewer", "POST", "/api/2.2/jobs/reset", { job_id: id, new_settings: { name: "taken over" } }),
      403,
      "PERMISSION_DENIED",
    );
    await refused(call("viewer", "POST", "/api/2.2/jobs/delete", { job_id: id }), 403, "PERMISSION_DENIED");
    assert.deepStrictEqual(await getJob("owner", id), before);
    await ok(call("owner", "POST", "/api/2.2/jobs/update", { job_id: id, new_settings: { schedule: pause } }));
    assert.strictEqual((await getJob("viewer", id)).settings.schedule.pause_status, "PAUSED");
  });

  it("a member without any permission on a job neither reads it nor finds it in the list; a job that does not exist is 400 'Job <id> does not exist.'", async () => {
    const id = await createJob("owner", "quant-private");
    await refused(call("viewer", "GET", `/api/2.2/jobs/get?job_id=${id}`), 403, "PERMISSION_DENIED");
    const listed = await ok(call("viewer", "GET", "/api/2.2/jobs/list?name=quant-private"));
    assert.deepStrictEqual([listed.jobs, listed.has_more], [undefined, false]);
    assert.deepStrictEqual(
      (await ok(call("owner", "GET", "/api/2.2/jobs/list?name=QUANT-PRIVATE"))).jobs.map((j: any) => j.job_id),
      [id],
    );
    await refused(call("admin", "GET", "/api/2.2/jobs/get?job_id=42"), 400, "INVALID_PARAMETER_VALUE", /^Job 42 does not exist\.$/);
  });

  it("create refuses what Databricks refuses in a job's tasks and clusters, and makes nothing", async () => {
    const [train, score] = jobSettings("x").tasks;
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["a task without task_key", { tasks: [{ ...train, task_key: undefined }] }, /task_key/],
      [
        "two tasks with one key",
        { tasks: [train, { ...score, task_key: "train", depends_on: undefined }] },
        /Task key train is not unique/,
      ],
      ["a dependency on no task of the job", { tasks: [train, { ...score, depends_on: [{ task_key: "ingest" }] }] }, /depends on ingest/],
      [
        "a dependency cycle",
        { tasks: [{ ...train, depends_on: [{ task_key: "score" }] }, score] },
        /cycle: (train -> score -> train|score -> train -> score)/,
      ],
      ["an undefined job cluster", { tasks: [{ ...train, job_cluster_key: "big" }] }, /job cluster big/],
      ["a task with two compute sources", { tasks: [{ ...train, existing_cluster_id: "0101-000000-abc" }] }, /only one of/],
      [
        "a notebook task with no compute on a classic workspace",
        { tasks: [{ ...train, job_cluster_key: undefined }] },
        /must be specified/,
      ],
      [
        "a cluster that does not exist",
        { tasks: [{ ...train, job_cluster_key: undefined, existing_cluster_id: "0101-000000-abc" }] },
        /Cluster 0101-000000-abc does not exist/,
      ],
      [
        "a task with two task types",
        { tasks: [{ ...train, spark_python_task: { python_file: "/Shared/x.py" } }] },
        /exactly one task type/,
      ],
      ["a relative workspace notebook", { tasks: [{ ...train, notebook_task: { notebook_path: "quant/train" } }] }, /must be absolute/],
      [
        "a Git notebook without git_source",
        { tasks: [{ ...train, notebook_task: { notebook_path: "train", source: "GIT" } }] },
        /no git_source/,
      ],
      ["a run_job_task of no job", { tasks: [{ task_key: "chain", run_job_task: { job_id: 42 } }] }, /Job 42 does not exist/],
      ["schedule and continuous together", { continuous: { pause_status: "PAUSED" } }, /at most one of schedule, continuous and trigger/],
      ["an unknown time zone", { schedule: { quartz_cron_expression: "0 0 6 * * ?", timezone_id: "Mars/Olympus" } }, /timezone_id/],
      [
        "a bad pause status",
        { schedule: { quartz_cron_expression: "0 0 6 * * ?", timezone_id: "UTC", pause_status: "STOPPED" } },
        /pause_status/,
      ],
      [
        "two parameters with one name",
        {
          parameters: [
            { name: "as_of", default: "a" },
            { name: "as_of", default: "b" },
          ],
        },
        /as_of is given twice/,
      ],
    ];
    const count = ws.mlflowApi.jobs.jobs.size;
    for (const [what, extra, message] of cases) {
      const a = await call("owner", "POST", "/api/2.2/jobs/create", { ...jobSettings(`refused ${what}`), ...extra });
      assert.deepStrictEqual([what, a.status, a.body.error_code], [what, 400, "INVALID_PARAMETER_VALUE"], JSON.stringify(a.body));
      assert.match(a.body.message, message, what);
    }
    assert.strictEqual(ws.mlflowApi.jobs.jobs.size, count, "a refused create made a job");
  });

  it("a job cluster must use a node type the workspace offers, unless a pool gives it, and never both: offering the type makes the same job valid", async () => {
    const cluster = (c: Record<string, unknown>) => ({
      job_clusters: [{ job_cluster_key: "main", new_cluster: { spark_version: "15.4.x-scala2.12", num_workers: 1, ...c } }],
    });
    await refused(
      call("owner", "POST", "/api/2.2/jobs/create", jobSettings("on r6id", cluster({ node_type_id: "r6id.xlarge" }))),
      400,
      "INVALID_PARAMETER_VALUE",
      /Node type r6id\.xlarge is not supported\. Supported node types: .*i3\.xlarge/,
    );
    await refused(
      call("owner", "POST", "/api/2.2/jobs/create", jobSettings("both", cluster({ node_type_id: "i3.xlarge", instance_pool_id: pool }))),
      400,
      "INVALID_PARAMETER_VALUE",
      /^The field 'node_type_id' cannot be supplied when an instance pool ID is provided\.$/,
    );
    await refused(
      call("owner", "POST", "/api/2.2/jobs/create", jobSettings("no pool", cluster({ instance_pool_id: "0101-999999-none" }))),
      400,
      "INVALID_PARAMETER_VALUE",
      /Instance pool 0101-999999-none/,
    );
    await refused(
      call("owner", "POST", "/api/2.2/jobs/create", jobSettings("no policy", cluster({ node_type_id: "i3.xlarge", policy_id: "ABC" }))),
      400,
      "INVALID_PARAMETER_VALUE",
      /Cluster policy ABC/,
    );
    const offered = ws.mlflowApi.compute.nodeTypes;
    ws.mlflowApi.compute.nodeTypes = [...offered, "r6id.xlarge"];
    try {
      const listed = await ok(call("owner", "GET", "/api/2.1/clusters/list-node-types"));
      assert.ok(
        listed.node_types.some((n: any) => n.node_type_id === "r6id.xlarge" && n.memory_mb > 0),
        "the new node type is not listed",
      );
      await ok(call("owner", "POST", "/api/2.2/jobs/create", jobSettings("on r6id", cluster({ node_type_id: "r6id.xlarge" }))));
    } finally {
      ws.mlflowApi.compute.nodeTypes = offered;
    }
  });

  it("a task without compute is refused on a classic workspace and accepted where tasks run on serverless compute", async () => {
    const serverless = { job_clusters: undefined, tasks: [{ task_key: "train", notebook_task: { notebook_path: "/Shared/quant/train" } }] };
    await refused(call("owner", "POST", "/api/2.2/jobs/create", jobSettings("serverless", serverless)), 400, "INVALID_PARAMETER_VALUE");
    ws.mlflowApi.jobs.serverless = true;
    try {
      await ok(call("owner", "POST", "/api/2.2/jobs/create", jobSettings("serverless", serverless)));
    } finally {
      ws.mlflowApi.jobs.serverless = false;
    }
  });

  it("run_as: a member may name only themselves; an admin may name a service principal that exists, and run_as_user_name follows it", async () => {
    await ok(call("owner", "POST", "/api/2.2/jobs/create", jobSettings("as myself", { run_as: { user_name: PEOPLE.owner } })));
    await refused(
      call("owner", "POST", "/api/2.2/jobs/create", jobSettings("as viewer", { run_as: { user_name: PEOPLE.viewer } })),
      403,
      "PERMISSION_DENIED",
    );
    await refused(
      call("owner", "POST", "/api/2.2/jobs/create", jobSettings("as runner", { run_as: { service_principal_name: runner } })),
      403,
      "PERMISSION_DENIED",
    );
    await refused(
      call(
        "admin",
        "POST",
        "/api/2.2/jobs/create",
        jobSettings("as nobody", { run_as: { service_principal_name: "00000000-0000-0000-0000-000000000000" } }),
      ),
      400,
      "INVALID_PARAMETER_VALUE",
    );
    const id = await createJob("admin", "as runner", { run_as: { service_principal_name: runner } });
    const job = await getJob("admin", id);
    assert.deepStrictEqual([job.run_as_user_name, job.settings.run_as], [runner, { service_principal_name: runner }]);
    const sps = await ok(
      call("owner", "GET", `/api/2.0/preview/scim/v2/ServicePrincipals?filter=${encodeURIComponent(`applicationId eq "${runner}"`)}`),
    );
    assert.deepStrictEqual(
      sps.Resources.map((s: any) => [s.applicationId, s.displayName]),
      [[runner, "quant-nightly-runner"]],
    );
  });

  it("a job has exactly one owner: a permissions PUT without one, with two, or with a group is refused, and the ACL is unchanged", async () => {
    const id = await createJob("owner", "quant-owned");
    const before = await direct("jobs", id);
    const put = (acl: Record<string, string>[]) => call("admin", "PUT", `/api/2.0/permissions/jobs/${id}`, { access_control_list: acl });
    await refused(
      put([{ user_name: PEOPLE.viewer, permission_level: "CAN_VIEW" }]),
      400,
      "INVALID_PARAMETER_VALUE",
      /^The job must have exactly one owner\.$/,
    );
    await refused(
      put([
        { user_name: PEOPLE.owner, permission_level: "IS_OWNER" },
        { user_name: PEOPLE.viewer, permission_level: "IS_OWNER" },
      ]),
      400,
      "INVALID_PARAMETER_VALUE",
      /exactly one owner/,
    );
    await refused(
      put([{ group_name: "quant-pool-makers", permission_level: "IS_OWNER" }]),
      400,
      "INVALID_PARAMETER_VALUE",
      /Group quant-pool-makers cannot own/,
    );
    await refused(put([{ user_name: PEOPLE.owner, permission_level: "CAN_RUN" }]), 400, "INVALID_PARAMETER_VALUE");
    assert.deepStrictEqual(await direct("jobs", id), before);
  });

  it("only an admin changes a job's owner; the previous owner keeps CAN_MANAGE, and the job runs as the new owner", async () => {
    const id = await createJob("owner", "quant-handover");
    const handover = [
      { user_name: PEOPLE.viewer, permission_level: "IS_OWNER" },
      { group_name: "quant-pool-makers", permission_level: "CAN_MANAGE_RUN" },
    ];
    await refused(call("owner", "PUT", `/api/2.0/permissions/jobs/${id}`, { access_control_list: handover }), 403, "PERMISSION_DENIED");
    assert.deepStrictEqual(await direct("jobs", id), [`${PEOPLE.owner} IS_OWNER`]);
    // The owner may change everything else, as long as they stay the owner.
    await ok(
      call("owner", "PUT", `/api/2.0/permissions/jobs/${id}`, {
        access_control_list: [{ user_name: PEOPLE.owner, permission_level: "IS_OWNER" }, handover[1]],
      }),
    );
    await ok(call("admin", "PUT", `/api/2.0/permissions/jobs/${id}`, { access_control_list: handover }));
    assert.deepStrictEqual(await direct("jobs", id), [
      `${PEOPLE.owner} CAN_MANAGE`,
      "quant-pool-makers CAN_MANAGE_RUN",
      `${PEOPLE.viewer} IS_OWNER`,
    ]);
    assert.strictEqual((await getJob("viewer", id)).run_as_user_name, PEOPLE.viewer);
    // A PATCH naming an owner hands the job over again: still one owner.
    await ok(
      call("admin", "PATCH", `/api/2.0/permissions/jobs/${id}`, {
        access_control_list: [{ user_name: PEOPLE.owner, permission_level: "IS_OWNER" }],
      }),
    );
    assert.deepStrictEqual(await direct("jobs", id), [
      `${PEOPLE.owner} IS_OWNER`,
      "quant-pool-makers CAN_MANAGE_RUN",
      `${PEOPLE.viewer} CAN_MANAGE`,
    ]);
  });

  it("update replaces top-level fields, merges tasks by key and removes those named; reset replaces everything but a run_as once set", async () => {
    const id = await createJob("admin", "quant-evolving", { run_as: { service_principal_name: runner }, tags: { team: "quant" } });
    const eod = {
      task_key: "report",
      job_cluster_key: "main",
      notebook_task: { notebook_path: "/Shared/quant/report" },
      depends_on: [{ task_key: "score" }],
    };
    const retrain = { task_key: "train", job_cluster_key: "main", notebook_task: { notebook_path: "/Shared/quant/retrain" } };
    await ok(
      call("admin", "POST", "/api/2.2/jobs/update", {
        job_id: id,
        new_settings: { tasks: [retrain, eod], max_concurrent_runs: 3 },
        fields_to_remove: ["tags"],
      }),
    );
    let s = (await getJob("admin", id)).settings;
    assert.deepStrictEqual(
      [s.tasks.map((t: any) => [t.task_key, t.notebook_task.notebook_path]), s.max_concurrent_runs, s.tags, s.name],
      [
        [
          ["train", "/Shared/quant/retrain"],
          ["score", "/Shared/quant/score"],
          ["report", "/Shared/quant/report"],
        ],
        3,
        undefined,
        "quant-evolving",
      ],
    );
    // Removing the task that `report` depends on leaves a dangling dependency: refused, nothing changed.
    await refused(
      call("admin", "POST", "/api/2.2/jobs/update", { job_id: id, fields_to_remove: ["tasks/score"] }),
      400,
      "INVALID_PARAMETER_VALUE",
      /depends on score/,
    );
    await ok(call("admin", "POST", "/api/2.2/jobs/update", { job_id: id, fields_to_remove: ["tasks/report"] }));
    s = (await getJob("admin", id)).settings;
    assert.deepStrictEqual(
      s.tasks.map((t: any) => t.task_key),
      ["train", "score"],
    );
    await ok(
      call("admin", "POST", "/api/2.2/jobs/reset", {
        job_id: id,
        new_settings: { name: "quant-reset", tasks: [retrain], job_clusters: jobSettings("x").job_clusters },
      }),
    );
    const job = await getJob("admin", id);
    assert.deepStrictEqual(
      [
        job.settings.name,
        job.settings.tasks.map((t: any) => t.task_key),
        job.settings.schedule,
        job.settings.max_concurrent_runs,
        job.run_as_user_name,
      ],
      ["quant-reset", ["train"], undefined, 1, runner],
    );
  });

  it("jobs/list answers 20 jobs a page, newest first, without tasks unless expand_tasks; jobs/get answers a job's tasks 100 a page", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 22; i++) ids.push(await createJob("analyst", `quant-many-${i}`));
    const first = await ok(call("analyst", "GET", "/api/2.2/jobs/list"));
    assert.deepStrictEqual([first.jobs.length, first.has_more, first.jobs[0].job_id], [20, true, ids[21]]);
    assert.ok(first.jobs.every((j: any) => j.settings.tasks === undefined && j.settings.job_clusters === undefined && j.settings.schedule));
    const second = await ok(call("analyst", "GET", `/api/2.2/jobs/list?page_token=${encodeURIComponent(first.next_page_token)}`));
    assert.deepStrictEqual(
      [...first.jobs, ...second.jobs].map((j: any) => j.job_id),
      [...ids].reverse(),
    );
    assert.strictEqual(second.has_more, false);
    await refused(call("analyst", "GET", "/api/2.2/jobs/list?limit=101"), 400, "INVALID_PARAMETER_VALUE");
    const expanded = await ok(call("analyst", "GET", "/api/2.2/jobs/list?limit=1&expand_tasks=true"));
    assert.deepStrictEqual(
      expanded.jobs[0].settings.tasks.map((t: any) => t.task_key),
      ["train", "score"],
    );
    const tasks = Array.from({ length: 150 }, (_, i) => ({
      task_key: `step_${i}`,
      job_cluster_key: "main",
      notebook_task: { notebook_path: "/Shared/quant/step" },
    }));
    const big = await createJob("analyst", "quant-wide", { tasks });
    const page1 = await getJob("analyst", big);
    assert.deepStrictEqual([page1.settings.tasks.length, page1.has_more, page1.settings.job_clusters.length], [100, true, 1]);
    const page2 = await ok(call("analyst", "GET", `/api/2.2/jobs/get?job_id=${big}&page_token=${page1.next_page_token}`));
    assert.deepStrictEqual([page2.settings.tasks.length, page2.settings.job_clusters, page2.next_page_token], [50, [], undefined]);
  });

  it("only admins create, edit and delete cluster policies; names are unique, the default policies' too, and those cannot be deleted", async () => {
    await refused(call("owner", "POST", "/api/2.0/policies/clusters/create", { name: "mine", definition: "{}" }), 403, "PERMISSION_DENIED");
    await refused(
      call("admin", "POST", "/api/2.0/policies/clusters/create", { name: "quant-jobs", definition: "{}" }),
      400,
      "INVALID_PARAMETER_VALUE",
      /^Cluster Policy with name `quant-jobs` already exists$/,
    );
    await refused(
      call("admin", "POST", "/api/2.0/policies/clusters/create", { name: "Job Compute", definition: "{}" }),
      400,
      "INVALID_PARAMETER_VALUE",
      /already exists/,
    );
    await refused(
      call("admin", "POST", "/api/2.0/policies/clusters/create", { name: "broken", definition: "{spark_version" }),
      400,
      "INVALID_PARAMETER_VALUE",
      /not valid JSON/,
    );
    await refused(
      call("owner", "POST", "/api/2.0/policies/clusters/edit", { policy_id: policy, name: "quant-jobs", definition: '{"x":1}' }),
      403,
      "PERMISSION_DENIED",
    );
    const admins = await ok(call("admin", "GET", "/api/2.0/policies/clusters/list"));
    const names = admins.policies.map((p: any) => p.name).sort();
    assert.deepStrictEqual(names, ["Job Compute", "Personal Compute", "Power User Compute", "Shared Compute", "quant-jobs"]);
    const personal = admins.policies.find((p: any) => p.name === "Personal Compute");
    await refused(
      call("admin", "POST", "/api/2.0/policies/clusters/delete", { policy_id: personal.policy_id }),
      400,
      "INVALID_PARAMETER_VALUE",
      /default policy/,
    );
    // A member sees the policies they may use: Personal Compute (users), then quant-jobs once granted CAN_USE.
    const seen = async () => ((await ok(call("owner", "GET", "/api/2.0/policies/clusters/list"))).policies ?? []).map((p: any) => p.name);
    assert.deepStrictEqual(await seen(), ["Personal Compute"]);
    await refused(call("owner", "GET", `/api/2.0/policies/clusters/get?policy_id=${policy}`), 403, "PERMISSION_DENIED");
    await refused(
      call("owner", "PUT", `/api/2.0/permissions/cluster-policies/${policy}`, {
        access_control_list: [{ user_name: PEOPLE.owner, permission_level: "CAN_USE" }],
      }),
      403,
      "PERMISSION_DENIED",
    );
    await ok(
      call("admin", "PUT", `/api/2.0/permissions/cluster-policies/${policy}`, {
        access_control_list: [{ user_name: PEOPLE.owner, permission_level: "CAN_USE" }],
      }),
    );
    assert.deepStrictEqual(await seen(), ["Personal Compute", "quant-jobs"]);
  });

  it("instance pools: only admins and members entitled to create them do, on a node type offered; their creator manages them; the node type never changes", async () => {
    const spec = { instance_pool_name: "paula-pool", node_type_id: "m5d.large", min_idle_instances: 1, max_capacity: 4 };
    await refused(call("owner", "POST", "/api/2.0/instance-pools/create", spec), 403, "PERMISSION_DENIED");
    await refused(
      call("poolMaker", "POST", "/api/2.0/instance-pools/create", { ...spec, node_type_id: "x1e.32xlarge" }),
      400,
      "INVALID_PARAMETER_VALUE",
      /Node type x1e\.32xlarge is not supported/,
    );
    await refused(
      call("poolMaker", "POST", "/api/2.0/instance-pools/create", { ...spec, instance_pool_name: "quant-pool" }),
      400,
      "INVALID_PARAMETER_VALUE",
      /unique/,
    );
    await refused(
      call("poolMaker", "POST", "/api/2.0/instance-pools/create", { ...spec, max_capacity: 0 }),
      400,
      "INVALID_PARAMETER_VALUE",
      /max_capacity/,
    );
    const id = (await ok(call("poolMaker", "POST", "/api/2.0/instance-pools/create", spec))).instance_pool_id;
    assert.deepStrictEqual(await direct("instance-pools", id), [`${PEOPLE.poolMaker} CAN_MANAGE`]);
    const got = await ok(call("owner", "GET", `/api/2.0/instance-pools/get?instance_pool_id=${id}`));
    assert.deepStrictEqual(
      [got.instance_pool_name, got.node_type_id, got.min_idle_instances, got.max_capacity, got.state, got.default_tags.Vendor],
      ["paula-pool", "m5d.large", 1, 4, "ACTIVE", "Databricks"],
    );
    const edit = { instance_pool_id: id, instance_pool_name: "paula-pool", node_type_id: "m5d.large", max_capacity: 8 };
    await refused(call("owner", "POST", "/api/2.0/instance-pools/edit", edit), 403, "PERMISSION_DENIED");
    await refused(
      call("poolMaker", "POST", "/api/2.0/instance-pools/edit", { ...edit, node_type_id: "m5d.xlarge" }),
      400,
      "INVALID_PARAMETER_VALUE",
      /cannot be changed/,
    );
    await ok(call("poolMaker", "POST", "/api/2.0/instance-pools/edit", edit));
    assert.strictEqual((await ok(call("owner", "GET", `/api/2.0/instance-pools/get?instance_pool_id=${id}`))).max_capacity, 8);
    const levels = await ok(call("owner", "GET", `/api/2.0/permissions/instance-pools/${id}/permissionLevels`));
    assert.deepStrictEqual(
      levels.permission_levels.map((l: any) => l.permission_level),
      ["CAN_ATTACH_TO", "CAN_MANAGE"],
    );
    await ok(call("poolMaker", "POST", "/api/2.0/instance-pools/delete", { instance_pool_id: id }));
    await refused(call("admin", "GET", `/api/2.0/permissions/instance-pools/${id}`), 404, "RESOURCE_DOES_NOT_EXIST");
    assert.strictEqual(ws.state.acls.has(`/instance-pools/${id}`), false, "the deleted pool's ACL stayed");
  });

  it("job, policy and pool permissions live in the control plane's one ACL map that the Jobs API enforces", async () => {
    const id = await createJob("owner", "quant-shared-acl");
    assert.deepStrictEqual(ws.state.acls.get(`/jobs/${id}`), [{ kind: "user", name: PEOPLE.owner, level: "IS_OWNER" }]);
    // An out-of-band grant in the state is what the Jobs API reads.
    await refused(call("viewer", "GET", `/api/2.2/jobs/get?job_id=${id}`), 403, "PERMISSION_DENIED");
    ws.state.acls.get(`/jobs/${id}`)!.push({ kind: "user", name: PEOPLE.viewer, level: "CAN_VIEW" });
    assert.strictEqual((await getJob("viewer", id)).job_id, id);
    await ok(call("owner", "POST", "/api/2.2/jobs/delete", { job_id: id }));
    assert.deepStrictEqual([ws.state.acls.has(`/jobs/${id}`), ws.mlflowApi.jobs.jobs.has(id)], [false, false]);
    assert.strictEqual(ADMIN, (await getJob("admin", await createJob("admin", "quant-admin-made"))).creator_user_name);
  });
});
