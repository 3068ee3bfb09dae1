/**
 * The tags a migration reads and writes in the target: provenance of a migrated model version or run, and
 * the approval a production promotion needs. verify-move and the inventory read them back.
 */
import { sha256 } from "./hashing";

/** The experiment that holds the runs of migrated model versions (their files and journals): never moved as content. */
export const MIGRATIONS_EXPERIMENT = "quant-platform-migrations";

/**
 * Where that experiment lives in a target: a Databricks workspace names an experiment by its absolute workspace
 * path and refuses a bare name (400 INVALID_PARAMETER_VALUE), so there it is in /Shared, which every workspace has.
 */
export const migrationsExperimentFor = (transport: "mlflow-artifacts" | "databricks") =>
  transport === "databricks" ? `/Shared/${MIGRATIONS_EXPERIMENT}` : MIGRATIONS_EXPERIMENT;

/** Whether an experiment is the migration engine's own, by either name. */
export const isMigrationsExperiment = (name: string) => name === MIGRATIONS_EXPERIMENT || name === `/Shared/${MIGRATIONS_EXPERIMENT}`;

/** Tags of a migrated model version and its target run. */
export const TAG = {
  fingerprint: "quant.migration.fingerprint",
  targetModel: "quant.migration.target_model",
  sourceHost: "quant.migration.source_host",
  sourceModel: "quant.migration.source_model",
  sourceVersion: "quant.migration.source_version",
  sourceRun: "quant.migration.source_run_id",
  manifestDigest: "quant.migration.manifest_digest",
  files: "quant.migration.files",
  bytes: "quant.migration.bytes",
  lineageCopied: "quant.migration.lineage_copied",
  /**
   * On a version registered from a run that was migrated with its experiment (move): where in that run its files
   * are. Such a version has no run of its own; its manifest is the run's, under this path.
   */
  runPath: "quant.migration.run_path",
  /**
   * A migrated version's state: `registering` until its stage and aliases are set, then `complete` (only
   * a complete version is adopted); `failed` when its migration failed and could not remove it. Versions
   * migrated before this tag existed have none and count as complete when their run is FINISHED.
   */
  state: "quant.migration.state",
  /** On a target run that lost a concurrent migration: the version that won (`<model> version <n>`). */
  supersededBy: "quant.migration.superseded_by",
  /**
   * Written by the engine on a target version promoted into production: who approved it, how (`transition-request`
   * or `merge-request`) and where (the request, or the merge request's reference). Never read as evidence: a
   * tag can be written by anyone who may tag the version; the guard reads the registry or the Git host.
   */
  approvedBy: "quant.approval.approved_by",
  approvalKind: "quant.approval.kind",
  approvalRef: "quant.approval.ref",
  /** Likewise, where the model is validated: the consumer's validation run, its creator, result and data, and the sign-off. */
  validationRun: "quant.approval.validation_run",
  validatedBy: "quant.approval.validated_by",
  validationResult: "quant.approval.validation_result",
  validationData: "quant.approval.validation_data",
  signedOffBy: "quant.approval.signed_off_by",
  signOffRef: "quant.approval.sign_off_ref",
} as const;

/**
 * The origin of a copied version or run: where it was first registered (or logged) and by whom, carried
 * unchanged across every hop (quant -> quant_stg -> quant_lr, or a move to a new environment). The immediate
 * source is `TAG.source*`; the origin is the first link of the chain.
 *
 * A record for people, `status` and the gate's path; never evidence of authorship: the gate reads the origin
 * version and run where they live (guard.ts `provenanceChain`), because anyone who may tag a copy could write these.
 */
export const ORIGIN_TAG = {
  workspace: "quant.origin.workspace",
  model: "quant.origin.model",
  version: "quant.origin.version",
  runId: "quant.origin.run_id",
  /** The origin version's `user_id`: who registered it. */
  author: "quant.origin.author",
  /** The origin run's `mlflow.user`: who trained it. */
  runUser: "quant.origin.run_user",
} as const;

/**
 * The system lineage of a run that copies keep: who trained it, from which notebook or file, and which commit.
 * Copied under their own keys, and also under `quant.origin.<key without "mlflow.">` (`originKey`), which a
 * target that reserves an `mlflow.*` key cannot refuse.
 */
