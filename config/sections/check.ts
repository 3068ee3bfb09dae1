/**
 * The readers every configuration section is checked with: each reports a problem with its stack, file, key
 * path, the value found and what was expected, and returns undefined instead of throwing, so that one pass
 * reports every problem at once.
 */
import { PerStack, PROJECT } from "../schema";

function show(v: unknown): string {
  if (v === undefined) return "(missing)";
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Where a problem is: which stack, which file, and a key path below the project namespace. */
export class Ctx {
  constructor(
    readonly problems: string[],
    readonly stack: string,
    readonly file: string,
  ) {}
  bad(keyPath: string, value: unknown, expected: string): void {
    this.problems.push(`stack ${this.stack}: ${this.file} ${PROJECT}:${keyPath} = ${show(value)}: expected ${expected}`);
  }
  say(keyPath: string, message: string): void {
    this.problems.push(`stack ${this.stack}: ${this.file} ${PROJECT}:${keyPath}: ${message}`);
  }
}

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function obj(c: Ctx, p: string, v: unknown, required: string[], optional: string[] = []): Record<string, unknown> | undefined {
  if (!isObj(v)) {
    c.bad(p, v, `an object with keys ${[...required, ...optional].join(", ")}`);
    return undefined;
  }
  // Missing required keys are reported by the reader of each field, which knows what was expected.
  const known = new Set([...required, ...optional]);
  for (const k of Object.keys(v)) {
    if (!known.has(k)) c.say(`${p}.${k}`, `unknown key; expected one of: ${[...known].join(", ")}`);
  }
  return v;
}

export function str(c: Ctx, p: string, v: unknown, what: string, re?: RegExp): string | undefined {
  if (typeof v !== "string" || v.length === 0 || (re && !re.test(v))) {
    c.bad(p, v, what);
    return undefined;
  }
  return v;
}

export function oneOf<T extends string>(c: Ctx, p: string, v: unknown, values: readonly T[]): T | undefined {
  if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
    c.bad(p, v, `one of ${values.join(", ")}`);
    return undefined;
  }
  return v as T;
}

export function bool(c: Ctx, p: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") {
    c.bad(p, v, "true or false");
    return dflt;
  }
  return v;
}

export function list<T>(c: Ctx, p: string, v: unknown, item: (x: unknown, p: string) => T | undefined, allowEmpty = true): T[] {
  if (v === undefined && allowEmpty) return [];
  if (!Array.isArray(v) || (!allowEmpty && v.length === 0)) {
    c.bad(p, v, allowEmpty ? "a list" : "a non-empty list");
    return [];
  }
  return v.map((x, i) => item(x, `${p}[${i}]`)).filter((x): x is T => x !== undefined);
}

/**
 * A value that is either the same for every stack, or a map from stack name to value.
 * Stacks left out of a map get nothing.
 */
export function perStack<T>(c: Ctx, p: string, v: unknown, stacks: string[], item: (x: unknown, p: string) => T | undefined): PerStack<T> {
  const out: PerStack<T> = {};
  if (v === undefined) return out;
  if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (!stacks.includes(k)) {
        c.say(`${p}.${k}`, `unknown stack; expected one of: ${stacks.join(", ")}`);
        continue;
      }
      out[k] = item(x, `${p}.${k}`);
    }
    return out;
  }
  const one = item(v, p);
  for (const s of stacks) out[s] = one;
  return out;
}

export const rank = <T extends string>(levels: readonly T[], l: T | undefined) => (l === undefined ? -1 : levels.indexOf(l));

export function num(c: Ctx, p: string, v: unknown, what: string): number | undefined {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    c.bad(p, v, what);
    return undefined;
  }
  return v;
}
