/**
 * The migration demo (`npm run demo`): two local MLflow servers stand for the quant and quant_stg workspaces; the
 * transformer fixture is trained and registered in quant, then migrated along the flow with full
 * verification, checked independently with the MLflow Python client, and the report printed.
 */
import { migrate } from "../migration/modelVersion";
import { resolveEndpoint } from "../migration/endpoint";
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { guardFrom, progressLine, renderReport } from "./migrate";
import { MlflowServer, python, seedFixture } from "../devenv/localMlflow";
import { PROJECT_DIR } from "../devenv/localMlflow";
import { Command, parseArgs, UsageError } from "./command";

const USAGE = `usage: quant-platform demo [--size-mb N] [--json]        (npm run demo)

The migration demo: two local MLflow servers stand for the quant and quant_stg workspaces; a transformer
is trained three times, the best by precision registered in quant, migrated quant -> quant_stg with full
verification, and checked independently with the MLflow Python client.
  --size-mb   size of the transformer (default 8)
  --json      the report as JSON`;

async function demo(argv: string[]): Promise<number> {
  const a = parseArgs(argv, ["size-mb"], ["json"]);
  const sizeMb = a["size-mb"] === undefined ? 8 : Number(a["size-mb"]);
  if (!(sizeMb > 0)) throw new UsageError(`--size-mb is a positive number, not '${a["size-mb"]}'`);
  const say = (s: string) => {
    if (!a.json) console.log(s);
  };
  const model = validate(readConfigSources(PROJECT_DIR));
  say("starting two local MLflow servers (quant, quant_stg) ...");
  const [quant, stg] = await Promise.all([MlflowServer.create("quant"), MlflowServer.create("quant_stg")]);
  try {
    await Promise.all([quant.start(), stg.start()]);
    say(`  quant     ${quant.url}\n  quant_stg ${stg.url}`);
    say(`training three iterations and registering the best by precision in quant (${sizeMb} MB transformer) ...`);
    const info = seedFixture(quant, "quant-alpha-transformer", { sizeMb, layout: "run", shards: 4 });
    say(`  registered quant-alpha-transformer version ${info.version} (alias ${info.alias}), ${info.files.length} files`);
    say("migrating quant -> quant_stg with full verification ...");
    const started = Date.now();
    const report = await migrate({
      from: resolveEndpoint(quant.url, "from", {}),
      to: resolveEndpoint(stg.url, "to", {}),
      model: "quant-alpha-transformer",
      select: { alias: "champion" },
      verify: "full",
      guard: guardFrom(model, "quant", "quant_stg"),
      onProgress:
        process.stderr.isTTY && !a.json
          ? (p) => process.stderr.write(`\r${progressLine(p, Date.now() - started)}${p.phase === "registering" ? "\n" : ""}`)
          : undefined,
    });
    const got = JSON.parse(
      python("download_version.py", ["--tracking-uri", stg.url, "--model", report.targetModel, "--version", report.targetVersion!]),
    );
    const identical = JSON.stringify(got) === JSON.stringify(info.files);
    if (a.json) console.log(JSON.stringify({ ...report, independentlyVerified: identical }, null, 2));
    else {
      console.log(renderReport(report));
      console.log(
        `  independent check (MLflow Python client download): ${identical ? `all ${got.length} files byte-identical to the source` : "MISMATCH"}`,
      );
    }
    return identical ? 0 : 1;
  } finally {
    await Promise.all([quant.dispose(), stg.dispose()]);
  }
}

export const command: Command = { name: "demo", usage: USAGE, run: demo };
