/**
 * MLflow's Unity Catalog model registry API for tests, as MLflow's own client calls it with registry URI
 * `databricks-uc` (mlflow/store/_unity_catalog/registry/rest_store.py; messages and routes from
 * databricks_uc_registry_messages.proto and databricks_uc_registry_service.proto), under
 * `/api/2.0/mlflow/unity-catalog/`:
 * - `registered-models/create` (POST `{name, description, tags}`), `get` (GET), `update` (PATCH
 *   `{name, description, deployment_job_id}`; `new_name` answers 501), `delete` (DELETE, with its versions),
 *   `search` (GET `max_results, page_token`: no filter in the proto) -> `{registered_model}` /
 *   `{registered_models, next_page_token}`; a registered model carries `aliases[{alias, version}]` and `tags`;
 * - `registered-models/alias`: POST `{name, alias, version}` sets (moves) it, DELETE removes it, GET answers the
 *   version it points at; alias names follow MLflow's rules (`[\w-]+`, at most 255, not `latest` nor `v<n>`);
 * - `registered-models/set-tag`, `delete-tag`, `model-versions/set-tag`, `delete-tag`;
 * - `model-versions/create` `{name, source, run_id, description, tags, run_tracking_server_id, model_id}` ->
 *   `{model_version}` in status PENDING_REGISTRATION, numbered per model (numbers are never reused), with a
 *   `storage_location` under the model's storage root on a real cloud-store emulator:
 *   `s3://<bucket>/<metastore-id>/models/<model-uuid>/versions/<version-uuid>` (moto) or
 *   `abfss://<container>@<account>.dfs.core.windows.net/<metastore-id>/models/...` (Azurite);
 * - `model-versions/generate-temporary-credentials` `{name, version, operation}` -> `{credentials:
 *   {aws_temp_credentials{access_key_id, secret_access_key, session_token} | azure_user_delegation_sas{sas_token},
 *   expiration_time}}` for that version's location. READ gives read and list; READ_WRITE adds write and create,
 *   and only while the version is PENDING_REGISTRATION (model version files are written at creation time):
 *   afterwards 403 PERMISSION_DENIED. S3: STS AssumeRole with a session policy scoped to the version's prefix,
 *   as Unity Catalog vends them (moto issues real session credentials but does not evaluate session
 *   policies, so the scope is what we ask of STS, kept in `issued`, not enforced by the emulator). Azure: a
 *   container SAS signed with the account key, since Azurite has no directory-scoped SAS (`sr=d` needs a
 *   hierarchical namespace); Azurite enforces its permissions (read-only cannot write) but not the prefix.
 * - `model-versions/finalize` -> READY (400 when it is not PENDING_REGISTRATION), `get`, `update` (PATCH
 *   `{description}`), `delete` (any status, so a failed upload can be abandoned; its aliases go with it),
 *   `search` (`filter` is `name='c.s.m'` or `run_id='...'`, as the service supports), `get-download-uri` ->
 *   `{artifact_uri}` (the storage location);
 * - `registered-models:is-databricks-sdk-models-artifact-repository-enabled` -> false, so MLflow's client uses
 *   the storage location and temporary credentials rather than the Files API.
 *
 * Names are three-level `catalog.schema.model` (else 400 INVALID_PARAMETER_VALUE with Databricks' wording),
 * compared case-insensitively and kept lower-case, as Unity Catalog does. The registered models are the
 * control plane's (`ControlPlaneState.ucModels`, the objects `/api/2.1/unity-catalog/models` serves): one
 * metastore per workspace, so a model created either way is seen both ways; its catalog and schema must exist
 * (`state.ucSchemas`). What the control plane does not hold (versions, aliases, tags) is attached to its
 * UcModel object, so a model deleted and re-created there starts empty. Errors are `{error_code, message}`: 404
 * RESOURCE_DOES_NOT_EXIST (model, version, alias), CATALOG_DOES_NOT_EXIST, SCHEMA_DOES_NOT_EXIST, 409
 * RESOURCE_ALREADY_EXISTS, 400 INVALID_PARAMETER_VALUE, 403 PERMISSION_DENIED; a wrong method 404
 * ENDPOINT_NOT_FOUND; any other route under the prefix 501 (logged). The model signature MLflow requires is
 * checked by MLflow's client only: the service never sees the files before they are written. Grants are
 * enforced by the local platform's workspaces (localPlatform.ts, with the rules of ucPrivileges.ts), not here.
 */
import * as crypto from "crypto";
import type { AzuriteHandle, MotoHandle } from "../stores/cloudEmulators";
import { apiError, ApiRequest, jsonBody, notImplemented, sendJson } from "./apiReply";
import { ControlPlaneState, UcModel } from "./controlPlaneState";

