/** `organization`: group prefix, the Git folder roots, shared Git folders and Unity Catalog privileges. */
import { GitFolder, Organization, REGISTRY_LEVELS, RegistryLevel, UC_MODEL_PRIVILEGES, UcModelPrivilege } from "../schema";
import { duplicates, identityOf } from "../identity";
import { Ctx, list, obj, oneOf, str } from "./check";

const DATABRICKS_GIT_PROVIDERS = [
  "gitHub",
  "gitHubEnterprise",
  "gitLab",
  "gitLabEnterpriseEdition",
  "bitbucketCloud",
  "bitbucketServer",
  "azureDevOpsServices",
  "awsCodeCommit",
];

export function validateOrganization(c: Ctx, v: unknown): Organization | undefined {
  const o = obj(
    c,
    "organization",
    v,
    ["groupPrefix", "gitFolderRoot", "sharedGitFolderRoot", "experimentFolder", "ucPrivileges"],
    ["gitFolders"],
  );
  if (!o) return undefined;
  const absPath = /^\/[^\s]*[^/]$/;
  const gitFolders = list<GitFolder>(c, "organization.gitFolders", o.gitFolders, (x, p) => {
    const g = obj(c, p, x, ["name", "url", "provider"]);
    if (!g) return undefined;
    const name = str(c, `${p}.name`, g.name, "a folder name of letters, digits, '.', '_' or '-'", /^[A-Za-z0-9._-]+$/);
    const url = str(c, `${p}.url`, g.url, "an https URL of a Git repository", /^https:\/\/\S+$/);
    const provider = oneOf(c, `${p}.provider`, g.provider, DATABRICKS_GIT_PROVIDERS);
    return name && url && provider ? { name, url, provider } : undefined;
  });
  const ucPrivileges = {} as Record<RegistryLevel, UcModelPrivilege[]>;
  const up = obj(c, "organization.ucPrivileges", o.ucPrivileges, [...REGISTRY_LEVELS]);
  if (up) {
    for (const level of REGISTRY_LEVELS) {
      ucPrivileges[level] = list(c, `organization.ucPrivileges.${level}`, up[level], (x, p) => oneOf(c, p, x, UC_MODEL_PRIVILEGES), false);
    }
  }
  const groupPrefix = str(c, "organization.groupPrefix", o.groupPrefix, "a group name prefix such as 'quant-'", /^[A-Za-z0-9._-]+$/);
  const gitFolderRoot = str(
    c,
    "organization.gitFolderRoot",
    o.gitFolderRoot,
    "an absolute workspace path such as /Teams/quant/git",
    absPath,
  );
  const sharedGitFolderRoot = str(
    c,
    "organization.sharedGitFolderRoot",
    o.sharedGitFolderRoot,
    "an absolute workspace path such as /Teams/quant/shared",
    absPath,
  );
  if (gitFolderRoot && sharedGitFolderRoot && (sharedGitFolderRoot + "/").startsWith(gitFolderRoot + "/")) {
    c.bad(
      "organization.sharedGitFolderRoot",
      sharedGitFolderRoot,
      `a folder outside gitFolderRoot (${gitFolderRoot}), whose CAN_MANAGE every shared Git folder would otherwise inherit`,
    );
  }
  // Shared Git folders all sit in sharedGitFolderRoot, so their planned paths differ exactly when their names do.
  for (const d of duplicates(
    "gitFolder",
    gitFolders.map((g) => ({ path: `${sharedGitFolderRoot ?? ""}/${g.name}` })),
  )) {
    c.say(
      `organization.gitFolders[${d.index}]`,
      `Git folder '${gitFolders[d.index].name}' is declared twice (as organization.gitFolders[${d.first}] too); a Git folder is identified by ${identityOf("gitFolder")} ${d.key}`,
    );
  }
  const experimentFolder = str(
    c,
    "organization.experimentFolder",
    o.experimentFolder,
    "an absolute workspace path such as /Teams/quant/experiments",
    absPath,
  );
  if (!groupPrefix || !gitFolderRoot || !sharedGitFolderRoot || !experimentFolder) return undefined;
  return { groupPrefix, gitFolderRoot, sharedGitFolderRoot, experimentFolder, gitFolders, ucPrivileges };
}
