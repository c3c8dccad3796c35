import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '#shared/errors.js';
import { ManualClock } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { BudgetLedger, capOf, type LedgerRecord, OPS_WINDOW } from '../../src/domain/budget-ledger.js';

const ledgerOf = () => {
  const repository = new InMemoryTenantRecords<LedgerRecord>('BUDGET_LEDGER');
  return {
    repository,
    ledger: new BudgetLedger({ repository, clock: new ManualClock(), pause: async () => undefined }),
  };
};
/** Counts the version conflicts the repository answers (lost races). */
const countConflicts = (repository: InMemoryTenantRecords<LedgerRecord>) => {
  const counter = { count: 0 };
  const replace = repository.replace.bind(repository);
  repository.replace = async (record, expected) => {
    try {
      await replace(record, expected);
    } catch (error) {
      counter.count += 1;
      throw error;
    }
  };
  return counter;
};
const LIMIT = { limit: 1000, grace: 0.1 };
const WINDOW = 'monthly:2026-03';

describe('the budget ledger', () => {
  it('admits while committed + reserved + estimate fits under limit × (1 + grace), and refuses beyond, changing nothing', async () => {
    // Prepare
    const { ledger } = ledgerOf();

    // Act
    const first = await ledger.reserve('acme', WINDOW, LIMIT, 'j1', 600);
    const second = await ledger.reserve('acme', WINDOW, LIMIT, 'j2', 500);
    const refused = await ledger.reserve('acme', WINDOW, LIMIT, 'j3', 0.01);

    // Assess
    expect(capOf(LIMIT)).toBeCloseTo(1100, 9);
    expect(first.admitted).toBe(true);
    expect(second.admitted).toBe(true);
    expect(refused).toMatchObject({ admitted: false, reason: 'over_budget' });
    expect(refused.ledger).toMatchObject({ reserved: 1100, committed: 0 });
    expect(refused.ledger.ops).toEqual(['r:j1', 'r:j2']);
  });

  it('commits the actual cost in place of the estimate, once, and releases a job that will not run', async () => {
    // Prepare
    const { ledger } = ledgerOf();
    await ledger.reserve('acme', WINDOW, LIMIT, 'j1', 100);
    await ledger.reserve('acme', WINDOW, LIMIT, 'j2', 50);

    // Act
    await ledger.commit('acme', WINDOW, 'j1', 100, 120);
    await ledger.commit('acme', WINDOW, 'j1', 100, 120);
    await ledger.release('acme', WINDOW, 'j2', 50);
    await ledger.commit('acme', WINDOW, 'j2', 50, 50);
    const state = await ledger.get('acme', WINDOW);

    // Assess: j1 counted once; j2, released, cannot be committed after.
    expect(state).toMatchObject({ committed: 120, reserved: 0 });
  });

  it('lets 20 concurrent admissions of 100 from two processes through exactly 11 times under a cap of 1,100 (their writes race and retry)', async () => {
    // Prepare: two ledgers on one table, as two Lambda instances would be.
    const { ledger, repository } = ledgerOf();
    const other = new BudgetLedger({ repository, clock: new ManualClock(), pause: async () => undefined });
    const conflicts = countConflicts(repository);

    // Act
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? ledger : other).reserve('acme', WINDOW, LIMIT, `c${i}`, 100),
      ),
    );

    // Assess
    expect(answers.filter((a) => a.admitted)).toHaveLength(11);
    expect((await ledger.get('acme', WINDOW))?.reserved).toBe(1100);
    expect(conflicts.count).toBeGreaterThan(0);
  });

  it('runs one process’s changes of an item one after another (no lost race within a process), and pauses with growing jitter after a lost race', async () => {
    // Prepare
    const { ledger, repository } = ledgerOf();
    const conflicts = countConflicts(repository);
    const pauses: number[] = [];
    const racing = new BudgetLedger({
      repository: {
        get: (tenantId, id) => repository.get(tenantId, id),
        create: (record) => repository.create(record),
        // Another process wins the first three writes.
        replace: async (record, expected) => {
          if (pauses.length < 3) throw new ConflictError('changed', 'version_conflict');
          return repository.replace(record, expected);
        },
      },
      clock: new ManualClock(),
      pause: async (ms) => {
        pauses.push(ms);
      },
      random: () => 0.999,
    });

    // Act
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => ledger.reserve('acme', WINDOW, LIMIT, `s${i}`, 10)),
    );
    await racing.reserve('acme', WINDOW, LIMIT, 'late', 10);

    // Assess
    expect(conflicts.count).toBe(0);
    expect((await ledger.get('acme', WINDOW))?.reserved).toBe(210);
    expect(pauses).toEqual([1, 3, 7]);
  });

  it('refuses a cost that is not a finite number >= 0 before touching the ledger', async () => {
    // Prepare
    const { ledger, repository } = ledgerOf();

    // Act + Assess
    for (const estimate of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(ledger.reserve('acme', WINDOW, LIMIT, 'j', estimate)).rejects.toMatchObject({
        statusCode: 422,
      });
    }
    await expect(ledger.reserve('acme', WINDOW, { limit: -5, grace: 0 }, 'j', 1)).rejects.toMatchObject({
      statusCode: 422,
    });
    expect(await repository.get('acme', WINDOW)).toBeUndefined();
  });

  it('keeps the window’s other tenants and windows apart', async () => {
    // Prepare
    const { ledger } = ledgerOf();

    // Act
    await ledger.reserve('acme', WINDOW, LIMIT, 'j1', 1100);
    const other = await ledger.reserve('globex', WINDOW, LIMIT, 'j1', 1100);
    const next = await ledger.reserve('acme', 'monthly:2026-04', LIMIT, 'j2', 1100);

    // Assess
    expect(other.admitted).toBe(true);
    expect(next.admitted).toBe(true);
  });

  it(`remembers the last ${OPS_WINDOW} operations, no more`, async () => {
    // Prepare
    const { ledger } = ledgerOf();

    // Act
    for (let i = 0; i < OPS_WINDOW + 10; i += 1)
      await ledger.reserve('acme', WINDOW, { limit: 1e9, grace: 0 }, `j${i}`, 1);
    const state = await ledger.get('acme', WINDOW);

    // Assess
    expect(state?.ops).toHaveLength(OPS_WINDOW);
    expect(state?.ops[0]).toBe('r:j10');
    expect(state?.reserved).toBe(OPS_WINDOW + 10);
  });
});