const PREFIX = "/api/2.0/mlflow/unity-catalog/";

/** An MLmodel Unity Catalog takes: MLflow's client refuses to register a model without input and output signatures. */
export const SIGNED_MLMODEL = [
  "artifact_path: model",
  "flavors:",
  "  python_function: {loader_module: mlflow.pyfunc.model, python_version: 3.11.7}",
  "signature:",
  '  inputs: \'[{"type": "string", "name": "text"}]\'',
  '  outputs: \'[{"type": "double", "name": "score"}]\'',
  "",
].join("\n");

/** Where model version files live: an emulator, the bucket or container to use, and a gate in front of it. */
export type UcStorage =
  | {
      kind: "azure";
      azurite: Pick<AzuriteHandle, "blobEndpoint" | "account" | "accountKey">;
      /** Default `uc-metastore-root`. */
      container?: string;
      /** A store gate's base URL (`http://127.0.0.1:PORT`) that clients go through instead of Azurite itself. */
      gateUrl?: string;
    }
  | {
      kind: "s3";
      moto: Pick<MotoHandle, "endpoint" | "region" | "accessKeyId" | "secretAccessKey">;
      /** Default `uc-metastore-root`. */
      bucket?: string;
      /** A store gate's base URL that clients go through instead of moto itself. */
      gateUrl?: string;
    };

const DEFAULT_ROOT = "uc-metastore-root";

/**
 * The environment a client needs to reach a storage option's emulator (through its gate when given):
 * MLflow's boto3 reads `MLFLOW_S3_ENDPOINT_URL`, our engine `STORAGE_S3_ENDPOINT` and
 * `STORAGE_AZURE_BLOB_ENDPOINT` (`http://127.0.0.1:PORT/{account}`, `{account}` literal). No credentials: those
 * come from generate-temporary-credentials.
 */
export function storeEnv(storage: UcStorage): Record<string, string> {
  if (storage.kind === "s3") {
    const endpoint = (storage.gateUrl ?? storage.moto.endpoint).replace(/\/+$/, "");
    return { MLFLOW_S3_ENDPOINT_URL: endpoint, STORAGE_S3_ENDPOINT: endpoint, AWS_DEFAULT_REGION: storage.moto.region };
  }
  const origin = (storage.gateUrl ?? new URL(storage.azurite.blobEndpoint).origin).replace(/\/+$/, "");
  return { STORAGE_AZURE_BLOB_ENDPOINT: `${origin}/{account}` };
}

export type VersionStatus = "PENDING_REGISTRATION" | "READY" | "FAILED_REGISTRATION";
export type CredentialOperation = "MODEL_VERSION_OPERATION_READ" | "MODEL_VERSION_OPERATION_READ_WRITE";

export interface UcModelVersion {
  version: number;
  uuid: string;
  createdAt: number;
  updatedAt: number;
  userId: string;
  description?: string;
  source: string;
  runId?: string;
  runTrackingServerId?: string;
  modelId?: string;
  status: VersionStatus;
  storageLocation: string;
  tags: Map<string, string>;
}

/** What the registry keeps of a registered model beyond the control plane's UcModel. */
export interface UcRegistryEntry {
  uuid: string;
  tags: Map<string, string>;
  /** Alias -> version number. */
  aliases: Map<string, number>;
  versions: Map<number, UcModelVersion>;
  nextVersion: number;
  deploymentJobId?: string;
}

/** One credential handed out, for tests to assert on its scope (never the secret itself). */
export interface IssuedCredential {
  name: string;
  version: number;
  operation: CredentialOperation;
  location: string;
  expirationTime: number;
  /** S3: the session policy asked of STS. Azure: the SAS's resource (`c`), container and permissions. */
  scope: unknown;
}

/** The temporary-credentials body for one location, with what it allows. */
interface VendedCredentials {
  credentials: Record<string, unknown>;
  expirationTime: number;
  scope: unknown;
}

/** A cloud store as the registry uses it: the metastore root, making sure it exists, vending credentials. */
interface ModelStore {
  /** `s3://bucket` or `abfss://container@account.dfs.core.windows.net`. */
  readonly root: string;
  ensure(): Promise<void>;
  vend(location: string, write: boolean, ttlMs: number): Promise<VendedCredentials>;
}

/** The key prefix of a location under a root (`s3://b/x/y` under `s3://b` -> `x/y`). */
const keyPrefix = (root: string, location: string) => location.slice(root.length).replace(/^\/+|\/+$/g, "");

