/**
 * Secret scopes move with their keys and ACLs (Databricks Secrets API 2.0). The API never hands a secret's value to
 * the tools, so the values come from the operator (`move --secret-values FILE`, e.g. an export of their vault): a
 * value is written to the target and never to disk, a log or a report. A key with no value given is a to-do,
 * and the move exits 3 until it is given. Verification compares the keys and the ACLs (values cannot be read).
 *
 * An ACL principal goes through the plan's principalMap, and one the target does not know holds the scope: nothing
 * of it is created until the operator creates that principal there or maps it (an entry is never dropped).
 */
import { DEFAULT_RETRY, hasStatus, jsonRequest, RetryPolicy, withRetry } from "../clients/http";
import { Endpoint } from "../clients/mlflow";
import { DirectGrant } from "../clients/permissionsAcl";
import { targetFacts } from "./compute";

export interface SecretScopeInventory {
  name: string;
  keys: string[];
  /** principal -> READ, WRITE or MANAGE. */
  acls: Record<string, string>;
}

/** Values by scope, then key: `{"<scope>": {"<key>": "<value>"}}`. */
export type SecretValues = Record<string, Record<string, string>>;

export interface SecretScopeReport {
  scope: string;
  /** planned: a dry run found nothing to hold it. */
  outcome: "created" | "adopted" | "held" | "planned";
  /** Keys whose value was written; keys already in the target, left as they are (no value given); to-dos. */
  written: string[];
  kept: string[];
  todo: string[];
  acls: number;
  /** Principals mapped on the way (principalMap); what holds the scope (a principal the target lacks). */
  changes: string[];
  held: string[];
}

/** Whether the target knows a principal: a user or group by name, a service principal by application id. */
export type PrincipalExists = (kind: DirectGrant["kind"], name: string) => Promise<boolean>;

/**
 * A scope's ACL as the target will hold it: each principal through the principalMap, and each the target does not
 * know as a user, group or service principal named (the `users` group every workspace has).
 */
export async function mapScopeAcl(
  acls: Record<string, string>,
  exists: PrincipalExists,
  principalMap: Record<string, string> = {},
  what: string,
): Promise<{ acls: Record<string, string>; changes: string[]; held: string[] }> {
  const out: Record<string, string> = {};
  const changes: string[] = [];
  const held: string[] = [];
  for (const [principal, permission] of Object.entries(acls)) {
    const to = principalMap[principal] ?? principal;
    if (to !== principal) changes.push(`${what}: ${permission} of ${principal} given to ${to} (principalMap)`);
    const known = to === "users" || (await exists("user", to)) || (await exists("group", to)) || (await exists("servicePrincipal", to));
    if (!known)
      held.push(`${what}: principal ${to} (${permission}) does not exist in the target: create it, or map it in the plan's principalMap`);
    out[to] = permission;
  }
  return { acls: out, changes, held };
}

/** The Secrets API of one workspace. */
export function secretsClient(ep: Endpoint, retry: RetryPolicy = DEFAULT_RETRY) {
  const headers: Record<string, string> = ep.token ? { Authorization: `Bearer ${ep.token}` } : {};
  const call = <T>(method: string, path: string, what: string, body?: unknown) =>
    withRetry(retry, () => jsonRequest<T>(method, `${ep.baseUrl}/api/2.0/secrets/${path}`, headers, body, `${ep.uri}: ${what}`));
  const q = (scope: string) => `scope=${encodeURIComponent(scope)}`;
  const scopes = async () =>
    ((await call<{ scopes?: { name: string }[] }>("GET", "scopes/list", "secret scopes")).scopes ?? []).map((s) => s.name);
  return {
    scopes,
    keys: async (scope: string) =>
      ((await call<{ secrets?: { key: string }[] }>("GET", `list?${q(scope)}`, `keys of secret scope '${scope}'`)).secrets ?? [])
        .map((s) => s.key)
        .sort(),
    acls: async (scope: string) =>
      Object.fromEntries(
        (
          (
            await call<{ items?: { principal: string; permission: string }[] }>(
              "GET",
              `acls/list?${q(scope)}`,
              `ACLs of secret scope '${scope}'`,
            )
          ).items ?? []
        ).map((a) => [a.principal, a.permission]),
      ),
    /**
     * Creates the scope; false when it existed already (adopted). A scope absent when looked for and "already
     * existing" at the create is this call's: an attempt the target applied and whose answer was lost.
     */
    async createScope(scope: string): Promise<boolean> {
      if ((await scopes()).includes(scope)) return false;
      try {
        await call("POST", "scopes/create", `secret scope '${scope}'`, { scope });
      } catch (e) {
        if (!(hasStatus(e, 400) && (e as { code?: string }).code === "RESOURCE_ALREADY_EXISTS")) throw e;
      }
      return true;
    },
    /** Writes a value; its words never name the value. */
    put: (scope: string, key: string, value: string) =>
      call("POST", "put", `secret '${key}' of scope '${scope}'`, { scope, key, string_value: value }),
    putAcl: (scope: string, principal: string, permission: string) =>
      call("POST", "acls/put", `ACL of ${principal} on secret scope '${scope}'`, { scope, principal, permission }),
    deleteAcl: (scope: string, principal: string) =>
      call("POST", "acls/delete", `ACL of ${principal} on secret scope '${scope}'`, { scope, principal }),
  };
}

