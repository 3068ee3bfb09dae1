/**
 * Which stage and aliases a migrated version gets in the target. Pure: registries differ in what they
 * hold (an OSS server: aliases and stages; a Databricks workspace registry: stages only; Unity Catalog:
 * aliases only), so between a registry without aliases and one with them a stage maps to an alias and
 * back by configuration (`stageAliases`, e.g. Production <-> champion), and what the target cannot hold
 * is dropped and said so in the report.
 */
import { RegistryKind } from "../clients/mlflow";

/** What a registry can hold. */
export const HOLDS: Record<RegistryKind, { aliases: boolean; stages: boolean }> = {
  oss: { aliases: true, stages: true },
  workspace: { aliases: false, stages: true },
  "unity-catalog": { aliases: true, stages: false },
};

export const REGISTRY_NAME: Record<RegistryKind, string> = {
  oss: "an MLflow tracking server's registry",
  workspace: "a Databricks workspace model registry",
  "unity-catalog": "a Unity Catalog model registry",
};

/** What the target version gets, and how the source's stage and aliases were carried over. */
export interface LifecyclePlan {
  /** The stage set in the target (undefined: none). */
  stage: string | undefined;
  /** The aliases set in the target. */
  aliases: string[];
  /** Stages that became aliases and aliases that became stages, by `stageAliases`. */
  mapped: { from: "stage" | "alias"; name: string; to: string }[];
  /** Stages and aliases of the source that the target cannot hold (or that lost to the version's own stage). */
  dropped: { kind: "stage" | "alias"; name: string; reason: string }[];
}

const noStage = (s: string | undefined) => !s || s === "None";

/**
 * The target's stage and aliases for a source version with `stage` and `aliases`. Between registries that
 * hold the same kinds nothing is mapped (an OSS server keeps both); `stageAliases` maps a stage to an alias
 * (and an alias back to its stage) only where one side cannot hold what the other has.
 */
export function planLifecycle(
  source: RegistryKind,
  target: RegistryKind,
  stage: string | undefined,
  aliases: string[],
  stageAliases: Record<string, string> = {},
): LifecyclePlan {
  const src = HOLDS[source];
  const dst = HOLDS[target];
  const plan: LifecyclePlan = { stage: undefined, aliases: [], mapped: [], dropped: [] };
  const srcStage = noStage(stage) ? undefined : stage;
  const stageOfAlias = new Map(Object.entries(stageAliases).map(([s, a]) => [a, s]));
  const cannot = `${REGISTRY_NAME[target]} cannot hold it`;

  if (srcStage) {
    if (dst.stages) plan.stage = srcStage;
    const alias = stageAliases[srcStage];
    // A stage becomes an alias where the source has no aliases of its own, or the target has no stages.
    if (alias && dst.aliases && (!src.aliases || !dst.stages)) {
      plan.aliases.push(alias);
      plan.mapped.push({ from: "stage", name: srcStage, to: alias });
    } else if (!dst.stages)
      plan.dropped.push({
        kind: "stage",
        name: srcStage,
        reason: `${cannot}${Object.keys(stageAliases).length ? "" : " (map it to an alias with --map-stage)"}`,
      });
  }
  for (const alias of [...new Set(aliases)]) {
    if (dst.aliases) {
      if (!plan.aliases.includes(alias)) plan.aliases.push(alias);
      continue;
    }
    const mappedStage = stageOfAlias.get(alias);
    if (mappedStage && dst.stages && (!src.stages || !dst.aliases)) {
      if (plan.stage === undefined) {
        plan.stage = mappedStage;
        plan.mapped.push({ from: "alias", name: alias, to: mappedStage });
      } else if (plan.stage === mappedStage) {
        plan.mapped.push({ from: "alias", name: alias, to: mappedStage });
      } else {
        plan.dropped.push({
          kind: "alias",
          name: alias,
          reason: `${cannot}, and it maps to stage ${mappedStage} while the version is in stage ${plan.stage}`,
        });
      }
    } else {
      plan.dropped.push({ kind: "alias", name: alias, reason: `${cannot}${mappedStage ? "" : " (map a stage to it with --map-stage)"}` });
    }
  }
  return plan;
}

/** One line per mapping and drop, for reports. */
export function describeLifecycle(p: LifecyclePlan): string[] {
  return [
    ...p.mapped.map((m) => (m.from === "stage" ? `stage ${m.name} became alias '${m.to}'` : `alias '${m.name}' became stage ${m.to}`)),
    ...p.dropped.map((d) => `${d.kind} ${d.kind === "alias" ? `'${d.name}'` : d.name} dropped: ${d.reason}`),
  ];
}

/**
 * Parses `Production=champion,Staging=challenger` (each of `values` may hold several, comma-separated)
 * into a stage -> alias map; throws naming the bad entry.
 */
export function parseStageAliases(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of values
    .flatMap((v) => v.split(","))
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z]+)=([A-Za-z0-9_-]+)$/.exec(entry);
    if (!m) throw new Error(`--map-stage '${entry}' is not STAGE=ALIAS (for example Production=champion)`);
    const [, stage, alias] = m;
    const canonical = ["None", "Staging", "Production", "Archived"].find((s) => s.toLowerCase() === stage.toLowerCase());
    if (!canonical || canonical === "None")
      throw new Error(`--map-stage '${entry}': '${stage}' is not a stage; expected Staging, Production or Archived`);
    if (out[canonical] && out[canonical] !== alias)
      throw new Error(`--map-stage maps stage ${canonical} twice ('${out[canonical]}' and '${alias}')`);
    if (Object.entries(out).some(([s, a]) => a === alias && s !== canonical))
      throw new Error(`--map-stage maps alias '${alias}' from two stages`);
    out[canonical] = alias;
  }
  return out;
}
