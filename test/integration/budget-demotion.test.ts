import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.js';

/**
 * Budget-aware demotion over HTTP on the embedded runtime: the router asks the scheduler's API for
 * the tenant's budget state (with the caller's token) and, under a degraded budget, routes among the
 * cheaper half of the candidates.
 */
let h: Harness;
let admin: string;
let operator: string;

beforeAll(async () => {
  h = await startHarness();
  admin = h.tokens.acmeAdmin ?? '';
  operator = h.tokens.acmeOperator ?? '';
});
afterAll(async () => {
  await h?.conductor.stop();
});

const createExpert = async (name: string, costPerCallUsd: number): Promise<string> => {
  const reply = await h.call('POST', '/experts', {
    token: admin,
    body: { name, type: 'model', costPerCallUsd, endpoint: `https://${name}.example.com/v1` },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.json.id as string;
};

describe('budget-aware demotion', () => {
  it('under a degraded budget, a route keeps the cheaper half of its candidates and names the others removed for budget', async () => {
    // Prepare: four experts; a daily budget of 1 cent in downgrade mode, spent by one job.
    const large = await createExpert('large-model', 0.09);
    const small = await createExpert('small-model', 0.001);
    const medium = await createExpert('medium-model', 0.02);
    const agent = await createExpert('agent', 0.05);
    const put = await h.call('PUT', '/budgets/limits', {
      token: admin,
      body: { window: 'daily', limit: 0.01, timeZone: 'UTC', policy: { mode: 'downgrade' } },
    });
    expect(put.status, put.text).toBe(200);
    const job = await h.call('POST', '/scheduler/enqueue', {
      token: operator,
      body: { queue: 'default', payload: { n: 1 }, estimatedCostUsd: 0.01 },
    });
    expect(job.status, job.text).toBe(202);
    const state = await h.call('GET', '/budgets/state', { token: admin });
    expect(state.json.budgets[0]).toMatchObject({ state: 'degraded' });

    // Act
    const routed = await h.call('POST', '/router/route', {
      token: operator,
      body: { taskId: 'demoted-1', context: { language: 'ts' }, candidates: [large, small, medium, agent] },
    });
    const rationale = await h.call('GET', `/router/rationale/${routed.json.rationaleId}`, { token: admin });

    // Assess
    expect(routed.status, routed.text).toBe(200);
    expect([small, medium]).toContain(routed.json.expertId);
    expect(rationale.json.budgetState).toBe('degraded');
    expect(rationale.json.removed).toEqual([
      { expertId: large, reason: 'budget' },
      { expertId: agent, reason: 'budget' },
    ]);
  });
});
