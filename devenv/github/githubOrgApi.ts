/**
 * The organization side of the GitHub test server: the REST endpoints (API 2022-11-28, as GitHub Enterprise
 * Server serves them under /api/v3) that pulumi-resource-github calls for the resources the program declares,
 * with GitHub's documented fields, status codes and error bodies, and state kept so that reads return writes.
 * - GET    /orgs/{org}, /user, /users/{login}
 * - POST   /orgs/{org}/teams; GET /orgs/{org}/teams[/{slug}]; GET /orgs/{org}/teams/{slug}/members
 * - GET|PUT|DELETE /orgs/{org}/teams/{slug}/memberships/{login}
 * - GET|PATCH|DELETE /organizations/{org_id}/team/{team_id}; GET .../members
 * - GET|PUT|DELETE /organizations/{org_id}/team/{team_id}/memberships/{login}
 * - GET|PUT|DELETE /organizations/{org_id}/team/{team_id}/repos/{owner}/{repo}; GET .../repos
 * - GET    /repos/{owner}/{repo}; GET /repos/{owner}/{repo}/collaborators (affiliation, permission)
 * - GET|POST /repos/{owner}/{repo}/rulesets; GET|PUT|DELETE /repos/{owner}/{repo}/rulesets/{id}
 * Creating a team makes its creator a maintainer, as GitHub does (the provider then removes them).
 */

export interface Reply {
  status: number;
  body?: unknown;
}

export interface OrgTeam {
  id: number;
  slug: string;
  name: string;
  description: string | null;
  privacy: "secret" | "closed";
  notification_setting: string;
  /** login -> role */
  members: Map<string, "member" | "maintainer">;
  /** repository full name (lower case) -> permission (pull, triage, push, maintain, admin) */
  repos: Map<string, string>;
}

export interface OrgRepo {
  id: number;
  name: string;
  owner: string;
  /** login -> permission, for direct collaborators */
  collaborators: Map<string, string>;
  rulesets: Map<number, Record<string, unknown>>;
}

const DOCS = "https://docs.github.com/rest";
const PERMISSIONS = ["pull", "triage", "push", "maintain", "admin"];
const ROLE_NAME: Record<string, string> = { pull: "read", triage: "triage", push: "write", maintain: "maintain", admin: "admin" };
const RULE_TYPES = new Set([
  "creation",
  "update",
  "deletion",
  "required_linear_history",
  "required_signatures",
  "pull_request",
  "required_status_checks",
  "non_fast_forward",
  "required_deployments",
  "merge_queue",
]);

const notFound = (): Reply => ({ status: 404, body: { message: "Not Found", documentation_url: DOCS, status: "404" } });
const invalid = (resource: string, field: string, code: string, message?: string): Reply => ({
  status: 422,
  body: { message: message ?? "Validation Failed", errors: [{ resource, field, code }], documentation_url: DOCS, status: "422" },
});

class RulesetRefused extends Error {
  constructor(readonly reply: Reply) {
    super("ruleset refused");
  }
}

export class GitHubOrganization {
  readonly id = 4100 + Math.floor(Math.random() * 900);
  readonly users = new Map<string, { id: number; suspended: boolean }>();
  /** Organization owners (lower case): admin on every repository. */
  readonly owners = new Set<string>();
  readonly teams = new Map<number, OrgTeam>();
  readonly repos = new Map<string, OrgRepo>();
  private nextId = 1000;

  constructor(
    readonly login: string,
    private readonly url: () => string,
  ) {}

  addUser(login: string): void {
    this.users.set(login.toLowerCase(), { id: this.nextId++, suspended: false });
  }

  /** An organization repository (`owner/name`); teams need one (GitHub teams belong to organizations). */
  addRepository(fullName: string): OrgRepo {
    const [owner, name] = fullName.split("/");
    const repo: OrgRepo = { id: this.nextId++, name, owner, collaborators: new Map(), rulesets: new Map() };
    this.repos.set(fullName.toLowerCase(), repo);
    return repo;
  }

  teamBySlug(slug: string): OrgTeam | undefined {
    return [...this.teams.values()].find((t) => t.slug === slug.toLowerCase());
  }

