/**
 * The access diff: who gains or loses what between two access models, per stack and member. Pure.
 */
import { AccessModel } from "../config/schema";
import { AccessPlan, buildAccessPlan, memberGrants } from "./accessPlan";
import { entryKey } from "./identity";
import { enforcementOn, rulesOf, showHow, TIER_RULES } from "./gitTiers";

export interface Grant {
  object: string;
  permission: string;
  via: string;
}
export interface MemberChange {
  member: string;
  gained: Grant[];
  lost: Grant[];
}
export interface StackDiff {
  stack: string;
  members: MemberChange[];
  flowEdges: { added: string[]; removed: string[] };
  promotions: { added: string[]; removed: string[] };
  /** Workspace settings (Git folders enabled, the Git URL allow list), as `key = value`. */
  settings: { added: string[]; removed: string[] };
  /** On the stack that owns the GitLab settings: how each Git rule is enforced at head, and at base where that differs. */
  enforcement?: { tier: string; rules: { rule: string; how: string; before?: string }[] };
}
export interface AccessDiff {
  base: string;
  head: string;
  changed: boolean;
  stacks: StackDiff[];
}

const grantKey = (g: { member: string; object: string; permission: string }) => entryKey("memberGrant", g);

/**
 * Added and removed entries, matched by their plan key (their declared identity) and shown by `label`. An
 * entry whose identity stays but whose label changes (a promotion now picks another alias) is both.
 */
function keyedDiff(before: { key: string; label: string }[], after: { key: string; label: string }[]) {
  const has = (xs: typeof before, x: (typeof before)[number]) => xs.some((y) => y.key === x.key && y.label === x.label);
  return {
    added: after
      .filter((x) => !has(before, x))
      .map((x) => x.label)
      .sort(),
    removed: before
      .filter((x) => !has(after, x))
      .map((x) => x.label)
      .sort(),
  };
}

/**
 * How a plan's GitLab rules are enforced: per rule that exists in the plan, on the pinned tier, or
 * "native | free: ..." when detected at deploy.
 */
function enforcementOf(p?: AccessPlan): Map<string, string> | undefined {
  if (!p || p.git.provider !== "gitlab" || !p.git.ownsProjectSettings) return undefined;
  const t = p.git.tier;
  return new Map(
    rulesOf(p).map((r) => [
      r.rule,
      t ? showHow(enforcementOn(r, t).how) : `${showHow(r.premium.how)} (premium/ultimate), ${showHow(r.free.how)} (free)`,
    ]),
  );
}

function enforcementDiff(b: AccessPlan | undefined, h: AccessPlan | undefined): Pick<StackDiff, "enforcement"> {
  const head = enforcementOf(h);
  if (!head) return {};
  const base = enforcementOf(b);
  // A rule the head adds (the consumer sign-off, once a model names signers) was "none"; one it drops is "none" now.
  const rules = TIER_RULES.map((r) => r.rule).filter((r) => head.has(r) || base?.has(r));
  return {
    enforcement: {
      tier: h!.git.tier ?? "detected at deploy",
      rules: rules.map((rule) => {
        const how = head.get(rule) ?? "none";
        const before = base && (base.get(rule) ?? "none");
        return { rule, how, ...(before !== undefined && before !== how ? { before } : {}) };
      }),
    },
  };
}

