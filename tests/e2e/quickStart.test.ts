/**
 * The README's quick start, exactly as a newcomer runs it: `npm start -- --keep` walks the platform team's job under
 * the real engine on the local platform, leaves its state in .local/state for `pulumi stack export`, and keeps the
 * platform running. Then every command of the README's bash blocks runs on that platform, as written, and must
 * give the exit code the README documents for it (`# exit N`); Ctrl-C ends the platform, nothing left behind.
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Runner } from "../../devenv/localPlatform";
import { findPulumiToolchain, PROJECT_DIR } from "../../devenv/pulumiToolchain";
import { isRunning, processTree, ProcessEntry, runAsync } from "../fixtures/process";

/** A command of a README bash block, with the exit code its trailing `# exit N` documents on the kept platform. */
interface ReadmeCommand {
  line: number;
  command: string;
  exit: number;
}

/** What marks a command that is not for the kept platform (a fresh machine's, or an outside service's). */
const NOT_ON_KEPT = "# not on the kept platform";

/**
 * The command lines of the README's bash blocks (comment lines are prose; a trailing `\` continues a line): those
 * documenting their exit code, those marked as not for the kept platform, and any with neither.
 */
function readmeCommands(markdown: string): { commands: ReadmeCommand[]; excluded: string[]; unannotated: string[] } {
  const commands: ReadmeCommand[] = [];
  const excluded: string[] = [];
  const unannotated: string[] = [];
  let inBlock = false;
  let pending: { line: number; text: string } | undefined;
  markdown.split("\n").forEach((raw, i) => {
    if (!inBlock) {
      inBlock = /^```(bash|sh|shell)\b/.test(raw);
      return;
    }
    if (/^```\s*$/.test(raw)) {
      inBlock = false;
      return;
    }
    const text = `${pending?.text ?? ""}${raw.trim()}`;
    const line = pending?.line ?? i + 1;
    if (text.endsWith("\\")) {
      pending = { line, text: `${text.slice(0, -1)} ` };
      return;
    }
    pending = undefined;
    if (!text || text.startsWith("#")) return;
    const documented = /^(.*?)\s+#\s*exit (\d+)\b/.exec(text);
    if (documented) commands.push({ line, command: documented[1], exit: Number(documented[2]) });
    else if (text.includes(` ${NOT_ON_KEPT}`)) excluded.push(text);
    else unannotated.push(`README.md:${line}: ${text}`);
  });
  return { commands, excluded, unannotated };
}

/** `export NAME="value"` lines (the values JSON-quoted, as the job prints them), as an environment. */
function parseExports(text: string): Record<string, string> {
  return Object.fromEntries(
    [...text.matchAll(/^\s*export ([A-Z_][A-Z0-9_]*)=(".*")\s*$/gm)].map((m) => [m[1], JSON.parse(m[2]) as string]),
  );
}

const README = fs.readFileSync(path.join(PROJECT_DIR, "README.md"), "utf8");
const { commands: README_COMMANDS, excluded: README_EXCLUDED, unannotated: README_UNANNOTATED } = readmeCommands(README);
/** Each README command's own limit; together they took 41 to 66 s (pulumi preview, up and refresh the most). */
const COMMAND_TIMEOUT_MS = 180000;
const KEPT = /^The services keep running \(Ctrl-C ends them\)\. In another shell:$/m;
/** The last line the kept job prints before it waits for Ctrl-C. */
const LAST_KEPT_LINE = /^ {2}npm --prefix .* run -s status -- .*\n/m;