function s3Store(storage: Extract<UcStorage, { kind: "s3" }>): ModelStore {
  const bucket = storage.bucket ?? DEFAULT_ROOT;
  const root = `s3://${bucket}`;
  const { endpoint, region, accessKeyId, secretAccessKey } = storage.moto;
  const credentials = { accessKeyId, secretAccessKey };
  return {
    root,
    async ensure() {
      const { S3Client, CreateBucketCommand } = require("@aws-sdk/client-s3") as typeof import("@aws-sdk/client-s3");
      const s3 = new S3Client({ endpoint, region, forcePathStyle: true, credentials });
      try {
        await s3.send(
          new CreateBucketCommand({
            Bucket: bucket,
            ...(region === "us-east-1" ? {} : { CreateBucketConfiguration: { LocationConstraint: region as never } }),
          }),
        );
      } catch (e) {
        // Another workspace (another metastore id) on the same emulator made it first.
        if (!["BucketAlreadyOwnedByYou", "BucketAlreadyExists"].includes((e as { name?: string }).name ?? "")) throw e;
      } finally {
        s3.destroy();
      }
    },
    async vend(location, write, ttlMs) {
      const { STSClient, AssumeRoleCommand } = require("@aws-sdk/client-sts") as typeof import("@aws-sdk/client-sts");
      const prefix = keyPrefix(root, location);
      // The session policy Unity Catalog attaches: objects under the prefix, listing only of the prefix.
      const policy = {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: write ? ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"] : ["s3:GetObject"],
            Resource: [`arn:aws:s3:::${bucket}/${prefix}`, `arn:aws:s3:::${bucket}/${prefix}/*`],
          },
          {
            Effect: "Allow",
            Action: ["s3:ListBucket"],
            Resource: [`arn:aws:s3:::${bucket}`],
            Condition: { StringLike: { "s3:prefix": [prefix, `${prefix}/`, `${prefix}/*`] } },
          },
        ],
      };
      const sts = new STSClient({ endpoint, region, credentials });
      try {
        const r = await sts.send(
          new AssumeRoleCommand({
            RoleArn: "arn:aws:iam::123456789012:role/unity-catalog-metastore-access",
            RoleSessionName: `uc-${crypto.randomUUID()}`.slice(0, 64),
            DurationSeconds: Math.max(900, Math.round(ttlMs / 1000)),
            Policy: JSON.stringify(policy),
          }),
        );
        const c = r.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration)
          throw new Error("STS AssumeRole answered no credentials");
        return {
          credentials: {
            aws_temp_credentials: { access_key_id: c.AccessKeyId, secret_access_key: c.SecretAccessKey, session_token: c.SessionToken },
          },
          expirationTime: c.Expiration.getTime(),
          scope: policy,
        };
      } finally {
        sts.destroy();
      }
    },
  };
}

function azureStore(storage: Extract<UcStorage, { kind: "azure" }>): ModelStore {
  const container = storage.container ?? DEFAULT_ROOT;
  const { blobEndpoint, account, accountKey } = storage.azurite;
  const blob = () => require("@azure/storage-blob") as typeof import("@azure/storage-blob");
  return {
    root: `abfss://${container}@${account}.dfs.core.windows.net`,
    async ensure() {
      const { BlobServiceClient, StorageSharedKeyCredential } = blob();
      const service = new BlobServiceClient(blobEndpoint, new StorageSharedKeyCredential(account, accountKey));
      await service.getContainerClient(container).createIfNotExists();
    },
    async vend(_location, write, ttlMs) {
      const { ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } = blob();
      // Whole seconds: a SAS carries its expiry to the second.
      const expiresOn = new Date(Math.floor((Date.now() + ttlMs) / 1000) * 1000);
      const permissions = write ? "rcwl" : "rl";
      const sas = generateBlobSASQueryParameters(
        { containerName: container, permissions: ContainerSASPermissions.parse(permissions), expiresOn },
        new StorageSharedKeyCredential(account, accountKey),
      ).toString();
      return {
        credentials: { azure_user_delegation_sas: { sas_token: sas } },
        expirationTime: expiresOn.getTime(),
        scope: { resource: "c", container, permissions },
      };
    },
  };
}

const THREE_LEVELS = "Bad model name: please specify all three levels of the model in the form `catalog_name.schema_name.model_name`";
const ALIAS_RE = /^[\w-]*$/;
const OPERATIONS: Record<string, CredentialOperation> = {
  MODEL_VERSION_OPERATION_READ: "MODEL_VERSION_OPERATION_READ",
  MODEL_VERSION_OPERATION_READ_WRITE: "MODEL_VERSION_OPERATION_READ_WRITE",
  "1": "MODEL_VERSION_OPERATION_READ",
  "2": "MODEL_VERSION_OPERATION_READ_WRITE",
};

type Params = Record<string, unknown>;
/** A handler answers the request itself (every path returns `true`, the API's convention). */
type Handler = (req: ApiRequest, p: Params) => Promise<boolean> | boolean;

