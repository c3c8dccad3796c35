import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { expectUniformError, type Harness, startHarness } from './harness.js';

let h: Harness;
let operator: string;

const QUEUES = ['high', 'jobs', 'low'].map((name) => `conductor-scheduler-${name}`);

const enqueue = (body: unknown, token = operator) => h.call('POST', '/scheduler/enqueue', { token, body });

const drainJobs = async (): Promise<void> => {
  for (const queue of QUEUES) {
    const mapping = h.conductor.mappings.get(queue);
    if (!mapping) throw new Error(`no event source mapping for ${queue}`);
    await mapping.drain();
  }
};

/** The scheduler table, read directly: the API has no job lookup yet (issue 17). */
const table = () =>
  makeDocumentClient({
    region: process.env.AWS_REGION ?? 'us-east-1',
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
  });
const jobItem = async (tenant: string, jobId: string) =>
  (
    await table().send(
      new GetCommand({
        TableName: process.env.SCHEDULER_TABLE_NAME,
        Key: { pk: `T#${tenant}#JOB`, sk: jobId },
        ConsistentRead: true,
      }),
    )
  ).Item;
const jobsOf = async (tenant: string) =>
  (
    await table().send(
      new QueryCommand({
        TableName: process.env.SCHEDULER_TABLE_NAME,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `T#${tenant}#JOB` },
        ConsistentRead: true,
      }),
    )
  ).Items ?? [];

const completions = (jobId: string) =>
  h.conductor.bus
    .history(500)
    .map((entry) => entry.event)
    .filter(
      (event) =>
        event['detail-type'] === 'job_completed' && (event.detail as { jobId?: string }).jobId === jobId,
    );

