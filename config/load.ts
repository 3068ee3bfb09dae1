import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { PROJECT } from "./schema";

/** One configuration value as a stack file holds it; secret when it (or anything in it) was `secure:`. */
export interface ConfigEntry {
  value: unknown;
  secret: boolean;
}

/**
 * Everything configuration says, before validation: the project-level values of Pulumi.yaml and each
 * stack's own values, keyed by the short key (without the `quant-platform:` namespace). Keys of other
 * namespaces (a provider's own settings) are kept apart and never validated here.
 */
export interface ConfigSources {
  project: Record<string, unknown>;
  stacks: Record<string, Record<string, ConfigEntry>>;
}

/** Stand-in for a secret value read offline: the plan needs to know a secret exists, never its value. */
export const SECRET_PLACEHOLDER = "[secret]";

function shortKey(key: string): string | undefined {
  const i = key.indexOf(":");
  if (i < 0) return key;
  return key.slice(0, i) === PROJECT ? key.slice(i + 1) : undefined;
}

function isSecure(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && "secure" in v;
}

/** Replaces every `secure:` leaf by the placeholder and says whether there was one. */
function stripSecure(v: unknown): { value: unknown; secret: boolean } {
  if (isSecure(v)) return { value: SECRET_PLACEHOLDER, secret: true };
  if (Array.isArray(v)) {
    const parts = v.map(stripSecure);
    return { value: parts.map((p) => p.value), secret: parts.some((p) => p.secret) };
  }
  if (typeof v === "object" && v !== null) {
    let secret = false;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = stripSecure(x);
      out[k] = p.value;
      secret = secret || p.secret;
    }
    return { value: out, secret };
  }
  return { value: v, secret: false };
}

/** Project-level config entries are either a bare value or a declaration with `value`/`default`. */
export function projectValues(configSection: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof configSection !== "object" || configSection === null) return out;
  for (const [key, entry] of Object.entries(configSection)) {
    const k = shortKey(key);
    if (k === undefined) continue;
    const isDecl =
      typeof entry === "object" && entry !== null && !Array.isArray(entry) && ("value" in entry || "default" in entry || "type" in entry);
    out[k] = isDecl ? ((entry as Record<string, unknown>).value ?? (entry as Record<string, unknown>).default) : entry;
  }
  return out;
}

/** A stack file's `config:` section, namespaced keys shortened, secrets flagged and masked. */
export function stackValues(configSection: unknown): Record<string, ConfigEntry> {
  const out: Record<string, ConfigEntry> = {};
  if (typeof configSection !== "object" || configSection === null) return out;
  for (const [key, v] of Object.entries(configSection)) {
    const k = shortKey(key);
    if (k === undefined) continue;
    out[k] = stripSecure(v);
  }
  return out;
}

function readYaml(file: string): Record<string, unknown> {
  const doc = YAML.parse(fs.readFileSync(file, "utf8"));
  return (doc ?? {}) as Record<string, unknown>;
}

/** Stack names that have a `Pulumi.<stack>.yaml` file in the project directory. */
export function stackFileNames(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .map((f) => /^Pulumi\.(.+)\.ya?ml$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => m[1])
    .sort();
}

/** Reads Pulumi.yaml and every Pulumi.<stack>.yaml of a project directory. */
export function readConfigSources(dir: string): ConfigSources {
  const project = projectValues(readYaml(path.join(dir, "Pulumi.yaml")).config);
  const stacks: ConfigSources["stacks"] = {};
  for (const name of stackFileNames(dir)) {
    const file = ["yaml", "yml"].map((e) => path.join(dir, `Pulumi.${name}.${e}`)).find((f) => fs.existsSync(f))!;
    stacks[name] = stackValues(readYaml(file).config);
  }
  return { project, stacks };
}

export { projectDir } from "./projectDir";