export interface UcRegistryOptions {
  storage: UcStorage;
  /** The metastore: shared with a DatabricksControlApi mounted on the same host (`control.state`). Default: a fresh one. */
  state?: ControlPlaneState;
  /** Lifetime of vended credentials. Default one hour, as Unity Catalog's; S3 takes at least 15 minutes (STS). */
  credentialTtlMs?: number;
}

export class UcRegistryApi {
  readonly state: ControlPlaneState;
  readonly storage: UcStorage;
  /** Every credential handed out, oldest first (scope and expiry only). */
  readonly issued: IssuedCredential[] = [];
  credentialTtlMs: number;
  private readonly store: ModelStore;
  private readonly entries = new WeakMap<UcModel, UcRegistryEntry>();
  private ready?: Promise<void>;

  constructor(opts: UcRegistryOptions) {
    this.storage = opts.storage;
    this.state = opts.state ?? new ControlPlaneState({ token: crypto.randomUUID() });
    this.credentialTtlMs = opts.credentialTtlMs ?? 60 * 60 * 1000;
    this.store = opts.storage.kind === "s3" ? s3Store(opts.storage) : azureStore(opts.storage);
  }

  /** Makes the bucket or container (once; again after a failure). */
  ensureStore(): Promise<void> {
    this.ready ??= this.store.ensure().catch((e) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  /** The registry's view of a registered model (versions, aliases, tags), for tests to read or change. */
  entry(fullName: string): UcRegistryEntry | undefined {
    const m = this.state.ucModels.get(fullName.toLowerCase());
    return m && this.entryOf(m);
  }

  /** Serves routes under /api/2.0/mlflow/unity-catalog/; false for any other path. */
  async handle(req: ApiRequest): Promise<boolean> {
    if (!req.url.pathname.startsWith(PREFIX)) return false;
    const route = req.url.pathname.slice(PREFIX.length);
    const handler = this.handlers[`${req.method} ${route}`];
    if (!handler) {
      if (!Object.keys(this.handlers).some((k) => k.endsWith(` ${route}`))) return notImplemented(req.res, req.method, req.url);
      return apiError(req.res, 404, "ENDPOINT_NOT_FOUND", `No API found for '${req.method} /mlflow/unity-catalog/${route}'`);
    }
    // GET carries its fields in the query; MLflow sends DELETE's (and the others') as a JSON body. Both are read.
    const body = jsonBody(req);
    if (!body) return true;
    return handler(req, { ...Object.fromEntries(req.url.searchParams), ...body });
  }

  /** Every route, as `METHOD route` (the methods of databricks_uc_registry_service.proto). */
  private readonly handlers: Record<string, Handler> = {
    "POST registered-models/create": (req, p) => this.createModel(req, p),
    "GET registered-models/get": (req, p) => this.withModel(req, p, (m) => sendJson(req.res, 200, { registered_model: this.modelJson(m) })),
    "PATCH registered-models/update": (req, p) => this.updateModel(req, p),
    "DELETE registered-models/delete": (req, p) =>
      this.withModel(req, p, (m) => {
        this.state.ucModels.delete(m.fullName);
        this.state.ucGrants.delete(`function/${m.fullName}`);
        return sendJson(req.res, 200, {});
      }),
    "GET registered-models/search": (req, p) => this.searchModels(req, p),
    "POST registered-models/alias": (req, p) => this.setAlias(req, p),
    "DELETE registered-models/alias": (req, p) =>
      this.withModel(req, p, (m, e) => {
        const alias = this.aliasName(req, p, false);
        if (alias === undefined) return true;
        if (!e.aliases.delete(alias)) return this.noAlias(req, m, alias);
        return sendJson(req.res, 200, {});
      }),
    "GET registered-models/alias": (req, p) =>
      this.withModel(req, p, (m, e) => {
        const alias = this.aliasName(req, p, false);
        if (alias === undefined) return true;
        const v = e.aliases.get(alias);
        const mv = v === undefined ? undefined : e.versions.get(v);
        return mv ? sendJson(req.res, 200, { model_version: this.versionJson(m, e, mv) }) : this.noAlias(req, m, alias);
      }),
    "POST registered-models/set-tag": (req, p) =>
      this.withModel(req, p, (m, e) => {
        const kv = this.tagOf(req, p, true);
        if (!kv) return true;
        e.tags.set(kv[0], kv[1]);
        this.touch(m, req.caller);
        return sendJson(req.res, 200, {});
      }),
    "DELETE registered-models/delete-tag": (req, p) =>
      this.withModel(req, p, (m, e) => {
        const kv = this.tagOf(req, p, false);
        if (!kv) return true;
        if (!e.tags.delete(kv[0]))
          return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Tag '${kv[0]}' does not exist on registered model '${m.fullName}'.`);
        return sendJson(req.res, 200, {});
      }),
    "GET registered-models:is-databricks-sdk-models-artifact-repository-enabled": (req) =>
      sendJson(req.res, 200, { is_databricks_sdk_models_artifact_repository_enabled: false }),
    "POST model-versions/create": (req, p) => this.createVersion(req, p),
    "GET model-versions/get": (req, p) =>
      this.withVersion(req, p, (m, e, v) => sendJson(req.res, 200, { model_version: this.versionJson(m, e, v) })),
    "PATCH model-versions/update": (req, p) =>
      this.withVersion(req, p, (m, e, v) => {
        if (p.description !== undefined) v.description = typeof p.description === "string" && p.description ? p.description : undefined;
        v.updatedAt = Date.now();
        return sendJson(req.res, 200, { model_version: this.versionJson(m, e, v) });
      }),
    "DELETE model-versions/delete": (req, p) =>
      this.withVersion(req, p, (_m, e, v) => {
        e.versions.delete(v.version);
        for (const [alias, n] of e.aliases) if (n === v.version) e.aliases.delete(alias);
        return sendJson(req.res, 200, {});
      }),
    "GET model-versions/search": (req, p) => this.searchVersions(req, p),
    "GET model-versions/get-download-uri": (req, p) =>
      this.withVersion(req, p, (_m, _e, v) => sendJson(req.res, 200, { artifact_uri: v.storageLocation })),
    "POST model-versions/finalize": (req, p) =>
      this.withVersion(req, p, (m, e, v) => {
        if (v.status !== "PENDING_REGISTRATION")
          return apiError(
            req.res,
            400,
            "INVALID_PARAMETER_VALUE",
            `Model version ${v.version} of '${m.fullName}' is in status ${v.status}; only a version in PENDING_REGISTRATION can be finalized.`,
          );
        Object.assign(v, { status: "READY", updatedAt: Date.now() });
        return sendJson(req.res, 200, { model_version: this.versionJson(m, e, v) });
      }),
    "POST model-versions/set-tag": (req, p) =>
      this.withVersion(req, p, (_m, _e, v) => {
        const kv = this.tagOf(req, p, true);
        if (!kv) return true;
        v.tags.set(kv[0], kv[1]);
        v.updatedAt = Date.now();
        return sendJson(req.res, 200, {});
      }),
    "DELETE model-versions/delete-tag": (req, p) =>
      this.withVersion(req, p, (m, _e, v) => {
        const kv = this.tagOf(req, p, false);
        if (!kv) return true;
        if (!v.tags.delete(kv[0]))
          return apiError(
            req.res,
            404,
            "RESOURCE_DOES_NOT_EXIST",
            `Tag '${kv[0]}' does not exist on model version ${v.version} of '${m.fullName}'.`,
          );
        return sendJson(req.res, 200, {});
      }),
    "POST model-versions/generate-temporary-credentials": (req, p) => this.credentials(req, p),
  };

  private entryOf(m: UcModel): UcRegistryEntry {
    let e = this.entries.get(m);
    if (!e) {
      e = { uuid: crypto.randomUUID(), tags: new Map(), aliases: new Map(), versions: new Map(), nextVersion: 1 };
      this.entries.set(m, e);
      // A model the control plane created first gets its storage root in the registry's store.
      m.storageLocation = this.modelRoot(e);
    }
    return e;
  }

  private modelRoot(e: UcRegistryEntry): string {
    return `${this.store.root}/${this.state.metastoreId}/models/${e.uuid}`;
  }

  /** The three levels of a name, or undefined after answering 400. */
  private levels(req: ApiRequest, name: unknown): [string, string, string] | undefined {
    if (typeof name !== "string" || !name) return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing required field: name");
    const parts = name.toLowerCase().split(".");
    if (parts.length !== 3 || parts.some((x) => !x)) return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", THREE_LEVELS);
    return parts as [string, string, string];
  }

  /** Whether the catalog and schema of a name exist; answers 404 when not. */
  private schemaExists(req: ApiRequest, [catalog, schema]: [string, string, string]): boolean {
    if (![...this.state.ucSchemas].some((s) => s.startsWith(`${catalog}.`))) {
      apiError(req.res, 404, "CATALOG_DOES_NOT_EXIST", `Catalog '${catalog}' does not exist.`);
      return false;
    }
    if (!this.state.ucSchemas.has(`${catalog}.${schema}`)) {
      apiError(req.res, 404, "SCHEMA_DOES_NOT_EXIST", `Schema '${catalog}.${schema}' does not exist.`);
      return false;
    }
    return true;
  }

  private withModel(
    req: ApiRequest,
    p: Params,
    then: (m: UcModel, e: UcRegistryEntry) => boolean | Promise<boolean>,
  ): boolean | Promise<boolean> {
    const parts = this.levels(req, p.name);
    if (!parts || !this.schemaExists(req, parts)) return true;
    const m = this.state.ucModels.get(parts.join("."));
    if (!m) return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Routine or Model '${parts.join(".")}' does not exist.`);
    return then(m, this.entryOf(m));
  }

  private withVersion(
    req: ApiRequest,
    p: Params,
    then: (m: UcModel, e: UcRegistryEntry, v: UcModelVersion) => boolean | Promise<boolean>,
  ): boolean | Promise<boolean> {
    return this.withModel(req, p, (m, e) => {
      const n = this.versionNumber(req, p.version);
      if (n === undefined) return true;
      const v = e.versions.get(n);
      if (!v) return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Routine or Model '${m.fullName}' version '${n}' does not exist.`);
      return then(m, e, v);
    });
  }

  private versionNumber(req: ApiRequest, version: unknown): number | undefined {
    if (version === undefined || version === "")
      return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing required field: version");
    const s = String(version);
    if (!/^\d+$/.test(s) || Number(s) < 1)
      return void apiError(
        req.res,
        400,
        "INVALID_PARAMETER_VALUE",
        `Invalid value '${s}' for parameter 'version': must be a positive integer.`,
      );
    return Number(s);
  }

  private tagOf(req: ApiRequest, p: Params, withValue: boolean): [string, string] | undefined {
    if (typeof p.key !== "string" || !p.key) return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing required field: key");
    if (withValue && typeof p.value !== "string")
      return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing required field: value");
    return [p.key, String(p.value ?? "")];
  }

  /** The alias of a request, checked as MLflow checks it (the reserved names only when setting). */
  private aliasName(req: ApiRequest, p: Params, setting: boolean): string | undefined {
    const alias = p.alias;
    if (typeof alias !== "string" || !alias)
      return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Registered model alias name cannot be empty.");
    if (!ALIAS_RE.test(alias))
      return void apiError(
        req.res,
        400,
        "INVALID_PARAMETER_VALUE",
        `Invalid alias name: '${alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-).`,
      );
    if (alias.length > 255)
      return void apiError(
        req.res,
        400,
        "INVALID_PARAMETER_VALUE",
        `Registered model alias name '${alias}' exceeds the maximum length of 255`,
      );
    if (setting && alias.toLowerCase() === "latest")
      return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "'latest' alias name (case insensitive) is reserved.");
    if (setting && /^v\d+$/i.test(alias))
      return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Version alias name '${alias}' is reserved.`);
    return alias;
  }

  private noAlias(req: ApiRequest, m: UcModel, alias: string): boolean {
    return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Alias '${alias}' does not exist on registered model '${m.fullName}'.`);
  }

  private touch(m: UcModel, caller: string): void {
    Object.assign(m, { updatedAt: Date.now(), updatedBy: caller });
  }

  private tagsJson(tags: Map<string, string>) {
    return [...tags].sort(([a], [b]) => a.localeCompare(b)).map(([key, value]) => ({ key, value }));
  }

  private aliasesJson(e: UcRegistryEntry, version?: number) {
    return [...e.aliases]
      .filter(([, v]) => version === undefined || v === version)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([alias, v]) => ({ alias, version: String(v) }));
  }

  /** A RegisteredModel message; search results carry neither aliases nor tags (MLflow's client reads none there). */
  private modelJson(m: UcModel, full = true) {
    const e = this.entryOf(m);
    return {
      name: m.fullName,
      creation_timestamp: m.createdAt,
      last_updated_timestamp: m.updatedAt,
      user_id: m.createdBy,
      ...(m.comment ? { description: m.comment } : {}),
      ...(full ? { aliases: this.aliasesJson(e), tags: this.tagsJson(e.tags) } : {}),
      ...(e.deploymentJobId ? { deployment_job_id: e.deploymentJobId } : {}),
    };
  }

  /** A ModelVersion message; search results carry neither aliases nor tags. */
  private versionJson(m: UcModel, e: UcRegistryEntry, v: UcModelVersion, full = true) {
    return {
      name: m.fullName,
      version: String(v.version),
      creation_timestamp: v.createdAt,
      last_updated_timestamp: v.updatedAt,
      user_id: v.userId,
      ...(v.description ? { description: v.description } : {}),
      source: v.source,
      ...(v.runId ? { run_id: v.runId } : {}),
      ...(v.runTrackingServerId ? { run_tracking_server_id: v.runTrackingServerId } : {}),
      status: v.status,
      storage_location: v.storageLocation,
      ...(full ? { aliases: this.aliasesJson(e, v.version), tags: this.tagsJson(v.tags) } : {}),
      ...(v.modelId ? { model_id: v.modelId } : {}),
    };
  }

  /** Key/value pairs of a request's `tags`, or undefined after answering 400. */
  private tagList(req: ApiRequest, tags: unknown): Map<string, string> | undefined {
    if (tags === undefined) return new Map();
    if (!Array.isArray(tags)) return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "tags must be a list of {key, value}");
    const out = new Map<string, string>();
    for (const t of tags as { key?: unknown; value?: unknown }[]) {
      if (typeof t?.key !== "string" || !t.key)
        return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing required field: tags.key");
      out.set(t.key, String(t.value ?? ""));
    }
    return out;
  }

