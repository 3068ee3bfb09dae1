/**
 * One reconcile cycle shared by every GitLab resource (find / compare / write / verify), and the one
 * dynamic provider built on it. A resource kind only says how to read, write and restore itself.
 */
import type * as pulumi from "@pulumi/pulumi";
import { gitlabApi, GitLabApi } from "../../clients/gitlab";
import { canonicalJson as canon } from "../../config/identity";

/** A property whose actual value differs from the declared one: what dry runs and drift reports render. */
export interface Change {
  property: string;
  declared: unknown;
  actual: unknown;
}

/** Inputs every GitLab resource has: where the API is and which project. Never a token. */
export interface ProjectInputs {
  baseUrl: string;
  project: string;
}

export interface CheckFailure {
  property: string;
  reason: string;
}

export interface ResourceKind<I extends ProjectInputs, S extends object> {
  /** What it is, for messages: "protected branch". */
  kind: string;
  /** Its name within the project: "quant_stg". */
  name(inputs: I): string;
  /** Inputs whose change makes it a different resource (replace rather than update). */
  replaceOn: (keyof I & string)[];
  check(inputs: I): CheckFailure[];
  /** The declared state: the properties read() returns, in the same normalised form. */
  declared(inputs: I): S;
  /** The actual state, or undefined when it does not exist. */
  read(api: GitLabApi, inputs: I): Promise<S | undefined>;
  /** Brings it to the declared state: creates it, or adopts and updates what exists. */
  write(api: GitLabApi, inputs: I, actual: S | undefined): Promise<void>;
  /** Restores GitLab's documented default for it. */
  restore(api: GitLabApi, inputs: I): Promise<void>;
  /** On update, before reconciling: restores the defaults of what `olds` declared and `news` no longer does. */
  retire?(api: GitLabApi, olds: I, news: I): Promise<void>;
}

/** The properties of `declared` whose values differ in `actual` (absent: everything differs). */
export function compare(declared: object, actual: object | undefined): Change[] {
  const a = (actual ?? {}) as Record<string, unknown>;
  return Object.entries(declared)
    .filter(([k, v]) => actual === undefined || canon(v) !== canon(a[k]))
    .map(([property, v]) => ({ property, declared: v, actual: actual === undefined ? undefined : a[property] }));
}

export function describeChanges(changes: Change[]): string {
  return changes.map((c) => `${c.property}: declared ${canon(c.declared)}, actual ${canon(c.actual)}`).join("; ");
}

/**
 * The shared cycle: read, compare, write when needed, then read back and fail loudly unless GitLab holds
 * exactly the declared state. With `dryRun` it only reports the changes.
 */
export async function reconcile<I extends ProjectInputs, S extends object>(
  kind: ResourceKind<I, S>,
  api: GitLabApi,
  inputs: I,
  dryRun = false,
): Promise<{ changes: Change[]; state: S | undefined }> {
  const declared = kind.declared(inputs);
  const actual = await kind.read(api, inputs);
  const changes = compare(declared, actual);
  if (dryRun || changes.length === 0) return { changes, state: actual };
  await kind.write(api, inputs, actual);
  const after = await kind.read(api, inputs);
  const left = compare(declared, after);
  if (left.length > 0) {
    throw new Error(
      `GitLab did not take the declared state of ${kind.kind} ${kind.name(inputs)} in project ${inputs.project}: ${describeChanges(left)}`,
    );
  }
  return { changes, state: after };
}

/** The stack config key and environment variable the GitLab token is read from, at run time only. */
export const TOKEN_CONFIG_KEY = "quant-platform:gitlabToken";
export const TOKEN_ENV = "GITLAB_TOKEN";

/**
 * The dynamic provider for a resource kind. The token comes from stack config (delivered to `configure`
 * by the engine) or the environment when a method runs: the serialized provider never holds it, and no
 * output contains it.
 */
export function gitlabProvider<I extends ProjectInputs, S extends object>(kind: ResourceKind<I, S>): pulumi.dynamic.ResourceProvider {
  const provider = {
    token: undefined as string | undefined,
    async configure(req: pulumi.dynamic.ConfigureRequest) {
      provider.token = req.config.get(TOKEN_CONFIG_KEY) || undefined;
    },
    api(inputs: I): GitLabApi {
      const token = provider.token ?? process.env[TOKEN_ENV];
      if (!token)
        throw new Error(
          `no GitLab token for ${kind.kind} ${kind.name(inputs)} in project ${inputs.project}: set ${TOKEN_CONFIG_KEY} with \`pulumi config set --secret\`, or ${TOKEN_ENV}`,
        );
      return gitlabApi({ baseUrl: inputs.baseUrl, project: inputs.project, token });
    },
    idOf(inputs: I): string {
      return `${inputs.project}/${kind.kind.replace(/ /g, "-")}/${kind.name(inputs)}`;
    },
    async check(_olds: I, news: I) {
      const failures = [
        ...(["baseUrl", "project"] as const)
          .filter((k) => typeof news[k] !== "string" || !news[k])
          .map((k) => ({ property: k, reason: `${k} is required` })),
        ...(typeof news.baseUrl === "string" && !/^https?:\/\/\S+\/api\/v4\/?$/.test(news.baseUrl)
          ? [{ property: "baseUrl", reason: `expected the API root, like https://gitlab.example.com/api/v4; got ${news.baseUrl}` }]
          : []),
        ...kind.check(news),
      ];
      return { inputs: news, failures };
    },
    async diff(_id: string, olds: I & S, news: I) {
      const replaces = kind.replaceOn.filter((k) => canon(olds[k]) !== canon(news[k]));
      const changed = compare(kind.declared(news), olds);
      return { changes: replaces.length > 0 || changed.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
    },
    async create(inputs: I) {
      const { state } = await reconcile(kind, provider.api(inputs), inputs);
      return { id: provider.idOf(inputs), outs: { ...inputs, ...state } };
    },
    async read(id: string, props: I) {
      const state = await kind.read(provider.api(props), props);
      // Gone outside Pulumi: an empty id tells the engine, so refresh drops it and the next up recreates it.
      return state === undefined ? { id: "", props: {} } : { id, props: { ...props, ...state } };
    },
    async update(_id: string, olds: I, news: I) {
      const api = provider.api(news);
      await kind.retire?.(api, olds, news);
      const { state } = await reconcile(kind, api, news);
      return { outs: { ...news, ...state } };
    },
    async delete(_id: string, props: I) {
      await kind.restore(provider.api(props), props);
    },
  };
  return provider;
}
