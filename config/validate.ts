import {
  AccessModel,
  DatabricksAuth,
  DUTIES,
  Duty,
  ENTITLEMENTS,
  Entitlement,
  Environment,
  FlowEdge,
  GIT_ACCESS_LEVELS,
  GIT_PROVIDERS,
  GIT_TIERS,
  GitAccess,
  GitTier,
  GitFolder,
  GitProvider,
  ManagedModel,
  Member,
  MODEL_LIFECYCLES,
  ModelLifecycle,
  Organization,
  PerStack,
  PROJECT,
  Promotion,
  REGISTRY_FLAVOURS,
  REGISTRY_LEVELS,
  RegistryConfig,
  RegistryLevel,
  Role,
  Selection,
  StackConfig,
  TIERS,
  Tier,
  UC_MODEL_PRIVILEGES,
  UcModelPrivilege,
  Validation,
  WORKSPACE_LEVELS,
  WorkspaceLevel,
} from "./schema";
import { ConfigEntry, ConfigSources } from "./load";
import { findCycle, isEdge, sourcesOf } from "./flow";
import { duplicates, EntryKind, identityOf } from "./identity";

/** Every problem found in configuration, reported at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid ${PROJECT} configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n - ${problems.join("\n - ")}`,
    );
    this.name = "ConfigError";
  }
}

const PROJECT_KEYS = ["organization", "environments", "flow", "roles", "roster", "models"] as const;
const SECRET_KEYS = [
  "databricksToken",
  "databricksClientId",
  "databricksClientSecret",
  "gitlabToken",
  "githubToken",
  "migrationSourceToken",
] as const;
const STACK_KEYS = ["workspace", "git", ...SECRET_KEYS] as const;
const DATABRICKS_GIT_PROVIDERS = [
  "gitHub",
  "gitHubEnterprise",
  "gitLab",
  "gitLabEnterpriseEdition",
  "bitbucketCloud",
  "bitbucketServer",
  "azureDevOpsServices",
  "awsCodeCommit",
];

function show(v: unknown): string {
  if (v === undefined) return "(missing)";
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Where a problem is: which stack, which file, and a key path below the project namespace. */
class Ctx {
  constructor(
    readonly problems: string[],
    readonly stack: string,
    readonly file: string,
  ) {}
  bad(keyPath: string, value: unknown, expected: string): void {
    this.problems.push(`stack ${this.stack}: ${this.file} ${PROJECT}:${keyPath} = ${show(value)}: expected ${expected}`);
  }
  say(keyPath: string, message: string): void {
    this.problems.push(`stack ${this.stack}: ${this.file} ${PROJECT}:${keyPath}: ${message}`);
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function obj(c: Ctx, p: string, v: unknown, required: string[], optional: string[] = []): Record<string, unknown> | undefined {
  if (!isObj(v)) {
    c.bad(p, v, `an object with keys ${[...required, ...optional].join(", ")}`);
    return undefined;
  }
  // Missing required keys are reported by the reader of each field, which knows what was expected.
  const known = new Set([...required, ...optional]);
  for (const k of Object.keys(v)) {
    if (!known.has(k)) c.say(`${p}.${k}`, `unknown key; expected one of: ${[...known].join(", ")}`);
  }
  return v;
}

function str(c: Ctx, p: string, v: unknown, what: string, re?: RegExp): string | undefined {
  if (typeof v !== "string" || v.length === 0 || (re && !re.test(v))) {
    c.bad(p, v, what);
    return undefined;
  }
  return v;
}

function oneOf<T extends string>(c: Ctx, p: string, v: unknown, values: readonly T[]): T | undefined {
  if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
    c.bad(p, v, `one of ${values.join(", ")}`);
    return undefined;
  }
  return v as T;
}

function bool(c: Ctx, p: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") {
    c.bad(p, v, "true or false");
    return dflt;
  }
  return v;
}

function list<T>(c: Ctx, p: string, v: unknown, item: (x: unknown, p: string) => T | undefined, allowEmpty = true): T[] {
  if (v === undefined && allowEmpty) return [];
  if (!Array.isArray(v) || (!allowEmpty && v.length === 0)) {
    c.bad(p, v, allowEmpty ? "a list" : "a non-empty list");
    return [];
  }
  return v.map((x, i) => item(x, `${p}[${i}]`)).filter((x): x is T => x !== undefined);
}

/**
 * A value that is either the same for every stack, or a map from stack name to value.
 * Stacks left out of a map get nothing.
 */
function perStack<T>(c: Ctx, p: string, v: unknown, stacks: string[], item: (x: unknown, p: string) => T | undefined): PerStack<T> {
  const out: PerStack<T> = {};
  if (v === undefined) return out;
  if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (!stacks.includes(k)) {
        c.say(`${p}.${k}`, `unknown stack; expected one of: ${stacks.join(", ")}`);
        continue;
      }
      out[k] = item(x, `${p}.${k}`);
    }
    return out;
  }
  const one = item(v, p);
  for (const s of stacks) out[s] = one;
  return out;
}

