/** Renders an access plan for people (table, Markdown) from one list of sections. Pure. */
import { AccessPlan } from "./accessPlan";
import { enforcementColumns, enforcementRows, freeProtection } from "./gitTiers";

export interface Section {
  title: string;
  columns: string[];
  rows: string[][];
}

/** The plan as titled sections: the same content whatever the output format. */
export function planSections(plan: AccessPlan): Section[] {
  const membersOf = (group: string) => plan.memberships.filter((m) => m.group === group).map((m) => m.member);
  return [
    {
      title: `Groups (${plan.stack})`,
      columns: ["group", "role", "entitlements", "members"],
      rows: plan.groups.map((g) => [g.name, g.role, g.entitlements.join(", ") || "-", membersOf(g.name).join(", ") || "-"]),
    },
    {
      title: "Workspace objects",
      columns: ["object", "group", "level"],
      rows: plan.workspaceAcls.flatMap((a) => a.grants.map((g) => [`${a.objectType} ${a.path}`, g.group, g.level])),
    },
    {
      title: "Git folders",
      columns: ["path", "url", "branch"],
      rows: plan.gitFolders.map((f) => [f.path, f.url, f.branch]),
    },
    {
      title: "Workspace Git folder settings (workspace-conf)",
      columns: ["setting", "value", "meaning"],
      rows: plan.workspaceSettings.map((w) => [w.setting, w.value, w.purpose]),
    },
    {
      title: `Model registry (${plan.registry.flavour})`,
      columns: ["model", "group", "level", "privileges"],
      rows: [
        ...plan.registryAcls.flatMap((a) => a.grants.map((g) => [a.model, g.group, g.level, "-"])),
        ...plan.ucGrants.flatMap((a) => a.grants.map((g) => [a.model, g.principal, g.level, g.privileges.join(", ")])),
      ],
    },
    {
      title: `Branch rules (${plan.git.provider} ${plan.git.project}${plan.git.ownsProjectSettings ? ", owned by this stack" : ""})`,
      columns: ["branch", "push", "merge", "approve", "approvals", "sign-off (not the author)", "force-push", "merge requests from"],
      rows: plan.branchRules.map((b) => [
        b.branch === "*" ? "* (every other branch)" : b.branch,
        b.pushMembers.join(", ") || "nobody",
        b.mergeMembers.join(", ") || "nobody",
        b.approveMembers.join(", ") || "nobody",
        b.branch === "*" ? "-" : String(b.approvals),
        b.signOff ? `${b.signOff.approvals} of ${b.signOff.members.join(", ") || "nobody"} (${b.signOff.roles.join(", ")})` : "-",
        "off",
        b.branch === "*" ? "-" : b.sources.join(", ") || "none (push only)",
      ]),
    },
    {
      title: `Rule enforcement (${plan.git.provider}${plan.git.provider === "gitlab" ? `, tier ${plan.git.tier ?? "detected at deploy"}` : ""})`,
      columns: enforcementColumns(plan),
      rows: enforcementRows(plan),
    },
    ...(plan.git.provider === "gitlab" && plan.git.tier === "free"
      ? [
          {
            title: "Free tier widening (protected branches by role: who else can push or merge)",
            columns: ["branch", "also push", "also merge"],
            rows: plan.branchRules
              .filter((b) => b.branch !== "*")
              .map((b) => freeProtection(plan, b))
              .map((f) => [f.branch, f.extraPush.join(", ") || "-", f.extraMerge.join(", ") || "-"]),
          },
        ]
      : []),
    {
      title: "Model promotions into this stack",
      columns: ["model", "from", "version", "production approval"],
      rows: plan.migrations.map((m) => [
        m.model,
        `${m.from} (${m.fromUri})`,
        Object.entries(m.select)
          .map(([k, v]) => `${k} ${v}`)
          .join(""),
        m.production ? "required (not by the author)" : "-",
      ]),
    },
    {
      title: "Git project members",
      columns: ["member", "git user", "access", "roles"],
      rows: plan.gitMembers.map((m) => [m.member, m.gitUsername, m.access, m.roles.join(", ")]),
    },
  ];
}

function pad(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd(),
  );
}

/** A plain-text table per section. */
export function renderTable(sections: Section[]): string {
  return (
    sections
      .map((s) => {
        const lines = s.rows.length ? pad([s.columns, s.columns.map((c) => "-".repeat(c.length)), ...s.rows]) : ["(none)"];
        return [`== ${s.title}`, ...lines].join("\n");
      })
      .join("\n\n") + "\n"
  );
}

const md = (c: string) => c.replace(/\|/g, "\\|");

/** A Markdown table per section, for merge-request comments and READMEs. */
export function renderMarkdown(sections: Section[]): string {
  return (
    sections
      .map((s) => {
        const body = s.rows.length
          ? [
              `| ${s.columns.join(" | ")} |`,
              `|${s.columns.map(() => "---").join("|")}|`,
              ...s.rows.map((r) => `| ${r.map(md).join(" | ")} |`),
            ]
          : ["_none_"];
        return [`### ${s.title}`, "", ...body].join("\n");
      })
      .join("\n\n") + "\n"
  );
}