beforeAll(async () => {
  h = await startHarness();
  operator = h.tokens.acmeOperator ?? '';
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('POST scheduler/enqueue over HTTP on the embedded runtime', () => {
  it('answers 202 with the job id once the job is written and queued; the worker completes it and job_completed is on the bus', async () => {
    // Act
    const reply = await enqueue({
      payload: { prompt: 'summarise the incident', tokens: 900 },
      priority: 'high',
    });

    // Assess
    expect(reply.status, reply.text).toBe(202);
    expect(reply.json).toEqual({
      jobId: expect.stringMatching(/^job_[0-9a-f-]{36}$/),
      status: 'queued',
      priority: 'high',
    });
    expect(reply.headers.get('x-conductor-api-version')).toBe('v1');
    expect(reply.headers.get('idempotent-replayed')).toBeNull();
    const { jobId } = reply.json;
    expect(await jobItem('acme', jobId)).toMatchObject({
      tenantId: 'acme',
      id: jobId,
      priority: 'high',
      payloadJson: '{"prompt":"summarise the incident","tokens":900}',
      traceId: reply.headers.get('x-conductor-trace-id'),
      expiresAt: expect.any(Number),
    });

    await drainJobs();

    const job = await jobItem('acme', jobId);
    expect(job).toMatchObject({ status: 'completed', version: 2, completedAt: expect.any(String) });
    // 30 days after its last change (DynamoDB TTL, in seconds).
    expect(job?.expiresAt).toBe(Math.floor(Date.parse(job?.updatedAt) / 1000) + 30 * 24 * 3600);
    const events = completions(jobId);
    expect(events).toHaveLength(1);
    expect(events[0]?.detail).toEqual({
      tenantId: 'acme',
      traceId: reply.headers.get('x-conductor-trace-id'),
      occurredAt: job?.completedAt,
      jobId,
      priority: 'high',
      costUsd: 0,
    });
  });

  it('takes priority normal when none is given', async () => {
    // Act
    const reply = await enqueue({ payload: {} });

    // Assess
    expect(reply.status, reply.text).toBe(202);
    expect(await jobItem('acme', reply.json.jobId)).toMatchObject({ priority: 'normal' });
  });

  it('answers a replayed idempotencyKey with the same job, marked Idempotent-Replayed, and creates and runs nothing new', async () => {
    // Prepare
    const body = { payload: { order: 42 }, idempotencyKey: 'order-42' };
    const first = await enqueue(body);
    expect(first.status, first.text).toBe(202);
    await drainJobs();
    const before = await jobsOf('acme');

    // Act
    const replays = await Promise.all([enqueue(body), enqueue(body)]);
    await drainJobs();

    // Assess
    for (const replay of replays) {
      expect(replay.status, replay.text).toBe(202);
      expect(replay.json).toEqual({ jobId: first.json.jobId, status: 'completed', priority: 'normal' });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
    }
    expect(await jobsOf('acme')).toEqual(before);
    expect(completions(first.json.jobId)).toHaveLength(1);
  });

  it('refuses an idempotencyKey reused for another payload with 409, changing nothing', async () => {
    // Prepare
    const first = await enqueue({ payload: { v: 1 }, idempotencyKey: 'reused' });
    expect(first.status, first.text).toBe(202);
    await drainJobs();
    const before = await jobsOf('acme');

    // Act
    const reply = await enqueue({ payload: { v: 2 }, idempotencyKey: 'reused' });

    // Assess
    expectUniformError(reply, 409, 'idempotency_key_reused');
    expect(await jobsOf('acme')).toEqual(before);
  });

  it('answers 503 when the queue does not take the job, and a retry with the same key succeeds without a second job', async () => {
    // Prepare: the local SQS stand-in refuses every send to the jobs queue (the SDK's retries included).
    const queue = h.conductor.queues.get('conductor-scheduler-jobs');
    if (!queue) throw new Error('no jobs queue');
    const refuse = vi.spyOn(queue, 'send').mockImplementation(() => {
      throw new Error('injected: the queue is unavailable');
    });
    const body = { payload: { attempt: 'durable' }, idempotencyKey: 'hand-off-1' };

    // Act
    let refused: Awaited<ReturnType<typeof enqueue>>;
    try {
      refused = await enqueue(body);
    } finally {
      refuse.mockRestore();
    }
    const retried = await enqueue(body);
    await drainJobs();

    // Assess
    expectUniformError(refused, 503, 'job_not_queued');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(retried.status, retried.text).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    const written = (await jobsOf('acme')).filter((job) => job.idempotencyKey === 'hand-off-1');
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ id: retried.json.jobId, status: 'completed' });
    expect(completions(retried.json.jobId)).toHaveLength(1);
  });

  it('refuses bad bodies with 4xx in the uniform error shape and writes nothing', async () => {
    // Prepare
    const before = await jobsOf('acme');
    const invalid: unknown[] = [
      {},
      { payload: null },
      { payload: 'text' },
      { payload: [1, 2] },
      { payload: {}, priority: 'urgent' },
      { payload: {}, idempotencyKey: '' },
      { payload: {}, idempotencyKey: 'has spaces' },
      { payload: {}, idempotencyKey: 'k'.repeat(129) },
      { payload: {}, queue: 'heavy' },
      { payload: {}, tenantId: 'globex' },
    ];

    // Act
    const replies = await Promise.all(invalid.map((body) => enqueue(body)));
    const malformed = await h.call('POST', '/scheduler/enqueue', {
      token: operator,
      rawBody: '{"payload":',
      headers: { 'content-type': 'application/json' },
    });
    const missing = await h.call('POST', '/scheduler/enqueue', { token: operator });
    const tooLarge = await enqueue({ payload: { blob: 'x'.repeat(64 * 1024) } });
    const notJson = await h.call('POST', '/scheduler/enqueue', {
      token: operator,
      rawBody: 'payload=1',
      headers: { 'content-type': 'text/plain' },
    });

    // Assess
    for (const reply of replies) {
      expectUniformError(reply, 400, 'validation_failed');
      expect(reply.json.details.issues.length).toBeGreaterThan(0);
    }
    expect(replies[4]?.json.details.issues).toEqual([{ path: 'body.priority', message: expect.any(String) }]);
    expect(replies[8]?.json.details.issues).toEqual([{ path: 'body.queue', message: expect.any(String) }]);
    expectUniformError(malformed, 400, 'malformed_json');
    expectUniformError(missing, 400, 'body_required');
    expectUniformError(tooLarge, 413, 'payload_too_large');
    expectUniformError(notJson, 415, 'unsupported_media_type');
    expect(await jobsOf('acme')).toEqual(before);
  });

  it('refuses a viewer with 403 and writes nothing', async () => {
    // Prepare
    const before = await jobsOf('acme');

    // Act
    const reply = await enqueue({ payload: {}, idempotencyKey: 'viewer-try' }, h.tokens.acmeViewer);
    const anonymous = await h.call('POST', '/scheduler/enqueue', { body: { payload: {} } });

    // Assess
    expectUniformError(reply, 403, 'policy_denied');
    expectUniformError(anonymous, 401);
    expect(await jobsOf('acme')).toEqual(before);
  });
});

