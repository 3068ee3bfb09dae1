/** `models`: managed models, their promotions, selection and validation, checked against roles and stacks. */
import {
  Environment,
  FlowEdge,
  ManagedModel,
  PROJECT,
  Member,
  MODEL_LIFECYCLES,
  ModelLifecycle,
  Promotion,
  Role,
  Selection,
  StackConfig,
  Validation,
  WORKSPACE_LEVELS,
} from "../schema";
import { duplicates, identityOf } from "../identity";
import { isEdge } from "../flow";
import { Ctx, list, num, obj, oneOf, rank, str } from "./check";

export function validateModels(c: Ctx, v: unknown, stacks: string[]): ManagedModel[] {
  const models = list<ManagedModel>(c, "models", v, (x, p) => {
    const m = obj(c, p, x, ["name", "stacks"], ["lifecycle", "existingIn", "promotions", "selection", "validation"]);
    if (!m) return undefined;
    const name = str(c, `${p}.name`, m.name, "a registered model name without '.', '/' or spaces", /^[A-Za-z0-9_-]+$/);
    const lifecycle: ModelLifecycle =
      m.lifecycle === undefined ? "aliases" : (oneOf(c, `${p}.lifecycle`, m.lifecycle, MODEL_LIFECYCLES) ?? "aliases");
    const inStacks = list<string>(c, `${p}.stacks`, m.stacks, (y, q) => oneOf(c, q, y, stacks), false);
    const existingIn = list<string>(c, `${p}.existingIn`, m.existingIn, (y, q) => {
      if (typeof y !== "string" || !inStacks.includes(y)) {
        c.bad(q, y, `one of the model's own stacks (${inStacks.join(", ")})`);
        return undefined;
      }
      return y;
    });
    const promotions = list<Promotion>(c, `${p}.promotions`, m.promotions, (y, q) => {
      const pr = obj(c, q, y, ["from", "to"], ["version", "alias", "stage", "setAlias"]);
      if (!pr) return undefined;
      const from = oneOf(c, `${q}.from`, pr.from, stacks);
      const to = oneOf(c, `${q}.to`, pr.to, inStacks);
      const sel = (["version", "alias", "stage"] as const).filter((k) => pr[k] !== undefined);
      if (sel.length !== 1) {
        c.say(q, "expected exactly one of version, alias or stage to pick the source version");
        return undefined;
      }
      const value = str(c, `${q}.${sel[0]}`, pr[sel[0]] === undefined ? undefined : String(pr[sel[0]]), `a ${sel[0]}`);
      const setAlias =
        pr.setAlias === undefined
          ? undefined
          : str(c, `${q}.setAlias`, pr.setAlias, "an alias name (letters, digits, '_' or '-')", /^[\w-]+$/);
      if (setAlias && sel[0] !== "stage") c.say(`${q}.setAlias`, "goes with stage: it names the alias the stage becomes in the target");
      if (!from || !to || !value) return undefined;
      return { from, to, select: { [sel[0]]: value } as Promotion["select"], ...(setAlias ? { setAlias } : {}) };
    });
    for (const d of duplicates(
      "migration",
      promotions.map((pr) => ({ model: name, from: pr.from, to: pr.to })),
    )) {
      c.say(
        `${p}.promotions[${d.index}]`,
        `promotes ${promotions[d.index].from} -> ${promotions[d.index].to} again (as promotions[${d.first}]); a promotion is identified by ${identityOf("migration")}`,
      );
    }
    const selection = m.selection === undefined ? undefined : validateSelection(c, `${p}.selection`, m.selection);
    const validation = m.validation === undefined ? undefined : validateValidation(c, `${p}.validation`, m.validation, stacks);
    return name
      ? {
          name,
          lifecycle,
          stacks: inStacks,
          existingIn,
          promotions,
          ...(selection ? { selection } : {}),
          ...(validation ? { validation } : {}),
        }
      : undefined;
  });
  for (const d of duplicates("model", models)) {
    c.say(
      `models[${d.index}].name`,
      `model '${models[d.index].name}' is declared twice (as models[${d.first}] too); a model is identified by ${identityOf("model")}`,
    );
  }
  return models;
}

