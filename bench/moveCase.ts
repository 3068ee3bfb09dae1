/**
 * The environment move (issue 24): a seeded old environment (experiments of runs, models with versions in
 * stages, one large) moved by our `move` against mlflow-export-import's bulk `export-all` + `import-all` (with
 * --use-threads), and `move` in 2 shards (two processes at once, then one `--verify-only`) against 1. Each
 * method moves into a fresh target server; what landed there is counted, so a method that skipped something
 * shows it. Notebooks are not in this case: both sides are OSS MLflow servers, where there are none
 * (export-import moves notebooks only from a Databricks workspace).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ensureBuilt, measured, RunResult, treeCpuSeconds } from "./procTree";
import { MlflowServer, PROJECT_DIR, VENV_BIN } from "../devenv/localMlflow";

const MiB = 1048576;
const EI_BIN = path.join(PROJECT_DIR, ".venv-bench", "bin");

export interface MoveScale {
  experiments: number;
  runs: number;
  models: number;
  versions: number;
  largeMb: number;
}

/** The issue's environment: about 20 experiments of 10 runs, 4 models of 3 versions (one of them large). */
export const FULL_MOVE: MoveScale = { experiments: 20, runs: 10, models: 4, versions: 3, largeMb: 64 };

/** `scale` of the full environment (at least one of each). */
export function moveScale(scale: number): MoveScale {
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  return { experiments: n(20), runs: 10, models: n(4), versions: 3, largeMb: Math.max(4, 64 * scale) };
}

export interface Seeded {
  experiments: number;
  runs: number;
  models: number;
  versions: number;
  files: number;
  bytes: number;
}

/** What a target holds after a move: experiments (besides Default), runs, models, versions with their stages. */
export interface Landed {
  experiments: number;
  runs: number;
  models: number;
  versions: number;
  staged: number;
}

export interface MoveRow {
  method: string;
  wallMs: number;
  /** The largest peak RSS of any one process of the method (each shard, export and import apart). */
  peakRssMiBPerProcess: number;
  peakDiskMiB: number;
  clientCpuS: number;
  serverCpuS: number;
  /** The source and the target server's CPU seconds apart: a one-worker server is one process, at most one core. */
  sourceServerCpuS: number;
  targetServerCpuS: number;
  landed: Landed;
  exitCodes: number[];
  /** Parts of the method, for the shards: each shard's wall time and the verify. */
  partsMs?: Record<string, number>;
  /** The peak RSS of each part's process tree. */
  partsRssMiB?: Record<string, number>;
  /** What our --json report said: totals {items, bytes, ms}. */
  totals?: Record<string, unknown>;
  note?: string;
}