const rank = <T extends string>(levels: readonly T[], l: T | undefined) => (l === undefined ? -1 : levels.indexOf(l));

function validateOrganization(c: Ctx, v: unknown): Organization | undefined {
  const o = obj(
    c,
    "organization",
    v,
    ["groupPrefix", "gitFolderRoot", "sharedGitFolderRoot", "experimentFolder", "ucPrivileges"],
    ["gitFolders"],
  );
  if (!o) return undefined;
  const absPath = /^\/[^\s]*[^/]$/;
  const gitFolders = list<GitFolder>(c, "organization.gitFolders", o.gitFolders, (x, p) => {
    const g = obj(c, p, x, ["name", "url", "provider"]);
    if (!g) return undefined;
    const name = str(c, `${p}.name`, g.name, "a folder name of letters, digits, '.', '_' or '-'", /^[A-Za-z0-9._-]+$/);
    const url = str(c, `${p}.url`, g.url, "an https URL of a Git repository", /^https:\/\/\S+$/);
    const provider = oneOf(c, `${p}.provider`, g.provider, DATABRICKS_GIT_PROVIDERS);
    return name && url && provider ? { name, url, provider } : undefined;
  });
  const ucPrivileges = {} as Record<RegistryLevel, UcModelPrivilege[]>;
  const up = obj(c, "organization.ucPrivileges", o.ucPrivileges, [...REGISTRY_LEVELS]);
  if (up) {
    for (const level of REGISTRY_LEVELS) {
      ucPrivileges[level] = list(c, `organization.ucPrivileges.${level}`, up[level], (x, p) => oneOf(c, p, x, UC_MODEL_PRIVILEGES), false);
    }
  }
  const groupPrefix = str(c, "organization.groupPrefix", o.groupPrefix, "a group name prefix such as 'quant-'", /^[A-Za-z0-9._-]+$/);
  const gitFolderRoot = str(
    c,
    "organization.gitFolderRoot",
    o.gitFolderRoot,
    "an absolute workspace path such as /Teams/quant/git",
    absPath,
  );
  const sharedGitFolderRoot = str(
    c,
    "organization.sharedGitFolderRoot",
    o.sharedGitFolderRoot,
    "an absolute workspace path such as /Teams/quant/shared",
    absPath,
  );
  if (gitFolderRoot && sharedGitFolderRoot && (sharedGitFolderRoot + "/").startsWith(gitFolderRoot + "/")) {
    c.bad(
      "organization.sharedGitFolderRoot",
      sharedGitFolderRoot,
      `a folder outside gitFolderRoot (${gitFolderRoot}), whose CAN_MANAGE every shared Git folder would otherwise inherit`,
    );
  }
  // Shared Git folders all sit in sharedGitFolderRoot, so their planned paths differ exactly when their names do.
  for (const d of duplicates(
    "gitFolder",
    gitFolders.map((g) => ({ path: `${sharedGitFolderRoot ?? ""}/${g.name}` })),
  )) {
    c.say(
      `organization.gitFolders[${d.index}]`,
      `Git folder '${gitFolders[d.index].name}' is declared twice (as organization.gitFolders[${d.first}] too); a Git folder is identified by ${identityOf("gitFolder")} ${d.key}`,
    );
  }
  const experimentFolder = str(
    c,
    "organization.experimentFolder",
    o.experimentFolder,
    "an absolute workspace path such as /Teams/quant/experiments",
    absPath,
  );
  if (!groupPrefix || !gitFolderRoot || !sharedGitFolderRoot || !experimentFolder) return undefined;
  return { groupPrefix, gitFolderRoot, sharedGitFolderRoot, experimentFolder, gitFolders, ucPrivileges };
}

function validateEnvironments(c: Ctx, v: unknown): Environment[] {
  if (!isObj(v) || Object.keys(v).length === 0) {
    c.bad("environments", v, "a map from environment (branch) name to { tier, approvals }");
    return [];
  }
  const out: Environment[] = [];
  for (const [name, x] of Object.entries(v)) {
    const p = `environments.${name}`;
    if (!/^[A-Za-z0-9._-]+$/.test(name)) c.say(p, "an environment name is a Git branch name of letters, digits, '.', '_' or '-'");
    const e = obj(c, p, x, ["tier"], ["approvals"]);
    if (!e) continue;
    const tier = oneOf<Tier>(c, `${p}.tier`, e.tier, TIERS);
    let approvals = 1;
    if (e.approvals !== undefined) {
      if (typeof e.approvals !== "number" || !Number.isInteger(e.approvals) || e.approvals < 1) {
        c.bad(`${p}.approvals`, e.approvals, "a whole number of at least 1 (the author's own approval never counts)");
      } else approvals = e.approvals;
    }
    if (tier) out.push({ name, tier, approvals });
  }
  return out;
}

