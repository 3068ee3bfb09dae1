/**
 * Where the policy pack's config comes from: the project's own configuration (Pulumi.yaml and the stack
 * files), validated and planned exactly as the program does, for the stack each resource belongs to.
 */
import { readConfigSources } from "../config/load";
import { validate } from "../config/validate";
import { buildAccessPlan } from "../plan/accessPlan";
import { PolicyConfigSource, QuantPolicyConfig, quantPolicyConfig, stackOfUrn } from "./policies";

/**
 * A PolicyConfigSource reading the project in `projectDir`. Each stack's configuration is read, validated
 * and planned once, on its first resource; invalid configuration fails the run with the ConfigError that
 * `pulumi up` would give.
 */
export function projectPolicyConfig(projectDir: string): PolicyConfigSource {
  const byStack = new Map<string, QuantPolicyConfig>();
  return (args) => {
    const stack = stackOfUrn(args.urn);
    let c = byStack.get(stack);
    if (!c) {
      c = quantPolicyConfig(buildAccessPlan(validate(readConfigSources(projectDir), stack), stack));
      byStack.set(stack, c);
    }
    return c;
  };
}
