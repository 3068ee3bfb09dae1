/**
 * Issue 35 items 1 and 2, the pure core: what a job, cluster policy or instance pool becomes in the target, what
 * the move changes on the way, and what it holds back for the operator. The target's facts are given as data here
 * (the integration test reads them from a test workspace). Expected outcomes follow the rules: every job
 * created paused; paths, policies, pools and jobs pointed into the target; an unknown owner, run_as or node type
 * held, never reassigned.
 */
import * as assert from "assert";
import { parsePathMap } from "../../cli/move";
import { mapPath, remapJob, withoutCreator, JobInventory, SideNames, comparableJob } from "../../migration/jobs";
import { remapCompute, TargetFacts, ComputeInventory } from "../../migration/compute";
import { parsePlan, PlanError, renderPlan, resolveItems, MovePlan, MoveItem, splitShards } from "../../migration/movePlan";
import { jobOrder } from "../../migration/move";
import { Inventory } from "../../migration/inventory";
import { DirectGrant } from "../../clients/permissionsAcl";

const facts = (o: {
  nodeTypes?: string[];
  users?: string[];
  groups?: string[];
  ids?: Record<string, Record<string, string[]>>;
}): TargetFacts => ({
  ...(o.nodeTypes ? { nodeTypes: new Set(o.nodeTypes) } : {}),
  principalExists: async (kind, name) => (kind === "group" ? (o.groups ?? []) : (o.users ?? [])).includes(name),
  ids: async (kind) => new Map(Object.entries(o.ids?.[kind] ?? {})),
  forget: () => undefined,
});

const ANA_OWNER = { principal: "ana@quantfirm.example", kind: "user" as const, level: "IS_OWNER" };

const SOURCE: SideNames = {
  policy: new Map([["P-OLD", "quant-jobs"]]),
  pool: new Map([["POOL-OLD", "quant-pool"]]),
  job: new Map([
    ["11", "nightly-train"],
    ["12", "score"],
  ]),
};

const TARGET = {
  nodeTypes: ["m5.xlarge", "r5.2xlarge"],
  users: ["ana@quantfirm.example", "svc@quantfirm.example"],
  groups: ["quant-developer"],
  ids: {
    "cluster-policy": { "quant-jobs": ["P-NEW"] },
    "instance-pool": { "quant-pool": ["POOL-NEW"] },
    job: { "nightly-train": ["901"] },
  },
};

const job = (
  settings: Record<string, unknown>,
  acl: DirectGrant[] = [{ principal: "ana@quantfirm.example", kind: "user", level: "IS_OWNER" }],
): JobInventory => ({
  id: "12",
  name: "score",
  settings: { name: "score", ...settings },
  acl,
});

