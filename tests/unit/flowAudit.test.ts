import * as assert from "assert";
import { GitLabTestServer } from "../../devenv/gitlabServer";
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
      p.mergeRequests.set(iid, { iid, state: "merged", source_branch: source, target_branch: target, notes: [], author_id: ids[author], approved_by: approvedBy.map((u) => ids[u]), merged_by_id: ids[mergedBy], merged_at: at });
    merged(1, "quant", "quant_stg", "aruiz", ["dsingh"], "epetrova", "2024-05-01T10:00:00Z"); // clean
    merged(2, "quant", "quant_live", "aruiz", ["dsingh", "fhaddad"], "epetrova", "2024-05-02T10:00:00Z"); // retargeted outside the flow
    merged(3, "quant", "quant_stg", "aruiz", ["dsingh"], "imoreau", "2024-05-03T10:00:00Z"); // merged by an admin without merge rights
    merged(4, "quant", "quant_stg", "cwei", ["cwei"], "fhaddad", "2024-05-04T10:00:00Z"); // self-approved only
    merged(5, "quant", "quant_stg", "aruiz", ["glee"], "fhaddad", "2024-05-05T10:00:00Z"); // approved by a consumer
    p.mergeRequests.set(6, { iid: 6, state: "opened", source_branch: "quant", target_branch: "quant_live", notes: [] }); // not merged: not audited
  });
  afterEach(async () => { await gl.stop(); });

  async function audit(...argv: string[]) {
    let out = "";
    const code = await flowAudit(["--api", url, ...argv], { GITLAB_TOKEN: TOKEN }, (t) => (out += t), PROJECT_DIR);
    return { code, out };
  }

  it("lists each merge of each kind, and exits 3", async () => {
    const r = await audit("--format", "json");
    assert.strictEqual(r.code, 3);
    const f = JSON.parse(r.out).findings as { iid: number; problems: string[] }[];
    assert.deepStrictEqual(f.map((x) => x.iid), [2, 3, 4, 5]);
    const of = (iid: number) => f.find((x) => x.iid === iid)!.problems.join("\n");
    assert.match(of(2), /source not allowed: quant -> quant_live is not in the promotion flow/);
    assert.match(of(3), /merged by imoreau, who has no merge rights on quant_stg/);
    assert.match(of(4), /cwei \(the author: an author's own approval never counts\)/);
    assert.match(of(5), /glee \(not allowed to approve merges into quant_stg\)/);
  });
  it("--since leaves out earlier merges; a clean period exits 0", async () => {
    assert.deepStrictEqual(JSON.parse((await audit("--since", "2024-05-04", "--format", "json")).out).findings.map((x: { iid: number }) => x.iid), [4, 5]);
    gl.projects[0].mergeRequests.forEach((m) => { if (m.iid !== 1) m.merged_at = "2024-04-01T00:00:00Z"; });
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
