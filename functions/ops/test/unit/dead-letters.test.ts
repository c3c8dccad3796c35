import { describe, expect, it } from 'vitest';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { refusal } from '#shared/testing/refusal.js';
import { DeadLetterOffice, type DiscardRecord, PREVIEW_CHARS } from '../../src/domain/dead-letters.js';
import { FakeDeadLetterQueues } from '../support/fakes.js';

const setup = () => {
  const queues = new FakeDeadLetterQueues(['rewards', 'scheduler-jobs']);
  const discards = new InMemoryTenantRecords<DiscardRecord>();
  const office = new DeadLetterOffice({
    queues,
    discards,
    clock: new ManualClock(),
    ids: new SequentialIds(),
  });
  return { queues, discards, office };
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
    const { queues, discards, office } = setup();
    queues.put('rewards', { messageId: 'm-1', body: '{}' });
    discards.create = async () => {
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
});
