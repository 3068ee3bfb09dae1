/**
 * ModelMigration: a Pulumi dynamic resource that moves one registered model version along a promotion
 * edge with the migration engine. Thin: every method delegates to the engine.
 *
 * Credentials are resolved when a method runs: the target workspace's `quant-platform:databricksToken`
 * and the source's `quant-platform:migrationSourceToken` from stack config (handed to `configure` by the
 * engine), else the environment (MIGRATE_FROM_TOKEN, MIGRATE_TO_TOKEN, DATABRICKS_TOKEN,
 * MLFLOW_TRACKING_TOKEN). None is captured in the serialized provider or written to state.
 */
import * as pulumi from "@pulumi/pulumi";
import { checkTarget, migrate, retireVersion, VersionSelector } from "../../migration/modelVersion";
import { resolveEndpoint } from "../../migration/endpoint";
import { isEdge } from "../../plan/flow";
import { canonicalJson } from "../../config/identity";
import type { ValidationRequirement } from "../../plan/accessPlan";
import { TOKEN_CONFIG_KEY, TOKEN_ENV } from "../gitlab/reconcile";

export interface ModelMigrationInputs {
  fromUri: string;
  toUri: string;
  fromEnv: string;
  toEnv: string;
  model: string;
  version?: string;
  alias?: string;
  stage?: string;
  toModel: string;
  /** Stage -> alias between a registry with stages and one with aliases (the promotion's setAlias). */
  stageAliases?: Record<string, string>;
  verify: "full" | "size" | "store";
  /** How `read` (refresh, drift detection) re-checks the target: sizes, or full hashes. */
  readVerify: "full" | "size";
  concurrency: number;
  production: boolean;
  approvers: string[];
  /** The roster by email and Git username, for judging approvals on the Git host. */
  members?: { email: string; gitUsername: string }[];
  /**
   * Where a promotion from a registry without stages proves its approval: the merge request that added it to
   * `configPath` in the working copy `repoDir`. The token is read at run time (quant-platform:gitlabToken,
   * GITLAB_TOKEN or GITHUB_TOKEN), never stored.
   */
  git?: { provider: string; apiUrl: string; project: string; configPath: string; repoDir: string; fromStack: string; toStack: string };
  flow: { from: string; to: string }[];
  /** Into production from the model's validation stack: the consumer's validation and sign-off it needs. */
  validation?: ValidationRequirement;
  /** Delete the target version on destroy instead of archiving it. */
  deleteOnDestroy: boolean;
}

export interface ModelMigrationOutputs extends ModelMigrationInputs {
  sourceVersion: string;
  targetVersion: string;
  targetRunId: string;
  manifestDigest: string;
  fingerprint: string;
  files: number;
  bytes: number;
  /** The aliases the migration set on the target version; `read` reports any that moved away. */
  aliases?: string[];
  /** What `read` found wrong with the target: empty when it matches the manifest. */
  problems: string[];
}

const IDENTITY: (keyof ModelMigrationInputs)[] = ["fromUri", "toUri", "model", "version", "alias", "stage", "toModel", "stageAliases"];

/**
 * Built in a function so every method refers to the local `provider`: a reference through the module's
 * exports does not survive Pulumi's closure serialization.
 */