function validateFlow(c: Ctx, v: unknown, envs: Environment[]): FlowEdge[] {
  const names = envs.map((e) => e.name);
  const tier = (n: string) => envs.find((e) => e.name === n)?.tier;
  const edges = list<FlowEdge>(
    c,
    "flow",
    v,
    (x, p) => {
      const e = obj(c, p, x, ["from", "to"]);
      if (!e) return undefined;
      let ok = true;
      for (const end of ["from", "to"] as const) {
        if (typeof e[end] !== "string" || !names.includes(e[end] as string)) {
          c.bad(`${p}.${end}`, e[end], `a known environment (${names.join(", ")})`);
          ok = false;
        }
      }
      if (!ok) return undefined;
      const edge = { from: e.from as string, to: e.to as string };
      if (edge.from === edge.to) {
        c.say(p, `${edge.from} -> ${edge.to} promotes an environment into itself; expected two different environments`);
        return undefined;
      }
      if (tier(edge.from) === "development" && tier(edge.to) === "production") {
        c.say(
          p,
          `${edge.from} -> ${edge.to} goes from development straight to production; expected a path through staging (for example ${edge.from} -> quant_stg -> ${edge.to})`,
        );
        return undefined;
      }
      return edge;
    },
    false,
  );
  for (const d of duplicates("flowEdge", edges)) {
    c.say(
      "flow",
      `edge ${edges[d.index].from} -> ${edges[d.index].to} is declared twice; an edge is identified by ${identityOf("flowEdge")}`,
    );
  }
  const cycle = findCycle(edges);
  if (cycle) c.say("flow", `the flow has a cycle ${cycle.join(" -> ")}; expected promotions that only move forward`);
  return edges;
}

function validateRoles(c: Ctx, v: unknown, stacks: string[], envs: Environment[]): Role[] {
  if (!isObj(v) || Object.keys(v).length === 0) {
    c.bad("roles", v, "a map from role name to its grants");
    return [];
  }
  const envNames = envs.map((e) => e.name);
  const roles: Role[] = [];
  for (const [name, x] of Object.entries(v)) {
    const p = `roles.${name}`;
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) c.say(p, "a role name is lower case letters, digits, '_' or '-'");
    const r = obj(c, p, x, ["duty", "description", "git"], ["entitlements", "sharedGitFolders", "experiments", "registry"]);
    if (!r) continue;
    const duty = oneOf<Duty>(c, `${p}.duty`, r.duty, DUTIES);
    const description = str(c, `${p}.description`, r.description, "a sentence saying what the role is for") ?? "";
    const wsLevel = (x: unknown, q: string) => oneOf<WorkspaceLevel>(c, q, x, WORKSPACE_LEVELS);
    const entitlements = perStack(c, `${p}.entitlements`, r.entitlements, stacks, (x, q) =>
      list<Entitlement>(c, q, x, (y, q2) => oneOf(c, q2, y, ENTITLEMENTS)),
    );
    const registry = perStack(c, `${p}.registry`, r.registry, stacks, (x, q) => oneOf<RegistryLevel>(c, q, x, REGISTRY_LEVELS));
    const g = obj(c, `${p}.git`, r.git, ["access"], ["push", "merge", "approve"]);
    const branches = (k: "push" | "merge" | "approve") => list<string>(c, `${p}.git.${k}`, g?.[k], (y, q) => oneOf(c, q, y, envNames));
    const git = {
      access:
        (g ? oneOf<GitAccess>(c, `${p}.git.access`, g.access, Object.keys(GIT_ACCESS_LEVELS) as GitAccess[]) : undefined) ?? "developer",
      push: branches("push"),
      merge: branches("merge"),
      approve: branches("approve"),
    };
    if (!duty) continue;
    const role: Role = {
      name,
      duty,
      description,
      entitlements,
      registry,
      git,
      sharedGitFolders: perStack(c, `${p}.sharedGitFolders`, r.sharedGitFolders, stacks, wsLevel),
      experiments: perStack(c, `${p}.experiments`, r.experiments, stacks, wsLevel),
    };
    // Every member reaches every workspace: the mission's first promise.
    for (const s of stacks) {
      if (!(entitlements[s] ?? []).includes("workspace-access")) {
        c.bad(
          `${p}.entitlements`,
          r.entitlements,
          `a list that includes workspace-access for stack ${s}: every member of role '${name}' must reach every workspace`,
        );
      }
    }
    // Registry invariants: stated on duties so that renaming a role cannot weaken them.
    for (const [stack, level] of Object.entries(registry)) {
      if (!level) continue;
      const q = `${p}.registry.${stack}`;
      if (level === "CAN_MANAGE" && duty !== "administer") {
        c.bad(
          q,
          level,
          `a level below CAN_MANAGE: only a role with duty 'administer' may manage a registered model (role '${name}' has duty '${duty}')`,
        );
      } else if (
        rank(REGISTRY_LEVELS, level) >= rank(REGISTRY_LEVELS, "CAN_MANAGE_PRODUCTION_VERSIONS") &&
        duty !== "release" &&
        duty !== "administer"
      ) {
        c.bad(
          q,
          level,
          `at most CAN_MANAGE_STAGING_VERSIONS: only release managers and admins manage production versions (role '${name}' has duty '${duty}')`,
        );
      }
      if (duty === "consume" && level !== "CAN_READ") {
        c.bad(q, level, `CAN_READ: consumers validate models and never edit them (role '${name}')`);
      }
    }
    // Changes enter the repository only through the development branch.
    for (const b of git.push) {
      const t = envs.find((e) => e.name === b)?.tier;
      if (t && t !== "development") {
        c.bad(
          `${p}.git.push`,
          b,
          `only development branches (${envs
            .filter((e) => e.tier === "development")
            .map((e) => e.name)
            .join(", ")}): changes are pushed to the development branch and promoted by merge request`,
        );
      }
    }
    roles.push(role);
  }
  return roles;
}

