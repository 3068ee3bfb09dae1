/**
 * Which fields identify each kind of plan entry, declared once. Keys, resource names, duplicate checks
 * and the access diff all derive from this table.
 */
export const IDENTITY = {
  group: ["name"],
  user: ["email"],
  membership: ["group", "email"],
  directory: ["path"],
  gitFolder: ["path"],
  workspaceAcl: ["objectType", "path"],
  model: ["name"],
  registryAcl: ["model"],
  ucGrant: ["model"],
  gitMember: ["gitUsername"],
  branchRule: ["branch"],
  flowEdge: ["from", "to"],
  migration: ["model", "from", "to"],
} as const;

export type EntryKind = keyof typeof IDENTITY;

/** The stable key of an entry: its kind and identifying fields, e.g. `membership:quant-developer/ann@x.io`. */
export function entryKey(kind: EntryKind, entry: Record<string, unknown>): string {
  return `${kind}:${IDENTITY[kind].map((f) => String(entry[f])).join("/")}`;
}

/** Adds `key` to each entry, throwing when two entries share an identity. */
export function keyed<T extends Record<string, unknown>>(kind: EntryKind, entries: T[]): (T & { key: string })[] {
  const seen = new Map<string, T>();
  return entries.map((e) => {
    const key = entryKey(kind, e);
    if (seen.has(key)) {
      throw new Error(`duplicate ${kind} ${key}: a ${kind} is identified by (${IDENTITY[kind].join(", ")}), and two entries share it`);
    }
    seen.set(key, e);
    return { ...e, key };
  });
}
