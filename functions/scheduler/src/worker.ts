import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { baseEnvSchema, parseEnv } from '#shared/env.js';
import { systemClock } from '#shared/ports/system.js';
import { makeServiceBasics } from '#shared/service-kit.js';
import { SCHEDULER_EVENTS } from '../events.js';
import { JOB_TTL_SECONDS, type Job, JobWorker } from './domain/jobs.js';
import { makeJobBatchHandler } from './job-consumer.js';

/**
 * Composition root of the scheduler-worker function: the consumer of the `scheduler-jobs` queue. No
 * API route, so no policy engine: only the scheduler table and the event bus.
 */
const env = parseEnv(baseEnvSchema.extend({ SCHEDULER_TABLE_NAME: z.string().min(1) }));
const { logger, doc, events, traceOperation } = await makeServiceBasics(
  'scheduler-worker',
  env,
  SCHEDULER_EVENTS,
);

const completeBatch = makeJobBatchHandler({
  logger,
  worker: new JobWorker({
    jobs: new TenantRecordStore<Job>(doc, env.SCHEDULER_TABLE_NAME, 'JOB', JOB_TTL_SECONDS),
    clock: systemClock,
    events,
    onPublishError: (error, jobId) =>
      logger.warn('job_completed not published; the completion stands', { jobId, error: String(error) }),
  }),
});

/** One batch of the jobs queue, in its trace segment `conductor.scheduler-worker.completeJobs`. */
export const handler = (event: SQSEvent): Promise<SQSBatchResponse> =>
  traceOperation('completeJobs', () => completeBatch(event));
