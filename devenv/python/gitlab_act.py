"""Acts on a GitLab project as given people, with python-gitlab (the official Python client), and says what
GitLab answered to each act. The GitLab test server is judged by it: a call python-gitlab makes that the server
answers differently from GitLab is a defect of the server.

stdin: {"url": "https://127.0.0.1:PORT", "project": "quant/quant-research", "acts": [{"token": ..., "op": ..., ...}, ...]}
  ops: commit {branch, file, force?, start_branch?} (a push through the commits API), force {branch, file} (the
       same, forced), branch {branch, ref},
       open {source, target, title} (waits for the merge request's pipeline), approve {iid}, merge {iid}, close {iid}; an iid of "last" is the merge request opened last in this run
stdout: one JSON list, an entry per act: {"ok": true, "value": ...} or {"ok": false, "status": <HTTP status>, "message": ...}

The CA of the loopback server comes as REQUESTS_CA_BUNDLE.
"""
import os
import time

import gitlab
from gitlab import exceptions as exc

from act_runner import run


def act(gl: gitlab.Gitlab, project: str, a: dict, opened: list):
    p = gl.projects.get(project, lazy=True)
    if a.get("iid") == "last":
        a = {**a, "iid": opened[-1]}
    op = a["op"]
    if op == "force":
        a = {**a, "force": True, "file": a.get("file", "forced.txt")}
        op = "commit"
    if op == "commit":
        data = {
            "branch": a["branch"],
            "commit_message": a.get("message", f"change {a['file']}"),
            "actions": [{"action": "create", "file_path": a["file"], "content": a.get("content", "x\n")}],
        }
        if a.get("force"):
            data["force"] = True
        if a.get("start_branch"):
            data["start_branch"] = a["start_branch"]
        return p.commits.create(data).id
    if op == "branch":
        return p.branches.create({"branch": a["branch"], "ref": a["ref"]}).name
    if op == "open":
        mr = p.mergerequests.create({"source_branch": a["source"], "target_branch": a["target"], "title": a["title"]})
        # GitLab starts the merge request pipeline asynchronously: wait for its outcome.
        for _ in range(600):
            mr = p.mergerequests.get(mr.iid)
            pl = mr.head_pipeline
            if pl is None or pl["status"] not in ("pending", "running", "created"):
                opened.append(mr.iid)
                return {"iid": mr.iid, "pipeline": pl["status"] if pl else None}
            time.sleep(0.05)
        raise RuntimeError(f"the pipeline of !{mr.iid} did not finish")
    mr = p.mergerequests.get(a["iid"], lazy=True)
    if op == "approve":
        mr.approve()
        return a["iid"]
    if op == "merge":
        mr.merge()
        return a["iid"]
    if op == "close":
        mr.state_event = "close"
        mr.save()
        return a["iid"]
    raise ValueError(f"unknown op {op}")


def main():
    run(
        lambda req, token: gitlab.Gitlab(
            req["url"], private_token=token, ssl_verify=os.environ.get("REQUESTS_CA_BUNDLE", True), retry_transient_errors=False
        ),
        lambda gl, req, a, opened: act(gl, req["project"], a, opened),
        exc.GitlabError,
        lambda e: (e.response_code, str(e.error_message)),
    )


if __name__ == "__main__":
    main()