async function api<T>(base: string, pathAndQuery: string, body?: unknown): Promise<T> {
  const r = await fetch(`${base}/api/2.0/mlflow/${pathAndQuery}`, {
    method: body ? "POST" : "GET",
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!r.ok) throw new Error(`${base} ${pathAndQuery}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** mlflow-export-import's export-all, then (when it succeeded) import-all, between two servers, each measured. */
export async function exportImportAll(srcUrl: string, dstUrl: string, scratch: string): Promise<{ a: RunResult; b?: RunResult }> {
  const dir = path.join(scratch, "export");
  const run = (cmd: string, args: string[], uri: string) =>
    measured(path.join(EI_BIN, cmd), args, { MLFLOW_TRACKING_URI: uri }, scratch, scratch);
  const a = await run("export-all", ["--output-dir", dir, "--use-threads", "True"], srcUrl);
  const b = a.code === 0 ? await run("import-all", ["--input-dir", dir, "--use-threads", "True"], dstUrl) : undefined;
  return { a, b };
}

/** Counts what a server holds, through its REST API. */
export async function landedOn(url: string): Promise<Landed> {
  const exps = (
    await api<{ experiments?: { experiment_id: string; name: string }[] }>(url, "experiments/search", { max_results: 1000 })
  ).experiments?.filter((e) => e.name !== "Default");
  let runs = 0;
  for (const e of exps ?? []) {
    let token: string | undefined;
    do {
      const page = await api<{ runs?: unknown[]; next_page_token?: string }>(url, "runs/search", {
        experiment_ids: [e.experiment_id],
        max_results: 1000,
        ...(token ? { page_token: token } : {}),
      });
      runs += page.runs?.length ?? 0;
      token = page.next_page_token;
    } while (token);
  }
  const models =
    (await api<{ registered_models?: { name: string }[] }>(url, "registered-models/search?max_results=1000")).registered_models ?? [];
  const versions =
    (await api<{ model_versions?: { current_stage?: string }[] }>(url, "model-versions/search?max_results=10000")).model_versions ?? [];
  return {
    experiments: exps?.length ?? 0,
    runs,
    models: models.length,
    versions: versions.length,
    staged: versions.filter((v) => v.current_stage && v.current_stage !== "None").length,
  };
}

const cpuOf = (servers: MlflowServer[]) => servers.reduce((s, x) => s + (x.pid ? treeCpuSeconds(x.pid) : 0), 0);

function ours(args: string[], scratch: string): Promise<RunResult> {
  ensureBuilt(PROJECT_DIR);
  return measured(process.execPath, ["bin/quant-platform.js", "move", ...args], {}, scratch, PROJECT_DIR);
}

function totalsOf(r: RunResult): Record<string, unknown> | undefined {
  try {
    return (JSON.parse(r.stdout) as { totals?: Record<string, unknown> }).totals;
  } catch {
    return undefined;
  }
}

/**
 * What each kind of request costs the tracking server, in its own CPU: `n` of each, one after another, against a
 * fresh server holding `n` runs. This is the price list the move's request budget is paid from.
 */
export async function requestCosts(work: string, workers: number | null, n = 200): Promise<Record<string, number>> {
  const s = await MlflowServer.create("request-costs", work, workers);
  try {
    await s.start();
    const exp = (await api<{ experiment_id: string }>(s.url, "experiments/create", { name: "costs" })).experiment_id;
    const runs: { run_id: string; artifact_uri: string }[] = [];
    for (let i = 0; i < n; i++)
      runs.push(
        (
          await api<{ run: { info: { run_id: string; artifact_uri: string } } }>(s.url, "runs/create", {
            experiment_id: exp,
            start_time: Date.now(),
            tags: [{ key: "quant.migration.sourceRun", value: `src-${i}` }],
          })
        ).run.info,
      );
    const art = (i: number) => `${s.url}/api/2.0/mlflow-artifacts/artifacts/${runs[i].artifact_uri.replace(/^mlflow-artifacts:\/+/, "")}`;
    const ok = async (r: Response) => {
      if (!r.ok) throw new Error(`${r.url}: ${r.status}`);
      await r.arrayBuffer();
    };
    const cases: Record<string, (i: number) => Promise<unknown>> = {
      "runs/create": () => api(s.url, "runs/create", { experiment_id: exp, start_time: Date.now() }),
      "runs/get": (i) => api(s.url, `runs/get?run_id=${runs[i].run_id}`),
      "runs/search (one tag)": (i) =>
        api(s.url, "runs/search", { experiment_ids: [exp], filter: `tags.\`quant.migration.sourceRun\` = 'src-${i}'`, max_results: 100 }),
      "runs/set-tag": (i) => api(s.url, "runs/set-tag", { run_id: runs[i].run_id, key: "k", value: "v" }),
      "runs/log-batch (5 params, 20 metric points)": (i) =>
        api(s.url, "runs/log-batch", {
          run_id: runs[i].run_id,
          params: Array.from({ length: 5 }, (_, k) => ({ key: `p${k}`, value: "v" })),
          metrics: Array.from({ length: 20 }, (_, k) => ({ key: `m${k % 2}`, value: k, timestamp: 1, step: k })),
        }),
      "runs/update": (i) => api(s.url, "runs/update", { run_id: runs[i].run_id, status: "FINISHED", end_time: Date.now() }),
      "metrics/get-history": (i) => api(s.url, `metrics/get-history?run_id=${runs[i].run_id}&metric_key=m0`),
      "artifact PUT (4 KiB)": (i) => fetch(`${art(i)}/f.bin`, { method: "PUT", body: Buffer.alloc(4096, i) }).then(ok),
      "artifact GET (4 KiB)": (i) => fetch(`${art(i)}/f.bin`).then(ok),
      "artifact list": (i) =>
        fetch(`${s.url}/api/2.0/mlflow-artifacts/artifacts?path=${encodeURIComponent(art(i).split("/artifacts/").pop()!)}`).then(ok),
    };
    const out: Record<string, number> = {};
    for (const [name, call] of Object.entries(cases)) {
      const before = cpuOf([s]);
      for (let i = 0; i < n; i++) await call(i);
      out[name] = ((cpuOf([s]) - before) * 1000) / n;
    }
    return out;
  } finally {
    await s.dispose();
  }
}

