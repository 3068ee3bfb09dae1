/**
 * Proves a move: compares the source and target inventories, every artifact, run and notebook hashed, over what
 * `move` moves (what it skips is listed as skipped), and names what the target holds beyond the copies.
 * Exit 0: every model version, run and notebook of the source is in the target, byte-identical, and nothing else.
 * 3: differences (listed). 1: a side could not be read. 2: usage error.
 */
import { resolveEndpoint } from "../migration/endpoint";
import { parseStageAliases } from "../migration/lifecycle";
import { checkModelNames, ModelNames, parseModelMap, renderVerification, verifyMove } from "../migration/verifyMove";
import { Command, parseArgs, takeRepeated, UsageError } from "./command";
import { listOption, storeEndpoints } from "./inventory";

const USAGE = `usage: quant-platform verify-move --from <uri> --to <uri> [--paths <path>[,...]] [--model <name>[,...]]
         [--experiment <name>[,...]] [--uc-schema <catalog>.<schema>] [--model-map SRC=DST[,...]]
         [--map-stage STAGE=ALIAS[,...]] [--include-archived] [--json]

Proves a move: every model version, run and notebook of the source that move moves is in the target,
byte-identical, and the target holds nothing else in what the move covered.
  --from, --to  the two environments (see 'quant-platform inventory --help' for the forms); a Unity Catalog
                registry is databricks-uc://<profile>, databricks-uc+https://<workspace> (its experiments and
                notebooks are the workspace's)
  --paths       workspace folders to compare (Databricks only)
  --model       only these models (as the source names them);  --experiment  only these experiments
  --uc-schema   the Unity Catalog side's catalog and schema: model m of a workspace registry is
                <catalog>.<schema>.m there (required into Unity Catalog, unless --model-map names every model);
                out of Unity Catalog, that schema's models, each named m in the target
  --model-map   quant-alpha=main.quant.alpha (repeatable, or comma-separated): a model migrated under another
                name (--to-model); wins over --uc-schema
  --map-stage   Production=champion (repeatable, or comma-separated), as given to migrate: the source's stage
                must be that alias in the target (and an alias that stage, the other way); stages and aliases
                the target cannot hold and no mapping carries are listed as not carried
  --include-archived
                check archived versions too, as 'move --include-archived' moves them (with stage Archived)
  --json        JSON instead of text (the skipped objects by name, each finding with kind, id and name)
What move skips is not checked, and is listed with a count and why: archived versions (unless
--include-archived), versions not READY in the source, the engine's journals (quant-platform-migrations; /Shared/... on Databricks),
the empty Default experiment, and lease runs a stopped migration left in the source.
Inside the experiments, the target models of the models and the folders checked, a target object that is no
source object's copy is a difference too, named with its id: extra (no provenance of the source: the team's own
work in the target, never removed by move), duplicate (a second copy of a source object that has its copy;
a re-run of move removes a run's), orphaned-lease (a migration's lease run, tag quant.migration.lease).
A version counts when its provenance tags (quant.migration.source_host, source_model, source_version) name
the source version and its migration completed. Unity Catalog files are read at each version's storage
location with temporary credentials; store endpoints come from STORAGE_S3_ENDPOINT /
STORAGE_AZURE_BLOB_ENDPOINT when set (emulators), else the cloud's own.
Exit 0: identical; 3: differences or findings (listed); 1: a side could not be read; 2: usage error.`;

export async function verifyMoveCli(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const mapStage = takeRepeated(argv, "map-stage");
  const modelMap = takeRepeated(mapStage.rest, "model-map");
  const a = parseArgs(modelMap.rest, ["from", "to", "paths", "model", "experiment", "uc-schema"], ["json", "include-archived"]);
  for (const k of ["from", "to"]) if (typeof a[k] !== "string") throw new UsageError(`--${k} is required`);
  let from, to, stageAliases, names: ModelNames;
  try {
    from = resolveEndpoint(a.from as string, "from", env);
    to = resolveEndpoint(a.to as string, "to", env);
    stageAliases = parseStageAliases(mapStage.values);
    names = {
      ...(typeof a["uc-schema"] === "string" ? { ucSchema: a["uc-schema"] } : {}),
      ...(modelMap.values.length ? { map: parseModelMap(modelMap.values) } : {}),
    };
    checkModelNames(names, from, to);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const paths = listOption(a.paths);
  if (paths && (from.transport !== "databricks" || to.transport !== "databricks"))
    throw new UsageError("--paths compares workspace notebooks, which only Databricks workspaces have");
  const v = await verifyMove({
    from,
    to,
    paths,
    models: listOption(a.model),
    experiments: listOption(a.experiment),
    names,
    stageAliases,
    ...(a["include-archived"] ? { includeArchived: true } : {}),
    storeSettings: storeEndpoints(env),
  });
  out(a.json ? JSON.stringify(v, null, 2) : renderVerification(v));
  return v.differences.length ? 3 : 0;
}

export const command: Command = {
  name: "verify-move",
  usage: USAGE,
  run: (argv) => verifyMoveCli(argv, process.env, (s) => console.log(s)),
};
