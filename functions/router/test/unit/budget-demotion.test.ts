import { describe, expect, it } from 'vitest';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { schedulerBudgetSignal } from '../../src/adapters/scheduler-budgets.js';
import type { Expert } from '../../src/domain/experts.js';
import { demoteExpensive, rationaleIdOf } from '../../src/domain/routing.js';
import { expertRecord, inMemoryRouting } from '../support/routing-fakes.js';

const priced = (id: string, costPerCallUsd: number): Expert => ({
  ...expertRecord('acme', id),
  costPerCallUsd,
});

const setup = async () => {
  const experts = new InMemoryTenantRecords<Expert>('EXPERT');
  for (const [id, cost] of [
    ['exp_large', 0.09],
    ['exp_small', 0.001],
    ['exp_medium', 0.02],
    ['exp_agent', 0.05],
  ] as const)
    await experts.create(priced(id, cost));
  return inMemoryRouting(experts);
};
const request = (taskId: string) => ({
  taskId,
  context: { language: 'ts' },
  candidates: ['exp_large', 'exp_small', 'exp_medium', 'exp_agent'],
});

describe('budget-aware demotion', () => {
  it('keeps the cheaper half by declared cost (rounded up), equal costs in the request’s order, and never removes a lone candidate', () => {
    const { kept, demoted } = demoteExpensive([
      priced('a', 0.5),
      priced('b', 0.1),
      priced('c', 0.1),
      priced('d', 0.9),
      priced('e', 0.1),
    ]);
    expect(kept.map((e) => e.id)).toEqual(['b', 'c', 'e']);
    expect(demoted.map((e) => e.id)).toEqual(['a', 'd']);
    expect(demoteExpensive([priced('a', 9)]).kept.map((e) => e.id)).toEqual(['a']);
  });

  it('routes a degraded tenant among its cheaper candidates, the others removed with reason budget, the state in the rationale', async () => {
    // Prepare
    const { routing, decisions } = await setup();
    let asked = 0;

    // Act
    const answer = await routing.route('acme', request('t-degraded'), 'trace', undefined, async () => {
      asked += 1;
      return 'degraded';
    });

    // Assess
    expect(asked).toBe(1);
    expect(['exp_small', 'exp_medium']).toContain(answer.expertId);
    const stored = await decisions.get('acme', 't-degraded');
    expect(stored?.rationale.budgetState).toBe('degraded');
    expect(stored?.rationale.removed).toEqual([
      { expertId: 'exp_large', reason: 'budget' },
      { expertId: 'exp_agent', reason: 'budget' },
    ]);
    expect(stored?.rationale.candidates.map((c) => c.expertId)).toEqual(['exp_small', 'exp_medium']);
    expect(stored?.rationaleId).toBe(rationaleIdOf('t-degraded'));
  });

  it('demotes nothing when the budget is not constrained, when its state cannot be had, or for a single candidate (not even asked)', async () => {
    // Prepare
    const { routing, decisions } = await setup();
    let asked = 0;

    // Act
    await routing.route('acme', request('t-ok'), 'trace', undefined, async () => undefined);
    await routing.route('acme', request('t-down'), 'trace', undefined, async () => {
      throw new Error('scheduler down');
    });
    await routing.route(
      'acme',
      { ...request('t-one'), candidates: ['exp_large'] },
      'trace',
      undefined,
      async () => {
        asked += 1;
        return 'budget-throttled';
      },
    );

    // Assess
    for (const taskId of ['t-ok', 't-down']) {
      const stored = await decisions.get('acme', taskId);
      expect(stored?.rationale.removed).toEqual([]);
      expect(stored?.rationale.budgetState).toBeUndefined();
    }
    expect(asked).toBe(0);
    expect((await decisions.get('acme', 't-one'))?.expertId).toBe('exp_large');
  });
});

describe('schedulerBudgetSignal (the scheduler’s GET budgets/state, with the caller’s token)', () => {
  const answering =
    (
      status: number,
      body: unknown,
      seen: { url?: string; headers?: Record<string, string> } = {},
    ): typeof fetch =>
    async (url, init) => {
      seen.url = String(url);
      seen.headers = init?.headers as Record<string, string>;
      return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    };
  const options = {
    apiUrl: 'https://api.example.com/api/conductor/v1',
    authorization: 'Bearer t',
    traceId: 'tr',
  };

  it('answers the worst constrained state of the tenant’s budgets, asking with the caller’s token and tenant', async () => {
    const seen: { url?: string; headers?: Record<string, string> } = {};
    const signal = schedulerBudgetSignal({
      ...options,
      tenantHeader: 'acme',
      fetch: answering(
        200,
        { budgets: [{ state: 'degraded' }, { state: 'budget-throttled' }, { state: 'ok' }] },
        seen,
      ),
    });

    expect(await signal()).toBe('budget-throttled');
    expect(seen.url).toBe('https://api.example.com/api/conductor/v1/budgets/state');
    expect(seen.headers).toMatchObject({ authorization: 'Bearer t', 'x-conductor-tenant': 'acme' });
    expect(
      await schedulerBudgetSignal({
        ...options,
        fetch: answering(200, { budgets: [{ state: 'warning' }] }),
      })(),
    ).toBeUndefined();
  });

  it('answers undefined, and says why, for an error answer, an unreadable body or no answer in time', async () => {
    const errors: unknown[] = [];
    const onError = (error: unknown) => errors.push(error);
    const hanging: typeof fetch = (_url, init) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      );

    expect(
      await schedulerBudgetSignal({
        ...options,
        onError,
        fetch: answering(403, { code: 'policy_denied' }),
      })(),
    ).toBeUndefined();
    expect(
      await schedulerBudgetSignal({ ...options, onError, fetch: async () => new Response('not json') })(),
    ).toBeUndefined();
    expect(
      await schedulerBudgetSignal({ ...options, onError, fetch: hanging, timeoutMs: 20 })(),
    ).toBeUndefined();
    expect(errors).toHaveLength(3);
  });
});
