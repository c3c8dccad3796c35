import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { processSqsBatch } from '#shared/adapters/sqs-batch.js';
import { type JobWorker, jobMessageSchema } from './domain/jobs.js';

export interface JobBatchDeps {
  readonly worker: Pick<JobWorker, 'complete'>;
  readonly logger: Logger;
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * The jobs queue's consumer (transport <-> domain for SQS, as app.ts is for HTTP): each message of a
 * batch is parsed and its job completed, concurrently; the ones that fail (malformed, an unknown job,
 * a table error) are reported as batch item failures, so SQS redelivers only those and moves them to
 * the DLQ after `maxReceiveCount` deliveries.
 */
export const makeJobBatchHandler =
  (deps: JobBatchDeps) =>
  (event: SQSEvent): Promise<SQSBatchResponse> =>
    processSqsBatch(
      event,
      async (record) => {
        const message = jobMessageSchema.parse(JSON.parse(record.body));
        const outcome = await deps.worker.complete(message);
        deps.logger.debug('job processed', { jobId: message.jobId, outcome });
      },
      (record, error) =>
        deps.logger.error('job not processed; the message will be redelivered', {
          messageId: record.messageId,
          receiveCount: record.attributes?.ApproximateReceiveCount,
          error: describeError(error),
        }),
    );
