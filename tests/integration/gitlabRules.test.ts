/**
 * The GitLab test server refuses what GitLab refuses: pushes against protected branches (force included),
 * merges before the approval rules are met or while the pipeline has not succeeded, the author's and the
 * committers' approvals. Each person acts with their own token through python-gitlab, which judges the server:
 * the expected answers here are GitLab's documented ones, written by hand.
 */
import * as assert from "assert";
import { GitLabTestServer, Project } from "../../devenv/gitlab/gitlabServer";
import { productCi } from "../../devenv/gitCi";
import { actOnGitLab, GitAct, said } from "../../devenv/gitActs";
import { PROJECT_DIR } from "../fixtures/config";

const PROJECT = "quant/quant-research";
const BRANCHES = ["quant", "quant_stg", "quant_lr", "quant_live"];

describe("the GitLab test server enforces protected branches, approval rules and 'pipelines must succeed', judged by python-gitlab", function () {
  this.timeout(120000);
  let gitlab: GitLabTestServer;
  let p: Project;
  const id: Record<string, number> = {};
  const token: Record<string, string> = {};

  /** Protects branches and sets approvals as the team's policy does on Premium, by hand (an admin in the UI). */
  function configure(tier: "premium" | "free") {
    gitlab.tier = tier;
    const name = `${PROJECT}-${gitlab.projects.length + 1}`;
    p = gitlab.addProject(name);
    const roles: Record<string, number> = { dev: 30, dev2: 30, approver: 30, lead: 40, reader: 20 };
    for (const [u, level] of Object.entries(roles)) p.members.set(id[u], level);
    for (const b of BRANCHES) gitlab.commit(p, b, `history of ${b}`);
    const user = (u: string) => ({ access_level: 40, user_id: id[u] });
    const protect = (b: string, push: string[], merge: string[]) => {
      const pb = gitlab.protect(p, b, 0, 0, false);
      if (tier === "free") {
        // Free protects by role: Developers push to quant, Maintainers merge elsewhere.
        pb.push_access_levels = push.length ? [{ ...pb.push_access_levels[0], access_level: 30 }] : pb.push_access_levels;
        pb.merge_access_levels = [{ ...pb.merge_access_levels[0], access_level: b === "quant" ? 30 : 40 }];
        return pb;
      }
      pb.push_access_levels.push(...push.map((u) => ({ ...pb.push_access_levels[0], ...user(u) })));
      pb.merge_access_levels.push(...merge.map((u) => ({ ...pb.merge_access_levels[0], ...user(u) })));
      return pb;
    };
    const quant = protect("quant", ["dev", "dev2", "approver", "lead"], ["dev", "dev2", "lead"]);
    const others = ["quant_stg", "quant_lr", "quant_live"].map((b) => protect(b, [], ["lead"]));
    Object.assign(p.approvals, {
      merge_requests_author_approval: false,
      merge_requests_disable_committers_approval: true,
      reset_approvals_on_push: true,
    });
    p.only_allow_merge_if_pipeline_succeeds = true;
    if (tier !== "free")
      p.rules.push({
        id: 1,
        name: "approvers",
        rule_type: "regular",
        approvals_required: 1,
        user_ids: [id.approver, id.lead],
        protected_branch_ids: [quant.id, ...others.map((b) => b.id)],
      });
    return name;
  }

  before(async () => {
    gitlab = new GitLabTestServer();
    for (const u of ["dev", "dev2", "approver", "lead", "reader"]) {
      id[u] = gitlab.addUser(u);
      token[u] = gitlab.tokenFor(u);
    }
    // The merge request pipeline is the product's branch-flow guard, as ci/gitlab/branch-flow.yml runs it.
    gitlab.ci = productCi(PROJECT_DIR);
    await gitlab.start();
  });
  after(() => gitlab.stop());

  const act = (project: string, acts: GitAct[]) => actOnGitLab(gitlab.url, project, acts);
  /** Acts each step and compares every answer with the one written beside it. */
  const expectAnswers = async (project: string, steps: [string, GitAct][]) =>
    assert.deepStrictEqual(
      (
        await act(
          project,
          steps.map(([, a]) => a),
        )
      ).map(said),
      steps.map(([e]) => e),
    );

  it("a push is checked against the branch's protection: per-user entries, roles, and force pushes", async () => {
    const project = configure("premium");
    const head = p.branches.get("quant");
    const acts: [string, GitAct][] = [
      ["allowed", { token: token.dev, op: "commit", branch: "quant", file: "a.py" }],
      [
        "403 403 Forbidden - You are not allowed to push into this branch",
        { token: token.dev, op: "commit", branch: "quant_stg", file: "b.py" },
      ],
      [
        "403 403 Forbidden - You are not allowed to push into this branch",
        { token: token.lead, op: "commit", branch: "quant_live", file: "c.py" },
      ],
      [
        "400 You are not allowed to force push code to a protected branch on this project.",
        { token: token.dev, op: "force", branch: "quant", file: "d.py" },
      ],
      ["allowed", { token: token.dev, op: "branch", branch: "feature/dev", ref: "quant" }],
      ["allowed", { token: token.dev, op: "commit", branch: "feature/dev", file: "e.py" }],
      [
        "403 403 Forbidden - You are not allowed to push into this branch",
        { token: token.reader, op: "commit", branch: "feature/dev", file: "f.py" },
      ],
    ];
    await expectAnswers(project, acts);
    // A refused push changes nothing: quant moved once (dev's commit), the other branches not at all.
    assert.notStrictEqual(p.branches.get("quant"), head);
    assert.strictEqual(p.commits.get(p.branches.get("quant")!)?.message, "change a.py");
    for (const b of ["quant_stg", "quant_live"]) assert.strictEqual(p.commits.get(p.branches.get(b)!)?.message, `history of ${b}`);
  });

  it("a merge waits for an approval that is not the author's or a committer's, and for the branch-flow guard's pipeline; only the allowed merge", async () => {
    const project = configure("premium");
    const [flow, off] = await act(project, [
      { token: token.dev, op: "open", source: "quant", target: "quant_stg", title: "promote" },
      { token: token.dev, op: "open", source: "quant", target: "quant_live", title: "dev straight to production" },
    ]);
    assert.deepStrictEqual(
      [flow, off].map((a) => a.ok && a.value.pipeline),
      ["success", "failed"],
      "the guard passes the flow edge and fails quant -> quant_live",
    );
    const [a, b] = [(flow as { value: { iid: number } }).value.iid, (off as { value: { iid: number } }).value.iid];
    const steps: [string, GitAct][] = [
      ["401 401 Unauthorized", { token: token.dev, op: "approve", iid: a }],
      ["405 405 Method Not Allowed", { token: token.lead, op: "merge", iid: a }],
      ["allowed", { token: token.approver, op: "approve", iid: a }],
      ["401 401 Unauthorized", { token: token.approver, op: "approve", iid: a }],
      ["401 401 Unauthorized", { token: token.dev, op: "merge", iid: a }],
      ["allowed", { token: token.lead, op: "merge", iid: a }],
      ["allowed", { token: token.approver, op: "approve", iid: b }],
      ["405 405 Method Not Allowed", { token: token.lead, op: "merge", iid: b }],
    ];
    const stgBefore = p.branches.get("quant_stg");
    const liveBefore = p.branches.get("quant_live");
    await expectAnswers(project, steps);
    assert.notStrictEqual(p.branches.get("quant_stg"), stgBefore, "the approved, guarded merge landed");
    assert.strictEqual(p.branches.get("quant_live"), liveBefore, "the refused merge left quant_live as it was");
    assert.strictEqual(p.mergeRequests.get(b)?.state, "opened");
  });

  it("a push to the source branch resets approvals, and the committer's approval never counts", async () => {
    const project = configure("premium");
    const [opened] = await act(project, [
      { token: token.dev, op: "branch", branch: "feature/x", ref: "quant" },
      { token: token.dev, op: "commit", branch: "feature/x", file: "x.py" },
      { token: token.dev, op: "open", source: "feature/x", target: "quant", title: "x" },
    ]).then((r) => r.slice(2));
    const iid = (opened as { value: { iid: number } }).value.iid;
    const steps: [string, GitAct][] = [
      ["allowed", { token: token.lead, op: "approve", iid }],
      // The approver adds a commit: the lead's approval is removed, and the approver is now a committer.
      ["allowed", { token: token.approver, op: "commit", branch: "feature/x", file: "y.py" }],
      ["405 405 Method Not Allowed", { token: token.dev, op: "merge", iid }],
      ["401 401 Unauthorized", { token: token.approver, op: "approve", iid }],
      ["allowed", { token: token.lead, op: "approve", iid }],
      ["allowed", { token: token.dev2, op: "merge", iid }],
    ];
    await expectAnswers(project, steps);
  });

  it("on Free approvals do not block a merge, so the pipeline is what blocks it: a failed guard refuses, a passed one allows", async () => {
    const project = configure("free");
    const opened = await act(project, [
      { token: token.dev, op: "open", source: "quant_stg", target: "quant", title: "backwards" },
      { token: token.dev, op: "open", source: "quant", target: "quant_stg", title: "forwards" },
    ]);
    assert.deepStrictEqual(
      opened.map((o) => o.ok && o.value.pipeline),
      ["failed", "success"],
    );
    const [back, fwd] = opened.map((o) => (o as { value: { iid: number } }).value.iid);
    const got = await act(project, [
      { token: token.dev, op: "merge", iid: back },
      { token: token.lead, op: "merge", iid: fwd },
    ]);
    assert.deepStrictEqual(got.map(said), ["405 405 Method Not Allowed", "allowed"]);
  });
});
