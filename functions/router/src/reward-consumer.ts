import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { processSqsBatch } from '#shared/sqs-batch.js';
import { type RewardConsumer, rewardMessageSchema } from './domain/rewards.js';

export interface RewardBatchDeps {
  readonly consumer: RewardConsumer;
  readonly logger: Logger;
}

/**
 * The rewards queue's consumer (transport <-> domain for SQS, as app.ts is for HTTP): each message is
 * ingested on its own; the ones that fail (contention past the retry budget, a table error) are
 * reported as batch item failures, so SQS redelivers only those (and moves them to the DLQ after
 * `maxReceiveCount` deliveries). A malformed message fails too: it ends in the DLQ, not in silence.
 */
export const makeRewardBatchHandler =
  (deps: RewardBatchDeps) =>
  (event: SQSEvent): Promise<SQSBatchResponse> =>
    processSqsBatch(
      event,
      async (record) => {
        const message = rewardMessageSchema.parse(JSON.parse(record.body));
        const outcome = await deps.consumer.ingest(message);
        deps.logger.debug('reward ingested', { taskId: message.taskId, signal: message.signal, ...outcome });
      },
      (record, error) =>
        deps.logger.error('reward not ingested; the message will be redelivered', {
          messageId: record.messageId,
          receiveCount: record.attributes?.ApproximateReceiveCount,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        }),
    );
