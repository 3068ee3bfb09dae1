/**
 * Finds the Pulumi toolchain that end-to-end tests drive: the `pulumi` CLI plus the plugins they need
 * (the Node.js language host and the Databricks provider), so that a test either runs for real or skips
 * with a reason that says exactly what is missing. Looks, in order, at PATH, then at the project-local
 * `.tools/bin`, and, when neither has it but `../shared/pulumi/install.sh` exists, installs it there with
 * `scripts/setup-pulumi.sh` (idempotent, seconds) so that a fresh clone does not skip silently.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { projectDir } from "../config/load";

export const PROJECT_DIR = projectDir();
export const LOCAL_BIN = path.join(PROJECT_DIR, ".tools", "bin");

export type PulumiToolchain =
  | {
      /** Absolute path of the `pulumi` binary. */
      pulumi: string;
      /** Directory to put first on PATH so the engine finds the same plugins. */
      binDir: string;
      /** `pulumi version` output, e.g. v3.248.0. */
      version: string;
      reason?: undefined;
    }
  | { pulumi?: undefined; reason: string };

const PLUGINS = ["pulumi-language-nodejs", "pulumi-resource-databricks", "pulumi-resource-github"];

function onPath(name: string, dirs: string[]): string | undefined {
  for (const d of dirs) {
    const f = path.join(d, name);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      if (fs.statSync(f).isFile()) return f;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function check(binDir: string, pathDirs: string[]): PulumiToolchain {
  const pulumi = path.join(binDir, "pulumi");
  const missing = PLUGINS.filter((p) => !onPath(p, [binDir, ...pathDirs]));
  if (missing.length)
    return { reason: `${pulumi} has no ${missing.join(" and ")} beside it or on PATH (the engine cannot download plugins here)` };
  try {
    const version = execFileSync(pulumi, ["version"], {
      encoding: "utf8",
      timeout: 30000,
      env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" },
    }).trim();
    return { pulumi, binDir, version };
  } catch (e) {
    return { reason: `${pulumi} version failed: ${(e as Error).message.split("\n")[0]}` };
  }
}

/**
 * The toolchain to run, or a reason why there is none. With `install` (the default) it unpacks the
 * shared prebuilt toolchain into `.tools/bin` when that is the only one available.
 */
export function findPulumiToolchain(opts: { install?: boolean } = {}): PulumiToolchain {
  const pathDirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  const fromPath = onPath("pulumi", pathDirs);
  if (fromPath) return check(path.dirname(fromPath), pathDirs);
  if (onPath("pulumi", [LOCAL_BIN])) return check(LOCAL_BIN, pathDirs);
  const installer = path.resolve(PROJECT_DIR, "..", "shared", "pulumi", "install.sh");
  if (!fs.existsSync(installer)) {
    return {
      reason: `no pulumi on PATH, none in ${LOCAL_BIN}, and no prebuilt toolchain at ${installer} (run scripts/setup-pulumi.sh on a machine that has one)`,
    };
  }
  if (opts.install === false) return { reason: `the toolchain is not installed: run \`bash scripts/setup-pulumi.sh\`` };
  try {
    execFileSync("bash", [path.join(PROJECT_DIR, "scripts", "setup-pulumi.sh")], {
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 300000,
      env: { ...process.env, PATH: pathDirs.join(path.delimiter) },
    });
  } catch (e) {
    return { reason: `scripts/setup-pulumi.sh failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}` };
  }
  return onPath("pulumi", [LOCAL_BIN])
    ? check(LOCAL_BIN, pathDirs)
    : { reason: `scripts/setup-pulumi.sh installed nothing into ${LOCAL_BIN}` };
}
