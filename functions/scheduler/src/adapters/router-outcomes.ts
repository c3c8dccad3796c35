import type { SqsJsonQueue } from '#shared/adapters/sqs-json-queue.js';
import {
  JOB_OUTCOME_KIND,
  type JobOutcomeMessage,
  jobOutcomeMessageSchema,
} from '../../../router/contract.js';
import type { OutcomeReporter } from '../domain/targets.js';

/**
 * A routed job's outcome onto the router's `job-outcomes` queue, in the message its contract
 * defines (the router records it as POST router/outcome does). The queue is the router's; the
 * scheduler's worker is one of its producers (its manifest says so).
 */
export const routerOutcomeQueue = (
  queue: Pick<SqsJsonQueue<JobOutcomeMessage>, 'send'>,
): OutcomeReporter => ({
  report: (outcome) =>
    queue.send(
      jobOutcomeMessageSchema.parse({
        kind: JOB_OUTCOME_KIND,
        tenantId: outcome.tenantId,
        taskId: outcome.taskId,
        status: outcome.status,
        latencyMs: Math.min(outcome.latencyMs, 3_600_000),
        traceId: outcome.traceId,
      }),
    ),
});
