import * as pulumi from "@pulumi/pulumi";
import { AccessPlan } from "../../plan/accessPlan";
import { ModelMigration } from "./modelMigration";
import { DEFAULT_CONCURRENCY } from "../../migration/concurrency";

export interface ModelPromotionsArgs {
  plan: AccessPlan;
  /** Migration settings; full verification by default. */
  verify?: "full" | "size";
  /** Files in flight per migration; the engine's default (as for the migrate CLI) unless given. */
  concurrency?: number;
  /** The working copy whose Git history holds Pulumi.yaml (default: the program's directory). */
  repoDir?: string;
}

/** The declared model promotions into this stack, each a verified ModelMigration along a flow edge. */
export class ModelPromotions extends pulumi.ComponentResource {
  readonly migrations: Record<string, ModelMigration> = {};

  constructor(name: string, args: ModelPromotionsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("quant-platform:mlflow:ModelPromotions", name, {}, opts);
    const { plan } = args;
    for (const m of plan.migrations) {
      this.migrations[m.key] = new ModelMigration(
        `${name}/${m.key}`,
        {
          fromUri: m.fromUri,
          toUri: m.toUri,
          fromEnv: m.fromEnv,
          toEnv: m.toEnv,
          model: m.fromModel,
          ...m.select,
          toModel: m.toModel,
          ...(Object.keys(m.stageAliases).length ? { stageAliases: m.stageAliases } : {}),
          verify: args.verify ?? "full",
          readVerify: "size",
          concurrency: args.concurrency ?? DEFAULT_CONCURRENCY,
          production: m.production,
          ...(m.origins.length ? { origins: m.origins } : {}),
          approvers: m.approvers,
          members: m.members,
          ...(m.validation ? { validation: m.validation } : {}),
          // The program runs in the project's working copy: its history holds the change that declared the promotion.
          git: { ...m.git, repoDir: args.repoDir ?? process.cwd() },
          flow: plan.flowEdges.map((e) => ({ from: e.from, to: e.to })),
          deleteOnDestroy: false,
        },
        { parent: this },
      );
    }
    this.registerOutputs({ migrations: plan.migrations.map((m) => m.key) });
  }
}