function validateRoster(c: Ctx, v: unknown, roleNames: string[]): Member[] {
  const members = list<Member>(
    c,
    "roster",
    v,
    (x, p) => {
      const m = obj(c, p, x, ["id", "name", "email", "gitUsername", "roles"]);
      if (!m) return undefined;
      const id = str(c, `${p}.id`, m.id, "a member id of lower case letters, digits, '.', '_' or '-'", /^[a-z][a-z0-9._-]*$/);
      const who = id ? `member '${id}'` : p;
      const name = str(c, `${p}.name`, m.name, `the display name of ${who}`);
      const email = str(
        c,
        `${p}.email`,
        m.email,
        `the email address ${who} signs in to Databricks with, like name@example.com`,
        /^[^@\s]+@[^@\s]+\.[^@\s]+$/,
      );
      const gitUsername = str(c, `${p}.gitUsername`, m.gitUsername, `the Git username of ${who}`, /^[A-Za-z0-9][A-Za-z0-9._-]*$/);
      const roles = list<string>(
        c,
        `${p}.roles`,
        m.roles,
        (r, q) => {
          if (typeof r !== "string" || !roleNames.includes(r)) {
            c.bad(q, r, `a known role for ${who} (${roleNames.join(", ")})`);
            return undefined;
          }
          return r;
        },
        false,
      );
      if (!id || !name || !email || !gitUsername) return undefined;
      return { id, name, email: email.toLowerCase(), gitUsername, roles: [...new Set(roles)] };
    },
    false,
  );
  // A member is identified three ways: by id (the roster), email (Databricks user) and gitUsername (Git
  // member). Each must be unique; compared case-insensitively, as Databricks and GitLab compare them.
  const identities: [EntryKind, "id" | "email" | "gitUsername"][] = [
    ["member", "id"],
    ["user", "email"],
    ["gitMember", "gitUsername"],
  ];
  for (const [kind, field] of identities) {
    for (const d of duplicates(
      kind,
      members.map((m) => ({ [field]: m[field].toLowerCase() })),
    )) {
      const m = members[d.index];
      c.say(
        `roster[${d.index}].${field}`,
        `member '${m.id}' has the same ${field} '${m[field]}' as roster[${d.first}]; a member appears once (id, email and gitUsername are each unique)`,
      );
    }
  }
  return members;
}

function validateModels(c: Ctx, v: unknown, stacks: string[]): ManagedModel[] {
  const models = list<ManagedModel>(c, "models", v, (x, p) => {
    const m = obj(c, p, x, ["name", "stacks"], ["lifecycle", "existingIn", "promotions", "selection", "validation"]);
    if (!m) return undefined;
    const name = str(c, `${p}.name`, m.name, "a registered model name without '.', '/' or spaces", /^[A-Za-z0-9_-]+$/);
    const lifecycle: ModelLifecycle =
      m.lifecycle === undefined ? "aliases" : (oneOf(c, `${p}.lifecycle`, m.lifecycle, MODEL_LIFECYCLES) ?? "aliases");
    const inStacks = list<string>(c, `${p}.stacks`, m.stacks, (y, q) => oneOf(c, q, y, stacks), false);
    const existingIn = list<string>(c, `${p}.existingIn`, m.existingIn, (y, q) => {
      if (typeof y !== "string" || !inStacks.includes(y)) {
        c.bad(q, y, `one of the model's own stacks (${inStacks.join(", ")})`);
        return undefined;
      }
      return y;
    });
    const promotions = list<Promotion>(c, `${p}.promotions`, m.promotions, (y, q) => {
      const pr = obj(c, q, y, ["from", "to"], ["version", "alias", "stage", "setAlias"]);
      if (!pr) return undefined;
      const from = oneOf(c, `${q}.from`, pr.from, stacks);
      const to = oneOf(c, `${q}.to`, pr.to, inStacks);
      const sel = (["version", "alias", "stage"] as const).filter((k) => pr[k] !== undefined);
      if (sel.length !== 1) {
        c.say(q, "expected exactly one of version, alias or stage to pick the source version");
        return undefined;
      }
      const value = str(c, `${q}.${sel[0]}`, pr[sel[0]] === undefined ? undefined : String(pr[sel[0]]), `a ${sel[0]}`);
      const setAlias =
        pr.setAlias === undefined
          ? undefined
          : str(c, `${q}.setAlias`, pr.setAlias, "an alias name (letters, digits, '_' or '-')", /^[\w-]+$/);
      if (setAlias && sel[0] !== "stage") c.say(`${q}.setAlias`, "goes with stage: it names the alias the stage becomes in the target");
      if (!from || !to || !value) return undefined;
      return { from, to, select: { [sel[0]]: value } as Promotion["select"], ...(setAlias ? { setAlias } : {}) };
    });
    for (const d of duplicates(
      "migration",
      promotions.map((pr) => ({ model: name, from: pr.from, to: pr.to })),
    )) {
      c.say(
        `${p}.promotions[${d.index}]`,
        `promotes ${promotions[d.index].from} -> ${promotions[d.index].to} again (as promotions[${d.first}]); a promotion is identified by ${identityOf("migration")}`,
      );
    }
    const selection = m.selection === undefined ? undefined : validateSelection(c, `${p}.selection`, m.selection);
    const validation = m.validation === undefined ? undefined : validateValidation(c, `${p}.validation`, m.validation, stacks);
    return name
      ? {
          name,
          lifecycle,
          stacks: inStacks,
          existingIn,
          promotions,
          ...(selection ? { selection } : {}),
          ...(validation ? { validation } : {}),
        }
      : undefined;
  });
  for (const d of duplicates("model", models)) {
    c.say(
      `models[${d.index}].name`,
      `model '${models[d.index].name}' is declared twice (as models[${d.first}] too); a model is identified by ${identityOf("model")}`,
    );
  }
  return models;
}

