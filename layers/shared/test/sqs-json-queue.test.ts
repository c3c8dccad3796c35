import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it } from 'vitest';
import { SqsJsonQueue } from '#shared/adapters/sqs-json-queue.js';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/conductor-scheduler-jobs';
const sqs = mockClient(SQSClient);

afterEach(() => {
  sqs.reset();
});

describe('SqsJsonQueue', () => {
  it('sends each message as JSON to its queue', async () => {
    // Prepare
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const queue = new SqsJsonQueue<{ tenantId: string; jobId: string; traceId: string }>(
      new SQSClient({}),
      QUEUE_URL,
    );

    // Act
    await queue.send({ tenantId: 'acme', jobId: 'job_1', traceId: 'trace-1' });

    // Assess
    expect(sqs).toReceiveCommandTimes(SendMessageCommand, 1);
    expect(sqs).toReceiveCommandWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageBody: '{"tenantId":"acme","jobId":"job_1","traceId":"trace-1"}',
    });
  });

  it('rejects when SQS does not accept the message, so the API that hands work off answers 503', async () => {
    // Prepare
    sqs.on(SendMessageCommand).rejects(new Error('throttled'));
    const queue = new SqsJsonQueue<{ tenantId: string; jobId: string; traceId: string }>(
      new SQSClient({}),
      QUEUE_URL,
    );

    // Act
    const sent = queue.send({ tenantId: 'acme', jobId: 'job_1', traceId: 'trace-1' });

    // Assess
    await expect(sent).rejects.toThrow('throttled');
  });

  it('sends many messages in batches of 10, and an entry a batch failed again on its own', async () => {
    // Prepare: the first batch reports its entry 3 failed.
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [{ Id: '3', SenderFault: false, Code: 'InternalError' }] })
      .resolves({ Successful: [], Failed: [] });
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-again' });
    const queue = new SqsJsonQueue<{ n: number }>(new SQSClient({}), QUEUE_URL);

    // Act
    await queue.sendMany(Array.from({ length: 12 }, (_, n) => ({ n })));

    // Assess
    expect(sqs).toReceiveCommandTimes(SendMessageBatchCommand, 2);
    expect(sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries).toHaveLength(10);
    expect(
      sqs.commandCalls(SendMessageBatchCommand)[1]?.args[0].input.Entries?.map((e) => e.MessageBody),
    ).toEqual(['{"n":10}', '{"n":11}']);
    expect(sqs).toReceiveCommandWith(SendMessageCommand, { QueueUrl: QUEUE_URL, MessageBody: '{"n":3}' });
  });

  it('rejects when an entry cannot be sent even on its own', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolves({ Failed: [{ Id: '0', SenderFault: false, Code: 'InternalError' }] });
    sqs.on(SendMessageCommand).rejects(new Error('still failing'));
    const queue = new SqsJsonQueue<{ n: number }>(new SQSClient({}), QUEUE_URL);

    await expect(queue.sendMany([{ n: 1 }])).rejects.toThrow('still failing');
  });
});
