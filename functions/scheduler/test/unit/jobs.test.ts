import { describe, expect, it } from 'vitest';
import { refusal } from '#shared/testing/refusal.js';
import { schedulerPillar } from '../../pillar.js';
import { canonicalJson, JOB_CLAIM_SECONDS, JobNotFoundError, jobIdFor } from '../../src/domain/jobs.js';
import { inMemoryScheduler } from '../support/fakes.js';

const UUID_SHAPE = /^job_[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('JobIntake', () => {
  it('writes a queued job, then hands it to the queue, and answers with its id', async () => {
    // Prepare
    const s = inMemoryScheduler();

    // Act
    const result = await s.intake.enqueue(
      'acme',
      { payload: { prompt: 'summarise', n: 3 }, priority: 'high' },
      'trace-1',
    );

    // Assess
    expect(result).toEqual({ jobId: 'job_000001', status: 'queued', priority: 'high', replayed: false });
    expect(s.jobs.all()).toEqual([
      {
        tenantId: 'acme',
        id: 'job_000001',
        version: 1,
        createdAt: '2026-03-01T09:00:00.000Z',
        updatedAt: '2026-03-01T09:00:00.000Z',
        status: 'queued',
        queue: 'default',
        priority: 'high',
        requestedPriority: 'high',
        estimatedCostUsd: 0,
        budgetWindows: [],
        payloadJson: '{"n":3,"prompt":"summarise"}',
        traceId: 'trace-1',
      },
    ]);
    expect(s.queue.sent).toEqual([{ tenantId: 'acme', jobId: 'job_000001', traceId: 'trace-1' }]);
    expect(s.queue.priorities).toEqual(['high']);
  });

  it('makes a new job for every request without an idempotency key', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const request = { payload: { same: true }, priority: 'normal' } as const;

    // Act
    const first = await s.intake.enqueue('acme', request, 't1');
    const second = await s.intake.enqueue('acme', request, 't2');

    // Assess
    expect(first.jobId).not.toBe(second.jobId);
    expect(s.jobs.all()).toHaveLength(2);
  });

  it('answers a replayed idempotency key with the same job and creates nothing', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const request = { payload: { a: 1 }, priority: 'low', idempotencyKey: 'order-42' } as const;
    const first = await s.intake.enqueue('acme', request, 'trace-first');

    // Act
    const replay = await s.intake.enqueue('acme', request, 'trace-replay');

    // Assess
    expect(first).toEqual({
      jobId: jobIdFor('acme', 'order-42'),
      status: 'queued',
      priority: 'low',
      replayed: false,
    });
    expect(replay).toEqual({ ...first, replayed: true });
    expect(s.jobs.all()).toHaveLength(1);
    expect(s.jobs.all()[0]).toMatchObject({ idempotencyKey: 'order-42', traceId: 'trace-first', version: 1 });
    // A job not yet completed is handed over again (its first hand-off may have failed).
    expect(s.queue.sent.map((m) => m.jobId)).toEqual([first.jobId, first.jobId]);
  });

  it('treats the same payload with its keys in another order as the same request', async () => {
    // Prepare
    const s = inMemoryScheduler();
    await s.intake.enqueue(
      'acme',
      { payload: { a: 1, b: { c: 2, d: 3 } }, priority: 'normal', idempotencyKey: 'k' },
      't',
    );

    // Act
    const replay = await s.intake.enqueue(
      'acme',
      { payload: { b: { d: 3, c: 2 }, a: 1 }, priority: 'normal', idempotencyKey: 'k' },
      't',
    );

    // Assess
    expect(replay.replayed).toBe(true);
    expect(s.jobs.all()).toHaveLength(1);
  });

  it('refuses a key reused for another payload or priority with 409 idempotency_key_reused, changing nothing', async () => {
    // Prepare
    const s = inMemoryScheduler();
    await s.intake.enqueue('acme', { payload: { a: 1 }, priority: 'normal', idempotencyKey: 'k' }, 't');
    const before = s.jobs.all();

    // Act
    const otherPayload = await refusal(
      s.intake.enqueue('acme', { payload: { a: 2 }, priority: 'normal', idempotencyKey: 'k' }, 't'),
    );
    const otherPriority = await refusal(
      s.intake.enqueue('acme', { payload: { a: 1 }, priority: 'high', idempotencyKey: 'k' }, 't'),
    );

    // Assess
    for (const error of [otherPayload, otherPriority]) {
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('idempotency_key_reused');
    }
    expect(s.jobs.all()).toEqual(before);
    expect(s.queue.sent).toHaveLength(1);
  });

  it('gives the same key in another tenant another job', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const request = { payload: { a: 1 }, priority: 'normal', idempotencyKey: 'shared-key' } as const;

    // Act
    const acme = await s.intake.enqueue('acme', request, 't');
    const globex = await s.intake.enqueue('globex', { ...request, payload: { secret: 'globex' } }, 't');

    // Assess
    expect(globex.jobId).not.toBe(acme.jobId);
    expect(globex.replayed).toBe(false);
    expect(await s.jobs.get('acme', globex.jobId)).toBeUndefined();
    expect((await s.jobs.get('acme', acme.jobId))?.payloadJson).toBe('{"a":1}');
  });

  it('answers 503 job_not_queued when the queue refuses; a retry with the same key then succeeds without a second job', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const request = { payload: { a: 1 }, priority: 'normal', idempotencyKey: 'retry-me' } as const;
    s.queue.failing = true;

    // Act
    const refused = await refusal(s.intake.enqueue('acme', request, 't1'));
    s.queue.failing = false;
    const retried = await s.intake.enqueue('acme', request, 't2');

    // Assess
    expect(refused.statusCode).toBe(503);
    expect(refused.code).toBe('job_not_queued');
    expect(refused.headers).toEqual({ 'Retry-After': '1' });
    expect(s.queueErrors).toEqual([jobIdFor('acme', 'retry-me')]);
    expect(retried).toEqual({
      jobId: jobIdFor('acme', 'retry-me'),
      status: 'queued',
      priority: 'normal',
      replayed: true,
    });
    expect(s.jobs.all()).toHaveLength(1);
    expect(s.queue.sent).toEqual([{ tenantId: 'acme', jobId: retried.jobId, traceId: 't1' }]);
  });

  it('does not hand a completed job over again when its key is replayed', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const request = { payload: {}, priority: 'normal', idempotencyKey: 'done' } as const;
    const first = await s.intake.enqueue('acme', request, 't');
    await s.worker.complete(s.queue.sent[0] ?? { tenantId: '', jobId: '', traceId: '' });

    // Act
    const replay = await s.intake.enqueue('acme', request, 't');

    // Assess
    expect(replay).toEqual({ jobId: first.jobId, status: 'completed', priority: 'normal', replayed: true });
    expect(s.queue.sent).toHaveLength(1);
  });
});

