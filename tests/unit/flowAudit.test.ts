import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { GitHubTestServer, StandInPull, StandInReview } from "../../devenv/github/githubServer";
import { flowAudit } from "../../cli/flowAudit";
import { PROJECT_DIR } from "../fixtures/config";

const TOKEN = "glpat-audit-77aa";
const PROJECT = "quant/quant-research";
const USERS = ["aruiz", "bokafor", "cwei", "jberg", "dsingh", "epetrova", "fhaddad", "glee", "htanaka", "imoreau"];

describe("flow-audit against a GitLab test server (Free: nothing stopped these merges)", () => {
  let gl: GitLabTestServer;
  let url: string;
  let ids: Record<string, number>;
  beforeEach(async () => {
    gl = new GitLabTestServer();
    gl.tier = "free";
    url = await gl.start();
    gl.tokens.set(TOKEN, "api");
    const p = gl.addProject(PROJECT);
    ids = Object.fromEntries(USERS.map((u) => [u, gl.addUser(u)]));
    const merged = (iid: number, source: string, target: string, author: string, approvedBy: string[], mergedBy: string, at: string) =>
      p.mergeRequests.set(iid, {
        iid,
        state: "merged",
        source_branch: source,
        target_branch: target,
        notes: [],
        author_id: ids[author],
        approved_by: approvedBy.map((u) => ids[u]),
        merged_by_id: ids[mergedBy],
        merged_at: at,
      });
    merged(1, "quant", "quant_stg", "aruiz", ["dsingh"], "epetrova", "2024-05-01T10:00:00Z"); // clean
    merged(2, "quant", "quant_live", "aruiz", ["dsingh", "fhaddad"], "epetrova", "2024-05-02T10:00:00Z"); // retargeted outside the flow
    merged(3, "quant", "quant_stg", "aruiz", ["dsingh"], "imoreau", "2024-05-03T10:00:00Z"); // merged by an admin without merge rights
    merged(4, "quant", "quant_stg", "cwei", ["cwei"], "fhaddad", "2024-05-04T10:00:00Z"); // self-approved only
    merged(5, "quant", "quant_stg", "aruiz", ["glee"], "fhaddad", "2024-05-05T10:00:00Z"); // approved by a consumer
    p.mergeRequests.set(6, { iid: 6, state: "opened", source_branch: "quant", target_branch: "quant_live", notes: [] }); // not merged: not audited
  });
  afterEach(async () => {
    await gl.stop();
  });

  async function audit(...argv: string[]) {
    let out = "";
    const code = await flowAudit(["--api", url, ...argv], { GITLAB_TOKEN: TOKEN }, (t) => (out += t), PROJECT_DIR);
    return { code, out };
  }

  it("lists each merge of each kind, and exits 3", async () => {
    const r = await audit("--format", "json");
    assert.strictEqual(r.code, 3);
    const f = JSON.parse(r.out).findings as { iid: number; problems: string[] }[];
    assert.deepStrictEqual(
      f.map((x) => x.iid),
      [2, 3, 4, 5],
    );
    const of = (iid: number) => f.find((x) => x.iid === iid)!.problems.join("\n");
    assert.match(of(2), /source not allowed: quant -> quant_live is not in the promotion flow/);
    assert.match(of(3), /merged by imoreau, who has no merge rights on quant_stg/);
    assert.match(of(4), /cwei \(the author: an author's own approval never counts\)/);
    assert.match(of(5), /glee \(not allowed to approve merges into quant_stg\)/);
  });
  it("a merge into quant_lr that no consumer signed off is reported, naming who may sign off; with a consumer's approval it is clean", async () => {
    const p = gl.projects[0];
    for (const [iid, approvedBy] of [
      [20, ["dsingh"]],
      [21, ["dsingh", "htanaka"]],
    ] as const)
      p.mergeRequests.set(iid, {
        iid,
        state: "merged",
        source_branch: "quant_stg",
        target_branch: "quant_lr",
        notes: [],
        author_id: ids.aruiz,
        approved_by: approvedBy.map((u) => ids[u]),
        merged_by_id: ids.epetrova,
        merged_at: "2024-05-20T10:00:00Z",
      });
    const f = JSON.parse((await audit("--since", "2024-05-20", "--format", "json")).out).findings as { iid: number; problems: string[] }[];
    assert.deepStrictEqual(
      f.map((x) => x.iid),
      [20],
    );
    assert.match(
      f[0].problems.join("\n"),
      /^not signed off: merges into quant_lr also need the consumer sign-off, .* which one of glee, htanaka may give/,
    );
  });
  it("--since leaves out earlier merges; a clean period exits 0", async () => {
    assert.deepStrictEqual(
      JSON.parse((await audit("--since", "2024-05-04", "--format", "json")).out).findings.map((x: { iid: number }) => x.iid),
      [4, 5],
    );
    gl.projects[0].mergeRequests.forEach((m) => {
      if (m.iid !== 1) m.merged_at = "2024-04-01T00:00:00Z";
    });
    const r = await audit("--since", "2024-05-01");
    assert.deepStrictEqual(r, { code: 0, out: "## Flow audit of quant/quant-research since 2024-05-01\n\nNo merge broke the rules.\n" });
  });
  it("markdown: one row per finding", async () => {
    const r = await audit();
    assert.strictEqual(r.code, 3);
    assert.match(r.out, /\| !3 \| quant -> quant_stg \| imoreau \| 2024-05-03T10:00:00Z \| merged by imoreau/);
  });
  it("a bad date or format is a usage error", async () => {
    await assert.rejects(audit("--since", "yesterday"), /--since yesterday is not a date/);
    await assert.rejects(audit("--format", "csv"), /unknown format 'csv'/);
  });
});

/** A copy of the project's configuration with the Git settings on a GitHub repository. */
function githubProjectDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flow-audit-gh-"));
  for (const f of fs.readdirSync(PROJECT_DIR).filter((x) => /^Pulumi(\..+)?\.yaml$/.test(x))) {
    const text = fs.readFileSync(path.join(PROJECT_DIR, f), "utf8");
    fs.writeFileSync(
      path.join(dir, f),
      f === "Pulumi.yaml"
        ? text
        : text
            .replace(/(quant-platform:git:\s*\n\s*provider:) gitlab/, "$1 github")
            .replace(/(\n\s*url:) https:\/\/gitlab\.quantfirm\.example/, "$1 https://github.com")
            .replace(/(\n\s*project:) quant\/quant-research/, "$1 quantfirm/quant-research"),
    );
  }
  return dir;
}

describe("flow-audit against the GitHub stand-in (merges a ruleset edit, an owner's bypass or a retarget let through)", () => {
  const GH_TOKEN = "ghs_audit_5f5f";
  const REPO = "quantfirm/quant-research";
  let gh: GitHubTestServer;
  let url: string;
  let dir: string;
  let pulls: Map<number, StandInPull>;
  const at = (day: number) => `2024-05-${String(day).padStart(2, "0")}T10:00:00Z`;
  const review = (user: string, state: StandInReview["state"], day: number): StandInReview => ({ user, state, submitted_at: at(day) });
  const merged = (number: number, head: string, base: string, user: string, reviews: StandInReview[], mergedBy: string, day: number) =>
    pulls.set(number, {
      number,
      state: "closed",
      user,
      head,
      base,
      updated_at: at(day),
      merged_at: at(day),
      merged_by: mergedBy,
      reviews,
      comments: [],
    });

  before(() => {
    dir = githubProjectDir();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    gh = new GitHubTestServer();
    url = await gh.start();
    gh.tokens.set(GH_TOKEN, "audit-bot");
    pulls = gh.addRepo(REPO);
    merged(1, "quant", "quant_stg", "aruiz", [review("dsingh", "APPROVED", 1)], "epetrova", 1); // clean
    merged(2, "quant", "quant_live", "aruiz", [review("dsingh", "APPROVED", 2), review("fhaddad", "APPROVED", 2)], "epetrova", 2); // retargeted outside the flow
    merged(3, "quant", "quant_stg", "aruiz", [review("dsingh", "APPROVED", 3)], "imoreau", 3); // an owner's bypass: merged by an admin
    merged(4, "quant", "quant_stg", "cwei", [review("dsingh", "APPROVED", 3), review("dsingh", "DISMISSED", 4)], "fhaddad", 4); // approval dismissed by a later push
    merged(5, "quant", "quant_stg", "aruiz", [review("glee", "APPROVED", 5)], "fhaddad", 5); // approved by a consumer
    merged(
      6,
      "quant",
      "quant_stg",
      "aruiz",
      [review("dsingh", "CHANGES_REQUESTED", 5), review("cwei", "APPROVED", 6), review("cwei", "COMMENTED", 6)],
      "epetrova",
      6,
    ); // clean: a later comment keeps cwei's approval
    merged(7, "quant", "quant_lr", "dsingh", [review("dsingh", "APPROVED", 7)], "epetrova", 7); // only the author's own approval
    merged(8, "fix-tokenizer", "quant", "aruiz", [review("dsingh", "APPROVED", 8)], "bokafor", 8); // clean: contributor branch into quant
    pulls.set(9, {
      number: 9,
      state: "open",
      user: "aruiz",
      head: "quant",
      base: "quant_live",
      updated_at: at(9),
      reviews: [],
      comments: [],
    }); // open: not audited
    pulls.set(10, {
      number: 10,
      state: "closed",
      user: "aruiz",
      head: "quant",
      base: "quant_live",
      updated_at: at(10),
      reviews: [],
      comments: [],
    }); // closed unmerged: not audited
  });
  afterEach(async () => {
    await gh.stop();
  });

  async function audit(...argv: string[]) {
    let out = "";
    const code = await flowAudit(["--api", url, ...argv], { GITHUB_TOKEN: GH_TOKEN }, (t) => (out += t), dir);
    return { code, out };
  }

  it("lists each merge of each kind, and exits 3", async () => {
    const r = await audit("--format", "json");
    assert.strictEqual(r.code, 3, r.out);
    const body = JSON.parse(r.out);
    assert.deepStrictEqual([body.project, body.provider], [REPO, "github"]);
    const f = body.findings as { iid: number; ref: string; mergedBy: string; problems: string[] }[];
    assert.deepStrictEqual(
      f.map((x) => x.ref),
      ["#2", "#3", "#4", "#5", "#7"],
    );
    const of = (n: number) => f.find((x) => x.iid === n)!.problems.join("\n");
    assert.match(of(2), /source not allowed: quant -> quant_live is not in the promotion flow/);
    assert.strictEqual(f.find((x) => x.iid === 3)!.mergedBy, "imoreau", "who merged comes from the pull request itself: the list omits it");
    assert.match(of(3), /merged by imoreau, who has no merge rights on quant_stg/);
    assert.match(of(4), /not approved: merges into quant_stg need 1 approval\(s\).*counted 0/);
    assert.match(of(5), /glee \(not allowed to approve merges into quant_stg\)/);
    assert.match(of(7), /dsingh \(the author: an author's own approval never counts\)/);
    for (const n of [2, 4, 5, 7]) assert.doesNotMatch(of(n), /merge rights/, `#${n} was merged by a release manager`);
  });

  it("GitHub asks no signer on the pull request, so the audit reports a merge into quant_live without a consumer's approval", async () => {
    merged(20, "quant_lr", "quant_live", "aruiz", [review("dsingh", "APPROVED", 20), review("fhaddad", "APPROVED", 20)], "epetrova", 20);
    merged(
      21,
      "quant_lr",
      "quant_live",
      "aruiz",
      [review("dsingh", "APPROVED", 21), review("fhaddad", "APPROVED", 21), review("glee", "APPROVED", 21)],
      "epetrova",
      21,
    );
    const f = JSON.parse((await audit("--since", "2024-05-20", "--format", "json")).out).findings as { ref: string; problems: string[] }[];
    assert.deepStrictEqual(
      f.map((x) => x.ref),
      ["#20"],
    );
    assert.match(f[0].problems.join("\n"), /not signed off: .*which one of glee, htanaka may give/);
  });

  it("reads merged pull requests into each environment branch, then each one in full and its reviews", async () => {
    await audit("--format", "json");
    const paths = gh.requests.map((x) => `${x.method} ${x.path.replace(/\?.*$/, "")}`);
    for (const b of ["quant", "quant_stg", "quant_lr", "quant_live"]) {
      assert.ok(
        gh.requests.some((x) => x.path.startsWith(`/repos/${REPO}/pulls?state=closed&base=${b}&`)),
        b,
      );
    }
    assert.ok(paths.includes(`GET /repos/${REPO}/pulls/3`) && paths.includes(`GET /repos/${REPO}/pulls/3/reviews`));
    assert.ok(!paths.some((p) => /\/pulls\/(9|10)(\/|$)/.test(p)), "neither the open nor the unmerged pull request is read");
    assert.ok(
      gh.requests.every((x) => x.auth === `Bearer ${GH_TOKEN}` && x.method === "GET"),
      "reads only, with the token",
    );
  });

  it("--since leaves out earlier merges; a clean period exits 0", async () => {
    assert.deepStrictEqual(
      JSON.parse((await audit("--since", "2024-05-04", "--format", "json")).out).findings.map((x: { ref: string }) => x.ref),
      ["#4", "#5", "#7"],
    );
    const r = await audit("--since", "2024-05-08");
    assert.deepStrictEqual(r, { code: 0, out: `## Flow audit of ${REPO} since 2024-05-08\n\nNo merge broke the rules.\n` });
  });

  it("markdown: one row per finding, by PR number", async () => {
    const r = await audit();
    assert.strictEqual(r.code, 3);
    assert.match(r.out, /\| PR \| source -> target \| merged by \| merged at \| problems \|/);
    assert.match(r.out, /\| #3 \| quant -> quant_stg \| imoreau \| 2024-05-03T10:00:00Z \| merged by imoreau/);
  });

  it("pages through every merged pull request, retrying a 5xx, and stops paging at --since", async () => {
    for (let n = 100; n < 260; n++) merged(n, "quant", "quant_stg", "aruiz", [review("cwei", "APPROVED", 2)], "fhaddad", 2);
    gh.fail(502, 1);
    const all = await audit("--format", "json");
    assert.strictEqual(all.code, 3);
    assert.ok(
      gh.requests.some((x) => x.path.includes("base=quant_stg") && x.path.includes("page=2")),
      "a second page was read",
    );
    gh.requests.length = 0;
    assert.deepStrictEqual(JSON.parse((await audit("--since", "2024-05-15", "--format", "json")).out).findings, []);
    assert.ok(
      gh.requests.some((x) => x.path.includes("base=quant_stg")),
      "the first page is read",
    );
    assert.ok(
      !gh.requests.some((x) => x.path.includes("base=quant_stg") && x.path.includes("page=2")),
      "a page updated wholly before --since ends the paging",
    );
  });

  it("without GITHUB_TOKEN it is a usage error; a bad token fails naming the hint, not the token", async () => {
    await assert.rejects(
      flowAudit(["--api", url], {}, () => undefined, dir),
      /GITHUB_TOKEN is not set/,
    );
    await assert.rejects(
      flowAudit(["--api", url], { GITHUB_TOKEN: "ghs_wrong_0000" }, () => undefined, dir),
      (e: Error) => /401 Bad credentials; the token is missing or expired/.test(e.message) && !e.message.includes("ghs_wrong_0000"),
    );
  });
});
