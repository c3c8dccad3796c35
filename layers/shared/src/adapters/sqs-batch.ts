import type { SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/** An SQS event source batch, as Lambda (or the embedded runtime's event source mapping) delivers it. */
export const isSqsEvent = (event: unknown): event is SQSEvent => {
  const records = (event as { Records?: unknown } | null | undefined)?.Records;
  return (
    Array.isArray(records) && (records[0] as { eventSource?: unknown } | undefined)?.eventSource === 'aws:sqs'
  );
};

/**
 * Consumer-managed dead-lettering of a record's last delivery (`SqsLastAttemptDeadLetters` on SQS).
 * SQS keeps no reason when its redrive policy moves a message to the DLQ, and a message's attributes
 * cannot change after it is sent: so on the delivery that is the record's last (its receive count
 * has reached its queue's `maxReceiveCount`), the consumer sends it to the DLQ itself, with the error
 * that failed it, and reports it processed.
 */
export interface LastAttemptDeadLetters {
  /** This delivery of the record is its last: a failure now would move it to the DLQ. */
  isLastAttempt(record: SQSRecord): boolean;
  /** Puts the record on its queue's DLQ with `error` as its last error; rejects when the DLQ did not take it. */
  send(record: SQSRecord, error: unknown): Promise<void>;
  /**
   * Makes a failed record visible again in `seconds` instead of after the queue's visibility timeout
   * (ChangeMessageVisibility on its receipt handle); rejects when SQS refused.
   */
  redeliverAfter?(record: SQSRecord, seconds: number): Promise<void>;
}

/** A record of the batch that failed, and what became of it. */
export interface FailedRecord {
  readonly record: SQSRecord;
  readonly error: unknown;
  /**
   * `dead-lettered`: its last delivery; the consumer put it on the DLQ with its error and reported it
   * processed. `redelivered`: reported as a batch item failure, so SQS delivers it again (or, after
   * `maxReceiveCount` deliveries, its redrive policy moves it to the DLQ, without the error).
   */
  readonly fate: 'dead-lettered' | 'redelivered';
  /** Why the consumer could not put a last delivery on the DLQ itself (then SQS's redrive will). */
  readonly deadLetterError?: unknown;
  /** A redelivered record made visible again this soon (`retryAfterSeconds`), not after the timeout. */
  readonly redeliverInSeconds?: number;
  /** Why a sooner redelivery could not be arranged (it comes back after the visibility timeout). */
  readonly visibilityError?: unknown;
}

export interface SettleOptions {
  /** Without it, every failed record is a batch item failure (SQS alone dead-letters, with no reason). */
  readonly deadLetters?: LastAttemptDeadLetters | undefined;
  /** Told of every failed record once its fate is known (to log it). */
  readonly onFailure?: (failed: FailedRecord) => void;
  /**
   * For a failure worth retrying soon (a contended write, not a malformed message): in how many
   * seconds the record should come back, instead of after the whole visibility timeout. Undefined:
   * the visibility timeout. Needs `deadLetters.redeliverAfter`; best effort (if SQS refuses, the
   * record comes back after the visibility timeout as before).
   */
  readonly retryAfterSeconds?: (error: unknown) => number | undefined;
}

/**
 * The answer to a batch whose failed records (message id -> error) are known, for an event source
 * mapping with ReportBatchItemFailures: the records that did not fail are deleted by SQS; a failed
 * record on its last delivery is put on the DLQ by `deadLetters` with its error and answered as
 * processed (so SQS deletes it); every other failed record, and a last delivery the DLQ did not take,
 * is a batch item failure and comes back after the visibility timeout, or moves to the DLQ through the
 * queue's own redrive policy. Nothing is lost either way: the record is deleted only once the DLQ has
 * it. A crash between the DLQ send and the answer may leave it twice on the DLQ, never nowhere.
 */
export const settleSqsBatch = async (
  event: SQSEvent,
  failures: ReadonlyMap<string, unknown>,
  options: SettleOptions = {},
): Promise<SQSBatchResponse> => {
  const { deadLetters, onFailure, retryAfterSeconds } = options;
  const fates = await Promise.all(
    event.Records.filter((record) => failures.has(record.messageId)).map(
      async (record): Promise<FailedRecord> => {
        const error = failures.get(record.messageId);
        if (!deadLetters?.isLastAttempt(record)) {
          const seconds = retryAfterSeconds?.(error);
          if (seconds === undefined || !deadLetters?.redeliverAfter)
            return { record, error, fate: 'redelivered' };
          try {
            await deadLetters.redeliverAfter(record, seconds);
            return { record, error, fate: 'redelivered', redeliverInSeconds: seconds };
          } catch (visibilityError) {
            return { record, error, fate: 'redelivered', visibilityError };
          }
        }
        try {
          await deadLetters.send(record, error);
          return { record, error, fate: 'dead-lettered' };
        } catch (deadLetterError) {
          return { record, error, fate: 'redelivered', deadLetterError };
        }
      },
    ),
  );
  const batchItemFailures: SQSBatchItemFailure[] = [];
  for (const failed of fates) {
    onFailure?.(failed);
    if (failed.fate === 'redelivered') batchItemFailures.push({ itemIdentifier: failed.record.messageId });
  }
  return { batchItemFailures };
};

/**
 * Processes every record of a batch (concurrently) and answers as `settleSqsBatch` does: the failed
 * records are batch item failures (they come back after the visibility timeout, and reach the DLQ
 * after `maxReceiveCount` deliveries), except a last delivery that `deadLetters` puts on the DLQ with
 * its error. `process` must be idempotent: SQS delivers at least once.
 */
export const processSqsBatch = async (
  event: SQSEvent,
  process: (record: SQSRecord) => Promise<void>,
  options: SettleOptions = {},
): Promise<SQSBatchResponse> => {
  const outcomes = await Promise.allSettled(event.Records.map((record) => process(record)));
  const failures = new Map<string, unknown>();
  outcomes.forEach((outcome, index) => {
    const record = event.Records[index];
    if (outcome.status === 'rejected' && record) failures.set(record.messageId, outcome.reason);
  });
  return settleSqsBatch(event, failures, options);
};
