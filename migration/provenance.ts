/**
 * The tags a migration reads and writes in the target: provenance of a migrated model version or run, and
 * the approval a production promotion needs. verify-move and the inventory read them back.
 */

/** The experiment that holds the runs of migrated model versions (their files and journals): never moved as content. */
export const MIGRATIONS_EXPERIMENT = "quant-platform-migrations";

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