describe('tenant isolation of jobs', () => {
  it('makes globex’s use of acme’s idempotencyKey another job in globex, telling nothing of acme’s', async () => {
    // Prepare
    const globexOperator = await h.conductor.issuer.mint({
      subject: 'globex-operator',
      tenant: 'globex',
      roles: ['operator'],
    });
    const acme = await enqueue({ payload: { owner: 'acme' }, idempotencyKey: 'shared-key' });
    expect(acme.status, acme.text).toBe(202);
    await drainJobs();
    const acmeJob = await jobItem('acme', acme.json.jobId);

    // Act: the same key with another payload (within acme a 409), then globex's own replay of it.
    const globex = await enqueue(
      { payload: { owner: 'globex' }, idempotencyKey: 'shared-key' },
      globexOperator,
    );
    const globexReplay = await enqueue(
      { payload: { owner: 'globex' }, idempotencyKey: 'shared-key' },
      globexOperator,
    );
    await drainJobs();

    // Assess: a new job, not a replay of acme's and not a 409 that would reveal acme used the key.
    expect(globex.status, globex.text).toBe(202);
    expect(globex.json).toEqual({ jobId: expect.any(String), status: 'queued', priority: 'normal' });
    expect(globex.json.jobId).not.toBe(acme.json.jobId);
    expect(globex.headers.get('idempotent-replayed')).toBeNull();
    expect(globexReplay.json).toEqual({ jobId: globex.json.jobId, status: 'completed', priority: 'normal' });
    expect(globexReplay.headers.get('idempotent-replayed')).toBe('true');
    expect(await jobItem('acme', acme.json.jobId)).toEqual(acmeJob);
    expect(await jobItem('globex', acme.json.jobId)).toBeUndefined();
    expect(await jobItem('acme', globex.json.jobId)).toBeUndefined();
    expect(await jobItem('globex', globex.json.jobId)).toMatchObject({
      tenantId: 'globex',
      payloadJson: '{"owner":"globex"}',
      status: 'completed',
    });
    expect(
      completions(globex.json.jobId).map((event) => (event.detail as { tenantId: string }).tenantId),
    ).toEqual(['globex']);
  });

  it('refuses an operator enqueueing into another tenant without a grant (403, request_approval), writing nothing there', async () => {
    // Prepare
    const before = await jobsOf('globex');

    // Act
    const reply = await h.call('POST', '/scheduler/enqueue', {
      token: operator,
      headers: { 'x-conductor-tenant': 'globex' },
      body: { payload: { sneaky: true } },
    });

    // Assess
    expectUniformError(reply, 403, 'policy_denied');
    expect(reply.json.details.obligations).toContain('request_approval');
    expect(await jobsOf('globex')).toEqual(before);
  });
});

describe('fairness between tenants of one priority', () => {
  it('serves a quiet tenant’s jobs among the first even behind another tenant’s flood (the queue’s message group is the tenant)', async () => {
    // Prepare: the low queue's worker stopped while acme floods it, then globex sends three jobs.
    const mapping = h.conductor.mappings.get('conductor-scheduler-low');
    if (!mapping) throw new Error('no event source mapping for the low queue');
    await mapping.stop();
    const globexOperator = await h.conductor.issuer.mint({
      subject: 'globex-operator-fair',
      tenant: 'globex',
      roles: ['operator'],
    });
    const flood = await Promise.all(
      Array.from({ length: 30 }, (_, i) => enqueue({ queue: 'batch', payload: { flood: i } })),
    );
    const quiet = [];
    for (let i = 0; i < 3; i += 1) {
      quiet.push(await enqueue({ queue: 'batch', payload: { quiet: i } }, globexOperator));
    }
    expect([...flood, ...quiet].every((reply) => reply.status === 202)).toBe(true);

    // Act
    mapping.start();
    await mapping.drain();

    // Assess: in completion order, globex's three jobs are done before acme's tenth.
    const quietIds = new Set(quiet.map((reply) => reply.json.jobId));
    const floodIds = new Set(flood.map((reply) => reply.json.jobId));
    const order = h.conductor.bus
      .history(1000)
      .map((entry) => entry.event)
      .filter((event) => event['detail-type'] === 'job_completed')
      .map((event) => (event.detail as { jobId: string }).jobId)
      .filter((jobId) => quietIds.has(jobId) || floodIds.has(jobId))
      .reverse();
    expect(order).toHaveLength(33);
    const lastQuiet = Math.max(...[...quietIds].map((jobId) => order.indexOf(jobId)));
    expect(lastQuiet).toBeLessThan(10);
  });
});
