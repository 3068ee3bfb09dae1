/** `roles`: what each role is granted per stack, with the invariants stated on duties. */
import {
  Duty,
  DUTIES,
  Entitlement,
  ENTITLEMENTS,
  Environment,
  GIT_ACCESS_LEVELS,
  GitAccess,
  REGISTRY_LEVELS,
  RegistryLevel,
  Role,
  WORKSPACE_LEVELS,
  WorkspaceLevel,
} from "../schema";
import { Ctx, isObj, list, obj, oneOf, perStack, rank, str } from "./check";

export function validateRoles(c: Ctx, v: unknown, stacks: string[], envs: Environment[]): Role[] {
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
