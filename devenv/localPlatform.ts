/**
 * The local platform: what `npm start` runs the platform team's job against, and what the end-to-end tests
 * share. One set of local services and a temporary copy of the project that points at them:
 * - per workspace (quant, quant_stg, quant_lr) one Databricks test workspace: the control-plane API
 *   (SCIM, permissions, repos, workspace registry ids, Unity Catalog) and the workspace MLflow API
 *   (DatabricksTestServer: artifacts, signed URLs, transition requests) behind ONE HTTPS loopback
 *   listener, backed by a real `mlflow server`;
 * - one GitLab test server over HTTPS.
 * One self-signed certificate serves them all; Go (the Databricks provider) trusts it through
 * SSL_CERT_FILE, Node (dynamic providers, the CLI) through NODE_EXTRA_CA_CERTS, Python (MLflow's client)
 * through REQUESTS_CA_BUNDLE.
 */
import { createRefusal, experimentNeed, experimentRefusal } from "./databricks/experimentAcl";
import { isAdmin, principalsOf, refusal, registryLevel, registryNeed } from "./databricks/registryAcl";
import { ucNeed, ucRefusal } from "./databricks/ucPrivileges";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import { AddressInfo } from "net";
import * as path from "path";
import * as YAML from "yaml";
import { WORKSPACE_LEVELS, type AccessModel, type WorkspaceLevel } from "../config/schema";
import { upstreamOf } from "../plan/accessPlan";
import { apiError } from "./databricks/apiReply";
import { aclKey } from "./databricks/controlPlaneState";
import { DatabricksControlApi } from "./databricks/databricksControlApi";
import { DatabricksTestServer } from "./databricks/databricksServer";
import { outsideContract } from "./databricks/sdkContract";
import { GitHubTestServer } from "./github/githubServer";
import { GitLabTestServer } from "./gitlab/gitlabServer";
import { MlflowServer } from "./localMlflow";
import { killGroupNow, spawnGroup } from "./processGroup";
import { makeSelfSignedCert, SelfSignedCert, writeCertFile } from "./selfSignedCert";

export const STACKS = ["quant", "quant_stg", "quant_lr"] as const;
export type StackName = (typeof STACKS)[number];
export const ADMIN = "platform-admin@quantfirm.example";

/** A request as the permission gates read it: its query and JSON body merged, and who sent it. */
interface Asked {
  method: string;
  url: URL;
  params: Record<string, unknown>;
  caller: string;
}

/** A Databricks workspace for the real provider and the migration engine: both APIs, one HTTPS port. */
export class WorkspaceServer {
  readonly mlflowApi: DatabricksTestServer;
  readonly control: DatabricksControlApi;
  readonly unimplemented: string[] = [];
  readonly log: string[] = [];
  url = "";
  private server?: http.Server;