  /** The reply to `method path`, or undefined when no route here matches (the caller answers). */
  handle(method: string, path: string, query: URLSearchParams, body: unknown, caller: string): Reply | undefined {
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    const [a, b, c, d, e] = parts;
    if (a === "user" && parts.length === 1 && method === "GET") return { status: 200, body: this.user(caller) };
    if (a === "users" && parts.length === 2 && method === "GET") {
      return this.users.has(b.toLowerCase()) ? { status: 200, body: this.user(b) } : notFound();
    }
    if (a === "orgs") {
      if (b.toLowerCase() !== this.login.toLowerCase()) return parts.length <= 6 ? notFound() : undefined;
      if (parts.length === 2 && method === "GET") return { status: 200, body: this.org() };
      if (c !== "teams") return undefined;
      if (parts.length === 3 && method === "POST") return this.createTeam(body, caller);
      if (parts.length === 3 && method === "GET")
        return this.page(
          query,
          [...this.teams.values()].map((t) => this.team(t)),
        );
      const team = d === undefined ? undefined : this.teamBySlug(d);
      if (!team) return parts.length <= 6 ? notFound() : undefined;
      return this.teamRoutes(team, method, parts.slice(4), query, body);
    }
    if (a === "organizations" && c === "team") {
      if (Number(b) !== this.id) return notFound();
      const team = this.teams.get(Number(d));
      if (!team) return notFound();
      return this.teamRoutes(team, method, parts.slice(4), query, body);
    }
    if (a === "repos" && parts.length >= 3) {
      const repo = this.repos.get(`${b}/${c}`.toLowerCase());
      if (!repo) return parts.length <= 5 ? notFound() : undefined;
      if (parts.length === 3 && method === "GET") return { status: 200, body: this.repo(repo) };
      if (d === "collaborators" && parts.length === 4 && method === "GET") return this.page(query, this.collaborators(repo, query));
      if (d === "rulesets") return this.rulesets(repo, method, e, body, caller);
    }
    return undefined;
  }

  private teamRoutes(team: OrgTeam, method: string, rest: string[], query: URLSearchParams, body: unknown): Reply | undefined {
    const [what, x, y] = rest;
    if (what === undefined) {
      if (method === "GET") return { status: 200, body: this.team(team) };
      if (method === "PATCH") return this.editTeam(team, body);
      if (method === "DELETE") {
        this.teams.delete(team.id);
        return { status: 204 };
      }
      return undefined;
    }
    if (what === "members" && rest.length === 1 && method === "GET") {
      const role = query.get("role") ?? "all";
      const rows = [...team.members].filter(([, r]) => role === "all" || r === role).map(([login]) => this.user(login));
      return this.page(query, rows);
    }
    if (what === "memberships" && rest.length === 2) {
      const login = x.toLowerCase();
      if (method === "GET") {
        const role = team.members.get(login);
        return role
          ? { status: 200, body: { url: `${this.url()}/teams/${team.id}/memberships/${login}`, role, state: "active" } }
          : notFound();
      }
      if (method === "PUT") {
        const user = this.users.get(login);
        if (!user) return notFound();
        const role = (body as { role?: string } | undefined)?.role ?? "member";
        if (role !== "member" && role !== "maintainer") return invalid("TeamMember", "role", "invalid");
        team.members.set(login, role);
        return { status: 200, body: { url: `${this.url()}/teams/${team.id}/memberships/${login}`, role, state: "active" } };
      }
      if (method === "DELETE") {
        if (!team.members.delete(login)) return notFound();
        return { status: 204 };
      }
    }
    if (what === "repos" && rest.length === 1 && method === "GET") {
      return this.page(
        query,
        [...team.repos].map(([full, p]) => ({ ...this.repo(this.repos.get(full)!), role_name: ROLE_NAME[p], permissions: this.flags(p) })),
      );
    }
    if (what === "repos" && rest.length === 3) {
      const full = `${x}/${y}`.toLowerCase();
      const repo = this.repos.get(full);
      if (!repo) return notFound();
      if (method === "GET") {
        const p = team.repos.get(full);
        if (!p) return notFound();
        return { status: 200, body: { ...this.repo(repo), role_name: ROLE_NAME[p], permissions: this.flags(p) } };
      }
      if (method === "PUT") {
        const p = (body as { permission?: string } | undefined)?.permission ?? "push";
        if (!PERMISSIONS.includes(p)) return invalid("TeamRepository", "permission", "invalid");
        team.repos.set(full, p);
        return { status: 204 };
      }
      if (method === "DELETE") {
        team.repos.delete(full);
        return { status: 204 };
      }
    }
    return undefined;
  }

  private createTeam(body: unknown, caller: string): Reply {
    const t = (body ?? {}) as Record<string, unknown>;
    if (typeof t.name !== "string" || !t.name) return invalid("Team", "name", "missing_field");
    const slug = t.name.toLowerCase().replace(/[^a-z0-9_-]+/g, "-");
    if (this.teamBySlug(slug)) return invalid("Team", "name", "already_exists", "Name must be unique for this org");
    const privacy = t.privacy === undefined ? "secret" : t.privacy;
    if (privacy !== "secret" && privacy !== "closed") return invalid("Team", "privacy", "invalid");
    const team: OrgTeam = {
      id: this.nextId++,
      slug,
      name: t.name,
      description: typeof t.description === "string" ? t.description : null,
      privacy,
      notification_setting:
        typeof t.notification_setting === "string" && t.notification_setting ? t.notification_setting : "notifications_enabled",
      members: new Map([[caller.toLowerCase(), "maintainer"]]),
      repos: new Map(),
    };
    this.teams.set(team.id, team);
    return { status: 201, body: this.team(team) };
  }

