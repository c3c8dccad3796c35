import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import type { TenantRecord } from '#shared/ports/records.js';
import type { DecisionRepository, Rationale, RouteDecision } from '../domain/routing.js';

/**
 * The route decisions in the router table, one item per task (entity `ROUTE`), with the rationale
 * kept small: a rationale repeats a dozen fields of its decision (ids, expert, strategy,
 * propensity, confidence, versions, time) and holds one entry per candidate, which made a route's
 * item 1.4 KB with 4 candidates and 2.8 KB with 16 (2 and 3 write units). Stored here without the
 * fields equal to the decision's, deflated into one binary attribute (`rz`); read back whole. What
 * a reward needs (expert, features, propensity, model key and version) stays in the clear.
 */
interface StoredRouteDecision extends TenantRecord, Omit<RouteDecision, 'rationale' | keyof TenantRecord> {
  /** Deflate (raw) of the JSON of the rationale without the fields its decision holds. */
  readonly rz: Uint8Array;
}

/** Rationale fields that are the decision's, by the same name (decidedAt is the decision's createdAt). */
const SHARED = [
  'rationaleId',
  'decisionId',
  'taskId',
  'tenantId',
  'expertId',
  'strategy',
  'propensity',
  'confidence',
  'modelVersion',
  'configVersion',
  'policyVersion',
  'experiment',
] as const;

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export const packRationale = (decision: RouteDecision): Uint8Array => {
  const rest: Record<string, unknown> = { ...decision.rationale };
  const source = decision as unknown as Record<string, unknown>;
  for (const key of SHARED) if (key in rest && same(rest[key], source[key])) delete rest[key];
  if (rest.decidedAt === decision.createdAt) delete rest.decidedAt;
  return deflateRawSync(JSON.stringify(rest));
};

export const unpackRationale = (stored: Omit<RouteDecision, 'rationale'>, rz: Uint8Array): Rationale => {
  const rest = JSON.parse(inflateRawSync(rz).toString('utf8')) as Record<string, unknown>;
  const source = stored as unknown as Record<string, unknown>;
  const shared: Record<string, unknown> = {};
  for (const key of SHARED) if (!(key in rest) && source[key] !== undefined) shared[key] = source[key];
  return {
    ...shared,
    ...(rest.decidedAt === undefined ? { decidedAt: stored.createdAt } : {}),
    ...rest,
  } as Rationale;
};

export class RouteDecisionStore implements DecisionRepository {
  readonly #records: TenantRecordStore<StoredRouteDecision>;

  constructor(doc: Pick<DynamoDBDocumentClient, 'send'>, tableName: string, ttlSeconds: number) {
    this.#records = new TenantRecordStore<StoredRouteDecision>(doc, tableName, 'ROUTE', ttlSeconds);
  }

  async create(decision: RouteDecision): Promise<void> {
    const { rationale: _rationale, ...rest } = decision;
    await this.#records.create({ ...rest, rz: packRationale(decision) });
  }

  async get(tenantId: string, taskId: string): Promise<RouteDecision | undefined> {
    const stored = await this.#records.get(tenantId, taskId);
    return stored ? decisionOf(stored) : undefined;
  }

  /** The tenant's decisions, a page (at most 1 MB, `limit` items) at a time, in task id order. */
  async *pages(tenantId: string, limit = 1_000): AsyncGenerator<RouteDecision[]> {
    let cursor: string | undefined;
    do {
      const page = await this.#records.list(tenantId, { limit, cursor });
      yield page.items.map(decisionOf);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /** Several tasks' decisions in one read (the reward consumer's batch); missing tasks are absent. */
  async getMany(tenantId: string, taskIds: readonly string[]): Promise<Map<string, RouteDecision>> {
    const stored = await this.#records.getMany(tenantId, taskIds);
    return new Map([...stored].map(([taskId, record]) => [taskId, decisionOf(record)]));
  }
}

const decisionOf = (stored: StoredRouteDecision): RouteDecision => {
  const { rz, ...rest } = stored;
  return { ...rest, rationale: unpackRationale(rest, rz) };
};
