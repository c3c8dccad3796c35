import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type LastAttemptDeadLetters, settleSqsBatch } from '#shared/adapters/sqs-batch.js';
import type { DecisionArchiver } from './domain/archive.js';

export interface ArchiveConsumerDeps {
  readonly archiver: DecisionArchiver;
  readonly logger: Logger;
  /** Puts a message failing its last delivery on the DLQ with its error (`conductor-last-error`). */
  readonly deadLetters?: LastAttemptDeadLetters | undefined;
}

const errorText = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * The decision-archive queue's consumer (transport <-> domain for SQS, as app.ts is for HTTP): the
 * whole batch becomes ONE archive object (one S3 PutObject per batch, not per decision), holding the
 * records of every well-formed message. Reported as batch item failures, so SQS redelivers only them
 * (and moves them to the DLQ after `maxReceiveCount` deliveries):
 * - a malformed message, alone: the rest of the batch is archived without it;
 * - every well-formed message when the one write fails.
 *
 * At least once: a message redelivered in another batch is archived again in that batch's object,
 * so a decision may be in two objects; readers dedupe on `decisionId` (see domain/archive.ts).
 */
export const makeArchiveConsumer =
  (deps: ArchiveConsumerDeps) =>
  async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const receiveCounts = new Map(
      event.Records.map((record) => [record.messageId, record.attributes?.ApproximateReceiveCount]),
    );
    const batch = await deps.archiver.archive(
      event.Records.map((record) => ({ messageId: record.messageId, body: record.body })),
    );
    for (const { messageId, error } of batch.malformed) {
      deps.logger.error('malformed decision-archive message; it will be redelivered, then dead-lettered', {
        messageId,
        receiveCount: receiveCounts.get(messageId),
        error: errorText(error),
      });
    }
    const { write } = batch;
    if (write.status === 'failed') {
      deps.logger.error('decisions not archived; the batch will be redelivered', {
        key: write.key,
        messages: write.messageIds.length,
        decisions: write.decisions,
        error: errorText(write.error),
      });
    } else if (write.status === 'exists') {
      deps.logger.info('decisions already archived (redelivered batch)', {
        key: write.key,
        messages: write.messageIds.length,
      });
    } else if (write.status === 'created') {
      deps.logger.debug('decisions archived', {
        key: write.key,
        messages: write.messageIds.length,
        decisions: write.decisions,
      });
    }
    const failures = new Map<string, unknown>([
      ...batch.malformed.map(({ messageId, error }) => [messageId, error] as const),
      ...(write.status === 'failed' ? write.messageIds.map((id) => [id, write.error] as const) : []),
    ]);
    return settleSqsBatch(event, failures, {
      deadLetters: deps.deadLetters,
      onFailure: ({ record, error, fate, deadLetterError }) => {
        if (fate === 'dead-lettered') {
          deps.logger.error(
            'decision-archive message failed its last delivery; put on the DLQ with its error',
            {
              messageId: record.messageId,
              error: errorText(error),
            },
          );
        } else if (deadLetterError !== undefined) {
          deps.logger.error(
            'decision-archive message failed its last delivery; SQS will dead-letter it without its error',
            {
              messageId: record.messageId,
              deadLetterError: errorText(deadLetterError),
            },
          );
        }
      },
    });
  };
