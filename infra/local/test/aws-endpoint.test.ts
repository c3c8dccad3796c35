import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgePublisher, makeEventBridgeClient } from '#shared/adapters/eventbridge.js';
import { makeSqsClient } from '#shared/adapters/sqs-client.js';
import { EventTypes } from '#shared/ports/events.js';
import { budgetBreach } from '../../../functions/scheduler/events.js';
import { type RunningAwsEndpoint, startAwsEndpoint } from '../aws-endpoint.js';
import { type BusEvent, LocalEventBus } from '../bus.js';
import { LocalQueue } from '../queue.js';

/** The kernel's real AWS SDK adapters, pointed at the local stand-ins through the endpoint. */
let endpoint: RunningAwsEndpoint;
const bus = new LocalEventBus({ name: 'conductor' });
const jobs = new LocalQueue({ name: 'jobs' });
const failedDlq = new LocalQueue({ name: 'failed-dlq' });
const failing = new LocalQueue({ name: 'failing', maxReceiveCount: 1, deadLetterQueue: failedDlq });
const received: BusEvent[] = [];

beforeAll(async () => {
  bus.addRule({
    name: 'all-conductor',
    eventPattern: { source: ['conductor'] },
    target: async (event) => {
      received.push(event);
    },
  });
  endpoint = await startAwsEndpoint({
    bus,
    queues: new Map([
      ['jobs', jobs],
      ['failing', failing],
      ['failed-dlq', failedDlq],
    ]),
  });
});
afterAll(async () => {
  await endpoint.close();
  await bus.stop();
});

describe('the local AWS endpoint', () => {
  it('delivers events the kernel publishes through the real EventBridge client to matching rules', async () => {
    const publisher = new EventBridgePublisher(
      makeEventBridgeClient({ region: 'us-east-1', endpoint: endpoint.url }),
      'conductor',
      new EventTypes([budgetBreach]),
    );

    await publisher.publish([
      {
        type: 'budget_breach',
        detail: {
          tenantId: 'acme',
          traceId: 'trace-00000001',
          occurredAt: '2026-01-01T00:00:00.000Z',
          window: 'monthly',
          windowId: 'monthly:2026-01',
          threshold: 'breach',
          limitUsd: 1000,
          projectedUsd: 1100,
          spentUsd: 90,
          mode: 'throttle',
          action: 'throttle',
        },
      },
    ]);
    await bus.drain();

    expect(received).toHaveLength(1);
    expect(received[0]?.['detail-type']).toBe('budget_breach');
    expect(received[0]?.detail).toMatchObject({ tenantId: 'acme', projectedUsd: 1100 });
  });

  it('accepts SendMessage and SendMessageBatch from the real SQS client', async () => {
    const sqs = makeSqsClient({ region: 'us-east-1', endpoint: endpoint.url });
    const QueueUrl = endpoint.queueUrl('jobs');

    const one = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"n":1}' }));
    const batch = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: [
          { Id: 'a', MessageBody: '{"n":2}' },
          {
            Id: 'b',
            MessageBody: '{"n":3}',
            MessageAttributes: { kind: { DataType: 'String', StringValue: 'x' } },
          },
        ],
      }),
    );
    const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));

    expect(one.MessageId).toBeTruthy();
    expect(batch.Successful?.map((s) => s.Id).sort()).toEqual(['a', 'b']);
    expect(attributes.Attributes?.ApproximateNumberOfMessages).toBe('3');
    expect(
      jobs
        .receive(10)
        .map((r) => r.body)
        .sort(),
    ).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
  });

  it('answers an unknown queue with the SQS error the SDK understands', async () => {
    const sqs = new SQSClient({
      region: 'us-east-1',
      endpoint: endpoint.url,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });

    await expect(
      sqs.send(new SendMessageCommand({ QueueUrl: endpoint.queueUrl('nope'), MessageBody: 'x' })),
    ).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
  });

  it('receives with a visibility timeout and the attributes asked for, then deletes or releases', async () => {
    // Prepare
    const sqs = makeSqsClient({ region: 'us-east-1', endpoint: endpoint.url });
    const url = endpoint.queueUrl('failed-dlq');
    failedDlq.send('kept', { messageAttributes: { origin: 'test' } });
    failedDlq.send('deleted');

    // Act
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 30,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        MessageAttributeNames: ['All'],
      }),
    );
    const [kept, deleted] = out.Messages ?? [];
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: kept?.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: deleted?.ReceiptHandle }));

    // Assess
    expect(kept).toMatchObject({
      Body: 'kept',
      Attributes: { ApproximateReceiveCount: '1' },
      MessageAttributes: { origin: { DataType: 'String', StringValue: 'test' } },
    });
    expect(kept?.Attributes).not.toHaveProperty('SentTimestamp');
    expect(failedDlq.peek().map((m) => [m.body, m.state])).toEqual([['kept', 'visible']]);
    failedDlq.purge();
  });

  it('moves a DLQ back to the queue its messages came from with StartMessageMoveTask, and lists the task', async () => {
    // Prepare
    const sqs = makeSqsClient({ region: 'us-east-1', endpoint: endpoint.url });
    failing.send('poison');
    failing.receive(1, { visibilityTimeoutSeconds: 0 });
    failing.receive(1);

    // Act
    const started = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: failedDlq.arn }));
    const listed = await sqs.send(
      new ListMessageMoveTasksCommand({ SourceArn: failedDlq.arn, MaxResults: 10 }),
    );

    // Assess
    expect(started.TaskHandle).toEqual(expect.any(String));
    expect(listed.Results).toEqual([
      expect.objectContaining({
        Status: 'COMPLETED',
        SourceArn: failedDlq.arn,
        ApproximateNumberOfMessagesMoved: 1,
        ApproximateNumberOfMessagesToMove: 1,
      }),
    ]);
    expect(failedDlq.depth().visible).toBe(0);
    expect(failing.peek().map((m) => [m.body, m.receiveCount])).toEqual([['poison', 0]]);
  });

  it('refuses a message move task from a queue that is no dead-letter queue, and what it does not emulate', async () => {
    // Prepare
    const sqs = makeSqsClient({ region: 'us-east-1', endpoint: endpoint.url });

    // Act
    const fromJobs = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: jobs.arn })).catch((e) => e);
    const purge = await sqs
      .send(new PurgeQueueCommand({ QueueUrl: endpoint.queueUrl('jobs') }))
      .catch((e) => e);

    // Assess
    expect(fromJobs).toMatchObject({ name: 'InvalidParameterValue' });
    expect(purge).toMatchObject({ name: 'UnsupportedOperation' });
  });
});
