import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { deadLetterQueueRefsSchema, SqsLastAttemptDeadLetters } from '#shared/adapters/sqs-last-attempt.js';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { CONSUMED_QUEUES_ENV } from '#shared/pillar.js';
import { systemClock } from '#shared/ports/system.js';
import { makeServiceBasics } from '#shared/service-kit.js';
// The router's event definitions only (part of its contract), not its manifest: the manifest pulls in
// every route schema, which this function never serves.
import { ROUTER_EVENTS } from '../../router/events.js';
import { makeRewardEntry } from '../../router/reward-entry.js';

/**
 * Composition root of the reward function: the router pillar's second entry point, the consumer of
 * its `rewards` queue. It learns rewards into the router's model states, in the router table; the
 * protocol and its domain are the router's, reached only through what the router exports for this
 * entry (`functions/router/reward-entry.ts`). Its own function so it scales, fails and is permitted
 * on its own: no API route, no policy layer, only the router table and the event bus.
 */
const env = parseEnv(
  baseEnvSchema.extend({
    ROUTER_TABLE_NAME: z.string().min(1),
    /** How long a tenant's reward mapping is used before its router config is read again. */
    REWARD_MAPPING_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
    /** The rewards queue and its DLQ: a reward failing its last delivery goes there with its error. */
    [CONSUMED_QUEUES_ENV]: deadLetterQueueRefsSchema,
  }),
);
const { logger, doc, events, instrument, traceOperation } = await makeServiceBasics(
  'reward',
  env,
  ROUTER_EVENTS,
);

/** The router pillar's canary metric, under the router's service name: one alarm watches both functions. */
const rollbacks = new Metrics({ namespace: 'Conductor', serviceName: 'router' });

const ingest = makeRewardEntry({
  doc,
  tableName: env.ROUTER_TABLE_NAME,
  logger,
  events,
  clock: systemClock,
  mappingCacheMs: env.REWARD_MAPPING_CACHE_MS,
  // A rollback the rewards caused: the router's CanaryRollback metric (service router, the alarm's).
  onRollback: (tenantId, experiment, reason) => {
    logger.warn('canary rolled back', { tenantId, experiment, reason });
    rollbacks.addMetric('CanaryRollback', MetricUnit.Count, 1);
    rollbacks.publishStoredMetrics();
  },
  // An expert whose rewards left its band: the router's RewardDrift metric (service router).
  onDrift: () => {
    rollbacks.addMetric('RewardDrift', MetricUnit.Count, 1);
    rollbacks.publishStoredMetrics();
  },
  deadLetters: SqsLastAttemptDeadLetters.of(env[CONSUMED_QUEUES_ENV], {
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_SQS,
    instrument,
  }),
});

/** One batch of the rewards queue, in its trace segment `conductor.reward.ingestRewards`. */
export const handler = (event: SQSEvent): Promise<SQSBatchResponse> =>
  traceOperation('ingestRewards', () => ingest(event));
