/**
 * A stack's Git folder settings, `workspace.gitFolders` in Pulumi.<stack>.yaml:
 *
 *   gitFolders: { enabled: true, allowList: [https://gitlab.quantfirm.example/quant/] }
 *
 * `enabled` (default true) switches Databricks Git folders on; `allowList`, when given, makes the workspace accept
 * only Git URLs that start with one of its prefixes. Absent, the workspace uses no allow list.
 */
import { GitFolderSettings, Organization, StackConfig } from "../schema";
import { bool, Ctx, isObj, list, obj, str } from "./check";

const KEY = "workspace.gitFolders";

/** Reads `workspace.gitFolders` (undefined: the defaults, Git folders enabled and no allow list). */
export function validateGitFolderSettings(c: Ctx, v: unknown): GitFolderSettings {
  if (v === undefined) return { enabled: true };
  const g = obj(c, KEY, v, [], ["enabled", "allowList"]);
  if (!g || !isObj(g)) return { enabled: true };
  const enabled = bool(c, `${KEY}.enabled`, g.enabled, true);
  if (g.allowList === undefined) return { enabled };
  const allowList = list(
    c,
    `${KEY}.allowList`,
    g.allowList,
    (x, p) => str(c, p, x, "a Git URL prefix, like https://gitlab.example.com/group/", /^https:\/\/[^\s/]+(\/\S*)?$/),
    false,
  );
  if (!allowList.length) return { enabled }; // reported by list(); judging URLs against nothing would only repeat it
  if (allowList.length !== new Set(allowList).size) c.say(`${KEY}.allowList`, "lists a prefix twice; expected each prefix once");
  return { enabled, allowList };
}

/**
 * The settings must let the stack's own Git folders work: Git folders enabled while shared Git folders are declared,
 * and every declared Git folder URL on the allow list when one is used.
 */
export function checkGitFolderSettings(c: Ctx, s: StackConfig, organization: Organization | undefined): void {
  if (!organization) return;
  const folders = organization.gitFolders;
  if (!s.gitFolders.enabled && folders.length)
    c.say(
      `${KEY}.enabled`,
      `is false, but organization.gitFolders declares shared Git folders (${folders.map((f) => f.name).join(", ")}) that need Git folders enabled; set it to true (or remove the key)`,
    );
  const allow = s.gitFolders.allowList;
  if (!allow) return;
  for (const f of folders)
    if (!allow.some((p) => f.url.startsWith(p)))
      c.say(
        `${KEY}.allowList`,
        `does not allow ${f.url} (organization.gitFolders ${f.name}); add a prefix of it, like ${s.git.url}/${s.git.project.split("/")[0]}/`,
      );
}
