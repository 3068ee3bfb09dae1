/**
 * A Unity Catalog registry's artifact store: a model version's files live at its `storage_location` (s3://,
 * abfss://), reached with temporary credentials from `model-versions/generate-temporary-credentials` (READ for a
 * source version, READ_WRITE for a pending target version), straight through the cloud store's own SDK, as
 * MLflow's Unity Catalog client does. Run artifacts (the migration run's journal and manifest, lineage) are the
 * workspace's, through the Databricks transport.
 */
import { MlflowClient } from "../../clients/mlflow";
import { openStore, settingsFrom } from "../../clients/cloudStores";
import { ObjectStore, StoreSettings } from "../../clients/objectStore";
import { uploadParted } from "../partedUpload";
import { databricksTransport } from "./databricks";
import { ArtifactRoot, ArtifactTransport } from "./transport";
import { DEFAULT_RETRY } from "../../clients/http";

/** The root of a Unity Catalog model version's files. */
export function ucVersionRoot(name: string, version: string, storageLocation: string, write: boolean): ArtifactRoot {
  return { path: storageLocation, model: { name, version, write } };
}

export function unityCatalogTransport(client: MlflowClient, settings?: Partial<StoreSettings>): ArtifactTransport {
  const runs = databricksTransport(client, settings);
  const resolved = settingsFrom(settings);
  const stores = new Map<string, Promise<ObjectStore>>();
  const storeOf = (root: ArtifactRoot): Promise<ObjectStore> => {
    const m = root.model!;
    const key = `${m.write ? "w" : "r"} ${root.path}`;
    let s = stores.get(key);
    if (!s) {
      const creds = () => client.temporaryCredentials(m.name, m.version, m.write ? "write" : "read");
      s = creds().then((c) => openStore(root.path, c, resolved, creds));
      // A failed open is not cached: the next call asks again.
      s.catch(() => stores.delete(key));
      stores.set(key, s);
    }
    return s;
  };
  return {
    name: "unity-catalog",
    async versionRoot(version) {
      if (!version.storage_location)
        throw new Error(
          `${client.endpoint.uri}: model '${version.name}' version ${version.version} reports no storage_location; a Unity Catalog registry gives one for every version`,
        );
      return ucVersionRoot(version.name, version.version, version.storage_location, false);
    },
    runRoot: (runId, sub, artifactUri) => runs.runRoot(runId, sub, artifactUri),
    async list(root, dir) {
      if (!root.model) return runs.list(root, dir);
      const store = await storeOf(root);
      // The store lists recursively: every file below `dir` comes back as a file, none as a directory.
      return (await store.list(dir ? `${dir}/` : "")).map((o) => ({ path: o.key, isDir: false, size: o.size }));
    },
    async download(root, path) {
      if (!root.model) return runs.download(root, path);
      return (await storeOf(root)).get(path);
    },
    async upload(root, path, body, length) {
      if (!root.model) return runs.upload(root, path, body, length);
      const sink = (await storeOf(root)).sink(path);
      await uploadParted({ sink, body, length, what: `'${path}'`, retry: DEFAULT_RETRY, partConcurrency: resolved.partConcurrency });
    },
    async sink(root, path) {
      if (!root.model) return runs.sink!(root, path);
      return (await storeOf(root)).sink(path);
    },
    storeVerification: () => undefined,
    async stat(root, path) {
      if (!root.model) return runs.stat!(root, path);
      return (await storeOf(root)).head(path);
    },
    refuses() {
      return undefined;
    },
  };
}
