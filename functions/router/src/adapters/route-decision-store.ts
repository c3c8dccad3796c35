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
 * a reward needs (expert, features, propensity, model key and version) stays in the clear. The
 * attribution keeps only what the top features do not already say (packAttribution).
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

type Attribution = NonNullable<Rationale['attribution']>;
type AttributedFeature = Attribution['features'][number];

/**
 * The attribution as stored: `u` the runner-up's index among the rationale's candidates, `e` the
 * estimate margin, `f` per feature `[index, runnerUpWeight, marginContribution]` when a top feature
 * holds the rest (the same index, names, value, weight and contribution, rounded alike), else the
 * whole feature. Key names and repeated figures cost bytes on every route once a model has learnt:
 * a 4-candidate route's item would pass 1 KB (2 write units).
 */
interface PackedAttribution {
  readonly u: number | string;
  readonly e: number;
  /** The penalty margin (cost-aware objective), when there is one. */
  readonly p?: number;
  readonly f: readonly (readonly [number, number, number] | AttributedFeature)[];
}

const packAttribution = (rationale: Rationale, attribution: Attribution): PackedAttribution => {
  const byIndex = new Map(rationale.topFeatures.map((feature) => [feature.index, feature]));
  const runnerUp = rationale.candidates.findIndex((c) => c.expertId === attribution.runnerUpExpertId);
  return {
    u: runnerUp >= 0 ? runnerUp : attribution.runnerUpExpertId,
    e: attribution.estimateMargin,
    ...(attribution.penaltyMargin === undefined ? {} : { p: attribution.penaltyMargin }),
    f: attribution.features.map((feature) => {
      const known = byIndex.get(feature.index);
      const repeats =
        known !== undefined &&
        same(known.names, feature.names) &&
        known.value === feature.value &&
        known.weight === feature.weight &&
        known.contribution === feature.contribution;
      return repeats
        ? ([feature.index, feature.runnerUpWeight, feature.marginContribution] as const)
        : feature;
    }),
  };
};

const unpackAttribution = (
  packed: PackedAttribution,
  rationale: Pick<Rationale, 'topFeatures' | 'candidates'>,
): Attribution => {
  const byIndex = new Map(rationale.topFeatures.map((feature) => [feature.index, feature]));
  const runnerUpExpertId =
    typeof packed.u === 'number' ? (rationale.candidates[packed.u]?.expertId ?? String(packed.u)) : packed.u;
  return {
    runnerUpExpertId,
    estimateMargin: packed.e,
    ...(packed.p === undefined ? {} : { penaltyMargin: packed.p }),
    features: packed.f.map((feature) => {
      if (!Array.isArray(feature)) return feature as AttributedFeature;
      const [index, runnerUpWeight, marginContribution] = feature as readonly [number, number, number];
      const known = byIndex.get(index);
      if (!known) throw new Error(`packed attribution names feature ${index}, which no top feature holds`);
      return {
        index,
        names: known.names,
        value: known.value,
        weight: known.weight,
        runnerUpWeight,
        contribution: known.contribution,
        marginContribution,
      };
    }),
  };
};

export const packRationale = (decision: RouteDecision): Uint8Array => {
  const rest: Record<string, unknown> = { ...decision.rationale };
  const source = decision as unknown as Record<string, unknown>;
  for (const key of SHARED) if (key in rest && same(rest[key], source[key])) delete rest[key];
  if (rest.decidedAt === decision.createdAt) delete rest.decidedAt;
  const { attribution } = decision.rationale;
  if (attribution) rest.attribution = packAttribution(decision.rationale, attribution);
  return deflateRawSync(JSON.stringify(rest));
};

export const unpackRationale = (stored: Omit<RouteDecision, 'rationale'>, rz: Uint8Array): Rationale => {
  const rest = JSON.parse(inflateRawSync(rz).toString('utf8')) as Record<string, unknown>;
  const source = stored as unknown as Record<string, unknown>;
  const shared: Record<string, unknown> = {};
  for (const key of SHARED) if (!(key in rest) && source[key] !== undefined) shared[key] = source[key];
  if (rest.attribution) {
    rest.attribution = unpackAttribution(rest.attribution as PackedAttribution, {
      topFeatures: (rest.topFeatures ?? []) as Rationale['topFeatures'],
      candidates: (rest.candidates ?? []) as Rationale['candidates'],
    });
  }
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