/** Runs the environment move case; `log` narrates progress on stderr. */
export async function moveBench(o: {
  scale: MoveScale;
  work: string;
  workers: number | undefined;
  /** Subtracted from Node methods' scratch: what the runtime itself leaves in TMPDIR. */
  runtimeDiskBytes: number;
  log: (s: string) => void;
}): Promise<{
  seeded: Seeded;
  rows: MoveRow[];
  ratios: Record<string, number>;
  targets: Record<string, boolean>;
  notes: string[];
  requestCostsCpuMs: Record<string, number>;
}> {
  const { work, log } = o;
  const src = await MlflowServer.create("move-src", work, o.workers ?? null);
  const rows: MoveRow[] = [];
  const notes: string[] = [];
  try {
    await src.start();
    log(
      `seeding ${o.scale.experiments} experiments of ${o.scale.runs} runs, ${o.scale.models} models of ${o.scale.versions} versions (one of ${o.scale.largeMb} MB) ...`,
    );
    const out = path.join(work, "seeded.json");
    const { execFileSync } = await import("child_process");
    execFileSync(
      path.join(VENV_BIN, "python"),
      [
        path.join(PROJECT_DIR, "bench", "seed_env.py"),
        "--tracking-uri",
        src.url,
        "--experiments",
        String(o.scale.experiments),
        "--runs",
        String(o.scale.runs),
        "--models",
        String(o.scale.models),
        "--versions",
        String(o.scale.versions),
        "--large-mb",
        String(o.scale.largeMb),
        "--out",
        out,
      ],
      { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, MLFLOW_ENABLE_TELEMETRY: "false", DO_NOT_TRACK: "true" } },
    );
    const seeded = JSON.parse(fs.readFileSync(out, "utf8")) as Seeded;
    const source = await landedOn(src.url);

    /** Runs one method into a fresh target server, measuring it and the servers' CPU, and counts what landed. */
    const method = async (
      name: string,
      run: (dst: MlflowServer) => Promise<Omit<MoveRow, "method" | "serverCpuS" | "sourceServerCpuS" | "targetServerCpuS" | "landed">>,
    ) => {
      const dst = await MlflowServer.create(`move-${name.replace(/\W+/g, "-")}`, work, o.workers ?? null);
      try {
        await dst.start();
        log(`${name} ...`);
        const [srcBefore, dstBefore] = [cpuOf([src]), cpuOf([dst])];
        const r = await run(dst);
        const [srcCpu, dstCpu] = [cpuOf([src]) - srcBefore, cpuOf([dst]) - dstBefore];
        const row: MoveRow = {
          method: name,
          ...r,
          serverCpuS: srcCpu + dstCpu,
          sourceServerCpuS: srcCpu,
          targetServerCpuS: dstCpu,
          landed: await landedOn(dst.url),
        };
        rows.push(row);
        log(`${name}: ${(row.wallMs / 1000).toFixed(1)} s, landed ${JSON.stringify(row.landed)}, exit ${row.exitCodes.join("/")}`);
      } finally {
        await dst.dispose();
      }
    };

    await method("mlflow-export-import export-all + import-all (--use-threads)", async (dst) => {
      const scratch = path.join(work, "s-ei");
      const { a, b } = await exportImportAll(src.url, dst.url, scratch);
      if (a.code !== 0) notes.push(`export-all failed (exit ${a.code}): ${a.stderr.slice(-600)}`);
      if (b && b.code !== 0) notes.push(`import-all failed (exit ${b.code}): ${b.stderr.slice(-600)}`);
      fs.rmSync(scratch, { recursive: true, force: true });
      return {
        wallMs: a.wallMs + (b?.wallMs ?? 0),
        peakRssMiBPerProcess: Math.max(a.peakRssBytes, b?.peakRssBytes ?? 0) / MiB,
        peakDiskMiB: Math.max(a.peakDiskBytes, b?.peakDiskBytes ?? 0) / MiB,
        clientCpuS: a.cpuS + (b?.cpuS ?? 0),
        exitCodes: [a.code, ...(b ? [b.code] : [])],
        partsMs: { export: a.wallMs, ...(b ? { import: b.wallMs } : {}) },
        partsRssMiB: { export: a.peakRssBytes / MiB, ...(b ? { import: b.peakRssBytes / MiB } : {}) },
      };
    });

    const disk = (r: RunResult) => Math.max(0, r.peakDiskBytes - o.runtimeDiskBytes) / MiB;
    await method("ours move (1 process)", async (dst) => {
      const r = await ours(["--from", src.url, "--to", dst.url, "--json"], path.join(work, "s-move-1"));
      if (r.code !== 0) notes.push(`move (1 process) exited ${r.code}: ${r.stderr.slice(-600)}`);
      return {
        wallMs: r.wallMs,
        peakRssMiBPerProcess: r.peakRssBytes / MiB,
        peakDiskMiB: disk(r),
        clientCpuS: r.cpuS,
        exitCodes: [r.code],
        totals: totalsOf(r),
      };
    });

    await method("ours move (2 shards, then --verify-only)", async (dst) => {
      const t0 = Date.now();
      const shards = await Promise.all(
        [1, 2].map((i) => ours(["--from", src.url, "--to", dst.url, "--shard", `${i}/2`, "--json"], path.join(work, `s-move-shard-${i}`))),
      );
      const shardsMs = Date.now() - t0;
      const v = await ours(["--from", src.url, "--to", dst.url, "--verify-only", "--json"], path.join(work, "s-move-verify"));
      for (const [i, r] of shards.entries())
        if (r.code !== 0) notes.push(`move --shard ${i + 1}/2 exited ${r.code}: ${r.stderr.slice(-600)}`);
      if (v.code !== 0) notes.push(`move --verify-only exited ${v.code}: ${v.stderr.slice(-600)}`);
      const all = [...shards, v];
      return {
        wallMs: shardsMs + v.wallMs,
        peakRssMiBPerProcess: Math.max(...all.map((r) => r.peakRssBytes)) / MiB,
        peakDiskMiB: Math.max(...all.map(disk)),
        clientCpuS: all.reduce((s, r) => s + r.cpuS, 0),
        exitCodes: all.map((r) => r.code),
        partsMs: {
          "shard 1/2": shards[0].wallMs,
          "shard 2/2": shards[1].wallMs,
          "shard 1/2 moving": Number(totalsOf(shards[0])?.ms),
          "shard 2/2 moving": Number(totalsOf(shards[1])?.ms),
          shards: shardsMs,
          verify: v.wallMs,
        },
        partsRssMiB: { "shard 1/2": shards[0].peakRssBytes / MiB, "shard 2/2": shards[1].peakRssBytes / MiB, verify: v.peakRssBytes / MiB },
        totals: totalsOf(shards[0]),
      };
    });

    log("request costs ...");
    const costs = await requestCosts(work, o.workers ?? null);
    const get = (prefix: string) => rows.find((r) => r.method.startsWith(prefix))!;
    const ei = get("mlflow-export-import");
    const one = get("ours move (1");
    const two = get("ours move (2");
    const cores = os.cpus().length;
    const ratios = {
      exportImportVsMove: ei.wallMs / one.wallMs,
      twoShardsVsOne: one.wallMs / two.wallMs,
      /**
       * Export-import's target-server CPU over ours: the speed-up ours would have if both were bound by the target
       * server alone (one worker is one core), whatever either client does.
       */
      targetServerCpuExportImportVsMove: ei.targetServerCpuS / one.targetServerCpuS,
      // The moving alone (each --json's totals.ms, without process start and the final verify) of the one process
      // against the slower shard.
      twoShardsMovingOnlyVsOne: Number(one.totals?.ms) / Math.max(two.partsMs!["shard 1/2 moving"], two.partsMs!["shard 2/2 moving"]),
      /** The target server's CPU per second of the move: near 1 with one worker, that one process is the limit. */
      targetServerBusyOneShard: one.targetServerCpuS / (one.wallMs / 1000),
      targetServerBusyTwoShards: two.targetServerCpuS / (two.wallMs / 1000),
      /** Cores kept busy by one process's move (its own CPU and both servers'): near `cores`, a second shard has none left. */
      coresBusyOneShard: (one.clientCpuS + one.serverCpuS) / (one.wallMs / 1000),
      coresBusyTwoShards: (two.clientCpuS + two.serverCpuS) / (two.wallMs / 1000),
      cores,
      maxPeakRssMiBPerProcessOurs: Math.max(one.peakRssMiBPerProcess, two.peakRssMiBPerProcess),
      oursPeakDiskMiB: Math.max(one.peakDiskMiB, two.peakDiskMiB),
    };
    // Everything of the source landed: every model, version and stage; every experiment and run at least (ours adds
    // one experiment, quant-platform-migrations, holding one target run per model version).
    const complete = (r: MoveRow) =>
      r.exitCodes.every((c) => c === 0) &&
      r.landed.models === source.models &&
      r.landed.versions === source.versions &&
      r.landed.staged === source.staged &&
      r.landed.experiments >= source.experiments &&
      r.landed.runs >= source.runs;
    if (!complete(ei))
      notes.push(
        `export-import did not move everything (landed ${JSON.stringify(ei.landed)} of ${JSON.stringify(source)}): its time is a lower bound for the whole move`,
      );
    for (const r of [one, two]) if (!complete(r)) notes.push(`${r.method} landed ${JSON.stringify(r.landed)} of ${JSON.stringify(source)}`);
    const targets = {
      "move >= 3x faster than export-all + import-all": ratios.exportImportVsMove >= 3 && complete(one),
      "2 shards >= 1.6x one shard (else see coresBusy)": ratios.twoShardsVsOne >= 1.6 && complete(two),
      "peak RSS <= 256 MiB per process (ours)": ratios.maxPeakRssMiBPerProcessOurs <= 256,
      // After subtracting the runtime's own cache, whose size varies by a few KB between processes.
      "0 bytes staged on local disk (ours)": ratios.oursPeakDiskMiB < 0.1,
    };
    return { seeded: { ...seeded, ...source }, rows, ratios, targets, notes, requestCostsCpuMs: costs };
  } finally {
    await src.dispose();
  }
}