/** What the source holds of the named scopes (all when none is named): keys and ACLs, never values. */
export async function secretScopeInventory(ep: Endpoint, names?: string[], retry?: RetryPolicy): Promise<SecretScopeInventory[]> {
  const c = secretsClient(ep, retry);
  const all = await c.scopes();
  const out: SecretScopeInventory[] = [];
  for (const name of (names ?? all).filter((n) => all.includes(n)).sort())
    out.push({ name, keys: await c.keys(name), acls: await c.acls(name) });
  return out;
}

/**
 * Moves one scope: maps its ACL (held, with nothing created, while a principal is unknown to the target), creates it
 * in the target (or adopts it), gives every source ACL entry, and writes each key whose value the operator gave. A
 * key with no value is left as it is when the target has it (a value given in an earlier move), a to-do otherwise.
 * A dry run stops after the ACL's check.
 */
export async function moveSecretScope(o: {
  from: Endpoint;
  to: Endpoint;
  scope: string;
  values: SecretValues;
  /** Default: the target's SCIM (targetFacts). */
  principalExists?: PrincipalExists;
  principalMap?: Record<string, string>;
  dryRun?: boolean;
  retry?: RetryPolicy;
}): Promise<SecretScopeReport> {
  const src = secretsClient(o.from, o.retry);
  const dst = secretsClient(o.to, o.retry);
  const report: SecretScopeReport = { scope: o.scope, outcome: "adopted", written: [], kept: [], todo: [], acls: 0, changes: [], held: [] };
  const keys = await src.keys(o.scope);
  const exists = o.principalExists ?? targetFacts(o.to, o.retry).principalExists;
  const mapped = await mapScopeAcl(await src.acls(o.scope), exists, o.principalMap, `secret scope '${o.scope}'`);
  const acls = mapped.acls;
  Object.assign(report, { changes: mapped.changes, held: mapped.held });
  if (mapped.held.length) return { ...report, outcome: "held" };
  if (o.dryRun) return { ...report, outcome: "planned" };
  // Databricks gives a scope's creator MANAGE on it: who that is, read before the source's entries are given.
  let creator: string | undefined;
  if (await dst.createScope(o.scope)) {
    report.outcome = "created";
    creator = Object.keys(await dst.acls(o.scope))[0];
  }
  for (const [principal, permission] of Object.entries(acls)) {
    await dst.putAcl(o.scope, principal, permission);
    report.acls++;
  }
  const there = new Set(await dst.keys(o.scope));
  const given = o.values[o.scope] ?? {};
  for (const key of keys) {
    if (typeof given[key] === "string") {
      await dst.put(o.scope, key, given[key]);
      report.written.push(key);
    } else if (there.has(key)) report.kept.push(key);
    else report.todo.push(key);
  }
  // The copy holds the source's entries only: the creator's own MANAGE goes last (admins keep theirs regardless).
  if (creator !== undefined && !(creator in acls)) await dst.deleteAcl(o.scope, creator);
  return report;
}

/** Keys and ACLs of each source scope (its principals through the principalMap) against the target's (values cannot be read: compared by key only). */
export function compareSecretScopes(
  source: SecretScopeInventory[],
  target: SecretScopeInventory[],
  principalMap: Record<string, string> = {},
): { subject: string; detail: string }[] {
  const out: { subject: string; detail: string }[] = [];
  for (const unmapped of source) {
    const s = { ...unmapped, acls: Object.fromEntries(Object.entries(unmapped.acls).map(([p, l]) => [principalMap[p] ?? p, l])) };
    const subject = `secret scope '${s.name}'`;
    const differs = (what: string) => out.push({ subject, detail: `${subject}${what}` });
    const t = target.find((x) => x.name === s.name);
    if (!t) {
      differs(" is missing");
      continue;
    }
    for (const k of s.keys) if (!t.keys.includes(k)) differs(`: key '${k}' is missing (give its value)`);
    for (const k of t.keys) if (!s.keys.includes(k)) differs(`: key '${k}' is in the target only`);
    for (const [p, level] of Object.entries(s.acls))
      if (t.acls[p] !== level) differs(`: ${p} has ${t.acls[p] ?? "no permission"}, the source's ${level}`);
    for (const [p, level] of Object.entries(t.acls)) if (!(p in s.acls)) differs(`: ${p} has ${level} in the target only`);
  }
  return out;
}

/**
 * Reads `--secret-values`: a JSON file `{"<scope>": {"<key>": "<value>"}}`, or `env:VAR` for the same JSON in an
 * environment variable. Errors name the entry, never a value.
 */
export function parseSecretValues(text: string, from: string): SecretValues {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${from} is not JSON: expected {"<scope>": {"<key>": "<value>"}}`);
  }
  const problems: string[] = [];
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error(`${from}: expected {"<scope>": {"<key>": "<value>"}}`);
  for (const [scope, keys] of Object.entries(doc)) {
    if (typeof keys !== "object" || keys === null || Array.isArray(keys)) {
      problems.push(`${scope}: expected a mapping of keys to values`);
      continue;
    }
    for (const [k, v] of Object.entries(keys)) if (typeof v !== "string") problems.push(`${scope}.${k}: expected a string value`);
  }
  if (problems.length) throw new Error(`${from} is not valid:\n - ${problems.join("\n - ")}`);
  return doc as SecretValues;
}

/** Whether a failure is the workspace having no Secrets API (an MLflow server): then there are no scopes to move. */
export const noSecretsApi = (e: unknown) => hasStatus(e, 404) || hasStatus(e, 501);
