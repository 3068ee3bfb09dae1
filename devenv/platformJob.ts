/**
 * The platform team's job, walked on the local platform (`npm start`): `pulumi up` of each stack under the
 * real engine, and the model's lifecycle in between through the project's own commands, each run as the
 * member who acts. Every step says what it does in one line; a failed step ends the job with its output.
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { AccessModel } from "../config/schema";
import { buildAccessPlan } from "../plan/accessPlan";
import { signOffComment } from "../migration/provenance";
import {
  commitProject,
  copyProject,
  initStacks,
  mlflowCall,
  platformEnv,
  Run,
  Runner,
  Services,
  STACKS,
  StackName,
  startServices,
} from "./localPlatform";
import { httpsGetJson, readWorkspaceAccess, renderAccess } from "./workspaceReadback";
import { actOnGitLab, BRANCHES, gitTableActs, renderGitTable } from "./gitActs";
import { productCi } from "./gitCi";

export interface PlatformJobOptions {
  root: string;
  local: string;
  passphrase: string;
  binDir: string;
  pulumiVersion: string;
  sizeMb: number;
  keep: boolean;
  model: string;
  t0: number;
}

/** Who acts at each step: the first roster member holding the role. */
function memberWith(model: AccessModel, role: string, not: string[] = []): AccessModel["roster"][number] {
  const m = model.roster.find((x) => x.roles.includes(role) && !not.includes(x.id));
  if (!m) throw new Error(`the roster has no member with role '${role}'${not.length ? ` besides ${not.join(", ")}` : ""}`);
  return m;
}

/**
 * One token per roster member and workspace, registered with the workspace, and a Databricks config file with a
 * profile `<stack>-<member id>` each, so that a person can act as anyone locally (`--from databricks://quant_stg-grace.lee`).
 */
function memberTokens(services: Services, model: AccessModel, file: string) {
  const tokens = new Map<string, string>();
  // The workspace admins' own profiles first, named after the stacks as the README's commands use them
  // (doctor, status, drift, deploy read [quant], [quant_stg], [quant_lr]); then one per member and workspace.
  const lines: string[] = STACKS.flatMap((s) => [
    `[${s}]`,
    `host = ${services.workspaces[s].url}`,
    `token = ${services.workspaces[s].token}`,
    "",
  ]);
  for (const s of STACKS)
    for (const m of model.roster) {
      const token = `dapi-${s}-${m.id}-${crypto.randomBytes(6).toString("hex")}`;
      services.workspaces[s].mlflowApi.addUser(token, m.email);
      tokens.set(`${s}/${m.id}`, token);
      lines.push(`[${s}-${m.id}]`, `host = ${services.workspaces[s].url}`, `token = ${token}`, "");
    }
  fs.writeFileSync(file, lines.join("\n"), { mode: 0o600 });
  return {
    token: (s: StackName, m: { id: string }) => tokens.get(`${s}/${m.id}`)!,
    /** Once `pulumi up` created the members' users, their tokens reach the control-plane APIs (SCIM, permissions) too. */
    enable(s: StackName) {
      const state = services.workspaces[s].control.state;
      for (const m of model.roster) {
        const user = state.userByName(m.email);
        if (user) state.tokens.set(tokens.get(`${s}/${m.id}`)!, user.id);
      }
    },
  };
}

/** The environment every command runs with (platformEnv), the state in .local/state. */
function jobEnv(o: PlatformJobOptions, certFile: string, cfgFile: string): NodeJS.ProcessEnv {
  const state = path.join(o.local, "state");
  fs.mkdirSync(state, { recursive: true });
  return platformEnv(o.binDir, certFile, {
    PULUMI_HOME: path.join(o.local, "pulumi-home"),
    PULUMI_BACKEND_URL: `file://${state}`,
    PULUMI_CONFIG_PASSPHRASE_FILE: o.passphrase,
    DATABRICKS_CONFIG_FILE: cfgFile,
  });
}

/** "Resources: 3 created, 12 unchanged" from `pulumi up`'s summary. */
function resourceSummary(out: string): string {
  const block = /Resources:\n((?:\s+.+\n?)+)/.exec(out)?.[1] ?? "";
  return (
    block
      .split("\n")
      .map((l) => l.trim().replace(/^[+~=-]\s*/, ""))
      .filter((l) => l && !/^Duration|changes$/.test(l))
      .join(", ") || "no summary"
  );
}