const METRIC = /^[\w./ -]+$/;

function validateSelection(c: Ctx, p: string, v: unknown): Selection | undefined {
  const s = obj(c, p, v, ["metric"], ["mode", "minimum"]);
  if (!s) return undefined;
  const metric = str(c, `${p}.metric`, s.metric, "the name of a run metric (e.g. precision)", METRIC);
  const mode = s.mode === undefined ? "max" : oneOf(c, `${p}.mode`, s.mode, ["max", "min"] as const);
  const minimum = s.minimum === undefined ? undefined : num(c, `${p}.minimum`, s.minimum, "a number (e.g. 0.8)");
  if (!metric || !mode || (s.minimum !== undefined && minimum === undefined)) return undefined;
  return { metric, mode, ...(minimum !== undefined ? { minimum } : {}) };
}

/** Structure only: which stacks and roles it may name is checked against the whole model in `validate`. */
function validateValidation(c: Ctx, p: string, v: unknown, stacks: string[]): Validation | undefined {
  const s = obj(c, p, v, ["in", "metric", "threshold", "signers"], ["data"]);
  if (!s) return undefined;
  const inStack = oneOf(c, `${p}.in`, s.in, stacks);
  const metric = str(c, `${p}.metric`, s.metric, "the name of the metric the consumer's evaluation reports (e.g. precision)", METRIC);
  const threshold = num(c, `${p}.threshold`, s.threshold, "a number the metric must reach (e.g. 0.8)");
  const signers = list<string>(c, `${p}.signers`, s.signers, (x, q) => str(c, q, x, "a role name"), false);
  const data = s.data === undefined ? undefined : validateDataPin(c, `${p}.data`, s.data);
  if (!inStack || !metric || threshold === undefined || signers.length === 0) return undefined;
  return { in: inStack, metric, threshold, signers, ...(data ? { data } : {}) };
}

/**
 * `validation.data`: the historical sample a validation must score, pinned by the SHA-256 of its bytes
 * (`{ sha256: <64 hex> }`) or by a Delta table at a version (`{ table: catalog.schema.table, version: N }`).
 */
function validateDataPin(c: Ctx, p: string, v: unknown): Validation["data"] {
  const d = obj(c, p, v, [], ["sha256", "table", "version"]);
  if (!d) return undefined;
  if ((d.sha256 === undefined) === (d.table === undefined)) {
    c.bad(p, v, "either { sha256: <the sample's SHA-256> } or { table: <catalog.schema.table>, version: <Delta version> }");
    return undefined;
  }
  if (d.sha256 !== undefined) {
    if (d.version !== undefined) c.say(`${p}.version`, "only applies with table; a sha256 pins the bytes themselves");
    const sha = str(c, `${p}.sha256`, d.sha256, "the SHA-256 of the sample file's bytes (64 hex digits)", /^[0-9a-fA-F]{64}$/);
    return sha ? { sha256: sha.toLowerCase() } : undefined;
  }
  const table = str(c, `${p}.table`, d.table, "a Delta table's full name, catalog.schema.table", /^[\w-]+(\.[\w-]+){1,2}$/);
  const version = d.version;
  if (!(typeof version === "number" && Number.isInteger(version) && version >= 0)) {
    c.bad(`${p}.version`, version, "the Delta table version the sample is read at (a whole number, see DESCRIBE HISTORY)");
    return undefined;
  }
  return table ? { table, version } : undefined;
}

/**
 * A model's validation against the rest of the model: signers are roles with duty `consume` that can do what
 * validating takes in its stack (log a run in the experiment folder, request a transition), and the stack is one
 * the model passes through before production: a production promotion of the model starts there.
 */