describe("jobs, policies and pools: what the target gets, what changes, what is held", () => {
  it("a scheduled job with a notebook task on a job cluster: created PAUSED, its policy and pool pointed at the target's, its notebook path through pathMap", async () => {
    const r = await remapJob(
      job({
        schedule: { quartz_cron_expression: "0 0 2 * * ?", timezone_id: "UTC", pause_status: "UNPAUSED" },
        job_clusters: [
          {
            job_cluster_key: "main",
            new_cluster: { spark_version: "15.4.x-scala2.12", node_type_id: "m5.xlarge", num_workers: 2, policy_id: "P-OLD" },
          },
        ],
        tasks: [
          { task_key: "score", job_cluster_key: "main", notebook_task: { notebook_path: "/Users/ana@old.example/score" } },
          {
            task_key: "pooled",
            new_cluster: { spark_version: "15.4.x-scala2.12", instance_pool_id: "POOL-OLD", num_workers: 1 },
            spark_python_task: { python_file: "/Shared/jobs/train.py" },
          },
          { task_key: "chain", run_job_task: { job_id: 11 }, depends_on: [{ task_key: "score" }] },
        ],
      }),
      SOURCE,
      facts(TARGET),
      { pathMap: { "/Users/ana@old.example": "/Users/ana@quantfirm.example" } },
    );
    assert.deepStrictEqual(r.held, []);
    const s = r.settings as any;
    assert.strictEqual(s.schedule.pause_status, "PAUSED");
    assert.strictEqual(s.job_clusters[0].new_cluster.policy_id, "P-NEW");
    assert.strictEqual(s.tasks[0].notebook_task.notebook_path, "/Users/ana@quantfirm.example/score");
    assert.strictEqual(s.tasks[1].new_cluster.instance_pool_id, "POOL-NEW");
    assert.strictEqual(s.tasks[1].spark_python_task.python_file, "/Shared/jobs/train.py", "a path no pathMap entry covers stays");
    assert.strictEqual(s.tasks[2].run_job_task.job_id, 901);
    assert.ok(r.changes.some((c) => /schedule created PAUSED/.test(c)));
    assert.ok(r.changes.some((c) => /notebook \/Users\/ana@old\.example\/score -> \/Users\/ana@quantfirm\.example\/score/.test(c)));
  });

  it("every entry of a multi-trigger list is created paused; a job-completion trigger and a for-each task's inner run point at the target's jobs; a run_as group is checked", async () => {
    const r = await remapJob(
      job({
        triggers: [
          { pause_status: "UNPAUSED", periodic: { interval: 1, unit: "HOURS" } },
          { pause_status: "UNPAUSED", job_completion: { jobs: [{ job_id: 11 }] } },
        ],
        run_as: { group_name: "etl-runners" },
        tasks: [{ task_key: "each", for_each_task: { inputs: "[1,2]", task: { task_key: "inner", run_job_task: { job_id: 11 } } } }],
      }),
      SOURCE,
      facts(TARGET),
      {},
    );
    const s = r.settings as any;
    assert.deepStrictEqual(
      s.triggers.map((t: any) => t.pause_status),
      ["PAUSED", "PAUSED"],
    );
    assert.strictEqual(s.triggers[1].job_completion.jobs[0].job_id, 901);
    assert.strictEqual(s.tasks[0].for_each_task.task.run_job_task.job_id, 901);
    assert.deepStrictEqual(r.held, [
      "job 'score' runs as etl-runners, who does not exist in the target: create them, or map them in the plan's principalMap",
    ]);
    const other = await remapJob(
      job({ trigger: { pause_status: "UNPAUSED", job_completion: { jobs: [{ job_id: 11, workspace_id: 42 }] } }, tasks: [] }),
      SOURCE,
      facts(TARGET),
      {},
    );
    assert.match(other.held.join(), /watches job 11 of workspace 42: another workspace's job is not mapped/);
  });

  it("continuous runs and file-arrival triggers are created paused too", async () => {
    for (const t of [
      { continuous: { pause_status: "UNPAUSED" } },
      { trigger: { pause_status: "UNPAUSED", file_arrival: { url: "s3://feeds/in/" } } },
    ]) {
      const r = await remapJob(job({ ...t, tasks: [] }), SOURCE, facts(TARGET), {});
      const key = Object.keys(t)[0];
      assert.strictEqual((r.settings as any)[key].pause_status, "PAUSED", key);
    }
  });

  it("held, never reassigned: an owner or run_as the target does not know, a node type it does not offer, a policy it lacks, an all-purpose cluster", async () => {
    const r = await remapJob(
      job(
        {
          run_as: { user_name: "bob@old.example" },
          job_clusters: [
            {
              job_cluster_key: "big",
              new_cluster: { spark_version: "x", node_type_id: "i3.8xlarge", num_workers: 4, policy_id: "P-GONE" },
            },
          ],
          tasks: [{ task_key: "adhoc", existing_cluster_id: "0101-abc", notebook_task: { notebook_path: "/Shared/a" } }],
        },
        [
          { principal: "carl@old.example", kind: "user", level: "IS_OWNER" },
          { principal: "quant-developer", kind: "group", level: "CAN_MANAGE_RUN" },
        ],
      ),
      SOURCE,
      facts(TARGET),
      {},
    );
    const held = r.held.join("\n");
    for (const m of [
      /runs as bob@old\.example, who does not exist in the target/,
      /user carl@old\.example \(IS_OWNER\) does not exist in the target/,
      /node type i3\.8xlarge is not offered by the target \(it offers m5\.xlarge, r5\.2xlarge\)/,
      /uses cluster policy P-GONE, which the target does not have/,
      /all-purpose cluster 0101-abc/,
    ])
      assert.match(held, m);
    assert.strictEqual(r.held.length, 5, held);
  });

  it("the operator's decisions clear what was held: principalMap for owner and run_as, nodeTypeMap for the node type", async () => {
    const r = await remapJob(
      job(
        {
          run_as: { user_name: "bob@old.example" },
          job_clusters: [{ job_cluster_key: "big", new_cluster: { spark_version: "x", node_type_id: "i3.8xlarge", num_workers: 4 } }],
          tasks: [],
        },
        [{ principal: "carl@old.example", kind: "user", level: "IS_OWNER" }],
      ),
      SOURCE,
      facts(TARGET),
      {
        principalMap: { "bob@old.example": "svc@quantfirm.example", "carl@old.example": "ana@quantfirm.example" },
        nodeTypeMap: { "i3.8xlarge": "r5.2xlarge" },
      },
    );
    assert.deepStrictEqual(r.held, []);
    assert.deepStrictEqual((r.settings as any).run_as, { user_name: "svc@quantfirm.example" });
    assert.strictEqual((r.settings as any).job_clusters[0].new_cluster.node_type_id, "r5.2xlarge");
    assert.deepStrictEqual(r.acl, [{ principal: "ana@quantfirm.example", kind: "user", level: "IS_OWNER" }]);
  });

  it("a job with no owner in the source is held, not given the mover as owner", async () => {
    const r = await remapJob(
      job({ tasks: [] }, [{ principal: "quant-developer", kind: "group", level: "CAN_VIEW" }]),
      SOURCE,
      facts(TARGET),
      {},
    );
    assert.match(r.held.join("\n"), /has no owner in the source/);
  });

  it("a pool's node type is checked and mapped like a job's; a policy of a family is created from its overrides", async () => {
    const pool: ComputeInventory = {
      kind: "instance-pool",
      id: "POOL-OLD",
      name: "quant-pool",
      settings: { instance_pool_name: "quant-pool", node_type_id: "i3.xlarge", max_capacity: 10 },
      acl: [{ principal: "quant-developer", kind: "group", level: "CAN_ATTACH_TO" }],
    };
    assert.match((await remapCompute(pool, facts(TARGET), {})).held.join(), /node type i3\.xlarge is not offered/);
    const mapped = await remapCompute(pool, facts(TARGET), { nodeTypeMap: { "i3.xlarge": "m5.xlarge" } });
    assert.deepStrictEqual([mapped.held, mapped.settings.node_type_id], [[], "m5.xlarge"]);
    const policy: ComputeInventory = {
      kind: "cluster-policy",
      id: "P",
      name: "personal",
      settings: { name: "personal", definition: "{}", policy_family_id: "personal-vm", policy_family_definition_overrides: "{}" },
      acl: [{ principal: "ghost-team", kind: "group", level: "CAN_USE" }],
    };
    const p = await remapCompute(policy, facts(TARGET), {});
    assert.strictEqual(p.settings.definition, undefined);
    assert.match(p.held.join(), /group ghost-team \(CAN_USE\) does not exist in the target/);
  });

  it("the creator's own CAN_MANAGE, which Databricks leaves when the owner changes, is the mover's and not compared, unless the source gives it", () => {
    const target = [
      { principal: "mover@new.example", kind: "user" as const, level: "CAN_MANAGE" },
      { principal: ANA_OWNER.principal, kind: "user" as const, level: "IS_OWNER" },
    ];
    assert.deepStrictEqual(withoutCreator(target, [ANA_OWNER], "mover@new.example"), [target[1]]);
    assert.deepStrictEqual(withoutCreator(target, [ANA_OWNER, target[0]], "mover@new.example"), target);
    assert.deepStrictEqual(withoutCreator(target, [ANA_OWNER], "someone@else.example"), target);
  });

  it("jobs move after the jobs they run, and policies, pools and jobs stay in one shard so that each finds what it needs", () => {
    const job = (name: string, runs?: string[]): Extract<MoveItem, { kind: "job" }> => ({
      kind: "job",
      key: `job:${name}`,
      name,
      id: name,
      tasks: 1,
      bytes: 0,
      ...(runs ? { runs } : {}),
    });
    assert.deepStrictEqual(
      jobOrder([job("a-score", ["z-train"]), job("m-report", ["a-score"]), job("z-train")]).map((j) => j.name),
      ["z-train", "a-score", "m-report"],
    );
    const items: MoveItem[] = [
      { kind: "cluster-policy", key: "cluster-policy:p", name: "p", bytes: 0 },
      { kind: "instance-pool", key: "instance-pool:q", name: "q", bytes: 0 },
      job("a-score", ["z-train"]),
      job("z-train"),
      { kind: "experiment", key: "experiment:/e1", name: "/e1", runs: 1, files: 1, bytes: 100 },
      { kind: "experiment", key: "experiment:/e2", name: "/e2", runs: 1, files: 1, bytes: 90 },
    ];
    const shards = splitShards(items, 3);
    const home = shards.filter((s) => s.some((i) => i.kind === "job"));
    assert.strictEqual(home.length, 1);
    assert.deepStrictEqual(home[0].filter((i) => ["cluster-policy", "instance-pool", "job"].includes(i.kind)).length, 4);
  });

  it("paths map by the longest prefix, with or without /Workspace, and only whole segments", () => {
    const map = { "/Users/a@old": "/Users/a@new", "/Users/a@old/special": "/Shared/special" };
    assert.strictEqual(mapPath("/Users/a@old/nb", map), "/Users/a@new/nb");
    assert.strictEqual(mapPath("/Workspace/Users/a@old/nb", map), "/Workspace/Users/a@new/nb");
    assert.strictEqual(mapPath("/Users/a@old/special/x", map), "/Shared/special/x");
    assert.strictEqual(mapPath("/Users/a@older/nb", map), "/Users/a@older/nb");
    assert.strictEqual(mapPath("/Workspace/Users/a@old/x.py", { "/Users/a@old": "/Workspace/Users/a@new" }), "/Workspace/Users/a@new/x.py");
    assert.strictEqual(mapPath("/Users/a@old/nb", { "/Workspace/Users/a@old": "/Workspace/Users/a@new" }), "/Users/a@new/nb");
    assert.strictEqual(mapPath("/Workspace/Shared/x", { "/": "/Old" }), "/Workspace/Old/Shared/x");
    assert.deepStrictEqual(parsePathMap(["/a=/b,https://old.example/git=https://new.example/git"]), {
      "/a": "/b",
      "https://old.example/git": "https://new.example/git",
    });
    assert.throws(() => parsePathMap(["a=/b"]), /--path-map 'a=\/b' is not OLD=NEW with absolute workspace paths or Git URLs/);
  });

  it("two sides compare by names, not ids, and not by pause state", () => {
    const a = comparableJob(
      {
        schedule: { quartz_cron_expression: "c", pause_status: "UNPAUSED" },
        job_clusters: [{ job_cluster_key: "m", new_cluster: { policy_id: "P-OLD" } }],
      },
      SOURCE,
    );
    const b = comparableJob(
      {
        schedule: { quartz_cron_expression: "c", pause_status: "PAUSED" },
        job_clusters: [{ job_cluster_key: "m", new_cluster: { policy_id: "P-NEW" } }],
      },
      { policy: new Map([["P-NEW", "quant-jobs"]]), pool: new Map(), job: new Map() },
    );
    assert.deepStrictEqual(a, b);
  });

  it("the plan: jobs, policies, pools and decisions written, read back and resolved; a name two source jobs share is named with their ids", () => {
    const inv: Inventory = {
      source: "databricks://old",
      host: "https://old",
      registry: "workspace",
      models: [],
      experiments: [],
      clusterPolicies: [{ kind: "cluster-policy", id: "P-OLD", name: "quant-jobs", settings: {}, acl: [] }],
      instancePools: [{ kind: "instance-pool", id: "POOL-OLD", name: "quant-pool", settings: {}, acl: [] }],
      jobs: [job({ tasks: [{ task_key: "a" }] }), { ...job({}), id: "13", name: "dup" }, { ...job({}), id: "14", name: "dup" }],
    };
    const plan: MovePlan = {
      paths: [],
      experiments: [],
      models: [],
      modelMap: {},
      stageAliases: {},
      clusterPolicies: ["quant-jobs"],
      instancePools: ["quant-pool"],
      jobs: ["score"],
      principalMap: { "bob@old.example": "svc@quantfirm.example" },
      nodeTypeMap: { "i3.xlarge": "m5.xlarge" },
      pathMap: { "/Users/a@old": "/Users/a@new" },
    };
    const text = renderPlan(plan, inv);
    assert.deepStrictEqual(parsePlan(text), plan);
    assert.deepStrictEqual(
      resolveItems(plan, inv).map((i) => i.key),
      ["cluster-policy:quant-jobs", "instance-pool:quant-pool", "job:score"],
    );
    assert.throws(
      () => resolveItems({ ...plan, jobs: ["dup", "gone"] }, inv),
      (e: Error) => {
        assert.ok(e instanceof PlanError);
        assert.match(e.message, /jobs\[0\]: databricks:\/\/old has 2 jobs named "dup" \(ids 13, 14\)/);
        assert.match(e.message, /jobs\[1\]: "gone" does not exist in databricks:\/\/old/);
        return true;
      },
    );
    assert.throws(() => parsePlan("pathMap: {relative: /x}"), /pathMap\.relative: expected an absolute workspace path or a Git URL/);
  });
});
