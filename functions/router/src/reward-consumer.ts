import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type LastAttemptDeadLetters, settleSqsBatch } from '#shared/adapters/sqs-batch.js';
import { type RewardMessage, rewardMessageSchema } from './domain/reward-intake.js';
import { ModelContentionError, type RewardConsumer } from './domain/reward-learning.js';

export interface RewardBatchDeps {
  readonly consumer: Pick<RewardConsumer, 'ingestBatch'>;
  readonly logger: Logger;
  /** Puts a reward failing its last delivery on the DLQ with its error (the kernel's); none: SQS does, without it. */
  readonly deadLetters?: LastAttemptDeadLetters | undefined;
}

/** 1-5 s, jittered, so that contending consumers do not meet again at the same instant. */
export const CONTENTION_RETRY_SECONDS = { min: 1, max: 5 } as const;
const contentionRetrySeconds = (): number =>
  CONTENTION_RETRY_SECONDS.min +
  Math.floor(Math.random() * (CONTENTION_RETRY_SECONDS.max - CONTENTION_RETRY_SECONDS.min + 1));

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * The rewards queue's consumer (transport <-> domain for SQS, as app.ts is for HTTP): the well-formed
 * messages of a batch are ingested together (`RewardConsumer.ingestBatch`: one batch read of their
 * decisions and markers, one write per model); the ones that fail (their model's write contended past
 * the retry budget, a table error) are reported as batch item failures, so SQS redelivers only those.
 * A malformed message fails on its own: it ends in the DLQ, not in silence, and does not hold back
 * the others. On a message's last delivery the kernel's `settleSqsBatch` puts it on the DLQ itself,
 * with the error that failed it (`conductor-last-error`), so the ops pillar can show why it died.
 */
export const makeRewardBatchHandler =
  (deps: RewardBatchDeps) =>
  async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const failed = new Map<string, unknown>();
    const parsed: { readonly record: SQSRecord; readonly message: RewardMessage }[] = [];
    for (const record of event.Records) {
      try {
        parsed.push({ record, message: rewardMessageSchema.parse(JSON.parse(record.body)) });
      } catch (error) {
        failed.set(record.messageId, error);
      }
    }

    if (parsed.length > 0) {
      try {
        const results = await deps.consumer.ingestBatch(parsed.map(({ message }) => message));
        parsed.forEach(({ record, message }, index) => {
          const result = results[index];
          if (result?.ok) {
            deps.logger.debug('reward ingested', {
              taskId: message.taskId,
              signal: message.signal,
              ...result.outcome,
            });
          } else {
            failed.set(record.messageId, result ? result.error : new Error('no result for the message'));
          }
        });
      } catch (error) {
        // ingestBatch reports per message and should not throw; if it does, nothing is known to be done.
        for (const { record } of parsed) failed.set(record.messageId, error);
      }
    }

    return settleSqsBatch(event, failed, {
      deadLetters: deps.deadLetters,
      // A model another consumer kept changing (past the retry budget) is worth trying again in a
      // few seconds, not after the 60 s visibility timeout: contention must not cost a minute.
      retryAfterSeconds: (error) =>
        error instanceof ModelContentionError ? contentionRetrySeconds() : undefined,
      onFailure: ({ record, error, fate, deadLetterError, redeliverInSeconds }) => {
        const details = {
          messageId: record.messageId,
          receiveCount: record.attributes?.ApproximateReceiveCount,
          error: describeError(error),
        };
        if (fate === 'dead-lettered') {
          deps.logger.error(
            'reward not ingested on its last delivery; put on the DLQ with its error',
            details,
          );
        } else if (deadLetterError !== undefined) {
          deps.logger.error(
            'reward not ingested on its last delivery; SQS will dead-letter it without its error',
            {
              ...details,
              deadLetterError: describeError(deadLetterError),
            },
          );
        } else if (redeliverInSeconds !== undefined) {
          deps.logger.warn('reward not ingested (its model is contended); redelivered shortly', {
            ...details,
            redeliverInSeconds,
          });
        } else {
          deps.logger.error('reward not ingested; the message will be redelivered', details);
        }
      },
    });
  };