export function checkValidation(
  c: Ctx,
  p: string,
  m: ManagedModel,
  roles: Role[],
  members: Member[],
  stacks: StackConfig[],
  environments: Environment[],
): void {
  const v = m.validation;
  if (!v) return;
  const tierOf = (stack: string) => environments.find((e) => e.name === stacks.find((s) => s.name === stack)?.branch)?.tier;
  v.signers.forEach((name, i) => {
    const role = roles.find((r) => r.name === name);
    if (!role) return c.bad(`${p}.signers[${i}]`, name, `a role; expected one of: ${roles.map((r) => r.name).join(", ")}`);
    if (role.duty !== "consume")
      return c.bad(
        `${p}.signers[${i}]`,
        name,
        `a role with duty 'consume' (the consumers who validate and sign off); role '${name}' has duty '${role.duty}'${
          roles.some((r) => r.duty === "consume")
            ? ` (roles with duty consume: ${roles
                .filter((r) => r.duty === "consume")
                .map((r) => r.name)
                .join(", ")})`
            : ""
        }`,
      );
    if (rank(WORKSPACE_LEVELS, role.experiments[v.in]) < rank(WORKSPACE_LEVELS, "CAN_EDIT"))
      c.say(
        `${p}.signers[${i}]`,
        `role '${name}' validates in ${v.in} but has ${role.experiments[v.in] ?? "no"} experiments access there; expected roles.${name}.experiments.${v.in}: CAN_EDIT or more, to log the validation run`,
      );
    if (role.registry[v.in] === undefined)
      c.say(
        `${p}.signers[${i}]`,
        `role '${name}' signs off in ${v.in} but has no registry access there; expected roles.${name}.registry.${v.in}: CAN_READ (the level that may request a stage transition)`,
      );
  });
  const known = v.signers.filter((name) => roles.some((r) => r.name === name && r.duty === "consume"));
  if (known.length === v.signers.length && !members.some((x) => x.roles.some((r) => known.includes(r))))
    c.say(
      `${p}.signers`,
      `no roster member holds a signer role (${known.join(", ")}): nobody could validate or sign off; expected at least one`,
    );
  const production = m.promotions.filter((pr) => tierOf(pr.to) === "production" && tierOf(pr.from) !== "production");
  const sources = [...new Set(production.map((pr) => pr.from))];
  const before = [...new Set([...m.stacks, ...m.promotions.map((pr) => pr.from)])].filter((st) => tierOf(st) !== "production");
  if (tierOf(v.in) === "production" || (sources.length > 0 && !sources.includes(v.in)))
    c.bad(
      `${p}.in`,
      v.in,
      `a stack model '${m.name}' passes through before production: ${sources.length ? `where its production promotions start (${sources.join(", ")})` : `one of ${before.join(", ") || "(none)"}`}`,
    );
  else if (sources.length > 1)
    c.say(
      `${p}.in`,
      `model '${m.name}' is promoted into production from ${sources.join(" and ")}, but validated only in ${v.in}: a promotion from elsewhere would pass unvalidated; expected its production promotions to start in ${v.in}`,
    );
}

/**
 * A stack's registry holds its models' lifecycle: the workspace registry has stages but no aliases (aliases
 * are a Unity Catalog feature), Unity Catalog aliases but no stages. `raw` is the project's models as written,
 * to say when a lifecycle is the default.
 */
export function checkLifecycleFits(c: Ctx, s: StackConfig, models: ManagedModel[], raw: unknown): void {
  const lifecycleUnset = (i: number) => Array.isArray(raw) && (raw[i] as { lifecycle?: unknown } | undefined)?.lifecycle === undefined;
  models.forEach((m, i) => {
    if (!m.stacks.includes(s.name)) return;
    if (s.registry.flavour === "workspace" && m.lifecycle === "aliases")
      c.say(
        `workspace.registry.flavour`,
        `is workspace, which has stages but no aliases (aliases are a Unity Catalog feature), yet model '${m.name}' (Pulumi.yaml ${PROJECT}:models[${i}]) has lifecycle 'aliases'${lifecycleUnset(i) ? " (the default)" : ""} and lists this stack; expected lifecycle: stages (Staging, Production), or registry flavour unity-catalog`,
      );
    if (s.registry.flavour === "unity-catalog" && m.lifecycle === "stages")
      c.say(
        `workspace.registry.flavour`,
        `is unity-catalog, which has aliases but no stages, yet model '${m.name}' (Pulumi.yaml ${PROJECT}:models[${i}]) has lifecycle 'stages' and lists this stack; expected lifecycle: aliases, or registry flavour workspace`,
      );
  });
}

