"""python-gitlab (the official Python client) judges the GitLab test server on every route the product calls.

The product's GitLab calls (the dynamic providers in components/gitlab, the doctor, the approval evidence and
`mr-note`) go through its own HTTP client; devenv/databricks/sdkContract.ts lists their routes (GITLAB_ROUTES), and
each is called here once through python-gitlab's managers, whose request encoding and response handling must
accept the test server's answers. Each case then checks what the product reads from the answer.

stdin: {"url": "https://127.0.0.1:PORT", "token": <an admin's api token>, "project": "quant/quant-research",
        "member": <a username not yet a member>, "author": <a member's token>, "source": <branch>, "target": <branch>}
stdout: one JSON list, an entry per case in order: {"route": ..., "ok": true, "value": ...} or {"route": ..., "ok": false, "error": ...}
--routes: prints the routes the cases cover, as a JSON list.

The CA of the loopback server comes as REQUESTS_CA_BUNDLE.
"""
import gitlab

from contract_runner import Contract, need

CONTRACT = Contract()
case = CONTRACT.case


class World:
    def __init__(self, req):
        self.gl = gitlab.Gitlab(req["url"], private_token=req["token"])
        self.author = gitlab.Gitlab(req["url"], private_token=req["author"])
        self.project_path = req["project"]
        self.member = req["member"]
        self.p = self.gl.projects.get(self.project_path, lazy=True)
        # Set-up, not under contract: the author opens a merge request (as a member does).
        mine = self.author.projects.get(self.project_path, lazy=True)
        self.mr_iid = mine.mergerequests.create({"source_branch": req["source"], "target_branch": req["target"], "title": "contract"}).iid


@case("GET /users")
def users(x):
    found = x.gl.users.list(username=x.member)
    need([u.username for u in found] == [x.member], f"the user search found {[u.username for u in found]}")
    x.member_id = found[0].id
    return "found"


@case("GET /users/{id}")
def user(x):
    u = x.gl.users.get(x.member_id)
    need(u.username == x.member, f"user {x.member_id}: {u.username}")
    return "got"


@case("GET /projects/{id}")
def project(x):
    p = x.gl.projects.get(x.project_path)
    need(p.path_with_namespace == x.project_path, f"the project: {p.path_with_namespace}")
    return "got"


@case("PUT /projects/{id}")
def project_settings(x):
    p = x.gl.projects.get(x.project_path)
    p.only_allow_merge_if_pipeline_succeeds = True
    p.save()
    need(x.gl.projects.get(x.project_path).only_allow_merge_if_pipeline_succeeds is True, "the setting took")
    return "saved"


@case("POST /projects/{id}/members")
def add_member(x):
    x.p.members.create({"user_id": x.member_id, "access_level": gitlab.const.AccessLevel.REPORTER})
    return "added"


@case("GET /projects/{id}/members/{id}")
def member(x):
    m = x.p.members.get(x.member_id)
    need(m.access_level == gitlab.const.AccessLevel.REPORTER, f"the member's level: {m.access_level}")
    return "got"


@case("PUT /projects/{id}/members/{id}")
def update_member(x):
    m = x.p.members.get(x.member_id)
    m.access_level = gitlab.const.AccessLevel.DEVELOPER
    m.save()
    need(x.p.members.get(x.member_id).access_level == gitlab.const.AccessLevel.DEVELOPER, "the new level took")
    return "updated"


@case("GET /projects/{id}/members")
def members(x):
    got = {m.username: m.access_level for m in x.p.members.list(get_all=True)}
    need(got.get(x.member) == gitlab.const.AccessLevel.DEVELOPER, f"the members: {got}")
    return len(got)


@case("DELETE /projects/{id}/members/{id}")
def remove_member(x):
    x.p.members.delete(x.member_id)
    need(x.member not in [m.username for m in x.p.members.list(get_all=True)], "the member is gone")
    return "removed"


@case("POST /projects/{id}/protected_branches")
def protect(x):
    x.p.protectedbranches.create(
        {"name": "contract-branch", "push_access_level": 0, "merge_access_level": 40, "allow_force_push": False}
    )
    return "protected"


@case("GET /projects/{id}/protected_branches/{name}")
def protected_branch(x):
    b = x.p.protectedbranches.get("contract-branch")
    need([e["access_level"] for e in b.merge_access_levels] == [40] and b.allow_force_push is False, f"the branch: {b.attributes}")
    return "got"


