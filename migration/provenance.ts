/**
 * The tags a migration reads and writes in the target: provenance of a migrated model version or run, and
 * the approval a production promotion needs. verify-move and the inventory read them back.
 */

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
} as const;

/** Tags that tie a target run to its source run (experiment migration). */
export const RUN_TAG = {
  sourceRun: "quant.migration.source_run_id",
  sourceHost: "quant.migration.source_host",
  sourceExperiment: "quant.migration.source_experiment_id",
  sourceParent: "quant.migration.source_parent_run_id",
  /**
   * A concurrent migration's claim on the source run: `choosing`, then its ticket number; `failed` when its
   * migration failed (the run is then resumable). See claimTargetRun in experiments.ts.
   */
  claim: "quant.migration.claim_ticket",
  /** Set last, to the run's fingerprint: the run is complete only when this tag is present. */
  complete: "quant.migration.run_complete",
} as const;
