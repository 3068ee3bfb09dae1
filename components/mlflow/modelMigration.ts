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
import { randomUUID } from "crypto";
import {
  aliasHolders,
  checkTarget,
  migrate,
  restoreAliases,
  retireDeployed,
  setAsideVersion,
  takeOver,
  VersionSelector,
} from "../../migration/modelVersion";
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
  /**
   * Where the source's copies may come from (stack and tracking URI): the gate reads a version's origin there.
   * Their read tokens come at run time from `quant-platform:originTokens.<stack>` (or QUANT_PLATFORM_ORIGIN_TOKEN_<STACK>).
   */
  origins?: { stack: string; uri: string }[];
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
  /**
   * This deployment, as tagged on its target version (DEPLOYMENT_TAG): `delete` retires the version only while
   * the tag still names it. Absent in state written before it existed.
   */
  deployment?: string;
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
    originTokens: {} as Record<string, string>,
    async configure(req: pulumi.dynamic.ConfigureRequest) {
      provider.sourceToken = req.config.get("quant-platform:migrationSourceToken") || undefined;
      provider.targetToken = req.config.get("quant-platform:databricksToken") || undefined;
      provider.gitToken = req.config.get(TOKEN_CONFIG_KEY) || undefined;
      const origins = req.config.get("quant-platform:originTokens");
      provider.originTokens = origins ? (JSON.parse(origins) as Record<string, string>) : {};
    },
    /** The origin workspaces the gate may read, each with its read token; one without a token is left out (the gate says so). */
    origins(i: ModelMigrationInputs) {
      return (i.origins ?? []).flatMap((o) => {
        const token = provider.originTokens[o.stack] || process.env[`QUANT_PLATFORM_ORIGIN_TOKEN_${o.stack.toUpperCase()}`];
        return token ? [resolveEndpoint(o.uri, "from", { ...process.env, MIGRATE_FROM_TOKEN: token })] : [];
      });
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
        origins: provider.origins(i),
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
    async run(i: ModelMigrationInputs, dryRun: boolean, gated = !dryRun) {
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
        // The dry run that fingerprints a deployed promotion's source (diff) skips the production gate, so that a
        // deployed promotion does not fail every later preview once its sign-off request is closed. The gate runs
        // whenever a version is to be copied: in create, and before it, when check or diff sees one coming (`gate`).
        guard: gated ? provider.guard(i) : { ...provider.guard(i), production: false },
      });
    },
    /**
     * The gate before anything is copied, replaced or deleted: a dry run with the real guard, refusing (throwing)
     * exactly what create would refuse.
     */
    async gate(i: ModelMigrationInputs) {
      await provider.run(i, true, true);
    },
    /**
     * An expected failure (a refusal, an API's answer) as the engine should show it. The dynamic-provider host
     * prints a failed check or diff to stderr as `${e}: ${e.stack}`, and the engine shows that line after the
     * resource's error: here it reads as one sentence, with no stack trace. Anything else is thrown as it is.
     */
    plain(e: unknown, when: string): unknown {
      if (!provider.expected(e)) return e;
      return Object.assign(new Error(e.message), { stack: e.message, toString: () => when });
    },
    /**
     * Runs a migration so that, should it fail, the aliases of the target model point where they did before: the
     * engine moves them onto the new version before it is complete, and its rollback deletes that version.
     */
    async leavingAliases<T>(i: ModelMigrationInputs, migration: () => Promise<T>): Promise<T> {
      const { to } = provider.endpoints(i);
      const before = await aliasHolders(to, i.toModel);
      try {
        return await migration();
      } catch (e) {
        const restoring = await restoreAliases(to, i.toModel, before).then(
          () => undefined,
          (r: unknown) => r as Error,
        );
        if (restoring && e instanceof Error)
          e.message += `; putting back the aliases of '${i.toModel}' it had moved failed too (${restoring.message}): they were ${JSON.stringify(before)}`;
        throw e;
      }
    },
    /** The guard's refusal (guard.ts: the flow edge, the production evidence), as opposed to a source it could not read. */
    refused(e: unknown): e is Error {
      return provider.expected(e) && /^refusing to /.test(e.message);
    },
    /** A refusal or a failure the engine names (migration/failure.ts), or an API's answer: not a bug. */
    expected(e: unknown): e is Error {
      const x = e as { migration?: boolean; status?: unknown };
      return e instanceof Error && (x.migration === true || typeof x.status === "number");
    },
    async check(olds: Partial<ModelMigrationInputs> | undefined, news: ModelMigrationInputs) {
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
      // A first deployment into production (nothing deployed under this name yet): the gate runs now, so that
      // preview shows its refusal and up refuses before anything is created. A deployed one is judged by diff.
      // Only the gate's refusal fails check: a source this stack cannot read yet (no credentials, no version in
      // the stage) is create's to report, as it was before the gate ran here.
      if (!failures.length && news.production && !olds?.toUri) {
        try {
          await provider.gate(news);
        } catch (e) {
          if (provider.refused(e)) failures.push({ property: "", reason: e.message });
          else if (!provider.expected(e)) throw e;
        }
      }
      return { inputs: news, failures };
    },
    async diff(_id: string, olds: ModelMigrationOutputs, news: ModelMigrationInputs) {
      // An empty stage -> alias map is the same as none (state written before the map existed has none).
      const norm = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0 ? null : (v ?? null));
      const replaces: string[] = IDENTITY.filter((k) => canonicalJson(norm(olds[k])) !== canonicalJson(norm(news[k])));
      try {
        if (replaces.length === 0 && olds.fingerprint) {
          // The source identity is unchanged; has its content (or the version an alias points to) changed?
          const now = await provider.run(news, true, false);
          if (now.fingerprint !== olds.fingerprint) replaces.push("fingerprint");
        }
        // Another version is to be promoted into production (or none was deployed yet): the gate runs now, before
        // the engine replaces or deletes anything, so preview shows its refusal and up stops at it. A repair of the
        // same version ("problems") is gated by create alone: that version was let through when it was deployed.
        if ((replaces.length > 0 || !olds.targetVersion) && news.production) await provider.gate(news);
      } catch (e) {
        throw provider.plain(e, "stopped before anything was replaced or deleted");
      }
      if (olds.problems?.length) replaces.push("problems");
      const other = (["verify", "readVerify", "concurrency", "deleteOnDestroy"] as const).some((k) => olds[k] !== news[k]);
      // Create before delete: the deployed version stays live until its successor is registered and complete;
      // create then retires it (takeOver), and the replaced resource's delete leaves what create took over.
      return { changes: replaces.length > 0 || other, replaces, deleteBeforeReplace: false };
    },
    async create(inputs: ModelMigrationInputs) {
      const { to } = provider.endpoints(inputs);
      const r = await provider.leavingAliases(inputs, async () => {
        const first = await provider.run(inputs, false);
        // An adopted version (a replacement that did not change the content, a re-run) that is damaged, which is
        // why a refresh asked for the replacement, is set aside and its source copied afresh; it stays live until then.
        if (!first.adopted || !(await checkTarget(to, inputs.toModel, first.targetVersion!, inputs.readVerify)).problems.length)
          return first;
        await setAsideVersion(to, inputs.toModel, first.targetVersion!);
        return provider.run(inputs, false);
      });
      // Only now, with this version complete, do the promotion's earlier versions leave their place.
      const deployment = randomUUID();
      await takeOver(to, {
        model: inputs.toModel,
        version: r.targetVersion!,
        sourceHost: r.sourceHost,
        sourceModel: r.sourceModel,
        lifecycle: r.lifecycle,
        id: deployment,
      });
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
        deployment,
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
      // A replaced resource's version was already dealt with by its successor's create (retired, or adopted or
      // released and so no longer this deployment's): only a version still this deployment's is retired.
      await retireDeployed(to, props.toModel, props.targetVersion, props.deployment, props.deleteOnDestroy);
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
        deployment: undefined,
      },
      opts,
      "mlflow",
      "ModelMigration",
    );
  }
}
