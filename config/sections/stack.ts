/** A stack file (`Pulumi.<stack>.yaml`): the workspace, its registry, the Git host, and credentials as secrets. */
import {
  DatabricksAuth,
  Environment,
  GIT_PROVIDERS,
  GIT_TIERS,
  GitProvider,
  GitTier,
  REGISTRY_FLAVOURS,
  RegistryConfig,
  StackConfig,
  PROJECT,
} from "../schema";
import { ConfigEntry, SECRET_PLACEHOLDER } from "../load";
import { bool, Ctx, obj, oneOf, str } from "./check";
import { validateGitFolderSettings } from "./gitFolders";

export const PROJECT_KEYS = ["organization", "environments", "flow", "roles", "roster", "models"] as const;
export const SECRET_KEYS = [
  "databricksToken",
  "databricksClientId",
  "databricksClientSecret",
  "gitlabToken",
  "githubToken",
  "migrationSourceToken",
  "originTokens",
] as const;
const STACK_KEYS = ["workspace", "git", ...SECRET_KEYS] as const;

function secretKey(c: Ctx, values: Record<string, ConfigEntry>, key: string): boolean {
  const e = values[key];
  if (e === undefined) return false;
  if (!e.secret) {
    c.say(
      key,
      `is plaintext; expected a secret: run \`pulumi config set --secret ${PROJECT}:${key} <value> -s ${c.stack}\` (the value is not shown here)`,
    );
  }
  return true;
}

export function validateStack(
  problems: string[],
  name: string,
  values: Record<string, ConfigEntry>,
  envs: Environment[],
): StackConfig | undefined {
  const c = new Ctx(problems, name, `Pulumi.${name}.yaml`);
  for (const k of Object.keys(values)) {
    if ((PROJECT_KEYS as readonly string[]).includes(k)) {
      c.say(k, "is shared by all stacks and belongs in Pulumi.yaml; a stack file may not override it");
    } else if (!(STACK_KEYS as readonly string[]).includes(k)) {
      const hint = /token|secret|password|key/i.test(k)
        ? "; credentials go in databricksToken or databricksClientId/databricksClientSecret, as secrets"
        : "";
      c.say(k, `unknown key; expected one of: ${STACK_KEYS.join(", ")}${hint}`);
    }
  }
  const envNames = envs.map((e) => e.name);
  const w = obj(
    c,
    "workspace",
    values.workspace?.value,
    ["host", "branch", "registry"],
    ["scimProvisioned", "retryTimeoutSeconds", "gitFolders"],
  );
  const gitV = obj(c, "git", values.git?.value, ["provider", "project"], ["url", "ownsProjectSettings", "tier"]);
  const host = w
    ? str(c, "workspace.host", w.host, "the workspace URL, https://<workspace>.cloud.databricks.com", /^https:\/\/[^\s/]+\/?$/)
    : undefined;
  const branch = w ? oneOf(c, "workspace.branch", w.branch, envNames) : undefined;
  let registry: RegistryConfig | undefined;
  if (w) {
    const r = obj(c, "workspace.registry", w.registry, ["flavour"], ["catalog", "schema"]);
    const flavour = r ? oneOf(c, "workspace.registry.flavour", r.flavour, REGISTRY_FLAVOURS) : undefined;
    if (flavour === "workspace") {
      for (const k of ["catalog", "schema"])
        if (r![k] !== undefined) c.say(`workspace.registry.${k}`, "only applies to flavour unity-catalog");
      registry = { flavour };
    } else if (flavour === "unity-catalog") {
      const ident = /^[A-Za-z0-9_]+$/;
      const catalog = str(c, "workspace.registry.catalog", r!.catalog, "the Unity Catalog catalog that holds the models", ident);
      const schema = str(c, "workspace.registry.schema", r!.schema, "the Unity Catalog schema that holds the models", ident);
      if (catalog && schema) registry = { flavour, catalog, schema };
    }
  }
  const scimProvisioned = w ? bool(c, "workspace.scimProvisioned", w.scimProvisioned, false) : false;
  const gitFolders = validateGitFolderSettings(c, w?.gitFolders);
  const retryTimeoutSeconds = w?.retryTimeoutSeconds;
  if (
    retryTimeoutSeconds !== undefined &&
    !(typeof retryTimeoutSeconds === "number" && Number.isInteger(retryTimeoutSeconds) && retryTimeoutSeconds > 0)
  ) {
    c.bad(
      "workspace.retryTimeoutSeconds",
      retryTimeoutSeconds,
      "a positive whole number of seconds the Databricks provider retries a failing call (its default is 300)",
    );
  }
  const provider = gitV ? oneOf<GitProvider>(c, "git.provider", gitV.provider, GIT_PROVIDERS) : undefined;
  const project = gitV
    ? str(c, "git.project", gitV.project, "the Git project path, like group/repository", /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/)
    : undefined;
  const ownsProjectSettings = gitV ? bool(c, "git.ownsProjectSettings", gitV.ownsProjectSettings, false) : false;
  // The GitLab tier, pinned instead of detected from the API (a pin the instance contradicts fails the run).
  const tier = gitV?.tier === undefined ? undefined : oneOf<GitTier>(c, "git.tier", gitV.tier, GIT_TIERS);
  if (tier && provider === "github")
    c.say("git.tier", "only applies to provider gitlab (GitLab Free, Premium or Ultimate); remove it for GitHub");
  const defaultUrl = provider === "github" ? "https://github.com" : "https://gitlab.com";
  const gitUrl =
    gitV?.url === undefined
      ? defaultUrl
      : str(c, "git.url", gitV.url, "the Git host's https root, like https://gitlab.example.com", /^https:\/\/[^\s/]+\/?$/);
  secretKey(c, values, "gitlabToken");
  secretKey(c, values, "githubToken");
  secretKey(c, values, "migrationSourceToken");
  const originTokenStacks = originTokens(c, values.originTokens);

  const hasToken = secretKey(c, values, "databricksToken");
  const hasId = secretKey(c, values, "databricksClientId");
  const hasSecret = secretKey(c, values, "databricksClientSecret");
  let auth: DatabricksAuth = { kind: "environment" };
  if (hasToken && (hasId || hasSecret)) {
    c.say(
      "databricksToken",
      "is set together with an OAuth client; expected either a token or databricksClientId + databricksClientSecret",
    );
  } else if (hasId !== hasSecret) {
    c.say(
      hasId ? "databricksClientSecret" : "databricksClientId",
      "is missing; an OAuth M2M client needs both databricksClientId and databricksClientSecret",
    );
  } else if (hasToken) {
    auth = { kind: "token", key: "databricksToken" };
  } else if (hasId) {
    auth = { kind: "oauth-m2m", clientIdKey: "databricksClientId", clientSecretKey: "databricksClientSecret" };
  }
  if (!host || !branch || !registry || !provider || !project || !gitUrl) return undefined;
  return {
    name,
    host: host.replace(/\/$/, ""),
    branch,
    registry,
    scimProvisioned,
    gitFolders,
    auth,
    ...(typeof retryTimeoutSeconds === "number" && Number.isInteger(retryTimeoutSeconds) && retryTimeoutSeconds > 0
      ? { retryTimeoutSeconds }
      : {}),
    git: { provider, url: gitUrl.replace(/\/$/, ""), project, ownsProjectSettings, ...(tier ? { tier } : {}) },
    ...(originTokenStacks.length ? { originTokenStacks } : {}),
  };
}

