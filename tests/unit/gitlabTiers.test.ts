import * as assert from "assert";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { gitlabApi } from "../../clients/gitlab";
import { probeTier, resolveTier } from "../../components/gitlab/tier";
import { gitlabTier } from "../../components/gitlab/branchPolicy";
import { approvalCheck } from "../../cli/approvalCheck";
import { buildAccessPlan } from "../../plan/accessPlan";
import { freeProtection, signOffRuleName, TIER_RULES, tierTableMarkdown } from "../../plan/gitTiers";
import { reconcile } from "../../components/gitlab/reconcile";
import { approvalRule } from "../../components/gitlab/resources";
import { planSections, renderTable } from "../../plan/render";
import { accessDiff, renderAccessDiffMarkdown } from "../../plan/accessDiff";
import { validate } from "../../config/validate";
import { PROJECT_DIR, problemsOf, proj, shipped, shippedModel, stackVal } from "../fixtures/config";
import { judgeApprovals } from "../../plan/fourEyes";

const TOKEN = "glpat-tiers-0123456789";
const PROJECT = "quant/quant-research";
const USERS = ["aruiz", "bokafor", "cwei", "jberg", "dsingh", "epetrova", "fhaddad", "glee", "htanaka", "imoreau"];

/** A GitLab test server acting as `tier`, with the roster's users and the team project. */
async function server(tier: GitLabTestServer["tier"], edition: GitLabTestServer["edition"] = "ee") {
  const gl = new GitLabTestServer();
  gl.tier = tier;
  gl.edition = edition;
  const url = await gl.start();
  gl.tokens.set(TOKEN, "api");
  const project = gl.addProject(PROJECT);
  const ids = Object.fromEntries(USERS.map((u) => [u, gl.addUser(u)]));
  return { gl, url, project, ids };
}

describe("GitLab tiers: detection from the API", () => {
  const cases: [GitLabTestServer["tier"], GitLabTestServer["edition"], "free" | "premium", RegExp][] = [
    ["premium", "ee", "premium", /answered 200/],
    ["ultimate", "ee", "premium", /answered 200/],
    ["free", "ee", "free", /answered 403 Forbidden .*GitLab Free/],
    ["free", "ce", "free", /answered 404 Not Found .*Community Edition/],
  ];
  for (const [tier, edition, expected, evidence] of cases) {
    it(`a ${tier} server (${edition}) is detected as ${expected}, by one probe of the project's approval settings`, async () => {
      const { gl, url } = await server(tier, edition);
      try {
        const api = gitlabApi({ baseUrl: url, project: PROJECT, token: TOKEN, backoffMs: 1 });
        const probed = await probeTier(api, url);
        assert.strictEqual(probed.tier, expected);
        assert.match(probed.evidence, evidence);
        await probeTier(api, url); // once per run: the second ask is answered from the first probe
        assert.strictEqual(gl.log.filter((l) => l.path.endsWith("/approvals")).length, 1);
      } finally {
        await gl.stop();
      }
    });
  }

  it("an unknown project fails the detection clearly instead of being read as Free", async () => {
    const { gl, url } = await server("free");
    try {
      await assert.rejects(
        probeTier(gitlabApi({ baseUrl: url, project: "quant/missing", token: TOKEN, backoffMs: 1 }), url),
        /404 Project Not Found/,
      );
    } finally {
      await gl.stop();
    }
  });

  it("a pin the instance agrees with is kept; a pin it contradicts is an error naming both", () => {
    const free = { tier: "free" as const, evidence: "GET /projects/x/approvals answered 403 Forbidden" };
    const paid = { tier: "premium" as const, evidence: "GET /projects/x/approvals answered 200" };
    assert.strictEqual(resolveTier("free", free, "p"), "free");
    assert.strictEqual(resolveTier("ultimate", paid, "p"), "ultimate");
    assert.strictEqual(resolveTier(undefined, free, "p"), "free");
    assert.throws(
      () => resolveTier("premium", free, "project quant/quant-research"),
      /git\.tier is pinned to 'premium', but project quant\/quant-research is GitLab Free \(GET \/projects\/x\/approvals answered 403 Forbidden\); set quant-platform:git\.tier: free/,
    );
    assert.throws(
      () => resolveTier("free", paid, "p"),
      /pinned to 'free', but p is GitLab Premium or Ultimate .*set quant-platform:git\.tier: premium/,
    );
  });
});

