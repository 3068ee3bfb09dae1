/** The pure parts of the production approval guard: who counts on a merged change, and which stage is approved. */
import * as assert from "assert";
import { judgeChange, promotedStage } from "../../migration/guard";
import { approverEmails, buildAccessPlan } from "../../plan/accessPlan";
import { shippedModel } from "../fixtures/config";

const model = shippedModel();
const approvers = approverEmails(model);
const members = model.roster.map((m) => ({ email: m.email, gitUsername: m.gitUsername }));
const change = (author: string, approvedBy: string[]) => ({ ref: "quant/quant-research!7", author, approvedBy });

describe("production approval evidence (pure judgement)", () => {
  const table: [string, string, string[], string[], string[]][] = [
    ["an approver other than both authors counts", "aruiz", ["dsingh"], ["ben.okafor@quantfirm.example"], ["dsingh"]],
    ["the merge request's author never counts, even an approver", "cwei", ["cwei"], [], []],
    ["the version's author never counts (by email)", "aruiz", ["cwei"], ["chen.wei@quantfirm.example"], []],
    ["a consumer does not count", "aruiz", ["glee"], [], []],
    ["a user unknown to the roster does not count", "aruiz", ["mallory"], [], []],
    ["usernames compare case-insensitively; duplicates count once", "aruiz", ["DSingh", "dsingh"], [], ["DSingh"]],
  ];
  for (const [name, author, approvedBy, versionAuthors, counted] of table) {
    it(name, () => assert.deepStrictEqual(judgeChange(change(author, approvedBy), approvers, members, versionAuthors).counted, counted));
  }

  it("the stage approved is the one selected, else the version's own, else Production", () => {
    const v = (current_stage?: string) => ({ name: "m", version: "1", current_stage }) as Parameters<typeof promotedStage>[0];
    assert.strictEqual(promotedStage(v("Staging"), { stage: "Production" }), "Production");
    assert.strictEqual(promotedStage(v("Staging"), { version: "1" }), "Staging");
    assert.strictEqual(promotedStage(v("None"), { version: "1" }), "Production");
  });

  it("quant_lr: the plan names the Git project and the Pulumi.yaml entry where a promotion's approval is read", () => {
    const [lr] = buildAccessPlan(model, "quant_lr").migrations;
    assert.deepStrictEqual(lr.git, {
      provider: "gitlab",
      apiUrl: "https://gitlab.quantfirm.example/api/v4",
      project: "quant/quant-research",
      configPath: "Pulumi.yaml",
      fromStack: "quant_stg",
      toStack: "quant_lr",
    });
    assert.ok(lr.members.some((m) => m.email === "dara.singh@quantfirm.example" && m.gitUsername === "dsingh"));
  });
});
