import * as pulumi from "@pulumi/pulumi";
import * as github from "@pulumi/github";

/**
 * An explicit GitHub provider for the repository's owner (an organization: teams need one). The token is the
 * stack secret quant-platform:githubToken when set, else the provider's own GITHUB_TOKEN lookup. A Git URL other
 * than https://github.com is GitHub Enterprise Server, whose API the provider finds at `<url>/api/v3/`.
 */
export function githubProvider(name: string, git: { project: string; url: string }, config = new pulumi.Config()): github.Provider {
  const host = new URL(git.url).hostname;
  const enterprise = host !== "github.com" && host !== "www.github.com";
  return new github.Provider(name, {
    owner: git.project.split("/")[0],
    token: config.getSecret("githubToken"),
    ...(enterprise ? { baseUrl: `${git.url.replace(/\/+$/, "")}/` } : {}),
  });
}