/**
 * `originTokens`: per upstream stack, a token that may read its model registry (a read-only identity is enough),
 * each a secret: `pulumi config set --secret --path 'quant-platform:originTokens.quant' <token> -s quant_lr`. The
 * production gate reads a version's origin with it. Returns the stacks named; which stacks may be named is
 * checked once every stack is known (`checkOriginTokens`).
 */
function originTokens(c: Ctx, e: ConfigEntry | undefined): string[] {
  if (e === undefined) return [];
  const v = e.value;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    c.bad(
      "originTokens",
      e.secret ? "[secret]" : "(a plaintext value)",
      "an object of secret tokens by stack name, e.g. originTokens.quant",
    );
    return [];
  }
  const out: string[] = [];
  for (const [stack, token] of Object.entries(v as Record<string, unknown>)) {
    if (token !== SECRET_PLACEHOLDER)
      c.say(
        `originTokens.${stack}`,
        `is plaintext; expected a secret: run \`pulumi config set --secret --path '${PROJECT}:originTokens.${stack}' <token> -s ${c.stack}\` (the value is not shown here)`,
      );
    out.push(stack);
  }
  return out;
}

/** The stacks `originTokens` names exist, and are not the stack itself. */
export function checkOriginTokens(c: Ctx, s: StackConfig, stacks: string[]): void {
  for (const o of s.originTokenStacks ?? []) {
    if (o === s.name) c.say(`originTokens.${o}`, "names this stack itself; its own registry is read with databricksToken");
    else if (!stacks.includes(o))
      c.bad(
        `originTokens.${o}`,
        o,
        `a stack whose registry holds origins of this stack's models; one of: ${stacks.filter((x) => x !== s.name).join(", ")}`,
      );
  }
}

/** Each stack checks out a branch of its own. */
export function checkBranchUnique(c: Ctx, s: StackConfig, stacks: StackConfig[]): void {
  const other = stacks.find((o) => o !== s && o.branch === s.branch);
  if (other && other.name < s.name)
    c.bad("workspace.branch", s.branch, `a branch no other stack checks out (stack ${other.name} has it too)`);
}

/** Exactly one stack owns the project-wide Git settings (judged once every stack file is valid). */
export function checkProjectSettingsOwner(problems: string[], stacks: StackConfig[], stackNames: string[]): void {
  const owners = stacks.filter((s) => s.git.ownsProjectSettings).map((s) => s.name);
  if (owners.length === 1) return;
  problems.push(
    owners.length === 0
      ? `stack (all stacks): no stack owns the project-wide Git settings; expected exactly one stack file with ${PROJECT}:git.ownsProjectSettings: true (stacks: ${stackNames.join(", ")})`
      : `stack (all stacks): stacks ${owners.join(", ")} all set ${PROJECT}:git.ownsProjectSettings: true; expected exactly one owner of the project-wide Git settings`,
  );
}
