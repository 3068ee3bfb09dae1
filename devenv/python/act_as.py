"""Acts on a Databricks workspace (its model registry, workspace objects, Git folders, SCIM and Permissions APIs)
as given people, with the official Databricks SDK for Python, and says what the workspace answered to each act.

stdin: {"host": "https://127.0.0.1:PORT", "acts": [{"token": ..., "op": ..., ...}, ...]}
stdout: one JSON list, an entry per act: {"ok": true, "value": ...} or {"ok": false, "refused": <a 403>, "error_code": ..., "message": ...}

The CA of a loopback workspace comes as REQUESTS_CA_BUNDLE, which the SDK's requests session honours.
"""
import base64
import json
import sys

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import DatabricksError, PermissionDenied
from databricks.sdk.service import catalog, iam, ml, workspace


def act(w: WorkspaceClient, a: dict):
    op = a["op"]
    r = w.model_registry
    if op == "get-model":
        level = r.get_model(a["name"]).registered_model_databricks.permission_level
        return level.value if level else None
    if op == "search-versions":
        return sorted(v.version for v in r.search_model_versions(filter=f"name='{a['name']}'"))
    if op == "transition":
        r.transition_stage(a["name"], a["version"], a["stage"], archive_existing_versions=False)
        return a["stage"]
    if op == "request":
        return r.create_transition_request(a["name"], a["version"], a["stage"]).request.to_stage
    if op == "approve":
        r.approve_transition_request(a["name"], a["version"], a["stage"], archive_existing_versions=False)
        return a["stage"]
    if op == "set-tag":
        r.set_model_version_tag(a["name"], a["version"], a["key"], a["value"])
        return a["value"]
    if op == "delete-version":
        r.delete_model_version(a["name"], a["version"])
        return a["version"]
    if op == "set-permissions":
        acl = [ml.RegisteredModelAccessControlRequest(group_name=g, permission_level=ml.RegisteredModelPermissionLevel(l)) for g, l in a["grants"]]
        w.model_registry.update_permissions(a["id"], access_control_list=acl)
        return "updated"
    if op == "join-group":
        g = next(iter(w.groups.list(filter=f'displayName eq "{a["group"]}"')))
        me = w.current_user.me()
        w.groups.patch(g.id, operations=[iam.Patch(op=iam.PatchOp.ADD, path="members", value=[{"value": me.id}])], schemas=[iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP])
        return "joined"
    if op == "mkdirs":
        w.workspace.mkdirs(a["path"])
        return "created"
    if op == "import":
        content = base64.b64encode(a["content"].encode()).decode()
        w.workspace.import_(a["path"], content=content, format=workspace.ImportFormat.SOURCE, language=workspace.Language.PYTHON, overwrite=a.get("overwrite", False))
        return "imported"
    if op == "export":
        return base64.b64decode(w.workspace.export(a["path"], format=workspace.ExportFormat.SOURCE).content).decode()
    if op == "clone":
        return w.repos.create(a["url"], "gitLab", path=a["path"]).path
    if op == "delete":
        w.workspace.delete(a["path"], recursive=True)
        return "deleted"
    if op == "pull":
        # Switch the Git folder at `path` to `branch` and update it (PATCH /api/2.0/repos/{id}), as "Pull" does.
        repo = next(r for r in w.repos.list(path_prefix=a["path"]) if r.path == a["path"])
        return w.repos.update(repo.id, branch=a["branch"]) and a["branch"] or a["branch"]
    if op == "set-folder-permissions":
        oid = str(w.workspace.get_status(a["path"]).object_id)
        acl = [workspace.WorkspaceObjectAccessControlRequest(group_name=g, permission_level=workspace.WorkspaceObjectPermissionLevel(l)) for g, l in a["grants"]]
        w.workspace.update_permissions("directories", oid, access_control_list=acl)
        return "updated"
    if op == "experiment-permissions":
        acl = w.experiments.get_permissions(a["id"]).access_control_list or []
        return sorted(f"{e.group_name or e.user_name}:{p.permission_level.value}" for e in acl for p in (e.all_permissions or []))
    if op == "set-experiment-permissions":
        acl = [ml.ExperimentAccessControlRequest(group_name=g, permission_level=ml.ExperimentPermissionLevel(l)) for g, l in a["grants"]]
        w.experiments.update_permissions(a["id"], access_control_list=acl)
        return "updated"
    if op == "list-experiments":
        return sorted(e.name for e in w.experiments.list_experiments())
    if op == "search-experiments":
        return sorted(e.name for e in w.experiments.search_experiments())
    if op == "upload":
        w.workspace.upload(a["path"], a["content"].encode(), format=workspace.ImportFormat.SOURCE, language=workspace.Language.PYTHON)
        return "uploaded"
    if op == "add-member-no-path":
        g = next(iter(w.groups.list(filter=f'displayName eq "{a["group"]}"')))
        user = next(iter(w.users.list(filter=f'userName eq "{a["user"]}"')))
        w.groups.patch(g.id, operations=[iam.Patch(op=iam.PatchOp.ADD, value={"members": [{"value": user.id}]})], schemas=[iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP])
        return sorted(m.display for m in (w.groups.get(g.id).members or []))
    if op == "create-experiment":
        w.experiments.create_experiment(a["path"])
        return "created"
    if op == "create-run":
        eid = w.experiments.get_by_name(a["path"]).experiment.experiment_id
        RUNS[a["path"]] = w.experiments.create_run(experiment_id=eid).run.info.run_id
        return "created"
    if op == "log-metric":
        w.experiments.log_metric(a["key"], float(a["value"]), timestamp=0, run_id=RUNS[a["path"]])
        return "logged"
    if op == "count-runs":
        eid = w.experiments.get_by_name(a["path"]).experiment.experiment_id
        return len(list(w.experiments.search_runs(experiment_ids=[eid])))
    if op == "sees-experiment":
        return any(e.name == a["path"] for e in w.experiments.search_experiments())
    if op == "delete-experiment":
        w.experiments.delete_experiment(w.experiments.get_by_name(a["path"]).experiment.experiment_id)
        return "deleted"
    if op == "experiment-acl":
        eid = w.experiments.get_by_name(a["path"]).experiment.experiment_id
        acl = w.experiments.get_permissions(eid).access_control_list or []
        return sorted(f"{e.group_name or e.user_name}:{p.permission_level.value}" for e in acl for p in (e.all_permissions or []) if not p.inherited)
    # Unity Catalog's registry: the SDK's registered_models API, and MLflow's UC registry routes through the SDK's
    # own API client (the SDK has no method for them: MLflow's client calls them so).
    if op == "uc-get-model":
        return w.registered_models.get(a["name"]).full_name
    if op == "uc-get-version":
        q = {"name": a["name"], "version": a["version"]}
        return w.api_client.do("GET", "/api/2.0/mlflow/unity-catalog/model-versions/get", query=q)["model_version"]["status"]
    if op == "uc-set-alias":
        body = {"name": a["name"], "alias": a["alias"], "version": a["version"]}
        w.api_client.do("POST", "/api/2.0/mlflow/unity-catalog/registered-models/alias", body=body)
        return "set"
    if op == "uc-create-model":
        w.api_client.do("POST", "/api/2.0/mlflow/unity-catalog/registered-models/create", body={"name": a["name"]})
        return "created"
    if op == "uc-create-version":
        v = w.api_client.do("POST", "/api/2.0/mlflow/unity-catalog/model-versions/create", body={"name": a["name"], "source": a["source"]})
        w.api_client.do("POST", "/api/2.0/mlflow/unity-catalog/model-versions/finalize", body={"name": a["name"], "version": v["model_version"]["version"]})
        return v["model_version"]["version"]
    if op == "uc-search-models":
        got = w.api_client.do("GET", "/api/2.0/mlflow/unity-catalog/registered-models/search", query={"max_results": 1000})
        return sorted(m["name"] for m in got.get("registered_models", []))
    if op == "uc-search-versions":
        got = w.api_client.do("GET", "/api/2.0/mlflow/unity-catalog/model-versions/search", query={"filter": f"name='{a['name']}'"})
        return len(got.get("model_versions", []))
    if op == "uc-grant":
        changes = [catalog.PermissionsChange(principal=a["principal"], add=[catalog.Privilege(p) for p in a["privileges"]])]
        w.grants.update(a["securable"], a["name"], changes=changes)
        return "granted"
    raise ValueError(f"unknown act {op}")


# The run each experiment's last create-run made, by the experiment's path (log-metric logs to it).
RUNS = {}


def main():
    req = json.load(sys.stdin)
    out = []
    clients = {}
    for a in req["acts"]:
        w = clients.get(a["token"])
        if w is None:
            w = clients[a["token"]] = WorkspaceClient(config=Config(host=req["host"], token=a["token"], auth_type="pat", retry_timeout_seconds=20))
        try:
            out.append({"ok": True, "value": act(w, a)})
        except DatabricksError as e:  # a refusal or another answer of the API; anything else is a defect and stops
            # 403, whatever the body's shape (MLflow's PERMISSION_DENIED, SCIM's error schema): the SDK's PermissionDenied.
            out.append({"ok": False, "refused": isinstance(e, PermissionDenied), "error_code": e.error_code, "message": str(e).split(" Config: ")[0]})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
