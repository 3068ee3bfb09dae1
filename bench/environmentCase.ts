/**
 * The whole environment (issue 35 item 10): the local-env old workspace as `local-env` seeds it (the team's model,
 * an MLflow 3 logged model with its version, notebooks, a secret scope, a policy, a pool, two jobs, a serving
 * endpoint) plus a rehearsal of experiments and models, moved by one `move` into the new workspace through the CLI,
 * as a user runs it. Reported per kind and in all: objects, objects a second, and the requests the two workspaces
 * answered per object (every request on their listeners: API calls and signed-URL transfers alike).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ensureBuilt, measured } from "./procTree";
import { RehearsalSeed, startLocalEnvironments } from "../devenv/localEnv";
import { PROJECT_DIR } from "../devenv/localMlflow";
import type { MoveReport } from "../migration/move";
import type { ExperimentMigrationReport } from "../migration/experiments";

export interface EnvironmentKindRow {
  kind: string;
  objects: number;
}

export interface EnvironmentResult {
  seed: RehearsalSeed & { sizeMb: number };
  seedS: number;
  wallS: number;
  objects: number;
  objectsPerS: number;
  requests: number;
  requestsPerObject: number;
  peakRssMiB: number;
  bytes: number;
  byKind: EnvironmentKindRow[];
  exit: number;
  /** verify-move's differences after the move (0: identical). */
  differences: number;
}

/** What one item of the move stands for, in objects: a folder's notebooks and files, an experiment's runs and logged models, else 1. */
function objectsOf(i: MoveReport["items"][number]): { kind: string; n: number }[] {
  if (i.kind === "notebooks") return [{ kind: "notebooks and files", n: i.files }];
  if (i.kind === "experiment") {
    const r = i.report as ExperimentMigrationReport | undefined;
    return [
      { kind: "runs", n: r?.runs.length ?? 0 },
      { kind: "logged models", n: r?.loggedModels?.models.length ?? 0 },
    ];
  }
  const plural: Record<string, string> = { "cluster-policy": "cluster policies" };
  return [{ kind: plural[i.kind] ?? `${i.kind.replace(/-/g, " ")}s`, n: 1 }];
}

export async function environmentBench(o: { seed: RehearsalSeed; sizeMb: number; log: (s: string) => void }): Promise<EnvironmentResult> {
  ensureBuilt(PROJECT_DIR);
  const t0 = Date.now();
  o.log(
    `seeding the old workspace (team's work, ${o.seed.experiments} experiments x ${o.seed.runs} runs, ${o.seed.models} models x ${o.seed.versions} versions) ...`,
  );
  const envs = await startLocalEnvironments({ sizeMb: o.sizeMb, rehearsal: o.seed });
  const seedS = (Date.now() - t0) / 1000;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "quant-bench-environment-"));
  try {
    const before = envs.old.workspace.log.length + envs.new.workspace.log.length;
    o.log("moving it with one move ...");
    const r = await measured(
      process.execPath,
      [
        path.join(PROJECT_DIR, "bin", "quant-platform.js"),
        "move",
        "--from",
        envs.old.uri,
        "--to",
        envs.new.uri,
        "--secret-values",
        envs.vaultFile!,
        "--json",
      ],
      { ...process.env, DATABRICKS_TOKEN: envs.token, DATABRICKS_CONFIG_FILE: "/dev/null" },
      scratch,
      PROJECT_DIR,
    );
    const requests = envs.old.workspace.log.length + envs.new.workspace.log.length - before;
    let report: MoveReport | undefined;
    try {
      report = JSON.parse(r.stdout) as MoveReport;
    } catch {
      throw new Error(`the move printed no report (exit ${r.code}): ${r.stderr.slice(-2000)}`);
    }
    const byKind = new Map<string, number>();
    for (const i of report.items) for (const { kind, n } of objectsOf(i)) byKind.set(kind, (byKind.get(kind) ?? 0) + n);
    const objects = [...byKind.values()].reduce((s, n) => s + n, 0);
    const wallS = r.wallMs / 1000;
    return {
      seed: { ...o.seed, sizeMb: o.sizeMb },
      seedS,
      wallS,
      objects,
      objectsPerS: objects / wallS,
      requests,
      requestsPerObject: requests / objects,
      peakRssMiB: r.peakRssBytes / 1048576,
      bytes: report.totals.bytes,
      byKind: [...byKind].map(([kind, n]) => ({ kind, objects: n })),
      exit: r.code,
      differences: report.verification?.differences.length ?? -1,
    };
  } finally {
    await envs.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

export function environmentLines(e: EnvironmentResult): string[] {
  return [
    `| objects | seconds | objects/s | requests | requests/object | peak RSS | MB | exit | differences |`,
    `|---|---|---|---|---|---|---|---|---|`,
    `| ${e.objects} | ${e.wallS.toFixed(1)} | ${e.objectsPerS.toFixed(2)} | ${e.requests} | ${e.requestsPerObject.toFixed(1)} | ${e.peakRssMiB.toFixed(0)} MiB | ${(e.bytes / 1048576).toFixed(1)} | ${e.exit} | ${e.differences} |`,
    "",
    `by kind: ${e.byKind.map((k) => `${k.objects} ${k.kind}`).join(", ")}`,
  ];
}
