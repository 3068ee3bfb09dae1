import * as path from "path";
import { PolicyPack } from "@pulumi/policy";
import { quantPolicies } from "./policies";
import { projectPolicyConfig } from "./projectConfig";

// `pulumi preview --policy-pack policy` runs this from the policy/ folder: the project is its parent.
new PolicyPack("quant-platform", { policies: quantPolicies(projectPolicyConfig(path.resolve(__dirname, ".."))) });
