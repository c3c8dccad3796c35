import type { SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { type FailedRecord, processSqsBatch, settleSqsBatch } from '#shared/adapters/sqs-batch.js';
import {
  LAST_ERROR_ATTRIBUTE,
  LAST_ERROR_MAX_CHARS,
  lastErrorText,
  RECEIVE_COUNT_ATTRIBUTE,
  SOURCE_MESSAGE_ID_ATTRIBUTE,
  SqsLastAttemptDeadLetters,
} from '#shared/adapters/sqs-last-attempt.js';
import type { DeadLetterQueueRef } from '#shared/pillar.js';
import { type RunningAwsEndpoint, startAwsEndpoint } from '../../../infra/local/aws-endpoint.js';
import { LocalEventBus } from '../../../infra/local/bus.js';
import { LocalQueue } from '../../../infra/local/queue.js';

const JOBS_ARN = 'arn:aws:sqs:us-east-1:000000000000:conductor-jobs';
const REFS: Record<string, DeadLetterQueueRef> = {
  jobs: {
    queueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/conductor-jobs',
    queueArn: JOBS_ARN,
    dlqUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/conductor-jobs-dlq',
    dlqArn: 'arn:aws:sqs:us-east-1:000000000000:conductor-jobs-dlq',
    maxReceiveCount: 3,
  },
};

const record = (
  messageId: string,
  receiveCount: number,
  body = '{"tenantId":"acme","jobId":"j-1"}',
  messageAttributes: SQSRecord['messageAttributes'] = {},
  eventSourceARN = JOBS_ARN,
): SQSRecord => ({
  messageId,
  receiptHandle: `r-${messageId}`,
  body,
  attributes: {
    ApproximateReceiveCount: String(receiveCount),
    SentTimestamp: '1772355600000',
    SenderId: 'test',
    ApproximateFirstReceiveTimestamp: '1772355600000',
  },
  messageAttributes,
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN,
  awsRegion: 'us-east-1',
});
const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
const stringAttribute = (value: string) => ({
  stringValue: value,
  stringListValues: [],
  binaryListValues: [],
  dataType: 'String',
});

/** A fake SQS client that records what is sent, or refuses it. */
const fakeSqs = (refuse?: Error) => {
  const sent: SendMessageCommandInput[] = [];
  const client = {
    send: async (command: { input: SendMessageCommandInput }) => {
      if (refuse) throw refuse;
      sent.push(command.input);
      return { MessageId: `dlq-${sent.length}` };
    },
  } as unknown as Pick<SQSClient, 'send'>;
  return { sent, deadLetters: new SqsLastAttemptDeadLetters(REFS, async () => client) };
};

const failing = (messageIds: string[], error: unknown) => (r: SQSRecord) =>
  messageIds.includes(r.messageId) ? Promise.reject(error) : Promise.resolve();

describe('consumer-managed dead-lettering of a last delivery', () => {
  it('sends a record failing its last delivery to the DLQ with its attributes and error, and does not report it', async () => {
    // Prepare
    const { sent, deadLetters } = fakeSqs();
    const fates: FailedRecord[] = [];
    const poison = record('m-last', 3, '{"tenantId":"acme","jobId":"j-9"}', {
      origin: stringAttribute('api'),
    });

    // Act
    const answer = await processSqsBatch(
      batch(record('m-ok', 3), poison),
      failing(['m-last'], new TypeError('job j-9 has no payload')),
      { deadLetters, onFailure: (failed) => fates.push(failed) },
    );

    // Assess
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(sent).toEqual([
      {
        QueueUrl: REFS.jobs?.dlqUrl,
        MessageBody: poison.body,
        MessageAttributes: {
          origin: { DataType: 'String', StringValue: 'api' },
          [LAST_ERROR_ATTRIBUTE]: { DataType: 'String', StringValue: 'TypeError: job j-9 has no payload' },
          [SOURCE_MESSAGE_ID_ATTRIBUTE]: { DataType: 'String', StringValue: 'm-last' },
          [RECEIVE_COUNT_ATTRIBUTE]: { DataType: 'String', StringValue: '3' },
        },
      },
    ]);
    expect(fates.map(({ record: r, fate }) => [r.messageId, fate])).toEqual([['m-last', 'dead-lettered']]);
  });

  it('reports a failure on an earlier delivery as a batch item failure and sends nothing', async () => {
    // Prepare
    const { sent, deadLetters } = fakeSqs();

    // Act
    const answer = await processSqsBatch(
      batch(record('m-1', 1), record('m-2', 2), record('m-ok', 1)),
      failing(['m-1', 'm-2'], new Error('table unavailable')),
      { deadLetters },
    );

    // Assess
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }, { itemIdentifier: 'm-2' }] });
    expect(sent).toEqual([]);
  });

  it('reports the last delivery as a batch item failure when the DLQ does not take it, so SQS’s redrive moves it', async () => {
    // Prepare
    const refusal = new Error('AccessDenied');
    const { deadLetters } = fakeSqs(refusal);
    const fates: FailedRecord[] = [];

    // Act
    const answer = await settleSqsBatch(
      batch(record('m-last', 3)),
      new Map([['m-last', new Error('boom')]]),
      {
        deadLetters,
        onFailure: (failed) => fates.push(failed),
      },
    );

    // Assess
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-last' }] });
    expect(fates).toEqual([
      expect.objectContaining({ fate: 'redelivered', deadLetterError: refusal, error: new Error('boom') }),
    ]);
  });

  it('leaves to SQS a record of a queue it was not given, and a record with too many attributes to add its own', async () => {
    // Prepare
    const { sent, deadLetters } = fakeSqs();
    const crowded = record(
      'm-crowded',
      3,
      '{}',
      Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`a${i}`, stringAttribute('x')])),
    );
    const elsewhere = record('m-other', 9, '{}', {}, 'arn:aws:sqs:us-east-1:000000000000:conductor-other');

    // Act
    const answer = await processSqsBatch(
      batch(crowded, elsewhere),
      failing(['m-crowded', 'm-other'], new Error('x')),
      { deadLetters },
    );

    // Assess
    expect(answer).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-crowded' }, { itemIdentifier: 'm-other' }],
    });
    expect(sent).toEqual([]);
  });

  it('replaces the dead-letter attributes of an earlier death (a redriven message that failed again)', async () => {
    // Prepare
    const { sent, deadLetters } = fakeSqs();
    const redriven = record('m-again', 3, '{}', {
      [LAST_ERROR_ATTRIBUTE]: stringAttribute('Error: the first death'),
      [SOURCE_MESSAGE_ID_ATTRIBUTE]: stringAttribute('m-first'),
    });

    // Act
    await processSqsBatch(batch(redriven), failing(['m-again'], new Error('the second death')), {
      deadLetters,
    });

    // Assess
    expect(sent[0]?.MessageAttributes).toEqual({
      [LAST_ERROR_ATTRIBUTE]: { DataType: 'String', StringValue: 'Error: the second death' },
      [SOURCE_MESSAGE_ID_ATTRIBUTE]: { DataType: 'String', StringValue: 'm-again' },
      [RECEIVE_COUNT_ATTRIBUTE]: { DataType: 'String', StringValue: '3' },
    });
  });

  it('without dead-lettering, reports every failed record, last delivery or not', async () => {
    // Act
    const answer = await processSqsBatch(batch(record('m-last', 3)), failing(['m-last'], new Error('x')));

    // Assess
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-last' }] });
  });
});

