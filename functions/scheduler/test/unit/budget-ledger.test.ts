import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '#shared/ports/system.js';
import { InMemoryLedgerStore } from '../../src/adapters/ledger-memory.js';
import {
  BudgetLedger,
  capOf,
  commitMark,
  FORGET_PER_WRITE,
  LEDGER_STATE_TTL_MS,
  type LedgerStore,
} from '../../src/domain/budget-ledger.js';

const ledgerOf = () => {
  const store = new InMemoryLedgerStore();
  return { store, ledger: new BudgetLedger({ store, clock: new ManualClock() }) };
};
/** Counts the additions a store is asked for and their outcomes. */
const counted = (store: LedgerStore) => {
  const outcomes: string[] = [];
  const counting: LedgerStore = {
    get: (tenantId, windowId) => store.get(tenantId, windowId),
    open: (record) => store.open(record),
    mark: (tenantId, windowId, markers, at) => store.mark(tenantId, windowId, markers, at),
    add: async (tenantId, windowId, addition, at) => {
      const write = await store.add(tenantId, windowId, addition, at);
      outcomes.push(write.outcome);
      return write;
    },
  };
  return { counting, outcomes };
};
const LIMIT = { limit: 1000, grace: 0.1 };
const WINDOW = 'monthly:2026-03';

