/**
 * Every process the dev environment and tests start and keep running (MLflow servers, Azurite, moto, the
 * commands of the local platform) starts here, in its own process group under a watchdog
 * (devenv/python/group_watchdog.py), and is stopped as a group, so a server's own children go with it.
 *
 * Why a watchdog: cleanup handlers in this process (`exit`, signals) do not run when it is SIGKILLed or
 * crashes, and a detached group would then run on. The watchdog leads the group and holds the read end of a
 * pipe on its stdin whose write end only this process holds; the kernel closes it however this process
 * ends, and on EOF the watchdog ends the whole group (SIGTERM, SIGKILL after `STOP_GRACE_MS`).
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { projectDir } from "../config/projectDir";

/** How long a group has to answer SIGTERM before it is SIGKILLed (MLflow servers take more than 8 s). */
export const STOP_GRACE_MS = 3000;

const WATCHDOG = path.join(projectDir(), "devenv", "python", "group_watchdog.py");

/** The project venv's interpreter when there is one (no shim in between), else python3 from PATH. */
function python(): string {
  const venv = path.join(projectDir(), ".venv", "bin", "python");
  return fs.existsSync(venv) ? venv : "python3";
}

const running = (p: ChildProcess | undefined): p is ChildProcess & { pid: number } =>
  !!p?.pid && p.exitCode === null && p.signalCode === null;

/** Groups still running: killed at once when this process exits normally (the watchdog covers every other end). */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) killGroupNow(p);
});

export interface GroupOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the command's output goes: an open file descriptor (a log file), "pipe" or "ignore". */
  stdout?: number | "pipe" | "ignore";
  stderr?: number | "pipe" | "ignore";
}

/**
 * Starts `cmd` in a new process group that ends with this process, however it ends. The returned process is
 * the group's leader (the watchdog): its pid is the group id, and it exits as the command does.
 */
export function spawnGroup(cmd: string, args: string[], opts: GroupOptions = {}): ChildProcess {
  const p = spawn(python(), ["-S", WATCHDOG, String(STOP_GRACE_MS / 1000), cmd, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ["pipe", opts.stdout ?? "ignore", opts.stderr ?? "ignore"],
    detached: true,
  });
  // Nothing is ever written: the pipe only has to stay open while this process lives.
  p.stdin?.on("error", () => undefined);
  live.add(p);
  p.once("exit", () => live.delete(p));
  return p;
}

/** SIGKILL to the whole group, now (process exit, or a stop that took too long). */
export function killGroupNow(p: ChildProcess | undefined): void {
  if (!running(p)) return;
  try {
    process.kill(-p.pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

/** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopGroup(p: ChildProcess | undefined, graceMs = STOP_GRACE_MS): Promise<void> {
  if (!running(p)) return;
  const exited = new Promise((r) => p.once("exit", r));
  try {
    process.kill(-p.pid, "SIGTERM");
  } catch {
    /* gone */
  }
  const timer = setTimeout(() => killGroupNow(p), graceMs);
  await exited;
  clearTimeout(timer);
}
