import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type LastAttemptDeadLetters, processSqsBatch } from '#shared/adapters/sqs-batch.js';
import { jobOutcomeMessageSchema } from '../messages.js';
import type { OutcomeService } from './domain/outcomes.js';

export interface OutcomeBatchDeps {
  readonly outcomes: Pick<OutcomeService, 'report'>;
  readonly logger: Logger;
  /** Puts a message failing its last delivery on the DLQ with its error (the kernel's). */
  readonly deadLetters?: LastAttemptDeadLetters | undefined;
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * The `job-outcomes` queue's consumer: each message is a routed job's outcome, recorded as POST
 * router/outcome records a client's (once per task: a redelivery or a repeat is a duplicate and
 * changes nothing). A malformed message, or one naming a task the tenant has no decision for, fails
 * alone and ends in the DLQ with its error.
 */
export const makeOutcomeBatchHandler =
  (deps: OutcomeBatchDeps) =>
  (event: SQSEvent): Promise<SQSBatchResponse> =>
    processSqsBatch(
      event,
      async (record) => {
        const message = jobOutcomeMessageSchema.parse(JSON.parse(record.body));
        const answer = await deps.outcomes.report(
          message.tenantId,
          { taskId: message.taskId, status: message.status, latencyMs: message.latencyMs },
          message.traceId,
        );
        deps.logger.debug('job outcome recorded', { taskId: message.taskId, duplicate: answer.duplicate });
      },
      {
        deadLetters: deps.deadLetters,
        onFailure: ({ record, error, fate }) =>
          deps.logger.error(
            fate === 'dead-lettered'
              ? 'job outcome not recorded on its last delivery; put on the DLQ with its error'
              : 'job outcome not recorded; the message will be redelivered',
            { messageId: record.messageId, error: describeError(error) },
          ),
      },
    );