  private editTeam(team: OrgTeam, body: unknown): Reply {
    const t = (body ?? {}) as Record<string, unknown>;
    if (t.privacy !== undefined && t.privacy !== "secret" && t.privacy !== "closed") return invalid("Team", "privacy", "invalid");
    if (typeof t.name === "string" && t.name) {
      team.name = t.name;
      team.slug = t.name.toLowerCase().replace(/[^a-z0-9_-]+/g, "-");
    }
    if (typeof t.description === "string") team.description = t.description;
    if (t.privacy !== undefined) team.privacy = t.privacy as OrgTeam["privacy"];
    if (typeof t.notification_setting === "string" && t.notification_setting) team.notification_setting = t.notification_setting;
    return { status: 200, body: this.team(team) };
  }

  /** Repository rulesets: conditions, rules and bypass actors, validated as GitHub validates them. */
  private rulesets(repo: OrgRepo, method: string, id: string | undefined, body: unknown, caller: string): Reply | undefined {
    const full = `${repo.owner}/${repo.name}`;
    if (id === undefined) {
      if (method === "GET") return { status: 200, body: [...repo.rulesets.values()].map((r) => this.rulesetSummary(r)) };
      if (method !== "POST") return undefined;
      const checked = this.checkRuleset(repo, body);
      if (checked instanceof Error) return checked.reply;
      const now = new Date().toISOString();
      const rs = { id: this.nextId++, ...checked, source_type: "Repository", source: full, created_at: now, updated_at: now };
      repo.rulesets.set(rs.id, rs);
      return { status: 201, body: this.ruleset(rs, caller) };
    }
    const rs = repo.rulesets.get(Number(id));
    if (!rs) return notFound();
    if (method === "GET") return { status: 200, body: this.ruleset(rs, caller) };
    if (method === "PUT") {
      const checked = this.checkRuleset(repo, { ...rs, ...(body as Record<string, unknown>) });
      if (checked instanceof Error) return checked.reply;
      Object.assign(rs, checked, { updated_at: new Date().toISOString() });
      return { status: 200, body: this.ruleset(rs, caller) };
    }
    if (method === "DELETE") {
      repo.rulesets.delete(rs.id as number);
      return { status: 204 };
    }
    return undefined;
  }

  /** The ruleset as stored, or the 422 GitHub answers (as a RulesetRefused). */
  private checkRuleset(repo: OrgRepo, body: unknown): Record<string, unknown> | RulesetRefused {
    const refuse = (reply: Reply) => new RulesetRefused(reply);
    const r = (body ?? {}) as Record<string, unknown>;
    if (typeof r.name !== "string" || !r.name) return refuse(invalid("Ruleset", "name", "missing_field"));
    if (!["active", "disabled", "evaluate"].includes(String(r.enforcement))) return refuse(invalid("Ruleset", "enforcement", "invalid"));
    const target = r.target ?? "branch";
    if (!["branch", "tag", "push"].includes(String(target))) return refuse(invalid("Ruleset", "target", "invalid"));
    const rules = (Array.isArray(r.rules) ? r.rules : []) as { type?: string; parameters?: Record<string, unknown> }[];
    for (const rule of rules)
      if (!RULE_TYPES.has(String(rule.type))) return refuse(invalid("Ruleset", "rules", "invalid", `Invalid rule '${rule.type}'`));
    const actors = (Array.isArray(r.bypass_actors) ? r.bypass_actors : []) as Record<string, unknown>[];
    for (const a of actors) {
      if (!["always", "pull_request"].includes(String(a.bypass_mode ?? "always")))
        return refuse(invalid("Ruleset", "bypass_actors", "invalid", "Invalid bypass mode"));
      if (a.actor_type === "Team") {
        const team = this.teams.get(Number(a.actor_id));
        // A repository ruleset may only name teams with access to the repository.
        if (!team || !team.repos.has(`${repo.owner}/${repo.name}`.toLowerCase()))
          return refuse(
            invalid("Ruleset", "bypass_actors", "invalid", `Actor ${a.actor_id} must be part of the ruleset source or owner organization`),
          );
      } else if (!["OrganizationAdmin", "RepositoryRole", "Integration", "DeployKey"].includes(String(a.actor_type)))
        return refuse(invalid("Ruleset", "bypass_actors", "invalid", "Invalid actor type"));
    }
    for (const rule of rules.filter((x) => x.type === "pull_request")) {
      const reviewers = ((rule.parameters?.required_reviewers as Record<string, unknown>[] | undefined) ?? []).map(
        (x) => x.reviewer as { id?: number; type?: string } | undefined,
      );
      for (const rv of reviewers) {
        const team = rv?.type === "Team" ? this.teams.get(Number(rv.id)) : undefined;
        if (!team || !team.repos.has(`${repo.owner}/${repo.name}`.toLowerCase()))
          return refuse(invalid("Ruleset", "rules", "invalid", `Reviewer ${rv?.id} must be a team with access to the repository`));
      }
    }
    return {
      name: r.name,
      target,
      enforcement: r.enforcement,
      conditions: r.conditions ?? {},
      rules: rules.map((x) => (x.parameters ? { type: x.type, parameters: x.parameters } : { type: x.type })),
      bypass_actors: actors.map((a) => ({
        actor_id: a.actor_id ?? null,
        actor_type: a.actor_type,
        bypass_mode: a.bypass_mode ?? "always",
      })),
    };
  }

