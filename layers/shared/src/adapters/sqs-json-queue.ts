import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** SendMessageBatch takes at most 10 entries. */
const BATCH_ENTRIES = 10;

/**
 * One pillar queue (an SQS queue of a manifest) as a port that sends one message at a time, as JSON:
 * `send` resolves once SQS has accepted the message, so an API that answers after it has handed the
 * work off durably (the router's rewards, the scheduler's jobs), and rejects otherwise (the API
 * answers 503 and nothing is lost).
 */
export class SqsJsonQueue<M> {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
  ) {}

  /**
   * @param messageGroupId on a standard queue, the SQS fair-queue group (e.g. the tenant): SQS then
   *   keeps one group's backlog from delaying the others' messages. No FIFO semantics.
   */
  async send(message: M, messageGroupId?: string): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(message),
        ...(messageGroupId === undefined ? {} : { MessageGroupId: messageGroupId }),
      }),
    );
  }

  /**
   * Several messages in SendMessageBatch calls of 10 (SQS bills a batch of small messages as one
   * request). Resolves once SQS has accepted every one: an entry a batch reports failed is sent again
   * on its own, once; if that fails too, it rejects (the messages accepted stay accepted: consumers
   * are idempotent, and a caller that retries sends them again harmlessly).
   */
  async sendMany(messages: readonly M[]): Promise<void> {
    for (let start = 0; start < messages.length; start += BATCH_ENTRIES) {
      const chunk = messages.slice(start, start + BATCH_ENTRIES);
      const answer = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((message, i) => ({ Id: String(i), MessageBody: JSON.stringify(message) })),
        }),
      );
      for (const failed of answer.Failed ?? []) {
        const message = chunk[Number(failed.Id)];
        if (message !== undefined) await this.send(message);
      }
    }
  }
}