describe('JobWorker', () => {
  it('completes a queued job with a version-conditional write and publishes job_completed', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const { jobId } = await s.intake.enqueue('acme', { payload: { a: 1 }, priority: 'high' }, 'trace-7');
    s.clock.advance(1_500);

    // Act
    const outcome = await s.worker.complete({ tenantId: 'acme', jobId, traceId: 'trace-7' });

    // Assess
    expect(outcome).toBe('completed');
    expect(await s.jobs.get('acme', jobId)).toMatchObject({
      status: 'completed',
      costUsd: 0,
      version: 2,
      completedAt: '2026-03-01T09:00:01.500Z',
      updatedAt: '2026-03-01T09:00:01.500Z',
      createdAt: '2026-03-01T09:00:00.000Z',
    });
    expect(s.events.published).toEqual([
      {
        type: 'job_completed',
        detail: {
          tenantId: 'acme',
          traceId: 'trace-7',
          occurredAt: '2026-03-01T09:00:01.500Z',
          jobId,
          priority: 'high',
          costUsd: 0,
        },
      },
    ]);
  });

  it('does not run a completed job again: a redelivery writes and publishes nothing', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const { jobId } = await s.intake.enqueue('acme', { payload: {}, priority: 'normal' }, 't');
    const message = { tenantId: 'acme', jobId, traceId: 't' };
    await s.worker.complete(message);
    const after = await s.jobs.get('acme', jobId);

    // Act
    const again = await s.worker.complete(message);

    // Assess
    expect(again).toBe('already_completed');
    expect(await s.jobs.get('acme', jobId)).toEqual(after);
    expect(s.events.published).toHaveLength(1);
  });

  it('lets exactly one of two concurrent deliveries complete the job', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const { jobId } = await s.intake.enqueue('acme', { payload: {}, priority: 'normal' }, 't');
    const message = { tenantId: 'acme', jobId, traceId: 't' };

    // Act
    const outcomes = await Promise.all([s.worker.complete(message), s.worker.complete(message)]);

    // Assess
    expect(outcomes.sort()).toEqual(['already_completed', 'completed']);
    expect((await s.jobs.get('acme', jobId))?.version).toBe(2);
    expect(s.events.published).toHaveLength(1);
  });

  it('fails a message naming a job its tenant does not have, such as another tenant’s', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const { jobId } = await s.intake.enqueue('acme', { payload: {}, priority: 'normal' }, 't');

    // Act
    const failure = s.worker.complete({ tenantId: 'globex', jobId, traceId: 't' });

    // Assess
    await expect(failure).rejects.toBeInstanceOf(JobNotFoundError);
    expect((await s.jobs.get('acme', jobId))?.status).toBe('queued');
    expect(s.events.published).toEqual([]);
  });

  it('keeps the completion when job_completed cannot be published, and says so', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const { jobId } = await s.intake.enqueue('acme', { payload: {}, priority: 'normal' }, 't');
    s.events.failing = true;

    // Act
    const outcome = await s.worker.complete({ tenantId: 'acme', jobId, traceId: 't' });

    // Assess
    expect(outcome).toBe('completed');
    expect((await s.jobs.get('acme', jobId))?.status).toBe('completed');
    expect(s.publishErrors).toEqual([jobId]);
  });
});