  private ruleset(rs: Record<string, unknown>, caller: string) {
    const self = `${this.url()}/repos/${rs.source}/rulesets/${rs.id}`;
    return {
      ...rs,
      node_id: `RRS_${rs.id}`,
      current_user_can_bypass: caller === this.login ? "always" : "never",
      _links: { self: { href: self }, html: { href: self.replace("/api/v3/repos", "") } },
    };
  }

  private rulesetSummary(rs: Record<string, unknown>) {
    const { id, name, target, source_type, source, enforcement, created_at, updated_at } = rs;
    return { id, name, target, source_type, source, enforcement, node_id: `RRS_${id}`, created_at, updated_at };
  }

  /** Direct collaborators and, with affiliation all (the default), members of teams with access, at their highest permission. */
  private collaborators(repo: OrgRepo, query: URLSearchParams) {
    const affiliation = query.get("affiliation") ?? "all";
    const best = new Map<string, string>();
    const raise = (login: string, p: string) => {
      if (PERMISSIONS.indexOf(p) > PERMISSIONS.indexOf(best.get(login) ?? "")) best.set(login, p);
    };
    if (affiliation === "all" || affiliation === "direct") for (const [login, p] of repo.collaborators) raise(login, p);
    if (affiliation === "all")
      for (const t of this.teams.values()) {
        const p = t.repos.get(`${repo.owner}/${repo.name}`.toLowerCase());
        if (p) for (const login of t.members.keys()) raise(login, p);
      }
    return [...best].map(([login, p]) => ({ ...this.user(login), permissions: this.flags(p), role_name: ROLE_NAME[p] }));
  }

  private flags(p: string) {
    const i = PERMISSIONS.indexOf(p);
    return { pull: i >= 0, triage: i >= 1, push: i >= 2, maintain: i >= 3, admin: i >= 4 };
  }

  private page(query: URLSearchParams, rows: unknown[]): Reply {
    const perPage = Math.min(100, Number(query.get("per_page") ?? 30));
    const page = Math.max(1, Number(query.get("page") ?? 1));
    return { status: 200, body: rows.slice((page - 1) * perPage, page * perPage) };
  }

  private org() {
    return {
      login: this.login,
      id: this.id,
      node_id: `O_${this.id}`,
      url: `${this.url()}/orgs/${this.login}`,
      repos_url: `${this.url()}/orgs/${this.login}/repos`,
      description: null,
      name: this.login,
      type: "Organization",
      plan: { name: "enterprise", space: 976562499, private_repos: 999999, filled_seats: this.users.size, seats: 1000 },
    };
  }

  private user(login: string) {
    const u = this.users.get(login.toLowerCase());
    return {
      login,
      id: u?.id ?? 1,
      node_id: `U_${u?.id ?? 1}`,
      type: "User",
      site_admin: false,
      suspended_at: u?.suspended ? "2026-01-01T00:00:00Z" : null,
    };
  }

  private team(t: OrgTeam) {
    return {
      id: t.id,
      node_id: `T_${t.id}`,
      url: `${this.url()}/organizations/${this.id}/team/${t.id}`,
      slug: t.slug,
      name: t.name,
      description: t.description,
      privacy: t.privacy,
      notification_setting: t.notification_setting,
      permission: "pull",
      members_count: t.members.size,
      repos_count: t.repos.size,
      parent: null,
      organization: this.org(),
    };
  }

  private repo(r: OrgRepo) {
    return {
      id: r.id,
      node_id: `R_${r.id}`,
      name: r.name,
      full_name: `${r.owner}/${r.name}`,
      owner: { login: r.owner, id: this.id, type: "Organization" },
      private: true,
      visibility: "private",
      default_branch: "quant",
      url: `${this.url()}/repos/${r.owner}/${r.name}`,
    };
  }
}