/** Compares the plans of each stack at `base` and `head` (a stack missing on one side plans as empty). */
export function accessDiff(
  base: { ref: string; model: AccessModel },
  head: { ref: string; model: AccessModel },
  only?: string,
): AccessDiff {
  const names = [...new Set([...base.model.stacks, ...head.model.stacks].map((s) => s.name))].sort().filter((s) => !only || s === only);
  const plan = (m: AccessModel, s: string) => (m.stacks.some((x) => x.name === s) ? buildAccessPlan(m, s) : undefined);
  const stacks = names.map((stack): StackDiff => {
    const b = plan(base.model, stack);
    const h = plan(head.model, stack);
    const bg = b ? memberGrants(b) : [];
    const hg = h ? memberGrants(h) : [];
    const bk = new Set(bg.map(grantKey));
    const hk = new Set(hg.map(grantKey));
    const byMember = new Map<string, MemberChange>();
    const entry = (member: string) => byMember.get(member) ?? byMember.set(member, { member, gained: [], lost: [] }).get(member)!;
    for (const g of hg) if (!bk.has(grantKey(g))) entry(g.member).gained.push({ object: g.object, permission: g.permission, via: g.via });
    for (const g of bg) if (!hk.has(grantKey(g))) entry(g.member).lost.push({ object: g.object, permission: g.permission, via: g.via });
    const edges = (p?: AccessPlan) => (p?.flowEdges ?? []).map((e) => ({ key: e.key, label: `${e.from} -> ${e.to}` }));
    const promos = (p?: AccessPlan) =>
      (p?.migrations ?? []).map((m) => ({
        key: m.key,
        label: `${m.model}: ${m.from} -> ${m.to} (${Object.entries(m.select)
          .map(([k, v]) => `${k} ${v}`)
          .join("")})`,
      }));
    const settings = (p?: AccessPlan) => (p?.workspaceSettings ?? []).map((w) => ({ key: w.key, label: `${w.setting} = ${w.value}` }));
    return {
      stack,
      members: [...byMember.values()].sort((x, y) => x.member.localeCompare(y.member)),
      flowEdges: keyedDiff(edges(b), edges(h)),
      promotions: keyedDiff(promos(b), promos(h)),
      settings: keyedDiff(settings(b), settings(h)),
      ...enforcementDiff(b, h),
    };
  });
  const changed = stacks.some(
    (s) =>
      s.members.length ||
      s.flowEdges.added.length ||
      s.flowEdges.removed.length ||
      s.promotions.added.length ||
      s.promotions.removed.length ||
      s.settings.added.length ||
      s.settings.removed.length ||
      s.enforcement?.rules.some((r) => r.before !== undefined),
  );
  return { base: base.ref, head: head.ref, changed, stacks };
}

/** Markdown for a merge-request comment: a summary first, then each stack's changes by member. */
export function renderAccessDiffMarkdown(d: AccessDiff): string {
  const lines = [`## Access changes: \`${d.base}\` -> \`${d.head}\``, ""];
  if (!d.changed) return [...lines, "No access changes.", ""].join("\n");
  lines.push("| stack | members affected | permissions gained | permissions lost | flow edges | promotions |", "|---|---|---|---|---|---|");
  for (const s of d.stacks) {
    const gained = s.members.reduce((n, m) => n + m.gained.length, 0);
    const lost = s.members.reduce((n, m) => n + m.lost.length, 0);
    lines.push(
      `| ${s.stack} | ${s.members.length} | ${gained} | ${lost} | +${s.flowEdges.added.length} / -${s.flowEdges.removed.length} | +${s.promotions.added.length} / -${s.promotions.removed.length} |`,
    );
  }
  for (const s of d.stacks) {
    if (
      !s.members.length &&
      !s.flowEdges.added.length &&
      !s.flowEdges.removed.length &&
      !s.promotions.added.length &&
      !s.promotions.removed.length &&
      !s.settings.added.length &&
      !s.settings.removed.length
    )
      continue;
    lines.push("", `### ${s.stack}`);
    for (const m of s.members) {
      lines.push("", `**${m.member}**`, "");
      for (const g of m.gained) lines.push(`- gains \`${g.permission}\` on ${g.object} (via ${g.via})`);
      for (const g of m.lost) lines.push(`- loses \`${g.permission}\` on ${g.object} (via ${g.via})`);
    }
    for (const e of s.flowEdges.added) lines.push(`- flow edge added: ${e}`);
    for (const e of s.flowEdges.removed) lines.push(`- flow edge removed: ${e}`);
    for (const p of s.promotions.added) lines.push(`- model promotion added: ${p}`);
    for (const p of s.promotions.removed) lines.push(`- model promotion removed: ${p}`);
    for (const w of s.settings.removed) lines.push(`- workspace setting was: ${w}`);
    for (const w of s.settings.added) lines.push(`- workspace setting now: ${w}`);
  }
  for (const s of d.stacks.filter((x) => x.enforcement)) {
    const e = s.enforcement!;
    lines.push(
      "",
      `### Git rule enforcement (${s.stack} owns the GitLab settings; tier ${e.tier})`,
      "",
      "| rule | enforced by |",
      "|---|---|",
    );
    for (const r of e.rules) lines.push(`| ${r.rule} | ${r.how}${r.before !== undefined ? ` (was: ${r.before})` : ""} |`);
  }
  return lines.join("\n") + "\n";
}
