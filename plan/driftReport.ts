/**
 * Turns `pulumi preview --refresh --expect-no-changes --json` output into drift items: which resource,
 * which property, the declared value against the actual one, and the member, branch or model affected.
 * Pure: the CLI reads the file.
 */
import { canonicalJson as canon } from "../config/identity";

interface State {
  type?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}
export interface PreviewStep {
  op: string;
  urn: string;
  oldState?: State;
  newState?: State;
  diffReasons?: string[];
  detailedDiff?: Record<string, { kind?: string; inputDiff?: boolean }>;
}
export interface PreviewDocument {
  steps?: PreviewStep[];
  changeSummary?: Record<string, number>;
}

export interface DriftItem {
  resource: string;
  op: string;
  property: string;
  declared: string;
  actual: string;
  affects: string;
}

const QUIET = new Set(["same", "read", "refresh", "discard"]);

/** The value at a Pulumi property path like `accessControls[0].permissionLevel`. */
export function valueAt(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

const show = (v: unknown) => (v === undefined ? "(absent)" : JSON.stringify(v));

function urnParts(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  const type = (parts[2] ?? "").split("$").pop() ?? "";
  return { type, name: parts[3] ?? urn };
}

/** Who or what a drifted resource concerns, named from its declared inputs. */
function affects(type: string, inputs: Record<string, unknown>, name: string): string {
  if (type.endsWith("permissions:Permissions")) {
    const groups = ((inputs.accessControls as { groupName?: string }[] | undefined) ?? []).map((a) => a.groupName).filter(Boolean);
    const object = inputs.directoryPath ?? inputs.repoPath ?? inputs.repoId ?? inputs.registeredModelId ?? "object";
    return `${object}: groups ${groups.join(", ")}`;
  }
  if (type.endsWith("gitlab:ProtectedBranch") || type.endsWith("gitlab:ApprovalRule")) return `branch ${inputs.branch}`;
  if (type.endsWith("gitlab:ProjectMembers")) return `members of ${inputs.project}`;
  if (type.endsWith("groupMember:GroupMember")) return `membership ${name}`;
  if (type.endsWith("mlflow:ModelMigration")) return `model ${inputs.toModel} (promoted ${inputs.fromEnv} -> ${inputs.toEnv})`;
  if (type.endsWith("repositoryRuleset:RepositoryRuleset")) return `ruleset ${inputs.name}`;
  return name;
}

/**
 * The property paths under `path` where `declared` and `actual` differ: into lists of the same length
 * and into objects by the declared keys (what the service adds, such as empty fields, is not drift;
 * `__`-keys are the engine's bookkeeping).
 */
function leafDiffs(declared: unknown, actual: unknown, path: string): string[] {
  if (Array.isArray(declared) && Array.isArray(actual) && declared.length === actual.length) {
    return declared.flatMap((d, i) => leafDiffs(d, actual[i], `${path}[${i}]`));
  }
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);
  if (isObj(declared) && isObj(actual)) {
    return Object.keys(declared)
      .filter((k) => !k.startsWith("__"))
      .flatMap((k) => leafDiffs(declared[k], actual[k], `${path}.${k}`));
  }
  return canon(declared) === canon(actual) ? [] : [path];
}

export function driftItems(doc: PreviewDocument): DriftItem[] {
  const items: DriftItem[] = [];
  for (const s of doc.steps ?? []) {
    if (QUIET.has(s.op)) continue;
    const { type, name } = urnParts(s.urn);
    const declared = s.newState?.inputs ?? {};
    const actual = s.oldState?.outputs ?? s.oldState?.inputs ?? {};
    const resource = `${type} ${name}`;
    const who = affects(type, Object.keys(declared).length ? declared : actual, name);
    if (s.op === "create") {
      items.push({
        resource,
        op: s.op,
        property: "(the resource)",
        declared: "exists",
        actual: "missing: deleted outside Pulumi",
        affects: who,
      });
      continue;
    }
    if (s.op === "delete") {
      items.push({ resource, op: s.op, property: "(the resource)", declared: "not declared", actual: "exists", affects: who });
      continue;
    }
    // The engine names top-level properties (a bridged provider: `accessControls`) or none at all (a dynamic
    // provider's diff); narrow each to the leaves that differ, so the report says which entry changed.
    const named = Object.keys(s.detailedDiff ?? {}).length ? Object.keys(s.detailedDiff!) : (s.diffReasons ?? []);
    const top = named.length ? named : Object.keys(declared).filter((k) => !k.startsWith("__") && canon(declared[k]) !== canon(actual[k]));
    const props = top.length
      ? top.flatMap((p) => {
          const l = leafDiffs(valueAt(declared, p), valueAt(actual, p), p);
          return l.length ? l : [p];
        })
      : ["(unknown property)"];
    for (const p of props)
      items.push({ resource, op: s.op, property: p, declared: show(valueAt(declared, p)), actual: show(valueAt(actual, p)), affects: who });
  }
  // The engine emits steps in the order its parallel walk reaches them: sort, so a report reads the same every run.
  return items.sort((a, b) => a.resource.localeCompare(b.resource) || a.property.localeCompare(b.property, undefined, { numeric: true }));
}

export function renderDriftMarkdown(stack: string, items: DriftItem[]): string {
  if (!items.length) return `## Drift: stack ${stack}\n\nNo drift: every resource matches its declaration.\n`;
  const resources = new Set(items.map((i) => i.resource)).size;
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  return [
    `## Drift: stack ${stack}`,
    "",
    `${resources} resource(s) changed outside Pulumi; \`pulumi up -s ${stack}\` restores the declared state.`,
    "",
    "| resource | property | declared | actual | affects |",
    "|---|---|---|---|---|",
    ...items.map((i) => `| ${cell(i.resource)} | ${cell(i.property)} | ${cell(i.declared)} | ${cell(i.actual)} | ${cell(i.affects)} |`),
    "",
  ].join("\n");
}
