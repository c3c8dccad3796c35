import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * The cost-aware objective over HTTP on the embedded runtime: a tenant sets it in its router
 * configuration, routes rank by quality less the cost term, and the rationale shows the terms.
 */
let h: Harness;
let big: string;
let small: string;

const admin = () => h.tokens.acmeAdmin ?? '';
const register = async (name: string, costPerCallUsd: number) => {
  const reply = await h.call('POST', '/experts', {
    token: admin(),
    body: { name, type: 'model', costPerCallUsd, endpoint: `https://${name}.example.com/v1` },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.json.id as string;
};
const putConfig = (body: object) => h.call('PUT', '/router/config', { token: admin(), body });

beforeAll(async () => {
  h = await startHarness();
  big = await register('big-model', 0.05);
  small = await register('small-model', 0.001);
});
afterAll(async () => {
  await h?.conductor.stop();
});

describe('cost-aware objective', () => {
  it('is stored in the configuration, and a route shows λ and the terms of the pick and the runner-up', async () => {
    // Prepare: LinUCB with no data ranks the two equally; the cost term decides.
    const put = await putConfig({ strategy: 'linucb', objective: { qualityTolerance: 0.01 } });
    expect(put.status, put.text).toBe(200);
    expect(put.json.objective).toEqual({ qualityTolerance: 0.01 });

    // Act
    const routed = await h.call('POST', '/router/route', {
      token: h.tokens.acmeOperator,
      body: { taskId: 'obj-1', context: { lang: 'en' }, candidates: [big, small] },
    });
    const rationale = await h.call('GET', `/router/rationale/${routed.json.rationaleId}`, { token: admin() });

    // Assess: λ = 0.01 / (0.05 − 0.001): the terms differ by the tolerance, 1 point.
    expect(routed.status, routed.text).toBe(200);
    expect(routed.json.expertId).toBe(small);
    expect(rationale.json.objective).toMatchObject({
      lambda: 0.2041,
      chosen: { expertId: small, costUsd: 0.001, quality: 0, costTerm: 0.0002041 },
      runnerUp: { expertId: big, costUsd: 0.05, costTerm: 0.0102 },
    });
  });

  it('refuses an objective with two ways to set λ, or out of range, with a 400 that changes nothing', async () => {
    const before = await h.call('GET', '/router/config', { token: admin() });
    for (const objective of [
      { costWeight: 1, qualityTolerance: 0.01 },
      { costTarget: { usdPer1000Tasks: -1 } },
      { qualityTolerance: 2 },
      { latencyWeight: -1 },
      { lambda: 3 },
    ]) {
      const reply = await putConfig({ strategy: 'linucb', objective });
      expectUniformError(reply, 400);
    }
    const after = await h.call('GET', '/router/config', { token: admin() });
    expect(after.json.version).toBe(before.json.version);
    expect(after.json.objective).toEqual(before.json.objective);
  });
});

describe('costs reported with an outcome', () => {
  it('replace the declared cost in the objective once the client reports them', async () => {
    // Prepare: the "small" expert turns out to cost $1 a call, as its outcome says.
    const put = await putConfig({ strategy: 'linucb', objective: { costWeight: 10 } });
    expect(put.status, put.text).toBe(200);
    const first = await h.call('POST', '/router/route', {
      token: h.tokens.acmeOperator,
      body: { taskId: 'obj-cost-1', context: {}, candidates: [small] },
    });
    expect(first.status, first.text).toBe(200);
    const outcome = await h.call('POST', '/router/outcome', {
      token: h.tokens.acmeOperator,
      body: { taskId: 'obj-cost-1', status: 'ok', latencyMs: 40, costUsd: 1 },
    });
    expect(outcome.status, outcome.text).toBe(200);

    // Act
    const routed = await h.call('POST', '/router/route', {
      token: h.tokens.acmeOperator,
      body: { taskId: 'obj-cost-2', context: {}, candidates: [big, small] },
    });
    const rationale = await h.call('GET', `/router/rationale/${routed.json.rationaleId}`, { token: admin() });

    // Assess
    expect(routed.json.expertId).toBe(big);
    expect(rationale.json.objective.runnerUp).toMatchObject({ expertId: small, costUsd: 1, latencyMs: 40 });
  });
});
