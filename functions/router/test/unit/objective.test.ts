import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import type { Expert } from '../../src/domain/experts.js';
import {
  CostController,
  isActive,
  lambdaOf,
  MAX_SCALED_LAMBDA,
  ObservedCosts,
  objectiveDecision,
} from '../../src/domain/objective.js';
import type { RouterConfigInput } from '../../src/domain/router-config.js';
import { expertRecord, inMemoryRouting } from '../support/routing-fakes.js';

const priced = (id: string, costPerCallUsd: number): Expert => ({
  ...expertRecord('acme', id),
  costPerCallUsd,
});

describe('ObservedCosts', () => {
  it('uses the declared cost until a cost is seen, then a moving average of what was seen', () => {
    const observed = new ObservedCosts();
    const expert = priced('exp_a', 0.01);
    expect(observed.costOf('acme', expert)).toBe(0.01);
    observed.observe('acme', 'exp_a', { costUsd: 0.02 });
    expect(observed.costOf('acme', expert)).toBe(0.02);
    for (let i = 0; i < 500; i += 1) observed.observe('acme', 'exp_a', { costUsd: 0.04 });
    expect(observed.costOf('acme', expert)).toBeCloseTo(0.04, 5);
    // Per tenant: globex's expert of the same id is not acme's.
    expect(observed.costOf('globex', expert)).toBe(0.01);
    expect(observed.latencyOf('acme', 'exp_a')).toBeUndefined();
  });

  it('ignores values that are not finite non-negative numbers', () => {
    const observed = new ObservedCosts();
    observed.observe('acme', 'exp_a', { costUsd: Number.NaN, latencyMs: -5 });
    expect(observed.costOf('acme', priced('exp_a', 0.3))).toBe(0.3);
    expect(observed.latencyOf('acme', 'exp_a')).toBeUndefined();
  });
});

describe('the objective’s λ', () => {
  it('is set directly, or from the candidates’ cost spread for a quality tolerance', () => {
    const controller = new CostController();
    expect(lambdaOf('acme', { costWeight: 5 }, [0.1, 0.2], controller)).toBe(5);
    // 1 point of quality over a $0.02 spread: a full-spread saving is worth at most 1 point.
    expect(lambdaOf('acme', { qualityTolerance: 0.01 }, [0.001, 0.021, 0.005], controller)).toBeCloseTo(0.5);
    expect(lambdaOf('acme', { qualityTolerance: 0.01 }, [0.01, 0.01], controller)).toBe(0);
  });

  it('a quality tolerance never gives up more than the tolerance for a cheaper expert', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            q: fc.double({ min: 0, max: 1, noNaN: true }),
            c: fc.double({ min: 0, max: 1, noNaN: true }),
          }),
          {
            minLength: 2,
            maxLength: 8,
          },
        ),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        (candidates, tolerance) => {
          const experts = candidates.map((c, i) => priced(`exp_${i}`, c.c));
          const decision = objectiveDecision(
            'acme',
            { qualityTolerance: tolerance },
            experts,
            new ObservedCosts(),
            new CostController(),
          );
          const scores = candidates.map((c, i) => c.q - decision.penalty(`exp_${i}`));
          const pick = scores.indexOf(Math.max(...scores));
          const best = Math.max(...candidates.map((c) => c.q));
          expect((candidates[pick] as { q: number }).q).toBeGreaterThanOrEqual(best - tolerance - 1e-12);
        },
      ),
    );
  });

  it('the cost target’s controller raises λ while picks cost more than the target, lowers it while less, never below 0', () => {
    const controller = new CostController();
    const target = 0.005;
    expect(controller.lambda('acme', target)).toBe(0);
    controller.observe('acme', target, 0.02);
    const raised = controller.lambda('acme', target);
    expect(raised).toBeGreaterThan(0);
    controller.observe('acme', target, 0.001);
    expect(controller.lambda('acme', target)).toBeLessThan(raised);
    for (let i = 0; i < 1000; i += 1) controller.observe('acme', target, 0);
    expect(controller.lambda('acme', target)).toBe(0);
    for (let i = 0; i < 100_000; i += 1) controller.observe('acme', target, 1);
    expect(controller.lambda('acme', target) * target).toBeLessThanOrEqual(MAX_SCALED_LAMBDA);
    expect(controller.lambda('globex', target)).toBe(0);
  });

  it('the cost target lands on its target when a cheap and an expensive expert are mixed', () => {
    // Prepare: quality 0.9 at $0.01, 0.8 at $0.001; the target $5 per 1,000 lies between them.
    const controller = new CostController();
    const experts = [priced('exp_big', 0.01), priced('exp_small', 0.001)];
    const quality: Record<string, number> = { exp_big: 0.9, exp_small: 0.8 };
    const target = { usdPer1000Tasks: 5 };
    let spent = 0;
    const n = 20_000;

    // Act: greedy on the known qualities, less the penalty.
    for (let i = 0; i < n; i += 1) {
      const decision = objectiveDecision(
        'acme',
        { costTarget: target },
        experts,
        new ObservedCosts(),
        controller,
      );
      const pick = experts.reduce((a, b) =>
        (quality[a.id] ?? 0) - decision.penalty(a.id) >= (quality[b.id] ?? 0) - decision.penalty(b.id)
          ? a
          : b,
      );
      spent += pick.costPerCallUsd;
      controller.observe('acme', target.usdPer1000Tasks / 1000, pick.costPerCallUsd);
    }

    // Assess: within 5 % of $5 per 1,000 tasks.
    expect((spent / n) * 1000).toBeGreaterThan(4.75);
    expect((spent / n) * 1000).toBeLessThan(5.25);
  });

  it('is inactive without a cost or latency weight or a target', () => {
    expect(isActive(undefined)).toBe(false);
    expect(isActive({})).toBe(false);
    expect(isActive({ costWeight: 0 })).toBe(false);
    expect(isActive({ qualityTolerance: 0.01 })).toBe(true);
    expect(isActive({ latencyWeight: 0.1 })).toBe(true);
  });

  it('counts an unseen latency as the average of those seen', () => {
    const observed = new ObservedCosts();
    observed.observe('acme', 'exp_a', { latencyMs: 100 });
    observed.observe('acme', 'exp_b', { latencyMs: 300 });
    const decision = objectiveDecision(
      'acme',
      { latencyWeight: 1 },
      [priced('exp_a', 0), priced('exp_b', 0), priced('exp_c', 0)],
      observed,
      new CostController(),
    );
    expect(decision.termsOf('exp_a')?.latencyTerm).toBeCloseTo(0.1);
    expect(decision.termsOf('exp_c')?.latencyTerm).toBeCloseTo(0.2);
    expect(decision.termsOf('exp_c')?.latencyMs).toBeUndefined();
  });
});

