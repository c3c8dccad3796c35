import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { processSqsBatch } from '#shared/sqs-batch.js';
import type { DecisionArchiver } from './domain/archive.js';

export interface ArchiveConsumerDeps {
  readonly archiver: DecisionArchiver;
  readonly logger: Logger;
}

/**
 * The decision-archive queue's consumer (transport <-> domain for SQS, as app.ts is for HTTP): each
 * message is archived on its own; the ones that fail are reported as batch item failures, so SQS
 * redelivers only those (and moves them to the DLQ after `maxReceiveCount` deliveries).
 */
export const makeArchiveConsumer =
  (deps: ArchiveConsumerDeps) =>
  (event: SQSEvent): Promise<SQSBatchResponse> =>
    processSqsBatch(
      event,
      async (record) => {
        const archived = await deps.archiver.archive({ messageId: record.messageId, body: record.body });
        if (archived.outcome === 'exists') {
          deps.logger.info('decisions already archived (redelivery)', { key: archived.key });
        } else {
          deps.logger.debug('decisions archived', { key: archived.key, decisions: archived.decisions });
        }
      },
      (record, error) =>
        deps.logger.error('decisions not archived; the message will be redelivered', {
          messageId: record.messageId,
          receiveCount: record.attributes?.ApproximateReceiveCount,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        }),
    );
