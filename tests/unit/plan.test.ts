import * as assert from "assert";
import fc from "fast-check";
import { buildAccessPlan, memberGrants } from "../../plan/accessPlan";
import { allowedTargets, findCycle, isEdge } from "../../plan/flow";
import { proj, shipped, shippedModel, stackVal } from "../fixtures/config";
import { validate } from "../../config/validate";
import { resolveEndpoint } from "../../migration/endpoint";
import { REGISTRY_LEVELS } from "../../config/schema";

const STACKS = ["quant", "quant_stg", "quant_lr"];
const levelOf = (stack: string, group: string) =>
  buildAccessPlan(shippedModel(), stack).registryAcls[0].grants.find((g) => g.group === group)?.level;

describe("access plan", () => {
  const model = shippedModel();

  for (const stack of STACKS) {
    describe(stack, () => {
      const plan = buildAccessPlan(model, stack);

      it(`${stack}: one group per role, every roster member in the groups of their roles`, () => {
        assert.deepStrictEqual(plan.groups.map((g) => g.name).sort(), [
          "quant-admin",
          "quant-approver",
          "quant-consumer",
          "quant-developer",
          "quant-release_manager",
        ]);
        for (const m of model.roster) {
          const groups = plan.memberships
            .filter((x) => x.member === m.id)
            .map((x) => x.group)
            .sort();
          assert.deepStrictEqual(groups, m.roles.map((r) => `quant-${r}`).sort(), m.id);
        }
      });

      it(`${stack}: every member can create, clone and pull Git folders`, () => {
        for (const m of model.roster) {
          const g = memberGrants(plan).filter((r) => r.member === m.id);
          assert.ok(
            g.some((r) => r.permission === "workspace-access"),
            `${m.id} has workspace access`,
          );
          assert.ok(
            g.some((r) => r.object === "directory /Teams/quant/git" && r.permission === "CAN_MANAGE"),
            `${m.id} can create Git folders`,
          );
          assert.ok(
            g.some((r) => r.object === "repo /Teams/quant/shared/quant-research" && ["CAN_EDIT", "CAN_MANAGE"].includes(r.permission)),
            `${m.id} can pull the shared Git folder`,
          );
        }
      });

      it(`${stack}: the shared Git folder is checked out at the ${stack} branch, outside the CAN_MANAGE root`, () => {
        assert.deepStrictEqual(
          plan.gitFolders.map((f) => [f.path, f.branch]),
          [["/Teams/quant/shared/quant-research", stack]],
        );
        assert.ok(!plan.gitFolders[0].path.startsWith("/Teams/quant/git/"));
      });

      it(`${stack}: one ACL entry per workspace object, granted to groups only`, () => {
        const objects = plan.workspaceAcls.map((a) => `${a.objectType} ${a.path}`);
        assert.strictEqual(new Set(objects).size, objects.length);
        const groups = new Set(plan.groups.map((g) => g.name));
        for (const a of [...plan.workspaceAcls, ...plan.registryAcls]) for (const g of a.grants) assert.ok(groups.has(g.group), g.group);
      });

      it(`${stack}: nobody can push anywhere but quant, and force-push is off everywhere`, () => {
        for (const b of plan.branchRules) {
          assert.strictEqual(b.allowForcePush, false);
          if (b.branch !== "quant") assert.deepStrictEqual(b.pushMembers, [], b.branch);
        }
      });

      it(`${stack}: only release managers merge into quant_stg, quant_lr and quant_live`, () => {
        for (const b of plan.branchRules.filter((x) => x.tier !== "development" && x.tier !== "other"))
          assert.deepStrictEqual(b.merge, ["release_manager"], b.branch);
        const other = plan.branchRules.find((x) => x.branch === "*")!;
        assert.deepStrictEqual([other.pushMembers, other.mergeMembers], [[], []], "every other branch: nobody pushes or merges");
      });

      it(`${stack}: developers cannot manage production model versions`, () => {
        assert.ok(
          REGISTRY_LEVELS.indexOf(levelOf(stack, "quant-developer") ?? "CAN_READ") <
            REGISTRY_LEVELS.indexOf("CAN_MANAGE_PRODUCTION_VERSIONS"),
        );
      });

      it(`${stack}: admins CAN_MANAGE every managed model, and nobody else does`, () => {
        for (const acl of plan.registryAcls) {
          assert.deepStrictEqual(
            acl.grants.filter((g) => g.level === "CAN_MANAGE").map((g) => g.group),
            ["quant-admin"],
          );
        }
      });
    });
  }

  const expected: Record<string, Record<string, string | undefined>> = {
    quant: { "quant-developer": "CAN_EDIT", "quant-approver": "CAN_MANAGE_STAGING_VERSIONS", "quant-admin": "CAN_MANAGE" },
    quant_stg: {
      "quant-developer": "CAN_READ",
      "quant-consumer": "CAN_READ",
      "quant-approver": "CAN_MANAGE_STAGING_VERSIONS",
      "quant-release_manager": "CAN_MANAGE_PRODUCTION_VERSIONS",
      "quant-admin": "CAN_MANAGE",
    },
    quant_lr: {
      "quant-developer": "CAN_READ",
      "quant-consumer": "CAN_READ",
      "quant-release_manager": "CAN_MANAGE_PRODUCTION_VERSIONS",
      "quant-admin": "CAN_MANAGE",
    },
  };
  for (const [stack, levels] of Object.entries(expected)) {
    for (const [group, level] of Object.entries(levels)) {
      it(`${stack}: ${group} gets ${level} on the registered models (config default)`, () => {
        const plan = buildAccessPlan(model, stack);
        assert.ok(plan.registryAcls.length > 0);
        for (const acl of plan.registryAcls) assert.strictEqual(acl.grants.find((g) => g.group === group)?.level, level, acl.model);
      });
    }
  }

  it("quant_stg: consumers can read but not edit the staging model", () => {
    assert.strictEqual(levelOf("quant_stg", "quant-consumer"), "CAN_READ");
  });

  it("quant: developers can log runs in the team's experiment folder", () => {
    const acl = buildAccessPlan(model, "quant").workspaceAcls.find((a) => a.path === "/Teams/quant/experiments")!;
    assert.ok(["CAN_EDIT", "CAN_MANAGE"].includes(acl.grants.find((g) => g.group === "quant-developer")!.level));
  });

  it("lists models only in the stacks that declare them", () => {
    assert.deepStrictEqual(
      buildAccessPlan(model, "quant").models.map((m) => [m.name, m.adopt]),
      [["quant-alpha-transformer", true]],
    );
    assert.deepStrictEqual(
      buildAccessPlan(model, "quant_lr").models.map((m) => [m.name, m.adopt]),
      [
        ["quant-alpha-transformer", false],
        ["quant-risk-scorer", false],
      ],
    );
  });

  it("Unity Catalog stacks get grants on three-part names from the configured privileges, and no workspace ACLs", () => {
    const s = shipped();
    for (const name of ["quant", "quant_stg", "quant_lr"])
      stackVal(s, name, "workspace").registry = { flavour: "unity-catalog", catalog: name, schema: "models" };
    for (const m of proj(s, "models")) Object.assign(m, { lifecycle: "aliases", promotions: [] });
    const plan = buildAccessPlan(validate(s), "quant_lr");
    assert.deepStrictEqual(plan.registryAcls, []);
    assert.deepStrictEqual(
      plan.ucGrants.map((g) => g.model),
      ["quant_lr.models.quant-alpha-transformer", "quant_lr.models.quant-risk-scorer"],
    );
    const g = plan.ucGrants[0].grants;
    assert.deepStrictEqual(g.find((x) => x.principal === "quant-consumer")!.privileges, ["EXECUTE"]);
    assert.deepStrictEqual(g.find((x) => x.principal === "quant-admin")!.privileges, ["ALL_PRIVILEGES", "MANAGE"]);
    assert.ok(
      !g
        .filter((x) => x.principal !== "quant-admin")
        .some((x) => x.privileges.includes("MANAGE") || x.privileges.includes("ALL_PRIVILEGES")),
    );
  });

  it("promotions: quant_stg migrates from quant; quant_lr from quant_stg, as production needing another's approval", () => {
    assert.deepStrictEqual(buildAccessPlan(model, "quant").migrations, []);
    const [stg] = buildAccessPlan(model, "quant_stg").migrations;
    assert.deepStrictEqual(
      [stg.fromEnv, stg.toEnv, stg.fromUri, stg.production, stg.select],
      ["quant", "quant_stg", "databricks+https://quant.cloud.databricks.com", false, { stage: "Staging" }],
    );
    const [lr] = buildAccessPlan(model, "quant_lr").migrations;
    assert.deepStrictEqual([lr.fromEnv, lr.toEnv, lr.production], ["quant_stg", "quant_lr", true]);
    assert.deepStrictEqual(lr.approvers, [
      "chen.wei@quantfirm.example",
      "dara.singh@quantfirm.example",
      "elena.petrova@quantfirm.example",
      "farid.haddad@quantfirm.example",
    ]);
  });

  it("promotions name their workspaces by the Databricks transport, whatever the host looks like (a loopback test workspace too)", () => {
    for (const host of ["https://quant.cloud.databricks.com", "https://127.0.0.1:8443"]) {
      const s = shipped();
      stackVal(s, "quant", "workspace").host = host;
      stackVal(s, "quant_stg", "workspace").host = host.replace(/quant\./, "quant-stg.").replace(/8443/, "8444");
      const [stg] = buildAccessPlan(validate(s), "quant_stg").migrations;
      assert.strictEqual(stg.fromUri, `databricks+${host}`);
      for (const uri of [stg.fromUri, stg.toUri]) assert.strictEqual(resolveEndpoint(uri, "from", {}).transport, "databricks", uri);
      assert.strictEqual(resolveEndpoint(stg.fromUri, "from", {}).baseUrl, host);
    }
  });

  it("Git project access: everyone at least Developer, release managers Maintainer", () => {
    const plan = buildAccessPlan(model, "quant");
    for (const m of plan.gitMembers) assert.ok(["developer", "maintainer"].includes(m.access), m.member);
    assert.strictEqual(plan.gitMembers.find((m) => m.member === "elena.petrova")!.access, "maintainer");
    assert.strictEqual(plan.gitMembers.find((m) => m.member === "grace.lee")!.access, "developer");
  });

  it("is deterministic: the same model gives the same plan", () => {
    assert.deepStrictEqual(buildAccessPlan(shippedModel(), "quant_stg"), buildAccessPlan(shippedModel(), "quant_stg"));
  });

  it("throws on an unknown stack, listing the valid ones", () => {
    assert.throws(() => buildAccessPlan(model, "prod"), /unknown stack 'prod'; expected one of: quant, quant_lr, quant_stg/);
  });
});