  private createModel(req: ApiRequest, p: Params): boolean {
    const parts = this.levels(req, p.name);
    if (!parts || !this.schemaExists(req, parts)) return true;
    const fullName = parts.join(".");
    if (this.state.ucModels.has(fullName))
      return apiError(req.res, 409, "RESOURCE_ALREADY_EXISTS", `Registered model '${fullName}' already exists.`);
    const tags = this.tagList(req, p.tags);
    if (!tags) return true;
    const now = Date.now();
    const m: UcModel = {
      catalogName: parts[0],
      schemaName: parts[1],
      name: parts[2],
      fullName,
      comment: typeof p.description === "string" && p.description ? p.description : undefined,
      owner: req.caller,
      createdAt: now,
      createdBy: req.caller,
      updatedAt: now,
      updatedBy: req.caller,
      storageLocation: "",
    };
    const e = this.entryOf(m);
    e.tags = tags;
    if (typeof p.deployment_job_id === "string" && p.deployment_job_id) e.deploymentJobId = p.deployment_job_id;
    this.state.ucModels.set(fullName, m);
    return sendJson(req.res, 200, { registered_model: this.modelJson(m) });
  }

  private updateModel(req: ApiRequest, p: Params): boolean | Promise<boolean> {
    if (p.new_name !== undefined && p.new_name !== "") return notImplemented(req.res, req.method, req.url, "renaming a registered model");
    return this.withModel(req, p, (m, e) => {
      if (p.description !== undefined) m.comment = typeof p.description === "string" && p.description ? p.description : undefined;
      if (p.deployment_job_id !== undefined)
        e.deploymentJobId = typeof p.deployment_job_id === "string" && p.deployment_job_id ? p.deployment_job_id : undefined;
      this.touch(m, req.caller);
      return sendJson(req.res, 200, { registered_model: this.modelJson(m) });
    });
  }