  constructor(
    readonly stack: string,
    readonly token: string,
    readonly mlflow: MlflowServer,
    /** HTTPS with this certificate; without one, plain HTTP (the local-env stand-ins). */
    readonly cert?: SelfSignedCert,
    /**
     * `enforce: false`: the registry, experiment, Unity Catalog and workspace permission gates are off (the local-env
     * stand-ins, where one person acts as every member); the APIs' own ACLs (jobs, secrets, serving) still hold.
     */
    readonly opts: { adminUserName?: string; enforce?: boolean } = {},
  ) {
    const admin = opts.adminUserName ?? ADMIN;
    this.mlflowApi = new DatabricksTestServer(mlflow.url, token, "backend", admin);
    this.control = new DatabricksControlApi({ token, workspace: this.mlflowApi.workspace, mlflowUrl: mlflow.url, adminUserName: admin });
    // The registry's permission model, on the state the control plane holds (registryAcl.ts; refusals in serve).
    this.mlflowApi.readable = (caller, model) => registryLevel(this.state, caller, model) !== undefined;
    this.mlflowApi.registry.levelOf = (caller, model) => registryLevel(this.state, caller, model);
    // The experiments' permission model (experimentAcl.ts): searches filtered here, refusals in serve.
    this.mlflowApi.experimentReadable = (caller, e) =>
      this.control.permissions.experimentLevel(e.experiment_id, e.name, caller) !== undefined;
    // "All users have Can Manage permission for items in the Shared folder" (Databricks, "Folder permissions"): the
    // workspace's /Shared folder, with the `users` group's CAN_MANAGE that everything in it inherits.
    this.mlflowApi.workspace.put("/Shared", "DIRECTORY");
    this.state.acls.set(aclKey("directories", this.mlflowApi.workspace.nodes.get("/Shared")!.id), [
      { kind: "group", name: "users", level: "CAN_MANAGE" },
    ]);
    // Unity Catalog searches list only what the caller may read (ucPrivileges.ts).
    this.mlflowApi.ucVisible = (who, model) =>
      ucRefusal(this.state, who, { model: model.toLowerCase(), privilege: "EXECUTE" }) === undefined;
    // Secret scopes: admins as SCIM holds them, and each caller's groups.
    this.mlflowApi.secrets.isAdmin = (caller) => isAdmin(this.state, caller);
    this.mlflowApi.secrets.groupsOf = (caller) => [...principalsOf(this.state, caller).groups];
    this.mlflowApi.secrets.principalExists = (name) =>
      (["user", "group", "servicePrincipal"] as const).some((kind) => this.state.principalExists(kind, name));
    // Serving endpoints: admins and groups as SCIM holds them, and one ACL with the Permissions API's serving-endpoints.
    this.mlflowApi.serving.isAdmin = (caller) => isAdmin(this.state, caller);
    this.mlflowApi.serving.groupsOf = (caller) => [...principalsOf(this.state, caller).groups];
    this.mlflowApi.serving.acls = this.state.acls;
    this.control.permissions.serve("serving-endpoints", this.mlflowApi.serving.permissionObjects);
    // Jobs, cluster policies and instance pools: admins, groups, principals and entitlements as SCIM holds them, and
    // one ACL map with the Permissions API's jobs, cluster-policies and instance-pools.
    const access = this.mlflowApi.compute.access;
    access.isAdmin = (caller) => isAdmin(this.state, caller);
    access.groupsOf = (caller) => [...principalsOf(this.state, caller).groups];
    access.principalExists = (kind, name) => this.state.principalExists(kind, name);
    access.entitled = (caller, entitlement) =>
      [this.state.userByName(caller), ...access.groupsOf(caller).map((g) => this.state.groupByName(g))].some((p) =>
        p?.entitlements.has(entitlement),
      ) || isAdmin(this.state, caller);
    access.adopt(this.state.acls);
    this.control.permissions.serve("jobs", this.mlflowApi.jobs.permissionObjects);
    this.control.permissions.serve("cluster-policies", this.mlflowApi.compute.policyObjects);
    this.control.permissions.serve("instance-pools", this.mlflowApi.compute.poolObjects);
    this.mlflowApi.experimentCreated = (id, caller) => {
      if (isAdmin(this.state, caller)) return;
      this.state.acls.set(aclKey("experiments", id), [{ kind: "user", name: caller, level: "CAN_MANAGE" }]);
    };
  }

  get state() {
    return this.control.state;
  }

