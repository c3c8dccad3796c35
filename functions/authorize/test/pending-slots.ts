import type { Grant } from '#shared/ports/grants.js';
import type { PendingGrantSlots } from '../src/domain/grants.js';

/**
 * The pending-request places in memory, for unit tests: what DynamoPendingGrantSlots keeps in the
 * policy table (one place per pending request of a requester tenant in a target tenant, free again
 * when released or when the request lapses).
 */
export class InMemoryPendingGrantSlots implements PendingGrantSlots {
  readonly #held = new Map<string, { grantId: string; expiresAt: number }>();

  async claim(grant: Grant, limit: number, now: Date): Promise<boolean> {
    const live = [...this.#held.entries()].filter(
      ([key, slot]) => key.startsWith(this.#pair(grant)) && slot.expiresAt * 1000 > now.getTime(),
    );
    if (live.length >= limit) return false;
    this.#held.set(`${this.#pair(grant)}${grant.id}`, { grantId: grant.id, expiresAt: grant.expiresAt });
    return true;
  }

  async release(grant: Grant): Promise<void> {
    this.#held.delete(`${this.#pair(grant)}${grant.id}`);
  }

  /** How many places of this requester tenant in this target tenant are held (lapsed ones too). */
  held(requesterTenant: string, targetTenant: string): number {
    const pair = `${targetTenant}/${requesterTenant}/`;
    return [...this.#held.keys()].filter((key) => key.startsWith(pair)).length;
  }

  #pair(grant: Pick<Grant, 'tenantId' | 'requesterTenant'>): string {
    return `${grant.tenantId}/${grant.requesterTenant}/`;
  }
}
