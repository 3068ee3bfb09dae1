/** Samples a process tree's total RSS and a directory's size while a command runs (Linux /proc). */
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";

function children(): Map<number, number[]> {
  const kids = new Map<number, number[]>();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
    } catch {
      /* exited */
    }
  }
  return kids;
}

/** Sums `of(pid)` over a process and all its descendants (processes that exit meanwhile count 0). */
function overTree(root: number, of: (pid: number) => number): number {
  const kids = children();
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    try {
      total += of(pid);
    } catch {
      /* exited */
    }
    stack.push(...(kids.get(pid) ?? []));
  }
  return total;
}

export function treeRssBytes(root: number): number {
  return overTree(root, (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024);
}

/** CPU seconds (user + system, own and of reaped children) of every process in a tree. */
export function treeCpuSeconds(root: number): number {
  return overTree(root, (pid) => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100; // utime stime cutime cstime, in USER_HZ
  });
}

export function dirBytes(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    try {
      if (e.isDirectory()) total += dirBytes(p);
      else if (e.isFile()) total += fs.statSync(p).size;
    } catch {
      /* removed meanwhile */
    }
  }
  return total;
}

/**
 * Our own child processes whose command line matches `pattern` (an emulator we started, found to sample it). A
 * service runs under a watchdog (devenv/processGroup.ts): the service is found, not the watchdog, so that the
 * watchdog's own memory is not counted as the emulator's.
 */
export function ownChildren(pattern: RegExp): number[] {
  const kids = children();
  const commandLine = (pid: number) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
    } catch {
      return "";
    }
  };
  return (kids.get(process.pid) ?? [])
    .flatMap((pid) => (/group_watchdog\.py/.test(commandLine(pid)) ? (kids.get(pid) ?? []) : [pid]))
    .filter((pid) => pattern.test(commandLine(pid)));
}

export interface RunResult {
  wallMs: number;
  peakRssBytes: number;
  peakDiskBytes: number;
  cpuS: number;
  code: number;
  stdout: string;
  stderr: string;
  /** Set when the command ran past `limits.timeoutMs` and was killed. */
  timedOut?: boolean;
  /** The peak RSS of the process trees in `limits.alsoSample` (the servers it talks to) while it ran. */
  peakSampledRssBytes?: number;
}

export interface RunLimits {
  /** Kill the command (SIGKILL) after this long; the result then has `timedOut`. */
  timeoutMs?: number;
  /** Other process trees whose RSS is sampled alongside (servers the command talks to). */
  alsoSample?: number[];
}

/**
 * Runs a command with TMPDIR set to `scratch`, sampling its tree's RSS and the scratch size every 100 ms (and the
 * RSS of `limits.alsoSample`), killed after `limits.timeoutMs` if given.
 */
export function measured(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  scratch: string,
  cwd?: string,
  limits: RunLimits = {},
): Promise<RunResult> {
  fs.mkdirSync(scratch, { recursive: true });
  const started = Date.now();
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env, TMPDIR: scratch, TEMP: scratch, TMP: scratch },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  let peakRss = 0;
  let peakDisk = 0;
  let peakSampled = 0;
  let cpu = 0;
  const sample = () => {
    if (child.pid) {
      peakRss = Math.max(peakRss, treeRssBytes(child.pid));
      cpu = Math.max(cpu, treeCpuSeconds(child.pid));
    }
    peakDisk = Math.max(peakDisk, dirBytes(scratch));
    if (limits.alsoSample)
      peakSampled = Math.max(
        peakSampled,
        limits.alsoSample.reduce((s, pid) => s + treeRssBytes(pid), 0),
      );
  };
  const timer = setInterval(sample, 100);
  let timedOut = false;
  const deadline = limits.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, limits.timeoutMs)
    : undefined;
  return new Promise((resolve) => {
    child.on("exit", (code) => {
      clearInterval(timer);
      if (deadline) clearTimeout(deadline);
      resolve({
        wallMs: Date.now() - started,
        peakRssBytes: peakRss,
        peakDiskBytes: peakDisk,
        cpuS: cpu,
        code: code ?? 1,
        stdout,
        stderr,
        ...(timedOut ? { timedOut } : {}),
        ...(limits.alsoSample ? { peakSampledRssBytes: peakSampled } : {}),
      });
    });
  });
}

/**
 * Lets the binary rebuild dist/ when a source is newer (bin/quant-platform.js does, with tsc) before it is
 * measured: a rebuild inside a measurement adds tsc's CPU and memory to ours (a source edited while the bench
 * runs did, three times, about 8 s of CPU and 210 MiB).
 */
export function ensureBuilt(projectDir: string): void {
  execFileSync(process.execPath, [path.join(projectDir, "bin", "quant-platform.js"), "--help"], { cwd: projectDir, stdio: "ignore" });
}