  /** `max_results` and `page_token` (an offset), or undefined after answering 400. */
  private page(req: ApiRequest, p: Params, fallback: number): { start: number; size: number } | undefined {
    const size = p.max_results === undefined || p.max_results === "" ? fallback : Number(p.max_results);
    if (!Number.isInteger(size) || size < 1)
      return void apiError(
        req.res,
        400,
        "INVALID_PARAMETER_VALUE",
        `Invalid value '${String(p.max_results)}' for parameter 'max_results': must be a positive integer.`,
      );
    const token = typeof p.page_token === "string" ? p.page_token : "";
    const start = token ? Number(Buffer.from(token, "base64url").toString()) : 0;
    if (!Number.isInteger(start) || start < 0)
      return void apiError(req.res, 400, "INVALID_PARAMETER_VALUE", `Invalid page token '${token}'.`);
    return { start, size };
  }

  private paged<T>(all: T[], pg: { start: number; size: number }) {
    const end = pg.start + pg.size;
    return {
      items: all.slice(pg.start, end),
      ...(end < all.length ? { next_page_token: Buffer.from(String(end)).toString("base64url") } : {}),
    };
  }

  /**
   * Whether the caller may see a model in a search: everyone, unless the host enforces Unity Catalog's privileges
   * (devenv/localPlatform.ts: USE CATALOG, USE SCHEMA and EXECUTE or ownership, as Databricks lists only the models
   * the caller can read).
   */
  visible: (caller: string, fullName: string) => boolean = () => true;

