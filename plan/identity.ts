/**
 * Which fields identify each kind of plan entry. The table and its functions live in config/identity.ts,
 * the bottom layer, so that validation's duplicate checks use it without importing plan/; this is their
 * address for everything above config/.
 */
export type { EntryKind, Duplicate } from "../config/identity";
export { IDENTITY, entryKey, identityOf, duplicates, keyed } from "../config/identity";
