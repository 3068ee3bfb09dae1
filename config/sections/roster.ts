/** `roster`: the team's members, each identified by id, email and Git username, and the approvers they add up to. */
import { Environment, FlowEdge, Member, Role } from "../schema";
import { sourcesOf } from "../flow";
import { duplicates, EntryKind } from "../identity";
import { Ctx, list, obj, str } from "./check";

export function validateRoster(c: Ctx, v: unknown, roleNames: string[]): Member[] {
  const members = list<Member>(
    c,
    "roster",
    v,
    (x, p) => {
      const m = obj(c, p, x, ["id", "name", "email", "gitUsername", "roles"]);
      if (!m) return undefined;
      const id = str(c, `${p}.id`, m.id, "a member id of lower case letters, digits, '.', '_' or '-'", /^[a-z][a-z0-9._-]*$/);
      const who = id ? `member '${id}'` : p;
      const name = str(c, `${p}.name`, m.name, `the display name of ${who}`);
      const email = str(
        c,
        `${p}.email`,
        m.email,
        `the email address ${who} signs in to Databricks with, like name@example.com`,
        /^[^@\s]+@[^@\s]+\.[^@\s]+$/,
      );
      const gitUsername = str(c, `${p}.gitUsername`, m.gitUsername, `the Git username of ${who}`, /^[A-Za-z0-9][A-Za-z0-9._-]*$/);
      const roles = list<string>(
        c,
        `${p}.roles`,
        m.roles,
        (r, q) => {
          if (typeof r !== "string" || !roleNames.includes(r)) {
            c.bad(q, r, `a known role for ${who} (${roleNames.join(", ")})`);
            return undefined;
          }
          return r;
        },
        false,
      );
      if (!id || !name || !email || !gitUsername) return undefined;
      return { id, name, email: email.toLowerCase(), gitUsername, roles: [...new Set(roles)] };
    },
    false,
  );
  // A member is identified three ways: by id (the roster), email (Databricks user) and gitUsername (Git
  // member). Each must be unique; compared case-insensitively, as Databricks and GitLab compare them.
  const identities: [EntryKind, "id" | "email" | "gitUsername"][] = [
    ["member", "id"],
    ["user", "email"],
    ["gitMember", "gitUsername"],
  ];
  for (const [kind, field] of identities) {
    for (const d of duplicates(
      kind,
      members.map((m) => ({ [field]: m[field].toLowerCase() })),
    )) {
      const m = members[d.index];
      c.say(
        `roster[${d.index}].${field}`,
        `member '${m.id}' has the same ${field} '${m[field]}' as roster[${d.first}]; a member appears once (id, email and gitUsername are each unique)`,
      );
    }
  }
  return members;
}

/** A merge request needs approvals from people other than its author, who may be an approver too. */
export function checkApprovers(c: Ctx, environments: Environment[], flow: FlowEdge[], roles: Role[], roster: Member[]): void {
  for (const e of environments) {
    if (sourcesOf(flow, e.name).length === 0) continue;
    const approvers = roster.filter((m) => roles.some((r) => m.roles.includes(r.name) && r.git.approve.includes(e.name)));
    if (approvers.length < e.approvals + 1) {
      c.say(
        `environments.${e.name}.approvals`,
        `merge requests into ${e.name} need ${e.approvals} approval(s) from someone other than the author, but only ${approvers.length} member(s) may approve (${approvers.map((m) => m.id).join(", ") || "none"}); expected at least ${e.approvals + 1}`,
      );
    }
  }
}
