import * as assert from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import { COMMANDS } from "../../cli/index";
import { parseArgs, takeRepeated, UsageError, HelpRequested } from "../../cli/command";

const ROOT = path.resolve(__dirname, "../..");
const qp = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(ROOT, "bin/quant-platform.js"), ...args], { cwd: ROOT, encoding: "utf8" });

describe("the quant-platform binary", function () {
  this.timeout(120000);
  before(() => {
    // The first call builds dist/ when the sources are newer: do it once, outside the assertions.
    const r = qp("--version");
    assert.strictEqual(r.status, 0, r.stderr);
  });

  it("--help lists every subcommand and exits 0; --version prints package.json's version", () => {
    const help = qp("--help");
    assert.strictEqual(help.status, 0, help.stderr);
    for (const c of COMMANDS) assert.match(help.stdout, new RegExp(`\\n  ${c.name} `), `--help lists ${c.name}`);
    const v = qp("--version");
    assert.strictEqual(v.stdout.trim(), require(path.join(ROOT, "package.json")).version);
  });

  for (const c of COMMANDS) {
    it(`${c.name} --help prints its usage and exits 0`, () => {
      const r = qp(c.name, "--help");
      assert.strictEqual(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^usage: quant-platform ${c.name}`));
      assert.strictEqual(r.stderr, "");
    });
  }

  it("an unknown option exits 2 with the options expected and a pointer to --help", () => {
    const r = qp("plan", "--stak", "quant");
    assert.strictEqual(r.status, 2);
    assert.match(r.stderr, /unknown option --stak; expected one of: --stack, --format, --dir\nsee 'quant-platform plan --help'/);
  });

  it("an unknown command, or none, exits 2 naming the commands", () => {
    const r = qp("apply");
    assert.strictEqual(r.status, 2);
    assert.match(r.stderr, /unknown command 'apply'; expected one of: plan, access-diff/);
    assert.strictEqual(qp().status, 2);
  });

  it("an expected failure prints one message and no stack trace (exit 1)", () => {
    const r = qp("drift-report", "--stack", "quant", "--input", "/nonexistent/preview.json");
    assert.strictEqual(r.status, 1);
    assert.match(r.stderr, /^error: cannot read the preview JSON \/nonexistent\/preview.json/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it("the npm scripts are thin aliases of the binary, and npx finds it", () => {
    const scripts = require(path.join(ROOT, "package.json")).scripts as Record<string, string>;
    for (const c of COMMANDS.filter((x) => x.name !== "demo"))
      assert.match(scripts[c.name], new RegExp(`node bin/quant-platform.js ${c.name}$`), c.name);
    const npx = spawnSync("npx", ["--no-install", "quant-platform", "migrate", "--help"], { cwd: ROOT, encoding: "utf8" });
    assert.strictEqual(npx.status, 0, npx.stderr);
    assert.match(npx.stdout, /^usage: quant-platform migrate/);
  });
});

describe("argument parsing", () => {
  it("takes --name value, --name=value and flags; refuses a missing value, a value on a flag, a stray word", () => {
    assert.deepStrictEqual(parseArgs(["--a", "1", "--b=2", "--f"], ["a", "b"], ["f"]), { a: "1", b: "2", f: true });
    assert.throws(
      () => parseArgs(["--a"], ["a"]),
      (e) => e instanceof UsageError && /--a needs a value/.test(e.message),
    );
    assert.throws(
      () => parseArgs(["--f=1"], [], ["f"]),
      (e) => e instanceof UsageError && /--f takes no value/.test(e.message),
    );
    assert.throws(
      () => parseArgs(["stray"], ["a"]),
      (e) => e instanceof UsageError && /unexpected argument 'stray'/.test(e.message),
    );
    assert.throws(() => parseArgs(["--a", "1", "--help"], ["a"]), HelpRequested);
  });

  it("a repeatable option keeps every value, in order, and leaves the rest for the strict parse", () => {
    assert.deepStrictEqual(takeRepeated(["--m", "a=b", "--x", "1", "--m=c=d,e=f"], "m"), {
      values: ["a=b", "c=d,e=f"],
      rest: ["--x", "1"],
    });
    assert.throws(
      () => takeRepeated(["--x", "1", "--m"], "m"),
      (e) => e instanceof UsageError && /--m needs a value/.test(e.message),
    );
  });
});

describe("move --max-rps", () => {
  it("takes a number of requests a second, 0 or more; anything else is a usage error naming it", async () => {
    const { command } = await import("../../cli/move");
    for (const bad of ["-1", "fast", "Infinity"])
      await assert.rejects(
        async () => command.run(["--from", "http://127.0.0.1:1", "--to", "http://127.0.0.1:2", `--max-rps=${bad}`]),
        (e: Error) => e instanceof UsageError && /--max-rps is a number of requests a second, 0 or more, not '/.test(e.message),
      );
  });
});
