import * as path from "path";
import { PolicyPack } from "@pulumi/policy";
import { quantPolicies, quantStackPolicies } from "./policies";
import { projectPolicyConfig } from "./projectConfig";

// `pulumi preview --policy-pack policy` runs this from the policy/ folder: the project is its parent.
const configOf = projectPolicyConfig(path.resolve(__dirname, ".."));
new PolicyPack("quant-platform", { policies: [...quantPolicies(configOf), ...quantStackPolicies(configOf)] });
