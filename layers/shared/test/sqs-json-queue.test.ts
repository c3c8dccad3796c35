import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
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
});