  async start(): Promise<string> {
    const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
      res.on("finish", () => {
        if (res.statusCode === 501) this.unimplemented.push(`${req.method} ${req.url}`);
        this.log.push(`${req.method} ${req.url} -> ${res.statusCode}`);
      });
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => this.serve(req, res, Buffer.concat(chunks)));
    };
    this.server = this.cert ? https.createServer({ key: this.cert.key, cert: this.cert.cert }, listener) : http.createServer(listener);
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `${this.cert ? "https" : "http"}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.mlflowApi.url = this.url;
    return this.url;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    try {
      if (outsideContract(req, res)) return;
      const caller = this.mlflowApi.callerOf(req);
      if (caller && this.opts.enforce !== false) {
        // One reading of the request for both permission gates (an unauthenticated one is the APIs' to answer).
        const url = new URL(req.url ?? "/", "http://x");
        let b: Record<string, unknown> = {};
        try {
          b = JSON.parse(body.toString() || "{}");
        } catch {
          /* not JSON (a multipart import): the API reads it */
        }
        const asked: Asked = { method: req.method ?? "GET", url, params: { ...Object.fromEntries(url.searchParams), ...b }, caller };
        if (
          (await this.refusedByRegistry(asked, res)) ||
          (await this.refusedByExperiment(asked, res)) ||
          this.refusedInUnityCatalog(asked, res) ||
          this.refusedInWorkspace(asked, res)
        )
          return;
      }
      if (await this.control.handle(req, res, body)) return;
      await this.mlflowApi.handle(req, res, body);
    } catch (e) {
      console.error(`workspace ${this.stack} failed on ${req.method} ${req.url}:`, e);
      if (!res.headersSent) apiError(res, 500, "INTERNAL_ERROR", String(e));
      else res.end();
    }
  }

  /**
   * The registry's permission model (registryAcl.ts) on every model-registry call, before either API answers it:
   * a call the caller's level on the model does not allow is refused 403 PERMISSION_DENIED, and nothing changes.
   */
  private async refusedByRegistry({ url, params, caller }: Asked, res: http.ServerResponse): Promise<boolean> {
    const route = /^\/api\/2\.0\/mlflow\/(.+)$/.exec(url.pathname)?.[1];
    if (!route) return false;
    const need = await registryNeed(route, params, async (name, version) => {
      const r = await fetch(
        `${this.mlflow.url}/api/2.0/mlflow/model-versions/get?name=${encodeURIComponent(name)}&version=${encodeURIComponent(version)}`,
      );
      return r.ok ? ((await r.json()) as { model_version?: { current_stage?: string } }).model_version?.current_stage : undefined;
    });
    const no = need && refusal(this.state, caller, need);
    if (!no) return false;
    apiError(res, 403, "PERMISSION_DENIED", no);
    return true;
  }

  /**
   * The experiments' permission model (experimentAcl.ts) on every tracking call, before the API answers it: a
   * create needs an absolute name in an existing folder the caller manages; any other call on an experiment, or
   * on a run of one, needs the caller's level on the experiment (inherited from its folders too).
   */
  private async refusedByExperiment({ url, params, caller }: Asked, res: http.ServerResponse): Promise<boolean> {
    const route = /^\/api\/2\.0\/mlflow\/(.+)$/.exec(url.pathname)?.[1];
    if (!route || isAdmin(this.state, caller)) return false;
    if (route === "experiments/create" && typeof params.name === "string") {
      const no = createRefusal(
        caller,
        params.name,
        (p) => this.mlflowApi.workspace.nodes.has(p) || /^\/Users\/[^/]+$/.test(p),
        (p) => this.control.permissions.workspaceLevel(p, caller),
      );
      if (no) apiError(res, no.status, no.code, no.message);
      return no !== undefined;
    }
    const need = experimentNeed(route, params);
    if (!need) return false;
    const ids = "ids" in need.on ? need.on.ids : [await this.experimentIdOf(need.on)];
    for (const id of ids) {
      const name = id === undefined ? undefined : await this.control.registry?.experimentNamed(id);
      // An experiment or run that does not exist is the API's to answer (404).
      if (id === undefined || name === undefined) continue;
      const no = experimentRefusal(caller, id, this.control.permissions.experimentLevel(id, name, caller), need.level);
      if (no) {
        apiError(res, 403, "PERMISSION_DENIED", no);
        return true;
      }
    }
    return false;
  }

  /** Unity Catalog's privileges (ucPrivileges.ts) on every call of its registry and on its grants, before the API answers. */
  private refusedInUnityCatalog({ method, url, params, caller }: Asked, res: http.ServerResponse): boolean {
    const need = ucNeed(method, url.pathname, params);
    const no = need && ucRefusal(this.state, caller, need);
    if (!no) return false;
    apiError(res, 403, "PERMISSION_DENIED", no);
    return true;
  }

  /** The runs' experiments, once read (a run never changes experiment). */
  private readonly runExperiments = new Map<string, string>();

  /** The id of the experiment a call names by id, by name or through a run; undefined when there is none. */
  private async experimentIdOf(on: { id: string } | { name: string } | { runId: string }): Promise<string | undefined> {
    if ("id" in on) return on.id;
    const get = async <T>(api: string): Promise<T | undefined> => {
      const r = await fetch(`${this.mlflow.url}/api/2.0/mlflow/${api}`);
      return r.ok ? ((await r.json()) as T) : undefined;
    };
    if ("name" in on)
      return (
        await get<{ experiment: { experiment_id: string } }>(`experiments/get-by-name?experiment_name=${encodeURIComponent(on.name)}`)
      )?.experiment.experiment_id;
    const known = this.runExperiments.get(on.runId);
    if (known) return known;
    const id = (await get<{ run: { info: { experiment_id: string } } }>(`runs/get?run_id=${encodeURIComponent(on.runId)}`))?.run.info
      .experiment_id;
    if (id) this.runExperiments.set(on.runId, id);
    return id;
  }

  /**
   * Workspace objects' permission model on writes (Databricks, "Folder ACLs" and "Notebook ACLs",
   * https://docs.databricks.com/en/security/auth/access-control/index.html): creating, importing or deleting an
   * item, and creating a Git folder, need CAN_MANAGE on the folder it goes in (the nearest existing one);
   * replacing a notebook's or file's content needs CAN_EDIT on it, and so does a Git folder's checkout or pull;
   * exporting one needs CAN_READ. Refused: 403
   * PERMISSION_DENIED, nothing changed.
   */
  private refusedInWorkspace({ method, url, params: b, caller }: Asked, res: http.ServerResponse): boolean {
    const route = `${method} ${url.pathname}`;
    const path = String(b.path ?? "");
    const need = (p: string, level: string, ability: string): boolean => {
      const has = this.control.permissions.workspaceLevel(p, caller);
      if (WORKSPACE_LEVELS.indexOf((has ?? "") as WorkspaceLevel) >= WORKSPACE_LEVELS.indexOf(level as WorkspaceLevel)) return false;
      apiError(
        res,
        403,
        "PERMISSION_DENIED",
        `User '${caller}' does not have ${level} permission on '${p}' (it has ${has ?? "no permission"}), which is needed to ${ability}.`,
      );
      return true;
    };
    const parent = (p: string) => p.replace(/\/[^/]*\/?$/, "") || "/";
    const exists = (p: string) => this.mlflowApi.workspace.nodes.has(p);
    const repo = /^PATCH \/api\/2\.0\/repos\/(\d+)$/.exec(route);
    if (repo) {
      // Switching a Git folder's branch and pulling ("Git folder ACLs": Git operations need CAN_EDIT on the Git folder).
      const at = [...this.mlflowApi.workspace.nodes].find(([, n]) => n.id === Number(repo[1]) && n.type === "REPO")?.[0];
      return at !== undefined && need(at, "CAN_EDIT", "check out a branch or pull in that Git folder");
    }
    if (!path) return false;
    if (route === "POST /api/2.0/workspace/mkdirs") return !exists(path) && need(path, "CAN_MANAGE", "create folders there");
    if (route === "POST /api/2.0/workspace/import")
      return exists(path) && b.overwrite
        ? need(path, "CAN_EDIT", "replace its content")
        : need(parent(path), "CAN_MANAGE", "create items in that folder");
    if (route === "POST /api/2.0/workspace/delete") return need(parent(path), "CAN_MANAGE", "delete items in that folder");
    if (route === "POST /api/2.0/repos") return need(parent(path), "CAN_MANAGE", "create a Git folder in that folder");
    if (route === "GET /api/2.0/workspace/export") return exists(path) && need(path, "CAN_READ", "export it");
    return false;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
  }
}

export interface Services {
  cert: SelfSignedCert;
  certFile: string;
  workspaces: Record<StackName, WorkspaceServer>;
  gitlab: GitLabTestServer;
  gitlabToken: string;
  /** GitHub Enterprise Server's API for the same project (an organization, its repository and users), for stacks on GitHub. */
  github: GitHubTestServer;
  githubToken: string;
  stop(): Promise<void>;
}

/** The login the platform's GitHub token acts as (an organization owner). */
export const GITHUB_ADMIN = "quant-platform-bot";

/** Starts three MLflow servers, three workspaces, GitLab and GitHub; `usernames` become users of both Git hosts. */
export async function startServices(dir: string, usernames: string[], project: string): Promise<Services> {
  const cert = makeSelfSignedCert();
  const certFile = writeCertFile(dir, cert);
  const mlflows = await Promise.all(STACKS.map((s) => MlflowServer.create(s, dir)));
  const stop = async () => {
    await Promise.all(Object.values(workspaces).map((w) => w.stop()));
    await gitlab.stop();
    await github.stop();
    await Promise.all(mlflows.map((m) => m.dispose()));
  };
  const workspaces = {} as Record<StackName, WorkspaceServer>;
  const gitlab = new GitLabTestServer();
  const github = new GitHubTestServer();
  try {
    await Promise.all(mlflows.map((m) => m.start()));
    STACKS.forEach(
      (s, i) => (workspaces[s] = new WorkspaceServer(s, `dapi-e2e-${s}-${Math.random().toString(36).slice(2, 10)}`, mlflows[i], cert)),
    );
    await Promise.all(Object.values(workspaces).map((w) => w.start()));
    const gitlabToken = `glpat-e2e-${Math.random().toString(36).slice(2, 12)}`;
    gitlab.tokens.set(gitlabToken, "api");
    for (const u of usernames) gitlab.addUser(u);
    gitlab.addProject(project);
    await gitlab.start(cert);
    const githubToken = `ghp_e2e${Math.random().toString(36).slice(2, 14)}`;
    github.tokens.set(githubToken, GITHUB_ADMIN);
    const org = github.organization(project.split("/")[0]);
    for (const u of [GITHUB_ADMIN, ...usernames]) org.addUser(u);
    org.owners.add(GITHUB_ADMIN.toLowerCase());
    org.addRepository(project);
    github.addRepo(project);
    await github.start(cert);
    return { cert, certFile, workspaces, gitlab, gitlabToken, github, githubToken, stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}

/** What the program needs of the project: no tests, no build output, no local state. */
const COPIED = ["index.ts", "package.json", "tsconfig.json", "config", "plan", "components", "migration", "clients", "policy"];

/**
 * A temporary copy of the project: the real Pulumi.yaml and stack files, with only the workspace hosts,
 * the Git URL and a low provider retry timeout changed; node_modules symlinked (the policy pack's too).
 */
export function copyProject(from: string, to: string, services: Services, gitProvider: "gitlab" | "github" = "gitlab"): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of [...COPIED, ...fs.readdirSync(from).filter((n) => /^Pulumi(\..+)?\.ya?ml$/.test(n))]) {
    fs.cpSync(path.join(from, f), path.join(to, f), { recursive: true, filter: (src) => !/node_modules/.test(path.relative(from, src)) });
  }
  fs.symlinkSync(path.join(from, "node_modules"), path.join(to, "node_modules"));
  fs.symlinkSync(path.join(from, "node_modules"), path.join(to, "policy", "node_modules"));
  const gitUrl = gitProvider === "gitlab" ? services.gitlab.url.replace(/\/api\/v4$/, "") : services.github.url;
  for (const s of STACKS) {
    const file = path.join(to, `Pulumi.${s}.yaml`);
    const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
    doc.setIn(["config", "quant-platform:workspace", "host"], services.workspaces[s].url);
    doc.setIn(["config", "quant-platform:workspace", "retryTimeoutSeconds"], 5);
    doc.setIn(["config", "quant-platform:git", "url"], gitUrl);
    doc.setIn(["config", "quant-platform:git", "provider"], gitProvider);
    fs.writeFileSync(file, doc.toString());
  }
  // The shared Git folders' repository URLs point at the local GitLab too: no outside name in a local stack.
  const projectFile = path.join(to, "Pulumi.yaml");
  const project = YAML.parseDocument(fs.readFileSync(projectFile, "utf8"));
  const folders = project.getIn(["config", "quant-platform:organization", "value", "gitFolders"]) as YAML.YAMLSeq<YAML.YAMLMap> | undefined;
  for (const f of folders?.items ?? []) {
    f.set("url", `${gitUrl}${new URL(String(f.get("url"))).pathname}`);
    if (gitProvider === "github") f.set("provider", "gitHubEnterprise");
  }
  fs.writeFileSync(projectFile, project.toString());
}

/**
 * What a command on the local platform runs with: nothing of the user's cloud, Pulumi, Git host or MLflow
 * settings (only loopback), the platform's certificate trusted by Go (SSL_CERT_FILE), Node
 * (NODE_EXTRA_CA_CERTS) and Python (REQUESTS_CA_BUNDLE), the toolchain first on PATH, then `pulumi`.
 */
export function platformEnv(binDir: string, certFile: string, pulumi: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(DATABRICKS_|ARM_|AWS_|AZURE_|STORAGE_|PULUMI_|GITLAB_|MLFLOW_|MIGRATE_|HTTPS?_PROXY|ALL_PROXY)/i.test(k),
    ),
  );
  return {
    ...env,
    PATH: `${binDir}${path.delimiter}${process.env.PATH}`,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    SSL_CERT_FILE: certFile,
    NODE_EXTRA_CA_CERTS: certFile,
    REQUESTS_CA_BUNDLE: certFile,
    // The workspaces serve MLflow's artifact-credentials API (signed URLs), not the Databricks Files API, which
    // MLflow tries first for run artifacts (then falls back, after a 501 the tests would report).
    MLFLOW_DISABLE_DATABRICKS_SDK_FOR_RUN_ARTIFACTS: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    ...pulumi,
  };
}

/**
 * The environment `pulumi` runs with in a test, and a fresh local state under `tmp/state` (see platformEnv),
 * then `extra`. `backend: false` leaves logging in to the caller.
 */
export function pulumiEnv(tmp: string, binDir: string, certFile: string, extra: NodeJS.ProcessEnv = {}, backend = true): NodeJS.ProcessEnv {
  fs.mkdirSync(path.join(tmp, "state"));
  return platformEnv(binDir, certFile, {
    HOME: tmp,
    PULUMI_HOME: path.join(tmp, ".pulumi-home"),
    ...(backend ? { PULUMI_BACKEND_URL: `file://${path.join(tmp, "state")}` } : {}),
    PULUMI_CONFIG_PASSPHRASE: "e2e-passphrase",
    ...extra,
  });
}

