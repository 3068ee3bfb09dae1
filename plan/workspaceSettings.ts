/**
 * A workspace's Git folder settings as plan entries: one workspace-conf key each, with the string value Databricks
 * stores (the API takes and answers strings only). Pure.
 */
import { GitFolderSettings } from "../config/schema";
import { keyed } from "./identity";

/** The workspace-conf keys behind Databricks Git folders. */
export const GIT_FOLDER_KEYS = {
  enabled: "enableProjectTypeInWorkspace",
  allowListOn: "enableProjectsAllowList",
  allowList: "projectsAllowList",
} as const;

export interface WorkspaceSettingEntry {
  key: string;
  /** The workspace-conf key. */
  setting: string;
  /** Its value, as the API stores it ("true", "false", or a comma-separated list). */
  value: string;
  /** What it governs, in words, for the plan view and the doctor. */
  purpose: string;
}

/** The workspace-conf entries for a stack's Git folder settings. */
export function gitFolderSettingEntries(g: GitFolderSettings): WorkspaceSettingEntry[] {
  return keyed("workspaceSetting", [
    { setting: GIT_FOLDER_KEYS.enabled, value: String(g.enabled), purpose: "Git folders enabled" },
    {
      setting: GIT_FOLDER_KEYS.allowListOn,
      value: String(!!g.allowList),
      purpose: g.allowList ? "Git URL allow list in use" : "no Git URL allow list",
    },
    ...(g.allowList ? [{ setting: GIT_FOLDER_KEYS.allowList, value: g.allowList.join(","), purpose: "Git URL prefixes allowed" }] : []),
  ]);
}

/** The prefixes of a comma-separated allow list value (blanks dropped). */
export const allowListPrefixes = (value: string | null | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
