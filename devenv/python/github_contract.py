"""PyGithub (the Python client GitHub lists) judges the GitHub test server on every route the product calls.

The product's GitHub calls (the doctor's rights, the approval evidence of merged pull requests, the pipelines'
comments) go through its own HTTP client; devenv/databricks/sdkContract.ts lists their routes (GITHUB_ROUTES), and
each is called here once through PyGithub's objects (or, where PyGithub has no method, its requester), which must
accept the test server's answers. Each case then checks what the product reads from the answer.

stdin: {"url": "https://127.0.0.1:PORT/api/v3", "token": <an owner's token>, "repo": "org/name", "author": <a member's
        token>, "reviewer": <another member's token>, "login": <a member's login>, "source": <branch>, "target": <branch>}
stdout: one JSON list, an entry per case in order: {"route": ..., "ok": true, "value": ...} or {"route": ..., "ok": false, "error": ...}
--routes: prints the routes the cases cover, as a JSON list.

The CA of the loopback server comes as REQUESTS_CA_BUNDLE.
"""
from github import Auth, Github

from contract_runner import Contract, need

CONTRACT = Contract()
case = CONTRACT.case


class World:
    def __init__(self, req):
        client = lambda token: Github(base_url=req["url"], auth=Auth.Token(token), retry=None)
        self.gh = client(req["token"])
        self.repo_name = req["repo"]
        self.org_name = req["repo"].split("/")[0]
        self.login = req["login"]
        self.repo = self.gh.get_repo(self.repo_name)
        # Set-up, not under contract: the author opens a pull request, another member approves it, the owner merges it.
        mine = client(req["author"]).get_repo(self.repo_name)
        pr = mine.create_pull(base=req["target"], head=req["source"], title="contract")
        self.number = pr.number
        client(req["reviewer"]).get_repo(self.repo_name).get_pull(pr.number).create_review(event="APPROVE")
        self.merged_sha = self.repo.get_pull(pr.number).merge().sha
        self.closing = mine.create_pull(base=req["source"], head=req["target"], title="to close").number

    def raw(self, path):
        return self.gh.requester.requestJsonAndCheck("GET", f"{self.repo.url}{path}")[1]


@case("GET /users/{login}")
def user(x):
    u = x.gh.get_user(x.login)
    need(u.login == x.login and u.id, f"the user: {u.login}")
    return "got"


@case("GET /orgs/{org}/teams")
def teams(x):
    x.teams = list(x.gh.get_organization(x.org_name).get_teams())
    need(x.teams and all(t.slug and t.name for t in x.teams), f"the teams: {[t.slug for t in x.teams]}")
    return len(x.teams)


@case("GET /orgs/{org}/teams/{slug}/members")
def team_members(x):
    members = {t.slug: [m.login for m in t.get_members()] for t in x.teams}
    need(any(members.values()), f"team members: {members}")
    return "listed"


@case("GET /repos/{owner}/{repo}/collaborators")
def collaborators(x):
    got = {c.login: c.permissions.push for c in x.repo.get_collaborators(affiliation="all")}
    need(got.get(x.login) is True, f"collaborators: {got}")
    return "listed"


@case("GET /repos/{owner}/{repo}/rulesets")
def rulesets(x):
    x.rulesets = x.raw("/rulesets")
    need(isinstance(x.rulesets, list) and all("id" in r for r in x.rulesets), f"rulesets: {x.rulesets}")
    return len(x.rulesets)


@case("GET /repos/{owner}/{repo}/rulesets/{id}")
def ruleset(x):
    for r in x.rulesets:
        full = x.raw(f"/rulesets/{r['id']}")
        need(full["enforcement"] and "conditions" in full and "rules" in full, f"ruleset {r['id']}: {sorted(full)}")
    return "got"


@case("GET /repos/{owner}/{repo}/pulls/{number}")
def pull(x):
    pr = x.repo.get_pull(x.number)
    need(pr.merged and pr.user.login and pr.base.ref, f"the pull request: merged {pr.merged}")
    return "got"


@case("GET /repos/{owner}/{repo}/pulls")
def pulls(x):
    closed = [p.number for p in x.repo.get_pulls(state="closed", base=x.repo.get_pull(x.number).base.ref, sort="updated", direction="desc")]
    need(x.number in closed, f"closed pull requests: {closed}")
    return "listed"


@case("GET /repos/{owner}/{repo}/pulls/{number}/reviews")
def reviews(x):
    got = [(r.user.login, r.state) for r in x.repo.get_pull(x.number).get_reviews()]
    need(any(state == "APPROVED" for _, state in got), f"reviews: {got}")
    return "listed"


@case("GET /repos/{owner}/{repo}/commits/{sha}/pulls")
def commit_pulls(x):
    got = [p.number for p in x.repo.get_commit(x.merged_sha).get_pulls()]
    need(x.number in got, f"pull requests of the merge commit: {got}")
    return "listed"


@case("POST /repos/{owner}/{repo}/issues/{number}/comments")
def comment(x):
    c = x.repo.get_pull(x.closing).create_issue_comment("quant-platform contract comment")
    need(c.body == "quant-platform contract comment", f"the comment: {c.body}")
    return "commented"


@case("PATCH /repos/{owner}/{repo}/pulls/{number}")
def close(x):
    pr = x.repo.get_pull(x.closing)
    pr.edit(state="closed")
    need(x.repo.get_pull(x.closing).state == "closed", "the pull request is closed")
    return "closed"


def main():
    CONTRACT.run(World)


if __name__ == "__main__":
    main()
