import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { AccessPlan } from "../../plan/accessPlan";

export interface WorkspaceGitSettingsArgs {
  plan: AccessPlan;
  provider: databricks.Provider;
}

/**
 * The workspace's Git folder settings: Git folders enabled and, where the stack uses one, the Git URL allow list.
 * One WorkspaceConf holds every key the plan sets, so a change made in the admin settings shows up as drift on refresh.
 */
export class WorkspaceGitSettings extends pulumi.ComponentResource {
  readonly settings: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: WorkspaceGitSettingsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("quant-platform:databricks:WorkspaceGitSettings", name, {}, opts);
    const { plan, provider } = args;
    const customConfig = Object.fromEntries(plan.workspaceSettings.map((w) => [w.setting, w.value]));
    const conf = new databricks.WorkspaceConf(`${name}/git-folders`, { customConfig }, { parent: this, provider });
    this.settings = conf.customConfig.apply((c) => (c ?? {}) as Record<string, string>);
    this.registerOutputs({ settings: customConfig });
  }
}