/** Promotions move along the flow, and pick and keep what the two registries can both hold (stages or aliases). */
export function checkPromotions(c: Ctx, models: ManagedModel[], stacks: StackConfig[], flow: FlowEdge[]): void {
  models.forEach((m, i) =>
    m.promotions.forEach((pr, j) => {
      const from = stacks.find((s) => s.name === pr.from)?.branch;
      const to = stacks.find((s) => s.name === pr.to)?.branch;
      const noAliases = [pr.from, pr.to].filter(
        (n, k, all) => all.indexOf(n) === k && stacks.find((s) => s.name === n)?.registry.flavour === "workspace",
      );
      if ("alias" in pr.select && noAliases.length) {
        c.say(
          `models[${i}].promotions[${j}].alias`,
          `model '${m.name}' is promoted ${pr.from} -> ${pr.to} by alias '${pr.select.alias}', but stack ${noAliases.join(" and ")} uses the workspace registry, which has stages but no aliases (a Unity Catalog feature); expected stage (e.g. stage: Production) or version, or registry flavour unity-catalog on ${noAliases.join(" and ")}`,
        );
      }
      const flavourOf = (n: string) => stacks.find((s) => s.name === n)?.registry.flavour;
      if ("stage" in pr.select && flavourOf(pr.from) === "workspace" && flavourOf(pr.to) === "unity-catalog" && !pr.setAlias) {
        c.say(
          `models[${i}].promotions[${j}].setAlias`,
          `model '${m.name}' is promoted ${pr.from} -> ${pr.to} by stage '${pr.select.stage}', but stack ${pr.to} uses Unity Catalog, which has aliases but no stages: the stage would be dropped; expected setAlias naming the alias it becomes (e.g. setAlias: ${pr.select.stage === "Production" ? "champion" : "challenger"})`,
        );
      }
      if (pr.setAlias && flavourOf(pr.to) === "workspace") {
        c.say(
          `models[${i}].promotions[${j}].setAlias`,
          `stack ${pr.to} uses the workspace registry, which has stages but no aliases; the stage '${"stage" in pr.select ? pr.select.stage : ""}' is copied as it is: remove setAlias`,
        );
      }
      if (from && to && !isEdge(flow, from, to)) {
        c.say(
          `models[${i}].promotions[${j}]`,
          `model '${m.name}' is promoted ${pr.from} -> ${pr.to}, which is not an edge of the flow (${from} -> ${to}); models move only along the flow`,
        );
      }
    }),
  );
}

/**
 * Warnings, not errors: a member who holds both an approving role (duty approve or release) and a signer role of
 * a validated model. Allowed, since small teams need it, but that member counts once per promotion: the gate
 * takes their approval or their sign-off, never both, so a second person is always needed.
 */
export function fourEyesWarnings(models: ManagedModel[], roles: Role[], roster: Member[]): string[] {
  const approving = new Set(roles.filter((r) => r.duty === "approve" || r.duty === "release").map((r) => r.name));
  return models.flatMap((m) => {
    const signers = new Set(m.validation?.signers ?? []);
    return roster.flatMap((x, i) => {
      const a = x.roles.filter((r) => approving.has(r));
      const sg = x.roles.filter((r) => signers.has(r));
      if (!a.length || !sg.length) return [];
      return [
        `${PROJECT}:roster[${i}] (${x.id}) holds an approving role (${a.join(", ")}) and a signer role (${sg.join(", ")}) of model '${m.name}': within one promotion the approval and the sign-off come from two different people, so ${x.id} counts as one of them only`,
      ];
    });
  });
}
