"""Acts on a GitHub repository as given people, with PyGithub, and says what GitHub answered to each act. The
GitHub test server is judged by it: a call PyGithub makes that the server answers differently from GitHub is a
defect of the server.

stdin: {"url": "https://127.0.0.1:PORT/api/v3", "repo": "owner/name", "acts": [{"token": ..., "op": ..., ...}, ...]}
  ops: commit {branch, file} (a push through the contents API), force {branch} (a force update of the ref),
       branch {branch, ref}, open {source, target, title} (waits for the head's checks), approve {iid}, merge {iid},
       close {iid}; an iid of "last" is the pull request opened last in this run
stdout: one JSON list, an entry per act: {"ok": true, "value": ...} or {"ok": false, "status": <HTTP status>, "message": ...}

The CA of the loopback server comes as REQUESTS_CA_BUNDLE.
"""
import json
import os
import time

from github import Auth, Github, GithubException

from act_runner import run


def act(gh: Github, name: str, a: dict, opened: list):
    repo = gh.get_repo(name, lazy=True)
    op = a["op"]
    if a.get("iid") == "last":
        a = {**a, "iid": opened[-1]}
    if op == "commit":
        return repo.create_file(a["file"], a.get("message", f"change {a['file']}"), a.get("content", "x\n"), branch=a["branch"])["commit"].sha
    if op == "force":
        # A force update of the branch to another commit (the default branch's head), as `git push --force` does.
        other = repo.get_branch(a.get("to", a["branch"])).commit.sha
        repo._requester.requestJsonAndCheck("PATCH", f"{repo.url}/git/refs/heads/{a['branch']}", input={"sha": other, "force": True})
        return other
    if op == "branch":
        sha = repo.get_branch(a["ref"]).commit.sha
        return repo.create_git_ref(f"refs/heads/{a['branch']}", sha).ref
    if op == "open":
        pr = repo.create_pull(base=a["target"], head=a["source"], title=a["title"])
        opened.append(pr.number)
        # The checks run asynchronously on the head: wait for their outcome.
        commit = repo.get_commit(pr.head.sha)
        for _ in range(600):
            status = commit.get_combined_status()
            if status.total_count and status.state != "pending":
                return {"iid": pr.number, "pipeline": "success" if status.state == "success" else "failed"}
            time.sleep(0.05)
        raise RuntimeError(f"the checks of #{pr.number} did not finish")
    pr = repo.get_pull(a["iid"])
    if op == "approve":
        return pr.create_review(event="APPROVE").state
    if op == "merge":
        return pr.merge().sha
    if op == "close":
        pr.edit(state="closed")
        return a["iid"]
    raise ValueError(f"unknown op {op}")


def refusal(e: GithubException):
    data = e.data if isinstance(e.data, dict) else {}
    errors = data.get("errors") or []
    detail = "; ".join(x if isinstance(x, str) else x.get("message", json.dumps(x)) for x in errors)
    return e.status, (data.get("message") or str(e)) + (f" ({detail})" if detail else "")


def main():
    run(
        lambda req, token: Github(base_url=req["url"], auth=Auth.Token(token), verify=os.environ.get("REQUESTS_CA_BUNDLE", True), retry=None),
        lambda gh, req, a, opened: act(gh, req["repo"], a, opened),
        GithubException,
        refusal,
    )


if __name__ == "__main__":
    main()
