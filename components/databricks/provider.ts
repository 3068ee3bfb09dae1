import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { StackConfig } from "../../config/schema";

/** Secret credentials as Pulumi secrets; absent ones fall back to the provider's own environment lookup. */
export interface DatabricksCredentials {
  token?: pulumi.Output<string>;
  clientId?: pulumi.Output<string>;
  clientSecret?: pulumi.Output<string>;
}

/** Reads the stack's credentials from Pulumi config as secrets, as the validated auth kind says. */
export function databricksCredentials(stack: StackConfig, config = new pulumi.Config()): DatabricksCredentials {
  switch (stack.auth.kind) {
    case "token":
      return { token: config.requireSecret(stack.auth.key) };
    case "oauth-m2m":
      return { clientId: config.requireSecret(stack.auth.clientIdKey), clientSecret: config.requireSecret(stack.auth.clientSecretKey) };
    case "environment":
      return {};
  }
}

/** One explicit Databricks provider per stack, so no resource ever falls back to ambient default config. */
export function databricksProvider(name: string, stack: StackConfig, creds: DatabricksCredentials): databricks.Provider {
  return new databricks.Provider(name, {
    host: stack.host,
    token: creds.token,
    clientId: creds.clientId,
    clientSecret: creds.clientSecret,
    authType: stack.auth.kind === "token" ? "pat" : stack.auth.kind === "oauth-m2m" ? "oauth-m2m" : undefined,
    retryTimeoutSeconds: stack.retryTimeoutSeconds,
  });
}
