/**
 * Real cloud-store emulators for tests and the demo, on free loopback ports: Azurite's blob service (the
 * `azurite` npm package) and moto's S3 in server mode (`moto[server]` in the project venv). Each runs as its
 * own process group with its data in a temp dir, waits until it answers, and is always torn down (also when
 * the process that started it is killed: processGroup.ts).
 */
import { spawnGroup, stopGroup } from "../processGroup";
import { ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { freePort, PROJECT_DIR, VENV_BIN } from "../localMlflow";

/** Azurite's well-known development account and its published key (not a secret). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** Fixed test credentials for moto, which accepts any; fixed so requests are reproducible. */
export const MOTO_ACCESS_KEY_ID = "AKIAQUANTPLATFORMTEST";
export const MOTO_SECRET_ACCESS_KEY = "quant-platform-moto-test-secret";
export const MOTO_REGION = "us-east-1";

export interface AzuriteHandle {
  /** `http://127.0.0.1:PORT/devstoreaccount1` (path-style account, as Azurite serves it). */
  blobEndpoint: string;
  account: string;
  accountKey: string;
  stop(): Promise<void>;
}

export interface MotoHandle {
  /** `http://127.0.0.1:PORT`; use path-style addressing (`forcePathStyle`). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Smallest non-final part moto accepts when completing a multipart upload (AWS: 5 MiB). */
  minPartSize: number;
  stop(): Promise<void>;
}

/** One emulator process in its own process group, logging to a file in its temp dir. */
class EmulatorProcess {
  private proc?: ChildProcess;
  private readonly logFile: string;

  constructor(
    readonly name: string,
    readonly dir: string,
    private readonly ownsDir: boolean,
  ) {
    this.logFile = path.join(dir, `${name}.log`);
  }

  spawn(cmd: string, args: string[], env: NodeJS.ProcessEnv): void {
    const log = fs.openSync(this.logFile, "a");
    this.proc = spawnGroup(cmd, args, { stdout: log, stderr: log, env, cwd: this.dir });
    fs.closeSync(log);
  }

  log(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, "utf8") : "";
  }

  /** Polls `url` until the emulator answers any HTTP status. */
  async waitUntilAnswering(url: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const p = this.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) {
        throw new Error(`${this.name} exited (${p?.exitCode ?? p?.signalCode}) before answering:\n${this.log().slice(-3000)}`);
      }
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const tail = this.log().slice(-3000);
    await this.stop();
    throw new Error(`${this.name} did not answer at ${url} within ${timeoutMs} ms:\n${tail}`);
  }

  /** Stops the whole process group (SIGTERM, then SIGKILL after 3 s) and removes the temp dir it owns. */
  async stop(): Promise<void> {
    await stopGroup(this.proc);
    if (this.ownsDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The environment for an emulator: ours, minus anything that would point it (or its SDK) at real accounts. */
function emulatorEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AWS_|AZURE_|AZURITE_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function workDir(name: string, dir: string | undefined): { dir: string; owns: boolean } {
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    return { dir, owns: false };
  }
  return { dir: fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`)), owns: true };
}

/**
 * Starts Azurite's blob service alone on 127.0.0.1 and a free port, keeping blobs on disk in `dir` (default: a
 * fresh temp dir, removed on stop), so multi-GiB files do not sit in memory.
 */
export async function startAzurite(opts: { dir?: string; timeoutMs?: number } = {}): Promise<AzuriteHandle> {
  const main = path.join(PROJECT_DIR, "node_modules", "azurite", "dist", "src", "blob", "main.js");
  if (!fs.existsSync(main)) {
    throw new Error(`Azurite is not installed (no ${path.relative(PROJECT_DIR, main)}): run \`npm ci\` first`);
  }
  const work = workDir("azurite", opts.dir);
  const port = await freePort();
  const proc = new EmulatorProcess("azurite", work.dir, work.owns);
  proc.spawn(
    process.execPath,
    [
      main,
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      String(port),
      "--location",
      work.dir,
      "--silent",
      "--loose",
      "--skipApiVersionCheck",
      "--disableTelemetry",
    ],
    emulatorEnv({}),
  );
  const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  await proc.waitUntilAnswering(`${blobEndpoint}?comp=list`, opts.timeoutMs ?? 60000);
  return { blobEndpoint, account: AZURITE_ACCOUNT, accountKey: AZURITE_ACCOUNT_KEY, stop: () => proc.stop() };
}

/**
 * Starts moto's server (`.venv/bin/moto_server`) on 127.0.0.1 and a free port. `minPartSize` lowers S3's
 * 5 MiB minimum for non-final parts so tests can use small parts; objects above 1 MiB spool to temp files in
 * the emulator's own temp dir rather than staying in memory.
 */
export async function startMoto(opts: { minPartSize?: number; timeoutMs?: number } = {}): Promise<MotoHandle> {
  const bin = path.join(VENV_BIN, "moto_server");
  if (!fs.existsSync(bin)) {
    throw new Error(`no moto server in ${VENV_BIN} (moto[server] from requirements-mlflow.txt): run \`npm run setup:mlflow\` first`);
  }
  const minPartSize = opts.minPartSize ?? 5 * 1024 * 1024;
  const work = workDir("moto", undefined);
  const port = await freePort();
  const proc = new EmulatorProcess("moto", work.dir, work.owns);
  proc.spawn(
    bin,
    ["-H", "127.0.0.1", "-p", String(port)],
    emulatorEnv({
      TMPDIR: work.dir,
      S3_UPLOAD_PART_MIN_SIZE: String(minPartSize),
      MOTO_S3_DEFAULT_KEY_BUFFER_SIZE: String(1024 * 1024),
    }),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  await proc.waitUntilAnswering(`${endpoint}/moto-api/`, opts.timeoutMs ?? 60000);
  return {
    endpoint,
    region: MOTO_REGION,
    accessKeyId: MOTO_ACCESS_KEY_ID,
    secretAccessKey: MOTO_SECRET_ACCESS_KEY,
    minPartSize,
    stop: () => proc.stop(),
  };
}
