import * as z from 'zod';
import { OUTCOME_STATUSES } from './src/domain/outcomes.js';

/**
 * The router's queue messages other pillars send (part of its contract, re-exported there; a module
 * of its own so the reward function, which consumes them, does not bundle every route schema).
 */

/**
 * A job's outcome, as the scheduler's worker sends it to the router's `job-outcomes` queue for a job
 * it routed (its decision's taskId is the job id). The router records it as POST router/outcome does:
 * the first report of a task stands, and a canary's arm counts it.
 */
export const JOB_OUTCOME_KIND = 'job_outcome';
export const jobOutcomeMessageSchema = z.strictObject({
  kind: z.literal(JOB_OUTCOME_KIND),
  tenantId: z.string().min(1),
  taskId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, '1 to 128 of A-Z a-z 0-9 . _ : -'),
  status: z.enum(OUTCOME_STATUSES),
  latencyMs: z.number().min(0).max(3_600_000),
  traceId: z.string().min(1),
});
export type JobOutcomeMessage = z.output<typeof jobOutcomeMessageSchema>;
