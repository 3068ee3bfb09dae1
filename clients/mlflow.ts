/**
 * The MLflow REST API (tracking and model registry) as the migration engine uses it. The same endpoints
 * serve an OSS tracking server and a Databricks workspace.
 */
import type { UcTemporaryCredentials } from "./cloudStores";
import { randomUUID } from "crypto";
import { createOnce, DEFAULT_RETRY, jsonRequest, orUndefined, RetryPolicy, withRetry } from "./http";

/** A tracking server: where it is, how to authenticate, and which artifact transport reaches its store. */
export interface Endpoint {
  /** As the user wrote it, for messages and provenance: never holds a token. */
  uri: string;
  baseUrl: string;
  token?: string;
  transport: "mlflow-artifacts" | "databricks";
  /**
   * Which model registry answers: an OSS server (aliases and stages), a Databricks workspace registry
   * (stages, no aliases) or Unity Catalog (aliases, no stages). Default: workspace for the databricks
   * transport, OSS otherwise.
   */
  registry?: RegistryKind;
}

export type RegistryKind = "oss" | "workspace" | "unity-catalog";

/** The registry behind an endpoint (see Endpoint.registry). */
export const registryOf = (ep: Endpoint): RegistryKind => ep.registry ?? (ep.transport === "databricks" ? "workspace" : "oss");

export interface Tag {
  key: string;
  value: string;
}
export interface ModelVersion {
  name: string;
  version: string;
  creation_timestamp?: number;
  current_stage?: string;
  description?: string;
  source: string;
  run_id?: string;
  status?: string;
  status_message?: string;
  user_id?: string;
  tags?: Tag[];
  aliases?: string[];
  /** Unity Catalog: where the version's files live (s3://, abfss://), written before the version is finalized. */
  storage_location?: string;
}

export type { UcTemporaryCredentials } from "./cloudStores";
export interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}
export interface Run {
  info: {
    run_id: string;
    experiment_id: string;
    artifact_uri: string;
    status: string;
    start_time?: number;
    end_time?: number;
    run_name?: string;
    /** Who created the run: on Databricks, the token's owner, recorded by the workspace. */
    user_id?: string;
    /** `active`, or `deleted` (a deleted run is still read by id). */
    lifecycle_stage?: string;
  };
  data: { params?: Tag[]; metrics?: Metric[]; tags?: Tag[] };
  /**
   * What the run read (MLflow's `RunInputs`): datasets, and the MLflow 3 logged models it used. `runs/get` answers
   * both; a search answers no model inputs.
   */
  inputs?: { dataset_inputs?: DatasetInput[]; model_inputs?: { model_id: string }[] };
  /** The MLflow 3 logged models the run produced, each at a step (MLflow's `RunOutputs`). */
  outputs?: { model_outputs?: ModelOutput[] };
}

/** A logged model a run produced, at the step it was produced (one per run and model). */
export interface ModelOutput {
  model_id: string;
  step: number;
}

/** A dataset a run logged as an input, with the input's own tags (e.g. `mlflow.data.context`: training, eval). */
export interface DatasetInput {
  tags?: Tag[];
  dataset: { name: string; digest: string; source_type: string; source: string; schema?: string; profile?: string };
}

export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage?: string;
  tags?: Tag[];
}
export interface RegisteredModel {
  name: string;
  description?: string;
  tags?: Tag[];
  aliases?: { alias: string; version: string }[];
}

/**
 * Written on every run and model version this client creates, a fresh id per create: an attempt whose answer was
 * lost is found by it and adopted rather than made twice (createOnce in ./http). Under `quant.migration.`, so a
 * copy never carries its source's.
 */
export const CREATE_TAG = "quant.migration.create_id";

/** A create that lost a race: the object exists (MLflow answers 400 RESOURCE_ALREADY_EXISTS). */
export const alreadyExists = (e: unknown) => (e as { code?: string }).code === "RESOURCE_ALREADY_EXISTS";

export const tagMap = (tags: Tag[] | undefined): Record<string, string> => Object.fromEntries((tags ?? []).map((t) => [t.key, t.value]));

/**
 * Unity Catalog answers aliases as `[{alias, version}]` and has no stages; the engine reads aliases as names
 * of this version, as the OSS and workspace registries give them.
 */
function normalizeVersion(v: ModelVersion): ModelVersion {
  const aliases = (v.aliases as unknown[] | undefined)?.map((a) => (typeof a === "string" ? a : (a as { alias: string }).alias));
  return aliases ? { ...v, aliases } : v;
}

