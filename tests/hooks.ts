import { stopLiveServers } from "./fixtures/liveServers";

/** Root hooks: the shared MLflow servers are always torn down, whatever failed. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60000);
    await stopLiveServers();
  },
};
