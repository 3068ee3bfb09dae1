import * as fs from "fs";
import * as path from "path";
import { stopEmulators } from "./fixtures/cloudEmulators";
import { stopLiveServers } from "./fixtures/liveServers";

// As the CLI does (bin/quant-platform.js): the AWS SDK's notice about future Node versions is not test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** Set in mocha's parallel workers, where root hooks run once per file rather than once per run. */
const inWorker = process.env.MOCHA_WORKER_ID !== undefined;
/** Where each worker notes the wall time of each file it ran (the reporter sees no timing in parallel mode). */
export const FILE_TIMES = path.resolve(__dirname, "..", "test-results", "file-times.jsonl");
let fileStarted = 0;

/**
 * Root hooks. In one process: the shared MLflow servers and cloud-store emulators are always torn down at the
 * end, whatever failed. In a parallel worker they serve every file the worker runs, and end with the worker
 * (their watchdogs end them when it exits, however it exits: devenv/processGroup.ts); the hooks time each file.
 */
export const mochaHooks = {
  beforeAll() {
    fileStarted = Date.now();
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60000);
    if (inWorker) {
      const root = this.test?.parent;
      const file = root?.suites.find((s) => s.file)?.file ?? root?.file;
      const tests = (s: Mocha.Suite): number => s.tests.length + s.suites.reduce((n, x) => n + tests(x), 0);
      if (file) {
        fs.mkdirSync(path.dirname(FILE_TIMES), { recursive: true });
        fs.appendFileSync(FILE_TIMES, `${JSON.stringify({ file, ms: Date.now() - fileStarted, tests: root ? tests(root) : 0 })}\n`);
      }
      return;
    }
    await Promise.all([stopLiveServers(), stopEmulators()]);
  },
};