/** The case as text lines for stdout. */
export function moveLines(res: Awaited<ReturnType<typeof moveBench>>): string[] {
  const f = (n: number, d = 1) => n.toFixed(d);
  return [
    `environment: ${JSON.stringify(res.seeded)}`,
    "method                                                      wall s  peak RSS MiB/process  peak disk MiB  client CPU s  servers CPU s  landed (exp/runs/models/versions/staged)",
    ...res.rows.map(
      (r) =>
        `${r.method.padEnd(58)} ${f(r.wallMs / 1000).padStart(7)} ${f(r.peakRssMiBPerProcess).padStart(21)} ${f(r.peakDiskMiB).padStart(14)} ${f(r.clientCpuS).padStart(13)} ${f(r.serverCpuS).padStart(14)} (src ${f(r.sourceServerCpuS)}, dst ${f(r.targetServerCpuS)})  ${[r.landed.experiments, r.landed.runs, r.landed.models, r.landed.versions, r.landed.staged].join("/")}${r.partsMs ? `  parts ms ${JSON.stringify(r.partsMs)}` : ""}${r.partsRssMiB ? ` RSS MiB ${JSON.stringify(Object.fromEntries(Object.entries(r.partsRssMiB).map(([k, x]) => [k, Math.round(x)])))}` : ""}`,
    ),
    `ratios: export-import/move time ${f(res.ratios.exportImportVsMove, 2)}x; 1 shard/2 shards time ${f(res.ratios.twoShardsVsOne, 2)}x (moving only ${f(res.ratios.twoShardsMovingOnlyVsOne, 2)}x); cores busy: 1 shard ${f(res.ratios.coresBusyOneShard, 2)}, 2 shards ${f(res.ratios.coresBusyTwoShards, 2)} of ${res.ratios.cores}; target server alone ${f(res.ratios.targetServerBusyOneShard, 2)} and ${f(res.ratios.targetServerBusyTwoShards, 2)}`,
    `target-server CPU: export-import/move ${f(res.ratios.targetServerCpuExportImportVsMove, 2)}x`,
    `server CPU ms per request: ${Object.entries(res.requestCostsCpuMs)
      .map(([k, ms]) => `${k} ${f(ms, 2)}`)
      .join("; ")}`,
    ...Object.entries(res.targets).map(([k, ok]) => `target ${ok ? "met   " : "MISSED"}  ${k}`),
    ...res.notes.map((n) => `note: ${n}`),
  ];
}
