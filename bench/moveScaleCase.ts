/**
 * The move's cost curve (issue 32, item 5): environments of growing size, each seeded on a fresh source server and
 * moved by one `move` process into a fresh target. Per size it measures the seconds and the requests per run (both
 * servers' requests, counted by a pass-through proxy in front of each) and the move's peak RSS, and, at the sizes up
 * to `exportImportUpTo`, mlflow-export-import's export-all + import-all on the same source. Expect time linear in
 * runs and RSS flat: the per-run columns say whether it is.
 */
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as path from "path";
import { exportImportAll } from "./moveCase";
import { ensureBuilt, measured } from "./procTree";
import { MlflowServer, PROJECT_DIR, VENV_BIN } from "../devenv/localMlflow";

const MiB = 1048576;
const EI_BIN = path.join(PROJECT_DIR, ".venv-bench", "bin");
/** Runs per experiment, and runs per registered model (each model has three versions, each from a run of its own). */
const RUNS_PER_EXPERIMENT = 10;
const RUNS_PER_MODEL = 50;

export interface ScalePoint {
  runs: number;
  versions: number;
  seedS: number;
  move: { wallS: number; sPerRun: number; requests: number; requestsPerRun: number; peakRssMiB: number; exit: number };
  exportImport?: { wallS: number; sPerRun: number; peakRssMiB: number; exit: number };
}

/** A pass-through HTTP proxy that counts the requests it forwards. */
async function countingProxy(target: string): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let n = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer((req, res) => {
    n++;
    const up = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => n,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => r());
      }),
  };
}

/** Seeds `runs` runs (in experiments of ten) and versions in proportion (three per model, a model per 50 runs). */
async function seed(url: string, runs: number, out: string): Promise<{ runs: number; versions: number }> {
  const { execFile } = await import("child_process");
  const models = Math.max(1, Math.round(runs / RUNS_PER_MODEL));
  const experiments = Math.max(1, Math.round((runs - models * 3) / RUNS_PER_EXPERIMENT));
  const args = [
    path.join(PROJECT_DIR, "bench", "seed_env.py"),
    ...["--tracking-uri", url, "--experiments", String(experiments), "--runs", String(RUNS_PER_EXPERIMENT)],
    ...["--models", String(models), "--versions", "3", "--large-mb", "1", "--out", out],
  ];
  await new Promise<void>((resolve, reject) =>
    execFile(
      path.join(VENV_BIN, "python"),
      args,
      { env: { ...process.env, MLFLOW_ENABLE_TELEMETRY: "false", DO_NOT_TRACK: "true" }, maxBuffer: 1 << 26 },
      (e, _o, stderr) => (e ? reject(new Error(`seeding ${runs} runs failed: ${stderr.slice(-800)}`)) : resolve()),
    ),
  );
  const s = JSON.parse(fs.readFileSync(out, "utf8")) as { runs: number; versions: number };
  return { runs: s.runs, versions: s.versions };
}

export async function moveScaleBench(o: {
  sizes: number[];
  exportImportUpTo: number;
  work: string;
  log: (s: string) => void;
}): Promise<ScalePoint[]> {
  ensureBuilt(PROJECT_DIR);
  const points: ScalePoint[] = [];
  for (const size of o.sizes) {
    const dir = path.join(o.work, `size-${size}`);
    fs.mkdirSync(dir, { recursive: true });
    const src = await MlflowServer.create(`scale-src-${size}`, dir);
    const servers = [src];
    try {
      await src.start();
      o.log(`${size} runs: seeding ...`);
      const t0 = Date.now();
      const seeded = await seed(src.url, size, path.join(dir, "seeded.json"));
      const seedS = (Date.now() - t0) / 1000;
      const dst = await MlflowServer.create(`scale-dst-${size}`, dir);
      servers.push(dst);
      await dst.start();
      const [from, to] = await Promise.all([countingProxy(src.url), countingProxy(dst.url)]);
      o.log(`${size} runs: moving ${seeded.runs} runs and ${seeded.versions} versions ...`);
      const r = await measured(
        process.execPath,
        ["bin/quant-platform.js", "move", "--from", from.url, "--to", to.url, "--json"],
        {},
        path.join(dir, "s-move"),
        PROJECT_DIR,
      );
      const requests = from.count() + to.count();
      await Promise.all([from.close(), to.close()]);
      if (r.code !== 0) o.log(`move exited ${r.code}: ${r.stderr.slice(-600)}`);
      const point: ScalePoint = {
        runs: seeded.runs,
        versions: seeded.versions,
        seedS,
        move: {
          wallS: r.wallMs / 1000,
          sPerRun: r.wallMs / 1000 / seeded.runs,
          requests,
          requestsPerRun: requests / seeded.runs,
          peakRssMiB: r.peakRssBytes / MiB,
          exit: r.code,
        },
      };
      if (size <= o.exportImportUpTo && fs.existsSync(path.join(EI_BIN, "export-all"))) {
        const eiDst = await MlflowServer.create(`scale-ei-${size}`, dir);
        servers.push(eiDst);
        await eiDst.start();
        o.log(`${size} runs: export-all + import-all ...`);
        const { a, b } = await exportImportAll(src.url, eiDst.url, path.join(dir, "s-ei"));
        const wallS = (a.wallMs + (b?.wallMs ?? 0)) / 1000;
        point.exportImport = {
          wallS,
          sPerRun: wallS / seeded.runs,
          peakRssMiB: Math.max(a.peakRssBytes, b?.peakRssBytes ?? 0) / MiB,
          exit: a.code || (b?.code ?? 1),
        };
      }
      o.log(`${size} runs: ${JSON.stringify(point)}`);
      points.push(point);
    } finally {
      await Promise.all(servers.map((s) => s.dispose()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return points;
}

/** The curve as a table for stdout and docs/benchmarks.md. */
export function moveScaleLines(points: ScalePoint[]): string[] {
  const f = (n: number, d = 2) => n.toFixed(d);
  return [
    "| runs | versions | move s | s/run | requests/run | peak RSS MiB | export-import s | s/run |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...points.map(
      (p) =>
        `| ${p.runs} | ${p.versions} | ${f(p.move.wallS, 1)} | ${f(p.move.sPerRun, 3)} | ${f(p.move.requestsPerRun, 1)} | ${f(p.move.peakRssMiB, 0)} | ${p.exportImport ? f(p.exportImport.wallS, 1) : "-"} | ${p.exportImport ? f(p.exportImport.sPerRun, 3) : "-"} |`,
    ),
  ];
}
