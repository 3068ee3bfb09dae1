/**
 * A GitHub repository's branch rights as its REST API reports them (never a server's memory): the organization's
 * teams and their members, who may write to the repository (collaborators, affiliation all), and the repository's
 * rulesets, evaluated as GitHub evaluates them for one person on one branch:
 * - every active ruleset whose conditions include the branch applies, and their rules add up;
 * - a bypass actor skips every rule of that ruleset: `always` for direct pushes and pull requests,
 *   `pull_request` for merging a pull request only;
 * - merging, and an approval that counts, need write on the repository; `required_reviewers` counts only the
 *   named team's approvals.
 */

/** A GET of an API path (e.g. `/orgs/quant/teams?per_page=100&page=1`) returning its JSON body. */
export type GitHubGet = <T>(path: string) => Promise<T>;

export interface BranchRights {
  push: boolean;
  merge: boolean;
  approve: boolean;
}

interface Ruleset {
  id: number;
  name: string;
  enforcement: string;
  conditions?: { ref_name?: { include?: string[]; exclude?: string[] } };
  rules?: { type: string; parameters?: { required_reviewers?: { reviewer: { id: number } }[] } & Record<string, unknown> }[];
  bypass_actors?: { actor_id: number | null; actor_type: string; bypass_mode: string }[];
}

export interface GitHubReadback {
  /** Team name -> member logins (sorted). */
  teams: Record<string, string[]>;
  /** Rulesets by name, as the API returns them. */
  rulesets: Record<string, Ruleset>;
  rights(login: string, branch: string): BranchRights;
}

/** Reads `owner/repo` through `get` (the API root and token are the getter's). */
export async function readGitHubRights(get: GitHubGet, repo: string): Promise<GitHubReadback> {
  const all = async <T>(p: string): Promise<T[]> => {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const rows = await get<T[]>(`${p}${p.includes("?") ? "&" : "?"}per_page=100&page=${page}`);
      out.push(...rows);
      if (rows.length < 100) return out;
    }
  };
  const org = repo.split("/")[0];
  const teamRows = await all<{ id: number; slug: string; name: string }>(`/orgs/${org}/teams`);
  const teams: Record<string, string[]> = {};
  const teamsOf = new Map<string, Set<number>>();
  for (const t of teamRows) {
    const members = (await all<{ login: string }>(`/orgs/${org}/teams/${t.slug}/members`)).map((m) => m.login.toLowerCase());
    teams[t.name] = [...members].sort();
    for (const m of members) teamsOf.set(m, (teamsOf.get(m) ?? new Set()).add(t.id));
  }
  const writers = new Set(
    (await all<{ login: string; permissions: { push: boolean } }>(`/repos/${repo}/collaborators?affiliation=all`))
      .filter((c) => c.permissions.push)
      .map((c) => c.login.toLowerCase()),
  );
  const rulesets: Record<string, Ruleset> = {};
  for (const r of await all<{ id: number }>(`/repos/${repo}/rulesets`)) {
    const full = await get<Ruleset>(`/repos/${repo}/rulesets/${r.id}`);
    rulesets[full.name] = full;
  }

  const rights = (login: string, branch: string): BranchRights => {
    const mine = teamsOf.get(login.toLowerCase()) ?? new Set<number>();
    const write = writers.has(login.toLowerCase());
    const ref = `refs/heads/${branch}`;
    const applies = Object.values(rulesets).filter((x) => {
      const inc = x.conditions?.ref_name?.include ?? [];
      const exc = x.conditions?.ref_name?.exclude ?? [];
      return x.enforcement === "active" && (inc.includes(ref) || inc.includes("~ALL")) && !exc.includes(ref);
    });
    const has = (x: Ruleset, type: string) => (x.rules ?? []).some((r) => r.type === type);
    const modes = (x: Ruleset) =>
      (x.bypass_actors ?? []).filter((a) => a.actor_type === "Team" && mine.has(Number(a.actor_id))).map((a) => a.bypass_mode);
    // A direct push passes a ruleset with nothing against it (a fast-forward), or one the person always bypasses.
    const push =
      write &&
      applies.every(
        (x) => !(has(x, "update") || has(x, "pull_request") || has(x, "required_status_checks")) || modes(x).includes("always"),
      );
    // Merging a pull request passes every update rule the person bypasses, always or through pull requests.
    const merge =
      push || (write && applies.every((x) => !has(x, "update") || modes(x).some((m) => m === "always" || m === "pull_request")));
    const reviews = applies.filter((x) => has(x, "pull_request"));
    const approve =
      write &&
      reviews.length > 0 &&
      reviews.every((x) =>
        ((x.rules ?? []).find((r) => r.type === "pull_request")!.parameters?.required_reviewers ?? []).every((rr) =>
          mine.has(Number(rr.reviewer.id)),
        ),
      );
    return { push, merge, approve };
  };
  return { teams, rulesets, rights };
}