function num(c: Ctx, p: string, v: unknown, what: string): number | undefined {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    c.bad(p, v, what);
    return undefined;
  }
  return v;
}

const METRIC = /^[\w./ -]+$/;

function validateSelection(c: Ctx, p: string, v: unknown): Selection | undefined {
  const s = obj(c, p, v, ["metric"], ["mode", "minimum"]);
  if (!s) return undefined;
  const metric = str(c, `${p}.metric`, s.metric, "the name of a run metric (e.g. precision)", METRIC);
  const mode = s.mode === undefined ? "max" : oneOf(c, `${p}.mode`, s.mode, ["max", "min"] as const);
  const minimum = s.minimum === undefined ? undefined : num(c, `${p}.minimum`, s.minimum, "a number (e.g. 0.8)");
  if (!metric || !mode || (s.minimum !== undefined && minimum === undefined)) return undefined;
  return { metric, mode, ...(minimum !== undefined ? { minimum } : {}) };
}

/** Structure only: which stacks and roles it may name is checked against the whole model in `validate`. */
function validateValidation(c: Ctx, p: string, v: unknown, stacks: string[]): Validation | undefined {
  const s = obj(c, p, v, ["in", "metric", "threshold", "signers"]);
  if (!s) return undefined;
  const inStack = oneOf(c, `${p}.in`, s.in, stacks);
  const metric = str(c, `${p}.metric`, s.metric, "the name of the metric the consumer's evaluation reports (e.g. precision)", METRIC);
  const threshold = num(c, `${p}.threshold`, s.threshold, "a number the metric must reach (e.g. 0.8)");
  const signers = list<string>(c, `${p}.signers`, s.signers, (x, q) => str(c, q, x, "a role name"), false);
  if (!inStack || !metric || threshold === undefined || signers.length === 0) return undefined;
  return { in: inStack, metric, threshold, signers };
}

/**
 * A model's validation against the rest of the model: signers are roles with duty `consume` that can do what
 * validating takes in its stack (log a run in the experiment folder, request a transition), and the stack is one
 * the model passes through before production: a production promotion of the model starts there.
 */