describe("GitLab tiers: what the program declares for", () => {
  for (const [tier, pin, expected] of [
    ["free", undefined, "free"],
    ["premium", undefined, "premium"],
    ["premium", "ultimate", "ultimate"],
    ["free", "premium", /pinned to 'premium', but project quant\/quant-research on http:\/\/127\.0\.0\.1:\d+ is GitLab Free/],
  ] as const) {
    it(`a ${tier} instance with ${pin ? `git.tier pinned to ${pin}` : "no pin"}: ${typeof expected === "string" ? expected : "an error naming both"}`, async () => {
      const { gl, url } = await server(tier);
      const saved = process.env.GITLAB_TOKEN;
      process.env.GITLAB_TOKEN = TOKEN;
      try {
        const plan = buildAccessPlan(shippedModel(), "quant");
        plan.git = { ...plan.git, url: url.replace(/\/api\/v4$/, ""), ...(pin ? { tier: pin } : {}) };
        if (typeof expected === "string") assert.strictEqual(await gitlabTier(plan), expected);
        else await assert.rejects(gitlabTier(plan), expected);
      } finally {
        if (saved === undefined) delete process.env.GITLAB_TOKEN;
        else process.env.GITLAB_TOKEN = saved;
        await gl.stop();
      }
    });
  }
});

describe("GitLab tiers: configuration", () => {
  it("git.tier pins free, premium or ultimate; anything else is refused with the expected values", () => {
    const s = shipped();
    stackVal(s, "quant", "git").tier = "free";
    assert.strictEqual(validate(s).stacks.find((x) => x.name === "quant")!.git.tier, "free");
    stackVal(s, "quant", "git").tier = "gold";
    assert.ok(
      problemsOf(s).some((p) => /Pulumi\.quant\.yaml quant-platform:git\.tier = "gold": expected one of free, premium, ultimate/.test(p)),
      problemsOf(s).join("\n"),
    );
  });
  it("git.tier on a GitHub stack is refused", () => {
    const s = shipped();
    Object.assign(stackVal(s, "quant", "git"), {
      provider: "github",
      url: "https://github.com",
      project: "quantfirm/quant-research",
      tier: "premium",
    });
    assert.ok(
      problemsOf(s).some((p) => /git\.tier: only applies to provider gitlab/.test(p)),
      problemsOf(s).join("\n"),
    );
  });
});