export async function walkLifecycle(o: PlatformJobOptions): Promise<number> {
  const model = validate(readConfigSources(o.root));
  const owner = model.stacks.find((s) => s.git.ownsProjectSettings)!;
  const say = (s: string) => console.log(s);
  say(`quant-platform: the platform team's job on a local platform (pulumi ${o.pulumiVersion})`);
  say("0. starting three Databricks workspaces (HTTPS, each backed by a real MLflow server) and a GitLab server on loopback ...");
  fs.mkdirSync(path.join(o.local, "services"), { recursive: true });
  const services = await startServices(
    path.join(o.local, "services"),
    model.roster.map((m) => m.gitUsername),
    owner.git.project,
  );
  let kept = false;
  try {
    const dir = path.join(o.local, "project");
    copyProject(o.root, dir, services);
    const cfgFile = path.join(o.local, "databrickscfg");
    const members = memberTokens(services, model, cfgFile);
    const token = members.token;
    const env = jobEnv(o, services.certFile, cfgFile);
    commitProject(dir, env, "the project's configuration, pointed at the local platform");
    const runner = new Runner(dir, env);
    const ws = (s: StackName) => services.workspaces[s];
    const must = (r: Run, what: string): Run => {
      if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.out.slice(-6000)}`);
      return r;
    };
    const as = (s: StackName, m: { id: string }) => ({ DATABRICKS_TOKEN: token(s, m) });
    const wsCall = (s: StackName, m: { id: string } | undefined, method: string, api: string, params: Record<string, unknown>) =>
      mlflowCall(ws(s).url, method, api, params, m ? token(s, m) : ws(s).token, services.cert.cert);
    const from = (s: StackName) => `databricks+${ws(s).url}`;
    const indent = (text: string) =>
      text
        .trimEnd()
        .split("\n")
        .map((l) => `     ${l}`)
        .join("\n");

    await initStacks(runner, services, model);
    // quant already holds the team's registered model (existingIn: [quant]); the stack adopts it.
    await wsCall("quant", undefined, "POST", "registered-models/create", { name: o.model });

    const up = async (n: number, s: StackName, what: string) => {
      say(`${n}. pulumi up -s ${s}: ${what}`);
      const r = must(await runner.pulumi(["up", "--yes", "--skip-preview", "-s", s], { timeoutMs: 600000 }), `pulumi up -s ${s}`);
      say(`     ${resourceSummary(r.out)} (${(r.ms / 1000).toFixed(0)} s)`);
      members.enable(s);
    };
    await up(1, "quant", "groups, members, Git folders, permissions, registry ACLs, GitLab branch rules");

    const developer = memberWith(model, "developer");
    const approver = memberWith(model, "approver", [developer.id]);
    const consumer = memberWith(model, "consumer");
    const release = memberWith(model, "release_manager", [approver.id]);
    const experiment = `${model.organization.experimentFolder}/quant-alpha`;
    say(`2. three training iterations logged in quant (${experiment}); ${developer.id} runs select: the best by precision is registered`);
    execFileSync(
      path.join(o.root, ".venv", "bin", "python"),
      [
        path.join(o.root, "devenv", "python", "transformer_fixture.py"),
        ...["--tracking-uri", ws("quant").mlflow.url, "--model", o.model, "--experiment", experiment],
        ...["--size-mb", String(o.sizeMb), "--shards", "2", "--all-iterations", "--no-register"],
      ],
      { stdio: "pipe", env: { ...env, MLFLOW_ENABLE_TELEMETRY: "false" } },
    );
    const selected = must(
      await runner.cli(o.root, ["select", "--model", o.model, "--experiment", experiment, "--from", from("quant"), "--json"], {
        env: as("quant", developer),
      }),
      "quant-platform select",
    );
    const sel = JSON.parse(selected.stdout) as { version: string; winner?: { runId?: string; value?: number } };
    say(`     registered ${o.model} version ${sel.version} in quant`);

    say(`3. ${approver.id} (approver) moves version ${sel.version} to Staging in quant`);
    await wsCall("quant", approver, "POST", "model-versions/transition-stage", {
      name: o.model,
      version: sel.version,
      stage: "Staging",
      archive_existing_versions: false,
    });

    await up(4, "quant_stg", "access as in quant, and the promotion quant -> quant_stg copies the Staging version, every file verified");

    const stgVersions = await mlflowCall<{ model_versions?: { version: string; current_stage: string }[] }>(
      ws("quant_stg").mlflow.url,
      "GET",
      "model-versions/search",
      { filter: `name='${o.model}'` },
    );
    const v = (stgVersions.model_versions ?? []).find((x) => x.current_stage === "Staging")?.version;
    if (!v) throw new Error(`quant_stg holds no Staging version of ${o.model} after pulumi up`);
    say(
      `5. ${consumer.id} (consumer) validates ${o.model} version ${v} in quant_stg on a historical sample and signs off; ${approver.id} approves; ${release.id} moves it to Production`,
    );
    const data = path.join(o.local, "historical-sample.csv");
    execFileSync(path.join(o.root, ".venv", "bin", "python"), [
      path.join(o.root, "devenv", "python", "historical_sample.py"),
      ...["--out", data, "--rows", "400", "--seed", "11"],
    ]);
    const validated = must(
      await runner.cli(
        o.root,
        ["validate", "--model", o.model, "--version", v, "--from", from("quant_stg"), "--data", data, "--label", "label"],
        {
          env: as("quant_stg", consumer),
        },
      ),
      "quant-platform validate",
    );
    say(indent(validated.stdout));
    const runId = /\b([0-9a-f]{32})\b/.exec(validated.stdout)?.[1];
    if (!runId) throw new Error(`quant-platform validate printed no run id:\n${validated.out}`);
    must(
      await runner.cli(
        o.root,
        ["sign-off", "--model", o.model, "--version", v, "--run", runId, "--from", from("quant_stg"), "--to-env", "quant_lr"],
        { env: as("quant_stg", consumer) },
      ),
      "quant-platform sign-off",
    );
    await wsCall("quant_stg", approver, "POST", "transition-requests/create", {
      name: o.model,
      version: v,
      stage: "Production",
      comment: `approved for quant_lr after ${signOffComment(runId, "quant_lr").split(";")[0]}`,
    });
    await wsCall("quant_stg", release, "POST", "databricks/model-versions/transition-stage", {
      name: o.model,
      version: v,
      stage: "Production",
      archive_existing_versions: false,
      comment: "released to quant_lr",
    });

    await up(
      6,
      "quant_lr",
      "access, and the production promotion quant_stg -> quant_lr through the gate (validation, sign-off, approval), verified",
    );

    say("7. pulumi preview --expect-no-changes of quant, quant_stg, quant_lr: what is deployed is what is declared");
    for (const s of STACKS)
      must(await runner.pulumi(["preview", "--expect-no-changes", "-s", s]), `pulumi preview --expect-no-changes -s ${s}`);
    say("     no changes");

    say("\nWho can do what, read back from each workspace's API:");
    for (const s of STACKS) {
      const plan = buildAccessPlan(model, s);
      const access = await readWorkspaceAccess(ws(s).url, ws(s).token, {
        folders: plan.directories.filter((d) => d.purpose !== "experiments").map((d) => d.path),
        models: plan.models.map((m) => m.name),
        ca: services.cert.cert,
      });
      say(indent(renderAccess(s, access)));
    }
    say("\nBranch rules, read back from GitLab:");
    say(indent(await renderBranchRules(services, owner.git.project)));
    say("\nThe Git rules acted out, not read back (each member with their own GitLab token, through python-gitlab):");
    for (const line of await actOutGitRules(services, model, owner.git.project, dir)) say(indent(line));
    say(`\nThe model's journey (quant-platform status):`);
    for (const s of ["quant_stg", "quant_lr"] as const) {
      const st = must(
        await runner.cli(o.root, ["status", "--model", o.model, "--from", from(s), "--stack", s], {
          env: { DATABRICKS_TOKEN: ws(s).token },
        }),
        `quant-platform status (${s})`,
      );
      say(indent(st.stdout));
    }
    say(`\nDone in ${((Date.now() - o.t0) / 1000).toFixed(0)} s. State: ${path.join(o.local, "state")}`);
    say(
      `  cd ${dir} && PULUMI_BACKEND_URL=file://${path.join(o.local, "state")} PULUMI_CONFIG_PASSPHRASE_FILE=${o.passphrase} pulumi stack export -s quant_lr`,
    );
    if (o.keep) {
      kept = true;
      say("\nThe services keep running (Ctrl-C ends them). In another shell:");
      for (const k of [
        "PATH",
        "PULUMI_BACKEND_URL",
        "PULUMI_CONFIG_PASSPHRASE_FILE",
        "PULUMI_HOME",
        "SSL_CERT_FILE",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "DATABRICKS_CONFIG_FILE",
      ])
        say(`  export ${k}=${JSON.stringify(env[k])}`);
      // The Git host's token goes in a file of its own (mode 600), never on the terminal: `source` it.
      const gitEnv = path.join(o.local, "git.env");
      fs.writeFileSync(gitEnv, `export GITLAB_TOKEN=${JSON.stringify(services.gitlabToken)}\n`, { mode: 0o600 });
      say(`  source ${JSON.stringify(gitEnv)}   # GITLAB_TOKEN, the local GitLab's admin token`);
      say(`  # profiles [quant] [quant_stg] [quant_lr] (admin) and [<stack>-<member id>] in DATABRICKS_CONFIG_FILE`);
      say(`  # the shared Git folders clone ${services.gitlab.url.replace(/\/api\/v4$/, "")}/${owner.git.project}.git`);
      say(`  cd ${dir}`);
      say("  pulumi stack ls; pulumi preview --diff -s quant_stg; pulumi refresh -s quant_lr");
      say(`  npm --prefix ${o.root} run -s status -- --model ${o.model} --from databricks://quant_lr-${release.id}`);
      await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
    }
    return 0;
  } finally {
    await services.stop();
    if (kept) say("services stopped");
  }
}