/** One job of a generated run: its estimate, its actual cost, and whether it completes or fails. */
interface JobCase {
  readonly estimate: number;
  readonly actual: number;
  readonly completes: boolean;
}

const jobCase = (maxError: number) =>
  fc
    .record({
      estimate: fc.integer({ min: 0, max: 300 }),
      error: fc.integer({ min: -300, max: maxError }),
      completes: fc.boolean(),
    })
    .map(({ estimate, error, completes }) => ({
      estimate,
      actual: Math.max(0, estimate + error),
      completes,
    }));

/**
 * Runs a generated run in two waves of concurrent operations from two processes, which race on the
 * ledger's version:
 * the first half of the admissions; then the second half racing the settlements (commit or release,
 * each delivered once or twice) of the jobs the first wave admitted. The second wave's jobs stay open.
 */
const runJobs = async (
  jobs: readonly JobCase[],
  order: readonly number[],
  duplicates: ReadonlySet<number>,
) => {
  // Two processes (Lambda instances) on one table: their writes race on the version.
  const { ledger: first, repository } = ledgerOf();
  const second = new BudgetLedger({ repository, clock: new ManualClock(), pause: async () => undefined });
  const ledger = first;
  const of = (j: number) => (j % 2 === 0 ? first : second);
  const admitted = new Set<number>();
  const times = (j: number) => (duplicates.has(j) ? 2 : 1);
  const reserve = async (j: number) => {
    const job = jobs[j] as JobCase;
    for (let t = 0; t < times(j); t += 1) {
      const answer = await of(j).reserve('acme', WINDOW, LIMIT, `job-${j}`, job.estimate);
      if (answer.admitted) admitted.add(j);
    }
  };
  const settle = async (j: number) => {
    const job = jobs[j] as JobCase;
    for (let t = 0; t < times(j); t += 1) {
      if (job.completes) await of(j).commit('acme', WINDOW, `job-${j}`, job.estimate, job.actual);
      else await of(j).release('acme', WINDOW, `job-${j}`, job.estimate);
    }
  };
  const half = Math.floor(order.length / 2);
  await Promise.all(order.slice(0, half).map(reserve));
  const settled = new Set(admitted);
  await Promise.all([...order.slice(half).map(reserve), ...[...settled].map(settle)]);
  return { state: await ledger.get('acme', WINDOW), admitted, settled };
};

describe('spend without overshoot (property)', () => {
  it('under any interleaving and redelivery: every admitted job counted once, reserved what is still open, committed within the cap plus the overruns in flight', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(jobCase(60), { minLength: 1, maxLength: 30 }).chain((jobs) =>
          fc.tuple(
            fc.constant(jobs),
            fc.shuffledSubarray(
              jobs.map((_, i) => i),
              { minLength: jobs.length, maxLength: jobs.length },
            ),
            fc.subarray(jobs.map((_, i) => i)),
          ),
        ),
        async ([jobs, order, duplicated]) => {
          // Act
          const { state, admitted, settled } = await runJobs(jobs, order, new Set(duplicated));

          // Assess
          const open = [...admitted].filter((j) => !settled.has(j)).map((j) => jobs[j] as JobCase);
          const settledJobs = [...settled].map((j) => jobs[j] as JobCase);
          const committed = settledJobs
            .filter((job) => job.completes)
            .reduce((sum, job) => sum + job.actual, 0);
          expect(state?.committed ?? 0).toBe(committed);
          expect(state?.reserved ?? 0).toBe(open.reduce((sum, job) => sum + job.estimate, 0));
          const overruns = settledJobs
            .filter((job) => job.completes)
            .reduce((sum, job) => sum + Math.max(0, job.actual - job.estimate), 0);
          expect(committed).toBeLessThanOrEqual(capOf(LIMIT) + overruns + 1e-9);
          // Spent plus still reserved stays within the cap plus those overruns (released jobs free room).
          expect((state?.committed ?? 0) + (state?.reserved ?? 0)).toBeLessThanOrEqual(
            capOf(LIMIT) + overruns + 1e-9,
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('with exact estimates, committed spend never passes limit × (1 + grace)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(jobCase(0), { minLength: 1, maxLength: 30 }), async (jobs) => {
        // Prepare: actual = estimate (error 0 or below).
        const order = jobs.map((_, i) => i);

        // Act
        const { state } = await runJobs(jobs, order, new Set());

        // Assess
        expect(state?.committed ?? 0).toBeLessThanOrEqual(capOf(LIMIT) + 1e-9);
      }),
      { numRuns: 100 },
    );
  });
});