describe('jobIdFor', () => {
  it('is UUID-shaped, the same for the same tenant and key, and another for another tenant or key', () => {
    // Act
    const id = jobIdFor('acme', 'order-42');

    // Assess
    expect(id).toMatch(UUID_SHAPE);
    expect(jobIdFor('acme', 'order-42')).toBe(id);
    expect(jobIdFor('globex', 'order-42')).not.toBe(id);
    expect(jobIdFor('acme', 'order-43')).not.toBe(id);
    // The separator keeps (tenant, key) pairs apart that concatenate alike.
    expect(jobIdFor('acme', 'x')).not.toBe(jobIdFor('acm', 'ex'));
  });
});

describe('canonicalJson', () => {
  it('sorts the keys of every object, keeps array order, and leaves scalars as JSON has them', () => {
    expect(canonicalJson({ b: [{ z: 1, y: null }, 'x'], a: { d: true, c: 1.5 } })).toBe(
      '{"a":{"c":1.5,"d":true},"b":[{"y":null,"z":1},"x"]}',
    );
  });
});

describe('JOB_CLAIM_SECONDS', () => {
  it('outlives the worker’s Lambda timeout and expires before its queues redeliver a message', () => {
    // Prepare
    const worker = schedulerPillar.functions.find((fn) => fn.name === 'scheduler-worker');
    const queues = schedulerPillar.queues.filter((queue) => queue.consumer === 'scheduler-worker');

    // Assess
    expect(worker?.timeoutSeconds).toBeDefined();
    expect(JOB_CLAIM_SECONDS).toBeGreaterThan(worker?.timeoutSeconds ?? Number.POSITIVE_INFINITY);
    expect(queues).toHaveLength(3);
    for (const queue of queues) expect(JOB_CLAIM_SECONDS).toBeLessThan(queue.visibilityTimeoutSeconds);
  });
});
