/** The Databricks Permissions API's object ACL (`GET /api/2.0/permissions/<type>/<id>`) and its direct entries. */

export interface DirectGrant {
  principal: string;
  kind: "group" | "user" | "servicePrincipal";
  level: string;
}

export interface AclJson {
  access_control_list?: {
    user_name?: string;
    group_name?: string;
    service_principal_name?: string;
    all_permissions?: { permission_level: string; inherited?: boolean }[];
  }[];
}

/** The direct (not inherited) entries of an ObjectPermissions answer, sorted by kind and principal. */
export function directGrants(acl: AclJson): DirectGrant[] {
  return allGrants(acl).filter((g) => !g.inherited);
}

/** Every entry of an ObjectPermissions answer, inherited ones (from a parent, the registry's root) marked, sorted. */
export function allGrants(acl: AclJson): (DirectGrant & { inherited?: true })[] {
  const out: (DirectGrant & { inherited?: true })[] = [];
  for (const e of acl.access_control_list ?? []) {
    const [principal, kind] = e.group_name
      ? [e.group_name, "group" as const]
      : e.user_name
        ? [e.user_name, "user" as const]
        : [e.service_principal_name ?? "", "servicePrincipal" as const];
    for (const p of e.all_permissions ?? [])
      out.push({ principal, kind, level: p.permission_level, ...(p.inherited ? { inherited: true as const } : {}) });
  }
  return out.sort((a, b) => `${a.kind}:${a.principal}`.localeCompare(`${b.kind}:${b.principal}`));
}