describe('lastErrorText', () => {
  it('keeps the name and message, and none of the body a parser quoted', () => {
    // Prepare
    const body = 'tenant secret-token-123 is not json';
    let parseError: unknown;
    try {
      JSON.parse(body);
    } catch (error) {
      parseError = error;
    }

    // Act
    const text = lastErrorText(parseError, body);

    // Assess
    expect(text.startsWith('SyntaxError: ')).toBe(true);
    expect(text).not.toContain('secret');
    expect(text).not.toContain('tenant');
  });

  it('removes the body when the message repeats it, and bounds the length', () => {
    // Prepare
    const body = '{"tenantId":"acme","apiKey":"sk-live-1"}';

    // Act
    const echoed = lastErrorText(new Error(`cannot process ${body} now`), body);
    const long = lastErrorText(new Error('x'.repeat(10_000)), '{}');

    // Assess
    expect(echoed).toBe('Error: cannot process "…" now');
    expect(Array.from(long)).toHaveLength(LAST_ERROR_MAX_CHARS);
    expect(long.endsWith('…')).toBe(true);
  });

  it('names a validation error’s issues by path, one line', () => {
    // Prepare
    const result = z.strictObject({ signal: z.enum(['a', 'b']), value: z.number() }).safeParse({
      signal: 'vibes',
      value: 'sk-live-1',
      extra: 1,
    });

    // Act
    const text = lastErrorText(result.error, '{}');

    // Assess
    expect(text).toMatch(/^ZodError: signal: .+; value: .+/);
    expect(text).not.toContain('\n');
    expect(text).not.toContain('vibes');
    expect(text).not.toContain('sk-live-1');
  });
});

