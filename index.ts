/**
 * quant-platform: config -> plan -> components. One stack governs one Databricks workspace.
 */
import * as pulumi from "@pulumi/pulumi";
import { readConfigSources } from "./config/load";
import { ConfigError, validate } from "./config/validate";
import { buildAccessPlan } from "./plan/accessPlan";
import { databricksCredentials, databricksProvider } from "./components/databricks/provider";
import { WorkspaceAccess } from "./components/databricks/workspaceAccess";
import { WorkspaceGitSettings } from "./components/databricks/workspaceGitSettings";
import { ModelRegistryAccess } from "./components/databricks/modelRegistryAccess";
import { GitLabBranchPolicy } from "./components/gitlab/branchPolicy";
import { GitHubBranchPolicy } from "./components/github/branchPolicy";
import { githubProvider } from "./components/github/provider";
import { ModelPromotions } from "./components/mlflow/modelPromotions";

const stack = pulumi.getStack();
/** Validates the configuration; an invalid one fails the run with its message alone (RunError prints no stack). */
function validated() {
  try {
    return validate(readConfigSources(__dirname), stack);
  } catch (e) {
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}
const model = validated();
for (const w of model.warnings ?? []) void pulumi.log.warn(w);
const plan = buildAccessPlan(model, stack);
const stackConfig = model.stacks.find((s) => s.name === stack)!;

const provider = databricksProvider(`databricks-${stack}`, stackConfig, databricksCredentials(stackConfig));
const workspace = new WorkspaceAccess(`workspace-${stack}`, { plan, provider });
// Git folders enabled, and the Git URL allow list where the stack uses one (workspace.gitFolders).
new WorkspaceGitSettings(`git-settings-${stack}`, { plan, provider });
const registry = new ModelRegistryAccess(`registry-${stack}`, { plan, provider, groupNames: workspace.groupNames });

// Project-wide Git settings are declared by exactly one stack (validated), so stacks never fight over them.
if (plan.git.ownsProjectSettings) {
  if (plan.git.provider === "gitlab") new GitLabBranchPolicy(`git-${stack}`, { plan });
  else new GitHubBranchPolicy(`git-${stack}`, { plan, provider: githubProvider(`github-${stack}`, plan.git) });
}

// Versions are migrated into models the registry component declares: created after them, retired before them.
const promotions = new ModelPromotions(`promotions-${stack}`, { plan }, { dependsOn: [registry] });

export const summary = {
  stack,
  branch: plan.environment,
  groups: plan.groups.map((g) => g.name),
  memberCounts: Object.fromEntries(plan.groups.map((g) => [g.name, plan.memberships.filter((m) => m.group === g.name).length])),
  gitFolders: workspace.gitFolderPaths,
  models: plan.models.map((m) => m.name),
  migrations: Object.entries(promotions.migrations).map(([key, m]) => ({
    key,
    targetVersion: m.targetVersion,
    manifestDigest: m.manifestDigest,
    files: m.files,
    bytes: m.bytes,
  })),
};
