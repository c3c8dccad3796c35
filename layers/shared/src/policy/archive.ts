import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DecisionArchive, DecisionRecord } from '../ports/policy.js';

/** The SQS message size the archive keeps to (the pre-2025 SQS limit, so any queue accepts it). */
export const MAX_ARCHIVE_MESSAGE_BYTES = 256 * 1024;

export class DecisionArchiveMessageTooLargeError extends Error {
  override readonly name = 'DecisionArchiveMessageTooLargeError';
}

/**
 * The durable hand-off to the append-only archive: one SQS message per `append`, i.e. per decision
 * (its one or two records) or per `decideMany` batch (all its records), as a JSON array. `append` resolves once SQS has accepted the message; the archiver (an
 * SQS consumer in the authorize function) writes it to the WORM store, idempotently.
 */
export class SqsDecisionArchive implements DecisionArchive {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
  ) {}

  async append(records: readonly DecisionRecord[]): Promise<void> {
    if (records.length === 0) return;
    const body = JSON.stringify(records);
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes > MAX_ARCHIVE_MESSAGE_BYTES) {
      // A decision record is about 1 KB; this is a bug upstream, and failing is better than losing it.
      throw new DecisionArchiveMessageTooLargeError(
        `${records.length} decision record(s) take ${bytes} bytes; an archive message holds at most ${MAX_ARCHIVE_MESSAGE_BYTES}`,
      );
    }
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: body }));
  }
}

/** No archive, for unit tests of code around the enforcer: accepts and forgets. */
export class NoArchive implements DecisionArchive {
  async append(_records: readonly DecisionRecord[]): Promise<void> {}
}