describe('dead-lettering on the local SQS stand-in', () => {
  const bus = new LocalEventBus({ name: 'conductor' });
  const dlq = new LocalQueue({ name: 'conductor-jobs-dlq' });
  const jobs = new LocalQueue({ name: 'conductor-jobs', maxReceiveCount: 2, deadLetterQueue: dlq });
  let endpoint: RunningAwsEndpoint;
  beforeAll(async () => {
    endpoint = await startAwsEndpoint({ bus, queues: new Map([dlq, jobs].map((q) => [q.name, q])) });
  });
  afterAll(async () => {
    await endpoint.close();
    await bus.stop();
  });

  it('puts the record on the DLQ with its attributes, through the real SDK client', async () => {
    // Prepare
    const deadLetters = SqsLastAttemptDeadLetters.of(
      {
        jobs: {
          queueUrl: endpoint.queueUrl(jobs.name),
          queueArn: jobs.arn,
          dlqUrl: endpoint.queueUrl(dlq.name),
          dlqArn: dlq.arn,
          maxReceiveCount: 2,
        },
      },
      { region: 'us-east-1', endpoint: endpoint.url },
    );
    const { messageId } = jobs.send('{"jobId":"j-1"}', { messageAttributes: { origin: 'api' } });
    jobs.receive(1, { visibilityTimeoutSeconds: 0 });
    const last = jobs.receive(1);

    // Act
    const answer = await processSqsBatch(
      batch(...last),
      () => Promise.reject(new RangeError('job j-1 is too big')),
      { deadLetters },
    );

    // Assess
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(dlq.peek()).toEqual([
      expect.objectContaining({
        body: '{"jobId":"j-1"}',
        messageAttributes: {
          origin: 'api',
          [LAST_ERROR_ATTRIBUTE]: 'RangeError: job j-1 is too big',
          [SOURCE_MESSAGE_ID_ATTRIBUTE]: messageId,
          [RECEIVE_COUNT_ATTRIBUTE]: '2',
        },
      }),
    ]);
  });

  it('makes a failure worth retrying soon visible again at once instead of after the visibility timeout', async () => {
    // Prepare: a queue whose messages stay hidden 60 s after a failed delivery
    const slow = new LocalQueue({ name: 'conductor-slow', visibilityTimeoutSeconds: 60, maxReceiveCount: 5 });
    const local = await startAwsEndpoint({ bus, queues: new Map([[slow.name, slow]]) });
    try {
      const deadLetters = SqsLastAttemptDeadLetters.of(
        {
          slow: {
            queueUrl: local.queueUrl(slow.name),
            queueArn: slow.arn,
            dlqUrl: local.queueUrl(slow.name),
            dlqArn: slow.arn,
            maxReceiveCount: 5,
          },
        },
        { region: 'us-east-1', endpoint: local.url },
      );
      slow.send('{"n":1}');
      slow.send('{"n":2}');
      const first = slow.receive(2);
      const contended = first.find((r) => r.body === '{"n":1}');

      // Act: n=1 failed in a way worth retrying soon (0 s), n=2 in another way
      const answer = await processSqsBatch(
        batch(...first),
        (r) => Promise.reject(new Error(r.body === '{"n":1}' ? 'contended' : 'broken')),
        {
          deadLetters,
          retryAfterSeconds: (error) => ((error as Error).message === 'contended' ? 0 : undefined),
        },
      );

      // Assess: both reported; only n=1 is back already
      expect(answer.batchItemFailures).toHaveLength(2);
      expect(slow.receive(10).map((r) => r.messageId)).toEqual([contended?.messageId]);
    } finally {
      await local.close();
    }
  });
});