describe('the budget ledger', () => {
  it('admits while committed + reserved + estimate fits under limit × (1 + grace), and refuses beyond, changing nothing', async () => {
    // Prepare
    const { ledger } = ledgerOf();

    // Act
    const first = await ledger.reserve('acme', WINDOW, LIMIT, 600);
    const second = await ledger.reserve('acme', WINDOW, LIMIT, 500);
    const refused = await ledger.reserve('acme', WINDOW, LIMIT, 0.01);

    // Assess
    expect(capOf(LIMIT)).toBeCloseTo(1100, 9);
    expect(first.admitted).toBe(true);
    expect(second.admitted).toBe(true);
    expect(refused).toMatchObject({ admitted: false, reason: 'over_budget' });
    expect(refused.ledger).toMatchObject({ reserved: 1100, committed: 0, used: 1100, ops: {} });
    expect(await ledger.get('acme', WINDOW)).toMatchObject({ reserved: 1100, used: 1100, version: 3 });
  });

  it('refuses under the cap when the ceiling is lower (held_back), and past it (over_budget)', async () => {
    // Prepare
    const { ledger } = ledgerOf();
    await ledger.reserve('acme', WINDOW, LIMIT, 500);

    // Act
    const held = await ledger.reserve('acme', WINDOW, LIMIT, 100, () => 550);
    const over = await ledger.reserve('acme', WINDOW, LIMIT, 700, () => 550);
    const fits = await ledger.reserve('acme', WINDOW, LIMIT, 50, () => 550);

    // Assess
    expect(held).toMatchObject({ admitted: false, reason: 'held_back' });
    expect(over).toMatchObject({ admitted: false, reason: 'over_budget' });
    expect(fits.admitted).toBe(true);
    expect((await ledger.get('acme', WINDOW))?.used).toBe(550);
  });

  it('commits the actual cost in place of the estimate once, however often it is delivered, and undoes a reservation that will not be written', async () => {
    // Prepare
    const { ledger } = ledgerOf();
    await ledger.reserve('acme', WINDOW, LIMIT, 100);
    await ledger.reserve('acme', WINDOW, LIMIT, 50);

    // Act
    await ledger.commit('acme', WINDOW, 'j1', 100, 120);
    const again = await ledger.commit('acme', WINDOW, 'j1', 100, 120);
    await ledger.release('acme', WINDOW, 50);
    const state = await ledger.get('acme', WINDOW);

    // Assess: j1 counted once; the released reservation gone.
    expect(again).toMatchObject({ committed: 120 });
    expect(state).toMatchObject({ committed: 120, reserved: 0, used: 120 });
    expect(Object.keys(state?.ops ?? {})).toEqual([commitMark('j1')]);
  });

  it('lets 20 concurrent admissions of 100 from two processes through exactly 11 times under a cap of 1,100, one write each and no retry', async () => {
    // Prepare: two ledgers on one table, as two Lambda instances would be.
    const { store } = ledgerOf();
    const { counting, outcomes } = counted(store);
    const first = new BudgetLedger({ store: counting, clock: new ManualClock() });
    const second = new BudgetLedger({ store: counting, clock: new ManualClock() });
    await first.reserve('acme', WINDOW, LIMIT, 0);
    outcomes.length = 0;

    // Act
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? first : second).reserve('acme', WINDOW, LIMIT, 100),
      ),
    );

    // Assess: 20 additions, 11 applied, 9 refused by the condition; nothing read-and-retried.
    expect(answers.filter((a) => a.admitted)).toHaveLength(11);
    expect((await store.get('acme', WINDOW))?.reserved).toBe(1100);
    expect(outcomes).toHaveLength(20);
    expect(outcomes.filter((outcome) => outcome === 'applied')).toHaveLength(11);
  });

  it('forgets a completed job’s mark with the next addition of the process, so the item holds only the marks of commits in flight', async () => {
    // Prepare
    const { ledger, store } = ledgerOf();
    const other = new BudgetLedger({ store, clock: new ManualClock() });

    // Act: 300 jobs admitted, committed and completed one after another.
    for (let i = 0; i < 300; i += 1) {
      await ledger.reserve('acme', WINDOW, { limit: 1e9, grace: 0 }, 1);
      await ledger.commit('acme', WINDOW, `j${i}`, 1, 2);
      ledger.forget('acme', WINDOW, `j${i}`);
    }
    const afterRun = await store.get('acme', WINDOW);
    // Another process's addition does not remove this process's marks.
    await other.reserve('acme', WINDOW, { limit: 1e9, grace: 0 }, 1);
    const afterOther = await store.get('acme', WINDOW);
    await ledger.reserve('acme', WINDOW, { limit: 1e9, grace: 0 }, 1);
    const afterOwn = await store.get('acme', WINDOW);

    // Assess
    expect(afterRun).toMatchObject({ committed: 600, reserved: 0, used: 600 });
    expect(Object.keys(afterRun?.ops ?? {})).toEqual([commitMark('j299')]);
    expect(Object.keys(afterOther?.ops ?? {})).toEqual([commitMark('j299')]);
    expect(afterOwn?.ops).toEqual({});
  });

  it(`removes at most ${FORGET_PER_WRITE} marks per addition, and keeps a mark until its job is forgotten`, async () => {
    // Prepare
    const { ledger, store } = ledgerOf();
    await ledger.reserve('acme', WINDOW, { limit: 1e9, grace: 0 }, 0);
    for (let i = 0; i < FORGET_PER_WRITE + 10; i += 1) {
      await ledger.commit('acme', WINDOW, `j${i}`, 0, 1);
    }
    await ledger.commit('acme', WINDOW, 'open', 0, 1);
    for (let i = 0; i < FORGET_PER_WRITE + 10; i += 1) ledger.forget('acme', WINDOW, `j${i}`);

    // Act
    await ledger.reserve('acme', WINDOW, { limit: 1e9, grace: 0 }, 0);
    const once = Object.keys((await store.get('acme', WINDOW))?.ops ?? {});
    await ledger.reserve('acme', WINDOW, { limit: 1e9, grace: 0 }, 0);
    const twice = Object.keys((await store.get('acme', WINDOW))?.ops ?? {});
    const duplicate = await ledger.commit('acme', WINDOW, 'open', 0, 1);

    // Assess
    expect(once).toHaveLength(11);
    expect(twice).toEqual([commitMark('open')]);
    expect(duplicate.committed).toBe(FORGET_PER_WRITE + 11);
  });

  it(`decides a ceiling on the item as the process last saw it for ${LEDGER_STATE_TTL_MS} ms, then reads it again; the cap holds either way`, async () => {
    // Prepare: two processes; the second spends after the first's write.
    const { store } = ledgerOf();
    const clock = new ManualClock();
    const first = new BudgetLedger({ store, clock });
    const second = new BudgetLedger({ store, clock: new ManualClock() });
    await first.reserve('acme', WINDOW, LIMIT, 100);
    await second.reserve('acme', WINDOW, LIMIT, 900);
    const seen: number[] = [];
    const ceiling = (current: { used: number }) => {
      seen.push(current.used);
      return 1100;
    };

    // Act
    const stale = await first.reserve('acme', WINDOW, LIMIT, 150, ceiling);
    clock.advance(LEDGER_STATE_TTL_MS);
    const fresh = await first.reserve('acme', WINDOW, LIMIT, 50, ceiling);

    // Assess: the stale view let the write try; its condition refused it.
    expect(seen).toEqual([100, 1000]);
    expect(stale).toMatchObject({ admitted: false, reason: 'over_budget', ledger: { used: 1000 } });
    expect(fresh.admitted).toBe(true);
    expect((await store.get('acme', WINDOW))?.used).toBe(1050);
  });

  it('refuses a cost that is not a finite number >= 0 before touching the ledger', async () => {
    // Prepare
    const { ledger, store } = ledgerOf();

    // Act + Assess
    for (const estimate of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(ledger.reserve('acme', WINDOW, LIMIT, estimate)).rejects.toMatchObject({
        statusCode: 422,
      });
    }
    await expect(ledger.reserve('acme', WINDOW, { limit: -5, grace: 0 }, 1)).rejects.toMatchObject({
      statusCode: 422,
    });
    await expect(ledger.commit('acme', WINDOW, 'j', 1, Number.NaN)).rejects.toMatchObject({
      statusCode: 422,
    });
    expect(await store.get('acme', WINDOW)).toBeUndefined();
  });

  it('fixes the carry-in when the window’s ledger is created, once', async () => {
    // Prepare
    const { ledger } = ledgerOf();
    let asked = 0;
    const limit = {
      ...LIMIT,
      carryIn: async () => {
        asked += 1;
        return 200;
      },
    };

    // Act
    const first = await ledger.reserve('acme', WINDOW, limit, 1200);
    const second = await ledger.reserve('acme', WINDOW, limit, 100.5);

    // Assess: cap 1100 + 200 = 1300.
    expect(first.admitted).toBe(true);
    expect(second).toMatchObject({ admitted: false, reason: 'over_budget' });
    expect(asked).toBe(1);
    expect((await ledger.get('acme', WINDOW))?.carryIn).toBe(200);
  });

  it('keeps the window’s other tenants and windows apart', async () => {
    // Prepare
    const { ledger } = ledgerOf();

    // Act
    await ledger.reserve('acme', WINDOW, LIMIT, 1100);
    const other = await ledger.reserve('globex', WINDOW, LIMIT, 1100);
    const next = await ledger.reserve('acme', 'monthly:2026-04', LIMIT, 1100);

    // Assess
    expect(other.admitted).toBe(true);
    expect(next.admitted).toBe(true);
  });

  it('records each announcement marker once, splitting racing callers', async () => {
    // Prepare
    const { ledger } = ledgerOf();
    const none = await ledger.markAlerted('acme', WINDOW, ['t50']);
    await ledger.reserve('acme', WINDOW, LIMIT, 1);

    // Act
    const [a, b] = await Promise.all([
      ledger.markAlerted('acme', WINDOW, ['t50', 't80']),
      ledger.markAlerted('acme', WINDOW, ['t50', 't80', 'breach']),
    ]);

    // Assess
    expect(none).toEqual([]);
    expect([...(a ?? []), ...(b ?? [])].sort()).toEqual(['breach', 't50', 't80']);
    expect((await ledger.get('acme', WINDOW))?.alerted?.slice().sort()).toEqual(['breach', 't50', 't80']);
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
 * Runs a generated run in two waves of concurrent operations from two processes on one store:
 * the first half of the admissions; then the second half racing the settlements (a commit, delivered
 * once or twice, or a release) of the jobs the first wave admitted. The second wave's jobs stay open.
 */
const runJobs = async (
  jobs: readonly JobCase[],
  order: readonly number[],
  duplicates: ReadonlySet<number>,
) => {
  // Two processes (Lambda instances) on one table.
  const { ledger: first, store } = ledgerOf();
  const second = new BudgetLedger({ store, clock: new ManualClock() });
  const ledger = first;
  const of = (j: number) => (j % 2 === 0 ? first : second);
  const admitted = new Set<number>();
  const times = (j: number) => (duplicates.has(j) ? 2 : 1);
  const reserve = async (j: number) => {
    const job = jobs[j] as JobCase;
    const answer = await of(j).reserve('acme', WINDOW, LIMIT, job.estimate);
    if (answer.admitted) admitted.add(j);
  };
  const settle = async (j: number) => {
    const job = jobs[j] as JobCase;
    if (!job.completes) {
      await of(j).release('acme', WINDOW, job.estimate);
      return;
    }
    // A redelivery may come from the other process.
    for (let t = 0; t < times(j); t += 1) {
      await of(j + t).commit('acme', WINDOW, `job-${j}`, job.estimate, job.actual);
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
