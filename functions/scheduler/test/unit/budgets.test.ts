import { describe, expect, it } from 'vitest';
import type { AppError, UnprocessableError } from '#shared/errors.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { LedgerContentionError } from '../../src/domain/budget-ledger.js';
import {
  type BudgetInput,
  type BudgetPolicy,
  DEFAULT_POLICY,
  projectedSpend,
} from '../../src/domain/budgets.js';
import {
  BudgetThrottledError,
  type Job,
  JobIntake,
  type JobMessage,
  JobWorker,
} from '../../src/domain/jobs.js';
import { inMemoryBudgets, RecordingJobQueue } from '../support/fakes.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

const monthly = (policy: Partial<BudgetPolicy> = {}, limit = 1000): BudgetInput => ({
  window: 'monthly',
  limit,
  timeZone: 'UTC',
  policy: { ...DEFAULT_POLICY, gracePercent: 10, ...policy },
});

/** A clock in the middle of April 2026 (UTC): 15 of 30 days elapsed, so the projection doubles finished spend. */
const midApril = () => new ManualClock('2026-04-16T00:00:00.000Z');

const breaches = (events: { published: { type: string; detail: Record<string, unknown> }[] }) =>
  events.published.filter((event) => event.type === 'budget_breach').map((event) => event.detail);

/** acme with a $1000 monthly budget (10 % grace) and a $10 daily one, mid-April. */
const dailyAndMonthly = async () => {
  const { budgets, ledger } = inMemoryBudgets(midApril());
  await budgets.put('acme', monthly(), 'u-admin');
  await budgets.put('acme', { ...monthly(), window: 'daily', limit: 10, policy: DEFAULT_POLICY }, 'u-admin');
  return { budgets, ledger };
};

