// Lint: typescript-eslint's recommended rules over every TypeScript file we ship, test and benchmark.
// Formatting is Prettier's job (npm run lint runs both); these rules are about correctness.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "dist/",
      "scratch/",
      ".venv/",
      ".venv-bench/",
      ".tools/",
      "bench/out/",
      "policy/node_modules/",
      "**/*.js",
      "!bin/*.js",
      "!eslint.config.mjs",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // A disable comment must still silence something, or it goes.
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      // Lazy loading of heavy modules (the CLI's subcommands, the dynamic providers' serialized closures) is deliberate.
      "@typescript-eslint/no-require-imports": "off",
    },
  },
  {
    // Tests and the test servers read and assert on untyped JSON documents and Pulumi property bags.
    files: ["tests/**/*.ts", "devenv/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: ["bin/*.js"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", process: "readonly", __dirname: "readonly" } },
  },
);