export const SYSTEM_LINEAGE = [
  "mlflow.user",
  "mlflow.source.name",
  "mlflow.source.type",
  "mlflow.source.git.commit",
  "mlflow.source.git.repoURL",
  "mlflow.source.git.branch",
  "mlflow.databricks.notebookPath",
  "mlflow.databricks.notebookID",
  "mlflow.databricks.notebookRevisionID",
  "mlflow.databricks.gitRepoUrl",
  "mlflow.databricks.gitRepoCommit",
] as const;

/** Where a copy keeps the origin's system tag `key` (`mlflow.source.git.commit` -> `quant.origin.source.git.commit`). */
export const originKey = (key: string) => `quant.origin.${key.replace(/^mlflow\./, "")}`;

/**
 * The origin of a version about to be copied: the origin tags it carries when it is itself a copy, or else the
 * version and its run themselves. The tags every copy (version and run) is given.
 */
export function originTags(
  host: string,
  version: { name: string; version: string; run_id?: string; user_id?: string; tags?: { key: string; value: string }[] },
  runTags: { key: string; value: string }[] | undefined,
): { key: string; value: string }[] {
  const carried = (version.tags ?? []).filter((t) => t.key.startsWith("quant.origin."));
  if (carried.some((t) => t.key === ORIGIN_TAG.workspace)) return carried;
  const run = Object.fromEntries((runTags ?? []).map((t) => [t.key, t.value]));
  return [
    { key: ORIGIN_TAG.workspace, value: host },
    { key: ORIGIN_TAG.model, value: version.name },
    { key: ORIGIN_TAG.version, value: version.version },
    { key: ORIGIN_TAG.runId, value: version.run_id ?? "" },
    { key: ORIGIN_TAG.author, value: version.user_id ?? "" },
    { key: ORIGIN_TAG.runUser, value: run["mlflow.user"] ?? "" },
    ...SYSTEM_LINEAGE.filter((k) => k !== "mlflow.user" && run[k]).map((k) => ({ key: originKey(k), value: run[k] })),
  ];
}

/** The origin of a run about to be copied with its experiment: the one it carries (a copy of a copy), or itself. */
export function runOriginTags(host: string, run: { info: { run_id: string }; data: { tags?: { key: string; value: string }[] } }) {
  const tags = run.data.tags ?? [];
  if (tags.some((t) => t.key === ORIGIN_TAG.workspace)) return [];
  const t = Object.fromEntries(tags.map((x) => [x.key, x.value]));
  return [
    { key: ORIGIN_TAG.workspace, value: host },
    { key: ORIGIN_TAG.runId, value: run.info.run_id },
    { key: ORIGIN_TAG.runUser, value: t["mlflow.user"] ?? "" },
    ...SYSTEM_LINEAGE.filter((k) => k !== "mlflow.user" && t[k]).map((k) => ({ key: originKey(k), value: t[k] })),
  ];
}

/**
 * A source version's fingerprint: what makes re-runs idempotent, and what binds a copy to the version it names
 * as its source (the gate recomputes it where the source lives).
 */
export function versionFingerprint(
  host: string,
  model: string,
  version: { version: string; run_id?: string; creation_timestamp?: number },
  files: { path: string; size: number }[],
): string {
  return sha256(
    JSON.stringify({
      host,
      model,
      version: version.version,
      run: version.run_id ?? null,
      created: version.creation_timestamp ?? null,
      files: files.map((f) => [f.path, f.size]),
    }),
  );
}

/** Tags that tie a target run to its source run (experiment migration). */
export const RUN_TAG = {
  sourceRun: "quant.migration.source_run_id",
  sourceHost: "quant.migration.source_host",
  sourceExperiment: "quant.migration.source_experiment_id",
  sourceParent: "quant.migration.source_parent_run_id",
  /** On a lease run (leaseExperiment in experiments.ts): which source experiment's migration it is for. */
  lease: "quant.migration.lease",
  /** The lease run's ticket: `choosing`, then its number. */
  leaseTicket: "quant.migration.lease_ticket",
  /** Rewritten by the lease's holder while it works: a lease whose beat stops changing is abandoned. */
  leaseBeat: "quant.migration.lease_beat",
  /** Set last, to the run's fingerprint: the run is complete only when this tag is present. */
  complete: "quant.migration.run_complete",
} as const;

