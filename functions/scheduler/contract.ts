import * as z from 'zod';
import type { RouteSpec } from '#shared/http/http.js';
import { JOB_PRIORITIES } from './events.js';
import { JOB_STATUSES } from './src/domain/jobs.js';

/**
 * The scheduler pillar's contract: its route specs and its events. Pure data and schemas: the CDK
 * app, the embedded runtime and the OpenAPI document read it, the handler binds it to the domain, and
 * it is the only part of this pillar another one may import.
 */

/** A job's body is bounded: a larger request is a 413 before it is parsed. */
export const MAX_ENQUEUE_BODY_BYTES = 64 * 1024;

export const enqueueRequestSchema = z
  .strictObject({
    payload: z.record(z.string(), z.unknown()).meta({
      description: 'The job’s input: any JSON object (the whole body is at most 64 KB).',
    }),
    priority: z.enum(JOB_PRIORITIES).default('normal'),
    idempotencyKey: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/, '1 to 128 of A-Z a-z 0-9 . _ : -')
      .optional()
      .meta({
        description:
          'A retry with the same key (and the same payload and priority) answers the same job and creates nothing; another tenant’s same key is another job.',
      }),
  })
  .meta({ id: 'EnqueueRequest', description: 'A job for the scheduler’s workers.' });

export const jobAcceptedSchema = z
  .object({
    jobId: z.string(),
    status: z.enum(JOB_STATUSES).meta({
      description: '`queued` for a new job; a replay answers the job’s current status.',
    }),
  })
  .meta({ id: 'JobAccepted' });

export const enqueueJob = {
  operationId: 'enqueueJob',
  rateFamily: 'scheduler.enqueue',
  method: 'POST',
  path: '/scheduler/enqueue',
  summary:
    'Queue a job for the scheduler’s workers (answered once the queue accepted it; idempotent per idempotencyKey)',
  tag: 'scheduler',
  auth: 'jwt',
  minRole: 'operator',
  action: 'scheduler:enqueue',
  body: enqueueRequestSchema,
  exampleBody: {
    payload: { report: 'weekly-costs', tenantScope: 'all' },
    priority: 'normal',
    idempotencyKey: 'weekly-costs-2026-49',
  },
  maxBodyBytes: MAX_ENQUEUE_BODY_BYTES,
  success: {
    status: 202,
    description:
      'The job, accepted by the jobs queue. A replay of an idempotencyKey answers 202 too, with the job as it stands and the header Idempotent-Replayed: true.',
    schema: jobAcceptedSchema,
  },
  errors: [400, 409, 413, 415, 503],
} as const satisfies RouteSpec;

export const schedulerRoutes = [enqueueJob] as const;

export { budgetBreach, JOB_PRIORITIES, type JobPriority, jobCompleted, SCHEDULER_EVENTS } from './events.js';
