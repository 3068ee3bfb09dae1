/**
 * The GitHub test server refuses what GitHub refuses: pushes through the contents API and ref updates against
 * repository rulesets and their bypass actors (force pushes and new branches included), and merges of pull
 * requests whose rulesets are not met (approvals by reviewers with write access, never the author's or the last
 * pusher's, the required reviewer team, required status checks). Each person acts with their own token through
 * PyGithub, which judges the server; the expected answers are GitHub's documented ones, written by hand.
 */
import * as assert from "assert";
import { GitHubTestServer } from "../../devenv/github/githubServer";
import { GitHubOrganization } from "../../devenv/github/githubOrgApi";
import { productChecks } from "../../devenv/gitCi";
import { actOnGitHub, GitAct, said } from "../../devenv/gitActs";
import { PROJECT_DIR } from "../fixtures/config";

const REPO = "quantfirm/quant-research";

describe("the GitHub test server enforces rulesets and bypass actors on pushes and merges, judged by PyGithub", function () {
  this.timeout(120000);
  let github: GitHubTestServer;
  let org: GitHubOrganization;
  const token: Record<string, string> = {};
  const act = (acts: GitAct[]) => actOnGitHub(`${github.url}/api/v3`, REPO, acts);
  const head = (b: string) => github.git.get(REPO)!.branches.get(b);
  const violation = (...found: string[]) => `Repository rule violations found\n\n${found.join("\n\n")}\n\n`;

  before(async () => {
    github = new GitHubTestServer();
    org = github.organization("quantfirm");
    const repo = org.addRepository(REPO);
    github.addRepo(REPO);
    for (const b of ["main", "quant", "quant_stg", "quant_live"]) github.commit(REPO, b, `history of ${b}`);
    for (const u of ["dev", "dev2", "approver", "lead", "reader"]) {
      org.addUser(u);
      token[u] = `ghp_${u}`;
      github.tokens.set(token[u], u);
    }
    // Teams and rulesets as an owner would set them in the UI, the way the team's policy declares them.
    const team = (slug: string, permission: string, members: string[]) => {
      const id = 7000 + org.teams.size;
      org.teams.set(id, {
        id,
        slug,
        name: slug,
        description: null,
        privacy: "closed",
        notification_setting: "notifications_enabled",
        members: new Map(members.map((m) => [m, "member" as const])),
        repos: new Map([[REPO, permission]]),
      });
      return id;
    };
    const developers = team("developers", "push", ["dev", "dev2"]);
    const approvers = team("approvers", "push", ["approver", "dev2"]);
    const releasers = team("releasers", "push", ["lead"]);
    team("readers", "pull", ["reader"]);
    const ruleset = (name: string, include: string[], exclude: string[], rules: object[], bypass: [number, string][]) =>
      repo.rulesets.set(repo.rulesets.size + 1, {
        id: repo.rulesets.size + 1,
        name,
        target: "branch",
        enforcement: "active",
        conditions: { ref_name: { include, exclude } },
        rules,
        bypass_actors: bypass.map(([id, mode]) => ({ actor_id: id, actor_type: "Team", bypass_mode: mode })),
      });
    const restrict = [{ type: "creation" }, { type: "update" }, { type: "deletion" }, { type: "non_fast_forward" }];
    ruleset("quant: its pushers update it", ["refs/heads/quant"], [], restrict, [
      [developers, "always"],
      [releasers, "pull_request"],
    ]);
    ruleset("quant: no force-push", ["refs/heads/quant"], [], [{ type: "deletion" }, { type: "non_fast_forward" }], []);
    for (const b of ["quant_stg", "quant_live"]) {
      ruleset(`${b}: its mergers, through pull requests`, [`refs/heads/${b}`], [], restrict, [[releasers, "pull_request"]]);
      ruleset(
        `${b}: reviewed pull request`,
        [`refs/heads/${b}`],
        [],
        [
          {
            type: "pull_request",
            parameters: {
              required_approving_review_count: 1,
              require_last_push_approval: true,
              dismiss_stale_reviews_on_push: true,
              required_reviewers: [{ reviewer: { id: approvers, type: "Team" }, minimum_approvals: 1 }],
            },
          },
          { type: "required_status_checks", parameters: { required_status_checks: [{ context: "branch-flow" }] } },
        ],
        [],
      );
    }
    ruleset("other branches: no pushes", ["~ALL"], ["refs/heads/quant", "refs/heads/quant_stg", "refs/heads/quant_live"], restrict, []);
    // The required check is the product's branch-flow guard, as .github/workflows/branch-flow.yml reports it.
    github.ci = productChecks(PROJECT_DIR);
    await github.start();
  });
  after(() => github.stop());

  it("a push is checked against every ruleset its pusher does not bypass always: updates, pull requests, checks, force pushes, new branches", async () => {
    const stg = head("quant_stg");
    const acts: [string, GitAct][] = [
      ["allowed", { token: token.dev, op: "commit", branch: "quant", file: "a.py" }],
      [
        `409 ${violation("Cannot update this protected ref.", "Changes must be made through a pull request.", 'Required status check "branch-flow" is expected.')}`,
        { token: token.lead, op: "commit", branch: "quant_stg", file: "b.py" },
      ],
      ["403 Resource not accessible by personal access token", { token: token.reader, op: "commit", branch: "quant", file: "c.py" }],
      [`422 ${violation("Cannot force-push to this branch")}`, { token: token.dev, op: "force", branch: "quant" }],
      [
        `422 ${violation("Cannot create ref due to creations being restricted.")}`,
        { token: token.dev, op: "branch", branch: "feature/x", ref: "quant" },
      ],
    ];
    const got = await act(acts.map(([, a]) => a));
    assert.deepStrictEqual(
      got.map(said),
      acts.map(([e]) => e),
    );
    assert.strictEqual(head("quant_stg"), stg, "the refused pushes left quant_stg as it was");
    assert.ok(!github.git.get(REPO)!.branches.has("feature/x"));
  });

  it("a merge needs an approval from the reviewer team by someone other than the author and the last pusher, the guard's check, and a merger the update ruleset lets through", async () => {
    // One pull request per head at a time: statuses belong to the head commit, so a second pull request from the
    // same head would share (and overwrite) the guard's status, on GitHub as here.
    const opened = await act([
      { token: token.dev2, op: "commit", branch: "quant", file: "d.py" },
      { token: token.dev, op: "open", source: "quant", target: "quant_stg", title: "promote" },
    ]);
    assert.strictEqual(opened[1].ok && opened[1].value.pipeline, "success", "the guard passes quant -> quant_stg");
    const a = (opened[1] as { value: { iid: number } }).value.iid;
    const approvals = (n: number) => `At least ${n} approving review is required by reviewers with write access.`;
    const steps: [string, GitAct][] = [
      ["422 Unprocessable Entity (Review Can not approve your own pull request)", { token: token.dev, op: "approve", iid: a }],
      [`405 ${violation(approvals(1), "Approval from approvers is required.")}`, { token: token.lead, op: "merge", iid: a }],
      // dev2 pushed the head's last commit: the approval is given, but does not count.
      ["allowed", { token: token.dev2, op: "approve", iid: a }],
      [`405 ${violation(approvals(1), "Approval from approvers is required.")}`, { token: token.lead, op: "merge", iid: a }],
      ["allowed", { token: token.approver, op: "approve", iid: a }],
      [`405 ${violation("Cannot update this protected ref.")}`, { token: token.dev, op: "merge", iid: a }],
      ["allowed", { token: token.lead, op: "merge", iid: a }],
      ["allowed", { token: token.dev, op: "open", source: "quant", target: "quant_live", title: "dev straight to production" }],
      ["allowed", { token: token.approver, op: "approve", iid: "last" }],
      [`405 ${violation('Required status check "branch-flow" is failing.')}`, { token: token.lead, op: "merge", iid: "last" }],
    ];
    const live = head("quant_live");
    const got = await act(steps.map(([, s]) => s));
    assert.deepStrictEqual(
      got.map(said),
      steps.map(([e]) => e),
    );
    assert.strictEqual(head("quant_live"), live, "the refused merge left quant_live as it was");
    assert.strictEqual(github.repos.get(REPO)!.get(a)!.merged_by, "lead");
  });
});
