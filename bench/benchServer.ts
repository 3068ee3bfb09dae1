/**
 * An MLflow server for the benchmark, started as devenv/localMlflow.ts starts its servers (SQLite, proxied
 * artifacts, loopback) but with a chosen number of workers: `undefined` leaves MLflow's own default (4 in
 * MLflow 3.x, what `mlflow server` gives a user who passes nothing), where the devenv servers pass --workers 1.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { freePort, VENV_BIN } from "../devenv/localMlflow";
import { killGroupNow, stopGroup } from "../devenv/processGroup";

const live = new Set<BenchServer>();
process.on("exit", () => {
  for (const s of live) killGroupNow(s.proc);
});

export class BenchServer {
  proc?: ChildProcess;
  readonly url: string;
  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly port: number,
    readonly workers: number | undefined,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async create(name: string, parent: string, workers: number | undefined): Promise<BenchServer> {
    const dir = fs.mkdtempSync(path.join(parent || os.tmpdir(), `mlflow-${name}-`));
    return new BenchServer(name, dir, await freePort(), workers);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(timeoutMs = 120000): Promise<void> {
    const logFile = path.join(this.dir, "server.log");
    const log = fs.openSync(logFile, "a");
    this.proc = spawn(
      path.join(VENV_BIN, "mlflow"),
      [
        "server",
        "--backend-store-uri",
        `sqlite:///${path.join(this.dir, "mlflow.db")}`,
        "--artifacts-destination",
        path.join(this.dir, "artifacts"),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        String(this.port),
        ...(this.workers === undefined ? [] : ["--workers", String(this.workers)]),
      ],
      { detached: true, stdio: ["ignore", log, log], env: { ...process.env, MLFLOW_ENABLE_TELEMETRY: "false", DO_NOT_TRACK: "true" } },
    );
    fs.closeSync(log);
    live.add(this);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null)
        throw new Error(`mlflow server ${this.name} exited ${this.proc.exitCode}:\n${fs.readFileSync(logFile, "utf8").slice(-2000)}`);
      try {
        const r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2000) });
        if (r.ok) return;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await this.dispose();
    throw new Error(`mlflow server ${this.name} was not healthy after ${timeoutMs} ms`);
  }

  async dispose(): Promise<void> {
    await stopGroup(this.proc);
    live.delete(this);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
