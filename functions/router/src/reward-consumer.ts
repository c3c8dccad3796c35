import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type RewardMessage, rewardMessageSchema } from './domain/reward-intake.js';
import type { RewardConsumer } from './domain/reward-learning.js';

export interface RewardBatchDeps {
  readonly consumer: Pick<RewardConsumer, 'ingestBatch'>;
  readonly logger: Logger;
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * The rewards queue's consumer (transport <-> domain for SQS, as app.ts is for HTTP): the well-formed
 * messages of a batch are ingested together (`RewardConsumer.ingestBatch`: one batch read of their
 * decisions and markers, one write per model); the ones that fail (their model's write contended past
 * the retry budget, a table error) are reported as batch item failures, so SQS redelivers only those
 * (and moves them to the DLQ after `maxReceiveCount` deliveries). A malformed message fails on its
 * own: it ends in the DLQ, not in silence, and does not hold back the others.
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

    const batchItemFailures: SQSBatchItemFailure[] = [];
    for (const record of event.Records) {
      if (!failed.has(record.messageId)) continue;
      deps.logger.error('reward not ingested; the message will be redelivered', {
        messageId: record.messageId,
        receiveCount: record.attributes?.ApproximateReceiveCount,
        error: describeError(failed.get(record.messageId)),
      });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
    return { batchItemFailures };
  };
