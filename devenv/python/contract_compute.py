"""The job, cluster-policy, instance-pool and node-type routes the product calls (migration/jobs.ts, migration/compute.ts),
each through the Databricks SDK's typed method, in the lifecycle a move follows: read the node types, make an instance
pool and a cluster policy (and read back their permissions), find the service principal the job runs as, create a job
on that pool and policy, read and list it, set its permissions, unpause and pause its schedule, and reset it. Each case
checks what was written reads back; refusals to a member (who may not create a policy, nor change a job they may only
view) must come as the SDK's PermissionDenied, and change nothing.
"""
import json

from databricks.sdk.errors import PermissionDenied
from databricks.sdk.service import compute, iam, jobs

from contract_runner import need


def register(case):
    def me(x):
        if not hasattr(x, "me"):
            x.me = x.w.current_user.me().user_name
            x.member_name = x.member.current_user.me().user_name
        return x.me

    def direct(acl):
        """(principal, level) of the direct entries of an ObjectPermissions, and of the inherited ones apart."""
        out, inherited = set(), set()
        for e in acl.access_control_list or []:
            who = e.user_name or e.group_name or e.service_principal_name
            for p in e.all_permissions or []:
                (inherited if p.inherited else out).add((who, p.permission_level.value))
        return out, inherited

    def schedule(x, pause):
        return jobs.CronSchedule(quartz_cron_expression="0 0 6 * * ?", timezone_id="Europe/London", pause_status=pause)

    @case("GET /api/2.1/clusters/list-node-types")
    def node_types(x):
        types = x.w.clusters.list_node_types().node_types or []
        need(types and all(t.node_type_id and t.memory_mb and t.num_cores for t in types), f"node types: {types[:2]}")
        x.node_type = sorted(t.node_type_id for t in types)[0]
        return len(types)

    @case("POST /api/2.0/instance-pools/create")
    def create_pool(x):
        x.pool_name = f"contract-pool-{x.model}"
        x.pool_id = x.w.instance_pools.create(
            x.pool_name, x.node_type, min_idle_instances=0, max_capacity=4, idle_instance_autotermination_minutes=15, custom_tags={"team": "quant"}
        ).instance_pool_id
        p = x.w.instance_pools.get(x.pool_id)
        need((p.instance_pool_name, p.node_type_id, p.max_capacity, p.custom_tags) == (x.pool_name, x.node_type, 4, {"team": "quant"}), f"the new pool: {p}")
        return p.state.value

    @case("POST /api/2.0/instance-pools/edit")
    def edit_pool(x):
        x.w.instance_pools.edit(x.pool_id, x.pool_name, x.node_type, max_capacity=6, custom_tags={"team": "quant"}, idle_instance_autotermination_minutes=15)
        p = x.w.instance_pools.get(x.pool_id)
        need((p.max_capacity, p.idle_instance_autotermination_minutes) == (6, 15), f"the edited pool: {p}")
        return p.max_capacity

    @case("GET /api/2.0/instance-pools/list")
    def list_pools(x):
        found = [p for p in x.w.instance_pools.list() if p.instance_pool_id == x.pool_id]
        need(len(found) == 1 and found[0].instance_pool_name == x.pool_name and found[0].stats is not None, f"{x.pool_name} among the pools: {found}")
        return found[0].node_type_id

    @case("PUT /api/2.0/permissions/instance-pools/{id}")
    def set_pool_permissions(x):
        me(x)
        acl = [iam.AccessControlRequest(user_name=x.member_name, permission_level=iam.PermissionLevel.CAN_ATTACH_TO)]
        got = x.w.permissions.set("instance-pools", x.pool_id, access_control_list=acl)
        need(direct(got)[0] == {(x.member_name, "CAN_ATTACH_TO")}, f"the pool's direct ACL after the PUT: {direct(got)[0]}")
        return got.object_type

    @case("GET /api/2.0/permissions/instance-pools/{id}")
    def get_pool_permissions(x):
        got = x.w.permissions.get("instance-pools", x.pool_id)
        own, inherited = direct(got)
        need(own == {(x.member_name, "CAN_ATTACH_TO")} and ("admins", "CAN_MANAGE") in inherited, f"the pool's ACL: {own}, inherited {inherited}")
        need(got.object_type == "instance-pool" and got.object_id == f"/instance-pools/{x.pool_id}", f"the pool's ACL object: {got.object_type} {got.object_id}")
        return sorted(level for _, level in own)

    @case("POST /api/2.0/policies/clusters/create")
    def create_policy(x):
        x.policy_name = f"contract-policy-{x.model}"
        x.policy_definition = {"spark_version": {"type": "fixed", "value": "15.4.x-scala2.12"}, "autotermination_minutes": {"type": "range", "maxValue": 60}}
        try:
            x.member.cluster_policies.create(name=f"{x.policy_name}-member", definition=json.dumps(x.policy_definition))
            raise AssertionError("a member created a cluster policy")
        except PermissionDenied:
            pass
        x.policy_id = x.w.cluster_policies.create(
            name=x.policy_name, definition=json.dumps(x.policy_definition), description="contract policy", max_clusters_per_user=2
        ).policy_id
        p = x.w.cluster_policies.get(x.policy_id)
        need((p.name, json.loads(p.definition), p.max_clusters_per_user) == (x.policy_name, x.policy_definition, 2), f"the new policy: {p}")
        need(all(q.name != f"{x.policy_name}-member" for q in x.w.cluster_policies.list()), "the member's refused policy exists")
        return p.policy_id

    @case("POST /api/2.0/policies/clusters/edit")
    def edit_policy(x):
        x.policy_definition["autotermination_minutes"]["maxValue"] = 120
        x.w.cluster_policies.edit(x.policy_id, name=x.policy_name, definition=json.dumps(x.policy_definition), description="contract policy, edited")
        p = x.w.cluster_policies.get(x.policy_id)
        need((json.loads(p.definition), p.description, p.max_clusters_per_user) == (x.policy_definition, "contract policy, edited", None), f"the edited policy: {p}")
        return p.description

    @case("GET /api/2.0/policies/clusters/list")
    def list_policies(x):
        listed = {p.name: p for p in x.w.cluster_policies.list()}
        need(x.policy_name in listed and listed[x.policy_name].policy_id == x.policy_id, f"{x.policy_name} among {sorted(listed)}")
        need(listed.get("Personal Compute") and listed["Personal Compute"].is_default, f"the default Personal Compute policy among {sorted(listed)}")
        return sorted(n for n in listed if n != x.policy_name)

    @case("PUT /api/2.0/permissions/cluster-policies/{id}")
    def set_policy_permissions(x):
        acl = [iam.AccessControlRequest(user_name=x.member_name, permission_level=iam.PermissionLevel.CAN_USE)]
        got = x.w.permissions.set("cluster-policies", x.policy_id, access_control_list=acl)
        need(direct(got)[0] == {(x.member_name, "CAN_USE")}, f"the policy's direct ACL after the PUT: {direct(got)[0]}")
        need(x.member.cluster_policies.get(x.policy_id).name == x.policy_name, "the member given CAN_USE reads the policy")
        return got.object_type

    @case("GET /api/2.0/permissions/cluster-policies/{id}")
    def get_policy_permissions(x):
        got = x.w.permissions.get("cluster-policies", x.policy_id)
        own, inherited = direct(got)
        need(own == {(x.member_name, "CAN_USE")} and got.object_type == "cluster-policy", f"the policy's ACL: {got.object_type} {own}, inherited {inherited}")
        return sorted(level for _, level in own)

    @case("GET /api/2.0/preview/scim/v2/ServicePrincipals")
    def service_principals(x):
        made = x.w.service_principals.create(display_name=f"contract-runner-{x.model}")
        found = list(x.w.service_principals.list(filter=f'applicationId eq "{made.application_id}"'))
        need([(s.id, s.application_id) for s in found] == [(made.id, made.application_id)], f"the application id filter found {found}")
        x.runner = made.application_id
        return "found"

    def job_settings(x, name, pause):
        cluster = compute.ClusterSpec(
            spark_version="15.4.x-scala2.12", instance_pool_id=x.pool_id, policy_id=x.policy_id, num_workers=2, custom_tags={"team": "quant"}
        )
        notebook = lambda step: jobs.NotebookTask(notebook_path=f"{x.folder}/nb", base_parameters={"step": step})
        return dict(
            name=name,
            job_clusters=[jobs.JobCluster(job_cluster_key="main", new_cluster=cluster)],
            tasks=[
                jobs.Task(task_key="train", job_cluster_key="main", notebook_task=notebook("train"), timeout_seconds=3600),
                jobs.Task(task_key="score", job_cluster_key="main", notebook_task=notebook("score"), depends_on=[jobs.TaskDependency(task_key="train")]),
            ],
            parameters=[jobs.JobParameterDefinition(name="as_of", default="2024-01-01")],
            schedule=schedule(x, pause),
            tags={"team": "quant"},
            max_concurrent_runs=1,
            email_notifications=jobs.JobEmailNotifications(on_failure=[me(x)]),
        )

    @case("POST /api/2.2/jobs/create")
    def create_job(x):
        x.job_name = f"contract-job-{x.model}"
        x.job_id = x.w.jobs.create(**job_settings(x, x.job_name, jobs.PauseStatus.PAUSED), run_as=jobs.JobRunAs(service_principal_name=x.runner)).job_id
        need(isinstance(x.job_id, int) and x.job_id > 0, f"the new job's id: {x.job_id!r}")
        return "created"

    @case("GET /api/2.2/jobs/get")
    def get_job(x):
        j = x.w.jobs.get(x.job_id)
        s = j.settings
        need((j.creator_user_name, j.run_as_user_name, s.name) == (me(x), x.runner, x.job_name), f"the job: {j.creator_user_name} {j.run_as_user_name} {s.name}")
        need([t.task_key for t in s.tasks] == ["train", "score"] and s.tasks[1].depends_on[0].task_key == "train", f"the tasks: {s.tasks}")
        nc = s.job_clusters[0].new_cluster
        need((nc.instance_pool_id, nc.policy_id, nc.num_workers) == (x.pool_id, x.policy_id, 2), f"the job cluster: {nc}")
        need(s.tasks[0].notebook_task.source == jobs.Source.WORKSPACE and s.schedule.pause_status == jobs.PauseStatus.PAUSED, f"the task source and schedule: {s.tasks[0]} {s.schedule}")
        need(s.run_as.service_principal_name == x.runner and [(p.name, p.default) for p in s.parameters] == [("as_of", "2024-01-01")], f"run_as and parameters: {s.run_as} {s.parameters}")
        return s.schedule.pause_status.value

    @case("GET /api/2.2/jobs/list")
    def list_jobs(x):
        plain = list(x.w.jobs.list(name=x.job_name))
        need([j.job_id for j in plain] == [x.job_id] and not plain[0].settings.tasks and not plain[0].settings.job_clusters, f"listed without tasks: {plain}")
        expanded = list(x.w.jobs.list(name=x.job_name, expand_tasks=True))
        need([t.task_key for t in expanded[0].settings.tasks] == ["train", "score"], f"listed with tasks: {expanded}")
        return len(plain)

    @case("PUT /api/2.0/permissions/jobs/{id}")
    def set_job_permissions(x):
        acl = [
            iam.AccessControlRequest(user_name=me(x), permission_level=iam.PermissionLevel.IS_OWNER),
            iam.AccessControlRequest(user_name=x.member_name, permission_level=iam.PermissionLevel.CAN_VIEW),
        ]
        got = x.w.permissions.set("jobs", str(x.job_id), access_control_list=acl)
        need(direct(got)[0] == {(me(x), "IS_OWNER"), (x.member_name, "CAN_VIEW")}, f"the job's direct ACL after the PUT: {direct(got)[0]}")
        return got.object_type

    @case("GET /api/2.0/permissions/jobs/{id}")
    def get_job_permissions(x):
        got = x.w.permissions.get("jobs", str(x.job_id))
        own, inherited = direct(got)
        need(own == {(me(x), "IS_OWNER"), (x.member_name, "CAN_VIEW")} and ("admins", "CAN_MANAGE") in inherited, f"the job's ACL: {own}, inherited {inherited}")
        need(x.member.jobs.get(x.job_id).settings.name == x.job_name, "the member given CAN_VIEW reads the job")
        return sorted(level for _, level in own)

    @case("POST /api/2.2/jobs/update")
    def update_job(x):
        try:
            x.member.jobs.update(x.job_id, new_settings=jobs.JobSettings(schedule=schedule(x, jobs.PauseStatus.UNPAUSED)))
            raise AssertionError("a member who may only view the job unpaused it")
        except PermissionDenied:
            pass
        need(x.w.jobs.get(x.job_id).settings.schedule.pause_status == jobs.PauseStatus.PAUSED, "the member's refused update changed the schedule")
        seen = []
        for pause in (jobs.PauseStatus.UNPAUSED, jobs.PauseStatus.PAUSED):
            x.w.jobs.update(x.job_id, new_settings=jobs.JobSettings(schedule=schedule(x, pause)))
            s = x.w.jobs.get(x.job_id).settings
            need(s.schedule.pause_status == pause and [t.task_key for t in s.tasks] == ["train", "score"], f"after the update to {pause}: {s.schedule} {s.tasks}")
            seen.append(s.schedule.pause_status.value)
        return seen

    @case("POST /api/2.2/jobs/reset")
    def reset_job(x):
        settings = job_settings(x, f"{x.job_name}-reset", jobs.PauseStatus.PAUSED)
        settings["tasks"] = settings["tasks"][:1]
        try:
            x.member.jobs.reset(x.job_id, jobs.JobSettings(**settings))
            raise AssertionError("a member who may only view the job reset it")
        except PermissionDenied:
            pass
        x.w.jobs.reset(x.job_id, jobs.JobSettings(**settings))
        j = x.w.jobs.get(x.job_id)
        need((j.settings.name, [t.task_key for t in j.settings.tasks]) == (f"{x.job_name}-reset", ["train"]), f"the reset job: {j.settings.name} {j.settings.tasks}")
        need(j.run_as_user_name == x.runner, f"run_as after a reset that leaves it out: {j.run_as_user_name}")
        return j.settings.name
