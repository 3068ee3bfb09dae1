/**
 * Evaluates the stacks' components under Pulumi mocks for a roster of N members, counting resources and
 * timing each stack. Runs in its own process so stacks and rosters never share mock state.
 *   node -r ts-node/register/transpile-only bench/mockedProgram.ts <members> <out.json>
 */
import * as fs from "fs";
import * as databricks from "@pulumi/databricks";
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { buildAccessPlan } from "../plan/accessPlan";
import { WorkspaceAccess } from "../components/databricks/workspaceAccess";
import { ModelRegistryAccess } from "../components/databricks/modelRegistryAccess";
import { GitLabBranchPolicy } from "../components/gitlab/branchPolicy";
import { ModelPromotions } from "../components/mlflow/modelPromotions";
import { DATABRICKS_CALLS, DATABRICKS_TYPES, GIT_TYPES, installMocks, MLFLOW_TYPES, settle } from "../devenv/pulumiMocks";
import { PROJECT_DIR } from "../devenv/localMlflow";

async function main() {
  const [n, out] = [Number(process.argv[2]), process.argv[3]];
  const s = readConfigSources(PROJECT_DIR);
  const roles = ["developer", "developer", "developer", "consumer", "approver", "release_manager"];
  s.project.roster = Array.from({ length: n }, (_, i) => ({
    id: `m${i}`,
    name: `Member ${i}`,
    email: `m${i}@quantfirm.example`,
    gitUsername: `m${i}`,
    roles: [roles[i % roles.length]],
  }));
  const model = validate(s);
  const perStack: Record<string, number> = {};
  const evalMs: Record<string, number> = {};
  for (const stack of ["quant", "quant_stg", "quant_lr"]) {
    const t0 = Date.now();
    const recorded = await installMocks(stack, { ...DATABRICKS_TYPES, ...GIT_TYPES, ...MLFLOW_TYPES }, DATABRICKS_CALLS);
    const plan = buildAccessPlan(model, stack);
    const provider = new databricks.Provider(`p-${stack}`, { host: plan.host });
    const ws = new WorkspaceAccess(`ws-${stack}`, { plan, provider });
    new ModelRegistryAccess(`reg-${stack}`, { plan, provider, groupNames: ws.groupNames });
    if (plan.git.ownsProjectSettings) new GitLabBranchPolicy(`git-${stack}`, { plan });
    new ModelPromotions(`promo-${stack}`, { plan });
    await settle(recorded);
    perStack[stack] = recorded.filter((r) => !r.type.startsWith("quant-platform:") && !r.type.startsWith("pulumi:providers:")).length;
    evalMs[stack] = Date.now() - t0;
  }
  fs.writeFileSync(out, JSON.stringify({ members: n, perStack, evalMs }));
  process.exit(0);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