@case("PATCH /projects/{id}/protected_branches/{name}")
def update_protection(x):
    b = x.p.protectedbranches.get("contract-branch")
    b.allow_force_push = True
    b.save()
    need(x.p.protectedbranches.get("contract-branch").allow_force_push is True, "the change took")
    return "updated"


@case("GET /projects/{id}/protected_branches")
def protected_branches(x):
    names = [b.name for b in x.p.protectedbranches.list(get_all=True)]
    need("contract-branch" in names, f"protected: {names}")
    return "listed"


@case("DELETE /projects/{id}/protected_branches/{name}")
def unprotect(x):
    x.p.protectedbranches.delete("contract-branch")
    need("contract-branch" not in [b.name for b in x.p.protectedbranches.list(get_all=True)], "unprotected")
    return "unprotected"


@case("POST /projects/{id}/approvals")
def approval_settings(x):
    a = x.p.approvals.get()
    a.merge_requests_author_approval = False
    a.merge_requests_disable_committers_approval = True
    a.save()
    return "set"


@case("GET /projects/{id}/approvals")
def approvals(x):
    a = x.p.approvals.get()
    need(a.merge_requests_author_approval is False and a.merge_requests_disable_committers_approval is True, f"settings: {a.attributes}")
    return "got"


@case("POST /projects/{id}/approval_rules")
def create_rule(x):
    x.rule = x.p.approvalrules.create({"name": "contract approvers", "approvals_required": 1, "user_ids": [x.member_id]})
    return "created"


@case("PUT /projects/{id}/approval_rules/{id}")
def update_rule(x):
    rule = x.p.approvalrules.get(x.rule.id)
    rule.approvals_required = 2
    rule.save()
    return "updated"


@case("GET /projects/{id}/approval_rules")
def rules(x):
    got = {r.name: r.approvals_required for r in x.p.approvalrules.list(get_all=True)}
    need(got.get("contract approvers") == 2, f"the rules: {got}")
    return "listed"


@case("DELETE /projects/{id}/approval_rules/{id}")
def delete_rule(x):
    x.p.approvalrules.delete(x.rule.id)
    need("contract approvers" not in [r.name for r in x.p.approvalrules.list(get_all=True)], "the rule is gone")
    return "deleted"


@case("GET /projects/{id}/merge_requests")
def merge_requests(x):
    iids = [m.iid for m in x.p.mergerequests.list(state="opened", get_all=True)]
    need(x.mr_iid in iids, f"open merge requests: {iids}")
    return "listed"


@case("GET /projects/{id}/merge_requests/{iid}")
def merge_request(x):
    mr = x.p.mergerequests.get(x.mr_iid)
    need(mr.iid == x.mr_iid and mr.author["username"] and mr.target_branch, f"the merge request: {mr.attributes}")
    x.mr = mr
    return "got"


@case("GET /projects/{id}/merge_requests/{iid}/approvals")
def mr_approvals(x):
    a = x.mr.approvals.get()
    need(isinstance(a.approved_by, list), f"approvals: {a.attributes}")
    return "got"


@case("GET /projects/{id}/repository/commits/{sha}/merge_requests")
def commit_merge_requests(x):
    sha = x.p.branches.get(x.mr.source_branch).commit["id"]
    got = [m["iid"] for m in x.p.commits.get(sha, lazy=True).merge_requests()]
    need(x.mr_iid in got, f"merge requests of the head commit: {got}")
    return "listed"


@case("POST /projects/{id}/merge_requests/{iid}/notes")
def note(x):
    x.note = x.mr.notes.create({"body": "quant-platform contract note"})
    return "noted"


@case("PUT /projects/{id}/merge_requests/{iid}/notes/{id}")
def edit_note(x):
    n = x.mr.notes.get(x.note.id)
    n.body = "quant-platform contract note, edited"
    n.save()
    return "edited"


@case("GET /projects/{id}/merge_requests/{iid}/notes")
def notes(x):
    got = [n.body for n in x.mr.notes.list(get_all=True)]
    need("quant-platform contract note, edited" in got, f"the notes: {got}")
    return "listed"


@case("PUT /projects/{id}/merge_requests/{iid}")
def close_merge_request(x):
    mr = x.p.mergerequests.get(x.mr_iid)
    mr.state_event = "close"
    mr.save()
    need(x.p.mergerequests.get(x.mr_iid).state == "closed", "the merge request is closed")
    return "closed"


def main():
    CONTRACT.run(World)


if __name__ == "__main__":
    main()
