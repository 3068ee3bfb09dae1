/**
 * The consumer's validation (python/quant_lifecycle) and the migration engine must agree on a version's
 * manifest digest byte for byte, or the production gate could never match a validation to the version it
 * promotes. And the CLI shell hands MLflow's Python client the workspace as --from names it, tokens only in
 * the environment.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import fc from "fast-check";
import { lifecycleEnv, pythonError, renderValidation, validationDefaults } from "../../cli/validate";
import { ManagedModel } from "../../config/schema";
import { PROJECT_DIR, VENV_BIN } from "../../devenv/localMlflow";
import { ManifestEntry, manifestDigest } from "../../migration/hashing";

/** quant_lifecycle's digests of several manifests, in one Python process. */
function pythonDigests(manifests: ManifestEntry[][]): string[] {
  const out = execFileSync(
    path.join(VENV_BIN, "python"),
    [
      "-c",
      "import json,sys\nfrom quant_lifecycle.validation import manifest_digest\nprint(json.dumps([manifest_digest(m) for m in json.load(sys.stdin)]))",
    ],
    { input: JSON.stringify(manifests), encoding: "utf8", env: { ...process.env, PYTHONPATH: path.join(PROJECT_DIR, "python") } },
  );
  return JSON.parse(out) as string[];
}

const hex = (s: string) => crypto.createHash("sha256").update(s).digest("hex");