function checkValidation(
  c: Ctx,
  p: string,
  m: ManagedModel,
  roles: Role[],
  members: Member[],
  stacks: StackConfig[],
  environments: Environment[],
): void {
  const v = m.validation;
  if (!v) return;
  const tierOf = (stack: string) => environments.find((e) => e.name === stacks.find((s) => s.name === stack)?.branch)?.tier;
  v.signers.forEach((name, i) => {
    const role = roles.find((r) => r.name === name);
    if (!role) return c.bad(`${p}.signers[${i}]`, name, `a role; expected one of: ${roles.map((r) => r.name).join(", ")}`);
    if (role.duty !== "consume")
      return c.bad(
        `${p}.signers[${i}]`,
        name,
        `a role with duty 'consume' (the consumers who validate and sign off); role '${name}' has duty '${role.duty}'${
          roles.some((r) => r.duty === "consume")
            ? ` (roles with duty consume: ${roles
                .filter((r) => r.duty === "consume")
                .map((r) => r.name)
                .join(", ")})`
            : ""
        }`,
      );
    if (rank(WORKSPACE_LEVELS, role.experiments[v.in]) < rank(WORKSPACE_LEVELS, "CAN_EDIT"))
      c.say(
        `${p}.signers[${i}]`,
        `role '${name}' validates in ${v.in} but has ${role.experiments[v.in] ?? "no"} experiments access there; expected roles.${name}.experiments.${v.in}: CAN_EDIT or more, to log the validation run`,
      );
    if (role.registry[v.in] === undefined)
      c.say(
        `${p}.signers[${i}]`,
        `role '${name}' signs off in ${v.in} but has no registry access there; expected roles.${name}.registry.${v.in}: CAN_READ (the level that may request a stage transition)`,
      );
  });
  const known = v.signers.filter((name) => roles.some((r) => r.name === name && r.duty === "consume"));
  if (known.length === v.signers.length && !members.some((x) => x.roles.some((r) => known.includes(r))))
    c.say(
      `${p}.signers`,
      `no roster member holds a signer role (${known.join(", ")}): nobody could validate or sign off; expected at least one`,
    );
  const production = m.promotions.filter((pr) => tierOf(pr.to) === "production" && tierOf(pr.from) !== "production");
  const sources = [...new Set(production.map((pr) => pr.from))];
  const before = [...new Set([...m.stacks, ...m.promotions.map((pr) => pr.from)])].filter((st) => tierOf(st) !== "production");
  if (tierOf(v.in) === "production" || (sources.length > 0 && !sources.includes(v.in)))
    c.bad(
      `${p}.in`,
      v.in,
      `a stack model '${m.name}' passes through before production: ${sources.length ? `where its production promotions start (${sources.join(", ")})` : `one of ${before.join(", ") || "(none)"}`}`,
    );
  else if (sources.length > 1)
    c.say(
      `${p}.in`,
      `model '${m.name}' is promoted into production from ${sources.join(" and ")}, but validated only in ${v.in}: a promotion from elsewhere would pass unvalidated; expected its production promotions to start in ${v.in}`,
    );
}

function secretKey(c: Ctx, values: Record<string, ConfigEntry>, key: string): boolean {
  const e = values[key];
  if (e === undefined) return false;
  if (!e.secret) {
    c.say(
      key,
      `is plaintext; expected a secret: run \`pulumi config set --secret ${PROJECT}:${key} <value> -s ${c.stack}\` (the value is not shown here)`,
    );
  }
  return true;
}

function validateStack(
  problems: string[],
  name: string,
  values: Record<string, ConfigEntry>,
  envs: Environment[],
): StackConfig | undefined {
  const c = new Ctx(problems, name, `Pulumi.${name}.yaml`);
  for (const k of Object.keys(values)) {
    if ((PROJECT_KEYS as readonly string[]).includes(k)) {
      c.say(k, "is shared by all stacks and belongs in Pulumi.yaml; a stack file may not override it");
    } else if (!(STACK_KEYS as readonly string[]).includes(k)) {
      const hint = /token|secret|password|key/i.test(k)
        ? "; credentials go in databricksToken or databricksClientId/databricksClientSecret, as secrets"
        : "";
      c.say(k, `unknown key; expected one of: ${STACK_KEYS.join(", ")}${hint}`);
    }
  }
  const envNames = envs.map((e) => e.name);
  const w = obj(c, "workspace", values.workspace?.value, ["host", "branch", "registry"], ["scimProvisioned", "retryTimeoutSeconds"]);
  const gitV = obj(c, "git", values.git?.value, ["provider", "project"], ["url", "ownsProjectSettings", "tier"]);
  const host = w
    ? str(c, "workspace.host", w.host, "the workspace URL, https://<workspace>.cloud.databricks.com", /^https:\/\/[^\s/]+\/?$/)
    : undefined;
  const branch = w ? oneOf(c, "workspace.branch", w.branch, envNames) : undefined;
  let registry: RegistryConfig | undefined;
  if (w) {
    const r = obj(c, "workspace.registry", w.registry, ["flavour"], ["catalog", "schema"]);
    const flavour = r ? oneOf(c, "workspace.registry.flavour", r.flavour, REGISTRY_FLAVOURS) : undefined;
    if (flavour === "workspace") {
      for (const k of ["catalog", "schema"])
        if (r![k] !== undefined) c.say(`workspace.registry.${k}`, "only applies to flavour unity-catalog");
      registry = { flavour };
    } else if (flavour === "unity-catalog") {
      const ident = /^[A-Za-z0-9_]+$/;
      const catalog = str(c, "workspace.registry.catalog", r!.catalog, "the Unity Catalog catalog that holds the models", ident);
      const schema = str(c, "workspace.registry.schema", r!.schema, "the Unity Catalog schema that holds the models", ident);
      if (catalog && schema) registry = { flavour, catalog, schema };
    }
  }
  const scimProvisioned = w ? bool(c, "workspace.scimProvisioned", w.scimProvisioned, false) : false;
  const retryTimeoutSeconds = w?.retryTimeoutSeconds;
  if (
    retryTimeoutSeconds !== undefined &&
    !(typeof retryTimeoutSeconds === "number" && Number.isInteger(retryTimeoutSeconds) && retryTimeoutSeconds > 0)
  ) {
    c.bad(
      "workspace.retryTimeoutSeconds",
      retryTimeoutSeconds,
      "a positive whole number of seconds the Databricks provider retries a failing call (its default is 300)",
    );
  }
  const provider = gitV ? oneOf<GitProvider>(c, "git.provider", gitV.provider, GIT_PROVIDERS) : undefined;
  const project = gitV
    ? str(c, "git.project", gitV.project, "the Git project path, like group/repository", /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/)
    : undefined;
  const ownsProjectSettings = gitV ? bool(c, "git.ownsProjectSettings", gitV.ownsProjectSettings, false) : false;
  // The GitLab tier, pinned instead of detected from the API (a pin the instance contradicts fails the run).
  const tier = gitV?.tier === undefined ? undefined : oneOf<GitTier>(c, "git.tier", gitV.tier, GIT_TIERS);
  if (tier && provider === "github")
    c.say("git.tier", "only applies to provider gitlab (GitLab Free, Premium or Ultimate); remove it for GitHub");
  const defaultUrl = provider === "github" ? "https://github.com" : "https://gitlab.com";
  const gitUrl =
    gitV?.url === undefined
      ? defaultUrl
      : str(c, "git.url", gitV.url, "the Git host's https root, like https://gitlab.example.com", /^https:\/\/[^\s/]+\/?$/);
  secretKey(c, values, "gitlabToken");
  secretKey(c, values, "githubToken");
  secretKey(c, values, "migrationSourceToken");

  const hasToken = secretKey(c, values, "databricksToken");
  const hasId = secretKey(c, values, "databricksClientId");
  const hasSecret = secretKey(c, values, "databricksClientSecret");
  let auth: DatabricksAuth = { kind: "environment" };
  if (hasToken && (hasId || hasSecret)) {
    c.say(
      "databricksToken",
      "is set together with an OAuth client; expected either a token or databricksClientId + databricksClientSecret",
    );
  } else if (hasId !== hasSecret) {
    c.say(
      hasId ? "databricksClientSecret" : "databricksClientId",
      "is missing; an OAuth M2M client needs both databricksClientId and databricksClientSecret",
    );
  } else if (hasToken) {
    auth = { kind: "token", key: "databricksToken" };
  } else if (hasId) {
    auth = { kind: "oauth-m2m", clientIdKey: "databricksClientId", clientSecretKey: "databricksClientSecret" };
  }
  if (!host || !branch || !registry || !provider || !project || !gitUrl) return undefined;
  return {
    name,
    host: host.replace(/\/$/, ""),
    branch,
    registry,
    scimProvisioned,
    auth,
    ...(typeof retryTimeoutSeconds === "number" && Number.isInteger(retryTimeoutSeconds) && retryTimeoutSeconds > 0
      ? { retryTimeoutSeconds }
      : {}),
    git: { provider, url: gitUrl.replace(/\/$/, ""), project, ownsProjectSettings, ...(tier ? { tier } : {}) },
  };
}