/** Protected branches and approval rules of the project, as GitLab's API reports them. */
/**
 * Each roster member pushes (and force-pushes) to each branch, opens a merge request on each of the 12 pairs (the
 * pipeline runs the product's branch-flow guard) and merges their own into each branch, alone and then with
 * everyone else's approvals: what went through, per member.
 */
async function actOutGitRules(services: Services, model: AccessModel, project: string, dir: string): Promise<string[]> {
  const gl = services.gitlab;
  const p = gl.projects.find((x) => x.path_with_namespace === project)!;
  for (const b of BRANCHES) if (!p.branches.has(b)) gl.commit(p, b, `the team repository's ${b}`);
  gl.ci = productCi(dir);
  const tokens = new Map(model.roster.map((m) => [m.id, gl.tokenFor(m.gitUsername)]));
  const { acts, cells } = gitTableActs(model.roster, (m) => tokens.get(m.id)!, true);
  const answers = await actOnGitLab(gl.url, project, acts, services.certFile);
  return renderGitTable(model.roster, cells, answers);
}

async function renderBranchRules(services: Services, project: string): Promise<string> {
  const api = `${services.gitlab.url}/projects/${encodeURIComponent(project)}`;
  const get = <T>(p: string) => httpsGetJson<T>(`${api}${p}`, { "PRIVATE-TOKEN": services.gitlabToken }, services.cert.cert);
  const users = await httpsGetJson<{ id: number; username: string }[]>(
    `${services.gitlab.url}/users?per_page=100`,
    { "PRIVATE-TOKEN": services.gitlabToken },
    services.cert.cert,
  ).catch(() => []);
  const name = (id?: number) => users.find((u) => u.id === id)?.username ?? String(id);
  type Level = { access_level: number; access_level_description?: string; user_id?: number | null };
  const levels = (ls: Level[]) =>
    ls.map((l) => (l.user_id ? name(l.user_id) : (l.access_level_description ?? String(l.access_level)))).join(", ") || "nobody";
  const branches =
    await get<{ name: string; push_access_levels: Level[]; merge_access_levels: Level[]; allow_force_push: boolean }[]>(
      "/protected_branches?per_page=100",
    );
  const rules = await get<
    { name: string; approvals_required: number; users: { username: string }[]; protected_branches: { name: string }[] }[]
  >("/approval_rules?per_page=100").catch(() => []);
  return branches
    .map((b) => {
      const own = rules.filter((r) => r.protected_branches.some((p) => p.name === b.name));
      return [
        `${b.name}: push ${levels(b.push_access_levels)}; merge ${levels(b.merge_access_levels)}; force push ${b.allow_force_push ? "allowed" : "never"}`,
        ...own.map((r) => `  approval rule '${r.name}': ${r.approvals_required} of ${r.users.map((u) => u.username).join(", ")}`),
      ].join("\n");
    })
    .join("\n");
}
