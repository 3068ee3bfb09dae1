/**
 * The GitLab dynamic resources. Thin: each pairs a resource kind with the one shared provider.
 */
import * as pulumi from "@pulumi/pulumi";
import { gitlabProvider } from "./reconcile";
import {
  approvalRule,
  ApprovalRuleInputs,
  approvalSettings,
  ApprovalSettingsInputs,
  mergeChecks,
  MergeChecksInputs,
  MembersInputs,
  projectMembers,
  protectedBranch,
  ProtectedBranchInputs,
} from "./resources";

type Args<T> = { [K in keyof T]: pulumi.Input<T[K]> };

export const providers = {
  projectMembers: gitlabProvider(projectMembers),
  protectedBranch: gitlabProvider(protectedBranch),
  approvalSettings: gitlabProvider(approvalSettings),
  approvalRule: gitlabProvider(approvalRule),
  mergeChecks: gitlabProvider(mergeChecks),
};

/** A resource class of type `pulumi-nodejs:dynamic/gitlab:<type>` served by `provider`. */
function resourceClass<I>(provider: pulumi.dynamic.ResourceProvider, type: string) {
  return class extends pulumi.dynamic.Resource {
    constructor(name: string, args: Args<I>, opts?: pulumi.CustomResourceOptions) {
      super(provider, name, args, opts, "gitlab", type);
    }
  };
}

export const GitLabProjectMembers = resourceClass<MembersInputs>(providers.projectMembers, "ProjectMembers");
export const GitLabProtectedBranch = resourceClass<ProtectedBranchInputs>(providers.protectedBranch, "ProtectedBranch");
export type GitLabProtectedBranch = InstanceType<typeof GitLabProtectedBranch>;
export const GitLabApprovalSettings = resourceClass<ApprovalSettingsInputs>(providers.approvalSettings, "ApprovalSettings");
export const GitLabApprovalRule = resourceClass<ApprovalRuleInputs>(providers.approvalRule, "ApprovalRule");
export const GitLabMergeChecks = resourceClass<MergeChecksInputs>(providers.mergeChecks, "MergeChecks");
