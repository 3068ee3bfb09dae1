/**
 * One Databricks workspace's REST API for the engines that move workspace objects (jobs, cluster policies,
 * instance pools): JSON calls with the shared retry policy, an object's direct ACL through the Permissions API,
 * and whether a principal exists (SCIM). Errors are `{error_code, message}`, parsed by ./http.
 */
import { DEFAULT_RETRY, jsonRequest, RetryPolicy, withRetry } from "./http";
import { Endpoint } from "./mlflow";
import { AclJson, DirectGrant, directGrants } from "./permissionsAcl";

/** A principal as the Permissions API names it in an entry. */
const FIELD: Record<DirectGrant["kind"], string> = { user: "user_name", group: "group_name", servicePrincipal: "service_principal_name" };

/** Entries as an `access_control_list` (the Permissions API's PUT, and a create that takes one). */
export const aclBody = (grants: DirectGrant[]) => grants.map((g) => ({ [FIELD[g.kind]]: g.principal, permission_level: g.level }));

export function databricksApi(ep: Endpoint, retry: RetryPolicy = DEFAULT_RETRY) {
  const headers: Record<string, string> = ep.token ? { Authorization: `Bearer ${ep.token}` } : {};
  const once = <T>(method: string, path: string, what: string, body?: unknown) =>
    jsonRequest<T>(method, `${ep.baseUrl}${path}`, headers, body, `${ep.uri}: ${what}`);
  const call = <T>(method: string, path: string, what: string, body?: unknown) => withRetry(retry, () => once<T>(method, path, what, body));
  const scim = "/api/2.0/preview/scim/v2";
  const filter = (attr: string, value: string) => encodeURIComponent(`${attr} eq "${value.replace(/"/g, '\\"')}"`);
  const found = async (path: string, what: string) =>
    ((await call<{ Resources?: unknown[] }>("GET", path, what)).Resources ?? []).length > 0;
  return {
    endpoint: ep,
    call,
    /** One attempt, no retry: for creates, which createOnce retries only after looking for what an attempt made. */
    once,
    /** The object's direct ACL entries (inherited ones, such as admins', left out). */
    acl: async (type: string, id: string, what: string): Promise<DirectGrant[]> =>
      directGrants(await call<AclJson>("GET", `/api/2.0/permissions/${type}/${id}`, `permissions of ${what}`)),
    /** Replaces the object's direct ACL with these entries. */
    setAcl: (type: string, id: string, what: string, grants: DirectGrant[]) =>
      call("PUT", `/api/2.0/permissions/${type}/${id}`, `permissions of ${what}`, { access_control_list: aclBody(grants) }),
    /** Whether the workspace knows the principal (a user by name, a group by display name, a service principal by application id). */
    async principalExists(kind: DirectGrant["kind"], name: string): Promise<boolean> {
      if (kind === "user") return found(`${scim}/Users?filter=${filter("userName", name)}`, `user ${name}`);
      if (kind === "group") return found(`${scim}/Groups?filter=${filter("displayName", name)}`, `group ${name}`);
      return found(`${scim}/ServicePrincipals?filter=${filter("applicationId", name)}`, `service principal ${name}`);
    },
  };
}

export type DatabricksApi = ReturnType<typeof databricksApi>;
