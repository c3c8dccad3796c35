import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import type { TenantRecord } from '#shared/ports/records.js';
import type { LocalQueue } from '../../infra/local/queue.js';
import { expectUniformError, type Harness, startHarness } from './harness.js';

let h: Harness;
const tokens = { orgAdmin: '', orgAdminNoStepUp: '', acmeAdmin: '', acmeOperator: '' };
const experts: string[] = [];

const doc = () =>
  makeDocumentClient({
    region: process.env.AWS_REGION ?? 'us-east-1',
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
  });
const item = async (table: string | undefined, pk: string, sk: string) =>
  (await doc().send(new GetCommand({ TableName: table, Key: { pk, sk }, ConsistentRead: true }))).Item;

const queue = (name: string): LocalQueue => {
  const found = h.conductor.queues.get(name);
  if (!found) throw new Error(`no local queue ${name}`);
  return found;
};
const rewardsDlq = () => queue('conductor-rewards-dlq');
const drainRewards = async () => h.conductor.mappings.get('conductor-rewards')?.drain();

/** A real reward (POST router/reward after a route) that lands on the rewards DLQ instead of its queue. */
const rewardOnTheDlq = async (taskId: string): Promise<string> => {
  const routed = await h.call('POST', '/router/route', {
    token: tokens.acmeOperator,
    body: { taskId, context: { language: 'ts' }, candidates: experts },
  });
  expect(routed.status, routed.text).toBe(200);
  const rewards = queue('conductor-rewards');
  let messageId = '';
  const send = vi.spyOn(rewards, 'send').mockImplementationOnce((body, attrs) => {
    const sent = rewardsDlq().send(body, attrs);
    messageId = sent.messageId;
    return sent;
  });
  const accepted = await h.call('POST', '/router/reward', {
    token: tokens.acmeOperator,
    body: { taskId, signal: 'success_at_k', value: 1 },
  });
  send.mockRestore();
  expect(accepted.status, accepted.text).toBe(202);
  return messageId;
};

const model = () => item(process.env.ROUTER_TABLE_NAME, 'T#acme#MODEL', 'ridge:d32');
const learntCount = async (taskId: string): Promise<number> =>
  ((await model())?.appliedRewardIds as string[] | undefined)?.filter((id) => id === `${taskId}#success_at_k`)
    .length ?? 0;