describe("the quick start: npm start -- --keep runs pulumi up of the three stacks, walks the model to production and keeps the platform", function () {
  this.timeout(1200000);
  let out = "";
  let job: ChildProcess | undefined;
  /** The job's exit code, once it has exited. */
  let exited: Promise<number | null> = Promise.resolve(null);
  let kept = false;
  let tree: ProcessEntry[] = [];
  let env: NodeJS.ProcessEnv = {};
  /** The environment the printed `export` and `source` lines give a shell, over a fresh one. */
  let keptEnv: NodeJS.ProcessEnv = {};
  const local = path.join(PROJECT_DIR, ".local");

  before(async function () {
    const tc = findPulumiToolchain();
    if (!tc.pulumi) {
      console.log(`      SKIPPED the quick-start test: ${tc.reason}`);
      this.skip();
    }
    // Nothing of the caller's Pulumi, cloud or MLflow settings: what a fresh shell has.
    env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DATABRICKS_|PULUMI_|MLFLOW_|MIGRATE_|GITLAB_)/.test(k)));
    // Its own process group, as a terminal's foreground job, so that processTree finds all it starts.
    const child = spawn("npm", ["start", "--", "--keep"], { cwd: PROJECT_DIR, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    job = child;
    // "close": exited, and its output read to the end.
    exited = new Promise((resolve) => child.once("close", (code) => resolve(code)));
    kept = await new Promise<boolean>((resolve) => {
      const onData = (d: Buffer) => {
        out += d;
        const at = out.search(KEPT);
        if (at >= 0 && LAST_KEPT_LINE.test(out.slice(at))) resolve(true);
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      void exited.then(() => resolve(false));
    });
    if (!kept) return;
    tree = processTree(child.pid!);
    const printed = out.slice(out.search(KEPT));
    const sourced = /^ {2}source (".*")/m.exec(printed);
    keptEnv = {
      ...env,
      ...parseExports(printed),
      ...(sourced ? parseExports(fs.readFileSync(JSON.parse(sourced[1]) as string, "utf8")) : {}),
    };
  });

  after(() => {
    // A failed test must not leave the platform running: every process of the job, whatever it still holds.
    if (job?.pid && job.exitCode === null && job.signalCode === null) tree.push(...processTree(job.pid));
    for (const p of tree.filter(isRunning))
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        /* gone meanwhile */
      }
  });

  it("reaches the kept platform, each step saying what it does, in the lifecycle's order", () => {
    assert.ok(kept, `npm start -- --keep never said it keeps the services running:\n${out.slice(-8000)}`);
    const steps = [
      /^1\. pulumi up -s quant: groups, members, Git folders/m,
      /^2\. three training iterations logged in quant/m,
      /^3\. \S+ \(approver\) moves version \d+ to Staging in quant/m,
      /^4\. pulumi up -s quant_stg: /m,
      /^5\. \S+ \(consumer\) validates quant-alpha-transformer version \d+ in quant_stg/m,
      /^6\. pulumi up -s quant_lr: .*through the gate/m,
      /^7\. pulumi preview --expect-no-changes of quant, quant_stg, quant_lr/m,
    ];
    let at = 0;
    for (const re of steps) {
      const m = re.exec(out.slice(at));
      assert.ok(m, `step ${re} after position ${at}:\n${out}`);
      at += m.index + m[0].length;
    }
    assert.match(out, /registered quant-alpha-transformer version \d+ in quant/);
    assert.match(out, /^\s+no changes$/m);
  });

  it("prints who can do what per workspace as read back, the branch rules, the journey with its evidence, and the time", () => {
    for (const s of ["quant", "quant_stg", "quant_lr"]) assert.match(out, new RegExp(`^\\s+${s}:\\n\\s+quant-`, "m"), `access of ${s}`);
    assert.match(out, /quant-consumer \(2\): grace\.lee@quantfirm\.example, hiro\.tanaka@quantfirm\.example/);
    assert.match(out, /CAN_MANAGE on \/Teams\/quant\/git/);
    assert.match(
      out,
      /Git folder \/Teams\/quant\/shared\/quant-research: https:\/\/127\.0\.0\.1:\d+\/quant\/quant-research\.git at quant_lr/,
    );
    assert.match(out, /^\s+quant_live: push .*; force push never$/m);
    assert.match(out, /^\s+quant: push .*; force push never$/m);
    assert.match(out, /sign-off {5}grace\.lee@quantfirm\.example to Production naming run [0-9a-f]{32}: counted/);
    assert.match(out, /next: ready for pulumi up of quant_lr/);
    assert.match(
      out,
      /promoted on {2}validation run [0-9a-f]{32} by grace\.lee@quantfirm\.example \(precision 0\.\d+ >= 0\.8, historical-sample\.csv sha256:[0-9a-f]{64}\); signed off by grace\.lee@quantfirm\.example; approved by \S+@quantfirm\.example/,
    );
    assert.match(out, /^Done in \d+ s\./m);
  });

  it("acts the Git rules out, not read back: a line per member, each showing what went through with their own token", () => {
    const section = out.slice(out.indexOf("The Git rules acted out, not read back"));
    assert.ok(section.length > 40, out.slice(-4000));
    // Two rows of the seed's table, as the team's rules say: a developer pushes to quant only and merges into quant;
    // a consumer pushes nowhere and merges nowhere. Everyone: only the flow's pairs pass the guard, own approval refused.
    const flow = "guard passes quant->quant_stg, quant_stg->quant_lr, quant_stg->quant_live, quant_lr->quant_live;";
    assert.match(
      section,
      new RegExp(
        `ana\\.ruiz \\(developer\\): push quant; force-push nowhere; ${flow} own approval refused, merged alone nowhere; merges with others' approvals into quant$`,
        "m",
      ),
    );
    assert.match(
      section,
      new RegExp(
        `grace\\.lee \\(consumer\\): push nowhere; force-push nowhere; ${flow} own approval refused, merged alone nowhere; merges with others' approvals into nowhere$`,
        "m",
      ),
    );
  });

  it("leaves the state in .local/state: pulumi stack export -s quant_lr shows the production promotion, and no token in plaintext", async () => {
    const tc = findPulumiToolchain();
    if (!tc.pulumi) throw new Error(tc.reason);
    const stateEnv = {
      ...env,
      PATH: `${tc.binDir}${path.delimiter}${env.PATH}`,
      PULUMI_BACKEND_URL: `file://${path.join(local, "state")}`,
      PULUMI_CONFIG_PASSPHRASE_FILE: path.join(local, "passphrase"),
      PULUMI_HOME: path.join(local, "pulumi-home"),
      PULUMI_SKIP_UPDATE_CHECK: "true",
    };
    const r = await runAsync("pulumi", ["stack", "export", "-s", "quant_lr"], { cwd: path.join(local, "project"), env: stateEnv });
    assert.strictEqual(r.status, 0, r.stderr);
    const resources = (JSON.parse(r.stdout) as { deployment: { resources: { urn: string; outputs?: Record<string, unknown> }[] } })
      .deployment.resources;
    const promotion = resources.find((x) => /ModelPromotions\$pulumi-nodejs:dynamic\/mlflow:ModelMigration::/.test(x.urn));
    assert.ok(promotion, resources.map((x) => x.urn).join("\n"));
    assert.strictEqual(promotion!.outputs?.toEnv, "quant_lr");
    assert.match(String(promotion!.outputs?.targetVersion), /^\d+$/);
    const tokens = [...fs.readFileSync(path.join(local, "databrickscfg"), "utf8").matchAll(/^token = (.+)$/gm)].map((m) => m[1]);
    assert.ok(tokens.length >= 30, "a token per member and workspace");
    const stateText = fs
      .readdirSync(path.join(local, "state", ".pulumi", "stacks", "quant-platform"))
      .map((f) => fs.readFileSync(path.join(local, "state", ".pulumi", "stacks", "quant-platform", f), "utf8"))
      .join("\n");
    for (const t of tokens) assert.ok(!stateText.includes(t), "no member token in the state");
    assert.ok(!/dapi-e2e-/.test(stateText), "no workspace token in plaintext in the state");
  });

  it("prints the export lines and a file to source for another shell (no token on the terminal), and the project copy to cd into", () => {
    assert.ok(kept, "the platform was not kept");
    const printed = out.slice(out.search(KEPT));
    for (const k of [
      "PATH",
      "PULUMI_BACKEND_URL",
      "PULUMI_CONFIG_PASSPHRASE_FILE",
      "PULUMI_HOME",
      "SSL_CERT_FILE",
      "NODE_EXTRA_CA_CERTS",
      "REQUESTS_CA_BUNDLE",
      "DATABRICKS_CONFIG_FILE",
      "GITLAB_TOKEN",
    ])
      assert.ok(keptEnv[k], `${k} from the printed export lines or the sourced file:\n${printed}`);
    assert.ok(!out.includes(keptEnv.GITLAB_TOKEN!), "the GitLab token is never printed");
    // The README's `--dir .local/project` is this copy.
    assert.strictEqual(/^ {2}cd (.+)$/m.exec(printed)?.[1], path.join(local, "project"), printed);
    // Every profile a README command names is in the printed DATABRICKS_CONFIG_FILE.
    const profiles = new Set([...fs.readFileSync(keptEnv.DATABRICKS_CONFIG_FILE!, "utf8").matchAll(/^\[(.+)\]$/gm)].map((m) => m[1]));
    for (const c of README_COMMANDS)
      for (const m of c.command.matchAll(/databricks:\/\/([\w.-]+)/g))
        assert.ok(profiles.has(m[1]), `README.md:${c.line} names profile [${m[1]}], which is not in ${keptEnv.DATABRICKS_CONFIG_FILE}`);
  });

  it("README: every command of its bash blocks documents its exit code on the kept platform, or says it is not for it", () => {
    assert.deepStrictEqual(README_UNANNOTATED, [], `end each with '# exit N' (its exit code on the kept platform) or '${NOT_ON_KEPT}'`);
    assert.deepStrictEqual(
      README_EXCLUDED.map((l) => l.split(/\s+#/)[0].trim()),
      ["npm start", "npm test"],
      "only a fresh machine's commands are left out",
    );
    const checked = README_COMMANDS.map((c) => c.command).join("\n");
    for (const sub of [
      "access-diff",
      "preview",
      "deploy",
      "drift",
      "select",
      "validate",
      "sign-off",
      "status",
      "doctor",
      "move",
      "verify-move",
    ])
      assert.match(checked, new RegExp(`(npm run (-s )?|npx quant-platform )${sub} `), `a README command runs ${sub} on the kept platform`);
  });

  // In the README's order: a later command may use what an earlier one wrote (sign-off reads validate's run id).
  for (const c of README_COMMANDS)
    it(`README.md:${c.line}: ${c.command.length > 110 ? `${c.command.slice(0, 110)}...` : c.command} exits ${c.exit}`, async () => {
      assert.ok(kept, "the platform was not kept");
      const r = await new Runner(PROJECT_DIR, keptEnv).run("bash", ["-c", c.command], { timeoutMs: COMMAND_TIMEOUT_MS });
      assert.strictEqual(
        r.code,
        c.exit,
        `README.md:${c.line}, run in ${PROJECT_DIR} with the kept platform's environment:\n  ${c.command}\n` +
          `exited ${r.code} after ${(r.ms / 1000).toFixed(1)} s; the README documents exit ${c.exit}. Its output:\n${r.out.slice(-6000)}`,
      );
    });

  it("SIGINT (Ctrl-C) ends it: exit 0, its services stopped, none of its processes left", async () => {
    assert.ok(kept && job?.pid, "the platform was not kept");
    // The job's node process, which waits for the SIGINT; not the whole group as a terminal's Ctrl-C: `sh -c`
    // (dash) dies of the signal at once and npm then re-raises it on itself, so the shell would see 130 whatever
    // the job did. The job's own answer is what is checked: its exit code comes back through sh and npm.
    const node = tree.find((p) => /^\S*node bin\/quant-platform\.js start\b/.test(p.command));
    assert.ok(node, `the job's node process:\n${tree.map((p) => `  ${p.pid} ${p.command}`).join("\n")}`);
    process.kill(node.pid, "SIGINT");
    const code = await Promise.race([
      exited,
      new Promise<string>((r) =>
        setTimeout(() => r("not ended 60 s after the SIGINT (or a process it started still holds its output)"), 60000),
      ),
    ]);
    assert.strictEqual(code, 0, out.slice(-3000));
    assert.match(out, /^services stopped$/m);
    let alive = tree.filter(isRunning);
    for (const deadline = Date.now() + 10000; alive.length && Date.now() < deadline; alive = alive.filter(isRunning))
      await new Promise((r) => setTimeout(r, 200));
    assert.deepStrictEqual(
      alive.map((p) => `${p.pid} ${p.command.slice(0, 200)}`),
      [],
      "still running 10 s after the job exited",
    );
  });
});
