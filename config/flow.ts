/**
 * The promotion flow as a graph. Pure: validation, the plan, the branch guard, the migration guard and the
 * policy pack all ask it. It lives in config/ (the bottom layer) so that validation can use it without
 * importing plan/; plan/flow.ts re-exports it for everything above.
 */
import type { FlowEdge } from "./schema";

export type Edge = FlowEdge;

/** True when `from -> to` is a declared promotion edge. */
export function isEdge(flow: readonly Edge[], from: string, to: string): boolean {
  return flow.some((e) => e.from === from && e.to === to);
}

/** The environments a source may be promoted to, in declaration order. */
export function allowedTargets(flow: readonly Edge[], from: string): string[] {
  return flow.filter((e) => e.from === from).map((e) => e.to);
}

/** The environments whose merge requests and models may come into `to`, in declaration order. */
export function sourcesOf(flow: readonly Edge[], to: string): string[] {
  return flow.filter((e) => e.to === to).map((e) => e.from);
}

/** The first cycle found, as a closed walk (a -> b -> a), or undefined when the flow is acyclic. */
export function findCycle(flow: readonly Edge[]): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const e of flow) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === "done") return undefined;
    if (state.get(n) === "open") return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, "open");
    stack.push(n);
    for (const m of next.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, "done");
    return undefined;
  };
  for (const n of [...next.keys()].sort()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}
