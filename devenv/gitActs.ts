/**
 * Acting on the Git test servers as the team's members, each with their own token, through the official clients
 * (python-gitlab, PyGithub: devenv/python/gitlab_act.py, github_act.py), and the acts that cover the seed's Git
 * table: pushes (and force pushes) to each branch, a merge request on each of the 12 ordered pairs, and each
 * member's own merge request into each branch, merged with only their own approval, then with everyone else's.
 * What the answers should be is the tests' to say (tests/fixtures/gitTable.ts); `npm start` shows them.
 */
import { spawn } from "child_process";
import * as path from "path";
import { projectDir } from "../cli/command";

export interface GitAct {
  token: string;
  op: "commit" | "force" | "branch" | "open" | "approve" | "merge" | "close";
  branch?: string;
  ref?: string;
  file?: string;
  source?: string;
  target?: string;
  title?: string;
  /** "last": the merge request this run opened last. */
  iid?: number | "last";
}
export type GitAnswer = { ok: true; value: any } | { ok: false; status: number; message: string };

/** An answer in words: "allowed", or the refusal's status and the host's message. */
export const said = (a: GitAnswer): string => (a.ok ? "allowed" : `${a.status} ${a.message}`);

function actWith(script: string, request: object, caFile?: string): Promise<GitAnswer[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(projectDir(), ".venv", "bin", "python"), [path.join(projectDir(), "devenv", "python", script)], {
      env: { ...process.env, ...(caFile ? { REQUESTS_CA_BUNDLE: caFile } : {}) },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(out) as GitAnswer[]) : reject(new Error(`${script} exited ${code}: ${err.slice(-3000)}`)),
    );
    child.stdin.end(JSON.stringify(request));
  });
}

/** Runs the acts in order on a GitLab project, each as the person whose token it carries. */
export const actOnGitLab = (url: string, project: string, acts: GitAct[], caFile?: string) =>
  actWith("gitlab_act.py", { url: url.replace(/\/api\/v4$/, ""), project, acts }, caFile);
/** The same on a GitHub repository (`apiUrl`: the API root, e.g. https://host/api/v3). */
export const actOnGitHub = (apiUrl: string, repo: string, acts: GitAct[], caFile?: string) =>
  actWith("github_act.py", { url: apiUrl, repo, acts }, caFile);

export const BRANCHES = ["quant", "quant_stg", "quant_lr", "quant_live"];
/** The merge request each member merges into each branch: from their own branch into quant, then along the flow. */
const INTO: Record<string, string> = { quant: "", quant_stg: "quant", quant_lr: "quant_stg", quant_live: "quant_lr" };

export interface Member {
  id: string;
  roles: string[];
  gitUsername: string;
}
export type CellKind = "push" | "force" | "guard" | "approve-own" | "merge-alone" | "merge";
export interface Cell {
  who: string;
  kind: CellKind;
  /** The branch pushed or merged into; for "guard", the target. */
  branch: string;
  /** For "guard": the merge request's source. */
  source?: string;
  /** Whether the answer means the act went through (for "guard": the branch-flow pipeline passed). */
  passed: (a: GitAnswer) => boolean;
}
export const describeCell = (c: Cell): string =>
  ({
    push: `push to ${c.branch}`,
    force: `force-push to ${c.branch}`,
    guard: `merge request ${c.source} -> ${c.branch} passes the branch-flow guard`,
    "approve-own": `approve own merge request into ${c.branch}`,
    "merge-alone": `merge own into ${c.branch} with only own approval`,
    merge: `merge own into ${c.branch} with others' approvals`,
  })[c.kind];

/**
 * The acts, in order, and the cell each decides (undefined for the acts that only set a cell up: closing, others'
 * approvals). `featureBranches` false: the host lets nobody create branches (GitHub's "other branches" ruleset),
 * so the merge into quant from one's own branch is not acted.
 */
export function gitTableActs(
  roster: Member[],
  tokenOf: (m: Member) => string,
  featureBranches: boolean,
): { acts: GitAct[]; cells: (Cell | undefined)[] } {
  const acts: GitAct[] = [];
  const cells: (Cell | undefined)[] = [];
  const ok = (a: GitAnswer) => a.ok;
  const act = (a: GitAct, c?: Omit<Cell, "passed"> & { passed?: Cell["passed"] }) => {
    acts.push(a);
    cells.push(c && { ...c, passed: c.passed ?? ok });
  };
  for (const m of roster) {
    const t = tokenOf(m);
    for (const b of BRANCHES) {
      act({ token: t, op: "commit", branch: b, file: `${m.id}/${b}.py` }, { who: m.id, kind: "push", branch: b });
      act({ token: t, op: "force", branch: b, file: `${m.id}/${b}-forced.py` }, { who: m.id, kind: "force", branch: b });
    }
    for (const s of BRANCHES)
      for (const d of BRANCHES.filter((x) => x !== s)) {
        act(
          { token: t, op: "open", source: s, target: d, title: `${s} -> ${d}` },
          { who: m.id, kind: "guard", branch: d, source: s, passed: (x) => x.ok && x.value.pipeline === "success" },
        );
        act({ token: t, op: "close", iid: "last" });
      }
    if (featureBranches) {
      act({ token: t, op: "branch", branch: `feature/${m.gitUsername}`, ref: "quant" });
      act({ token: t, op: "commit", branch: `feature/${m.gitUsername}`, file: `${m.id}/feature.py` });
    }
    for (const b of BRANCHES.filter((x) => featureBranches || INTO[x])) {
      const source = INTO[b] || `feature/${m.gitUsername}`;
      act({ token: t, op: "open", source, target: b, title: `${m.id}: ${source} -> ${b}` });
      act({ token: t, op: "approve", iid: "last" }, { who: m.id, kind: "approve-own", branch: b });
      act({ token: t, op: "merge", iid: "last" }, { who: m.id, kind: "merge-alone", branch: b });
      for (const o of roster.filter((x) => x.id !== m.id)) act({ token: tokenOf(o), op: "approve", iid: "last" });
      act({ token: t, op: "merge", iid: "last" }, { who: m.id, kind: "merge", branch: b });
      act({ token: t, op: "close", iid: "last" });
    }
  }
  return { acts, cells };
}

/** One line per member: what went through, acted out. */
export function renderGitTable(roster: Member[], cells: (Cell | undefined)[], answers: GitAnswer[]): string[] {
  return roster.map((m) => {
    const mine = cells
      .map((c, i) => (c && c.who === m.id ? { c, passed: c.passed(answers[i]) } : undefined))
      .filter((x) => x !== undefined);
    const list = (kind: CellKind, f: (c: Cell) => string) => mine.filter((x) => x.c.kind === kind && x.passed).map((x) => f(x.c));
    const none = (l: string[]) => (l.length ? l.join(", ") : "nowhere");
    const refusedAll = (kind: CellKind) => mine.filter((x) => x.c.kind === kind).every((x) => !x.passed);
    return [
      `${m.id} (${m.roles.join(", ")}):`,
      `push ${none(list("push", (c) => c.branch))};`,
      `force-push ${none(list("force", (c) => c.branch))};`,
      `guard passes ${none(list("guard", (c) => `${c.source}->${c.branch}`))};`,
      `own approval ${refusedAll("approve-own") ? "refused" : "ACCEPTED"}, merged alone ${none(list("merge-alone", (c) => c.branch))};`,
      `merges with others' approvals into ${none(list("merge", (c) => c.branch))}`,
    ].join(" ");
  });
}