describe("branch rules: the consumer's sign-off on production branches", () => {
  const consumers = { roles: ["consumer"], members: ["grace.lee", "hiro.tanaka"], approvals: 1 };
  const cases: [string, typeof consumers | undefined][] = [
    ["quant", undefined],
    ["quant_stg", undefined],
    ["quant_lr", consumers],
    ["quant_live", consumers],
  ];
  for (const stack of STACKS) {
    const plan = buildAccessPlan(shippedModel(), stack);
    for (const [branch, expected] of cases) {
      it(`${stack}: ${branch} ${expected ? "needs a sign-off by grace.lee or hiro.tanaka (consumer), besides the approvers'" : "needs no sign-off"}`, () => {
        const rule = plan.branchRules.find((b) => b.branch === branch)!;
        assert.deepStrictEqual(rule.signOff, expected);
        assert.ok(!rule.approveMembers.includes("grace.lee"), "signing off is not approving");
      });
    }
    it(`${stack}: every other branch needs no sign-off`, () => {
      assert.strictEqual(plan.branchRules.find((b) => b.branch === "*")!.signOff, undefined);
    });
  }

  it("no model names signers: no branch has a sign-off rule, and nobody holds a sign-off duty", () => {
    const s = shipped();
    for (const m of proj(s, "models")) delete m.validation;
    const plan = buildAccessPlan(validate(s), "quant");
    assert.deepStrictEqual(
      plan.branchRules.filter((b) => "signOff" in b).map((b) => b.branch),
      [],
    );
    assert.deepStrictEqual(
      memberGrants(plan).filter((g) => g.permission === "sign-off"),
      [],
    );
  });

  it("two models with different signer roles: the production branches ask a member of either (the project is shared)", () => {
    const s = shipped();
    const roles = proj(s, "roles");
    roles.risk_desk = { ...roles.consumer, description: "Validates the risk scorer." };
    (proj(s, "roster") as { id: string; roles: string[] }[]).find((m) => m.id === "ines.moreau")!.roles.push("risk_desk");
    const [alpha, risk] = proj(s, "models");
    risk.validation = { ...alpha.validation, signers: ["risk_desk"] };
    const plan = buildAccessPlan(validate(s), "quant_lr");
    assert.deepStrictEqual(plan.branchRules.find((b) => b.branch === "quant_lr")!.signOff, {
      roles: ["consumer", "risk_desk"],
      members: ["grace.lee", "hiro.tanaka", "ines.moreau"],
      approvals: 1,
    });
  });

  it("member by member: each signer holds a sign-off duty on quant_lr and quant_live, through the signer roles", () => {
    const rows = memberGrants(buildAccessPlan(shippedModel(), "quant")).filter((g) => g.permission === "sign-off");
    assert.deepStrictEqual(
      rows.map((g) => `${g.member} ${g.object} via ${g.via}`),
      [
        "grace.lee branch quant_live via consumer",
        "grace.lee branch quant_lr via consumer",
        "hiro.tanaka branch quant_live via consumer",
        "hiro.tanaka branch quant_lr via consumer",
      ],
    );
  });
});

