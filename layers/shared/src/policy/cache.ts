import type { AuthzDecision, AuthzRequest, PolicyEngine } from '../ports/policy.js';

/**
 * Decision cache (TTL 60 s, as the product requirements say), keyed by policy version plus the
 * normalised request, so a new policy set never serves an old answer. Fail-closed denies are not
 * cached: the next request asks the engine again.
 */
export interface CacheStats {
  hits: number;
  misses: number;
}

export const normalisedKey = (version: string, request: AuthzRequest): string =>
  JSON.stringify([
    version,
    request.principal.subject,
    request.principal.tenantId,
    [...request.principal.roles].sort(),
    request.action,
    request.resource.tenantId,
    request.resource.kind,
    request.resource.id ?? null,
    request.resource.classification ?? null,
    // A set: its order does not matter (anything but an array is keyed as is; the engine refuses it).
    Array.isArray(request.resource.approverRoles)
      ? [...request.resource.approverRoles].sort()
      : (request.resource.approverRoles ?? null),
    request.resource.requestedBy ?? null,
    request.context.mfa,
    [...request.context.grantedTenants].sort(),
  ]);

export class CachedPolicyEngine implements PolicyEngine {
  readonly #entries = new Map<string, { decision: AuthzDecision; expiresAt: number }>();
  readonly stats: CacheStats = { hits: 0, misses: 0 };

  constructor(
    readonly inner: PolicyEngine,
    private readonly now: () => number = () => Date.now(),
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 10_000,
  ) {}

  get name() {
    return this.inner.name;
  }
  get policyVersion() {
    return this.inner.policyVersion;
  }

  decide(request: AuthzRequest): AuthzDecision {
    const key = normalisedKey(this.inner.policyVersion, request);
    const now = this.now();
    const hit = this.#entries.get(key);
    if (hit && hit.expiresAt > now) {
      this.stats.hits += 1;
      return hit.decision;
    }
    this.stats.misses += 1;
    const decision = this.inner.decide(request);
    if (decision.error === undefined) {
      if (this.#entries.size >= this.maxEntries) {
        const oldest = this.#entries.keys().next().value;
        if (oldest !== undefined) this.#entries.delete(oldest);
      }
      this.#entries.delete(key);
      this.#entries.set(key, { decision, expiresAt: now + this.ttlMs });
    }
    return decision;
  }

  /** Drops every entry (when the policy set changes in place). */
  clear(): void {
    this.#entries.clear();
  }

  get hitRate(): number {
    const total = this.stats.hits + this.stats.misses;
    return total === 0 ? 0 : this.stats.hits / total;
  }
}
