/**
 * How a migration fails, so that no caller can take a failure for success:
 * - `migrationError`: a migration that cannot start or must stop (nothing registered in the target);
 * - `IncompleteMigration`: a migration of many items (experiment runs, notebooks) that carried on past
 *   failed items and then threw, carrying its full report and the typed list of what did not move.
 */

/** A migration that cannot start or must stop: nothing has been registered in the target. */
export function migrationError(message: string): Error {
  return Object.assign(new Error(message), { migration: true });
}

/** One item that did not move: `failed` (an error; a re-run resumes it) or `conflict` (the target differs). */
export interface ItemFailure {
  /** The source item: a run id, a workspace path. */
  item: string;
  outcome: "failed" | "conflict";
  problem: string;
}

/**
 * Thrown by experiment and notebook migration when any item failed or conflicted, after every other item
 * was tried. `report` is the report a success would have returned; `failures` lists what did not move.
 * A plain AggregateError with fields (not a subclass), like every error of the engine.
 */
export type IncompleteMigration<R> = AggregateError & { incomplete: true; report: R; failures: ItemFailure[] };

export function incompleteMigration<R>(what: string, total: number, report: R, failures: ItemFailure[]): IncompleteMigration<R> {
  const failed = failures.filter((f) => f.outcome === "failed").length;
  const shown = failures
    .slice(0, 10)
    .map((f) => `\n - ${f.outcome}: ${f.problem}`)
    .join("");
  const more = failures.length > 10 ? `\n - … and ${failures.length - 10} more (see the report)` : "";
  const message = `${what}: ${failures.length} of ${total} did not move (${failed} failed, ${failures.length - failed} conflicts)${shown}${more}`;
  return Object.assign(
    new AggregateError(
      failures.map((f) => new Error(f.problem)),
      message,
    ),
    { incomplete: true as const, report, failures },
  );
}

/** True when `e` is an IncompleteMigration (its `report` holds what did move). */
export function isIncompleteMigration<R = unknown>(e: unknown): e is IncompleteMigration<R> {
  return e instanceof Error && (e as Partial<IncompleteMigration<R>>).incomplete === true;
}
