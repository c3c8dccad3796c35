import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModelExpert, expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * Warm start over HTTP on the embedded runtime: acme's admin exports its model as priors, globex's
 * admin puts them (expert ids mapped) and routes on them before any reward of its own.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.conductor.stop();
});

const drainRewards = async () => {
  await h.conductor.mappings.get('conductor-rewards')?.drain();
};

describe('warm start', () => {
  it('moves what one tenant learnt to another through an export its admin takes and a put the other’s admin makes', async () => {
    // Prepare: acme learns that `good` succeeds and `bad` fails.
    const acmeAdmin = h.tokens.acmeAdmin ?? '';
    const acmeGood = await createModelExpert(h, acmeAdmin, 'good');
    const acmeBad = await createModelExpert(h, acmeAdmin, 'bad');
    await h.call('PUT', '/router/config', { token: acmeAdmin, body: { strategy: 'thompson' } });
    for (let i = 0; i < 10; i += 1) {
      for (const [expert, value] of [
        [acmeGood, 1],
        [acmeBad, 0],
      ] as const) {
        const taskId = `learn-${expert}-${i}`;
        const routed = await h.call('POST', '/router/route', {
          token: h.tokens.acmeOperator,
          body: { taskId, context: {}, candidates: [expert] },
        });
        expect(routed.status, routed.text).toBe(200);
        await h.call('POST', '/router/reward', {
          token: h.tokens.acmeOperator,
          body: { taskId, signal: 'success_at_k', value },
        });
      }
    }
    await drainRewards();

    // Act: export from acme, map the ids, put into globex.
    const exported = await h.call('GET', '/router/priors/export', { token: acmeAdmin });
    const globexAdmin = h.tokens.globexAdmin ?? '';
    const globexGood = await createModelExpert(h, globexAdmin, 'good');
    const globexBad = await createModelExpert(h, globexAdmin, 'bad');
    await h.call('PUT', '/router/config', { token: globexAdmin, body: { strategy: 'thompson' } });
    const idOf: Record<string, string> = { good: globexGood, bad: globexBad };
    const put = await h.call('PUT', '/router/priors', {
      token: globexAdmin,
      body: {
        format: exported.json.format,
        source: 'acme export',
        experts: exported.json.experts.map((p: { name: string; meanReward: number; weight: number }) => ({
          expertId: idOf[p.name],
          meanReward: p.meanReward,
          weight: p.weight,
        })),
      },
    });
    const picks = [];
    for (let i = 0; i < 10; i += 1) {
      const routed = await h.call('POST', '/router/route', {
        token: globexAdmin,
        body: { taskId: `warm-${i}`, context: {}, candidates: [globexBad, globexGood] },
      });
      picks.push(routed.json.expertId);
    }

    // Assess
    expect(exported.status, exported.text).toBe(200);
    expect(exported.json.experts).toEqual(
      expect.arrayContaining([
        { expertId: acmeGood, name: 'good', meanReward: 1, weight: 10 },
        { expertId: acmeBad, name: 'bad', meanReward: 0, weight: 10 },
      ]),
    );
    expect(put.status, put.text).toBe(200);
    expect(put.json.applied).toHaveLength(2);
    expect(picks.filter((id) => id === globexGood).length).toBeGreaterThanOrEqual(9);
  });

  it('is for admins, refuses a bad document with a 400, and ignores another tenant’s expert ids', async () => {
    const body = {
      format: 'conductor.priors/v1',
      experts: [{ expertId: 'exp_unknown-1', meanReward: 0.5, weight: 3 }],
    };
    expectUniformError(await h.call('PUT', '/router/priors', { token: h.tokens.acmeOperator, body }), 403);
    expectUniformError(await h.call('GET', '/router/priors/export', { token: h.tokens.acmeViewer }), 403);
    for (const bad of [
      { ...body, format: 'other/v2' },
      { ...body, experts: [] },
      { ...body, experts: [{ expertId: 'exp_x', meanReward: 2, weight: 3 }] },
      { ...body, experts: [{ expertId: 'exp_x', meanReward: 0.5, weight: 0 }] },
      { ...body, experts: [{ expertId: 'exp_x', meanReward: 0.5, weight: 1.5 }] },
    ])
      expectUniformError(
        await h.call('PUT', '/router/priors', { token: h.tokens.acmeAdmin, body: bad }),
        400,
      );
    const globexExpert = await createModelExpert(h, h.tokens.globexAdmin ?? '', 'globex-only');
    const foreign = await h.call('PUT', '/router/priors', {
      token: h.tokens.acmeAdmin,
      body: { ...body, experts: [{ expertId: globexExpert, meanReward: 0.5, weight: 3 }] },
    });
    expect(foreign.status, foreign.text).toBe(200);
    expect(foreign.json).toMatchObject({
      applied: [],
      skipped: [{ expertId: globexExpert, reason: 'unknown_expert' }],
    });
  });
});
