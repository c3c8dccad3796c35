import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** M3's budget event on the bus (DESIGN §7), fixed before budgets are built so producers and consumers agree. */
export const budgetBreach = defineEvent('budget_breach', {
  window: z.enum(['daily', 'weekly', 'monthly']),
  limitUsd: z.number(),
  projectedUsd: z.number(),
  action: z.enum(['alert', 'prioritize', 'throttle']),
});

/** A job's priority (the order issue 17's priority queues will serve jobs in). */
export const JOB_PRIORITIES = ['high', 'normal', 'low'] as const;
export type JobPriority = (typeof JOB_PRIORITIES)[number];

/** A job of POST scheduler/enqueue was completed by the scheduler worker (once per job; consumers dedupe on jobId). */
export const jobCompleted = defineEvent('job_completed', {
  jobId: z.string(),
  priority: z.enum(JOB_PRIORITIES),
});

/** Published by the scheduler worker (job_completed); budget_breach joins when budgets are built. */
export const SCHEDULER_EVENTS = [jobCompleted] as const;
