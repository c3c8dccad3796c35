import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type LastAttemptDeadLetters, processSqsBatch } from '#shared/adapters/sqs-batch.js';
import { type JobWorker, jobMessageSchema } from './domain/jobs.js';

export interface JobBatchDeps {
  readonly worker: Pick<JobWorker, 'complete' | 'markDeadLettered'>;
  readonly logger: Logger;
  /** Puts a job message failing its last delivery on the DLQ with its error (the kernel's); none: SQS does, without it. */
  readonly deadLetters?: LastAttemptDeadLetters | undefined;
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * The jobs queue's consumer (transport <-> domain for SQS, as app.ts is for HTTP): each message of a
 * batch is parsed and its job completed, concurrently; the ones that fail (malformed, an unknown job,
 * a table error) are reported as batch item failures, so SQS redelivers only those. On a message's
 * last delivery the kernel's `processSqsBatch` puts it on the DLQ itself, with the error that failed
 * it (`conductor-last-error`), so the ops pillar can show why it died.
 */
export const makeJobBatchHandler =
  (deps: JobBatchDeps) =>
  (event: SQSEvent): Promise<SQSBatchResponse> =>
    processSqsBatch(
      event,
      async (record) => {
        const message = jobMessageSchema.parse(JSON.parse(record.body));
        try {
          const outcome = await deps.worker.complete(message);
          deps.logger.debug('job processed', { jobId: message.jobId, outcome });
        } catch (error) {
          // On its last delivery the job says why it failed before its message goes to the DLQ
          // (best effort: the DLQ message carries the error too).
          if (deps.deadLetters?.isLastAttempt(record)) {
            await deps.worker.markDeadLettered(message, error).catch((markError: unknown) =>
              deps.logger.warn('job not marked dead_lettered', {
                jobId: message.jobId,
                error: describeError(markError),
              }),
            );
          }
          throw error;
        }
      },
      {
        deadLetters: deps.deadLetters,
        onFailure: ({ record, error, fate, deadLetterError }) => {
          const details = {
            messageId: record.messageId,
            receiveCount: record.attributes?.ApproximateReceiveCount,
            error: describeError(error),
          };
          if (fate === 'dead-lettered') {
            deps.logger.error(
              'job not processed on its last delivery; put on the DLQ with its error',
              details,
            );
          } else if (deadLetterError !== undefined) {
            deps.logger.error(
              'job not processed on its last delivery; SQS will dead-letter it without its error',
              {
                ...details,
                deadLetterError: describeError(deadLetterError),
              },
            );
          } else {
            deps.logger.error('job not processed; the message will be redelivered', details);
          }
        },
      },
    );
