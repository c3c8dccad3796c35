import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AppError } from '#shared/errors.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { JOB_PRIORITIES } from '../../events.js';
import { capOf } from '../../src/domain/budget-ledger.js';
import { DEFAULT_POLICY, ENFORCEMENT_MODES } from '../../src/domain/budgets.js';
import { type Job, JobClaimedError, JobIntake, type JobMessage, JobWorker } from '../../src/domain/jobs.js';
import { inMemoryBudgets, RecordingEvents, RecordingJobQueue } from '../support/fakes.js';

const HOUR = 3600_000;

/** What a run does, step by step: clients enqueue, workers deliver (some die mid-job), time passes. */
const stepArb = fc.oneof(
  fc.record({
    kind: fc.constant('enqueue' as const),
    priority: fc.constantFrom(...JOB_PRIORITIES),
    estimate: fc.integer({ min: 0, max: 400 }),
    /** The actual cost, as a share of the estimate (estimates are wrong both ways). */
    actualShare: fc.double({ min: 0, max: 2, noNaN: true }),
    key: fc.option(fc.constantFrom('k1', 'k2', 'k3', 'k4'), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('deliver' as const),
    pick: fc.nat(),
    /** The worker dies at its claim of the job (before the commit), or after the commit and before marking the job done. */
    dies: fc.constantFrom('no' as const, 'at-claim' as const, 'after-commit' as const),
    duplicate: fc.boolean(),
    /** A second copy of the message is delivered at the same time (at-least-once queues). */
    concurrent: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 24 * 12 }) }),
);

describe('budgets under any interleaving (fast-check)', () => {
  it('committed spend stays within limit × (1 + grace) plus what jobs cost beyond their estimates; every admitted job completes once and is counted once, whatever the deaths, duplicates (sequential and concurrent) and window rollovers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { maxLength: 60 }),
        fc.constantFrom(...ENFORCEMENT_MODES.filter((mode) => mode !== 'soft')),
        async (steps, mode) => {
          // Prepare: a $1000 monthly budget with 10 % grace, a worker whose deaths are injected.
          const clock = new ManualClock('2026-01-28T00:00:00.000Z');
          const events = new RecordingEvents();
          const { budgets, ledgerRecords } = inMemoryBudgets(clock, events);
          await budgets.put(
            'acme',
            {
              window: 'monthly',
              limit: 1000,
              timeZone: 'Europe/Berlin',
              policy: { ...DEFAULT_POLICY, gracePercent: 10, mode },
            },
            'admin',
          );
          const jobs = new InMemoryTenantRecords<Job>('JOB');
          const queue = new RecordingJobQueue();
          const actualShare = new Map<string, number>();
          const dying = new Map<string, 'at-claim' | 'after-commit'>();
          const intake = new JobIntake({ jobs, queue, budgets, clock, ids: new SequentialIds() });
          const worker = new JobWorker({
            jobs: {
              get: (tenantId, id) => jobs.get(tenantId, id),
              create: (job) => jobs.create(job),
              replace: async (job, version) => {
                const point = dying.get(job.id);
                if (point !== undefined && (point === 'after-commit') === (job.status === 'completed')) {
                  dying.delete(job.id);
                  throw new Error('worker killed');
                }
                return jobs.replace(job, version);
              },
            },
            clock,
            budgets,
            events,
            costOf: (job) =>
              Math.round((job.estimatedCostUsd ?? 0) * (actualShare.get(job.id) ?? 1) * 100) / 100,
          });
          const pending: JobMessage[] = [];
          const admitted = new Set<string>();

          // Act
          for (const step of steps) {
            if (step.kind === 'enqueue') {
              const sent = queue.sent.length;
              const answer = await intake
                .enqueue(
                  'acme',
                  {
                    payload: { n: 1 },
                    priority: step.priority,
                    estimatedCostUsd: step.estimate,
                    idempotencyKey: step.key,
                  },
                  't',
                )
                .then((result) => ({ result }))
                .catch((error: AppError) => ({ error }));
              if ('error' in answer) {
                // Refused by a budget (429), or a key reused for another job (409): nothing stored.
                expect([409, 429]).toContain(answer.error.statusCode);
              } else {
                admitted.add(answer.result.jobId);
                if (!actualShare.has(answer.result.jobId))
                  actualShare.set(answer.result.jobId, step.actualShare);
              }
              pending.push(...queue.sent.slice(sent));
            } else if (step.kind === 'deliver' && pending.length > 0) {
              const index = step.pick % pending.length;
              const message = pending[index] as JobMessage;
              if (!step.duplicate) pending.splice(index, 1);
              if (step.dies !== 'no') dying.set(message.jobId, step.dies);
              // A delivery that dies, or finds the job claimed by another, comes back (the queue redelivers it).
              const copies = step.concurrent ? [message, message] : [message];
              const results = await Promise.allSettled(copies.map((copy) => worker.complete(copy)));
              for (const result of results) if (result.status === 'rejected') pending.push(message);
            } else if (step.kind === 'advance') {
              clock.advance(step.hours * HOUR);
            }
          }
          dying.clear();
          while (pending.length > 0) {
            const message = pending.shift() as JobMessage;
            await worker.complete(message).catch((error: unknown) => {
              // The queue redelivers after its visibility timeout (60 s): a claim has expired by then.
              expect(error).toBeInstanceOf(JobClaimedError);
              clock.advance(60_000);
              pending.push(message);
            });
          }

          // Assess: every admitted job completed exactly once, its cost counted once.
          const completions = events.published.filter((event) => event.type === 'job_completed');
          expect(completions.map((event) => event.detail.jobId).sort()).toEqual([...admitted].sort());
          const stored = jobs.all();
          expect(stored.every((job) => job.status === 'completed')).toBe(true);
          expect(stored.map((job) => job.id).sort()).toEqual([...admitted].sort());
          for (const ledger of ledgerRecords.all()) {
            const inWindow = stored.filter((job) => job.budgetWindows?.includes(ledger.windowId));
            const costs = inWindow.reduce((sum, job) => sum + (job.costUsd ?? 0), 0);
            const overruns = inWindow.reduce(
              (sum, job) => sum + Math.max(0, (job.costUsd ?? 0) - (job.estimatedCostUsd ?? 0)),
              0,
            );
            expect(ledger.reserved).toBeCloseTo(0, 6);
            expect(ledger.committed).toBeCloseTo(costs, 6);
            expect(ledger.committed).toBeLessThanOrEqual(capOf(ledger) + overruns + 1e-6);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