function makeProvider() {
  const provider = {
    sourceToken: undefined as string | undefined,
    targetToken: undefined as string | undefined,
    gitToken: undefined as string | undefined,
    async configure(req: pulumi.dynamic.ConfigureRequest) {
      provider.sourceToken = req.config.get("quant-platform:migrationSourceToken") || undefined;
      provider.targetToken = req.config.get("quant-platform:databricksToken") || undefined;
      provider.gitToken = req.config.get(TOKEN_CONFIG_KEY) || undefined;
    },
    guard(i: ModelMigrationInputs) {
      const g = i.git;
      const token = g && (g.provider === "github" ? process.env.GITHUB_TOKEN : (provider.gitToken ?? process.env[TOKEN_ENV]));
      return {
        flow: i.flow,
        fromEnv: i.fromEnv,
        toEnv: i.toEnv,
        production: i.production,
        approvers: i.approvers,
        members: i.members ?? [],
        ...(i.validation ? { validation: i.validation } : {}),
        ...(g && token
          ? { git: { ...g, provider: g.provider === "github" ? ("github" as const) : ("gitlab" as const), token, model: i.model } }
          : {}),
      };
    },
    endpoints(i: ModelMigrationInputs) {
      const env = { ...process.env };
      if (provider.sourceToken) env.MIGRATE_FROM_TOKEN = provider.sourceToken;
      if (provider.targetToken) env.MIGRATE_TO_TOKEN = provider.targetToken;
      return { from: resolveEndpoint(i.fromUri, "from", env), to: resolveEndpoint(i.toUri, "to", env) };
    },
    selector(i: ModelMigrationInputs): VersionSelector {
      return i.version ? { version: i.version } : i.alias ? { alias: i.alias } : { stage: i.stage! };
    },
    async run(i: ModelMigrationInputs, dryRun: boolean) {
      const { from, to } = provider.endpoints(i);
      return migrate({
        from,
        to,
        model: i.model,
        select: provider.selector(i),
        toModel: i.toModel,
        stageAliases: i.stageAliases ?? {},
        dryRun,
        verify: i.verify,
        concurrency: i.concurrency,
        // A dry run (diff) only fingerprints the source: the approval is checked when a version is copied, so a
        // deployed promotion does not fail every later preview once its sign-off request is closed.
        guard: dryRun ? { ...provider.guard(i), production: false } : provider.guard(i),
      });
    },
    async check(_olds: ModelMigrationInputs, news: ModelMigrationInputs) {
      const failures: { property: string; reason: string }[] = [];
      const selectors = (["version", "alias", "stage"] as const).filter((k) => news[k]);
      if (selectors.length !== 1) failures.push({ property: "version", reason: "give exactly one of version, alias or stage" });
      for (const k of ["fromUri", "toUri", "model", "toModel", "fromEnv", "toEnv"] as const) {
        if (typeof news[k] !== "string" || !news[k]) failures.push({ property: k, reason: `${k} is required` });
      }
      if (!["full", "size", "store"].includes(news.verify)) failures.push({ property: "verify", reason: "verify is full, size or store" });
      if (!["full", "size"].includes(news.readVerify)) failures.push({ property: "readVerify", reason: "readVerify is full or size" });
      if (!Number.isInteger(news.concurrency) || news.concurrency < 1)
        failures.push({ property: "concurrency", reason: "concurrency is a whole number of at least 1" });
      if (Array.isArray(news.flow) && !isEdge(news.flow, news.fromEnv, news.toEnv)) {
        failures.push({ property: "toEnv", reason: `${news.fromEnv} -> ${news.toEnv} is not an edge of the promotion flow` });
      }
      return { inputs: news, failures };
    },
    async diff(_id: string, olds: ModelMigrationOutputs, news: ModelMigrationInputs) {
      // An empty stage -> alias map is the same as none (state written before the map existed has none).
      const norm = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0 ? null : (v ?? null));
      const replaces: string[] = IDENTITY.filter((k) => canonicalJson(norm(olds[k])) !== canonicalJson(norm(news[k])));
      if (olds.problems?.length) replaces.push("problems");
      if (replaces.length === 0 && olds.fingerprint) {
        // The source identity is unchanged; has its content (or the version an alias points to) changed?
        const now = await provider.run(news, true);
        if (now.fingerprint !== olds.fingerprint) replaces.push("fingerprint");
      }
      const other = (["verify", "readVerify", "concurrency", "deleteOnDestroy"] as const).some((k) => olds[k] !== news[k]);
      return { changes: replaces.length > 0 || other, replaces, deleteBeforeReplace: true };
    },
    async create(inputs: ModelMigrationInputs) {
      const r = await provider.run(inputs, false);
      const outs: ModelMigrationOutputs = {
        ...inputs,
        sourceVersion: r.sourceVersion,
        targetVersion: r.targetVersion!,
        targetRunId: r.targetRunId!,
        manifestDigest: r.manifestDigest!,
        fingerprint: r.fingerprint,
        files: r.files,
        bytes: r.bytes,
        aliases: r.lifecycle.aliases,
        problems: [],
      };
      return { id: `${inputs.toModel}/${r.targetVersion}`, outs };
    },
    async read(id: string, props: ModelMigrationOutputs) {
      const { to } = provider.endpoints(props);
      const c = await checkTarget(to, props.toModel, props.targetVersion, props.readVerify);
      if (!c.exists) return { id: "", props: {} };
      const moved = (props.aliases ?? []).filter((a) => !c.aliases.includes(a));
      const problems = [
        ...c.problems,
        ...moved.map((a) => `alias '${a}' no longer points at ${props.toModel} version ${props.targetVersion}`),
      ];
      return { id, props: { ...props, manifestDigest: c.manifestDigest ?? "", problems } };
    },
    async update(_id: string, olds: ModelMigrationOutputs, news: ModelMigrationInputs) {
      return { outs: { ...olds, ...news } };
    },
    async delete(_id: string, props: ModelMigrationOutputs) {
      const { to } = provider.endpoints(props);
      await retireVersion(to, props.toModel, props.targetVersion, props.deleteOnDestroy);
    },
  };
  return provider;
}

export const modelMigrationProvider = makeProvider();

type Args<T> = { [K in keyof T]: pulumi.Input<T[K]> };

export class ModelMigration extends pulumi.dynamic.Resource {
  declare readonly targetVersion: pulumi.Output<string>;
  declare readonly manifestDigest: pulumi.Output<string>;
  declare readonly files: pulumi.Output<number>;
  declare readonly bytes: pulumi.Output<number>;
  constructor(name: string, args: Args<ModelMigrationInputs>, opts?: pulumi.CustomResourceOptions) {
    super(
      modelMigrationProvider,
      name,
      {
        ...args,
        sourceVersion: undefined,
        targetVersion: undefined,
        targetRunId: undefined,
        manifestDigest: undefined,
        fingerprint: undefined,
        files: undefined,
        bytes: undefined,
        aliases: undefined,
        problems: undefined,
      },
      opts,
      "mlflow",
      "ModelMigration",
    );
  }
}
