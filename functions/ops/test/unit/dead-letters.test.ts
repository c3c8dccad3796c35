import { describe, expect, it } from 'vitest';
import { LAST_ERROR_ATTRIBUTE as KERNEL_LAST_ERROR_ATTRIBUTE } from '#shared/adapters/sqs-last-attempt.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { refusal } from '#shared/testing/refusal.js';
import { DeadLetterOffice, LAST_ERROR_ATTRIBUTE, PREVIEW_CHARS } from '../../src/domain/dead-letters.js';
import { FakeDeadLetterQueues, InMemoryDiscardLog } from '../support/fakes.js';

const setup = () => {
  const queues = new FakeDeadLetterQueues(['rewards', 'scheduler-jobs']);
  const log = new InMemoryDiscardLog();
  const clock = new ManualClock();
  const office = new DeadLetterOffice({
    queues,
    discards: log,
    clock,
    ids: new SequentialIds(),
  });
  return { queues, discards: log.records, log, clock, office };
};
const operator = { tenantId: 'ops', subject: 'alice', traceId: 't-1', reason: 'poison' };

describe('DeadLetterOffice', () => {
  it('shows each dead letter with its tenant and a bounded preview, never the whole body', async () => {
    // Prepare
    const { queues, office } = setup();
    const long = JSON.stringify({ tenantId: 'globex', pad: 'x'.repeat(500) });
    queues.put('rewards', {
      messageId: 'm-1',
      body: long,
      messageAttributes: { 'conductor-last-error': 'boom' },
    });
    queues.put('rewards', { messageId: 'm-2', body: 'not json' });

    // Act
    const views = await office.messages('rewards', 10);

    // Assess
    expect(views[0]).toMatchObject({
      messageId: 'm-1',
      tenant: 'globex',
      truncated: true,
      lastError: 'boom',
    });
    expect(views[0]?.preview).toHaveLength(PREVIEW_CHARS);
    expect(views[0]?.bodyBytes).toBe(long.length);
    expect(views[1]).not.toHaveProperty('tenant');
    expect(views[1]).toMatchObject({ preview: 'not json', truncated: false });
  });

  it('redrives one message: sent back to its queue, then gone from the DLQ', async () => {
    // Prepare
    const { queues, office } = setup();
    queues.put('rewards', { messageId: 'm-1', body: '{"tenantId":"acme"}' });

    // Act
    await office.redriveOne('rewards', 'm-1');

    // Assess
    expect(queues.resent.get('rewards')).toEqual(['{"tenantId":"acme"}']);
    expect(await queues.depth('rewards')).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('keeps a message whose redrive SQS refused, receivable again', async () => {
    // Prepare
    const { queues, office } = setup();
    queues.put('rewards', { messageId: 'm-1', body: '{}' });
    queues.failResend = true;

    // Act
    const failure = await office.redriveOne('rewards', 'm-1').catch((error: Error) => error);

    // Assess
    expect(failure).toBeInstanceOf(Error);
    expect(await queues.depth('rewards')).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
  });

  it('writes the audit record of a discard before deleting the message', async () => {
    // Prepare
    const { queues, discards, office } = setup();
    queues.put('scheduler-jobs', { messageId: 'm-9', body: '{"tenantId":"acme","jobId":"j"}' });

    // Act
    const record = await office.discard('scheduler-jobs', 'm-9', operator);

    // Assess
    expect(discards.all()).toEqual([record]);
    expect(record).toMatchObject({
      tenantId: 'ops',
      queueId: 'scheduler-jobs',
      messageId: 'm-9',
      discardedBy: 'alice',
      reason: 'poison',
      messageTenant: 'acme',
      bodySha256: expect.stringMatching(/^[a-f0-9]{64}$/),
    });
    expect(queues.dlqs.get('scheduler-jobs')).toEqual([]);
  });

  it('keeps the message when its audit record cannot be written', async () => {
    // Prepare
    const { queues, log, office } = setup();
    queues.put('rewards', { messageId: 'm-1', body: '{}' });
    log.create = async () => {
      throw new Error('table unavailable');
    };

    // Act
    const failure = await office.discard('rewards', 'm-1', operator).catch((error: Error) => error);

    // Assess
    expect(failure).toBeInstanceOf(Error);
    expect(await queues.depth('rewards')).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
  });

  it('refuses an unknown queue and a message the DLQ does not hold with 404s', async () => {
    // Prepare
    const { office } = setup();

    // Act
    const unknownQueue = await refusal(office.messages('nope', 10));
    const unknownMessage = await refusal(office.redriveOne('rewards', 'm-404'));

    // Assess
    expect([unknownQueue.statusCode, unknownQueue.code]).toEqual([404, 'queue_not_found']);
    expect([unknownMessage.statusCode, unknownMessage.code]).toEqual([404, 'dead_letter_not_found']);
  });

  it('redrives a whole DLQ and reports the task', async () => {
    // Prepare
    const { queues, office } = setup();
    queues.put('rewards', { messageId: 'm-1', body: '{}' });
    queues.put('rewards', { messageId: 'm-2', body: '{}' });

    // Act
    const task = await office.redriveAll('rewards');
    const listed = await office.queues();

    // Assess
    expect(task).toEqual({ status: 'COMPLETED', moved: 2, toMove: 2 });
    expect(listed.find((q) => q.queueId === 'rewards')).toMatchObject({
      depth: { visible: 0 },
      lastRedrive: task,
    });
  });

  it('lists the discards made in a tenant newest first, a page at a time, each with the error that killed it', async () => {
    // Prepare
    const { queues, clock, office } = setup();
    for (const n of [1, 2, 3]) {
      queues.put('rewards', {
        messageId: `m-${n}`,
        body: `{"tenantId":"acme","n":${n}}`,
        messageAttributes: { [LAST_ERROR_ATTRIBUTE]: `Error: death ${n}` },
      });
      await office.discard('rewards', `m-${n}`, operator);
      clock.advance(1_000);
    }

    // Act
    const first = await office.discards('ops', { limit: 2 });
    const second = await office.discards('ops', { limit: 2, cursor: first.nextCursor });
    const elsewhere = await office.discards('globex', { limit: 2 });

    // Assess
    expect(first.items.map((record) => record.messageId)).toEqual(['m-3', 'm-2']);
    expect(first.items[0]).toMatchObject({ lastError: 'Error: death 3', discardedBy: 'alice' });
    expect(first.items[0]?.id).toMatch(/^discard_20260101T000002000Z_/);
    expect(second).toEqual({ items: [expect.objectContaining({ messageId: 'm-1' })] });
    expect(elsewhere).toEqual({ items: [] });
  });

  it('refuses a cursor of another tenant’s discards with 400 invalid_cursor', async () => {
    // Prepare
    const { queues, office } = setup();
    for (const n of [1, 2]) {
      queues.put('rewards', { messageId: `m-${n}`, body: '{}' });
      await office.discard('rewards', `m-${n}`, operator);
    }
    const { nextCursor } = await office.discards('ops', { limit: 1 });

    // Act
    const failure = await refusal(office.discards('globex', { limit: 1, cursor: nextCursor }));

    // Assess
    expect([failure.statusCode, failure.code]).toEqual([400, 'invalid_cursor']);
  });

  it('reads the last error from the attribute the kernel’s consumers write', () => {
    expect(LAST_ERROR_ATTRIBUTE).toBe(KERNEL_LAST_ERROR_ATTRIBUTE);
  });
});
