#!/usr/bin/env node
// The quant-platform binary. Runs the compiled JavaScript in dist/; when a source file is newer than the
// build (a developer's edit, or a fresh clone), it rebuilds first with tsc. A stat of the sources costs a
// few milliseconds; ts-node's start-up, which this replaces, cost about a second per invocation.
// Concurrent invocations (parallel CI jobs after a change) build once: the first takes a lock folder, the
// others wait for it and then find the build fresh.
"use strict";
// The AWS SDK warns once per process that it will require a newer Node in a future release; the project's
// engines range is its own, and the warning would otherwise land in every migration's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "..");
const dist = path.join(root, "dist");
const stamp = path.join(dist, ".built");
const lock = path.join(root, ".build-lock");
const SOURCES = ["cli", "clients", "config", "devenv", "migration", "plan", "tsconfig.json", "tsconfig.build.json", "package-lock.json"];

function newest(p) {
  let st;
  try {
    st = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return p.endsWith(".ts") || p.endsWith(".json") ? st.mtimeMs : 0;
  let m = 0;
  for (const name of fs.readdirSync(p)) m = Math.max(m, newest(path.join(p, name)));
  return m;
}

const stale = () => {
  let built = 0;
  try {
    built = fs.statSync(stamp).mtimeMs;
  } catch {
    // never built
  }
  return built < Math.max(...SOURCES.map((s) => newest(path.join(root, s))));
};

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function build() {
  for (let waited = 0; ; waited += 100) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
      // Another invocation is building; a lock older than 5 minutes was left by a killed build.
      if (waited > 300000 || Date.now() - fs.statSync(lock).mtimeMs > 300000) fs.rmSync(lock, { recursive: true, force: true });
      sleep(100);
    }
  }
  try {
    if (!stale()) return;
    const { spawnSync } = require("child_process");
    process.stderr.write("quant-platform: building (tsc) ...\n");
    const tsc = require.resolve("typescript/bin/tsc", { paths: [root] });
    const r = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" });
    if (r.status !== 0) return false;
    fs.writeFileSync(stamp, new Date().toISOString());
  } finally {
    // Released before any exit: a failed build must not leave the next invocations waiting for a lock.
    fs.rmSync(lock, { recursive: true, force: true });
  }
  return true;
}

if (stale() && build() === false) {
  process.stderr.write("quant-platform: the build failed; fix the type errors above (npm run build)\n");
  process.exit(1);
}
require(path.join(dist, "cli", "index.js"))
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
