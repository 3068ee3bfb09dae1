import { stopEmulators } from "./fixtures/cloudEmulators";
import { stopLiveServers } from "./fixtures/liveServers";

// As the CLI does (bin/quant-platform.js): the AWS SDK's notice about future Node versions is not test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** Root hooks: the shared MLflow servers and cloud-store emulators are always torn down, whatever failed. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60000);
    await Promise.all([stopLiveServers(), stopEmulators()]);
  },
};