describe('routing with the cost-aware objective', () => {
  const setup = async (objective: RouterConfigInput['objective']) => {
    const experts = new InMemoryTenantRecords<Expert>('EXPERT');
    await experts.create(priced('exp_big', 0.05));
    await experts.create(priced('exp_small', 0.001));
    const routing = inMemoryRouting(experts);
    await routing.routerConfig.update(
      'acme',
      { ...(await routing.routerConfig.get('acme')), strategy: 'linucb', objective },
      undefined,
      'test',
    );
    return routing;
  };

  it('ranks by quality less the cost term and shows the pick’s and the runner-up’s terms in the rationale', async () => {
    // Prepare: both experts unseen (LinUCB ranks them equal); λ = 10 per dollar.
    const { routing, decisions } = await setup({ costWeight: 10 });
    for (const id of ['exp_big', 'exp_small']) routing.observeCall('acme', id, { latencyMs: 50 });

    // Act
    const answer = await routing.route(
      'acme',
      { taskId: 't-1', context: {}, candidates: ['exp_big', 'exp_small'] },
      'trace',
    );

    // Assess
    const rationale = (await decisions.get('acme', 't-1'))?.rationale;
    expect(answer.expertId).toBe('exp_small');
    expect(rationale?.objective).toMatchObject({
      lambda: 10,
      latencyWeight: 0,
      chosen: { expertId: 'exp_small', costUsd: 0.001, costTerm: 0.01, latencyTerm: 0, latencyMs: 50 },
      runnerUp: { expertId: 'exp_big', costUsd: 0.05, costTerm: 0.5 },
    });
    expect(rationale?.candidates.find((c) => c.expertId === 'exp_big')?.penalty).toBe(0.5);
  });

  it('prefers what an expert was seen to cost to its declared cost', async () => {
    const { routing } = await setup({ costWeight: 10 });
    // The "small" expert turned out to cost $1 a call.
    routing.observeCall('acme', 'exp_small', { costUsd: 1 });

    const answer = await routing.route(
      'acme',
      { taskId: 't-2', context: {}, candidates: ['exp_big', 'exp_small'] },
      'trace',
    );

    expect(answer.expertId).toBe('exp_big');
  });

  it('without an objective, a route’s rationale has no objective and no penalties', async () => {
    const { routing, decisions } = await setup(undefined);
    await routing.route(
      'acme',
      { taskId: 't-3', context: {}, candidates: ['exp_big', 'exp_small'] },
      'trace',
    );
    const rationale = (await decisions.get('acme', 't-3'))?.rationale;
    expect(rationale?.objective).toBeUndefined();
    expect(rationale?.candidates.every((c) => c.penalty === undefined)).toBe(true);
  });
});
