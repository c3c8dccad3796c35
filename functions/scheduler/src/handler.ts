import type { Context } from 'aws-lambda';
import * as z from 'zod';
import { InMemoryTenantRecords } from '#shared/adapters/memory-records.js';
import { isSqsEvent } from '#shared/adapters/sqs-batch.js';
import { makeSqsClient } from '#shared/adapters/sqs-client.js';
import { SqsJsonQueue } from '#shared/adapters/sqs-json-queue.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { headerValue } from '#shared/http/conventions.js';
import { type HttpEvent, type HttpResult, TENANT_HEADER } from '#shared/http/http.js';
import { ownApiUrlOf } from '#shared/http/own-api.js';
import { randomIds, systemClock } from '#shared/ports/system.js';
import { makeHttpService } from '#shared/service-kit.js';
import { schedulerPillar } from '../pillar.js';
import { InMemoryLedgerStore } from './adapters/ledger-memory.js';
import { routerApiTargets } from './adapters/router-api.js';
import { makeSchedulerApp } from './app.js';
import { Budgets } from './domain/budgets.js';
import { parseTenantWeights } from './domain/fair-share.js';
import { JOB_TTL_SECONDS, type Job, JobIntake, type JobMessage } from './domain/jobs.js';
import { WhatIf } from './domain/what-if.js';
import { breachMetric, budgetStores, priorityQueues } from './wiring.js';

/** Composition root of the scheduler function (the API side): environment, clients, adapters, app. */
const service = await makeHttpService('scheduler', schedulerPillar, {
  SCHEDULER_TABLE_NAME: z.string().min(1),
  /** The jobs queues, one per priority: POST scheduler/enqueue answers once the job's accepted it. */
  SCHEDULER_HIGH_QUEUE_URL: z.url(),
  /** The normal class's queue keeps the skeleton's name (see PRIORITY_QUEUES). */
  SCHEDULER_JOBS_QUEUE_URL: z.url(),
  SCHEDULER_LOW_QUEUE_URL: z.url(),
  /** Tenants' weights in the fair share, as JSON (`{"acme":3}`), set by the platform team (fair-share.ts). */
  SCHEDULER_TENANT_WEIGHTS: z
    .string()
    .optional()
    .transform((text, ctx) => {
      try {
        return parseTenantWeights(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
});
const { env, logger } = service;

const sqs = makeSqsClient({
  region: env.AWS_REGION,
  endpoint: env.AWS_ENDPOINT_URL_SQS,
  instrument: service.instrument,
});

const jobs = new TenantRecordStore<Job>(service.doc, env.SCHEDULER_TABLE_NAME, 'JOB', JOB_TTL_SECONDS);
const budgets = new Budgets({
  ...budgetStores(service.doc, env.SCHEDULER_TABLE_NAME, systemClock),
  clock: systemClock,
  events: service.events,
  onPublishError: (error, windowId) =>
    logger.warn('budget_breach not published; the admission stands', { windowId, error: String(error) }),
  onBreach: breachMetric(logger),
});

const http = makeSchedulerApp({
  logger,
  authorize: service.authorize,
  rateLimit: service.rateLimit,
  trace: service.traceOperation,
  jobs,
  budgets,
  whatIf: new WhatIf({
    memoryStore: (entity) => new InMemoryTenantRecords(entity),
    ledgerStore: () => new InMemoryLedgerStore(),
  }),
  targets: ({ event, traceId }) =>
    routerApiTargets({
      apiUrl: ownApiUrlOf(event),
      authorization: headerValue(event, 'authorization') ?? '',
      tenantHeader: headerValue(event, TENANT_HEADER),
      traceId,
    }),
  intake: new JobIntake({
    jobs,
    budgets,
    queue: priorityQueues(
      (url) => new SqsJsonQueue<JobMessage>(sqs, url),
      {
        high: env.SCHEDULER_HIGH_QUEUE_URL,
        normal: env.SCHEDULER_JOBS_QUEUE_URL,
        low: env.SCHEDULER_LOW_QUEUE_URL,
      },
      env.SCHEDULER_TENANT_WEIGHTS,
    ),
    clock: systemClock,
    ids: randomIds,
    onQueueError: (error, jobId) =>
      logger.error('job not handed to the jobs queue; answered 503', { jobId, error: String(error) }),
  }),
});

/**
 * API Gateway requests only (the jobs queue is consumed by the scheduler-worker function). A queue
 * batch wired here by mistake fails loudly, so its messages come back and end in the DLQ, instead of
 * being answered with a 404 that an event source mapping would count as processed.
 */
export const handler = async (event: HttpEvent, context: Context): Promise<HttpResult> => {
  if (isSqsEvent(event as never))
    throw new Error('The scheduler function consumes no queue: SQS batch refused.');
  return http(event, context);
};
