import type { SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/** An SQS event source batch, as Lambda (or the embedded runtime's event source mapping) delivers it. */
export const isSqsEvent = (event: unknown): event is SQSEvent => {
  const records = (event as { Records?: unknown } | null | undefined)?.Records;
  return (
    Array.isArray(records) && (records[0] as { eventSource?: unknown } | undefined)?.eventSource === 'aws:sqs'
  );
};

/**
 * Processes every record of a batch (concurrently) and reports the ones that failed as
 * `batchItemFailures`, for an event source mapping with ReportBatchItemFailures: the successful
 * records are deleted, the failed ones come back after the visibility timeout (and reach the DLQ
 * after `maxReceiveCount` deliveries). `process` must be idempotent: SQS delivers at least once.
 */
export const processSqsBatch = async (
  event: SQSEvent,
  process: (record: SQSRecord) => Promise<void>,
  onFailure: (record: SQSRecord, error: unknown) => void = () => undefined,
): Promise<SQSBatchResponse> => {
  const outcomes = await Promise.allSettled(event.Records.map((record) => process(record)));
  const batchItemFailures: SQSBatchItemFailure[] = [];
  outcomes.forEach((outcome, index) => {
    const record = event.Records[index];
    if (outcome.status === 'fulfilled' || !record) return;
    onFailure(record, outcome.reason);
    batchItemFailures.push({ itemIdentifier: record.messageId });
  });
  return { batchItemFailures };
};