  private searchModels(req: ApiRequest, p: Params): boolean {
    const pg = this.page(req, p, 100);
    if (!pg) return true;
    const all = [...this.state.ucModels.values()]
      .filter((m) => this.visible(req.caller, m.fullName))
      .sort((a, b) => a.fullName.localeCompare(b.fullName));
    const { items, ...rest } = this.paged(all, pg);
    return sendJson(req.res, 200, { registered_models: items.map((m) => this.modelJson(m, false)), ...rest });
  }

  private searchVersions(req: ApiRequest, p: Params): boolean {
    const filter = typeof p.filter === "string" ? p.filter : "";
    const f = /^\s*(name|run_id)\s*=\s*(['"])(.*)\2\s*$/.exec(filter);
    if (!f)
      return apiError(
        req.res,
        400,
        "INVALID_PARAMETER_VALUE",
        `Unsupported filter '${filter}': search_model_versions supports a single condition, name='<catalog>.<schema>.<model>' or run_id='<run id>'.`,
      );
    const pg = this.page(req, p, 10000);
    if (!pg) return true;
    let models = [...this.state.ucModels.values()].filter((m) => this.visible(req.caller, m.fullName));
    if (f[1] === "name") {
      const parts = this.levels(req, f[3]);
      if (!parts) return true;
      models = models.filter((m) => m.fullName === parts.join("."));
    }
    const all = models
      .sort((a, b) => a.fullName.localeCompare(b.fullName))
      .flatMap((m) => {
        const e = this.entryOf(m);
        return [...e.versions.values()]
          .filter((v) => f[1] === "name" || v.runId === f[3])
          .sort((a, b) => b.version - a.version)
          .map((v) => this.versionJson(m, e, v, false));
      });
    const { items, ...rest } = this.paged(all, pg);
    return sendJson(req.res, 200, { model_versions: items, ...rest });
  }

  private setAlias(req: ApiRequest, p: Params): boolean | Promise<boolean> {
    return this.withModel(req, p, (m, e) => {
      const alias = this.aliasName(req, p, true);
      if (alias === undefined) return true;
      const n = this.versionNumber(req, p.version);
      if (n === undefined) return true;
      if (!e.versions.has(n))
        return apiError(req.res, 404, "RESOURCE_DOES_NOT_EXIST", `Routine or Model '${m.fullName}' version '${n}' does not exist.`);
      // Setting an alias that exists moves it to this version.
      e.aliases.set(alias, n);
      this.touch(m, req.caller);
      return sendJson(req.res, 200, {});
    });
  }

  private async createVersion(req: ApiRequest, p: Params): Promise<boolean> {
    if (typeof p.source !== "string" || !p.source) {
      const parts = this.levels(req, p.name);
      return parts ? apiError(req.res, 400, "INVALID_PARAMETER_VALUE", "Missing required field: source") : true;
    }
    const tags = this.tagList(req, p.tags);
    if (!tags) return true;
    return this.withModel(req, p, async (m, e) => {
      await this.ensureStore();
      const now = Date.now();
      const str = (k: string) => (typeof p[k] === "string" && p[k] ? (p[k] as string) : undefined);
      const uuid = crypto.randomUUID();
      const v: UcModelVersion = {
        version: e.nextVersion++,
        uuid,
        createdAt: now,
        updatedAt: now,
        userId: req.caller,
        description: str("description"),
        source: p.source as string,
        runId: str("run_id"),
        runTrackingServerId: str("run_tracking_server_id"),
        modelId: str("model_id"),
        status: "PENDING_REGISTRATION",
        storageLocation: `${this.modelRoot(e)}/versions/${uuid}`,
        tags,
      };
      e.versions.set(v.version, v);
      return sendJson(req.res, 200, { model_version: this.versionJson(m, e, v) });
    });
  }

  private credentials(req: ApiRequest, p: Params): boolean | Promise<boolean> {
    return this.withVersion(req, p, async (m, _e, v) => {
      const operation = OPERATIONS[String(p.operation ?? "")];
      if (!operation)
        return apiError(
          req.res,
          400,
          "INVALID_PARAMETER_VALUE",
          `Invalid operation '${String(p.operation ?? "")}': expected MODEL_VERSION_OPERATION_READ or MODEL_VERSION_OPERATION_READ_WRITE.`,
        );
      const write = operation === "MODEL_VERSION_OPERATION_READ_WRITE";
      if (v.status === "FAILED_REGISTRATION")
        return apiError(
          req.res,
          400,
          "INVALID_PARAMETER_VALUE",
          `Model version ${v.version} of '${m.fullName}' failed registration; its files cannot be accessed.`,
        );
      if (write && v.status !== "PENDING_REGISTRATION")
        return apiError(
          req.res,
          403,
          "PERMISSION_DENIED",
          `Model version ${v.version} of '${m.fullName}' is in status ${v.status}: model version files can only be written at creation time, while the version is PENDING_REGISTRATION.`,
        );
      await this.ensureStore();
      const vended = await this.store.vend(v.storageLocation, write, this.credentialTtlMs);
      this.issued.push({
        name: m.fullName,
        version: v.version,
        operation,
        location: v.storageLocation,
        expirationTime: vended.expirationTime,
        scope: vended.scope,
      });
      return sendJson(req.res, 200, { credentials: { ...vended.credentials, expiration_time: vended.expirationTime } });
    });
  }
}
