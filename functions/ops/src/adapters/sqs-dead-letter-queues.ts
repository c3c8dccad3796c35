import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { DEAD_LETTER_ATTRIBUTES } from '#shared/adapters/sqs-last-attempt.js';
import type { DeadLetterQueueRef } from '#shared/pillar.js';
import type {
  DeadLetter,
  DeadLetterQueues,
  HeldDeadLetter,
  QueueDepth,
  RedriveTask,
} from '../domain/dead-letters.js';

/** How long a read hides a dead letter from other readers (released at once when done). */
const HOLD_SECONDS = 30;
/** A search for one message reads at most this many before saying it is not there. */
const MAX_SCANNED = 1000;

/**
 * The catalog's dead-letter queues on SQS (DEAD_LETTER_QUEUES_ENV gives their URLs and ARNs).
 * SQS has no "read without receiving": a peek receives with a visibility timeout and releases what
 * it read (ChangeMessageVisibility 0), and a search for one message id receives until it finds it.
 * Redriving everything is SQS's own message move task, back to the queue itself.
 */
export class SqsDeadLetterQueues implements DeadLetterQueues {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly refs: Readonly<Record<string, DeadLetterQueueRef>>,
  ) {}

  ids(): readonly string[] {
    return Object.keys(this.refs);
  }

  maxReceiveCount(queueId: string): number {
    return this.#ref(queueId).maxReceiveCount;
  }

  async depth(queueId: string): Promise<QueueDepth> {
    const out = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.#ref(queueId).dlqUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const count = (name: string) => Number(out.Attributes?.[name as keyof typeof out.Attributes] ?? 0);
    return {
      visible: count('ApproximateNumberOfMessages'),
      inFlight: count('ApproximateNumberOfMessagesNotVisible'),
      delayed: count('ApproximateNumberOfMessagesDelayed'),
    };
  }

  async peek(queueId: string, limit: number): Promise<DeadLetter[]> {
    const read: HeldDeadLetter[] = [];
    try {
      while (read.length < limit) {
        const batch = await this.#receive(queueId, Math.min(10, limit - read.length));
        if (batch.length === 0) break;
        read.push(...batch);
      }
    } finally {
      await this.#releaseAll(queueId, read);
    }
    return read.map(({ receipt: _receipt, ...message }) => message);
  }

  async hold(queueId: string, messageId: string): Promise<HeldDeadLetter | undefined> {
    const others: HeldDeadLetter[] = [];
    try {
      while (others.length < MAX_SCANNED) {
        const batch = await this.#receive(queueId, 10);
        if (batch.length === 0) return undefined;
        const found = batch.find((message) => message.messageId === messageId);
        others.push(...batch.filter((message) => message !== found));
        if (found) return found;
      }
      return undefined;
    } finally {
      await this.#releaseAll(queueId, others);
    }
  }

  async release(queueId: string, message: HeldDeadLetter): Promise<void> {
    await this.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.#ref(queueId).dlqUrl,
        ReceiptHandle: message.receipt,
        VisibilityTimeout: 0,
      }),
    );
  }

  async remove(queueId: string, message: HeldDeadLetter): Promise<void> {
    await this.sqs.send(
      new DeleteMessageCommand({ QueueUrl: this.#ref(queueId).dlqUrl, ReceiptHandle: message.receipt }),
    );
  }

  /**
   * The message's body and attributes, except those its consumer added when it dead-lettered it
   * (`conductor-last-error`…): they describe its last death, and its next one would replace them.
   */
  async resend(queueId: string, message: HeldDeadLetter): Promise<void> {
    const attributes = Object.entries(message.messageAttributes).filter(
      ([name]) => !DEAD_LETTER_ATTRIBUTES.includes(name),
    );
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.#ref(queueId).queueUrl,
        MessageBody: message.body,
        ...(attributes.length > 0
          ? {
              MessageAttributes: Object.fromEntries(
                attributes.map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
              ),
            }
          : {}),
      }),
    );
  }

  async startRedrive(queueId: string): Promise<void> {
    const ref = this.#ref(queueId);
    // The destination is named: a message put on the DLQ by hand has no DeadLetterQueueSourceArn.
    await this.sqs.send(
      new StartMessageMoveTaskCommand({ SourceArn: ref.dlqArn, DestinationArn: ref.queueArn }),
    );
  }

  async lastRedrive(queueId: string): Promise<RedriveTask | undefined> {
    const out = await this.sqs.send(
      new ListMessageMoveTasksCommand({ SourceArn: this.#ref(queueId).dlqArn, MaxResults: 1 }),
    );
    const task = out.Results?.[0];
    if (!task) return undefined;
    return {
      status: task.Status ?? 'UNKNOWN',
      moved: task.ApproximateNumberOfMessagesMoved ?? 0,
      ...(task.ApproximateNumberOfMessagesToMove !== undefined
        ? { toMove: task.ApproximateNumberOfMessagesToMove }
        : {}),
      ...(task.StartedTimestamp !== undefined
        ? { startedAt: new Date(task.StartedTimestamp).toISOString() }
        : {}),
      ...(task.FailureReason !== undefined ? { failureReason: task.FailureReason } : {}),
    };
  }

  async #receive(queueId: string, max: number): Promise<HeldDeadLetter[]> {
    const out = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.#ref(queueId).dlqUrl,
        MaxNumberOfMessages: max,
        VisibilityTimeout: HOLD_SECONDS,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    return (out.Messages ?? []).map(heldOf);
  }

  async #releaseAll(queueId: string, messages: readonly HeldDeadLetter[]): Promise<void> {
    await Promise.all(messages.map((message) => this.release(queueId, message).catch(() => undefined)));
  }

  #ref(queueId: string): DeadLetterQueueRef {
    const ref = this.refs[queueId];
    if (!ref) throw new Error(`No queue ${queueId} in the dead-letter queue list.`);
    return ref;
  }
}

const heldOf = (message: Message): HeldDeadLetter => {
  const attributes = message.Attributes ?? {};
  const first = attributes.ApproximateFirstReceiveTimestamp;
  const source = attributes.DeadLetterQueueSourceArn;
  return {
    messageId: message.MessageId ?? '',
    receipt: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    // This read is one receive: the count before it is what the message went through.
    receiveCount: Math.max(0, Number(attributes.ApproximateReceiveCount ?? 1) - 1),
    sentTimestamp: Number(attributes.SentTimestamp ?? 0),
    ...(first !== undefined ? { firstReceiveTimestamp: Number(first) } : {}),
    ...(source !== undefined ? { deadLetteredFrom: source } : {}),
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).flatMap(([name, value]) =>
        value.StringValue !== undefined ? [[name, value.StringValue]] : [],
      ),
    ),
  };
};