describe("validation: the manifest digest is the migration engine's, computed in Python", function () {
  this.timeout(60000);

  it("equals manifestDigest for non-ASCII paths, astral characters (sorted by UTF-16 code units, as JavaScript does) and any order", () => {
    const files: ManifestEntry[] = [
      { path: "notes/eval report (50% holdout) – précision ✓.txt", size: 41, sha256: hex("a") },
      { path: "model/ｚ-fullwidth.bin", size: 0, sha256: hex("") }, // U+FF5A sorts after U+D83D in JS, before U+1F600 in code points
      { path: "model/😀-astral.bin", size: 7, sha256: hex("b") },
      { path: "MLmodel", size: 300, sha256: hex("c") },
      { path: "code/quant_alpha_model.py", size: 2048, sha256: hex("d") },
    ];
    const reversed = [...files].reverse();
    const [py, pyReversed] = pythonDigests([files, reversed]);
    assert.strictEqual(py, manifestDigest(files));
    assert.strictEqual(pyReversed, py);
  });

  it("equals manifestDigest for arbitrary manifests (property)", () => {
    const entry = fc.record({
      path: fc
        .string({ unit: "binary", minLength: 1, maxLength: 12 })
        .filter((p) => !/[\uD800-\uDFFF]/.test(p.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""))),
      size: fc.nat(),
      sha256: fc.string({ minLength: 64, maxLength: 64 }).map(hex),
    });
    const cases = fc.sample(fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 8 }), 60);
    assert.deepStrictEqual(
      pythonDigests(cases),
      cases.map((c) => manifestDigest(c)),
    );
  });

  it("the files of a directory, as quant_lifecycle lists them, digest as the engine's entries for the same bytes", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "digest-"));
    try {
      const files: Record<string, string> = {
        MLmodel: "flavors: {}\n",
        "notes/précision ✓.txt": "0.87\n",
        "model/😀.bin": "",
        registered_model_meta: "x",
      };
      for (const [p, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
        fs.writeFileSync(path.join(dir, p), text);
      }
      const py = execFileSync(
        path.join(VENV_BIN, "python"),
        [
          "-c",
          "import sys\nfrom quant_lifecycle.validation import manifest, manifest_digest\nprint(manifest_digest(manifest(sys.argv[1])))",
          dir,
        ],
        { encoding: "utf8", env: { ...process.env, PYTHONPATH: path.join(PROJECT_DIR, "python") } },
      ).trim();
      const entries = Object.entries(files)
        .filter(([p]) => p !== "registered_model_meta") // MLflow's local download note, not a model file
        .map(([p, text]) => ({ path: p, size: Buffer.byteLength(text), sha256: hex(text) }));
      assert.strictEqual(py, manifestDigest(entries));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("validate and sign-off: the workspace as --from names it, for MLflow's Python client", () => {
  const base = { PATH: "/usr/bin", DATABRICKS_TOKEN: "dapi-mine", DATABRICKS_HOST: "https://elsewhere.cloud.databricks.com" };
  const pick = (e: NodeJS.ProcessEnv) =>
    Object.fromEntries(
      [
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "MLFLOW_TRACKING_TOKEN",
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CONFIG_PROFILE",
      ]
        .filter((k) => e[k] !== undefined)
        .map((k) => [k, e[k]]),
    );
  const table: [string, NodeJS.ProcessEnv, Record<string, string>][] = [
    [
      "https://adb-1.azuredatabricks.net",
      base,
      {
        MLFLOW_TRACKING_URI: "databricks",
        MLFLOW_REGISTRY_URI: "databricks",
        DATABRICKS_HOST: "https://adb-1.azuredatabricks.net",
        DATABRICKS_TOKEN: "dapi-mine",
      },
    ],
    [
      "databricks+http://127.0.0.1:8000",
      { ...base, DATABRICKS_CONFIG_PROFILE: "stale" },
      {
        MLFLOW_TRACKING_URI: "databricks",
        MLFLOW_REGISTRY_URI: "databricks",
        DATABRICKS_HOST: "http://127.0.0.1:8000",
        DATABRICKS_TOKEN: "dapi-mine",
      },
    ],
    [
      "databricks-uc+http://127.0.0.1:8000",
      base,
      {
        MLFLOW_TRACKING_URI: "databricks",
        MLFLOW_REGISTRY_URI: "databricks-uc",
        DATABRICKS_HOST: "http://127.0.0.1:8000",
        DATABRICKS_TOKEN: "dapi-mine",
      },
    ],
    [
      "http://127.0.0.1:5000",
      { ...base, MLFLOW_TRACKING_TOKEN: "t" },
      { MLFLOW_TRACKING_URI: "http://127.0.0.1:5000", MLFLOW_REGISTRY_URI: "http://127.0.0.1:5000", MLFLOW_TRACKING_TOKEN: "t" },
    ],
  ];
  for (const [from, env, want] of table)
    it(`--from ${from}: ${JSON.stringify(Object.keys(want))}`, () => {
      const got = pick(lifecycleEnv(from, env));
      if (!want.DATABRICKS_HOST) delete got.DATABRICKS_TOKEN; // inherited, unused by an OSS server
      assert.deepStrictEqual(got, want);
    });

  it("--from databricks://<profile>: the SDK reads the profile itself; the shell's host and token do not leak in", () => {
    const cfg = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "dbcfg-")), "cfg");
    fs.writeFileSync(cfg, "[grace]\nhost = http://127.0.0.1:9\ntoken = dapi-grace\n");
    const got = pick(lifecycleEnv("databricks://grace", { ...base, DATABRICKS_CONFIG_FILE: cfg }));
    assert.deepStrictEqual(got, {
      MLFLOW_TRACKING_URI: "databricks",
      MLFLOW_REGISTRY_URI: "databricks",
      DATABRICKS_CONFIG_PROFILE: "grace",
    });
  });

  it("metric and threshold: the options, else the model's validation, else precision and 0.8", () => {
    const m = { validation: { in: "quant_stg", metric: "recall", threshold: 0.75, signers: ["consumer"] } } as unknown as ManagedModel;
    assert.deepStrictEqual(validationDefaults(m, {}), { metric: "recall", threshold: "0.75" });
    assert.deepStrictEqual(validationDefaults(m, { threshold: "0.9" }), { metric: "recall", threshold: "0.9" });
    assert.deepStrictEqual(validationDefaults(undefined, {}), { metric: "precision", threshold: "0.8" });
  });

  it("the human summary: verdict, value against threshold, run, data sha256, digest and where the report is", () => {
    const text = renderValidation({
      run_id: "a".repeat(32),
      verdict: "failed",
      value: 0.7526881,
      threshold: 0.8,
      metric: "precision",
      model: "quant-alpha-transformer",
      version: "3",
      manifest_digest: "d".repeat(64),
      data_sha256: "5".repeat(64),
      predictions: "model",
      experiment_id: "7",
      report: "dbfs:/databricks/mlflow-tracking/7/run/artifacts/validation_report.md",
    });
    assert.strictEqual(
      text,
      [
        "quant-alpha-transformer version 3: FAILED, precision 0.7527 < 0.8",
        `  run          ${"a".repeat(32)} (experiment 7)`,
        "  predictions  scored with the version loaded through MLflow pyfunc",
        `  data sha256  ${"5".repeat(64)}`,
        `  digest       ${"d".repeat(64)} (the version's files as downloaded and scored)`,
        "  report       dbfs:/databricks/mlflow-tracking/7/run/artifacts/validation_report.md",
      ].join("\n"),
    );
  });

  it("a Python failure is reported as its one error line, MLflow's log lines left out", () => {
    const stderr = "2026/12/05 INFO mlflow: Creating experiment\nerror: label column 'y' is not in s.csv; columns found: text, label\n";
    assert.strictEqual(pythonError(stderr, 1), "label column 'y' is not in s.csv; columns found: text, label");
    assert.match(pythonError("Traceback ...\nKeyError: 'x'\n", 2), /^quant_lifecycle exited 2: Traceback \.\.\. KeyError: 'x'$/);
  });
});
