import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalQueue, type LocalQueueOptions, md5OfMessageAttributes, QueueError } from '../queue.js';
import { manualClock, START } from './manual-clock.js';

const tempDirs: string[] = [];
const queues: LocalQueue[] = [];

const newQueue = (options: LocalQueueOptions): LocalQueue => {
  const queue = new LocalQueue(options);
  queues.push(queue);
  return queue;
};

const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'conductor-queue-'));
  tempDirs.push(dir);
  return dir;
};

afterEach(() => {
  for (const queue of queues.splice(0)) queue.close();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('LocalQueue', () => {
  it('answers a send with a uuid message id and the MD5 of the body, as SQS does', () => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });

    // Act
    const sent = queue.send('hello', { messageAttributes: { tenant: 't-1' } });

    // Assess
    expect(sent.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(sent.md5OfBody).toBe('5d41402abc4b2a76b9719d911017c592');
    expect(sent.md5OfMessageAttributes).toBe(md5OfMessageAttributes({ tenant: 't-1' }));
    expect(queue.depth()).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
  });

  it('delivers records with the shape Lambda gives SQS records', () => {
    // Prepare
    const { clock } = manualClock();
    const queue = newQueue({ name: 'jobs', clock });
    const { messageId } = queue.send('{"job":1}', {
      messageAttributes: { tenant: 't-1' },
      messageGroupId: 't-1',
    });

    // Act
    const [record] = queue.receive(1);

    // Assess
    expect(record).toEqual({
      messageId,
      receiptHandle: expect.any(String),
      body: '{"job":1}',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(START),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: String(START),
        MessageGroupId: 't-1',
      },
      messageAttributes: {
        tenant: { stringValue: 't-1', stringListValues: [], binaryListValues: [], dataType: 'String' },
      },
      md5OfBody: expect.stringMatching(/^[0-9a-f]{32}$/),
      md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:jobs',
      awsRegion: 'us-east-1',
    } satisfies SQSRecord);
  });

  it('hides a received message for the visibility timeout, then redelivers it with a new handle and a higher count', () => {
    // Prepare
    const { clock, advance } = manualClock();
    const queue = newQueue({ name: 'jobs', clock, visibilityTimeoutSeconds: 30 });
    queue.send('work');
    const [first] = queue.receive(10);

    // Act
    const duringTimeout = queue.receive(10);
    advance(29_999);
    const justBefore = queue.receive(10);
    advance(1);
    const [second] = queue.receive(10);

    // Assess
    expect(duringTimeout).toEqual([]);
    expect(justBefore).toEqual([]);
    expect(second?.messageId).toBe(first?.messageId);
    expect(second?.receiptHandle).not.toBe(first?.receiptHandle);
    expect(second?.attributes.ApproximateReceiveCount).toBe('2');
    expect(second?.attributes.ApproximateFirstReceiveTimestamp).toBe(String(START));
  });

  it('deletes with the latest receipt handle only, and a stale handle deletes nothing', () => {
    // Prepare
    const { clock, advance } = manualClock();
    const queue = newQueue({ name: 'jobs', clock, visibilityTimeoutSeconds: 1 });
    queue.send('work');
    const [first] = queue.receive(1);
    advance(1000);
    const [second] = queue.receive(1);

    // Act
    const staleDeleted = queue.delete(first?.receiptHandle ?? '');
    const latestDeleted = queue.delete(second?.receiptHandle ?? '');

    // Assess
    expect(staleDeleted).toBe(false);
    expect(latestDeleted).toBe(true);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('keeps a delayed message out of reach until its delay has passed', () => {
    // Prepare
    const { clock, advance } = manualClock();
    const queue = newQueue({ name: 'jobs', clock });
    queue.send('later', { delaySeconds: 10 });

    // Act
    const early = queue.receive(1);
    const depthWhileDelayed = queue.depth();
    advance(10_000);
    const onTime = queue.receive(1);

    // Assess
    expect(early).toEqual([]);
    expect(depthWhileDelayed).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
    expect(onTime.map((r) => r.body)).toEqual(['later']);
  });

  it('releases a message at once when its visibility is changed to zero', () => {
    // Prepare
    const queue = newQueue({ name: 'jobs', clock: manualClock().clock });
    queue.send('work');
    const [record] = queue.receive(1);

    // Act
    queue.changeVisibility(record?.receiptHandle ?? '', 0);

    // Assess
    expect(queue.depth()).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
    expect(() => queue.changeVisibility(record?.receiptHandle ?? '', 5)).toThrow(
      expect.objectContaining({ code: 'MessageNotInflight' }),
    );
  });

  it('moves a message to the dead-letter queue instead of delivering it beyond maxReceiveCount, body intact', () => {
    // Prepare
    const { clock, advance } = manualClock();
    const dlq = newQueue({ name: 'jobs-dlq', clock });
    const queue = newQueue({
      name: 'jobs',
      clock,
      visibilityTimeoutSeconds: 5,
      maxReceiveCount: 2,
      deadLetterQueue: dlq,
    });
    const { messageId } = queue.send('{"poison":true}', { messageAttributes: { tenant: 't-9' } });
    const deliveries: SQSRecord[] = [];

    // Act
    for (let i = 0; i < 4; i++) {
      deliveries.push(...queue.receive(10));
      advance(5_000);
    }

    // Assess
    expect(deliveries.map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    const [dead] = dlq.receive(1);
    expect(dead).toMatchObject({
      messageId,
      body: '{"poison":true}',
      messageAttributes: { tenant: { stringValue: 't-9', dataType: 'String' } },
      attributes: { SentTimestamp: String(START), DeadLetterQueueSourceArn: queue.arn },
      eventSourceARN: dlq.arn,
    });
  });

  it('redelivers forever when there is no dead-letter queue, as SQS without a redrive policy does', () => {
    // Prepare
    const { clock, advance } = manualClock();
    const queue = newQueue({ name: 'jobs', clock, visibilityTimeoutSeconds: 1, maxReceiveCount: 1 });
    queue.send('work');

    // Act
    const counts: string[] = [];
    for (let i = 0; i < 3; i++) {
      counts.push(...queue.receive(1).map((r) => r.attributes.ApproximateReceiveCount));
      advance(1000);
    }

    // Assess
    expect(counts).toEqual(['1', '2', '3']);
  });

  it.each([
    ['an empty body', '', {}, 'InvalidParameterValue'],
    ['a body with a forbidden control character', 'a\u0000b', {}, 'InvalidMessageContents'],
    ['a delay above 900 seconds', 'x', { delaySeconds: 901 }, 'InvalidParameterValue'],
    ['a fractional delay', 'x', { delaySeconds: 1.5 }, 'InvalidParameterValue'],
    [
      'eleven message attributes',
      'x',
      { messageAttributes: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, 'v'])) },
      'InvalidParameterValue',
    ],
    [
      'an attribute with a reserved name',
      'x',
      { messageAttributes: { 'AWS.trace': 'v' } },
      'InvalidParameterValue',
    ],
    ['an attribute with an empty value', 'x', { messageAttributes: { tenant: '' } }, 'InvalidParameterValue'],
    ['a body above the maximum message size', 'x'.repeat(1_048_577), {}, 'MessageTooLong'],
  ])('rejects %s as SQS does', (_label, body, attrs, code) => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });

    // Act
    const send = () => queue.send(body, attrs);

    // Assess
    expect(send).toThrow(QueueError);
    expect(send).toThrow(expect.objectContaining({ code, name: code }));
    expect(queue.depth().visible).toBe(0);
  });

  it('sends a batch in which an invalid entry fails alone', () => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });

    // Act
    const result = queue.sendBatch([
      { id: 'a', body: 'one' },
      { id: 'b', body: '' },
      { id: 'c', body: 'three', delaySeconds: 0 },
    ]);

    // Assess
    expect(result.successful.map((s) => s.id)).toEqual(['a', 'c']);
    expect(result.failed).toEqual([
      { id: 'b', code: 'InvalidParameterValue', message: expect.any(String), senderFault: true },
    ]);
    expect(queue.depth().visible).toBe(2);
  });

  it.each([
    ['no entries', [], 'EmptyBatchRequest'],
    [
      'eleven entries',
      Array.from({ length: 11 }, (_, i) => ({ id: `m${i}`, body: 'x' })),
      'TooManyEntriesInBatchRequest',
    ],
    [
      'repeated ids',
      [
        { id: 'a', body: 'x' },
        { id: 'a', body: 'y' },
      ],
      'BatchEntryIdsNotDistinct',
    ],
    ['an id with a space', [{ id: 'a b', body: 'x' }], 'InvalidBatchEntryId'],
  ])('refuses a whole batch with %s', (_label, entries, code) => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });

    // Act
    const send = () => queue.sendBatch(entries);

    // Assess
    expect(send).toThrow(expect.objectContaining({ code }));
    expect(queue.depth().visible).toBe(0);
  });

  it('purges every message, in flight or not', () => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });
    queue.send('a');
    queue.send('b');
    queue.receive(1);

    // Act
    queue.purge();

    // Assess
    expect(queue.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('refuses a receive of more than 10 messages, as ReceiveMessage does', () => {
    // Prepare
    const queue = newQueue({ name: 'jobs' });

    // Act
    const receive = () => queue.receive(11);

    // Assess
    expect(receive).toThrow(expect.objectContaining({ code: 'InvalidParameterValue' }));
  });
});

