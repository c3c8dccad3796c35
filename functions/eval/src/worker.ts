import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { artifactsStore } from '#shared/adapters/artifacts-store.js';
import { deadLetterQueueRefsSchema, SqsLastAttemptDeadLetters } from '#shared/adapters/sqs-last-attempt.js';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { parsePortList } from '#shared/outbound/net.js';
import { GuardedHttpClient } from '#shared/outbound/outbound.js';
import { CONSUMED_QUEUES_ENV } from '#shared/pillar.js';
import { randomIds, systemClock } from '#shared/ports/system.js';
import { makeServiceBasics } from '#shared/service-kit.js';
import { tenantMetricsFor } from '#shared/telemetry.js';
import { EVAL_EVENTS } from '../events.js';
import { EndpointExperts } from './adapters/expert-endpoint.js';
import { judgeThrough } from './domain/judge.js';
import { EvalService } from './domain/runs.js';
import { makeRunBatchHandler } from './run-consumer.js';
import { evalRecords } from './wiring.js';

/**
 * Composition root of the eval-worker function: the eval queue's consumer. No API route, so no
 * policy engine: the eval table, the artifacts bucket, the bus, and the guarded outbound client the
 * experts (and judges) are called through.
 */
const env = parseEnv(
  baseEnvSchema.extend({
    EVAL_TABLE_NAME: z.string().min(1),
    ARTIFACTS_BUCKET_NAME: z.string().min(1).optional(),
    /** Local development only: lets runs call experts on private and loopback addresses. */
    CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: z.stringbool().default(false),
    CONDUCTOR_ALLOWED_ENDPOINT_PORTS: z.string().transform(parsePortList).optional(),
    [CONSUMED_QUEUES_ENV]: deadLetterQueueRefsSchema,
  }),
);
const { logger, doc, events, instrument, traceOperation } = await makeServiceBasics(
  'eval-worker',
  env,
  EVAL_EVENTS,
);
if (!events)
  throw new Error('Invalid environment: EVENT_BUS_NAME: required (eval_regression is published there)');

const metrics = tenantMetricsFor('eval-worker');
const client = new GuardedHttpClient({
  allowPrivate: env.CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS,
  ...(env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS ? { allowedPorts: env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS } : {}),
  userAgent: 'conductor-eval',
});
/** A judge's answer is bounded as an expert's is (the suite's timeout is per expert call). */
const JUDGE_TIMEOUT_MS = 10_000;

const runBatch = makeRunBatchHandler({
  service: new EvalService({
    ...evalRecords(doc, env.EVAL_TABLE_NAME),
    artifacts: await artifactsStore(env, instrument, 'eval reports'),
    clock: systemClock,
    ids: randomIds,
  }),
  execute: {
    port: (endpoints) => {
      const port = new EndpointExperts({ client, endpoints });
      return { port, scorerDeps: { judge: judgeThrough(port, JUDGE_TIMEOUT_MS) } };
    },
    events,
    onQuarantineChange: (change, tenantId) => logger.info('eval quarantine changed', { tenantId, ...change }),
    onPublishError: (error, runId) =>
      logger.warn('eval_regression not published; the verdict stands', { runId, error: String(error) }),
  },
  logger,
  deadLetters: SqsLastAttemptDeadLetters.of(env[CONSUMED_QUEUES_ENV], {
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_SQS,
    instrument,
  }),
  // Per tenant and by service: EvalRuns and EvalRegressions (the alarm watches the latter).
  onRun: (run) => {
    metrics.count(run.tenantId, 'EvalRuns', MetricUnit.Count, 1);
    const regressions = (run.verdicts ?? []).filter((v) => v.verdict === 'regression').length;
    if (regressions > 0) metrics.count(run.tenantId, 'EvalRegressions', MetricUnit.Count, regressions);
  },
});

/** One batch of the eval queue, in its trace segment `conductor.eval-worker.executeRuns`. */
export const handler = (event: SQSEvent): Promise<SQSBatchResponse> =>
  traceOperation('executeRuns', () => runBatch(event));