describe("GitLab tiers: what the plan view and the access diff say", () => {
  const pinned = (tier?: string) => {
    const s = shipped();
    if (tier) stackVal(s, "quant", "git").tier = tier;
    return validate(s);
  };
  it("plan, tier pinned to free: the four-eyes rule is the pipeline job, and the widening of role-only protection is listed", () => {
    const text = renderTable(planSections(buildAccessPlan(pinned("free"), "quant")));
    assert.match(text, /== Rule enforcement \(gitlab, tier free\)/);
    assert.match(
      text,
      /a merge needs an approval by an approving member who is not the author +pipeline job \+ flow audit +approval-check job/,
    );
    assert.match(text, /approvals are reset when new commits are pushed +not enforced/);
    assert.match(text, /== Free tier widening/);
  });
  it("plan, tier not pinned: each rule shows Premium/Ultimate and Free", () => {
    const text = renderTable(planSections(buildAccessPlan(pinned(), "quant")));
    assert.match(text, /== Rule enforcement \(gitlab, tier detected at deploy\)/);
    assert.match(text, /rule +premium \/ ultimate +free/);
    assert.ok(!/Free tier widening/.test(text));
  });
  it("access diff: pinning the tier to free shows each rule's new enforcement against the old", () => {
    const d = accessDiff({ ref: "base", model: pinned("premium") }, { ref: "head", model: pinned("free") }, "quant");
    assert.ok(d.changed);
    const md = renderAccessDiffMarkdown(d);
    assert.match(md, /### Git rule enforcement \(quant owns the GitLab settings; tier free\)/);
    assert.match(
      md,
      /\| a merge needs an approval by an approving member who is not the author \| pipeline job \+ flow audit \(was: native \+ flow audit\) \|/,
    );
    assert.match(md, /\| nobody force-pushes \| native \|/);
  });
  it("Free protection never locks out anyone the plan allows, and names who else gets in", () => {
    const plan = buildAccessPlan(shippedModel(), "quant");
    for (const b of plan.branchRules) {
      const f = freeProtection(plan, b);
      const level = (id: string) =>
        ({ developer: 30, maintainer: 40, reporter: 20, owner: 50 })[plan.gitMembers.find((m) => m.member === id)!.access];
      for (const m of b.pushMembers) assert.ok(level(m) >= f.pushLevel && f.pushLevel > 0, `${b.branch} push ${m}`);
      for (const m of b.mergeMembers) assert.ok(level(m) >= f.mergeLevel && f.mergeLevel > 0, `${b.branch} merge ${m}`);
      if (b.pushMembers.length === 0) assert.strictEqual(f.pushLevel, 0, b.branch);
    }
    const stg = freeProtection(
      plan,
      plan.branchRules.find((b) => b.branch === "quant_stg")!,
    );
    assert.deepStrictEqual([stg.pushLevel, stg.mergeLevel, stg.extraMerge], [0, 40, ["ines.moreau"]]);
  });
  it("plan: quant_lr and quant_live show the sign-off, 1 of the consumers; quant_stg shows none", () => {
    const text = renderTable(planSections(buildAccessPlan(pinned(), "quant")));
    assert.match(text, /approvals +sign-off \(not the author\) +force-push/);
    assert.match(
      text,
      /\nquant_lr +nobody +elena\.petrova, farid\.haddad +.* 1 +1 of grace\.lee, hiro\.tanaka \(consumer\) +off +quant_stg\n/,
    );
    assert.match(text, /\nquant_live +.* 2 +1 of grace\.lee, hiro\.tanaka \(consumer\) +off +/);
    assert.match(text, /\nquant_stg +nobody +.* 1 +- +off +quant\n/);
  });
  it("plan: the sign-off rule's enforcement per tier, and no such row when no model names signers", () => {
    const row = /a merge into a production branch needs the consumer's sign-off[^\n]*/;
    assert.match(
      renderTable(planSections(buildAccessPlan(pinned("free"), "quant"))).match(row)![0],
      / +pipeline job \+ flow audit +approval-check job/,
    );
    assert.match(
      renderTable(planSections(buildAccessPlan(pinned("premium"), "quant"))).match(row)![0],
      / +native \+ flow audit +a second approval rule per production branch, 'consumer sign-off \(<branch>\)'/,
    );
    const s = shipped();
    for (const m of proj(s, "models")) delete m.validation;
    const text = renderTable(planSections(buildAccessPlan(validate(s), "quant")));
    assert.doesNotMatch(text, row);
    assert.match(text, /\nquant_lr +.* 1 +- +off +quant_stg\n/);
  });
  it("plan on GitHub: the sign-off is not native there; the rule shows the production gate and the flow audit", () => {
    const s = shipped();
    Object.assign(stackVal(s, "quant", "git"), { provider: "github", url: "https://github.com", project: "quantfirm/quant-research" });
    const sections = planSections(buildAccessPlan(validate(s), "quant"));
    const enforcement = sections.find((x) => x.title.startsWith("Rule enforcement"))!;
    assert.deepStrictEqual(
      enforcement.rows.map((r) => r.slice(0, 2)),
      [
        [
          "a merge into a production branch needs the consumer's sign-off: an approval by a signer who is not the author",
          "production gate + flow audit",
        ],
      ],
    );
    assert.match(enforcement.rows[0][2], /not asked for on the pull request/);
  });
  it("the README table lists every rule against Free, Premium and Ultimate", () => {
    const t = tierTableMarkdown();
    assert.strictEqual(t.trim().split("\n").length, TIER_RULES.length + 2);
    assert.match(t, /^\| rule \| Free \| Premium \| Ultimate \|/);
  });
});

describe("GitLab Premium: the consumer's sign-off is a second approval rule on the same protected branch", () => {
  it("the approvers' rule and the sign-off rule both stand on quant_lr, each read back as declared; removing one keeps the other", async () => {
    const { gl, url, project } = await server("premium");
    try {
      const api = gitlabApi({ baseUrl: url, project: PROJECT, token: TOKEN, backoffMs: 1 });
      const pb = gl.protect(project, "quant_lr", 0, 40, false);
      const base = { baseUrl: url, project: PROJECT, branch: "quant_lr" };
      const approvers = { ...base, ruleName: "quant_lr approvers", approvalsRequired: 1, approverUsernames: ["cwei", "dsingh"] };
      const signOff = { ...base, ruleName: signOffRuleName("quant_lr"), approvalsRequired: 1, approverUsernames: ["glee", "htanaka"] };
      for (const r of [approvers, signOff]) assert.ok((await reconcile(approvalRule, api, r)).changes.length > 0, r.ruleName);
      assert.deepStrictEqual(
        project.rules.map((r) => [r.name, r.approvals_required, r.user_ids.length, r.protected_branch_ids]),
        [
          ["quant_lr approvers", 1, 2, [pb.id]],
          ["consumer sign-off (quant_lr)", 1, 2, [pb.id]],
        ],
      );
      for (const r of [approvers, signOff])
        assert.deepStrictEqual((await reconcile(approvalRule, api, r)).changes, [], `${r.ruleName}: no drift`);
      await approvalRule.restore(api, signOff);
      assert.deepStrictEqual(
        project.rules.map((r) => r.name),
        ["quant_lr approvers"],
      );
    } finally {
      await gl.stop();
    }
  });
});

describe("the four-eyes judgement without signers", () => {
  it("no model names signers: an approver's approval alone lets a merge into quant_lr through", () => {
    const s = shipped();
    for (const m of proj(s, "models")) delete m.validation;
    const plan = buildAccessPlan(validate(s), "quant");
    const v = judgeApprovals(plan, "quant_lr", "aruiz", ["dsingh"]);
    assert.deepStrictEqual([v.ok, v.counted, v.signedOff], [true, ["dsingh"], []]);
    assert.doesNotMatch(v.message, /sign/);
    assert.strictEqual(
      judgeApprovals(buildAccessPlan(shippedModel(), "quant"), "quant_lr", "aruiz", ["dsingh"]).ok,
      false,
      "with signers it would not",
    );
  });
});

describe("approval-check: the four-eyes job for GitLab Free, against a Free test server", () => {
  let s: Awaited<ReturnType<typeof server>>;
  beforeEach(async () => {
    s = await server("free");
  });
  afterEach(async () => {
    await s.gl.stop();
  });

  async function check(iid: number, source: string, target: string, author: string, approvedBy: string[]) {
    s.project.mergeRequests.set(iid, {
      iid,
      state: "opened",
      source_branch: source,
      target_branch: target,
      notes: [],
      author_id: s.ids[author],
      approved_by: approvedBy.map((u) => s.ids[u]),
    });
    const out: string[] = [];
    const env = { GITLAB_TOKEN: TOKEN, CI_API_V4_URL: s.url, CI_PROJECT_ID: PROJECT, CI_MERGE_REQUEST_IID: String(iid) };
    const code = await approvalCheck([], env, (l) => out.push(l), PROJECT_DIR);
    return { code, out: out.join("\n") };
  }

  it("no approval: fails (exit 1), saying nobody has approved", async () => {
    const r = await check(1, "quant", "quant_stg", "aruiz", []);
    assert.strictEqual(r.code, 1);
    assert.match(r.out, /^!1 quant -> quant_stg: not approved: merges into quant_stg need 1 approval\(s\) .*; nobody has approved it$/);
  });
  it("the author's own approval: fails, the author's approval never counts", async () => {
    const r = await check(2, "quant", "quant_stg", "cwei", ["cwei"]);
    assert.strictEqual(r.code, 1);
    assert.match(r.out, /not counted: cwei \(the author: an author's own approval never counts\)/);
  });
  it("an approval by a member who may not approve (a consumer): fails", async () => {
    const r = await check(3, "quant", "quant_stg", "aruiz", ["glee"]);
    assert.strictEqual(r.code, 1);
    assert.match(r.out, /not counted: glee \(not allowed to approve merges into quant_stg\)/);
  });
  it("an approval by an approver who is not the author: passes (exit 0)", async () => {
    const r = await check(4, "quant", "quant_stg", "aruiz", ["glee", "dsingh"]);
    assert.strictEqual(r.code, 0, r.out);
    assert.match(
      r.out,
      /^!4 quant -> quant_stg: approved: dsingh approved this merge into quant_stg \(1 of 1 needed\), none of them its author aruiz$/,
    );
  });
  it("quant_live needs two approvers (a consumer's sign-off is not one of them): one valid approval is not enough, two are", async () => {
    assert.strictEqual((await check(5, "quant_lr", "quant_live", "cwei", ["cwei", "fhaddad", "glee"])).code, 1);
    assert.strictEqual((await check(6, "quant_lr", "quant_live", "cwei", ["dsingh", "fhaddad", "glee"])).code, 0);
  });
  it("quant_lr approved only by an approver: fails (exit 1), leading with the missing sign-off and naming who may give it", async () => {
    const r = await check(9, "quant_stg", "quant_lr", "aruiz", ["dsingh"]);
    assert.strictEqual(r.code, 1);
    assert.match(
      r.out,
      /^!9 quant_stg -> quant_lr: not signed off: merges into quant_lr also need the consumer sign-off, 1 approval by a member of consumer other than the author aruiz, which one of glee, htanaka may give; approved: dsingh approved this merge into quant_lr \(1 of 1 needed\), none of them its author aruiz$/,
    );
  });
  it("quant_lr approved by an approver and a consumer: passes, naming the sign-off", async () => {
    const r = await check(10, "quant_stg", "quant_lr", "aruiz", ["htanaka", "dsingh"]);
    assert.strictEqual(r.code, 0, r.out);
    assert.match(
      r.out,
      /approved: dsingh approved this merge into quant_lr .*; signed off: htanaka \(consumer\) gave the consumer sign-off, not the author aruiz$/,
    );
    assert.doesNotMatch(r.out, /not counted/, "the consumer's approval is the sign-off, not a refused approval");
  });
  it("quant_lr by a consumer who approves their own merge request: no sign-off; the other consumer may give it", async () => {
    const r = await check(11, "quant_stg", "quant_lr", "glee", ["glee", "dsingh"]);
    assert.strictEqual(r.code, 1);
    assert.match(
      r.out,
      /not signed off: .*other than the author glee, which one of htanaka may give; not counted: glee \(the author: an author's own approval never counts\)/,
    );
    assert.strictEqual((await check(12, "quant_stg", "quant_lr", "glee", ["glee", "dsingh", "htanaka"])).code, 0);
  });
  it("quant_stg (not production): a consumer's approval is neither needed nor counted", async () => {
    const r = await check(13, "quant", "quant_stg", "aruiz", ["glee"]);
    assert.strictEqual(r.code, 1);
    assert.doesNotMatch(r.out, /sign/);
  });
  it("re-run after approving: the job reads the current approvals", async () => {
    assert.strictEqual((await check(7, "quant", "quant_stg", "aruiz", [])).code, 1);
    s.project.mergeRequests.get(7)!.approved_by = [s.ids.epetrova];
    const out: string[] = [];
    const code = await approvalCheck(
      ["--mr", "7", "--project", PROJECT, "--api", s.url],
      { GITLAB_TOKEN: TOKEN },
      (l) => out.push(l),
      PROJECT_DIR,
    );
    assert.strictEqual(code, 0, out.join("\n"));
  });
  it("without GITLAB_TOKEN or an MR: a usage error, and the token never shows in output", async () => {
    await assert.rejects(
      approvalCheck([], { CI_MERGE_REQUEST_IID: "1" }, () => undefined, PROJECT_DIR),
      /GITLAB_TOKEN is not set/,
    );
    await assert.rejects(
      approvalCheck([], { GITLAB_TOKEN: TOKEN }, () => undefined, PROJECT_DIR),
      /--mr <iid> is required/,
    );
    const r = await check(8, "quant", "quant_stg", "aruiz", []);
    assert.ok(!r.out.includes(TOKEN));
  });
});
