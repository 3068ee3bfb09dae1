/**
 * Which GitLab tier the project is on, from the API, once per run; and whether a pinned tier agrees.
 *
 * The probe is the project's merge request approval settings, `GET /projects/:id/approvals`, a Premium
 * endpoint: Premium and Ultimate answer 200 with the settings. GitLab Free answers 403 Forbidden (the
 * licensed feature is refused), and a Community Edition instance 404 Not Found (the route does not exist)
 * while the project itself is readable. Premium and Ultimate are not told apart: no rule here differs.
 */
import { GitTier } from "../../config/schema";
import { GitLabApi } from "../../clients/gitlab";
import { hasStatus } from "../../clients/http";

export interface TierProbe {
  /** "free", or "premium" standing for Premium or Ultimate. */
  tier: "free" | "premium";
  /** What GitLab answered, for messages. */
  evidence: string;
}

const cache = new Map<string, Promise<TierProbe>>();

/** Probes the project's tier (cached per API root and project, so once per run). */
export function probeTier(api: GitLabApi, baseUrl: string): Promise<TierProbe> {
  const key = `${baseUrl} ${api.projectName}`;
  if (!cache.has(key)) cache.set(key, probe(api));
  return cache.get(key)!;
}

async function probe(api: GitLabApi): Promise<TierProbe> {
  // Fails clearly (401, 404 project) before the approvals answer is read as a tier.
  await api.get(api.project, "tier detection");
  const endpoint = `GET /projects/${encodeURIComponent(api.projectName)}/approvals`;
  try {
    await api.get(`${api.project}/approvals`, "tier detection (merge request approval settings)");
    return { tier: "premium", evidence: `${endpoint} answered 200: approval settings are served (Premium or Ultimate)` };
  } catch (e) {
    if (hasStatus(e, 403))
      return {
        tier: "free",
        evidence: `${endpoint} answered 403 Forbidden while the project is readable: approval settings are not licensed (GitLab Free)`,
      };
    if (hasStatus(e, 404))
      return {
        tier: "free",
        evidence: `${endpoint} answered 404 Not Found while the project is readable: no approval settings API (GitLab Free, Community Edition)`,
      };
    throw e;
  }
}

/** The tier to declare: the pin when the instance agrees with it, else the detected one; a disagreement fails naming both. */
export function resolveTier(pin: GitTier | undefined, probed: TierProbe, where: string): GitTier {
  if (!pin) return probed.tier;
  const paid = pin === "premium" || pin === "ultimate";
  if (paid === (probed.tier === "premium")) return pin;
  const instance = probed.tier === "free" ? "Free" : "Premium or Ultimate";
  const fix = probed.tier === "free" ? "free" : "premium (or ultimate)";
  throw new Error(
    `quant-platform:git.tier is pinned to '${pin}', but ${where} is GitLab ${instance} (${probed.evidence}); set quant-platform:git.tier: ${fix}, or remove the pin to detect it`,
  );
}