describe('budgets: projection, state and budget_breach', () => {
  it('projects finished spend at its mean rate to the window’s end, plus what admitted jobs will cost, never dividing by less than a tenth', () => {
    expect(projectedSpend({ committed: 550, reserved: 0 }, 0.5)).toBe(1100);
    expect(projectedSpend({ committed: 100, reserved: 40 }, 1)).toBe(140);
    expect(projectedSpend({ committed: 10, reserved: 0 }, 0.001)).toBe(100);
  });

  it('the requirements’ scenario: monthly $1000 with 10 % grace; at a projected $1100 the budget is throttled, low work waits, high work keeps flowing, and budget_breach is published once', async () => {
    // Prepare: $550 finished by mid-month, so the projection is $1100.
    const clock = midApril();
    const { budgets, events } = inMemoryBudgets(clock);
    await budgets.put('acme', monthly(), 'u-admin');
    await budgets.admit('acme', 'normal', 550, 't0');
    await budgets.settle('acme', 'j0', ['monthly:2026-04'], 550, 549.99, 't');
    const before = await budgets.status('acme');
    expect(before[0]).toMatchObject({ state: 'warning', projectedUsd: 1099.98 });

    // Act: one more cent finished crosses the breach level.
    await budgets.admit('acme', 'normal', 0.01, 't1');
    await budgets.settle('acme', 'j1', ['monthly:2026-04'], 0.01, 0.01, 't1');
    const low = await budgets.admit('acme', 'low', 1, 't2');
    const high = await budgets.admit('acme', 'high', 1, 't3');
    const normal = await budgets.admit('acme', 'normal', 1, 't4');

    // Assess
    const [after] = await budgets.status('acme');
    expect(after).toMatchObject({
      windowId: 'monthly:2026-04',
      state: 'budget-throttled',
      capUsd: 1100,
      breachAtUsd: 1100,
      thresholdsReached: [50, 80, 100],
    });
    expect(low).toMatchObject({ admitted: false, reason: 'held_back', retryAfterSeconds: 300 });
    expect(high).toMatchObject({ admitted: true, priority: 'high', windowIds: ['monthly:2026-04'] });
    expect(normal).toMatchObject({ admitted: true, priority: 'normal' });
    const announced = breaches(events);
    expect(announced.map((detail) => detail.threshold)).toEqual(['50%', '80%', '100%', 'breach']);
    expect(announced.at(-1)).toMatchObject({
      tenantId: 'acme',
      traceId: 't1',
      window: 'monthly',
      windowId: 'monthly:2026-04',
      limitUsd: 1000,
      projectedUsd: 1100,
      spentUsd: 550,
      mode: 'throttle',
      action: 'throttle',
    });
  });

  it('once breached, each priority fills the cap only up to its ceiling; past the cap nothing is admitted', async () => {
    // Prepare: breached at once by a reservation past the cap’s 90 %.
    const clock = midApril();
    const { budgets } = inMemoryBudgets(clock);
    await budgets.put('acme', monthly({ burstPercent: 0 }), 'u-admin');
    await budgets.admit('acme', 'high', 1000, 't');
    await budgets.settle('acme', 'big', ['monthly:2026-04'], 1000, 1000, 't');

    // Act
    const normal = await budgets.admit('acme', 'normal', 1, 't');
    const high = await budgets.admit('acme', 'high', 99, 't');
    const tooMuch = await budgets.admit('acme', 'high', 1.5, 't');
    const [status] = await budgets.status('acme');

    // Assess: normal stops at 90 % of the $1100 cap ($990 < $1000 spent); high may use the rest.
    expect(normal).toMatchObject({ admitted: false, reason: 'held_back' });
    expect(high.admitted).toBe(true);
    expect(tooMuch).toMatchObject({ admitted: false, reason: 'over_budget' });
    expect(status).toMatchObject({ spentUsd: 1000, reservedUsd: 99, remainingUsd: 1 });
  });

  it('a downgrade budget admits up to the cap but demotes each job one priority class once breached', async () => {
    const clock = midApril();
    const { budgets, events } = inMemoryBudgets(clock);
    await budgets.put('acme', monthly({ mode: 'downgrade' }), 'u-admin');
    const early = await budgets.admit('acme', 'high', 600, 't');
    await budgets.settle('acme', 'a', ['monthly:2026-04'], 600, 600, 't');

    const late = await budgets.admit('acme', 'high', 10, 't');
    const low = await budgets.admit('acme', 'low', 10, 't');

    expect(early).toMatchObject({ admitted: true, priority: 'high' });
    expect(late).toMatchObject({ admitted: true, priority: 'normal' });
    expect(low).toMatchObject({ admitted: true, priority: 'low' });
    expect((await budgets.status('acme'))[0]?.state).toBe('degraded');
    expect(breaches(events).at(-1)).toMatchObject({ threshold: 'breach', action: 'downgrade' });
  });

  it('a soft budget never refuses: it only says so (state over-budget, action alert)', async () => {
    const clock = midApril();
    const { budgets, events } = inMemoryBudgets(clock);
    await budgets.put('acme', monthly({ mode: 'soft' }), 'u-admin');

    const admitted = await budgets.admit('acme', 'low', 5000, 't');

    expect(admitted).toMatchObject({ admitted: true, priority: 'low' });
    expect((await budgets.status('acme'))[0]).toMatchObject({ state: 'over-budget', remainingUsd: 0 });
    expect(breaches(events).at(-1)).toMatchObject({ threshold: 'breach', action: 'alert', mode: 'soft' });
  });

  it('the burst allowance lets the projection pass the cap by its share of the limit before the budget counts as breached', async () => {
    const clock = midApril();
    const { budgets } = inMemoryBudgets(clock);
    await budgets.put('acme', monthly({ burstPercent: 20 }), 'u-admin');
    await budgets.admit('acme', 'normal', 600, 't');
    await budgets.settle('acme', 'a', ['monthly:2026-04'], 600, 600, 't');

    const [status] = await budgets.status('acme');
    const low = await budgets.admit('acme', 'low', 1, 't');

    expect(status).toMatchObject({ projectedUsd: 1200, breachAtUsd: 1300, state: 'warning' });
    expect(low.admitted).toBe(true);
  });

  it('with a daily and a monthly budget, a job refused by one holds no reservation in the other', async () => {
    const { budgets, ledger } = await dailyAndMonthly();

    const refused = await budgets.admit('acme', 'high', 50, 't');
    const fits = await budgets.admit('acme', 'high', 5, 't');

    expect(refused).toMatchObject({ admitted: false, reason: 'over_budget', status: { window: 'daily' } });
    expect(fits).toMatchObject({ admitted: true, windowIds: ['daily:2026-04-16', 'monthly:2026-04'] });
    expect(await ledger.get('acme', 'monthly:2026-04')).toMatchObject({ reserved: 5 });
  });

  it('with a daily and a monthly budget, a throttled write to the second ledger leaves no reservation in the first', async () => {
    const { budgets, ledger } = await dailyAndMonthly();
    const reserve = ledger.reserve.bind(ledger);
    ledger.reserve = async (...args: Parameters<typeof reserve>) => {
      if (args[1].startsWith('monthly')) throw new LedgerContentionError('throttled');
      return reserve(...args);
    };

    const refused = await budgets.admit('acme', 'high', 5, 't').catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(LedgerContentionError);
    expect(await ledger.get('acme', 'daily:2026-04-16')).toMatchObject({ reserved: 0, used: 0 });
  });

  it('carries the previous window’s unused budget into the next, up to its cap, fixed when the new window opens', async () => {
    const clock = new ManualClock('2026-03-31T12:00:00.000Z');
    const { budgets } = inMemoryBudgets(clock);
    await budgets.put('acme', monthly({ carryOverCapPercent: 20 }), 'u-admin');
    await budgets.admit('acme', 'normal', 400, 't');
    await budgets.settle('acme', 'march', ['monthly:2026-03'], 400, 400, 't');

    clock.advance(DAY);
    await budgets.admit('acme', 'normal', 1, 't');
    const [april] = await budgets.status('acme');

    // $600 unused in March, capped at 20 % of $1000.
    expect(april).toMatchObject({ windowId: 'monthly:2026-04', carryInUsd: 200, capUsd: 1300 });
  });

  it('a job finishing after its window closed is committed to the window it was admitted in', async () => {
    const clock = new ManualClock('2026-04-30T23:59:00.000Z');
    const { budgets, ledger } = inMemoryBudgets(clock);
    await budgets.put('acme', monthly(), 'u-admin');
    const admission = await budgets.admit('acme', 'normal', 5, 't');

    clock.advance(2 * 60_000);
    await budgets.settle('acme', 'late', admission.admitted ? admission.windowIds : [], 5, 7, 't');

    expect(await ledger.get('acme', 'monthly:2026-04')).toMatchObject({ committed: 7, reserved: 0 });
    expect(await ledger.get('acme', 'monthly:2026-05')).toBeUndefined();
  });

  it('refuses an effectiveFrom in a past window, and a budget of a future window does not apply yet', async () => {
    const clock = midApril();
    const { budgets } = inMemoryBudgets(clock);

    await expect(
      budgets.put('acme', { ...monthly(), effectiveFrom: '2026-03-31T23:00:00Z' }, 'u-admin'),
    ).rejects.toMatchObject({ code: 'window_in_past' } satisfies Partial<UnprocessableError>);
    await budgets.put('acme', { ...monthly({}, 1), effectiveFrom: '2026-05-01T00:00:00Z' }, 'u-admin');
    const admitted = await budgets.admit('acme', 'low', 50, 't');

    expect(admitted).toMatchObject({ admitted: true, windowIds: [] });
  });

  it('throttled before the window ends: Retry-After is the time left when that is under 5 minutes', async () => {
    const clock = new ManualClock('2026-04-30T23:59:00.000Z');
    const { budgets } = inMemoryBudgets(clock);
    await budgets.put('acme', monthly({}, 1), 'u-admin');

    const refused = await budgets.admit('acme', 'high', 5, 't');

    expect(refused).toMatchObject({ admitted: false, retryAfterSeconds: 60 });
  });
});

