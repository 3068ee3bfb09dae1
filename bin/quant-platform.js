#!/usr/bin/env node
// The quant-platform binary. Runs the compiled JavaScript in dist/; when a source file is newer than the
// build (a developer's edit, or a fresh clone), it rebuilds first with tsc. A stat of the sources costs a
// few milliseconds; ts-node's start-up, which this replaces, cost about a second per invocation.
"use strict";
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "..");
const entry = path.join(root, "dist", "cli", "index.js");
const SOURCES = ["cli", "clients", "config", "devenv", "migration", "plan", "tsconfig.build.json", "package-lock.json"];

function newest(p) {
  let st;
  try { st = fs.statSync(p); } catch { return 0; }
  if (!st.isDirectory()) return p.endsWith(".ts") || p.endsWith(".json") ? st.mtimeMs : 0;
  let m = 0;
  for (const name of fs.readdirSync(p)) m = Math.max(m, newest(path.join(p, name)));
  return m;
}

function built() {
  try { return fs.statSync(path.join(root, "dist", ".built")).mtimeMs; } catch { return 0; }
}

if (built() < Math.max(...SOURCES.map((s) => newest(path.join(root, s))))) {
  const { spawnSync } = require("child_process");
  process.stderr.write("quant-platform: building (tsc) ...\n");
  const r = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc", { paths: [root] }), "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" });
  if (r.status !== 0) {
    process.stderr.write("quant-platform: the build failed; fix the type errors above (npm run build)\n");
    process.exit(1);
  }
  fs.writeFileSync(path.join(root, "dist", ".built"), new Date().toISOString());
}
require(entry).main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
