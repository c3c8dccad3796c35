import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { LastAttemptDeadLetters } from '#shared/adapters/sqs-batch.js';
import { silentLogger } from '#shared/testing/fakes.js';
import { makeJobBatchHandler } from '../../src/job-consumer.js';
import { inMemoryScheduler } from '../support/fakes.js';

const record = (messageId: string, body: unknown, receiveCount = 1): SQSRecord => ({
  messageId,
  receiptHandle: `r-${messageId}`,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  attributes: {
    ApproximateReceiveCount: String(receiveCount),
    SentTimestamp: '1772355600000',
    SenderId: 'scheduler',
    ApproximateFirstReceiveTimestamp: '1772355600000',
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:conductor-scheduler-jobs',
  awsRegion: 'us-east-1',
});

const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

describe('the jobs queue consumer', () => {
  it('completes every job of a batch and reports no failure', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const a = await s.intake.enqueue('acme', { payload: { a: 1 }, priority: 'high' }, 't');
    const b = await s.intake.enqueue('globex', { payload: { b: 1 }, priority: 'low' }, 't');
    const handle = makeJobBatchHandler({ worker: s.worker, logger: silentLogger() });

    // Act
    const response = await handle(batch(...s.queue.sent.map((message, i) => record(`m-${i}`, message))));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect((await s.jobs.get('acme', a.jobId))?.status).toBe('completed');
    expect((await s.jobs.get('globex', b.jobId))?.status).toBe('completed');
    expect(s.events.published.map((event) => event.detail.jobId).sort()).toEqual([a.jobId, b.jobId].sort());
  });

  it('reports only the malformed message and the unknown job as failures; the rest of the batch completes', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const good = await s.intake.enqueue('acme', { payload: {}, priority: 'normal' }, 't');
    const handle = makeJobBatchHandler({ worker: s.worker, logger: silentLogger() });

    // Act
    const response = await handle(
      batch(
        record('m-good', s.queue.sent[0]),
        record('m-not-json', '{"tenantId":'),
        record('m-bad-shape', { tenantId: 'acme', jobId: good.jobId }),
        record('m-unknown', { tenantId: 'acme', jobId: 'job_missing', traceId: 't' }),
        record('m-other-tenant', { tenantId: 'globex', jobId: good.jobId, traceId: 't' }),
      ),
    );

    // Assess
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual([
      'm-not-json',
      'm-bad-shape',
      'm-unknown',
      'm-other-tenant',
    ]);
    expect((await s.jobs.get('acme', good.jobId))?.status).toBe('completed');
    expect(s.events.published).toHaveLength(1);
  });

  it('reports a message whose write fails, so SQS delivers it again', async () => {
    // Prepare
    const s = inMemoryScheduler();
    await s.intake.enqueue('acme', { payload: {}, priority: 'normal' }, 't');
    const failingWorker = {
      complete: async () => Promise.reject(new Error('DynamoDB unavailable')),
      markDeadLettered: async () => undefined,
    };
    const handle = makeJobBatchHandler({ worker: failingWorker, logger: silentLogger() });

    // Act
    const response = await handle(batch(record('m-1', s.queue.sent[0])));

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-1' }] });
  });

  it('puts a job message failing its last delivery on the DLQ with its error, and reports only the earlier delivery', async () => {
    // Prepare
    const s = inMemoryScheduler();
    const dead: { messageId: string; error: string }[] = [];
    const deadLetters: LastAttemptDeadLetters = {
      isLastAttempt: (r) => Number(r.attributes.ApproximateReceiveCount) >= 5,
      send: async (r, error) => {
        dead.push({ messageId: r.messageId, error: String(error) });
      },
    };
    const handle = makeJobBatchHandler({ worker: s.worker, logger: silentLogger(), deadLetters });
    const unknown = { tenantId: 'acme', jobId: 'job_missing', traceId: 't' };

    // Act
    const response = await handle(batch(record('m-last', unknown, 5), record('m-early', unknown, 4)));

    // Assess
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-early' }] });
    expect(dead).toEqual([
      { messageId: 'm-last', error: 'JobNotFoundError: job job_missing of acme does not exist' },
    ]);
  });

  it('marks a job whose message fails its last delivery dead_lettered, with why; a redrive of the message completes it', async () => {
    // Prepare: the job table refuses the completing write on every delivery.
    const s = inMemoryScheduler();
    const { jobId } = await s.intake.enqueue('acme', { payload: { p: 1 } }, 't');
    const message = s.queue.sent[0];
    const original = s.jobs.replace.bind(s.jobs);
    s.jobs.replace = async (job, version) => {
      if (job.status === 'completed') throw new Error('ValidationException: item too large');
      return original(job, version);
    };
    const deadLetters: LastAttemptDeadLetters = {
      isLastAttempt: (r) => Number(r.attributes.ApproximateReceiveCount) >= 5,
      send: async () => undefined,
    };
    const handle = makeJobBatchHandler({ worker: s.worker, logger: silentLogger(), deadLetters });

    // Act
    const early = await handle(batch(record('m-1', message, 4)));
    const queuedAfterEarly = (await s.jobs.get('acme', jobId))?.status;
    const last = await handle(batch(record('m-1', message, 5)));
    const dead = await s.jobs.get('acme', jobId);
    s.jobs.replace = original;
    const redriven = await handle(batch(record('m-1', message, 1)));

    // Assess
    expect(early.batchItemFailures).toHaveLength(1);
    expect(queuedAfterEarly).toBe('queued');
    expect(last).toEqual({ batchItemFailures: [] });
    expect(dead).toMatchObject({
      status: 'dead_lettered',
      lastError: 'Error: ValidationException: item too large',
      deadLetteredAt: expect.any(String),
    });
    expect(redriven).toEqual({ batchItemFailures: [] });
    expect(await s.jobs.get('acme', jobId)).toMatchObject({ status: 'completed' });
    expect(s.events.published.filter((event) => event.type === 'job_completed')).toHaveLength(1);
  });
});