describe("flow graph", () => {
  const flow = shippedModel().flow;
  const branches = ["quant", "quant_stg", "quant_lr", "quant_live"];
  const allowed = new Set(["quant>quant_stg", "quant_stg>quant_lr", "quant_stg>quant_live", "quant_lr>quant_live"]);
  for (const from of branches) {
    for (const to of branches) {
      const ok = allowed.has(`${from}>${to}`);
      it(`${from} -> ${to} is ${ok ? "an edge" : "not an edge"}`, () => assert.strictEqual(isEdge(flow, from, to), ok));
    }
  }
  it("lists allowed targets per source", () => {
    assert.deepStrictEqual(allowedTargets(flow, "quant_stg"), ["quant_lr", "quant_live"]);
    assert.deepStrictEqual(allowedTargets(flow, "quant_live"), []);
  });
  it("finds cycles and only cycles", () => {
    assert.strictEqual(findCycle(flow), undefined);
    assert.deepStrictEqual(findCycle([...flow, { from: "quant_live", to: "quant_stg" }]), [
      "quant_stg",
      "quant_lr",
      "quant_live",
      "quant_stg",
    ]);
  });
});

describe("plan properties (fast-check)", () => {
  const roleNames = ["developer", "approver", "release_manager", "consumer", "admin"];
  const rosterArb = fc.uniqueArray(
    fc.record({
      id: fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/),
      roles: fc.uniqueArray(fc.constantFrom(...roleNames), { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 40, selector: (m) => m.id },
  );
  // Enough approvers that every flow target can be approved by someone other than its author, and a consumer to sign off.
  const reviewers = [
    { id: "fixed-a", roles: ["approver"] },
    { id: "fixed-b", roles: ["approver"] },
    { id: "fixed-c", roles: ["approver", "release_manager"] },
    { id: "fixed-d", roles: ["consumer"] },
  ];
  const withRoster = (roster: { id: string; roles: string[] }[]) => {
    const s = shipped();
    s.project.roster = [...reviewers, ...roster].map((m) => ({ ...m, name: m.id, email: `${m.id}@quantfirm.example`, gitUsername: m.id }));
    return validate(s);
  };

  it("resource names are unique within each kind of entry, for any roster", () => {
    fc.assert(
      fc.property(rosterArb, fc.constantFrom(...STACKS), (roster, stack) => {
        const plan = buildAccessPlan(withRoster(roster), stack);
        for (const entries of [
          plan.groups,
          plan.users,
          plan.memberships,
          plan.workspaceAcls,
          plan.registryAcls,
          plan.gitMembers,
          plan.branchRules,
        ]) {
          const names = entries.map((e) => e.key);
          assert.strictEqual(new Set(names).size, names.length);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("every member of any roster can create Git folders and reach every workspace", () => {
    fc.assert(
      fc.property(rosterArb, fc.constantFrom(...STACKS), (roster, stack) => {
        const grants = memberGrants(buildAccessPlan(withRoster(roster), stack));
        for (const m of roster) {
          assert.ok(grants.some((g) => g.member === m.id && g.permission === "workspace-access"));
          assert.ok(grants.some((g) => g.member === m.id && g.object === "directory /Teams/quant/git" && g.permission === "CAN_MANAGE"));
        }
      }),
      { numRuns: 60 },
    );
  });

  it("production model versions are managed only by release managers and admins, for any roster", () => {
    fc.assert(
      fc.property(rosterArb, fc.constantFrom(...STACKS), (roster, stack) => {
        const model = withRoster(roster);
        const plan = buildAccessPlan(model, stack);
        for (const g of memberGrants(plan).filter(
          (r) =>
            r.permission === "CAN_MANAGE_PRODUCTION_VERSIONS" || (r.object.startsWith("registered model") && r.permission === "CAN_MANAGE"),
        )) {
          const duty = model.roles.find((r) => `quant-${r.name}` === g.via)!.duty;
          assert.ok(duty === "release" || duty === "administer", `${g.member} via ${g.via}`);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("any flow validation accepts has no edge from quant straight to quant_live and no cycle", () => {
    const envs = ["quant", "quant_stg", "quant_lr", "quant_live"];
    const edgeArb = fc.record({ from: fc.constantFrom(...envs), to: fc.constantFrom(...envs) });
    fc.assert(
      fc.property(fc.uniqueArray(edgeArb, { minLength: 1, maxLength: 8, selector: (e) => `${e.from}>${e.to}` }), (edges) => {
        const s = shipped();
        proj(s, "flow").splice(0, 4, ...edges);
        let accepted = true;
        try {
          validate(s);
        } catch {
          accepted = false;
        }
        if (accepted) {
          assert.ok(!edges.some((e) => e.from === "quant" && (e.to === "quant_live" || e.to === "quant_lr")));
          assert.strictEqual(findCycle(edges), undefined);
        }
      }),
      { numRuns: 200 },
    );
  });
});
