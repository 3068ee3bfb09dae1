import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import fc from "fast-check";
import { accessDiffCli } from "../../cli/accessDiff";
import { accessDiff, renderAccessDiffMarkdown } from "../../plan/accessDiff";
import { PROJECT_DIR, proj, shippedModel } from "../fixtures/config";
import { validate } from "../../config/validate";
import { shipped } from "../fixtures/config";
import { assertGolden as golden } from "../fixtures/goldenFiles";

/** A Git repository holding the shipped config, then `change` applied to Pulumi.yaml as a second commit. */
function repoWith(change: (yaml: string) => string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "access-diff-repo-"));
  const git = (...a: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@x", ...a], { stdio: "ignore" });
  git("init", "-q");
  for (const f of fs.readdirSync(PROJECT_DIR).filter((f) => /^Pulumi(\..+)?\.yaml$/.test(f)))
    fs.copyFileSync(path.join(PROJECT_DIR, f), path.join(dir, f));
  git("add", "-A");
  git("commit", "-qm", "base");
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), change(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")));
  git("commit", "-qam", "change");
  return dir;
}

function run(argv: string[], dir: string): { code: number; out: string } {
  let out = "";
  const code = accessDiffCli(argv, (s) => (out += s), dir);
  return { code, out };
}

const addKai = (y: string) =>
  y.replace(
    "      - { id: ines.moreau,",
    "      - { id: kai.novak, name: Kai Novak, email: kai.novak@quantfirm.example, gitUsername: knovak, roles: [approver] }\n      - { id: ines.moreau,",
  );

describe("access diff (npm run access-diff)", () => {
  it("adding a member to a role reports that member's new permissions in every stack, exit 3 (golden JSON)", () => {
    const r = run(["--base", "HEAD~1", "--head", "HEAD", "--format", "json"], repoWith(addKai));
    assert.strictEqual(r.code, 3);
    const j = JSON.parse(r.out);
    assert.deepStrictEqual(
      j.stacks.map((s: { members: { member: string }[] }) => s.members.map((m) => m.member)),
      [["kai.novak"], ["kai.novak"], ["kai.novak"]],
    );
    golden("access-diff-add-member.json", r.out + "\n");
  });

  it("the Markdown for the merge-request comment has the summary first (golden)", () => {
    const r = run(["--base", "HEAD~1", "--head", "HEAD", "--stack", "quant_lr"], repoWith(addKai));
    assert.strictEqual(r.code, 3);
    assert.match(r.out, /^## Access changes: `HEAD~1` -> `HEAD`\n\n\| stack \| members affected/);
    golden("access-diff-add-member-quant_lr.md", r.out);
  });

  it("a removed flow edge and a lost right are reported (golden Markdown)", () => {
    const dir = repoWith((y) =>
      y
        .replace("      - { from: quant_lr, to: quant_live }\n", "")
        .replace("approve: [quant, quant_stg, quant_lr, quant_live] }", "approve: [quant, quant_stg, quant_lr] }")
        .replace("quant_live: { tier: production, approvals: 2 }", "quant_live: { tier: production, approvals: 1 }"),
    );
    const r = run(["--base", "HEAD~1", "--head", "HEAD", "--stack", "quant"], dir);
    assert.strictEqual(r.code, 3);
    assert.match(r.out, /- flow edge removed: quant_lr -> quant_live/);
    assert.match(r.out, /\*\*dara\.singh\*\*\n\n- loses `approve` on branch quant_live/);
    golden("access-diff-remove-edge-quant.md", r.out);
  });

  it("naming signers on a model: each consumer gains the sign-off on quant_lr and quant_live, and the rule is new", () => {
    const none = shipped();
    for (const m of proj(none, "models")) delete m.validation;
    const d = accessDiff({ ref: "base", model: validate(none) }, { ref: "head", model: shippedModel() }, "quant");
    assert.ok(d.changed);
    const [q] = d.stacks;
    const show = (gs: { object: string; permission: string; via: string }[]) =>
      gs.map((g) => `${g.permission} on ${g.object} (via ${g.via})`);
    assert.deepStrictEqual(
      q.members.map((m) => [m.member, show(m.gained), show(m.lost)]),
      [
        ["grace.lee", ["sign-off on branch quant_live (via consumer)", "sign-off on branch quant_lr (via consumer)"], []],
        ["hiro.tanaka", ["sign-off on branch quant_live (via consumer)", "sign-off on branch quant_lr (via consumer)"], []],
      ],
    );
    const rule = q.enforcement!.rules.find((r) => /consumer's sign-off/.test(r.rule))!;
    assert.deepStrictEqual([rule.how, rule.before], ["native + flow audit (premium/ultimate), pipeline job + flow audit (free)", "none"]);
    const md = renderAccessDiffMarkdown(d);
    assert.match(
      md,
      /\*\*grace\.lee\*\*\n\n- gains `sign-off` on branch quant_live \(via consumer\)\n- gains `sign-off` on branch quant_lr \(via consumer\)/,
    );
    assert.match(md, /\| a merge into a production branch needs the consumer's sign-off: .* \| native \+ flow audit .* \(was: none\) \|/);
  });

  it("removing the signers: each consumer loses the sign-off duty, and the rule's enforcement is none", () => {
    const none = shipped();
    for (const m of proj(none, "models")) delete m.validation;
    const d = accessDiff({ ref: "base", model: shippedModel() }, { ref: "head", model: validate(none) }, "quant");
    const [q] = d.stacks;
    assert.deepStrictEqual(
      q.members.map((m) => [m.member, m.gained.length, m.lost.map((g) => `${g.permission} ${g.object}`)]),
      [
        ["grace.lee", 0, ["sign-off branch quant_live", "sign-off branch quant_lr"]],
        ["hiro.tanaka", 0, ["sign-off branch quant_live", "sign-off branch quant_lr"]],
      ],
    );
    assert.strictEqual(q.enforcement!.rules.find((r) => /consumer's sign-off/.test(r.rule))!.how, "none");
  });

  it("no change: exit 0", () => {
    const r = run(
      ["--base", "HEAD", "--head", "HEAD"],
      repoWith((y) => y + "\n# a comment\n"),
    );
    assert.deepStrictEqual(r, { code: 0, out: "## Access changes: `HEAD` -> `HEAD`\n\nNo access changes.\n" });
  });

  it("an invalid configuration at a ref is an error naming the ref", () => {
    const dir = repoWith((y) => y.replace("roles: [consumer] }", "roles: [quant_wizard] }"));
    assert.throws(() => run(["--base", "HEAD~1", "--head", "HEAD"], dir), /the configuration at HEAD is invalid:\n.*quant_wizard/s);
  });

  it("diffing any plan against itself is empty (property)", () => {
    const m = shippedModel();
    fc.assert(
      fc.property(
        fc.subarray(
          m.roster.map((x) => x.id),
          { minLength: 1 },
        ),
        (ids) => {
          const s = shipped();
          s.project.roster = (s.project.roster as { id: string }[]).filter(
            (x) =>
              ids.includes(x.id) ||
              x.id.startsWith("chen") ||
              x.id.startsWith("dara") ||
              x.id.startsWith("farid") ||
              x.id.startsWith("elena") ||
              x.id.startsWith("grace"),
          );
          const model = validate(s);
          assert.strictEqual(accessDiff({ ref: "a", model }, { ref: "b", model }).changed, false);
        },
      ),
      { numRuns: 30 },
    );
  });
});
