/**
 * Issue 35 items 1 and 2: `move` carries the team's scheduled work: cluster policies and instance pools with their
 * permissions, then jobs with their tasks, job clusters, schedule and triggers, run_as, owner and permissions.
 * Expected outcomes follow the rules, not the code's plan: every job is created PAUSED so nothing runs in
 * both workspaces; a job whose run_as the target does not know, or whose node type it does not offer, is held with
 * the reason and nothing of it is created, until the plan decides (principalMap, nodeTypeMap); references to
 * policies, pools and other jobs point at the target's; `move --cut-over` pauses the old side and unpauses the new,
 * saying what it changed, and `--roll-back` reverses it. Two local-platform workspaces (WorkspaceServer: SCIM,
 * Permissions API and the Jobs, Cluster Policies and Instance Pools APIs on one ACL state) over real MLflow servers;
 * the move runs as the CLI does, as an admin of each.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { WorkspaceServer } from "../../devenv/localPlatform";
import { PROJECT_DIR } from "../../devenv/localMlflow";
import { makeSelfSignedCert, writeCertFile } from "../../devenv/selfSignedCert";
import { MoveReport } from "../../migration/move";
import { liveServers } from "../fixtures/liveServers";
import { runAsync } from "../fixtures/process";
import { callAs } from "../fixtures/member";

const OLD = `dapi-jobs-move-old-${process.pid}`;
const NEW = `dapi-jobs-move-new-${process.pid}`;
const ANA = "ana.ruiz@quantfirm.example";
const OLD_APP = "1111aaaa-0000-4000-8000-000000000001";
const NEW_APP = "2222bbbb-0000-4000-8000-000000000002";

type Json = Record<string, any>;

const call = (ws: WorkspaceServer, token: string, method: string, route: string, body?: unknown) => callAs(ws, token, method, route, body);

describe("move: jobs, cluster policies and instance pools, created paused, held where the operator must decide, switched by cut-over", function () {
  this.timeout(300000);
  let src: WorkspaceServer;
  let dst: WorkspaceServer;
  let dir: string;
  let certFile: string;
  const ids: Record<string, string> = {};

  const ok = async (ws: WorkspaceServer, token: string, method: string, route: string, body?: unknown): Promise<Json> => {
    const a = await call(ws, token, method, route, body);
    assert.strictEqual(a.status, 200, `${method} ${route}: ${JSON.stringify(a.body)}`);
    return a.body;
  };
  const jobsOf = async (ws: WorkspaceServer, token: string) =>
    ((await ok(ws, token, "GET", "/api/2.2/jobs/list?expand_tasks=true&limit=100")).jobs ?? []) as Json[];
  const jobNamed = async (ws: WorkspaceServer, token: string, name: string) => {
    const found = (await jobsOf(ws, token)).filter((j) => j.settings.name === name);
    assert.strictEqual(found.length, 1, `${name}: ${found.length} jobs`);
    return (await ok(ws, token, "GET", `/api/2.2/jobs/get?job_id=${found[0].job_id}`)) as Json;
  };
  const acl = async (ws: WorkspaceServer, token: string, type: string, id: string | number) =>
    ((await ok(ws, token, "GET", `/api/2.0/permissions/${type}/${id}`)).access_control_list as Json[])
      .flatMap((e) =>
        (e.all_permissions as Json[])
          .filter((p) => !p.inherited)
          .map((p) => `${e.user_name ?? e.group_name ?? e.service_principal_name} ${p.permission_level}`),
      )
      .sort();

  const plan = (decisions = "") =>
    [
      "paths: []",
      "experiments: []",
      "models: []",
      "clusterPolicies: [quant-jobs]",
      "instancePools: [quant-pool]",
      "jobs: [nightly-train, score]",
      "pathMap:",
      '  "/Repos/old-team": "/Repos/quant-team"',
      decisions,
    ].join("\n");
  const move = async (planText: string, ...more: string[]) => {
    fs.writeFileSync(path.join(dir, "plan.yaml"), `${planText}\n`);
    return runAsync(
      process.execPath,
      [
        "bin/quant-platform.js",
        "move",
        "--from",
        `databricks+${src.url}`,
        "--to",
        `databricks+${dst.url}`,
        "--plan",
        path.join(dir, "plan.yaml"),
        ...more,
      ],
      { cwd: PROJECT_DIR, env: { ...process.env, MIGRATE_FROM_TOKEN: OLD, MIGRATE_TO_TOKEN: NEW, NODE_EXTRA_CA_CERTS: certFile } },
    );
  };
  const DECIDED = ["principalMap:", `  "${OLD_APP}": "${NEW_APP}"`, "nodeTypeMap:", '  "i3.xlarge": "m5d.xlarge"'].join("\n");

  before(async () => {
    const { a, b } = await liveServers();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "jobs-move-"));
    const cert = makeSelfSignedCert();
    certFile = writeCertFile(dir, cert);
    src = new WorkspaceServer("quant", OLD, a, cert);
    dst = new WorkspaceServer("quant_stg", NEW, b, cert);
    await Promise.all([src.start(), dst.start()]);
    // Both workspaces know Ana and the developers' group; each has its own service principal (another application id).
    for (const [ws, app] of [
      [src, OLD_APP],
      [dst, undefined],
    ] as const) {
      ws.state.addUser(ANA);
      ws.state.addGroup("quant-developer");
      if (app) ws.state.addServicePrincipal("quant-jobs-runner", { applicationId: app });
    }
    // The new workspace offers no i3 instances.
    dst.mlflowApi.compute.nodeTypes = dst.mlflowApi.compute.nodeTypes.filter((n) => !n.startsWith("i3."));
    // The old workspace: a policy and a pool the developers use, a nightly training job on a job cluster (policy,
    // i3 nodes, run as the service principal), and a scoring job on the pool, triggered by files, that runs the
    // training job first. Ana owns both; the developers may run them.
    ids.policy = (
      await ok(src, OLD, "POST", "/api/2.0/policies/clusters/create", {
        name: "quant-jobs",
        definition: JSON.stringify({ "spark_conf.spark.databricks.cluster.profile": { type: "forbidden", hidden: true } }),
        max_clusters_per_user: 5,
      })
    ).policy_id;
    await ok(src, OLD, "PUT", `/api/2.0/permissions/cluster-policies/${ids.policy}`, {
      access_control_list: [{ group_name: "quant-developer", permission_level: "CAN_USE" }],
    });
    ids.pool = (
      await ok(src, OLD, "POST", "/api/2.0/instance-pools/create", {
        instance_pool_name: "quant-pool",
        node_type_id: "m5d.large",
        min_idle_instances: 0,
        max_capacity: 8,
        idle_instance_autotermination_minutes: 20,
      })
    ).instance_pool_id;
    await ok(src, OLD, "PUT", `/api/2.0/permissions/instance-pools/${ids.pool}`, {
      access_control_list: [{ group_name: "quant-developer", permission_level: "CAN_ATTACH_TO" }],
    });
    const train = (
      await ok(src, OLD, "POST", "/api/2.2/jobs/create", {
        name: "nightly-train",
        schedule: { quartz_cron_expression: "0 0 2 * * ?", timezone_id: "Europe/London", pause_status: "UNPAUSED" },
        parameters: [{ name: "as_of", default: "{{job.start_time.iso_date}}" }],
        email_notifications: { on_failure: [ANA] },
        run_as: { service_principal_name: OLD_APP },
        job_clusters: [
          {
            job_cluster_key: "train",
            new_cluster: { spark_version: "15.4.x-scala2.12", node_type_id: "i3.xlarge", num_workers: 2, policy_id: ids.policy },
          },
        ],
        tasks: [
          {
            task_key: "train",
            job_cluster_key: "train",
            notebook_task: { notebook_path: "/Repos/old-team/quant/train", base_parameters: { metric: "precision" } },
            libraries: [{ pypi: { package: "transformers==4.44.0" } }],
          },
        ],
      })
    ).job_id;
    ids.train = String(train);
    const score = (
      await ok(src, OLD, "POST", "/api/2.2/jobs/create", {
        name: "score",
        trigger: { pause_status: "UNPAUSED", file_arrival: { url: "s3://quant-feeds/incoming/" } },
        tasks: [
          { task_key: "retrain", run_job_task: { job_id: train } },
          {
            task_key: "score",
            depends_on: [{ task_key: "retrain" }],
            new_cluster: { spark_version: "15.4.x-scala2.12", instance_pool_id: ids.pool, num_workers: 1 },
            spark_python_task: { python_file: "/Shared/quant/score.py" },
          },
        ],
      })
    ).job_id;
    ids.score = String(score);
    for (const id of [train, score])
      await ok(src, OLD, "PUT", `/api/2.0/permissions/jobs/${id}`, {
        access_control_list: [
          { user_name: ANA, permission_level: "IS_OWNER" },
          { group_name: "quant-developer", permission_level: "CAN_MANAGE_RUN" },
        ],
      });
  });
  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a dry run lists, before anything is created, what each job needs decided: a run_as the target does not know, a node type it does not offer (exit 3)", async () => {
    const r = await move(plan(), "--dry-run", "--json");
    assert.strictEqual(r.status, 3, r.stderr);
    const report = JSON.parse(r.stdout) as MoveReport;
    const byKey = Object.fromEntries(report.items.map((i) => [i.key, i]));
    assert.deepStrictEqual(
      [byKey["cluster-policy:quant-jobs"].outcome, byKey["instance-pool:quant-pool"].outcome, byKey["job:nightly-train"].outcome],
      ["planned", "planned", "held"],
    );
    assert.match(byKey["job:nightly-train"].problem!, new RegExp(`runs as ${OLD_APP}, who does not exist in the target`));
    assert.match(byKey["job:nightly-train"].problem!, /node type i3\.xlarge is not offered by the target/);
    assert.match(byKey["job:nightly-train"].detail!, /schedule created PAUSED/);
    assert.ok(report.decisions?.length, "the decisions are listed");
    assert.match(byKey["job:score"].detail!, /will run the copy of job 'nightly-train' this move makes first/);
    const policies = [...dst.mlflowApi.compute.policies.values()].filter((p: Json) => p.name === "quant-jobs");
    assert.deepStrictEqual(
      [dst.mlflowApi.jobs.jobs.size, policies.length, dst.mlflowApi.compute.pools.size],
      [0, 0, 0],
      "a dry run creates nothing",
    );
  });

  it("without the decisions the policy and pool move, and the jobs are held with nothing of them created (exit 3)", async () => {
    const r = await move(plan());
    assert.strictEqual(r.status, 3, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /held\s+job 'nightly-train'/);
    assert.match(r.stdout, /to decide before the held items move/);
    assert.strictEqual(dst.mlflowApi.jobs.jobs.size, 0);
    const policy = [...dst.mlflowApi.compute.policies.values()].find((p: Json) => p.name === "quant-jobs") as Json;
    const pool = [...dst.mlflowApi.compute.pools.values()].find((p: Json) => p.instance_pool_name === "quant-pool") as Json;
    assert.ok(policy && pool, "the policy and the pool are in the target");
    assert.deepStrictEqual(await acl(dst, NEW, "cluster-policies", policy.policy_id), ["quant-developer CAN_USE"]);
    assert.deepStrictEqual(await acl(dst, NEW, "instance-pools", pool.instance_pool_id), ["quant-developer CAN_ATTACH_TO"]);
  });

  it("with the decisions every job is created PAUSED, pointed at the target's policy, pool and job, with its owner, run_as and permissions; verify-move finds nothing (exit 0)", async () => {
    dst.state.addServicePrincipal("quant-jobs-runner", { applicationId: NEW_APP });
    const r = await move(plan(DECIDED), "--json");
    assert.strictEqual(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as MoveReport;
    assert.deepStrictEqual(report.verification?.differences, []);
    assert.strictEqual(report.verification?.checked.jobs, 2);
    const policyId = [...dst.mlflowApi.compute.policies.values()].find((p: Json) => p.name === "quant-jobs")!.policy_id;
    const poolId = [...dst.mlflowApi.compute.pools.values()].find((p: Json) => p.instance_pool_name === "quant-pool")!.instance_pool_id;
    const train = await jobNamed(dst, NEW, "nightly-train");
    const score = await jobNamed(dst, NEW, "score");
    assert.strictEqual(train.settings.schedule.pause_status, "PAUSED");
    assert.strictEqual(train.settings.schedule.quartz_cron_expression, "0 0 2 * * ?");
    assert.strictEqual(score.settings.trigger.pause_status, "PAUSED");
    assert.deepStrictEqual(train.settings.run_as, { service_principal_name: NEW_APP });
    assert.deepStrictEqual(train.settings.job_clusters[0].new_cluster.policy_id, policyId);
    assert.strictEqual(train.settings.job_clusters[0].new_cluster.node_type_id, "m5d.xlarge");
    assert.strictEqual(train.settings.tasks[0].notebook_task.notebook_path, "/Repos/quant-team/quant/train");
    assert.deepStrictEqual(train.settings.parameters, [{ name: "as_of", default: "{{job.start_time.iso_date}}" }]);
    assert.deepStrictEqual(train.settings.email_notifications.on_failure, [ANA]);
    const scoreTasks = Object.fromEntries((score.settings.tasks as Json[]).map((t) => [t.task_key, t]));
    assert.strictEqual(String(scoreTasks.retrain.run_job_task.job_id), String(train.job_id));
    assert.strictEqual(scoreTasks.score.new_cluster.instance_pool_id, poolId);
    for (const j of [train, score]) {
      const entries = await acl(dst, NEW, "jobs", j.job_id);
      assert.ok(entries.includes(`${ANA} IS_OWNER`), entries.join(", "));
      assert.ok(entries.includes("quant-developer CAN_MANAGE_RUN"), entries.join(", "));
    }
    // The old workspace is as it was: its jobs still run there.
    assert.strictEqual((await jobNamed(src, OLD, "nightly-train")).settings.schedule.pause_status, "UNPAUSED");
  });

  it("a second move changes nothing: every policy, pool and job is adopted", async () => {
    const r = await move(plan(DECIDED), "--json");
    assert.strictEqual(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as MoveReport;
    assert.deepStrictEqual(
      report.items.map((i) => `${i.key} ${i.outcome}`),
      ["cluster-policy:quant-jobs adopted", "instance-pool:quant-pool adopted", "job:nightly-train adopted", "job:score adopted"],
    );
    assert.strictEqual(dst.mlflowApi.jobs.jobs.size, 2);
  });

  it("cut-over pauses each job in the old workspace and unpauses its copy, saying what it changed; roll-back reverses it; a later move keeps the cut-over's state", async () => {
    const r = await move(plan(DECIDED), "--cut-over");
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /job 'nightly-train': schedule paused in .*, unpaused in /);
    assert.match(r.stdout, /job 'score': trigger paused in .*, unpaused in /);
    assert.strictEqual((await jobNamed(src, OLD, "nightly-train")).settings.schedule.pause_status, "PAUSED");
    assert.strictEqual((await jobNamed(src, OLD, "score")).settings.trigger.pause_status, "PAUSED");
    assert.strictEqual((await jobNamed(dst, NEW, "nightly-train")).settings.schedule.pause_status, "UNPAUSED");
    assert.strictEqual((await jobNamed(dst, NEW, "score")).settings.trigger.pause_status, "UNPAUSED");
    const again = await move(plan(DECIDED), "--json");
    assert.strictEqual(again.status, 0, again.stderr);
    assert.strictEqual(
      (await jobNamed(dst, NEW, "nightly-train")).settings.schedule.pause_status,
      "UNPAUSED",
      "a re-run keeps the cut-over",
    );
    const back = await move(plan(DECIDED), "--cut-over", "--roll-back");
    assert.strictEqual(back.status, 0, back.stderr);
    assert.ok(
      back.stdout.includes(`job 'nightly-train': schedule paused in databricks+${dst.url}, unpaused in databricks+${src.url}`),
      back.stdout,
    );
    assert.strictEqual((await jobNamed(src, OLD, "nightly-train")).settings.schedule.pause_status, "UNPAUSED");
    assert.strictEqual((await jobNamed(dst, NEW, "nightly-train")).settings.schedule.pause_status, "PAUSED");
    assert.strictEqual((await jobNamed(dst, NEW, "score")).settings.trigger.pause_status, "PAUSED");
  });
});
