import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeSqsClient } from '#shared/adapters/sqs-client.js';
import {
  LAST_ERROR_ATTRIBUTE,
  RECEIVE_COUNT_ATTRIBUTE,
  SOURCE_MESSAGE_ID_ATTRIBUTE,
} from '#shared/adapters/sqs-last-attempt.js';
import { type RunningAwsEndpoint, startAwsEndpoint } from '../../../../infra/local/aws-endpoint.js';
import { LocalEventBus } from '../../../../infra/local/bus.js';
import { LocalQueue } from '../../../../infra/local/queue.js';
import { SqsDeadLetterQueues } from '../../src/adapters/sqs-dead-letter-queues.js';

/** The adapter with the real SQS client, on the local queues through the local AWS endpoint. */
let endpoint: RunningAwsEndpoint;
let adapter: SqsDeadLetterQueues;
const bus = new LocalEventBus({ name: 'conductor' });
let dlq: LocalQueue;
let jobs: LocalQueue;

const queues = new Map<string, LocalQueue>();

beforeAll(async () => {
  endpoint = await startAwsEndpoint({ bus, queues });
});
// The endpoint reads the map per request: each test gets fresh queues.
beforeEach(() => {
  dlq = new LocalQueue({ name: 'conductor-jobs-dlq' });
  jobs = new LocalQueue({ name: 'conductor-jobs', maxReceiveCount: 2, deadLetterQueue: dlq });
  queues.clear();
  queues.set(dlq.name, dlq).set(jobs.name, jobs);
  adapter = new SqsDeadLetterQueues(makeSqsClient({ region: 'us-east-1', endpoint: endpoint.url }), {
    jobs: {
      queueUrl: endpoint.queueUrl(jobs.name),
      queueArn: jobs.arn,
      dlqUrl: endpoint.queueUrl(dlq.name),
      dlqArn: dlq.arn,
      maxReceiveCount: 2,
    },
  });
});
afterAll(async () => {
  await endpoint.close();
  await bus.stop();
});

/** A message that failed its deliveries on the jobs queue and moved to its DLQ, as SQS does it. */
const deadLetter = (body: string): string => {
  const { messageId } = jobs.send(body, { messageAttributes: { origin: 'test' } });
  jobs.receive(10, { visibilityTimeoutSeconds: 0 });
  jobs.receive(10, { visibilityTimeoutSeconds: 0 });
  jobs.receive(10);
  return messageId;
};

describe('SqsDeadLetterQueues on the local SQS stand-in', () => {
  it('peeks at dead letters and leaves them all receivable', async () => {
    // Prepare
    const first = deadLetter('{"tenantId":"acme","n":1}');
    const second = deadLetter('{"tenantId":"globex","n":2}');

    // Act
    const peeked = await adapter.peek('jobs', 10);

    // Assess
    expect(peeked.map((m) => m.messageId).sort()).toEqual([first, second].sort());
    expect(peeked[0]).toMatchObject({ deadLetteredFrom: jobs.arn, messageAttributes: { origin: 'test' } });
    expect(await adapter.depth('jobs')).toEqual({ visible: 2, inFlight: 0, delayed: 0 });
  });

  it('holds one message by id, releasing the others it read on the way', async () => {
    // Prepare
    const ids = Array.from({ length: 12 }, (_, n) => deadLetter(`{"n":${n}}`));

    // Act
    const held = await adapter.hold('jobs', ids[11] ?? '');
    const depth = await adapter.depth('jobs');

    // Assess
    expect(held?.messageId).toBe(ids[11]);
    expect(depth).toEqual({ visible: 11, inFlight: 1, delayed: 0 });
  });

  it('answers undefined for a message the DLQ does not hold', async () => {
    // Prepare
    deadLetter('{"n":1}');

    // Act
    const held = await adapter.hold('jobs', 'not-there');

    // Assess
    expect(held).toBeUndefined();
    expect((await adapter.depth('jobs')).visible).toBe(1);
  });

  it('resends a held message to its queue with its attributes, then removes it from the DLQ', async () => {
    // Prepare
    const id = deadLetter('{"tenantId":"acme"}');
    const held = await adapter.hold('jobs', id);
    if (!held) throw new Error('not held');

    // Act
    await adapter.resend('jobs', held);
    await adapter.remove('jobs', held);

    // Assess
    expect(dlq.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(jobs.peek()).toEqual([
      expect.objectContaining({
        body: '{"tenantId":"acme"}',
        messageAttributes: { origin: 'test' },
        receiveCount: 0,
      }),
    ]);
  });

  it('resends a message its consumer dead-lettered without the dead-letter attributes, which are of its last death', async () => {
    // Prepare
    const { messageId } = dlq.send('{"tenantId":"acme"}', {
      messageAttributes: {
        origin: 'test',
        [LAST_ERROR_ATTRIBUTE]: 'JobNotFoundError: job j-1 of acme does not exist',
        [SOURCE_MESSAGE_ID_ATTRIBUTE]: 'm-source',
        [RECEIVE_COUNT_ATTRIBUTE]: '2',
      },
    });
    const held = await adapter.hold('jobs', messageId);
    if (!held) throw new Error('not held');

    // Act
    await adapter.resend('jobs', held);

    // Assess
    expect(held.messageAttributes[LAST_ERROR_ATTRIBUTE]).toBe(
      'JobNotFoundError: job j-1 of acme does not exist',
    );
    expect(jobs.peek()).toEqual([expect.objectContaining({ messageAttributes: { origin: 'test' } })]);
  });

  it('redrives the whole DLQ with a message move task and reports it', async () => {
    // Prepare
    deadLetter('{"n":1}');
    deadLetter('{"n":2}');

    // Act
    const before = await adapter.lastRedrive('jobs');
    await adapter.startRedrive('jobs');
    const after = await adapter.lastRedrive('jobs');

    // Assess
    expect(before).toBeUndefined();
    expect(after).toMatchObject({ status: 'COMPLETED', moved: 2, toMove: 2 });
    expect(dlq.depth().visible).toBe(0);
    expect(jobs.depth().visible).toBe(2);
  });
});