beforeAll(async () => {
  h = await startHarness();
  const mint = (subject: string, roles: string[], amr?: string[]) =>
    h.conductor.issuer.mint({ subject, tenant: 'acme', roles, ...(amr ? { amr } : {}) });
  tokens.orgAdmin = await mint('ops-org-admin', ['org-admin'], ['pwd', 'mfa']);
  tokens.orgAdminNoStepUp = await mint('ops-org-admin-pwd', ['org-admin']);
  tokens.acmeAdmin = h.tokens.acmeAdmin ?? '';
  tokens.acmeOperator = h.tokens.acmeOperator ?? '';
  for (const name of ['dl-a', 'dl-b']) {
    const created = await h.call('POST', '/experts', {
      token: tokens.acmeAdmin,
      body: { name, type: 'model', costPerCallUsd: 0.001, endpoint: `https://${name}.example.com/v1` },
    });
    expect(created.status, created.text).toBe(201);
    experts.push(created.json.id as string);
  }
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('dead letters over HTTP', () => {
  it('lists a reward put on the rewards DLQ, redrives it once, and the model learns it once', async () => {
    // Prepare
    const messageId = await rewardOnTheDlq('dl-task-1');

    // Act
    const queues = await h.call('GET', '/ops/dead-letters', { token: tokens.orgAdmin });
    const listed = await h.call('GET', '/ops/dead-letters/rewards/messages', { token: tokens.orgAdmin });
    const redriven = await h.call('POST', `/ops/dead-letters/rewards/messages/${messageId}/redrive`, {
      token: tokens.orgAdmin,
    });
    await drainRewards();
    const again = await h.call('POST', `/ops/dead-letters/rewards/messages/${messageId}/redrive`, {
      token: tokens.orgAdmin,
    });

    // Assess
    expect(queues.status, queues.text).toBe(200);
    expect(queues.json.items.map((q: { queueId: string }) => q.queueId)).toEqual(
      expect.arrayContaining(['rewards', 'decision-archive', 'scheduler-jobs']),
    );
    expect(queues.json.items.find((q: { queueId: string }) => q.queueId === 'rewards')).toMatchObject({
      maxReceiveCount: 5,
      depth: { visible: 1 },
    });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.json.items).toHaveLength(1);
    expect(listed.json.items[0]).toMatchObject({ messageId, tenant: 'acme', truncated: false });
    expect(listed.json.items[0].preview).toContain('dl-task-1');
    expect(listed.json.items[0]).not.toHaveProperty('body');
    expect(redriven.status, redriven.text).toBe(200);
    expect(redriven.json.redriven.messageId).toBe(messageId);
    expectUniformError(again, 404, 'dead_letter_not_found');
    expect(rewardsDlq().depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await learntCount('dl-task-1')).toBe(1);
    expect(
      await item(process.env.ROUTER_TABLE_NAME, 'T#acme#REWARD', 'dl-task-1#success_at_k'),
    ).toMatchObject({ outcome: 'applied' });
  });

  it('redrives the whole DLQ with SQS’s redrive, and a reward redriven twice is still learnt once', async () => {
    // Prepare
    await rewardOnTheDlq('dl-task-2');
    await drainRewards();
    const before = await model();
    const duplicate = rewardsDlq().peek(1)[0];
    if (!duplicate) throw new Error('the reward did not reach the DLQ');
    rewardsDlq().send(duplicate.body);

    // Act
    const redrive = await h.call('POST', '/ops/dead-letters/rewards/redrive', { token: tokens.orgAdmin });
    await drainRewards();
    const queues = await h.call('GET', '/ops/dead-letters', { token: tokens.orgAdmin });

    // Assess
    expect(redrive.status, redrive.text).toBe(202);
    expect(redrive.json).toMatchObject({ queueId: 'rewards', redrive: { status: 'COMPLETED', moved: 2 } });
    expect(rewardsDlq().depth().visible).toBe(0);
    expect(await learntCount('dl-task-2')).toBe(1);
    expect((await model())?.version).toBe((before?.version as number) + 1);
    expect(
      queues.json.items.find((q: { queueId: string }) => q.queueId === 'rewards').lastRedrive,
    ).toMatchObject({ status: 'COMPLETED', moved: 2 });
  });

  it('discards a dead letter with an audit record naming who, why and the body’s hash', async () => {
    // Prepare
    const dlq = queue('conductor-scheduler-jobs-dlq');
    const { messageId } = dlq.send(JSON.stringify({ tenantId: 'globex', jobId: 'j-1' }));

    // Act
    const listed = await h.call('GET', '/ops/dead-letters/scheduler-jobs/messages?limit=5', {
      token: tokens.orgAdmin,
    });
    const discarded = await h.call(
      'DELETE',
      `/ops/dead-letters/scheduler-jobs/messages/${messageId}?reason=poison%20job`,
      { token: tokens.orgAdmin },
    );

    // Assess
    expect(listed.status, listed.text).toBe(200);
    expect(listed.json.items).toEqual([expect.objectContaining({ messageId, tenant: 'globex' })]);
    expect(discarded.status, discarded.text).toBe(200);
    expect(discarded.json).toMatchObject({
      queueId: 'scheduler-jobs',
      messageId,
      discardedBy: 'ops-org-admin',
    });
    expect(dlq.depth().visible).toBe(0);
    const audit = await item(process.env.OPS_TABLE_NAME, 'T#acme#DLQ_DISCARD', discarded.json.discardId);
    expect(audit).toMatchObject({
      queueId: 'scheduler-jobs',
      messageId,
      discardedBy: 'ops-org-admin',
      reason: 'poison job',
      messageTenant: 'globex',
      bodySha256: discarded.json.bodySha256,
    });
  });

  it('refuses tenant roles, and org-admins without step-up for redrive and discard', async () => {
    // Prepare
    const { messageId } = rewardsDlq().send(JSON.stringify({ tenantId: 'acme', taskId: 'dl-kept' }));

    // Act
    const tenantAdmin = await h.call('GET', '/ops/dead-letters', { token: tokens.acmeAdmin });
    const operator = await h.call('GET', '/ops/dead-letters/rewards/messages', {
      token: tokens.acmeOperator,
    });
    const noStepUp = await h.call('DELETE', `/ops/dead-letters/rewards/messages/${messageId}`, {
      token: tokens.orgAdminNoStepUp,
    });
    const listWithoutStepUp = await h.call('GET', '/ops/dead-letters', { token: tokens.orgAdminNoStepUp });

    // Assess
    expectUniformError(tenantAdmin, 403);
    expectUniformError(operator, 403);
    expectUniformError(noStepUp, 403);
    expect(listWithoutStepUp.status, listWithoutStepUp.text).toBe(200);
    expect(
      rewardsDlq()
        .peek()
        .map((m) => m.messageId),
    ).toContain(messageId);
  });

  it('answers 404 for an unknown queue or message and 400 for malformed ids and limits', async () => {
    // Act
    const unknownQueue = await h.call('GET', '/ops/dead-letters/nope/messages', { token: tokens.orgAdmin });
    const unknownMessage = await h.call(
      'DELETE',
      '/ops/dead-letters/rewards/messages/00000000-0000-0000-0000-000000000000',
      { token: tokens.orgAdmin },
    );
    const badQueue = await h.call('POST', '/ops/dead-letters/Bad_Queue/redrive', { token: tokens.orgAdmin });
    const badMessage = await h.call('POST', '/ops/dead-letters/rewards/messages/not%20an%20id/redrive', {
      token: tokens.orgAdmin,
    });
    const badLimit = await h.call('GET', '/ops/dead-letters/rewards/messages?limit=0', {
      token: tokens.orgAdmin,
    });

    // Assess
    expectUniformError(unknownQueue, 404, 'queue_not_found');
    expectUniformError(unknownMessage, 404, 'dead_letter_not_found');
    expectUniformError(badQueue, 400);
    expectUniformError(badMessage, 400);
    expectUniformError(badLimit, 400);
  });
});

/**
 * Makes a queue redeliver a failed message at once rather than after its visibility timeout (60 s),
 * except on its last delivery (`maxReceiveCount`), which keeps the full timeout: only the consumer's
 * own dead-lettering or SQS's redrive then decides where it goes. Returns the restore function.
 */
const redeliverAtOnce = (local: LocalQueue): (() => void) => {
  const receive = local.receive.bind(local);
  const spy = vi.spyOn(local, 'receive').mockImplementation((max, options) => {
    const records = receive(max, options);
    for (const record of records) {
      if (Number(record.attributes.ApproximateReceiveCount) < local.maxReceiveCount) {
        local.changeVisibility(record.receiptHandle, 0.02);
      }
    }
    return records;
  });
  return () => spy.mockRestore();
};

describe('the last error of a dead letter', () => {
  it('is kept by the consumer that dead-letters a message on its last delivery, listed with it, and a redrive then works', async () => {
    // Prepare
    const jobs = queue('conductor-scheduler-jobs');
    const dlq = queue('conductor-scheduler-jobs-dlq');
    const jobId = 'job_dl-poison-1';
    const restore = redeliverAtOnce(jobs);
    const { messageId: sourceId } = jobs.send(
      JSON.stringify({ tenantId: 'acme', jobId, traceId: 't-poison' }),
    );
    try {
      await vi.waitFor(() => expect(dlq.peek().some((m) => m.body.includes(jobId))).toBe(true), {
        timeout: 20_000,
        interval: 20,
      });
      await h.conductor.mappings.get(jobs.name)?.drain();
    } finally {
      restore();
    }

    // Act
    const listed = await h.call('GET', '/ops/dead-letters/scheduler-jobs/messages?limit=50', {
      token: tokens.orgAdmin,
    });
    const deadLetter = listed.json.items?.find((m: { preview: string }) => m.preview.includes(jobId));
    const attributes = dlq.peek().find((m) => m.messageId === deadLetter?.messageId)?.messageAttributes;
    await new TenantRecordStore<TenantRecord & Record<string, unknown>>(
      doc(),
      process.env.SCHEDULER_TABLE_NAME ?? '',
      'JOB',
    ).create({
      tenantId: 'acme',
      id: jobId,
      version: 1,
      createdAt: '2026-03-01T10:00:00.000Z',
      updatedAt: '2026-03-01T10:00:00.000Z',
      status: 'queued',
      priority: 'normal',
      payloadJson: '{}',
      traceId: 't-poison',
    });
    const redriven = await h.call(
      'POST',
      `/ops/dead-letters/scheduler-jobs/messages/${deadLetter?.messageId}/redrive`,
      {
        token: tokens.orgAdmin,
      },
    );
    await h.conductor.mappings.get(jobs.name)?.drain();

    // Assess
    expect(listed.status, listed.text).toBe(200);
    expect(deadLetter).toMatchObject({
      tenant: 'acme',
      lastError: `JobNotFoundError: job ${jobId} of acme does not exist`,
    });
    expect(attributes).toMatchObject({
      'conductor-source-message-id': sourceId,
      'conductor-receive-count': '5',
    });
    expect(redriven.status, redriven.text).toBe(200);
    expect(redriven.json.redriven).toMatchObject({
      messageId: deadLetter.messageId,
      lastError: deadLetter.lastError,
    });
    expect(dlq.peek().filter((m) => m.body.includes(jobId))).toEqual([]);
    expect(jobs.depth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await item(process.env.SCHEDULER_TABLE_NAME, 'T#acme#JOB', jobId)).toMatchObject({
      status: 'completed',
      version: 2,
    });
  });
});

describe('the audit records of discards over HTTP', () => {
  let initechOrgAdmin = '';
  beforeAll(async () => {
    initechOrgAdmin = await h.conductor.issuer.mint({
      subject: 'initech-ops',
      tenant: 'initech',
      roles: ['org-admin'],
      amr: ['pwd', 'mfa'],
    });
  });

  it('lists the discards made in the operator’s tenant newest first, a page at a time, with each message’s last error', async () => {
    // Prepare
    const dlq = rewardsDlq();
    const discarded: string[] = [];
    for (const n of [1, 2]) {
      const { messageId } = dlq.send(JSON.stringify({ tenantId: 'globex', taskId: `dl-audit-${n}` }), {
        messageAttributes: { 'conductor-last-error': `ZodError: signal: death ${n}` },
      });
      const reply = await h.call(
        'DELETE',
        `/ops/dead-letters/rewards/messages/${messageId}?reason=audit%20${n}`,
        {
          token: initechOrgAdmin,
        },
      );
      expect(reply.status, reply.text).toBe(200);
      discarded.push(reply.json.discardId);
    }

    // Act
    const first = await h.call('GET', '/ops/dead-letters/discards?limit=1', { token: initechOrgAdmin });
    const second = await h.call(
      'GET',
      `/ops/dead-letters/discards?limit=1&cursor=${encodeURIComponent(first.json.nextCursor ?? '')}`,
      { token: initechOrgAdmin },
    );
    const third = await h.call(
      'GET',
      `/ops/dead-letters/discards?limit=1&cursor=${encodeURIComponent(second.json.nextCursor ?? '')}`,
      { token: initechOrgAdmin },
    );

    // Assess
    expect(first.status, first.text).toBe(200);
    expect(second.status, second.text).toBe(200);
    const records = [...first.json.items, ...second.json.items];
    expect(records.map((r: { discardId: string }) => r.discardId).sort()).toEqual([...discarded].sort());
    expect(records[0].discardedAt >= records[1].discardedAt).toBe(true);
    expect(records.find((r: { discardId: string }) => r.discardId === discarded[1])).toMatchObject({
      queueId: 'rewards',
      discardedBy: 'initech-ops',
      reason: 'audit 2',
      messageTenant: 'globex',
      lastError: 'ZodError: signal: death 2',
      bodySha256: expect.stringMatching(/^[a-f0-9]{64}$/),
    });
    expect(records[0]).not.toHaveProperty('tenantId');
    expect(third.status, third.text).toBe(200);
    expect(third.json).toEqual({ items: [] });
  });

  it('shows an operator only the discards of its own tenant, and refuses tenant roles, bad limits and foreign cursors', async () => {
    // Prepare
    const initech = await h.call('GET', '/ops/dead-letters/discards?limit=1', { token: initechOrgAdmin });
    expect(initech.json.nextCursor).toBeDefined();

    // Act
    const acme = await h.call('GET', '/ops/dead-letters/discards?limit=100', { token: tokens.orgAdmin });
    const foreignCursor = await h.call(
      'GET',
      `/ops/dead-letters/discards?cursor=${encodeURIComponent(initech.json.nextCursor)}`,
      { token: tokens.orgAdmin },
    );
    const tenantAdmin = await h.call('GET', '/ops/dead-letters/discards', { token: tokens.acmeAdmin });
    const badLimit = await h.call('GET', '/ops/dead-letters/discards?limit=101', { token: tokens.orgAdmin });
    const badCursor = await h.call('GET', '/ops/dead-letters/discards?cursor=garbage', {
      token: tokens.orgAdmin,
    });

    // Assess
    expect(acme.status, acme.text).toBe(200);
    expect(acme.json.items.every((r: { discardedBy: string }) => r.discardedBy === 'ops-org-admin')).toBe(
      true,
    );
    expectUniformError(foreignCursor, 400, 'invalid_cursor');
    expectUniformError(tenantAdmin, 403);
    expectUniformError(badLimit, 400);
    expectUniformError(badCursor, 400, 'invalid_cursor');
  });
});