/**
 * Tags `select` writes on the version it registers: what was compared and why this run won. A record for
 * people and `status`; never evidence (anyone who may tag the version can rewrite them).
 */
export const SELECTION_TAG = {
  /** The metric compared (precision) and how (max or min). */
  metric: "quant.selection.metric",
  mode: "quant.selection.mode",
  /** The winner's value of the metric, as logged by its run. */
  value: "quant.selection.value",
  /** The winner's rank among the candidates (`1`), and how many finished runs were compared. */
  rank: "quant.selection.rank",
  candidates: "quant.selection.candidates",
  /** The runs compared, best first: `<run_id>=<value>` comma-separated (cut to fit a tag, then `…+N`). */
  compared: "quant.selection.compared",
  /** The winning run and its experiment: re-running select for this run adopts this version. */
  runId: "quant.selection.run_id",
  experiment: "quant.selection.experiment",
} as const;

/**
 * Tags of a consumer's validation run (written by python/quant_lifecycle, from the CLI or a notebook alike).
 * The production gate reads them from the run, and takes who acted from the run's creator (`info.user_id`,
 * recorded by Databricks from the token), never from a tag. The manifest digest is computed by the validator
 * over the bytes it downloaded and scored, with the engine's formula (migration/hashing.ts manifestDigest).
 */
export const VALIDATION_TAG = {
  model: "quant.validation.model",
  version: "quant.validation.version",
  manifestDigest: "quant.validation.manifest_digest",
  /** SHA-256 of the historical sample file's bytes (MLflow's own dataset digest samples rows). */
  dataSha256: "quant.validation.data_sha256",
  dataName: "quant.validation.data_name",
  /** Where the sample was read from a Delta table: the table's full name and the version read (time travel). */
  dataTable: "quant.validation.data_table",
  dataTableVersion: "quant.validation.data_table_version",
  labelColumn: "quant.validation.label_column",
  metric: "quant.validation.metric",
  threshold: "quant.validation.threshold",
  value: "quant.validation.value",
  /** `passed` or `failed`. */
  verdict: "quant.validation.verdict",
  /** `model` (scored with the version loaded through pyfunc) or `file` (predictions the consumer made elsewhere). */
  predictions: "quant.validation.predictions",
} as const;

/** How a consumer's sign-off (a transition request's comment, a merge request note) names its validation run. */
export const signOffComment = (runId: string, toEnv: string) => `validated: run ${runId}; signed off for ${toEnv}`;
/**
 * A consumer's sign-off on the merge-request path, in the merge request's description or the signer's approval
 * note: it names the version and its validation run, and counts for that version only.
 */
export const mergeRequestSignOffText = (model: string, version: string, runId: string, toEnv: string) =>
  `sign-off: model '${model}' version ${version}; validated: run ${runId}; signed off for ${toEnv}`;
/** The validation run ids a sign-off comment names. */
export const runIdsIn = (comment: string | undefined) => [...(comment ?? "").matchAll(/\brun ([0-9a-f]{32})\b/g)].map((m) => m[1]);

/** A migrated run's manifest (`_migration/manifest.json` in the target run), as the experiment engine writes it. */
export interface RunManifest {
  fingerprint: string;
  manifestDigest: string;
  source: { host: string; experiment: string; run: string };
  files: { path: string; size: number; sha256: string }[];
  /** How the files were verified in the target (absent in manifests written before it was recorded). */
  verify?: "full" | "size" | "store";
}

/** The status of a logged model whose files are still being written (MLflow 3). */
export const PENDING = "LOGGED_MODEL_PENDING";

/** Tags of a moved logged model (besides TAG.sourceHost, TAG.sourceRun and TAG.manifestDigest). */
export const MODEL_TAG = {
  /** The source model's id: a second move finds its copy by it. */
  sourceModel: "quant.migration.source_model_id",
  /** Set once the model's metrics are all logged (a resumed copy does not log them again). */
  metricsCopied: "quant.migration.metrics_copied",
} as const;
