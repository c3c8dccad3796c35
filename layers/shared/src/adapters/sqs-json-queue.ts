import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

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
}
