import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { systemClock } from '#shared/ports/system.js';
import { TtlCache } from '#shared/ports/ttl-cache.js';
import { makeServiceBasics } from '#shared/service-kit.js';
import { dynamoModelStore } from '../../router/src/adapters/dynamo-model-store.js';
import { DEFAULT_REWARD_MAPPING } from '../../router/src/domain/reward-mapping.js';
import { RewardConsumer, type RewardMarker, type RewardRejection } from '../../router/src/domain/rewards.js';
import { ROUTER_CONFIG_ID, type RouterConfig } from '../../router/src/domain/router-config.js';
import { DECISION_TTL_SECONDS, type RouteDecision } from '../../router/src/domain/routing.js';
import { makeRewardBatchHandler } from '../../router/src/reward-consumer.js';

/**
 * Composition root of the reward function: the rewards queue's consumer (infra/queues.ts, id
 * `rewards`). It learns rewards into the router's model states, in the router table; the protocol
 * and its domain are the router's (functions/router/src/domain/rewards.ts), shared by import: pure
 * code, bundled into both functions. Its own function so it scales, fails and is permitted on its
 * own: no API route, no policy layer, only the router table and the event bus.
 */
const env = parseEnv(
  baseEnvSchema.extend({
    ROUTER_TABLE_NAME: z.string().min(1),
    /** How long a tenant's reward mapping is used before its router config is read again. */
    REWARD_MAPPING_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
  }),
);
const { logger, doc, events, traceOperation } = await makeServiceBasics('reward', env);

const table = env.ROUTER_TABLE_NAME;
const configs = new TenantRecordStore<RouterConfig>(doc, table, 'ROUTER_CONFIG');
const mappings = new TtlCache<RouterConfig['rewardMapping']>({
  ttlMs: env.REWARD_MAPPING_CACHE_MS,
  clock: systemClock,
});

const ingest = makeRewardBatchHandler({
  logger,
  consumer: new RewardConsumer({
    decisions: new TenantRecordStore<RouteDecision>(doc, table, 'ROUTE', DECISION_TTL_SECONDS),
    models: dynamoModelStore(doc, table),
    markers: new TenantRecordStore<RewardMarker>(doc, table, 'REWARD', DECISION_TTL_SECONDS),
    rejections: new TenantRecordStore<RewardRejection>(doc, table, 'REWARD_REJECTED', DECISION_TTL_SECONDS),
    clock: systemClock,
    // The tenant's mapping as its router configuration sets it (the default until one is stored).
    mappingFor: (tenantId) =>
      mappings.get(tenantId, async () => {
        const config = await configs.get(tenantId, ROUTER_CONFIG_ID);
        return { ...DEFAULT_REWARD_MAPPING, ...config?.rewardMapping };
      }),
    events,
    onPublishError: (error) =>
      logger.warn('reward_ingested event not published; the reward stands', { error: String(error) }),
  }),
});

/** One batch of the rewards queue, in its trace segment `conductor.reward.ingestRewards`. */
export const handler = (event: SQSEvent): Promise<SQSBatchResponse> =>
  traceOperation('ingestRewards', () => ingest(event));
