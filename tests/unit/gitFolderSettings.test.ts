import * as assert from "assert";
import { problemsOf, shipped, stackVal } from "../fixtures/config";
import { validate } from "../../config/validate";
import { buildAccessPlan } from "../../plan/accessPlan";
import { planSections } from "../../plan/render";
import { accessDiff } from "../../plan/accessDiff";

const hits = (problems: string[], ...res: RegExp[]) => problems.filter((p) => res.every((re) => re.test(p)));

describe("workspace Git folder settings (workspace.gitFolders)", () => {
  it("default: Git folders enabled and no allow list, planned as workspace-conf strings", () => {
    const plan = buildAccessPlan(validate(shipped()), "quant");
    assert.deepStrictEqual(
      plan.workspaceSettings.map((w) => [w.key, w.value]),
      [
        ["workspaceSetting:enableProjectTypeInWorkspace", "true"],
        ["workspaceSetting:enableProjectsAllowList", "false"],
      ],
    );
    const section = planSections(plan).find((s) => s.title.startsWith("Workspace Git folder settings"))!;
    assert.deepStrictEqual(section.rows[0], ["enableProjectTypeInWorkspace", "true", "Git folders enabled"]);
  });

  it("quant_stg: an allow list is planned as enableProjectsAllowList true and the comma-separated prefixes", () => {
    const s = shipped();
    stackVal(s, "quant_stg", "workspace").gitFolders = {
      allowList: ["https://gitlab.quantfirm.example/quant/", "https://github.com/quantfirm/"],
    };
    const plan = buildAccessPlan(validate(s), "quant_stg");
    assert.deepStrictEqual(Object.fromEntries(plan.workspaceSettings.map((w) => [w.setting, w.value])), {
      enableProjectTypeInWorkspace: "true",
      enableProjectsAllowList: "true",
      projectsAllowList: "https://gitlab.quantfirm.example/quant/,https://github.com/quantfirm/",
    });
  });

  it("rejects an allow list that leaves out a declared Git folder, naming stack, key, URL and a fix", () => {
    const s = shipped();
    stackVal(s, "quant_lr", "workspace").gitFolders = { allowList: ["https://github.com/other/"] };
    const p = problemsOf(s, "quant_lr");
    assert.strictEqual(
      hits(
        p,
        /^stack quant_lr: Pulumi\.quant_lr\.yaml quant-platform:workspace\.gitFolders\.allowList: /,
        /does not allow https:\/\/gitlab\.quantfirm\.example\/quant\/quant-research\.git/,
        /add a prefix of it, like https:\/\/gitlab\.quantfirm\.example\/quant\//,
      ).length,
      1,
      p.join("\n"),
    );
  });

  it("rejects Git folders disabled while shared Git folders are declared", () => {
    const s = shipped();
    stackVal(s, "quant", "workspace").gitFolders = { enabled: false };
    const p = problemsOf(s, "quant");
    assert.strictEqual(hits(p, /^stack quant: .*workspace\.gitFolders\.enabled: is false/, /quant-research/).length, 1, p.join("\n"));
  });

  it("rejects bad shapes: a non-boolean enabled, an http prefix, an empty list, a duplicate, an unknown key", () => {
    const cases: [unknown, RegExp][] = [
      [{ enabled: "yes" }, /workspace\.gitFolders\.enabled = "yes": expected/],
      [{ allowList: ["http://gitlab.quantfirm.example/"] }, /workspace\.gitFolders\.allowList\[0\] = "http:.*expected a Git URL prefix/],
      [{ allowList: [] }, /workspace\.gitFolders\.allowList/],
      [
        { allowList: ["https://gitlab.quantfirm.example/", "https://gitlab.quantfirm.example/"] },
        /workspace\.gitFolders\.allowList: lists a prefix twice/,
      ],
      [
        { allowlist: ["https://gitlab.quantfirm.example/"] },
        /workspace\.gitFolders\.allowlist: unknown key; expected one of: enabled, allowList/,
      ],
    ];
    for (const [value, re] of cases) {
      const s = shipped();
      stackVal(s, "quant", "workspace").gitFolders = value;
      const p = problemsOf(s, "quant");
      assert.strictEqual(hits(p, /^stack quant: Pulumi\.quant\.yaml /, re).length, 1, `${JSON.stringify(value)}:\n${p.join("\n")}`);
    }
  });

  it("the access diff shows a settings change as the value before and after", () => {
    const base = validate(shipped());
    const s = shipped();
    stackVal(s, "quant", "workspace").gitFolders = { allowList: ["https://gitlab.quantfirm.example/quant/"] };
    const d = accessDiff({ ref: "base", model: base }, { ref: "head", model: validate(s) }, "quant");
    assert.ok(d.changed);
    assert.deepStrictEqual(d.stacks[0].settings, {
      added: ["enableProjectsAllowList = true", "projectsAllowList = https://gitlab.quantfirm.example/quant/"],
      removed: ["enableProjectsAllowList = false"],
    });
  });
});
