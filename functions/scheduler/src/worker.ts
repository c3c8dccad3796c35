import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { makeSqsClient } from '#shared/adapters/sqs-client.js';
import { SqsJsonQueue } from '#shared/adapters/sqs-json-queue.js';
import { deadLetterQueueRefsSchema, SqsLastAttemptDeadLetters } from '#shared/adapters/sqs-last-attempt.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { parsePortList } from '#shared/outbound/net.js';
import { GuardedHttpClient } from '#shared/outbound/outbound.js';
import { CONSUMED_QUEUES_ENV } from '#shared/pillar.js';
import { systemClock } from '#shared/ports/system.js';
import { makeServiceBasics } from '#shared/service-kit.js';
import type { JobOutcomeMessage } from '../../router/contract.js';
import { SCHEDULER_EVENTS } from '../events.js';
import { GuardedExpertCaller } from './adapters/expert-http.js';
import { routerOutcomeQueue } from './adapters/router-outcomes.js';
import { Budgets } from './domain/budgets.js';
import { JOB_TTL_SECONDS, type Job, JobWorker } from './domain/jobs.js';
import { makeJobBatchHandler } from './job-consumer.js';
import { breachMetric, budgetStores, schedulerMetrics } from './wiring.js';

/**
 * Composition root of the scheduler-worker function: the consumer of the three priority queues
 * (`scheduler-high`, `scheduler-normal`, `scheduler-low`). No API route, so no policy engine: only
 * the scheduler table (jobs, budgets, ledgers) and the event bus.
 */
const env = parseEnv(
  baseEnvSchema.extend({
    SCHEDULER_TABLE_NAME: z.string().min(1),
    /** Local development only: lets jobs call experts on private and loopback addresses. */
    CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS: z.stringbool().default(false),
    CONDUCTOR_ALLOWED_ENDPOINT_PORTS: z.string().transform(parsePortList).optional(),
    /** The router's job-outcomes queue: a routed job's outcome goes there (the router's manifest names this function a producer). */
    JOB_OUTCOMES_QUEUE_URL: z.url(),
    /** The priority queues and their DLQs: a job message failing its last delivery goes there with its error. */
    [CONSUMED_QUEUES_ENV]: deadLetterQueueRefsSchema,
  }),
);
const { logger, doc, events, instrument, traceOperation } = await makeServiceBasics(
  'scheduler-worker',
  env,
  SCHEDULER_EVENTS,
);

const completeBatch = makeJobBatchHandler({
  logger,
  deadLetters: SqsLastAttemptDeadLetters.of(env[CONSUMED_QUEUES_ENV], {
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_SQS,
    instrument,
  }),
  worker: new JobWorker({
    jobs: new TenantRecordStore<Job>(doc, env.SCHEDULER_TABLE_NAME, 'JOB', JOB_TTL_SECONDS),
    clock: systemClock,
    budgets: new Budgets({
      ...budgetStores(doc, env.SCHEDULER_TABLE_NAME, systemClock),
      clock: systemClock,
      events,
      onPublishError: (error, windowId) =>
        logger.warn('budget_breach not published; the cost stands', { windowId, error: String(error) }),
      onBreach: breachMetric(logger),
    }),
    events,
    outcomes: routerOutcomeQueue(
      new SqsJsonQueue<JobOutcomeMessage>(
        makeSqsClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_SQS, instrument }),
        env.JOB_OUTCOMES_QUEUE_URL,
      ),
    ),
    experts: new GuardedExpertCaller(
      new GuardedHttpClient({
        allowPrivate: env.CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS,
        ...(env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS
          ? { allowedPorts: env.CONDUCTOR_ALLOWED_ENDPOINT_PORTS }
          : {}),
        userAgent: 'conductor-scheduler',
      }),
    ),
    // Per tenant and by service: JobsCompleted (Count) and JobCostUsd (the cost committed, in USD).
    onCompleted: (job) => {
      schedulerMetrics.count(job.tenantId, 'JobsCompleted', MetricUnit.Count, 1);
      schedulerMetrics.count(job.tenantId, 'JobCostUsd', MetricUnit.NoUnit, job.costUsd ?? 0);
    },
    onPublishError: (error, jobId) =>
      logger.warn('job_completed not published; the completion stands', { jobId, error: String(error) }),
  }),
});

/** One batch of the jobs queue, in its trace segment `conductor.scheduler-worker.completeJobs`. */
export const handler = (event: SQSEvent): Promise<SQSBatchResponse> =>
  traceOperation('completeJobs', () => completeBatch(event));
