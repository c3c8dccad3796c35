import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import type { DecisionLog, LoggedRouteDecision } from '../domain/replay-jobs.js';
import type { RewardMarker } from '../domain/reward-learning.js';
import { DECISION_TTL_SECONDS } from '../domain/routing.js';
import { RouteDecisionStore } from './route-decision-store.js';

/**
 * How many pages `anyBetween` reads before it answers 'unknown' (the job then finds out): up to
 * 10 MB, about 10,000 decisions, a few hundred ms at submission. A tenant with more decisions than
 * that gets its `no_logged_decisions` from the job (status `failed`) instead of the 422.
 */
const PROBE_PAGES = 10;

/**
 * The tenant's logged decisions of a time range, joined to their learnt rewards, read from the router
 * table: the tenant's decision partition (`ROUTE`, one Query page of up to 1 MB at a time, filtered
 * here by decision time) and its reward markers (`REWARD`, the scalar each applied signal was learnt
 * as). Decisions are kept 30 days. A replay reads the whole partition: about 0.125 read units per
 * 1 KB decision (eventually consistent), so a million decisions cost ~$0.03 and ~1,000 Query pages.
 */
export class DynamoDecisionLog implements DecisionLog {
  readonly #decisions: RouteDecisionStore;
  readonly #markers: TenantRecordStore<RewardMarker>;

  readonly #pageSize: number;
  readonly #probePages: number;

  constructor(
    doc: Pick<DynamoDBDocumentClient, 'send'>,
    tableName: string,
    options: { readonly pageSize?: number; readonly probePages?: number } = {},
  ) {
    this.#decisions = new RouteDecisionStore(doc, tableName, DECISION_TTL_SECONDS);
    this.#markers = new TenantRecordStore<RewardMarker>(doc, tableName, 'REWARD', DECISION_TTL_SECONDS);
    this.#pageSize = options.pageSize ?? 1_000;
    this.#probePages = options.probePages ?? PROBE_PAGES;
  }

  async anyBetween(tenantId: string, from: string, to: string): Promise<boolean | 'unknown'> {
    let pages = 0;
    for await (const page of this.#decisions.pages(tenantId, this.#pageSize)) {
      if (page.some((d) => inRange(d.createdAt, from, to))) return true;
      pages += 1;
      if (pages >= this.#probePages) return 'unknown';
    }
    return false;
  }

  async decisionsBetween(tenantId: string, from: string, to: string): Promise<LoggedRouteDecision[]> {
    const decisions = [];
    for await (const page of this.#decisions.pages(tenantId, this.#pageSize)) {
      for (const decision of page) if (inRange(decision.createdAt, from, to)) decisions.push(decision);
    }
    const rewards = new Map<string, { sum: number; n: number }>();
    if (decisions.length > 0) {
      let cursor: string | undefined;
      do {
        const page = await this.#markers.list(tenantId, { limit: this.#pageSize, cursor });
        for (const marker of page.items) {
          if (marker.outcome !== 'applied' || marker.reward === undefined) continue;
          const seen = rewards.get(marker.taskId) ?? { sum: 0, n: 0 };
          rewards.set(marker.taskId, { sum: seen.sum + marker.reward, n: seen.n + 1 });
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    }
    return decisions.map((decision) => {
      const reward = rewards.get(decision.taskId);
      // A task with several learnt signals: their mean, the scalar replay weighs.
      return reward ? { decision, reward: reward.sum / reward.n } : { decision };
    });
  }
}

const inRange = (at: string, from: string, to: string): boolean => {
  const t = Date.parse(at);
  return t >= Date.parse(from) && t < Date.parse(to);
};