describe('JobIntake and JobWorker with budgets', () => {
  const scheduler = (clock: ManualClock) => {
    const b = inMemoryBudgets(clock);
    const jobs = new InMemoryTenantRecords<Job>('JOB');
    const queue = new RecordingJobQueue();
    const intake = new JobIntake({ jobs, queue, budgets: b.budgets, clock, ids: new SequentialIds() });
    const worker = new JobWorker({ jobs, clock, budgets: b.budgets, events: b.events });
    return { ...b, jobs, queue, intake, worker };
  };

  it('a job the budget refuses is a 429 budget_throttled with Retry-After and the state, and nothing is stored or queued', async () => {
    // Prepare: breached at mid-month.
    const s = scheduler(midApril());
    await s.budgets.put('acme', monthly(), 'u-admin');
    await s.intake.enqueue('acme', { payload: {}, estimatedCostUsd: 560 }, 't');
    await s.worker.complete(s.queue.sent[0] as JobMessage);

    // Act
    const refused = await s.intake
      .enqueue('acme', { queue: 'batch', payload: {}, estimatedCostUsd: 1 }, 't')
      .catch((error: AppError) => error);

    // Assess
    expect(refused).toBeInstanceOf(BudgetThrottledError);
    expect(refused).toMatchObject({
      statusCode: 429,
      code: 'budget_throttled',
      headers: { 'Retry-After': '300', 'X-Conductor-Budget-State': 'budget-throttled' },
      details: { window: 'monthly', windowId: 'monthly:2026-04', state: 'budget-throttled', priority: 'low' },
    });
    expect(s.jobs.all()).toHaveLength(1);
    expect(s.queue.sent).toHaveLength(1);
  });

  it('a breached downgrade budget sends a job to the queue one class lower, and says so', async () => {
    const s = scheduler(midApril());
    await s.budgets.put('acme', monthly({ mode: 'downgrade' }), 'u-admin');
    await s.intake.enqueue('acme', { payload: {}, estimatedCostUsd: 600 }, 't');
    await s.worker.complete(s.queue.sent[0] as JobMessage);

    const answer = await s.intake.enqueue(
      'acme',
      { queue: 'interactive', payload: {}, estimatedCostUsd: 1 },
      't',
    );

    expect(answer).toMatchObject({ priority: 'normal', budgetState: 'degraded' });
    expect(s.queue.priorities).toEqual(['normal', 'normal']);
    expect(await s.jobs.get('acme', answer.jobId)).toMatchObject({
      requestedPriority: 'high',
      priority: 'normal',
      queue: 'interactive',
    });
  });

  it('a worker killed after committing the cost: the redelivery completes the job, and the cost and job_completed count once', async () => {
    const s = scheduler(midApril());
    await s.budgets.put('acme', monthly(), 'u-admin');
    const { jobId } = await s.intake.enqueue('acme', { payload: {}, estimatedCostUsd: 5 }, 't');
    const message = s.queue.sent[0] as JobMessage;
    const original = s.jobs.replace.bind(s.jobs);
    let kills = 1;
    s.jobs.replace = async (job: Job, version: number) => {
      if (kills-- > 0) throw new Error('killed');
      return original(job, version);
    };

    await expect(s.worker.complete(message)).rejects.toThrow('killed');
    const again = await s.worker.complete(message);
    const twice = await s.worker.complete(message);

    expect([again, twice]).toEqual(['completed', 'already_completed']);
    expect(await s.ledger.get('acme', 'monthly:2026-04')).toMatchObject({ committed: 5, reserved: 0 });
    expect(s.events.published.filter((event) => event.type === 'job_completed')).toHaveLength(1);
    expect(await s.jobs.get('acme', jobId)).toMatchObject({ status: 'completed', costUsd: 5 });
  });
});

describe('JobIntake under a busy ledger', () => {
  it('answers 503 budget_busy with Retry-After 1 when DynamoDB throttles the ledger, storing and queueing nothing', async () => {
    const clock = midApril();
    const jobs = new InMemoryTenantRecords<Job>('JOB');
    const queue = new RecordingJobQueue();
    const intake = new JobIntake({
      jobs,
      queue,
      clock,
      ids: new SequentialIds(),
      budgets: {
        admit: async () => Promise.reject(new LedgerContentionError('throttled')),
        release: async () => undefined,
        degraded: async () => false,
      },
    });

    const refused = await intake.enqueue('acme', { payload: {} }, 't').catch((error: AppError) => error);

    expect(refused).toMatchObject({ statusCode: 503, code: 'budget_busy', headers: { 'Retry-After': '1' } });
    expect(jobs.all()).toEqual([]);
    expect(queue.sent).toEqual([]);
  });
});
