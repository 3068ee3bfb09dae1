/**
 * Posts a stack's merge-request preview (the access diff and `pulumi preview --diff`) as one note, and on
 * later pipelines updates that same note in place instead of adding another.
 * Runs in GitLab CI: CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID, and GITLAB_TOKEN (a CI variable).
 */
import * as fs from "fs";
import { gitlabApi } from "../clients/gitlab";
import { Command, parseArgs, UsageError } from "./command";

export const marker = (stack: string) => `<!-- quant-platform preview: ${stack} -->`;

export function noteBody(stack: string, access: string, preview: string | undefined): string {
  const fence =
    preview === undefined
      ? ""
      : `\n<details><summary>pulumi preview --diff (${stack})</summary>\n\n\`\`\`\n${preview.slice(-60000)}\n\`\`\`\n</details>\n`;
  return `${marker(stack)}\n${access.trim()}\n${fence}`;
}

export async function mrNote(argv: string[], env: NodeJS.ProcessEnv): Promise<"created" | "updated"> {
  const a = parseArgs(argv, ["stack", "access", "preview"]);
  if (typeof a.stack !== "string" || typeof a.access !== "string") throw new UsageError("--stack and --access are required");
  const need = ["CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "GITLAB_TOKEN"].filter((k) => !env[k]);
  if (need.length) throw new UsageError(`missing ${need.join(", ")} (run in a GitLab merge request pipeline)`);
  const api = gitlabApi({ baseUrl: env.CI_API_V4_URL!, project: env.CI_PROJECT_ID!, token: env.GITLAB_TOKEN! });
  const body = noteBody(
    a.stack,
    fs.readFileSync(a.access, "utf8"),
    typeof a.preview === "string" ? fs.readFileSync(a.preview, "utf8") : undefined,
  );
  const notes = `${api.project}/merge_requests/${env.CI_MERGE_REQUEST_IID}/notes`;
  const what = `merge request !${env.CI_MERGE_REQUEST_IID} preview note`;
  const existing = (await api.list<{ id: number; body: string }>(notes, what)).find((n) => n.body.startsWith(marker(a.stack as string)));
  if (existing) {
    await api.put(`${notes}/${existing.id}`, what, { body });
    return "updated";
  }
  await api.post(notes, what, { body });
  return "created";
}

const USAGE = `usage: quant-platform mr-note --stack <stack> --access <access.md> [--preview <preview.txt>]

Posts a stack's merge-request preview (the access diff and \`pulumi preview --diff\`) as one note, and
updates that same note on later pipelines. Runs in GitLab CI: needs CI_API_V4_URL, CI_PROJECT_ID,
CI_MERGE_REQUEST_IID and GITLAB_TOKEN.
Exit 0: note created or updated; 1: GitLab refused; 2: usage error.`;

export const command: Command = {
  name: "mr-note",
  usage: USAGE,
  run: async (argv) => {
    console.log(`${await mrNote(argv, process.env)} the preview note`);
    return 0;
  },
};
