/**
 * Which fields identify each kind of entry, declared once. Plan keys, resource names, the duplicate checks
 * of validation and the access diff all derive from this table. It lives in config/ (the bottom layer) so
 * that validation can use it without importing plan/; plan/identity.ts re-exports it for everything above.
 */
export const IDENTITY = {
  /** A roster member, by the id the rest of the configuration refers to. */
  member: ["id"],
  group: ["name"],
  user: ["email"],
  membership: ["group", "email"],
  directory: ["path"],
  /** A workspace experiment the platform creates, by its absolute path. */
  experiment: ["name"],
  gitFolder: ["path"],
  workspaceAcl: ["objectType", "path"],
  model: ["name"],
  registryAcl: ["model"],
  ucGrant: ["model"],
  /** USE CATALOG or USE SCHEMA for a group on the Unity Catalog registry's catalog or schema. */
  ucUsage: ["securable", "name", "principal"],
  gitMember: ["gitUsername"],
  branchRule: ["branch"],
  flowEdge: ["from", "to"],
  migration: ["model", "from", "to"],
  /** A workspace-conf key of one workspace (each stack governs one workspace). */
  workspaceSetting: ["setting"],
  /** One permission one member holds on one object: the unit of the access diff. */
  memberGrant: ["member", "object", "permission"],
} as const;

export type EntryKind = keyof typeof IDENTITY;

/** The stable key of an entry: its kind and identifying fields, e.g. `membership:quant-developer/ann@x.io`. */
export function entryKey(kind: EntryKind, entry: object): string {
  const e = entry as Record<string, unknown>;
  return `${kind}:${IDENTITY[kind].map((f) => String(e[f])).join("/")}`;
}

/** What identifies a kind of entry, in words, for error messages: `(group, email)`. */
export function identityOf(kind: EntryKind): string {
  return `(${IDENTITY[kind].join(", ")})`;
}

/** One entry that shares its identity with an earlier one: both positions and the shared key. */
export interface Duplicate {
  key: string;
  index: number;
  first: number;
}

/** Every entry whose identity an earlier entry already has, in order (empty when all are distinct). */
export function duplicates(kind: EntryKind, entries: readonly object[]): Duplicate[] {
  const first = new Map<string, number>();
  const out: Duplicate[] = [];
  entries.forEach((e, index) => {
    const key = entryKey(kind, e);
    const f = first.get(key);
    if (f === undefined) first.set(key, index);
    else out.push({ key, index, first: f });
  });
  return out;
}

/** Adds `key` to each entry, throwing when two entries share an identity. */
export function keyed<T extends object>(kind: EntryKind, entries: T[]): (T & { key: string })[] {
  const [d] = duplicates(kind, entries);
  if (d) throw new Error(`duplicate ${kind} ${d.key}: a ${kind} is identified by ${identityOf(kind)}, and two entries share it`);
  return entries.map((e) => ({ ...e, key: entryKey(kind, e) }));
}

/**
 * A value's canonical JSON, object keys sorted: how two values are compared wherever one of them went
 * through the Pulumi engine, which does not keep key order.
 */
export const canonicalJson = (v: unknown): string =>
  JSON.stringify(v ?? null, (_k, x) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, (x as Record<string, unknown>)[k]]),
        )
      : x,
  );