/**
 * Validates all configuration in one pass and returns the access model, or throws a ConfigError listing
 * every problem. `stack` names the stack being deployed, for messages about shared (project) keys.
 */
export function validate(sources: ConfigSources, stack?: string): AccessModel {
  const problems: string[] = [];
  const c = new Ctx(problems, stack ?? "(all stacks)", "Pulumi.yaml");
  const stackNames = Object.keys(sources.stacks).sort();
  if (stackNames.length === 0) problems.push("no stacks: expected Pulumi.<stack>.yaml files, one per Databricks workspace");
  if (stack !== undefined && !stackNames.includes(stack)) {
    problems.push(`stack ${stack}: there is no Pulumi.${stack}.yaml; expected one of: ${stackNames.join(", ")}`);
  }
  for (const k of Object.keys(sources.project)) {
    if ((SECRET_KEYS as readonly string[]).includes(k))
      c.say(
        k,
        "credentials cannot live in Pulumi.yaml (project config is never encrypted); set them per stack with `pulumi config set --secret`",
      );
    else if (!(PROJECT_KEYS as readonly string[]).includes(k)) c.say(k, `unknown key; expected one of: ${PROJECT_KEYS.join(", ")}`);
  }
  const organization = validateOrganization(c, sources.project.organization);
  const environments = validateEnvironments(c, sources.project.environments);
  const flow = environments.length ? validateFlow(c, sources.project.flow, environments) : [];
  const roles = environments.length ? validateRoles(c, sources.project.roles, stackNames, environments) : [];
  const roster = validateRoster(
    c,
    sources.project.roster,
    roles.map((r) => r.name),
  );
  const models = validateModels(c, sources.project.models, stackNames);
  // A merge request needs approvals from people other than its author, who may be an approver too.
  for (const e of environments) {
    if (sourcesOf(flow, e.name).length === 0) continue;
    const approvers = roster.filter((m) => roles.some((r) => m.roles.includes(r.name) && r.git.approve.includes(e.name)));
    if (approvers.length < e.approvals + 1) {
      c.say(
        `environments.${e.name}.approvals`,
        `merge requests into ${e.name} need ${e.approvals} approval(s) from someone other than the author, but only ${approvers.length} member(s) may approve (${approvers.map((m) => m.id).join(", ") || "none"}); expected at least ${e.approvals + 1}`,
      );
    }
  }

  const stacks: StackConfig[] = [];
  for (const name of stackNames) {
    const s = validateStack(problems, name, sources.stacks[name], environments);
    if (s) stacks.push(s);
  }
  for (const s of stacks) {
    const sc = new Ctx(problems, s.name, `Pulumi.${s.name}.yaml`);
    const other = stacks.find((o) => o !== s && o.branch === s.branch);
    if (other && other.name < s.name)
      sc.bad("workspace.branch", s.branch, `a branch no other stack checks out (stack ${other.name} has it too)`);
    if (s.registry.flavour === "workspace") {
      const lifecycleUnset = (i: number) =>
        Array.isArray(sources.project.models) &&
        (sources.project.models[i] as { lifecycle?: unknown } | undefined)?.lifecycle === undefined;
      // The mirror of the rule below: on Databricks, aliases are a Unity Catalog feature.
      models.forEach((m, i) => {
        if (m.stacks.includes(s.name) && m.lifecycle === "aliases") {
          sc.say(
            `workspace.registry.flavour`,
            `is workspace, which has stages but no aliases (aliases are a Unity Catalog feature), yet model '${m.name}' (Pulumi.yaml ${PROJECT}:models[${i}]) has lifecycle 'aliases'${lifecycleUnset(i) ? " (the default)" : ""} and lists this stack; expected lifecycle: stages (Staging, Production), or registry flavour unity-catalog`,
          );
        }
      });
    }
    if (s.registry.flavour !== "unity-catalog") continue;
    models.forEach((m, i) => {
      if (m.stacks.includes(s.name) && m.lifecycle === "stages") {
        sc.say(
          `workspace.registry.flavour`,
          `is unity-catalog, which has aliases but no stages, yet model '${m.name}' (Pulumi.yaml ${PROJECT}:models[${i}]) has lifecycle 'stages' and lists this stack; expected lifecycle: aliases, or registry flavour workspace`,
        );
      }
    });
  }
  models.forEach((m, i) =>
    m.promotions.forEach((pr, j) => {
      const from = stacks.find((s) => s.name === pr.from)?.branch;
      const to = stacks.find((s) => s.name === pr.to)?.branch;
      const noAliases = [pr.from, pr.to].filter(
        (n, k, all) => all.indexOf(n) === k && stacks.find((s) => s.name === n)?.registry.flavour === "workspace",
      );
      if ("alias" in pr.select && noAliases.length) {
        c.say(
          `models[${i}].promotions[${j}].alias`,
          `model '${m.name}' is promoted ${pr.from} -> ${pr.to} by alias '${pr.select.alias}', but stack ${noAliases.join(" and ")} uses the workspace registry, which has stages but no aliases (a Unity Catalog feature); expected stage (e.g. stage: Production) or version, or registry flavour unity-catalog on ${noAliases.join(" and ")}`,
        );
      }
      const flavourOf = (n: string) => stacks.find((s) => s.name === n)?.registry.flavour;
      if ("stage" in pr.select && flavourOf(pr.from) === "workspace" && flavourOf(pr.to) === "unity-catalog" && !pr.setAlias) {
        c.say(
          `models[${i}].promotions[${j}].setAlias`,
          `model '${m.name}' is promoted ${pr.from} -> ${pr.to} by stage '${pr.select.stage}', but stack ${pr.to} uses Unity Catalog, which has aliases but no stages: the stage would be dropped; expected setAlias naming the alias it becomes (e.g. setAlias: ${pr.select.stage === "Production" ? "champion" : "challenger"})`,
        );
      }
      if (pr.setAlias && flavourOf(pr.to) === "workspace") {
        c.say(
          `models[${i}].promotions[${j}].setAlias`,
          `stack ${pr.to} uses the workspace registry, which has stages but no aliases; the stage '${"stage" in pr.select ? pr.select.stage : ""}' is copied as it is: remove setAlias`,
        );
      }
      if (from && to && !isEdge(flow, from, to)) {
        c.say(
          `models[${i}].promotions[${j}]`,
          `model '${m.name}' is promoted ${pr.from} -> ${pr.to}, which is not an edge of the flow (${from} -> ${to}); models move only along the flow`,
        );
      }
    }),
  );
  models.forEach((m, i) => checkValidation(c, `models[${i}].validation`, m, roles, roster, stacks, environments));
  const owners = stacks.filter((s) => s.git.ownsProjectSettings).map((s) => s.name);
  if (stacks.length === stackNames.length && owners.length !== 1) {
    problems.push(
      owners.length === 0
        ? `stack (all stacks): no stack owns the project-wide Git settings; expected exactly one stack file with ${PROJECT}:git.ownsProjectSettings: true (stacks: ${stackNames.join(", ")})`
        : `stack (all stacks): stacks ${owners.join(", ")} all set ${PROJECT}:git.ownsProjectSettings: true; expected exactly one owner of the project-wide Git settings`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { organization: organization!, environments, flow, roles, roster, models, stacks };
}