describe('LocalQueue persistence', () => {
  it('brings back accepted messages after a close and reopen, in-flight ones visible again and deletes applied', () => {
    // Prepare
    const { clock } = manualClock();
    const dir = tempDir();
    const first = new LocalQueue({ name: 'jobs', persistDir: dir, clock });
    first.send('a');
    const b = first.send('b');
    first.send('c', { messageAttributes: { tenant: 't-1' } });
    const [a] = first.receive(1);
    first.delete(a?.receiptHandle ?? '');
    first.receive(1); // b is now in flight
    first.close();

    // Act
    const second = newQueue({ name: 'jobs', persistDir: dir, clock });
    const depth = second.depth();
    const records = second.receive(10);

    // Assess
    expect(depth).toEqual({ visible: 2, inFlight: 0, delayed: 0 });
    const byBody = Object.fromEntries(records.map((r) => [r.body, r]));
    expect(Object.keys(byBody).sort()).toEqual(['b', 'c']);
    expect(byBody.b?.messageId).toBe(b.messageId);
    expect(byBody.b?.attributes.ApproximateReceiveCount).toBe('2');
    expect(byBody.c?.messageAttributes.tenant?.stringValue).toBe('t-1');
  });

  it('keeps a message sent just before a crash, and ignores a torn last line of the journal', () => {
    // Prepare
    const dir = tempDir();
    const crashed = new LocalQueue({ name: 'jobs', persistDir: dir });
    crashed.send('survivor');
    appendFileSync(join(dir, 'jobs.jsonl'), '{"t":"send","m":{"messageId":"torn');
    // `crashed` is abandoned without close(), as a killed process would leave it.

    // Act
    const reopened = newQueue({ name: 'jobs', persistDir: dir });

    // Assess
    expect(reopened.receive(10).map((r) => r.body)).toEqual(['survivor']);
  });

  it('remembers a purge across a reopen', () => {
    // Prepare
    const dir = tempDir();
    const first = new LocalQueue({ name: 'jobs', persistDir: dir });
    first.send('gone');
    first.purge();
    first.send('kept');
    first.close();

    // Act
    const second = newQueue({ name: 'jobs', persistDir: dir });

    // Assess
    expect(second.receive(10).map((r) => r.body)).toEqual(['kept']);
  });

  it('refuses operations once closed', () => {
    // Prepare
    const queue = new LocalQueue({ name: 'jobs', persistDir: tempDir() });
    queue.close();

    // Act
    const send = () => queue.send('late');

    // Assess
    expect(send).toThrow(expect.objectContaining({ code: 'QueueClosed' }));
  });

  describe('moveMessages (the work of a message move task)', () => {
    it('moves every receivable dead letter back to the queue it came from, durably, with a fresh receive count', () => {
      // Prepare
      const dir = tempDir();
      const dlq = new LocalQueue({ name: 'jobs-dlq', persistDir: dir });
      const jobs = new LocalQueue({
        name: 'jobs',
        maxReceiveCount: 1,
        deadLetterQueue: dlq,
        persistDir: dir,
      });
      jobs.send('poison', { messageAttributes: { origin: 'test' } });
      jobs.receive(1, { visibilityTimeoutSeconds: 0 });
      jobs.receive(1);

      // Act
      const result = dlq.moveMessages((sourceArn) => (sourceArn === jobs.arn ? jobs : undefined));
      dlq.close();
      jobs.close();
      const dlqAfterRestart = newQueue({ name: 'jobs-dlq', persistDir: dir });
      const jobsAfterRestart = newQueue({ name: 'jobs', persistDir: dir });

      // Assess
      expect(result).toEqual({ moved: 1, toMove: 1 });
      expect(dlqAfterRestart.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
      expect(jobsAfterRestart.peek()).toEqual([
        expect.objectContaining({ body: 'poison', messageAttributes: { origin: 'test' }, receiveCount: 0 }),
      ]);
    });

    it('leaves in-flight messages, and stops at a message with no destination, saying why', () => {
      // Prepare
      const dlq = newQueue({ name: 'orphans-dlq' });
      const target = newQueue({ name: 'target' });
      dlq.send('held');
      dlq.receive(1, { visibilityTimeoutSeconds: 30 });
      dlq.send('orphan');

      // Act
      const result = dlq.moveMessages(() => undefined);
      const named = dlq.moveMessages(() => target);

      // Assess
      expect(result).toMatchObject({
        moved: 0,
        toMove: 1,
        failureReason: expect.stringContaining('no destination'),
      });
      expect(named).toEqual({ moved: 1, toMove: 1 });
      expect(target.peek().map((m) => m.body)).toEqual(['orphan']);
      expect(dlq.depth()).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    });
  });
});

describe('LocalQueue fair queues (messages with a MessageGroupId)', () => {
  const bodiesOf = (records: SQSRecord[]) => records.map((record) => record.body);

  it('serves the group with the fewest messages in flight first, so a backlog of one tenant does not hold back another', () => {
    // Prepare: acme floods 50 messages, then globex sends 2.
    const queue = newQueue({ name: 'fair', visibilityTimeoutSeconds: 30 });
    for (let i = 0; i < 50; i += 1) queue.send(`acme-${i}`, { messageGroupId: 'acme' });
    queue.send('globex-0', { messageGroupId: 'globex' });
    queue.send('globex-1', { messageGroupId: 'globex' });

    // Act
    const first = queue.receive(4);
    const second = queue.receive(4);

    // Assess: alternating while both have messages, each group oldest first.
    expect(bodiesOf(first)).toEqual(['acme-0', 'globex-0', 'acme-1', 'globex-1']);
    expect(bodiesOf(second)).toEqual(['acme-2', 'acme-3', 'acme-4', 'acme-5']);
    expect(first[1]?.attributes.MessageGroupId).toBe('globex');
  });

  it('counts messages already in flight: a group whose messages are being worked on waits for the others', () => {
    const queue = newQueue({ name: 'fair-inflight', visibilityTimeoutSeconds: 30 });
    for (let i = 0; i < 5; i += 1) queue.send(`acme-${i}`, { messageGroupId: 'acme' });
    const taken = queue.receive(3);
    queue.send('globex-0', { messageGroupId: 'globex' });
    queue.send('globex-1', { messageGroupId: 'globex' });

    const next = queue.receive(3);

    expect(bodiesOf(taken)).toEqual(['acme-0', 'acme-1', 'acme-2']);
    expect(bodiesOf(next)).toEqual(['globex-0', 'globex-1', 'acme-3']);
  });

  it('keeps first-in first-out order for messages without a group', () => {
    const queue = newQueue({ name: 'plain', visibilityTimeoutSeconds: 30 });
    for (let i = 0; i < 4; i += 1) queue.send(`m-${i}`);

    expect(bodiesOf(queue.receive(3))).toEqual(['m-0', 'm-1', 'm-2']);
    expect(bodiesOf(queue.receive(3))).toEqual(['m-3']);
  });

  it('still moves a message past maxReceiveCount to its dead-letter queue', () => {
    const { clock, advance } = manualClock();
    const dlq = newQueue({ name: 'fair-dlq', clock });
    const queue = newQueue({
      name: 'fair-redrive',
      visibilityTimeoutSeconds: 1,
      maxReceiveCount: 1,
      deadLetterQueue: dlq,
      clock,
    });
    queue.send('poison', { messageGroupId: 'acme' });
    expect(bodiesOf(queue.receive(1))).toEqual(['poison']);
    advance(1_001);

    expect(queue.receive(1)).toEqual([]);
    expect(bodiesOf(dlq.receive(1))).toEqual(['poison']);
  });
});
