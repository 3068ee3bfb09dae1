import * as pulumi from "@pulumi/pulumi";
import * as github from "@pulumi/github";

/**
 * An explicit GitHub provider for the repository's owner. The token is the stack secret
 * quant-platform:githubToken when set, else the provider's own GITHUB_TOKEN lookup.
 */
export function githubProvider(name: string, project: string, config = new pulumi.Config()): github.Provider {
  return new github.Provider(name, { owner: project.split("/")[0], token: config.getSecret("githubToken") });
}
