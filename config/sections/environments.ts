/** `environments` (the branches and their tiers and approvals) and `flow` (the promotion edges between them). */
import { Environment, FlowEdge, Tier, TIERS } from "../schema";
import { findCycle } from "../flow";
import { duplicates, identityOf } from "../identity";
import { Ctx, isObj, list, obj, oneOf } from "./check";

export function validateEnvironments(c: Ctx, v: unknown): Environment[] {
  if (!isObj(v) || Object.keys(v).length === 0) {
    c.bad("environments", v, "a map from environment (branch) name to { tier, approvals }");
    return [];
  }
  const out: Environment[] = [];
  for (const [name, x] of Object.entries(v)) {
    const p = `environments.${name}`;
    if (!/^[A-Za-z0-9._-]+$/.test(name)) c.say(p, "an environment name is a Git branch name of letters, digits, '.', '_' or '-'");
    const e = obj(c, p, x, ["tier"], ["approvals"]);
    if (!e) continue;
    const tier = oneOf<Tier>(c, `${p}.tier`, e.tier, TIERS);
    let approvals = 1;
    if (e.approvals !== undefined) {
      if (typeof e.approvals !== "number" || !Number.isInteger(e.approvals) || e.approvals < 1) {
        c.bad(`${p}.approvals`, e.approvals, "a whole number of at least 1 (the author's own approval never counts)");
      } else approvals = e.approvals;
    }
    if (tier) out.push({ name, tier, approvals });
  }
  return out;
}

export function validateFlow(c: Ctx, v: unknown, envs: Environment[]): FlowEdge[] {
  const names = envs.map((e) => e.name);
  const tier = (n: string) => envs.find((e) => e.name === n)?.tier;
  const edges = list<FlowEdge>(
    c,
    "flow",
    v,
    (x, p) => {
      const e = obj(c, p, x, ["from", "to"]);
      if (!e) return undefined;
      let ok = true;
      for (const end of ["from", "to"] as const) {
        if (typeof e[end] !== "string" || !names.includes(e[end] as string)) {
          c.bad(`${p}.${end}`, e[end], `a known environment (${names.join(", ")})`);
          ok = false;
        }
      }
      if (!ok) return undefined;
      const edge = { from: e.from as string, to: e.to as string };
      if (edge.from === edge.to) {
        c.say(p, `${edge.from} -> ${edge.to} promotes an environment into itself; expected two different environments`);
        return undefined;
      }
      if (tier(edge.from) === "development" && tier(edge.to) === "production") {
        c.say(
          p,
          `${edge.from} -> ${edge.to} goes from development straight to production; expected a path through staging (for example ${edge.from} -> quant_stg -> ${edge.to})`,
        );
        return undefined;
      }
      return edge;
    },
    false,
  );
  for (const d of duplicates("flowEdge", edges)) {
    c.say(
      "flow",
      `edge ${edges[d.index].from} -> ${edges[d.index].to} is declared twice; an edge is identified by ${identityOf("flowEdge")}`,
    );
  }
  const cycle = findCycle(edges);
  if (cycle) c.say("flow", `the flow has a cycle ${cycle.join(" -> ")}; expected promotions that only move forward`);
  return edges;
}
