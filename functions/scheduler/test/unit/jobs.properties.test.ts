import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '#shared/errors.js';
import { JOB_PRIORITIES } from '../../events.js';
import { canonicalJson } from '../../src/domain/jobs.js';
import { inMemoryScheduler } from '../support/fakes.js';

/** One POST scheduler/enqueue, as a client with retries, several tenants and a flaky queue makes them. */
const requestArb = fc.record({
  tenantId: fc.constantFrom('acme', 'globex'),
  idempotencyKey: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: undefined }),
  payload: fc.constantFrom<Record<string, unknown>>({ a: 1 }, { a: 2 }, { b: [1, { c: true }] }),
  priority: fc.constantFrom(...JOB_PRIORITIES),
  queueFails: fc.boolean(),
});

describe('job idempotency (fast-check)', () => {
  it('whatever the retries, tenants and queue failures: one job per tenant and key, every answer names it, every answered job is on the queue', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(requestArb, { maxLength: 25 }), async (requests) => {
        // Prepare: the reference model, the first request of each tenant and key.
        const s = inMemoryScheduler();
        const firsts = new Map<string, { payloadJson: string; priority: string; jobId?: string }>();
        let unkeyedWrites = 0;

        for (const request of requests) {
          // Act
          s.queue.failing = request.queueFails;
          const sentBefore = s.queue.sent.length;
          const outcome = await s.intake
            .enqueue(request.tenantId, request, 'trace')
            .then((result) => ({ result }))
            .catch((error: unknown) => ({ error }));

          // Assess: against the model.
          const slot = `${request.tenantId}|${request.idempotencyKey ?? ''}`;
          const first = request.idempotencyKey === undefined ? undefined : firsts.get(slot);
          const payloadJson = canonicalJson(request.payload);
          if (first && (first.payloadJson !== payloadJson || first.priority !== request.priority)) {
            expect(outcome).toEqual({ error: expect.objectContaining({ code: 'idempotency_key_reused' }) });
            expect(s.queue.sent).toHaveLength(sentBefore);
            continue;
          }
          if (request.idempotencyKey === undefined) unkeyedWrites += 1;
          else if (!first) firsts.set(slot, { payloadJson, priority: request.priority });
          if (request.queueFails) {
            expect('error' in outcome && outcome.error instanceof AppError && outcome.error.code).toBe(
              'job_not_queued',
            );
            continue;
          }
          if (!('result' in outcome)) throw outcome.error;
          const { jobId, replayed } = outcome.result;
          const known = firsts.get(slot);
          if (request.idempotencyKey !== undefined && known) {
            expect(jobId).toBe(known.jobId ?? jobId);
            known.jobId = jobId;
          }
          // A replay is any request of a key whose first request got as far as its write.
          expect(replayed).toBe(first !== undefined);
          expect(s.queue.sent.at(-1)).toEqual({ tenantId: request.tenantId, jobId, traceId: 'trace' });
        }

        // Assess: one record per tenant and key, one per request without a key; keys never cross tenants.
        const stored = s.jobs.all();
        expect(stored).toHaveLength(firsts.size + unkeyedWrites);
        const keyed = stored.filter((job) => job.idempotencyKey !== undefined);
        expect(new Set(keyed.map((job) => job.id)).size).toBe(keyed.length);
        for (const job of stored) expect(job.status).toBe('queued');
      }),
      { numRuns: 300 },
    );
  });

  it('whatever the deliveries (duplicates, order, concurrency): every job completes once, with one job_completed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(4), { maxLength: 15 }),
        fc.integer({ min: 1, max: 4 }),
        fc.infiniteStream(fc.boolean()),
        async (jobCount, extraDeliveries, concurrency, shuffle) => {
          // Prepare
          const s = inMemoryScheduler();
          for (let i = 0; i < jobCount; i += 1) {
            await s.intake.enqueue(
              i % 2 === 0 ? 'acme' : 'globex',
              { payload: { i }, priority: 'normal' },
              't',
            );
          }
          const messages = s.queue.sent;
          const deliveries = [...messages, ...extraDeliveries.map((i) => messages[i % jobCount])].filter(
            (m) => m !== undefined,
          );
          const flips = shuffle[Symbol.iterator]();
          deliveries.sort(() => (flips.next().value ? 1 : -1));

          // Act: in waves of `concurrency` concurrent deliveries, as an event source mapping would.
          const outcomes: string[] = [];
          for (let start = 0; start < deliveries.length; start += concurrency) {
            const wave = deliveries.slice(start, start + concurrency);
            outcomes.push(...(await Promise.all(wave.map((m) => s.worker.complete(m)))));
          }

          // Assess
          expect(outcomes.filter((o) => o === 'completed')).toHaveLength(jobCount);
          for (const job of s.jobs.all()) expect(job).toMatchObject({ status: 'completed', version: 2 });
          const announced = s.events.published.map((event) => event.detail.jobId);
          expect([...announced].sort()).toEqual(messages.map((m) => m.jobId).sort());
        },
      ),
      { numRuns: 200 },
    );
  });
});
