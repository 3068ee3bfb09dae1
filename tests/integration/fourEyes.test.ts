/**
 * Four eyes across every hop, acted out as the shipped flow acts: a member registers a model in quant with their
 * own token, the promotion (the engine, as `pulumi up -s quant_stg` and `quant-platform migrate` run it, with the
 * platform's token) copies it to quant_stg, a consumer validates and signs off there with their own token, an
 * approver raises the production approval with theirs, and the production gate decides. Three Databricks test
 * workspaces (quant, quant_stg, quant_lr) over real MLflow servers record who acted from each token. The version in
 * quant_stg is never registered by hand.
 *
 * The expected outcomes are the team's rules: an author never approves, validates or signs off their own model,
 * however many hops it made; the approval and the sign-off are two different people; a sign-off comes after the
 * validation it names; a validation names its data, the pinned data where the model pins it. Every refusal leaves
 * the target exactly as it was.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { signOffCli } from "../../cli/signOff";
import { validateCli } from "../../cli/validate";
import { Endpoint, mlflowClient, tagMap } from "../../clients/mlflow";
import { DatabricksTestServer } from "../../devenv/databricks/databricksServer";
import { GitLabTestServer } from "../../devenv/gitlab/gitlabServer";
import { MlflowServer, python, seedFixture } from "../../devenv/localMlflow";
import { resolveEndpoint } from "../../migration/endpoint";
import { MigrationGuard } from "../../migration/guard";
import { migrate, MigrationReport } from "../../migration/modelVersion";
import { mergeRequestSignOffText, ORIGIN_TAG, TAG, VALIDATION_TAG } from "../../migration/provenance";
import { approverEmails, validationRequirement } from "../../plan/accessPlan";
import { shippedModel } from "../fixtures/config";
import { liveServers } from "../fixtures/liveServers";
import { memberEnv, mlflowAs } from "../fixtures/member";
import { refusedWithoutWrites } from "../fixtures/targetSnapshot";

const PLATFORM = "platform@quantfirm.example"; // the deploying identity: it copies, it never approves
const ANA = "ana.ruiz@quantfirm.example"; // developer
const CHEN = "chen.wei@quantfirm.example"; // developer and approver
const DARA = "dara.singh@quantfirm.example"; // approver
const FARID = "farid.haddad@quantfirm.example"; // release manager and approver
const GRACE = "grace.lee@quantfirm.example"; // consumer (signer)
const HIRO = "hiro.tanaka@quantfirm.example"; // consumer (signer)
const TOKEN: Record<string, string> = Object.fromEntries(
  [PLATFORM, ANA, CHEN, DARA, FARID, GRACE, HIRO].map((u) => [u, `dapi-fe-${u.split("@")[0].replace(".", "-")}`]),
);
const FAST_RETRY = { attempts: 3, backoffMs: 20 };

describe("four eyes across every hop: the author is known at every gate, and no person counts twice", function () {
  this.timeout(900000);
  const stamp = Date.now();
  const model = shippedModel();
  let a: MlflowServer;
  let b: MlflowServer;
  /** quant and quant_lr over server a, quant_stg over server b: each workspace records who acted from the token. */
  const ws: Record<"quant" | "quant_stg" | "quant_lr", DatabricksTestServer> = {} as never;
  let work = "";
  let good = "";
  let other = "";
  let runs: { run_id: string; precision: number }[] = [];

  const ep = (w: keyof typeof ws, side: "from" | "to" = "from", as = PLATFORM): Endpoint =>
    resolveEndpoint(`databricks+${ws[w].url}`, side, { DATABRICKS_TOKEN: TOKEN[as] });
  const call = (w: keyof typeof ws, as: string, method: string, p: string, body?: Record<string, unknown>) =>
    mlflowAs(ws[w].url, TOKEN[as], method, p, body);
  const oss = (s: MlflowServer) => resolveEndpoint(s.url, "to", {});

  /** The guard of an edge as the plan and the provider build it, reading origins in quant (and quant_stg). */
  const guard = (name: string, fromEnv: string, toEnv: string, over: Partial<MigrationGuard> = {}): MigrationGuard => {
    const req = validationRequirement(model, "quant-alpha-transformer", fromEnv, toEnv);
    return {
      flow: model.flow,
      fromEnv,
      toEnv,
      production: model.environments.find((e) => e.name === toEnv)!.tier === "production",
      approvers: approverEmails(model),
      members: model.roster.map((m) => ({ email: m.email, gitUsername: m.gitUsername })),
      origins: [ep("quant"), ep("quant_stg")],
      ...(req ? { validation: { ...req, experiment: `/v/${name}` } } : {}),
      ...over,
    };
  };

  /** `author` registers a training run as a version in quant with their own token; an approver moves it to Staging. */
  async function register(name: string, author: string, run = runs[2].run_id): Promise<string> {
    const info = (await call("quant", PLATFORM, "GET", `runs/get?run_id=${run}`)).run.info;
    await call("quant", author, "POST", "registered-models/create", { name }).catch(() => undefined);
    const v = (await call("quant", author, "POST", "model-versions/create", { name, source: `${info.artifact_uri}/model`, run_id: run }))
      .model_version.version as string;
    await call("quant", DARA, "POST", "databricks/model-versions/transition-stage", {
      name,
      version: v,
      stage: "Staging",
      archive_existing_versions: false,
    });
    return v;
  }
  /** The promotion quant -> quant_stg, as the shipped flow makes the quant_stg version: the engine, with the platform's token. */
  async function toStaging(name: string, v: string): Promise<string> {
    const r = await migrate({
      from: ep("quant"),
      to: ep("quant_stg", "to"),
      model: name,
      select: { version: v },
      retry: FAST_RETRY,
      guard: guard(name, "quant", "quant_stg"),
    });
    return r.targetVersion!;
  }
  async function validate(as: string, name: string, v: string, data = good): Promise<string> {
    let out = "";
    const args = ["--model", name, "--version", v, "--from", `databricks+${ws.quant_stg.url}`, "--data", data, "--label", "label"];
    const code = await validateCli([...args, "--experiment", `/v/${name}`, "--json"], memberEnv(TOKEN[as]), (s) => (out += s));
    assert.strictEqual(code, 0, out);
    return JSON.parse(out).run_id as string;
  }
  async function signOff(as: string, name: string, v: string, runId: string): Promise<void> {
    const args = ["--model", name, "--version", v, "--run", runId, "--from", `databricks+${ws.quant_stg.url}`, "--to-env", "quant_lr"];
    assert.strictEqual(await signOffCli(args, memberEnv(TOKEN[as]), () => undefined), 0);
  }
  const approve = (as: string, w: keyof typeof ws, name: string, v: string) =>
    call(w, as, "POST", "transition-requests/create", { name, version: v, stage: "Production", comment: `approved by ${as}` });
  /** A release manager moves the quant_stg copy to Production (the stage the quant_lr promotion takes). */
  const release = (w: keyof typeof ws, name: string, v: string) =>
    call(w, FARID, "POST", "databricks/model-versions/transition-stage", {
      name,
      version: v,
      stage: "Production",
      archive_existing_versions: false,
    });
  /** The production promotion quant_stg -> quant_lr (a workspace over server a, the copy named `<name>-lr`). */
  const toProduction = (name: string, v: string, over: Partial<MigrationGuard> = {}): Promise<MigrationReport> =>
    migrate({
      from: ep("quant_stg"),
      to: ep("quant_lr", "to"),
      model: name,
      select: { version: v },
      toModel: `${name}-lr`,
      retry: FAST_RETRY,
      guard: guard(name, "quant_stg", "quant_lr", over),
    });
  /** The refusal's message; quant_lr's tracking server is left exactly as it was. */
  const refused = async (name: string, v: string, over: Partial<MigrationGuard> = {}) =>
    (await refusedWithoutWrites(oss(a), () => toProduction(name, v, over), "quant_lr")).message;
  /** A model trained by `author`, in quant_stg through the promotion, validated and signed off by grace: v in quant_stg. */
  async function validatedCopy(name: string, author: string): Promise<{ stg: string; runId: string }> {
    const stg = await toStaging(name, await register(name, author));
    const runId = await validate(GRACE, name, stg);
    await signOff(GRACE, name, stg, runId);
    await release("quant_stg", name, stg);
    return { stg, runId };
  }
  /** A validation run made by hand by `as` with their own token (the workspace records them as its creator). */
  async function handValidation(as: string, name: string, v: string, tags: Record<string, string>, finish = true): Promise<string> {
    const found = await fetch(
      `${ws.quant_stg.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=${encodeURIComponent(`/v/${name}`)}`,
      {
        headers: { Authorization: `Bearer ${TOKEN[as]}` },
      },
    );
    const expId = found.ok
      ? ((await found.json()) as { experiment: { experiment_id: string } }).experiment.experiment_id
      : ((await call("quant_stg", as, "POST", "experiments/create", { name: `/v/${name}` })).experiment_id as string);
    const run = (await call("quant_stg", as, "POST", "runs/create", { experiment_id: expId, start_time: Date.now() })).run;
    await call("quant_stg", as, "POST", "runs/log-batch", {
      run_id: run.info.run_id,
      tags: Object.entries({ [VALIDATION_TAG.model]: name, [VALIDATION_TAG.version]: v, ...tags }).map(([key, value]) => ({ key, value })),
    });
    if (finish) await call("quant_stg", as, "POST", "runs/update", { run_id: run.info.run_id, status: "FINISHED", end_time: Date.now() });
    return run.info.run_id as string;
  }
  /** What a passed validation of the quant_stg copy on the good sample records (the copy's manifest digest is its bytes'). */
  const passedTags = async (name: string, stg: string): Promise<Record<string, string>> => ({
    [VALIDATION_TAG.manifestDigest]: tagMap((await mlflowClient(ep("quant_stg")).getModelVersion(name, stg)).tags)[TAG.manifestDigest],
    [VALIDATION_TAG.dataSha256]: crypto.createHash("sha256").update(fs.readFileSync(good)).digest("hex"),
    [VALIDATION_TAG.metric]: "precision",
    [VALIDATION_TAG.threshold]: "0.8",
    [VALIDATION_TAG.value]: "0.91",
    [VALIDATION_TAG.verdict]: "passed",
  });
  /** A sign-off raised by hand with the signer's token, naming `runId` (as the sign-off CLI words it). */
  const raiseSignOff = (as: string, name: string, v: string, runId: string) =>
    call("quant_stg", as, "POST", "transition-requests/create", {
      name,
      version: v,
      stage: "Production",
      comment: `validated: run ${runId}; signed off for quant_lr`,
    });

  before(async () => {
    ({ a, b } = await liveServers());
    work = fs.mkdtempSync(path.join(os.tmpdir(), "four-eyes-"));
    const info = path.join(work, "trained.json");
    python("transformer_fixture.py", [
      ...["--tracking-uri", a.url, "--model", "unused", "--experiment", `/Teams/quant/experiments/four-eyes-${stamp}`],
      ...["--size-mb", "0.2", "--shards", "1", "--all-iterations", "--no-register", "--out", info],
    ]);
    runs = (JSON.parse(fs.readFileSync(info, "utf8")) as { runs: typeof runs }).runs;
    good = path.join(work, "ticks-2024.csv");
    other = path.join(work, "ticks-2023.csv");
    python("historical_sample.py", ["--out", good, "--rows", "300", "--seed", "5"]);
    python("historical_sample.py", ["--out", other, "--rows", "300", "--seed", "6"]);
    for (const [w, backend] of [
      ["quant", a],
      ["quant_stg", b],
      ["quant_lr", a],
    ] as const) {
      ws[w] = new DatabricksTestServer(backend.url, TOKEN[PLATFORM], "backend", PLATFORM);
      for (const [who, token] of Object.entries(TOKEN)) ws[w].addUser(token, who);
      await ws[w].start();
    }
  });
  after(async () => {
    await Promise.all(Object.values(ws).map((w) => w?.stop()));
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("the genuine path passes: the copy names its origin and author, keeps the training run's system lineage, and the gate reads the author in quant", async () => {
    const name = `fe-genuine-${stamp}`;
    const { stg, runId } = await validatedCopy(name, ANA);
    const copy = await mlflowClient(ep("quant_stg")).getModelVersion(name, stg);
    assert.strictEqual(copy.user_id, PLATFORM, "the copy in quant_stg was registered by the promotion, not by a member");
    const t = tagMap(copy.tags);
    assert.deepStrictEqual(
      [t[ORIGIN_TAG.workspace], t[ORIGIN_TAG.model], t[ORIGIN_TAG.version], t[ORIGIN_TAG.author]],
      [ep("quant").baseUrl, name, "1", ANA],
    );
    const copyRun = await mlflowClient(ep("quant_stg")).getRun(copy.run_id!);
    const source = await mlflowClient(ep("quant")).getRun(runs[2].run_id);
    for (const k of ["mlflow.user", "mlflow.source.name", "mlflow.source.git.commit"]) {
      assert.ok(tagMap(source.data.tags)[k], `the training run has ${k}`);
      assert.strictEqual(tagMap(copyRun.data.tags)[k], tagMap(source.data.tags)[k], `the copy's run keeps ${k}`);
      assert.strictEqual(
        tagMap(copyRun.data.tags)[k.replace(/^mlflow\./, "quant.origin.")],
        tagMap(source.data.tags)[k],
        `and under its origin key`,
      );
    }
    await approve(DARA, "quant_stg", name, stg);
    const r = await toProduction(name, stg);
    assert.deepStrictEqual([r.approval?.approver, r.signOff?.signer, r.validation?.runId], [DARA, GRACE, runId]);
    const lr = tagMap((await mlflowClient(ep("quant_lr")).getModelVersion(`${name}-lr`, r.targetVersion!)).tags);
    assert.deepStrictEqual([lr[ORIGIN_TAG.author], lr[ORIGIN_TAG.version], lr[TAG.sourceHost]], [ANA, "1", ep("quant_stg").baseUrl]);
  });

  it("refused: chen, developer and approver, approving his own model after one hop (the copy's registrant is the platform)", async () => {
    const name = `fe-chen-${stamp}`;
    const { stg } = await validatedCopy(name, CHEN);
    await approve(CHEN, "quant_stg", name, stg);
    const m = await refused(name, stg);
    assert.match(
      m,
      new RegExp(
        `the version's authors, read at its origin \\(model '${name}' version 1 on databricks\\+${ws.quant.url.replace(/[.+]/g, "\\$&")}\\): ${CHEN}.*: an author never approves, validates or signs off their own model`,
      ),
    );
    assert.match(m, new RegExp(`not counted: ${CHEN} \\(the version's author\\)`));
    // Without credentials for quant the chain cannot be followed: refused as such, never "no author".
    const blind = await refused(name, stg, { origins: [] });
    assert.match(
      blind,
      /cannot be followed to its origin, so its author cannot be established: .* the gate holds no credentials for that workspace/,
    );
    // Another approver's request lets it through, and the target records who.
    await approve(DARA, "quant_stg", name, stg);
    assert.strictEqual((await toProduction(name, stg)).approval?.approver, DARA);
  });

  it("refused: the same after two hops (quant_lr -> quant_live), the author read in quant through quant_stg", async () => {
    const name = `fe-chen2-${stamp}`;
    const { stg } = await validatedCopy(name, CHEN);
    await approve(DARA, "quant_stg", name, stg);
    const lr = (await toProduction(name, stg)).targetVersion!;
    await release("quant_lr", `${name}-lr`, lr);
    await approve(CHEN, "quant_lr", `${name}-lr`, lr);
    const live = () =>
      migrate({
        from: ep("quant_lr"),
        to: oss(b),
        model: `${name}-lr`,
        select: { version: lr },
        toModel: `${name}-live`,
        retry: FAST_RETRY,
        guard: guard(name, "quant_lr", "quant_live"),
      });
    const m = (await refusedWithoutWrites(oss(b), live, "quant_live")).message;
    assert.match(
      m,
      new RegExp(`read at its origin \\(model '${name}' version 1 on databricks\\+${ws.quant.url.replace(/[.+]/g, "\\$&")}\\): ${CHEN}`),
    );
    assert.match(m, new RegExp(`not counted: ${CHEN} \\(the version's author\\)`));
  });

  it("refused: one member who is both approver and signer counts once: one request is never both the approval and the sign-off", async () => {
    const name = `fe-both-${stamp}`;
    const stg = await toStaging(name, await register(name, ANA));
    const runId = await validate(HIRO, name, stg);
    await signOff(HIRO, name, stg, runId);
    await release("quant_stg", name, stg);
    // Hiro as an approver too (a roster that gives a consumer the approver role: the config warns about it).
    const both = { approvers: [...approverEmails(model), HIRO].sort() };
    const m = await refused(name, stg, both);
    assert.match(
      m,
      new RegExp(
        `not counted: ${HIRO} \\(this request is the sign-off: within one promotion the approval and the sign-off come from two different people`,
      ),
    );
    assert.match(m, new RegExp(`by an approving member other than the author ${ANA}.* and the signer ${HIRO}`));
    // (Databricks keeps one open request per person and stage: a second request of Hiro's is refused by the workspace.)
    await approve(DARA, "quant_stg", name, stg);
    const r = await toProduction(name, stg, both);
    assert.deepStrictEqual([r.approval?.approver, r.signOff?.signer], [DARA, HIRO]);
  });

  it("refused: a sign-off raised before its validation run ended", async () => {
    const name = `fe-order-${stamp}`;
    const stg = await toStaging(name, await register(name, ANA));
    await release("quant_stg", name, stg);
    await approve(DARA, "quant_stg", name, stg);
    // Grace starts her validation run, signs it off while it is still running, then ends it.
    const early = await handValidation(GRACE, name, stg, await passedTags(name, stg), false);
    await raiseSignOff(GRACE, name, stg, early);
    await new Promise((r) => setTimeout(r, 20));
    await call("quant_stg", GRACE, "POST", "runs/update", { run_id: early, status: "FINISHED", end_time: Date.now() });
    const m = await refused(name, stg);
    assert.match(
      m,
      new RegExp(
        `${GRACE} \\(raised at \\S+, before validation run ${early} ended at \\S+: a sign-off counts only once the validation it names has ended\\)`,
      ),
    );
    // Withdrawn (only its creator may) and raised again after the run ended, it counts.
    const q = new URLSearchParams({ name, version: stg, stage: "Production", creator: GRACE });
    await call("quant_stg", GRACE, "DELETE", `transition-requests/delete?${q}`);
    await raiseSignOff(GRACE, name, stg, early);
    assert.strictEqual((await toProduction(name, stg)).signOff?.signer, GRACE);
  });

  it("refused: a validation that records no hash of its data", async () => {
    const name = `fe-nodata-${stamp}`;
    const stg = await toStaging(name, await register(name, ANA));
    await release("quant_stg", name, stg);
    await approve(DARA, "quant_stg", name, stg);
    const { [VALIDATION_TAG.dataSha256]: hash, ...unnamed } = await passedTags(name, stg);
    assert.ok(hash);
    const blind = await handValidation(GRACE, name, stg, unnamed);
    await raiseSignOff(GRACE, name, stg, blind);
    const m = await refused(name, stg);
    assert.match(m, new RegExp(`not counted: run ${blind} \\(records no hash of its data \\(quant\\.validation\\.data_sha256\\)`));
  });

  it("refused: a validation on other data than the pinned sample, naming both hashes; the pinned sample counts", async () => {
    const name = `fe-data-${stamp}`;
    const sha = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
    const stg = await toStaging(name, await register(name, ANA));
    await release("quant_stg", name, stg);
    await approve(DARA, "quant_stg", name, stg);
    const pinned = (n: string) => ({ validation: { ...guard(n, "quant_stg", "quant_lr").validation!, data: { sha256: sha(good) } } });
    const onOther = await validate(GRACE, name, stg, other);
    await signOff(GRACE, name, stg, onOther);
    const m = await refused(name, stg, pinned(name));
    assert.match(
      m,
      new RegExp(
        `run ${onOther} \\(.*on other data than the pinned sample \\(sha256 ${sha(other)}; validation\\.data pins sha256 ${sha(good)}\\)`,
      ),
    );
    const onPinned = await validate(HIRO, name, stg, good);
    await signOff(HIRO, name, stg, onPinned);
    const r = await toProduction(name, stg, pinned(name));
    assert.deepStrictEqual([r.validation?.runId, r.validation?.dataSha256], [onPinned, sha(good)]);
  });

  describe("the merge-request path (a registry without stages): the signer's approval names the version and its validation run", () => {
    let gl: GitLabTestServer;
    let repo = "";
    const name = `fe-mr-${stamp}`;
    const ids: Record<string, number> = {};
    let version = "";
    let runId = "";
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=Ana Ruiz", "-c", "user.email=ana.ruiz@quantfirm.example", ...args], {
        cwd: repo,
        encoding: "utf8",
      }).trim();
    const mr = () => gl.projects[0].mergeRequests.get(1)!;
    const promote = () =>
      migrate({
        from: resolveEndpoint(b.url, "from", {}),
        to: oss(a),
        model: name,
        select: { version },
        toModel: `${name}-lr`,
        retry: FAST_RETRY,
        guard: guard(name, "quant_stg", "quant_lr", {
          origins: [],
          git: {
            provider: "gitlab",
            apiUrl: gl.url,
            project: "quant/quant-research",
            token: "glpat-platform",
            repoDir: repo,
            configPath: "Pulumi.yaml",
            model: name,
            fromStack: "quant_stg",
            toStack: "quant_lr",
          },
        }),
      });

    before(async () => {
      // The version in an OSS registry (no stages), its validation run by grace: an OSS server records the user the
      // client names (it has no identity of its own), so the run is created as grace would create it.
      version = seedFixture(b, name, { sizeMb: 0.2, shards: 1 }).version;
      const c = mlflowClient(resolveEndpoint(b.url, "from", {}));
      const exp = await c.ensureExperiment(`/v/${name}`);
      const sample = fs.readFileSync(good);
      const files = await (async () => {
        const { manifestDigest, hashFiles } = await import("../../migration/hashing");
        const { listTree } = await import("../../migration/treeCopy");
        const { transportFor } = await import("../../migration/transports/transportFor");
        const t = transportFor(c);
        const v = await c.getModelVersion(name, version);
        const root = await t.versionRoot(v, await c.getDownloadUri(name, version));
        return manifestDigest(await hashFiles(t, root, await listTree(t, root)));
      })();
      const created = await fetch(`${b.url}/api/2.0/mlflow/runs/create`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ experiment_id: exp, user_id: GRACE, start_time: Date.now() - 60000 }),
      });
      runId = ((await created.json()) as { run: { info: { run_id: string } } }).run.info.run_id;
      await c.logBatch(runId, {
        tags: Object.entries({
          [VALIDATION_TAG.model]: name,
          [VALIDATION_TAG.version]: version,
          [VALIDATION_TAG.manifestDigest]: files,
          [VALIDATION_TAG.dataSha256]: crypto.createHash("sha256").update(sample).digest("hex"),
          [VALIDATION_TAG.metric]: "precision",
          [VALIDATION_TAG.threshold]: "0.8",
          [VALIDATION_TAG.value]: "0.91",
          [VALIDATION_TAG.verdict]: "passed",
        }).map(([key, value]) => ({ key, value })),
      });
      await c.updateRun(runId, "FINISHED", Date.now() - 30000);
      gl = new GitLabTestServer();
      gl.tokens.set("glpat-platform", "read_api");
      for (const u of ["aruiz", "cwei", "dsingh", "glee"]) ids[u] = gl.addUser(u);
      const p = gl.addProject("quant/quant-research");
      await gl.start();
      repo = fs.mkdtempSync(path.join(os.tmpdir(), "four-eyes-repo-"));
      git("init", "-q");
      const yaml = [
        "name: quant-platform",
        "config:",
        "  quant-platform:models:",
        "    value:",
        `      - name: ${name}`,
        "        stacks: [quant_stg, quant_lr]",
        "        promotions:",
        `          - { from: quant_stg, to: quant_lr, version: "${version}" }`,
        "",
      ].join("\n");
      fs.writeFileSync(path.join(repo, "Pulumi.yaml"), yaml);
      git("add", "Pulumi.yaml");
      git("commit", "-q", "-m", "promote to quant_lr");
      p.mergeRequests.set(1, {
        iid: 1,
        state: "merged",
        source_branch: "quant_stg",
        target_branch: "quant_lr",
        notes: [],
        author_id: ids.aruiz,
        approved_by: [ids.dsingh, ids.glee],
        merged_by_id: ids.dsingh,
        merged_at: new Date().toISOString(),
        commits: [git("rev-parse", "HEAD")],
        description: "Promote to quant_lr.",
      });
    });
    after(async () => {
      await gl?.stop();
      if (repo) fs.rmSync(repo, { recursive: true, force: true });
    });

    it("refused: the signer approved, but nothing names the version and its validation run", async () => {
      const m = (await refusedWithoutWrites(oss(a), promote, "quant_lr")).message;
      assert.match(
        m,
        /no sign-off: quant\/quant-research!1: not counted dsingh \(not a signer\), glee \(nothing names version \d+ and its validation run/,
      );
      assert.doesNotMatch(m, /without an approval by an approving member/, "dsingh's approval counted");
    });

    it("refused: a merge-request sign-off that names another version; the one naming this version and its run counts", async () => {
      mr().notes = [
        { id: 1, body: mergeRequestSignOffText(name, "99", runId, "quant_lr"), author_id: ids.glee, created_at: new Date().toISOString() },
      ];
      const m = (await refusedWithoutWrites(oss(a), promote, "quant_lr")).message;
      assert.match(m, new RegExp(`, glee \\(glee's note on quant/quant-research!1 names version 99, not ${version}`));
      // A note by another member naming the right version is not the signer's sign-off.
      mr().notes.push({
        id: 2,
        body: mergeRequestSignOffText(name, version, runId, "quant_lr"),
        author_id: ids.dsingh,
        created_at: new Date().toISOString(),
      });
      await refusedWithoutWrites(oss(a), promote, "quant_lr");
      mr().notes.push({
        id: 3,
        body: mergeRequestSignOffText(name, version, runId, "quant_lr"),
        author_id: ids.glee,
        created_at: new Date().toISOString(),
      });
      const r = await promote();
      assert.deepStrictEqual([r.approval?.approver, r.signOff?.signer, r.validation?.runId], ["dsingh", "glee", runId]);
    });
  });
});