/** Makes the project copy a Git repository with one commit: the promotion evidence of Git hosts reads its history. */
export function commitProject(dir: string, env: NodeJS.ProcessEnv, message: string): (...args: string[]) => Buffer {
  const git = (...args: string[]) =>
    execFileSync("git", ["-C", dir, ...args], {
      stdio: "pipe",
      env: {
        ...env,
        GIT_AUTHOR_NAME: "platform",
        GIT_AUTHOR_EMAIL: "platform@localhost",
        GIT_COMMITTER_NAME: "platform",
        GIT_COMMITTER_EMAIL: "platform@localhost",
      },
    });
  git("init", "-q", "-b", "main");
  git("add", "-A");
  git("commit", "-q", "-m", message);
  return git;
}

/**
 * Creates the three stacks and sets their secrets as the program reads them: each workspace's token, the source
 * workspace's token where a promotion comes from another stack, and the GitLab token on the stack that owns the
 * Git settings. Throws with pulumi's output when a command fails.
 */
export async function initStacks(runner: Runner, services: Services, model: AccessModel): Promise<void> {
  for (const s of STACKS) {
    const must = (r: Run, what: string) => {
      if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.out.slice(-4000)}`);
    };
    must(await runner.pulumi(["stack", "init", s]), `pulumi stack init ${s}`);
    const secret = async (key: string, value: string) =>
      must(await runner.pulumi(["config", "set", "--secret", `quant-platform:${key}`, value, "-s", s]), `pulumi config set ${key} -s ${s}`);
    await secret("databricksToken", services.workspaces[s].token);
    const from = model.models.flatMap((m) => m.promotions).find((p) => p.to === s)?.from as StackName | undefined;
    if (from) await secret("migrationSourceToken", services.workspaces[from].token);
    // The workspaces a promoted version's origin lives in, beyond its source: the production gate reads its authors there.
    for (const o of new Set(model.models.flatMap((m) => upstreamOf(m.promotions, s).filter((x) => x !== from && x !== s))))
      must(
        await runner.pulumi([
          "config",
          "set",
          "--secret",
          "--path",
          `quant-platform:originTokens.${o}`,
          services.workspaces[o as StackName].token,
          "-s",
          s,
        ]),
        `pulumi config set originTokens.${o} -s ${s}`,
      );
    const git = model.stacks.find((x) => x.name === s)?.git;
    if (git?.ownsProjectSettings && git.provider === "gitlab") await secret("gitlabToken", services.gitlabToken);
    if (git?.ownsProjectSettings && git.provider === "github") await secret("githubToken", services.githubToken);
  }
}

export interface Run {
  code: number | null;
  out: string;
  stdout: string;
  ms: number;
}

/** Runs commands in the project copy with the test environment, keeping every output for the secrets check. */
export class Runner {
  readonly outputs: string[] = [];
  readonly timings: string[] = [];

  constructor(
    readonly cwd: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  run(cmd: string, args: string[], opts: { timeoutMs?: number; label?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
    const timeoutMs = opts.timeoutMs ?? 300000;
    return new Promise((resolve) => {
      const t0 = Date.now();
      // Its own process group, so that a timeout ends the command and everything it started (plugins, hosts),
      // and so does the end of this process, however it ends.
      const p = spawnGroup(cmd, args, { cwd: this.cwd, env: { ...this.env, ...opts.env }, stdout: "pipe", stderr: "pipe" });
      let out = "";
      let stdout = "";
      p.stdout!.on("data", (d) => ((out += d), (stdout += d)));
      p.stderr!.on("data", (d) => (out += d));
      const timer = setTimeout(() => {
        out += `\n(killed after ${timeoutMs} ms, with its process group)`;
        killGroupNow(p);
      }, timeoutMs);
      p.on("close", (code) => {
        clearTimeout(timer);
        const ms = Date.now() - t0;
        this.outputs.push(out);
        this.timings.push(`${opts.label ?? [path.basename(cmd), ...args.slice(0, 3)].join(" ")} ${(ms / 1000).toFixed(1)}s`);
        resolve({ code, out, stdout, ms });
      });
    });
  }

  pulumi(args: string[], opts: { timeoutMs?: number } = {}): Promise<Run> {
    return this.run("pulumi", [...args, "--non-interactive", "--color", "never"], {
      ...opts,
      label: `pulumi ${args.slice(0, 3).join(" ")}`,
    });
  }

  /**
   * The project's npm script for a command, exactly as the pipelines run it (`npm run -s <cmd> -- ...`: the
   * compiled quant-platform binary), pointed at the copy with `--dir`.
   */
  cli(projectDir: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
    const [cmd, ...rest] = args;
    return this.run("npm", ["--prefix", projectDir, "run", "-s", cmd, "--", ...rest, "--dir", this.cwd], {
      ...opts,
      label: `npm run ${args.slice(0, 3).join(" ")}`,
    });
  }
}

/** Every file under an artifact directory of an OSS MLflow server, as relative path -> bytes. */
export async function mlflowTree(server: { url: string }, root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (dir: string): Promise<void> => {
    const r = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(dir)}`);
    if (!r.ok) throw new Error(`listing ${dir} on ${server.url}: ${r.status} ${await r.text()}`);
    for (const f of ((await r.json()) as { files?: { path: string; is_dir: boolean }[] }).files ?? []) {
      const p = `${dir}/${f.path}`;
      if (f.is_dir) await walk(p);
      else {
        const d = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${p.split("/").map(encodeURIComponent).join("/")}`);
        if (!d.ok) throw new Error(`downloading ${p}: ${d.status}`);
        out.set(p.slice(root.length + 1), Buffer.from(await d.arrayBuffer()));
      }
    }
  };
  await walk(root);
  return out;
}

/** One MLflow REST call to a server; throws on a non-2xx answer. */
export async function mlflowCall<T = Record<string, unknown>>(
  base: string,
  method: string,
  api: string,
  params: Record<string, unknown>,
  token?: string,
  ca?: string,
): Promise<T> {
  const get = method === "GET";
  const qs = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)] as [string, string])).toString();
  // A DELETE carries its parameters both ways: MLflow reads the query or the JSON body, by version.
  const url = `${base}/api/2.0/mlflow/${api}${get || method === "DELETE" ? `?${qs}` : ""}`;
  const payload = get ? undefined : Buffer.from(JSON.stringify(params));
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    ...(payload ? { "Content-Length": String(payload.length) } : {}),
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
  };
  const text = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const lib = url.startsWith("https:") ? https : http;
    const r = lib.request(url, { method, headers, ...(ca ? { ca } : {}) }, (res) => {
      let d = "";
      res.on("data", (c) => (d += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: d }));
    });
    r.on("error", reject);
    r.end(payload);
  });
  if (text.status < 200 || text.status >= 300) throw new Error(`${method} ${api}: ${text.status} ${text.body}`);
  return JSON.parse(text.body || "{}") as T;
}

/** The artifact-store path of a version's files: `mlflow-artifacts:/<exp>/<run>/artifacts/<sub>` -> `<exp>/<run>/artifacts/<sub>`. */
export function storePath(source: string): string {
  return source
    .replace(/^mlflow-artifacts:(\/\/[^/]*)?\/*/, "")
    .replace(/^dbfs:\/databricks\/mlflow-tracking\//, "")
    .replace(/\/+$/, "");
}
