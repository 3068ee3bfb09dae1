/**
 * Server processes the dev environment and tests start in their own process group (MLflow, Azurite, moto):
 * stopped as a group, so a server's own children go with it.
 */
import { ChildProcess } from "child_process";

const running = (p: ChildProcess | undefined): p is ChildProcess & { pid: number } =>
  !!p?.pid && p.exitCode === null && p.signalCode === null;

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
export async function stopGroup(p: ChildProcess | undefined, graceMs = 5000): Promise<void> {
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
