import * as assert from "assert";
import { problemsOf, proj, shipped, stackVal } from "../fixtures/config";
import { validate, ConfigError } from "../../config/validate";
import { SECRET_PLACEHOLDER, stackValues } from "../../config/load";
import { buildAccessPlan } from "../../plan/accessPlan";

/** Asserts exactly one problem matches every pattern given. */
function expectProblem(problems: string[], ...patterns: RegExp[]): void {
  const hits = problems.filter((p) => patterns.every((re) => re.test(p)));
  assert.strictEqual(hits.length, 1, `expected one problem matching ${patterns.join(" and ")}; got:\n${problems.join("\n")}`);
}

describe("config validation", () => {
  it("accepts the shipped configuration for every stack", () => {
    for (const stack of ["quant", "quant_stg", "quant_lr"]) {
      const m = validate(shipped(), stack);
      assert.deepStrictEqual(
        m.stacks.map((s) => s.name),
        ["quant", "quant_lr", "quant_stg"],
      );
    }
    const m = validate(shipped());
    assert.ok(m.roster.length >= 8, "the example roster has at least 8 members");
    const duties = new Set(m.roster.flatMap((x) => x.roles).map((r) => m.roles.find((y) => y.name === r)!.duty));
    assert.deepStrictEqual([...duties].sort(), ["administer", "approve", "consume", "develop", "release"]);
  });

  it("rejects a member with an unknown role, naming the member and the known roles", () => {
    const s = shipped();
    proj(s, "roster")[1].roles = ["developer", "quant_wizard"];
    expectProblem(
      problemsOf(s, "quant_stg"),
      /^stack quant_stg: /,
      /Pulumi\.yaml quant-platform:roster\[1\]\.roles\[1\] = "quant_wizard"/,
      /member 'ben\.okafor'/,
      /developer, approver, release_manager, consumer, admin/,
    );
  });

  it("rejects unknown keys at project, stack and nested level", () => {
    const s = shipped();
    s.project.teams = ["x"];
    proj(s, "roster")[0].phone = "123";
    s.stacks.quant.region = { value: "eu", secret: false };
    stackVal(s, "quant_lr", "workspace").hostname = "x";
    const p = problemsOf(s, "quant");
    expectProblem(p, /Pulumi\.yaml quant-platform:teams: unknown key; expected one of: organization, environments/);
    expectProblem(p, /quant-platform:roster\[0\]\.phone: unknown key/);
    expectProblem(p, /^stack quant: Pulumi\.quant\.yaml quant-platform:region: unknown key/);
    expectProblem(
      p,
      /^stack quant_lr: Pulumi\.quant_lr\.yaml quant-platform:workspace\.hostname: unknown key; expected one of: host, branch, registry, scimProvisioned/,
    );
  });

  it("rejects a stack file overriding a shared key", () => {
    const s = shipped();
    s.stacks.quant_stg.roster = { value: [], secret: false };
    expectProblem(
      problemsOf(s),
      /stack quant_stg: Pulumi\.quant_stg\.yaml quant-platform:roster: is shared by all stacks and belongs in Pulumi\.yaml/,
    );
  });

  it("rejects a member without an email", () => {
    const s = shipped();
    delete proj(s, "roster")[3].email;
    expectProblem(problemsOf(s, "quant"), /quant-platform:roster\[3\]\.email = \(missing\)/);
  });

  it("rejects a malformed email, naming the member", () => {
    const s = shipped();
    proj(s, "roster")[3].email = "jonas.berg";
    expectProblem(problemsOf(s, "quant"), /roster\[3\]\.email = "jonas\.berg": expected the email address member 'jonas\.berg'/);
  });

  it("rejects a model, a promotion, a flow edge or a Git folder declared twice, naming the identity", () => {
    const s = shipped();
    const models = proj(s, "models");
    models.push(structuredClone(models[0]));
    models[0].promotions.push({ ...models[0].promotions[0] });
    proj(s, "flow").push({ from: "quant", to: "quant_stg" });
    proj(s, "organization").gitFolders.push({ ...proj(s, "organization").gitFolders[0] });
    const p = problemsOf(s);
    expectProblem(
      p,
      /models\[2\]\.name: model 'quant-alpha-transformer' is declared twice \(as models\[0\] too\); a model is identified by \(name\)/,
    );
    expectProblem(
      p,
      /models\[0\]\.promotions\[2\]: promotes quant -> quant_stg again \(as promotions\[0\]\); a promotion is identified by \(model, from, to\)/,
    );
    expectProblem(p, /flow: edge quant -> quant_stg is declared twice; an edge is identified by \(from, to\)/);
    expectProblem(
      p,
      /organization\.gitFolders\[1\]: Git folder 'quant-research' is declared twice .*identified by \(path\) gitFolder:\/Teams\/quant\/shared\/quant-research/,
    );
  });

  it("rejects the same member twice, by id, email or Git username", () => {
    const s = shipped();
    const r = proj(s, "roster");
    r.push({ ...r[0] });
    r.push({ ...r[1], id: "ben2", gitUsername: "ben2" });
    const p = problemsOf(s, "quant");
    expectProblem(p, /roster\[10\]\.id: member 'ana\.ruiz' has the same id 'ana\.ruiz' as roster\[0\]/);
    expectProblem(p, /roster\[11\]\.email: member 'ben2' has the same email 'ben\.okafor@quantfirm\.example' as roster\[1\]/);
  });

  it("rejects a flow edge to an unknown environment", () => {
    const s = shipped();
    proj(s, "flow").push({ from: "quant_lr", to: "quant_prod" });
    expectProblem(
      problemsOf(s, "quant"),
      /flow\[4\]\.to = "quant_prod": expected a known environment \(quant, quant_stg, quant_lr, quant_live\)/,
    );
  });

  it("rejects a cycle in the flow", () => {
    const s = shipped();
    proj(s, "flow").push({ from: "quant_lr", to: "quant_stg" });
    expectProblem(
      problemsOf(s, "quant"),
      /quant-platform:flow: the flow has a cycle quant_lr -> quant_stg -> quant_lr|quant_stg -> quant_lr -> quant_stg/,
    );
  });

  it("rejects an edge from quant straight to quant_live (dev straight to production)", () => {
    const s = shipped();
    proj(s, "flow").push({ from: "quant", to: "quant_live" });
    expectProblem(problemsOf(s, "quant"), /flow\[4\]: quant -> quant_live goes from development straight to production/);
  });

  it("rejects zero stacks owning the project-wide Git settings", () => {
    const s = shipped();
    stackVal(s, "quant", "git").ownsProjectSettings = false;
    expectProblem(problemsOf(s, "quant"), /no stack owns the project-wide Git settings; expected exactly one/);
  });

  it("rejects more than one stack owning the project-wide Git settings", () => {
    const s = shipped();
    stackVal(s, "quant_lr", "git").ownsProjectSettings = true;
    expectProblem(problemsOf(s, "quant"), /stacks quant, quant_lr all set quant-platform:git\.ownsProjectSettings: true/);
  });

  it("rejects a token given in plaintext, without printing it", () => {
    const s = shipped();
    s.stacks.quant_stg.databricksToken = { value: "dapi0123456789abcdef", secret: false };
    const p = problemsOf(s, "quant_stg");
    expectProblem(p, /stack quant_stg: Pulumi\.quant_stg\.yaml quant-platform:databricksToken: is plaintext; expected a secret/);
    assert.ok(!p.join("\n").includes("dapi0123456789abcdef"), "the token value must never appear in an error");
  });

  it("rejects an OAuth client secret given in plaintext", () => {
    const s = shipped();
    s.stacks.quant_lr.databricksClientId = { value: SECRET_PLACEHOLDER, secret: true };
    s.stacks.quant_lr.databricksClientSecret = { value: "s3cr3t-value", secret: false };
    const p = problemsOf(s, "quant_lr");
    expectProblem(p, /quant-platform:databricksClientSecret: is plaintext; expected a secret/);
    assert.ok(!p.join("\n").includes("s3cr3t-value"));
  });

  it("reads `secure:` values from a stack file as secrets and accepts them", () => {
    const s = shipped();
    s.stacks.quant = { ...s.stacks.quant, ...stackValues({ "quant-platform:databricksToken": { secure: "v1:abc" } }) };
    const m = validate(s, "quant");
    assert.deepStrictEqual(m.stacks.find((x) => x.name === "quant")!.auth, { kind: "token", key: "databricksToken" });
  });

  it("rejects credentials in Pulumi.yaml, which is never encrypted", () => {
    const s = shipped();
    s.project.databricksToken = "dapi-leaked";
    expectProblem(problemsOf(s, "quant"), /Pulumi\.yaml quant-platform:databricksToken: credentials cannot live in Pulumi\.yaml/);
  });

  it("rejects a token set together with an OAuth client, and half an OAuth client", () => {
    const s = shipped();
    s.stacks.quant.databricksToken = { value: SECRET_PLACEHOLDER, secret: true };
    s.stacks.quant.databricksClientId = { value: SECRET_PLACEHOLDER, secret: true };
    s.stacks.quant_stg.databricksClientId = { value: SECRET_PLACEHOLDER, secret: true };
    const p = problemsOf(s, "quant");
    expectProblem(p, /stack quant: .*databricksToken: is set together with an OAuth client/);
    expectProblem(p, /stack quant_stg: .*databricksClientSecret: is missing/);
  });

  it("rejects a configuration with no stacks", () => {
    const s = shipped();
    s.stacks = {};
    expectProblem(problemsOf(s), /^no stacks: expected Pulumi\.<stack>\.yaml files/);
  });

  it("reports every problem at once", () => {
    const s = shipped();
    proj(s, "roster")[0].roles = ["nobody"];
    delete proj(s, "roster")[2].email;
    proj(s, "flow").push({ from: "quant", to: "quant_live" });
    s.stacks.quant_stg.databricksToken = { value: "x", secret: false };
    const err = (() => {
      try {
        validate(s, "quant");
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof ConfigError);
    assert.strictEqual(err.problems.length, 4, err.message);
    assert.match(err.message, /^Invalid quant-platform configuration \(4 problems\):\n - /);
  });

  it("rejects a role that leaves its members without workspace access in some stack", () => {
    const s = shipped();
    proj(s, "roles").consumer.entitlements = { quant: ["workspace-access"], quant_stg: ["workspace-access"] };
    expectProblem(problemsOf(s, "quant"), /roles\.consumer\.entitlements .*workspace-access for stack quant_lr/);
  });

  it("rejects push rights on any branch but the development branch", () => {
    const s = shipped();
    proj(s, "roles").release_manager.git.push = ["quant", "quant_live"];
    expectProblem(problemsOf(s, "quant"), /roles\.release_manager\.git\.push = "quant_live": expected only development branches \(quant\)/);
  });

  it("rejects a flow target that too few members can approve (the author's approval never counts)", () => {
    const s = shipped();
    proj(s, "environments").quant_live.approvals = 4;
    expectProblem(
      problemsOf(s, "quant"),
      /environments\.quant_live\.approvals: merge requests into quant_live need 4 approval\(s\) from someone other than the author, but only 4 member\(s\) may approve \(chen\.wei, dara\.singh, elena\.petrova, farid\.haddad\); expected at least 5/,
    );
  });

  it("rejects a plaintext GitLab token and an unknown Git host URL", () => {
    const s = shipped();
    s.stacks.quant.gitlabToken = { value: "glpat-plain", secret: false };
    stackVal(s, "quant_stg", "git").url = "gitlab.quantfirm.example";
    const p = problemsOf(s, "quant");
    expectProblem(p, /stack quant: .*quant-platform:gitlabToken: is plaintext; expected a secret/);
    expectProblem(p, /stack quant_stg: .*git\.url = "gitlab\.quantfirm\.example": expected the Git host's https root/);
    assert.ok(!p.join("").includes("glpat-plain"));
  });

  it("rejects an unknown branch for a stack and a stack-less per-stack key", () => {
    const s = shipped();
    stackVal(s, "quant_lr", "workspace").branch = "quant_prod";
    proj(s, "roles").developer.registry.quant_dev = "CAN_READ";
    const p = problemsOf(s, "quant");
    expectProblem(p, /stack quant_lr: .*workspace\.branch = "quant_prod": expected one of quant, quant_stg, quant_lr, quant_live/);
    expectProblem(p, /roles\.developer\.registry\.quant_dev: unknown stack; expected one of: quant, quant_lr, quant_stg/);
  });
});

describe("model promotions in validation", () => {
  it("a promotion must follow the flow: quant straight to quant_lr is refused", () => {
    const s = shipped();
    proj(s, "models")[0].promotions.push({ from: "quant", to: "quant_lr", stage: "Production" });
    expectProblem(
      problemsOf(s, "quant_lr"),
      /models\[0\]\.promotions\[2\]: model 'quant-alpha-transformer' is promoted quant -> quant_lr, which is not an edge of the flow/,
    );
  });
  it("a promotion picks exactly one source version, into a stack that lists the model", () => {
    const s = shipped();
    proj(s, "models")[0].promotions[0] = { from: "quant", to: "quant_stg", stage: "Staging", version: "3" };
    proj(s, "models")[1].promotions = [{ from: "quant_stg", to: "quant", stage: "Production" }];
    const p = problemsOf(s, "quant");
    expectProblem(p, /models\[0\]\.promotions\[0\]: expected exactly one of version, alias or stage/);
    expectProblem(p, /models\[1\]\.promotions\[0\]\.to = "quant": expected one of quant_stg, quant_lr/);
  });
  it("a promotion from a workspace registry into a Unity Catalog stack is accepted (the model lives there with aliases)", () => {
    const s = shipped();
    stackVal(s, "quant_lr", "workspace").registry = { flavour: "unity-catalog", catalog: "quant_lr", schema: "models" };
    for (const m of proj(s, "models")) {
      m.lifecycle = "aliases";
      m.stacks = ["quant_lr"];
      m.existingIn = [];
      m.promotions = [{ from: "quant_stg", to: "quant_lr", stage: "Production", setAlias: "champion" }];
    }
    const model = validate(s);
    const lr = buildAccessPlan(model, "quant_lr").migrations;
    assert.deepStrictEqual(
      lr.map((m) => [m.fromUri.split("+")[0], m.fromModel, m.toUri.split("+")[0], m.toModel, m.stageAliases]),
      [
        ["databricks", "quant-alpha-transformer", "databricks-uc", "quant_lr.models.quant-alpha-transformer", { Production: "champion" }],
        ["databricks", "quant-risk-scorer", "databricks-uc", "quant_lr.models.quant-risk-scorer", { Production: "champion" }],
      ],
    );
  });
  it("a stage promoted into Unity Catalog must name the alias it becomes (setAlias); setAlias goes with stage, into a registry with aliases", () => {
    const s = shipped();
    stackVal(s, "quant_lr", "workspace").registry = { flavour: "unity-catalog", catalog: "quant_lr", schema: "models" };
    const [alpha, risk] = proj(s, "models");
    for (const m of [alpha, risk]) Object.assign(m, { lifecycle: "aliases", stacks: ["quant_lr"], existingIn: [] });
    alpha.promotions = [{ from: "quant_stg", to: "quant_lr", stage: "Production" }];
    risk.promotions = [{ from: "quant_stg", to: "quant_lr", version: "3", setAlias: "champion" }];
    const p = problemsOf(s, "quant_lr");
    expectProblem(
      p,
      /models\[0\]\.promotions\[0\]\.setAlias: model 'quant-alpha-transformer' is promoted quant_stg -> quant_lr by stage 'Production', but stack quant_lr uses Unity Catalog.*expected setAlias naming the alias it becomes \(e\.g\. setAlias: champion\)/,
    );
    expectProblem(p, /models\[1\]\.promotions\[0\]\.setAlias: goes with stage/);
    const w = shipped();
    proj(w, "models")[0].promotions[0] = { from: "quant", to: "quant_stg", stage: "Staging", setAlias: "challenger" };
    expectProblem(problemsOf(w, "quant_stg"), /promotions\[0\]\.setAlias: stack quant_stg uses the workspace registry.*remove setAlias/);
  });
});

describe("registry invariants in validation", () => {
  it("no role but admin gets CAN_MANAGE on a model", () => {
    const s = shipped();
    proj(s, "roles").release_manager.registry.quant_lr = "CAN_MANAGE";
    expectProblem(
      problemsOf(s, "quant_lr"),
      /roles\.release_manager\.registry\.quant_lr = "CAN_MANAGE": expected a level below CAN_MANAGE: only a role with duty 'administer'/,
    );
  });

  it("nobody outside release managers and admins manages production versions", () => {
    const s = shipped();
    proj(s, "roles").approver.registry.quant_stg = "CAN_MANAGE_PRODUCTION_VERSIONS";
    proj(s, "roles").developer.registry.quant = "CAN_MANAGE_PRODUCTION_VERSIONS";
    const p = problemsOf(s, "quant");
    expectProblem(
      p,
      /roles\.approver\.registry\.quant_stg = "CAN_MANAGE_PRODUCTION_VERSIONS": expected at most CAN_MANAGE_STAGING_VERSIONS/,
    );
    expectProblem(p, /roles\.developer\.registry\.quant = "CAN_MANAGE_PRODUCTION_VERSIONS"/);
  });

  it("consumers never edit a model", () => {
    const s = shipped();
    proj(s, "roles").consumer.registry.quant_stg = "CAN_EDIT";
    expectProblem(
      problemsOf(s, "quant"),
      /roles\.consumer\.registry\.quant_stg = "CAN_EDIT": expected CAN_READ: consumers validate models and never edit/,
    );
  });

  const workspaceRegistryStacks = (stacks: string[]) =>
    `stack ${stacks.join(" and ")} uses the workspace registry, which has stages but no aliases`;
  const aliasRefusals: { when: string; edit: (s: ReturnType<typeof shipped>) => void; stack: string; patterns: RegExp[] }[] = [
    {
      when: "a model with lifecycle aliases lists a workspace-registry stack",
      edit: (s) => {
        proj(s, "models")[1].lifecycle = "aliases";
      },
      stack: "quant_lr",
      patterns: [
        /^stack quant_lr: Pulumi\.quant_lr\.yaml quant-platform:workspace\.registry\.flavour: is workspace, which has stages but no aliases/,
        /model 'quant-risk-scorer'/,
        /has lifecycle 'aliases' and lists this stack/,
        /expected lifecycle: stages .*, or registry flavour unity-catalog/,
      ],
    },
    {
      when: "a model without lifecycle (aliases by default) lists a workspace-registry stack",
      edit: (s) => {
        delete proj(s, "models")[1].lifecycle;
      },
      stack: "quant_stg",
      patterns: [/^stack quant_stg: .*is workspace/, /model 'quant-risk-scorer'/, /lifecycle 'aliases' \(the default\)/],
    },
    {
      when: "a promotion between two workspace-registry stacks selects by alias",
      edit: (s) => {
        proj(s, "models")[0].promotions[0] = { from: "quant", to: "quant_stg", alias: "champion" };
      },
      stack: "quant",
      patterns: [
        /models\[0\]\.promotions\[0\]\.alias: model 'quant-alpha-transformer' is promoted quant -> quant_stg by alias 'champion'/,
        new RegExp(workspaceRegistryStacks(["quant", "quant_stg"])),
        /expected stage \(e\.g\. stage: Production\) or version, or registry flavour unity-catalog on quant and quant_stg/,
      ],
    },
    {
      when: "a promotion out of a workspace-registry stack into Unity Catalog selects by alias",
      edit: (s) => {
        stackVal(s, "quant_lr", "workspace").registry = { flavour: "unity-catalog", catalog: "quant_lr", schema: "models" };
        proj(s, "models")[0].lifecycle = "stages";
        proj(s, "models")[0].promotions[1] = { from: "quant_stg", to: "quant_lr", alias: "champion" };
      },
      stack: "quant_lr",
      patterns: [
        /promotions\[1\]\.alias: model 'quant-alpha-transformer' is promoted quant_stg -> quant_lr by alias 'champion'/,
        new RegExp(workspaceRegistryStacks(["quant_stg"])),
      ],
    },
  ];
  for (const t of aliasRefusals) {
    it(`the workspace registry has no aliases: ${t.when} is refused, naming the model, the stack and both fixes`, () => {
      const s = shipped();
      t.edit(s);
      expectProblem(problemsOf(s, t.stack), ...t.patterns);
    });
  }

  it("the workspace registry's stages are accepted: the shipped models promote by stage", () => {
    const m = validate(shipped(), "quant_stg");
    assert.deepStrictEqual(
      m.models.map((x) => [x.name, x.lifecycle, x.promotions.map((p) => p.select)]),
      [
        ["quant-alpha-transformer", "stages", [{ stage: "Staging" }, { stage: "Production" }]],
        ["quant-risk-scorer", "stages", []],
      ],
    );
  });

  it("a model with stages listed for a Unity Catalog stack is an error", () => {
    const s = shipped();
    stackVal(s, "quant_lr", "workspace").registry = { flavour: "unity-catalog", catalog: "quant_lr", schema: "models" };
    proj(s, "models")[1].lifecycle = "stages";
    expectProblem(
      problemsOf(s, "quant_lr"),
      /stack quant_lr: .*workspace\.registry\.flavour: is unity-catalog, which has aliases but no stages, yet model 'quant-risk-scorer'/,
    );
  });

  it("Unity Catalog needs a catalog and schema; the workspace registry takes neither", () => {
    const s = shipped();
    stackVal(s, "quant_lr", "workspace").registry = { flavour: "unity-catalog" };
    stackVal(s, "quant_stg", "workspace").registry = { flavour: "workspace", catalog: "x" };
    const p = problemsOf(s, "quant");
    expectProblem(p, /stack quant_lr: .*workspace\.registry\.catalog = \(missing\)/);
    expectProblem(p, /stack quant_stg: .*workspace\.registry\.catalog: only applies to flavour unity-catalog/);
  });

  it("workspace.retryTimeoutSeconds: a positive whole number reaches the stack; anything else is refused, named", () => {
    const s = shipped();
    stackVal(s, "quant", "workspace").retryTimeoutSeconds = 5;
    assert.strictEqual(validate(s, "quant").stacks.find((x) => x.name === "quant")!.retryTimeoutSeconds, 5);
    assert.strictEqual(validate(shipped(), "quant").stacks.find((x) => x.name === "quant")!.retryTimeoutSeconds, undefined);
    for (const bad of [0, -3, 2.5, "5"]) {
      const t = shipped();
      stackVal(t, "quant_stg", "workspace").retryTimeoutSeconds = bad;
      expectProblem(
        problemsOf(t, "quant_stg"),
        /stack quant_stg: Pulumi\.quant_stg\.yaml quant-platform:workspace\.retryTimeoutSeconds = .*: expected a positive whole number/,
      );
    }
  });
});
