/**
 * Validates all configuration in one pass, section by section (config/sections/), and returns the access model
 * or throws a ConfigError listing every problem.
 */
import { AccessModel, PROJECT, StackConfig } from "./schema";
import { ConfigSources } from "./load";
import { Ctx } from "./sections/check";
import { validateOrganization } from "./sections/organization";
import { validateEnvironments, validateFlow } from "./sections/environments";
import { validateRoles } from "./sections/roles";
import { checkApprovers, validateRoster } from "./sections/roster";
import { checkLifecycleFits, checkPromotions, checkValidation, fourEyesWarnings, validateModels } from "./sections/models";
import {
  checkBranchUnique,
  checkOriginTokens,
  checkProjectSettingsOwner,
  PROJECT_KEYS,
  SECRET_KEYS,
  validateStack,
} from "./sections/stack";
import { checkGitFolderSettings } from "./sections/gitFolders";

/** Every problem found in configuration, reported at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid ${PROJECT} configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n - ${problems.join("\n - ")}`,
    );
    this.name = "ConfigError";
  }
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
  checkApprovers(c, environments, flow, roles, roster);

  const stacks: StackConfig[] = [];
  for (const name of stackNames) {
    const s = validateStack(problems, name, sources.stacks[name], environments);
    if (s) stacks.push(s);
  }
  for (const s of stacks) {
    const sc = new Ctx(problems, s.name, `Pulumi.${s.name}.yaml`);
    checkBranchUnique(sc, s, stacks);
    checkLifecycleFits(sc, s, models, sources.project.models);
    checkGitFolderSettings(sc, s, organization);
    checkOriginTokens(sc, s, stackNames);
  }
  checkPromotions(c, models, stacks, flow);
  models.forEach((m, i) => checkValidation(c, `models[${i}].validation`, m, roles, roster, stacks, environments));
  if (stacks.length === stackNames.length) checkProjectSettingsOwner(problems, stacks, stackNames);
  if (problems.length > 0) throw new ConfigError(problems);
  const warnings = fourEyesWarnings(models, roles, roster);
  return { organization: organization!, environments, flow, roles, roster, models, stacks, ...(warnings.length ? { warnings } : {}) };
}
