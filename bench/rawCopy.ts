/**
 * The physical baseline: the same bytes fetched from the source and uploaded to the target over HTTP,
 * N files at a time, with no hashing, no verification and no registry calls beyond finding the files.
 * Works for any model: a large one (bytes) and one of many small files (requests) alike.
 *   node dist/bench/rawCopy.js <from-url> <to-url> <model> <version> <target-prefix> <concurrency>
 * (bench.ts compiles it next to the engine in dist/, so it starts from JavaScript as the CLI does.)
 * Prints `{files, bytes, elapsedMs}`, elapsedMs from the first call to the last byte.
 */
import { resolveEndpoint } from "../migration/endpoint";
import { mlflowClient } from "../clients/mlflow";
import { mlflowArtifactsTransport } from "../migration/transports/mlflowArtifacts";
import { listTree } from "../migration/treeCopy";

async function main() {
  const started = Date.now();
  const [fromUrl, toUrl, model, version, prefix, concurrency] = process.argv.slice(2);
  const src = mlflowClient(resolveEndpoint(fromUrl, "from", {}));
  const dst = mlflowClient(resolveEndpoint(toUrl, "to", {}));
  const st = mlflowArtifactsTransport(src);
  const dt = mlflowArtifactsTransport(dst);
  const v = await src.getModelVersion(model, version);
  const root = await st.versionRoot(v, await src.getDownloadUri(model, version));
  const files = await listTree(st, root);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const f = files[next++];
      const { body } = await st.download(root, f.path);
      await dt.upload({ path: prefix }, f.path, body, f.size);
    }
  };
  await Promise.all(Array.from({ length: Number(concurrency) }, worker));
  console.log(JSON.stringify({ files: files.length, bytes: files.reduce((s, f) => s + f.size, 0), elapsedMs: Date.now() - started }));
}
main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
