/**
 * The GitLab dynamic resources. Thin: each pairs a resource kind with the one shared provider.
 */
import * as pulumi from "@pulumi/pulumi";
import { gitlabProvider } from "./reconcile";
import {
  approvalRule, ApprovalRuleInputs, approvalSettings, ApprovalSettingsInputs, mergeChecks, MergeChecksInputs,
  MemberInputs, projectMember, protectedBranch, ProtectedBranchInputs,
} from "./resources";

type Args<T> = { [K in keyof T]: pulumi.Input<T[K]> };

export const providers = {
  projectMember: gitlabProvider(projectMember),
  protectedBranch: gitlabProvider(protectedBranch),
  approvalSettings: gitlabProvider(approvalSettings),
  approvalRule: gitlabProvider(approvalRule),
  mergeChecks: gitlabProvider(mergeChecks),
};

export class GitLabProjectMember extends pulumi.dynamic.Resource {
  constructor(name: string, args: Args<MemberInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providers.projectMember, name, args, opts, "gitlab", "ProjectMember");
  }
}
export class GitLabProtectedBranch extends pulumi.dynamic.Resource {
  constructor(name: string, args: Args<ProtectedBranchInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providers.protectedBranch, name, args, opts, "gitlab", "ProtectedBranch");
  }
}
export class GitLabApprovalSettings extends pulumi.dynamic.Resource {
  constructor(name: string, args: Args<ApprovalSettingsInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providers.approvalSettings, name, args, opts, "gitlab", "ApprovalSettings");
  }
}
export class GitLabApprovalRule extends pulumi.dynamic.Resource {
  constructor(name: string, args: Args<ApprovalRuleInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providers.approvalRule, name, args, opts, "gitlab", "ApprovalRule");
  }
}
export class GitLabMergeChecks extends pulumi.dynamic.Resource {
  constructor(name: string, args: Args<MergeChecksInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providers.mergeChecks, name, args, opts, "gitlab", "MergeChecks");
  }
}
