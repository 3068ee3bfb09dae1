/**
 * copyTree's progress journal only saves work: one that reads back torn, because a concurrent migration into the
 * same run is rewriting it (bad JSON, or a body the server cut short), counts as none and the copy goes on. Any
 * other failure to read it still fails the copy. And the journal is neither read nor written where it cannot
 * save anything: a target just created, a copy of a few small files. An in-memory transport stands for both stores.
 */
import * as assert from "assert";
import { Readable } from "stream";
import { httpError } from "../../clients/http";
import { copyTree, SMALL_TREE } from "../../migration/treeCopy";
import { ArtifactRoot, ArtifactTransport } from "../../migration/transports/transport";

/** Files by path; `journal` decides what reading progress.json gives. */
function memory(files: Map<string, Buffer>, journal?: () => Readable): ArtifactTransport {
  return {
    name: "memory",
    versionRoot: async () => ({ path: "" }),
    runRoot: async (_run, sub) => ({ path: sub }),
    list: async (root: ArtifactRoot) =>
      [...files.keys()].filter((p) => p.startsWith(root.path)).map((p) => ({ path: p, isDir: false, size: files.get(p)!.length })),
    download: async (root: ArtifactRoot, p: string) => {
      const full = [root.path, p].filter(Boolean).join("/");
      if (journal && p.endsWith("progress.json")) return { body: journal(), length: undefined };
      const b = files.get(full);
      if (!b) throw httpError(404, `${full}: not found`, false, "RESOURCE_DOES_NOT_EXIST");
      return { body: Readable.from([b]), length: b.length };
    },
    upload: async (root: ArtifactRoot, p: string, body: Readable) => {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      files.set([root.path, p].filter(Boolean).join("/"), Buffer.concat(chunks));
    },
    refuses: () => undefined,
  };
}

/** A body that fails after a few bytes with `error`. */
const cut = (error: Error) => () =>
  new Readable({
    read() {
      this.push(Buffer.from('{"files": ['));
      this.destroy(error);
    },
  });

/** Copies every `model/...` file of `src` into `copy/` of the target, verified in full, journalled in `_migration/`. */
function copyAll(src: Map<string, Buffer>, dstT: ArtifactTransport, o: { fresh?: boolean; concurrency?: number } = {}) {
  return copyTree({
    srcT: memory(src),
    srcRoot: { path: "model" },
    dstT,
    dstRoot: { path: "copy" },
    journalRoot: { path: "_migration" },
    ...(o.fresh !== undefined ? { fresh: o.fresh } : {}),
    listed: [...src].map(([p, b]) => ({ path: p.slice("model/".length), size: b.length })),
    fingerprint: "fp",
    verify: "full",
    retry: { attempts: 1, backoffMs: 1 },
    concurrency: o.concurrency ?? 1,
    what: (p) => p,
    tree: "test tree",
  });
}

async function copyWith(journal: () => Readable) {
  const src = new Map([["model/a.bin", Buffer.from("the model's bytes")]]);
  const dst = new Map<string, Buffer>();
  const result = await copyAll(src, memory(dst, journal));
  return { result, dst };
}

describe("copyTree: a progress journal torn by a concurrent writer counts as none", () => {
  it("a body cut short while the journal is rewritten: the copy goes on and copies every file", async () => {
    const { result, dst } = await copyWith(cut(httpError(0, "GET progress.json was cut short", true)));
    assert.strictEqual(result.skippedFiles, 0);
    assert.deepStrictEqual(dst.get("copy/a.bin"), Buffer.from("the model's bytes"));
  });

  it("half a JSON document: the same", async () => {
    const { dst } = await copyWith(() => Readable.from([Buffer.from('{"files": [')]));
    assert.deepStrictEqual(dst.get("copy/a.bin"), Buffer.from("the model's bytes"));
  });

  it("a refusal (403) is not a torn journal: the copy fails with it", async () => {
    await assert.rejects(copyWith(cut(httpError(403, "GET progress.json: PERMISSION_DENIED", false))), /PERMISSION_DENIED/);
  });
});

describe("copyTree: the journal costs nothing where it cannot save anything", () => {
  /** Copies `n` files of `size` bytes into a fresh or an existing target; what was read and written of the journal. */
  async function counted(n: number, size: number, fresh: boolean) {
    const src = new Map(Array.from({ length: n }, (_, i) => [`model/f${i}.bin`, Buffer.alloc(size, i)] as const));
    const dst = new Map<string, Buffer>();
    const seen = { journalReads: 0 };
    const dstT = memory(dst);
    const download = dstT.download;
    dstT.download = (root, p) => {
      if (p === "progress.json") seen.journalReads++;
      return download(root, p);
    };
    const result = await copyAll(src, dstT, { fresh, concurrency: 4 });
    assert.strictEqual(result.files.length, n);
    for (const [p, b] of src) assert.deepStrictEqual(dst.get(`copy/${p.slice("model/".length)}`), b);
    return { journalReads: seen.journalReads, journalWritten: dst.has("_migration/progress.json") };
  }

  it("a target this migration has just created is not searched for a journal; an existing one is", async () => {
    assert.strictEqual((await counted(2, 10, true)).journalReads, 0);
    assert.strictEqual((await counted(2, 10, false)).journalReads, 1);
  });

  it("a few small files leave no journal once copied; many files, or many bytes, do (a later failure resumes from it)", async () => {
    assert.strictEqual((await counted(SMALL_TREE.files - 1, 1000, true)).journalWritten, false);
    assert.strictEqual((await counted(SMALL_TREE.files, 1000, true)).journalWritten, true);
    assert.strictEqual((await counted(1, SMALL_TREE.bytes, true)).journalWritten, true);
  });
});
