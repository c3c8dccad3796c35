import { SqsSchema } from '@aws-lambda-powertools/parser/schemas';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CallMeter, setAmbientCallMeter } from '#shared/adapters/call-meter.js';
import { queuesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import {
  EventSourceMapping,
  type EventSourceMappingOptions,
  eventSourceMappingOptionsOf,
  failedItemIds,
  type SqsBatchHandler,
} from '../event-source-mapping.js';
import { LocalQueue, type LocalQueueOptions } from '../queue.js';
import { manualClock } from './manual-clock.js';

const QUEUES = queuesOf(PILLARS);

const mappings: EventSourceMapping[] = [];
const queues: LocalQueue[] = [];

const newQueue = (options: LocalQueueOptions): LocalQueue => {
  const queue = new LocalQueue(options);
  queues.push(queue);
  return queue;
};

const newMapping = (queue: LocalQueue, handler: SqsBatchHandler, options: EventSourceMappingOptions = {}) => {
  const mapping = new EventSourceMapping(queue, handler, { onError: () => undefined, ...options });
  mappings.push(mapping);
  return mapping;
};

afterEach(async () => {
  await Promise.all(mappings.splice(0).map((m) => m.stop()));
  for (const queue of queues.splice(0)) queue.close();
});

/** A promise the test settles by hand. */
const gate = () => {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
};

describe('failedItemIds', () => {
  const ids = new Set(['m1', 'm2']);

  it.each([
    ['no answer', undefined, []],
    ['null', null, []],
    ['an empty object', {}, []],
    ['a null list', { batchItemFailures: null }, []],
    ['an empty list', { batchItemFailures: [] }, []],
    ['one failure', { batchItemFailures: [{ itemIdentifier: 'm2' }] }, ['m2']],
  ])('reads %s as the failed ids Lambda would retry', (_label, response, expected) => {
    // Act
    const failed = failedItemIds(response, ids);

    // Assess
    expect([...failed]).toEqual(expected);
  });

  it.each([
    ['an unknown id', { batchItemFailures: [{ itemIdentifier: 'nope' }] }],
    ['an empty id', { batchItemFailures: [{ itemIdentifier: '' }] }],
    ['a missing id', { batchItemFailures: [{ id: 'm1' }] }],
    ['a list that is not a list', { batchItemFailures: 'm1' }],
    ['a string answer', 'ok'],
  ])('treats %s as a failure of the whole batch, as Lambda does', (_label, response) => {
    // Act
    const read = () => failedItemIds(response, ids);

    // Assess
    expect(read).toThrow(/batch|itemIdentifier|response/i);
  });
});

describe('EventSourceMapping', () => {
  it('invokes the handler with an SQS event and deletes the records it processed', async () => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });
    const events: SQSEvent[] = [];
    const mapping = newMapping(queue, async (event, context) => {
      expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
      events.push(event);
    });
    queue.send('a');
    queue.send('b');

    // Act
    mapping.start();
    await mapping.drain(5_000);

    // Assess
    const bodies = events.flatMap((e) => e.Records.map((r) => r.body)).sort();
    expect(bodies).toEqual(['a', 'b']);
    expect(events[0]?.Records[0]).toMatchObject({ eventSource: 'aws:sqs', eventSourceARN: queue.arn });
    expect(events.every((e) => SqsSchema.safeParse(e).success)).toBe(true);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(mapping.stats()).toMatchObject({ deleted: 2, failedInvocations: 0 });
  });

  it('keeps only the records reported as batch item failures, and redelivers them after the visibility timeout', async () => {
    // Prepare
    const { clock, advance } = manualClock();
    const queue = newQueue({ name: 'jobs', clock, visibilityTimeoutSeconds: 30 });
    const calls: SQSRecord[][] = [];
    const mapping = newMapping(queue, async (event): Promise<SQSBatchResponse> => {
      calls.push(event.Records);
      const failed = calls.length === 1 ? event.Records.filter((r) => r.body === 'b') : [];
      return { batchItemFailures: failed.map((r) => ({ itemIdentifier: r.messageId })) };
    });
    queue.sendBatch([
      { id: '1', body: 'a' },
      { id: '2', body: 'b' },
      { id: '3', body: 'c' },
    ]);

    // Act
    mapping.start();
    await vi.waitFor(() => expect(mapping.stats()).toMatchObject({ invocations: 1, inFlightInvocations: 0 }));
    const left = queue.peek();
    advance(30_000);
    await mapping.drain(5_000);

    // Assess
    expect(calls[0]?.map((r) => r.body)).toEqual(['a', 'b', 'c']);
    expect(left.map((m) => [m.body, m.state])).toEqual([['b', 'inFlight']]);
    expect(calls[1]?.map((r) => [r.body, r.attributes.ApproximateReceiveCount])).toEqual([['b', '2']]);
    expect(calls).toHaveLength(2);
  });

  it('leaves the whole batch on the queue when the handler throws, and retries all of it', async () => {
    // Prepare
    const { clock, advance } = manualClock();
    const queue = newQueue({ name: 'jobs', clock, visibilityTimeoutSeconds: 30 });
    const errors: unknown[] = [];
    const calls: SQSRecord[][] = [];
    const mapping = newMapping(
      queue,
      async (event) => {
        calls.push(event.Records);
        if (calls.length === 1) throw new Error('downstream unavailable');
      },
      { onError: (error) => errors.push(error) },
    );
    queue.send('a');
    queue.send('b');
    queue.send('c');

    // Act
    mapping.start();
    await vi.waitFor(() => expect(mapping.stats()).toMatchObject({ invocations: 1, inFlightInvocations: 0 }));
    const depthAfterFailure = queue.depth();
    advance(30_000);
    await mapping.drain(5_000);

    // Assess
    expect(depthAfterFailure).toEqual({ visible: 0, inFlight: 3, delayed: 0 });
    expect(calls[1]?.map((r) => [r.body, r.attributes.ApproximateReceiveCount])).toEqual([
      ['a', '2'],
      ['b', '2'],
      ['c', '2'],
    ]);
    expect(errors).toEqual([new Error('downstream unavailable')]);
  });

  it.each([
    ['an unknown message id', () => [{ itemIdentifier: 'not-in-this-batch' }]],
    ['an empty message id', () => [{ itemIdentifier: '' }]],
  ])('fails the whole batch when batchItemFailures names %s', async (_label, failures) => {
    // Prepare
    const { clock } = manualClock();
    const queue = newQueue({ name: 'jobs', clock });
    const mapping = newMapping(queue, async () => ({ batchItemFailures: failures() }));
    queue.send('a');
    queue.send('b');

    // Act
    mapping.start();
    await vi.waitFor(() => expect(mapping.stats()).toMatchObject({ invocations: 1, inFlightInvocations: 0 }));

    // Assess
    expect(mapping.stats()).toMatchObject({ failedInvocations: 1, deleted: 0 });
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 2, delayed: 0 });
  });

  it('sends a message the handler keeps failing to the DLQ after maxReceiveCount deliveries, body intact', async () => {
    // Prepare
    const dlq = newQueue({ name: 'jobs-dlq' });
    const queue = newQueue({
      name: 'jobs',
      visibilityTimeoutSeconds: 0,
      maxReceiveCount: 3,
      deadLetterQueue: dlq,
    });
    const seen: string[] = [];
    const mapping = newMapping(queue, async (event) => {
      seen.push(...event.Records.map((r) => r.attributes.ApproximateReceiveCount));
      throw new Error('poison');
    });
    const { messageId } = queue.send('{"tenantId":"t-1","job":"poison"}');

    // Act
    mapping.start();
    await mapping.drain(5_000);

    // Assess
    expect(seen).toEqual(['1', '2', '3']);
    expect(dlq.peek()).toEqual([
      expect.objectContaining({ messageId, body: '{"tenantId":"t-1","job":"poison"}', state: 'visible' }),
    ]);
  });

  it('never runs more invocations at once than maximumConcurrency', async () => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });
    const release = gate();
    let active = 0;
    let maxActive = 0;
    const mapping = newMapping(
      queue,
      async () => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        await release.opened;
        active -= 1;
      },
      { batchSize: 1, maximumConcurrency: 3 },
    );
    for (let i = 0; i < 20; i++) queue.send(`m${i}`);

    // Act
    mapping.start();
    await vi.waitFor(() => expect(active).toBe(3));
    await new Promise((resolve) => setTimeout(resolve, 100)); // room for a fourth invocation, if any would start
    const activeWhileBlocked = active;
    release.open();
    await mapping.drain(5_000);

    // Assess
    expect(activeWhileBlocked).toBe(3);
    expect(maxActive).toBe(3);
    expect(mapping.stats()).toMatchObject({ invocations: 20, deleted: 20 });
  });

  it('gathers records for the batching window before invoking with a partial batch', async () => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });
    const batches: number[] = [];
    const mapping = newMapping(queue, async (event) => void batches.push(event.Records.length), {
      batchSize: 5,
      maximumBatchingWindowMs: 60_000,
    });
    mapping.start();

    // Act
    for (let i = 0; i < 3; i++) queue.send(`m${i}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const beforeFull = [...batches];
    queue.send('m3');
    queue.send('m4');
    await mapping.drain(5_000);

    // Assess
    expect(beforeFull).toEqual([]);
    expect(batches).toEqual([5]);
  });

  it('delivers 25 messages sent at once to a mapping of batchSize 100 as one batch, when its window ends', async () => {
    // Prepare
    const queue = newQueue({ name: 'archive' });
    const batches: string[][] = [];
    const mapping = newMapping(queue, async (event) => void batches.push(event.Records.map((r) => r.body)), {
      batchSize: 100,
      maximumBatchingWindowMs: 200,
    });
    mapping.start();

    // Act
    for (let i = 0; i < 25; i++) queue.send(`m${i}`);
    await mapping.drain(10_000);

    // Assess
    expect(batches).toHaveLength(1);
    expect(batches[0]?.slice().sort()).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`).sort());
    expect(mapping.stats()).toMatchObject({ invocations: 1, deleted: 25 });
  }, 15_000);

  it('records, while metered, the receives and deletes AWS bills a batch of 25 (three of each: 10 per call)', async () => {
    // Prepare: 3 of the 25 fail, so 22 are deleted (three calls still)
    const queue = newQueue({ name: 'archive' });
    const mapping = newMapping(
      queue,
      async (event) => ({
        batchItemFailures: event.Records.slice(0, 3).map((r) => ({ itemIdentifier: r.messageId })),
      }),
      { batchSize: 100, maximumBatchingWindowMs: 200 },
    );
    const meter = new CallMeter();
    setAmbientCallMeter(meter);

    // Act
    try {
      mapping.start();
      for (let i = 0; i < 25; i++) queue.send(`m${i}`);
      await vi.waitFor(() => expect(mapping.stats().invocations).toBe(1), { timeout: 10_000 });
      await mapping.stop();
    } finally {
      setAmbientCallMeter(undefined);
    }

    // Assess
    expect(meter.calls('sqs.ReceiveMessage')).toBe(3);
    expect(meter.calls('sqs.DeleteMessageBatch')).toBe(3);
    expect(meter.calls('lambda.Invoke')).toBe(1);
    expect(meter.total('requests', 'sqs')).toBe(6);
  }, 15_000);

  it('invokes as soon as a batch is full, without waiting for the window', async () => {
    // Prepare: a window far longer than the test
    const queue = newQueue({ name: 'archive' });
    const batches: number[] = [];
    const mapping = newMapping(queue, async (event) => void batches.push(event.Records.length), {
      batchSize: 20,
      maximumBatchingWindowMs: 300_000,
    });
    mapping.start();

    // Act
    for (let i = 0; i < 45; i++) queue.send(`m${i}`);
    await vi.waitFor(() => expect(mapping.stats()).toMatchObject({ deleted: 40, inFlightInvocations: 0 }), {
      timeout: 10_000,
    });

    // Assess: two full batches went out; the other 5 are gathered (in flight), waiting for more
    expect(batches).toEqual([20, 20]);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 5, delayed: 0 });
  }, 15_000);

  it('without a window, delivers at once in batches of at most 10', async () => {
    // Prepare
    const queue = newQueue({ name: 'rewards' });
    const batches: number[] = [];
    const mapping = newMapping(queue, async (event) => void batches.push(event.Records.length));
    mapping.start();

    // Act
    for (let i = 0; i < 25; i++) queue.send(`m${i}`);
    await mapping.drain(10_000);
    queue.send('alone');
    await vi.waitFor(() => expect(batches.at(-1)).toBe(1), { timeout: 10_000 });

    // Assess
    expect(batches.slice(0, -1).every((size) => size >= 1 && size <= 10)).toBe(true);
    expect(batches.slice(0, -1).reduce((sum, size) => sum + size, 0)).toBe(25);
    expect(batches.slice(0, -1)).toEqual([10, 10, 5]);
  }, 15_000);

  it('never builds a batch over the 6 MB payload limit, and invokes one full by size without waiting', async () => {
    // Prepare: 8 bodies of 1 MB (decimal); 6 of them fit in 6 MiB, a seventh would not
    const queue = newQueue({ name: 'archive' });
    const batches: number[][] = [];
    const mapping = newMapping(
      queue,
      async (event) => void batches.push(event.Records.map((r) => Buffer.byteLength(r.body))),
      { batchSize: 100, maximumBatchingWindowMs: 300_000 },
    );
    for (let i = 0; i < 8; i++) queue.send(String(i).repeat(1_000_000));

    // Act
    mapping.start();
    await vi.waitFor(() => expect(mapping.stats()).toMatchObject({ deleted: 6, inFlightInvocations: 0 }), {
      timeout: 10_000,
    });

    // Assess
    expect(batches.map((sizes) => sizes.length)).toEqual([6]);
    expect(batches[0]?.reduce((sum, size) => sum + size, 0)).toBeLessThanOrEqual(6 * 1024 * 1024);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 2, delayed: 0 });
  }, 15_000);

  it('maps every queue of the manifests as AWS would accept it: decision-archive gathers 100 for 5 s, rewards 10 at once', () => {
    // Act
    const options = Object.fromEntries(QUEUES.map((spec) => [spec.id, eventSourceMappingOptionsOf(spec)]));
    const create = () =>
      QUEUES.map(
        (spec) =>
          new EventSourceMapping(
            newQueue({ name: spec.id }),
            async () => undefined,
            eventSourceMappingOptionsOf(spec),
          ),
      );

    // Assess
    expect(create).not.toThrow();
    expect(options['decision-archive']).toEqual({
      batchSize: 100,
      maximumBatchingWindowMs: 5000,
      maximumConcurrency: 2,
    });
    expect(options.rewards).toEqual({ batchSize: 10, maximumBatchingWindowMs: 0, maximumConcurrency: 2 });
  });

  it('waits for running invocations when stopped', async () => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });
    const release = gate();
    let finished = false;
    const mapping = newMapping(queue, async () => {
      await release.opened;
      finished = true;
    });
    queue.send('slow');
    mapping.start();
    await vi.waitFor(() => expect(mapping.stats().inFlightInvocations).toBe(1));

    // Act
    const stopped = mapping.stop();
    setTimeout(release.open, 20);
    await stopped;

    // Assess
    expect(finished).toBe(true);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('rejects drain when the queue does not empty in time', async () => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });
    const mapping = newMapping(queue, async () => undefined);
    queue.send('never consumed'); // the mapping is not started

    // Act
    const drained = mapping.drain(50);

    // Assess
    await expect(drained).rejects.toThrow(/timed out/);
  });

  it.each([
    ['a concurrency below 2', { maximumConcurrency: 1 }],
    ['a batch above 10 without a batching window', { batchSize: 20 }],
    ['a batch above 10000', { batchSize: 10_001, maximumBatchingWindowMs: 1000 }],
  ])('refuses %s, as AWS does', (_label, options) => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });

    // Act
    const create = () => new EventSourceMapping(queue, async () => undefined, options);

    // Assess
    expect(create).toThrow(RangeError);
  });

  it('loses nothing with 1000 messages and a flaky handler: each is processed or in the DLQ', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        async (seed, itemFailureRate, throwRate) => {
          // Prepare
          let state = seed;
          const random = (): number => {
            // mulberry32: a small deterministic generator, seeded by fast-check.
            state = (state + 0x6d2b79f5) | 0;
            let t = Math.imul(state ^ (state >>> 15), 1 | state);
            t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
            return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
          };
          const dlq = new LocalQueue({ name: 'flaky-dlq' });
          const queue = new LocalQueue({
            name: 'flaky',
            visibilityTimeoutSeconds: 0,
            maxReceiveCount: 4,
            deadLetterQueue: dlq,
          });
          const processed = new Set<string>();
          const mapping = new EventSourceMapping(
            queue,
            async (event) => {
              const failures: { itemIdentifier: string }[] = [];
              for (const record of event.Records) {
                if (random() < itemFailureRate) failures.push({ itemIdentifier: record.messageId });
                else processed.add(record.body);
              }
              await Promise.resolve();
              // At-least-once: a crash after some work leaves the whole batch to be redone.
              if (random() < throwRate) throw new Error('crashed mid-batch');
              return { batchItemFailures: failures };
            },
            { batchSize: 10, maximumConcurrency: 4, onError: () => undefined },
          );
          const sent = new Set<string>();
          for (let i = 0; i < 1000; i++) {
            const body = `message-${i}`;
            queue.send(body);
            sent.add(body);
          }

          // Act
          mapping.start();
          await mapping.drain(8_000);
          await mapping.stop();

          // Assess
          const dead = new Set(dlq.peek(2000).map((m) => m.body));
          const accountedFor = new Set([...processed, ...dead]);
          expect(accountedFor).toEqual(sent);
          expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
        },
      ),
      { numRuns: 4 },
    );
  });
});