export function mlflowClient(ep: Endpoint, retry: RetryPolicy = DEFAULT_RETRY) {
  const headers: Record<string, string> = ep.token ? { Authorization: `Bearer ${ep.token}` } : {};
  const once = <T>(method: string, path: string, what: string, body?: unknown) =>
    jsonRequest<T>(method, `${ep.baseUrl}/api/2.0/mlflow/${path}`, headers, body, `${ep.uri}: ${what}`);
  const call = <T>(method: string, path: string, what: string, body?: unknown) => withRetry(retry, () => once<T>(method, path, what, body));
  // Registry calls of a Unity Catalog endpoint go to MLflow's Unity Catalog registry API (what the
  // `databricks-uc` registry URI uses); tracking calls (runs, experiments, metrics) stay where they are.
  const uc = registryOf(ep) === "unity-catalog";
  const regPath = (path: string) => (uc ? `unity-catalog/${path}` : path);
  const reg = <T>(method: string, path: string, what: string, body?: unknown) => call<T>(method, regPath(path), what, body);
  const q = (o: Record<string, string | number | undefined>) =>
    Object.entries(o)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
      .join("&");
  /** Every item of a paged listing, following next_page_token. */
  const paged = async <T, K extends string>(
    key: K,
    page: (token: string | undefined) => Promise<{ [k in K]?: T[] } & { next_page_token?: string }>,
  ): Promise<T[]> => {
    const out: T[] = [];
    let token: string | undefined;
    do {
      const r = await page(token);
      out.push(...(r[key] ?? []));
      token = r.next_page_token || undefined;
    } while (token);
    return out;
  };
  /** Every version of a model, following page tokens. */
  const listVersions = async (name: string): Promise<ModelVersion[]> => {
    const found = await paged<ModelVersion, "model_versions">("model_versions", (token) =>
      reg(
        "GET",
        `model-versions/search?${q({ filter: `name='${name.replace(/'/g, "\\'")}'`, max_results: 200, page_token: token })}`,
        `versions of model '${name}'`,
      ),
    );
    // Unity Catalog's search answers versions without their tags and aliases: each is read whole.
    if (!uc) return found.map(normalizeVersion);
    const whole: ModelVersion[] = [];
    for (let i = 0; i < found.length; i += 8)
      whole.push(
        ...(await Promise.all(
          found
            .slice(i, i + 8)
            .map(async (v) =>
              normalizeVersion(
                (
                  await reg<{ model_version: ModelVersion }>(
                    "GET",
                    `model-versions/get?${q({ name, version: v.version })}`,
                    `model '${name}' version ${v.version}`,
                  )
                ).model_version,
              ),
            ),
        )),
      );
    return whole;
  };
  const experimentByName = async (name: string) =>
    (
      await orUndefined(
        call<{ experiment: Experiment }>("GET", `experiments/get-by-name?${q({ experiment_name: name })}`, `experiment '${name}'`),
      )
    )?.experiment;
  const getRegisteredModel = (name: string) =>
    orUndefined(reg<{ registered_model: { name: string } }>("GET", `registered-models/get?${q({ name })}`, `registered model '${name}'`));

  return {
    endpoint: ep,
    headers,
    getModelVersion: async (name: string, version: string) =>
      normalizeVersion(
        (
          await reg<{ model_version: ModelVersion }>(
            "GET",
            `model-versions/get?${q({ name, version })}`,
            `model '${name}' version ${version}`,
          )
        ).model_version,
      ),
    getVersionByAlias: async (name: string, alias: string) =>
      normalizeVersion(
        (
          await reg<{ model_version: ModelVersion }>(
            "GET",
            `registered-models/alias?${q({ name, alias })}`,
            `model '${name}' alias '${alias}'`,
          )
        ).model_version,
      ),
    getLatestByStage: async (name: string, stage: string) =>
      (
        await reg<{ model_versions?: ModelVersion[] }>(
          "POST",
          "registered-models/get-latest-versions",
          `model '${name}' stage '${stage}'`,
          { name, stages: [stage] },
        )
      ).model_versions ?? [],
    getDownloadUri: async (name: string, version: string) =>
      (
        await reg<{ artifact_uri: string }>(
          "GET",
          `model-versions/get-download-uri?${q({ name, version })}`,
          `model '${name}' version ${version} download URI`,
        )
      ).artifact_uri,
    getRegisteredModel,
    createRegisteredModel: (name: string, description?: string) =>
      reg("POST", "registered-models/create", `registered model '${name}'`, { name, description }),
    listVersions,
    /** Safe to send twice (createOnce): a version an attempt made whose answer was lost is found by its create tag. */
    createModelVersion: async (body: { name: string; source: string; run_id?: string; tags: Tag[]; description?: string }) => {
      const id = randomUUID();
      const what = `new version of model '${body.name}'`;
      const made = await createOnce(
        retry,
        async () =>
          (
            await once<{ model_version: ModelVersion }>("POST", regPath("model-versions/create"), what, {
              ...body,
              tags: [...body.tags.filter((t) => t.key !== CREATE_TAG), { key: CREATE_TAG, value: id }],
            })
          ).model_version,
        async () => (await listVersions(body.name)).find((v) => tagMap(v.tags)[CREATE_TAG] === id),
      );
      return normalizeVersion(made);
    },
    /** Unity Catalog: temporary credentials for a version's storage location (READ_WRITE only while it is pending). */
    temporaryCredentials: async (name: string, version: string, operation: "read" | "write") =>
      (
        await reg<{ credentials: UcTemporaryCredentials }>(
          "POST",
          "model-versions/generate-temporary-credentials",
          `${operation} credentials for model '${name}' version ${version}`,
          { name, version, operation: operation === "read" ? "MODEL_VERSION_OPERATION_READ" : "MODEL_VERSION_OPERATION_READ_WRITE" },
        )
      ).credentials,
    /** Unity Catalog: a pending version whose files are written becomes READY. */
    finalizeModelVersion: async (name: string, version: string) =>
      normalizeVersion(
        (
          await reg<{ model_version: ModelVersion }>("POST", "model-versions/finalize", `finalize model '${name}' version ${version}`, {
            name,
            version,
          })
        ).model_version,
      ),
    updateModelVersion: (name: string, version: string, description: string) =>
      reg("PATCH", "model-versions/update", `model '${name}' version ${version}`, { name, version, description }),
    setModelVersionTag: (name: string, version: string, key: string, value: string) =>
      reg("POST", "model-versions/set-tag", `model '${name}' version ${version} tag ${key}`, { name, version, key, value }),
    setAlias: (name: string, alias: string, version: string) =>
      reg("POST", "registered-models/alias", `model '${name}' alias '${alias}'`, { name, alias, version }),
    // DELETE parameters go in a JSON body, as the REST API reads them.
    deleteAlias: (name: string, alias: string) =>
      reg("DELETE", "registered-models/alias", `model '${name}' alias '${alias}'`, { name, alias }),
    transitionStage: (name: string, version: string, stage: string) =>
      reg("POST", "model-versions/transition-stage", `model '${name}' version ${version} stage ${stage}`, {
        name,
        version,
        stage,
        archive_existing_versions: false,
      }),
    deleteModelVersion: (name: string, version: string) =>
      reg("DELETE", "model-versions/delete", `model '${name}' version ${version}`, { name, version }),
    getRun: async (runId: string) => (await call<{ run: Run }>("GET", `runs/get?${q({ run_id: runId })}`, `run ${runId}`)).run,
    /** The full history of one metric, following page tokens. */
    metricHistory: (runId: string, key: string) =>
      paged<Metric, "metrics">("metrics", (token) =>
        call(
          "GET",
          `metrics/get-history?${q({ run_id: runId, metric_key: key, max_results: 25000, page_token: token })}`,
          `run ${runId} metric ${key}`,
        ),
      ),
    experimentByName,
    createExperiment: async (name: string) =>
      (await call<{ experiment_id: string }>("POST", "experiments/create", `experiment '${name}'`, { name })).experiment_id,
    /**
     * The experiment's id, created when missing. Another migration may create it between the lookup and the
     * create: RESOURCE_ALREADY_EXISTS then means found, and it is looked up again.
     */
    ensureExperiment: async (name: string): Promise<string> => {
      const found = await experimentByName(name);
      if (found) return found.experiment_id;
      try {
        return (await call<{ experiment_id: string }>("POST", "experiments/create", `experiment '${name}'`, { name })).experiment_id;
      } catch (e) {
        if (!alreadyExists(e)) throw e;
        const raced = await experimentByName(name);
        if (!raced) throw e;
        return raced.experiment_id;
      }
    },
    /** Creates the registered model unless it exists (RESOURCE_ALREADY_EXISTS from a concurrent create is found). */
    ensureRegisteredModel: async (name: string): Promise<void> => {
      if (await getRegisteredModel(name)) return;
      try {
        await reg("POST", "registered-models/create", `registered model '${name}'`, { name });
      } catch (e) {
        if (!alreadyExists(e)) throw e;
      }
    },
    /** Safe to send twice (createOnce): a run an attempt made whose answer was lost is found by its create tag. */
    createRun: async (experimentId: string, runName: string, startTime: number, tags: Tag[]) => {
      const id = randomUUID();
      const what = `new run in experiment ${experimentId}`;
      return createOnce(
        retry,
        async () =>
          (
            await once<{ run: Run }>("POST", "runs/create", what, {
              experiment_id: experimentId,
              run_name: runName,
              start_time: startTime,
              tags: [...tags.filter((t) => t.key !== CREATE_TAG), { key: CREATE_TAG, value: id }],
            })
          ).run,
        async () =>
          (
            await once<{ runs?: Run[] }>("POST", "runs/search", `${what} (looking for it after an unanswered create)`, {
              experiment_ids: [experimentId],
              filter: `tags.\`${CREATE_TAG}\` = '${id}'`,
              max_results: 1,
            })
          ).runs?.[0],
      );
    },
    /** Every registered model, following page tokens. */
    searchRegisteredModels: () =>
      paged<RegisteredModel, "registered_models">("registered_models", (token) =>
        reg("GET", `registered-models/search?${q({ max_results: 1000, page_token: token })}`, "registered models"),
      ),
    /** Every active experiment, following page tokens. */
    searchExperiments: () =>
      paged<Experiment, "experiments">("experiments", (token) =>
        call("POST", "experiments/search", "experiments", { max_results: 1000, page_token: token, view_type: "ACTIVE_ONLY" }),
      ),
    /** Every active run of the experiments (matching `filter`), oldest first, following page tokens. */
    allRuns: (experimentIds: string[], filter = "") =>
      paged<Run, "runs">("runs", (token) =>
        call("POST", "runs/search", `runs of experiments ${experimentIds.join(", ")}`, {
          experiment_ids: experimentIds,
          filter,
          max_results: 1000,
          page_token: token,
          run_view_type: "ACTIVE_ONLY",
          order_by: ["attributes.start_time ASC"],
        }),
      ),
    searchRuns: async (experimentIds: string[], filter: string) =>
      (
        await call<{ runs?: Run[] }>("POST", "runs/search", `runs matching ${filter}`, {
          experiment_ids: experimentIds,
          filter,
          max_results: 100,
        })
      ).runs ?? [],
    logBatch: (runId: string, batch: { metrics?: Metric[]; params?: Tag[]; tags?: Tag[] }) =>
      call("POST", "runs/log-batch", `run ${runId} log-batch`, { run_id: runId, ...batch }),
    /** Logs dataset inputs (`runs/log-inputs`); MLflow keeps one input per dataset and context, so sending it again adds none. */
    logInputs: (runId: string, datasets: DatasetInput[]) =>
      call("POST", "runs/log-inputs", `run ${runId} log-inputs`, { run_id: runId, datasets }),
    /** Logs logged models as inputs of the run (`runs/log-inputs`); MLflow keeps one per run and model, so sending one again adds none. */
    logModelInputs: (runId: string, models: { model_id: string }[]) =>
      call("POST", "runs/log-inputs", `run ${runId} model inputs`, { run_id: runId, models }),
    /** Logs logged models as outputs of the run (`runs/outputs`); MLflow refuses one the run has already (400). */
    logOutputs: (runId: string, models: ModelOutput[]) =>
      call("POST", "runs/outputs", `run ${runId} model outputs`, { run_id: runId, models }),
    /** Every MLflow 3 logged model of the experiments that matches `filter` (e.g. on a tag), following page tokens. */
    searchLoggedModels: (experimentIds: string[], filter: string) =>
      paged<{ info: { model_id: string; experiment_id: string; status?: string; tags?: Tag[] } }, "models">("models", (token) =>
        call("POST", "logged-models/search", `logged models matching ${filter}`, {
          experiment_ids: experimentIds,
          filter,
          max_results: 50,
          page_token: token,
        }),
      ),
    updateRun: (runId: string, status: string, endTime?: number) =>
      call("POST", "runs/update", `run ${runId}`, { run_id: runId, status, end_time: endTime }),
    deleteRun: (runId: string) => call("POST", "runs/delete", `run ${runId}`, { run_id: runId }),
    setRunTag: (runId: string, key: string, value: string) =>
      call("POST", "runs/set-tag", `run ${runId} tag ${key}`, { run_id: runId, key, value }),
  };
}

export type MlflowClient = ReturnType<typeof mlflowClient>;
