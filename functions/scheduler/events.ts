import * as z from 'zod';
import { defineEvent } from '#shared/ports/events.js';

/** What a breach does: `alert` (a threshold, or a `soft` budget), `throttle`, `downgrade` (the budget's mode). */
export const BUDGET_ACTIONS = ['alert', 'throttle', 'downgrade'] as const;
export type BudgetAction = (typeof BUDGET_ACTIONS)[number];

/**
 * M3's budget event on the bus (DESIGN §7): the projected spend of a tenant's budget window crossed
 * an alert threshold (`threshold` "80%") or the breach level (`threshold` "breach", `action` the
 * budget's mode). Published once per threshold per window by the scheduler (its API on admission,
 * its worker on completion); consumers may still see a rare duplicate and dedupe on
 * (tenantId, windowId, threshold).
 */
export const budgetBreach = defineEvent('budget_breach', {
  window: z.enum(['daily', 'weekly', 'monthly']),
  windowId: z.string(),
  threshold: z.string(),
  limitUsd: z.number(),
  projectedUsd: z.number(),
  spentUsd: z.number(),
  mode: z.enum(['soft', 'throttle', 'downgrade']),
  action: z.enum(BUDGET_ACTIONS),
});

/** A job's priority (the order issue 17's priority queues will serve jobs in). */
export const JOB_PRIORITIES = ['high', 'normal', 'low'] as const;
export type JobPriority = (typeof JOB_PRIORITIES)[number];

/** A job of POST scheduler/enqueue was completed by the scheduler worker (once per job; consumers dedupe on jobId). */
export const jobCompleted = defineEvent('job_completed', {
  jobId: z.string(),
  priority: z.enum(JOB_PRIORITIES),
  /** The job's actual cost in USD (committed to its tenant's budgets). */
  costUsd: z.number().optional(),
  /** A job with a target: the expert called, how it went, how long it took. */
  expertId: z.string().optional(),
  /** A routed job: the taskId of its route decision (the router's outcome for it). */
  taskId: z.string().optional(),
  outcome: z.enum(['ok', 'error']).optional(),
  latencyMs: z.number().optional(),
});

/** Published by the scheduler: job_completed (worker), budget_breach (API and worker). */
export const SCHEDULER_EVENTS = [jobCompleted, budgetBreach] as const;
