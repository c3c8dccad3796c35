import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { RewardMessage, RewardQueue } from '../domain/reward-intake.js';

/** The router manifest's `rewards` queue: `send` resolves once SQS has accepted the message. */
export class SqsRewardQueue implements RewardQueue {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
  ) {}

  async send(message: RewardMessage): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(message) }),
    );
  }
}
