import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import type { Expert } from '../../src/domain/experts.js';
import {
  isActive,
  MAX_SCALED_CREDIT,
  MAX_SCALED_LAMBDA,
  ObjectiveController,
  ObservedCosts,
  objectiveDecision,
  qualityGapOf,
  qualitySdOf,
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
    const controller = new ObjectiveController();
    expect(controller.lambda('acme', { costWeight: 5 }, [0.1, 0.2])).toBe(5);
    // Before any decision, 1 point of quality over a $0.02 spread: a full-spread saving is worth 1 point.
    expect(controller.lambda('acme', { qualityTolerance: 0.01 }, [0.001, 0.021, 0.005])).toBeCloseTo(0.5);
    expect(controller.lambda('acme', { qualityTolerance: 0.01 }, [0.01, 0.01])).toBe(0);
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
            new ObjectiveController(),
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
    const controller = new ObjectiveController();
    const objective = { costTarget: { usdPer1000Tasks: 5 } };
    const target = 0.005;
    const lambda = (tenant = 'acme') => controller.lambda(tenant, objective, [0.001, 0.02]);
    const spend = (costUsd: number) => controller.observe('acme', objective, { costUsd, qualityGap: 0 });
    expect(lambda()).toBe(0);
    spend(0.02);
    const raised = lambda();
    expect(raised).toBeGreaterThan(0);
    spend(0.001);
    expect(lambda()).toBeLessThan(raised);
    // Underspending is credited, up to a bound: λ stays 0 until the credit is spent.
    for (let i = 0; i < 1000; i += 1) spend(0);
    expect(lambda()).toBe(0);
    let overspent = 0;
    while (lambda() === 0) {
      spend(2 * target);
      overspent += 1;
    }
    // The credit, MAX_SCALED_CREDIT, is spent at 0.02 a decision (float rounding: ±1).
    expect(Math.abs(overspent - MAX_SCALED_CREDIT / 0.02)).toBeLessThanOrEqual(1);
    for (let i = 0; i < 100_000; i += 1) spend(1);
    expect(lambda() * target).toBeLessThanOrEqual(MAX_SCALED_LAMBDA);
    expect(lambda('globex')).toBe(0);
  });

  it('the quality tolerance’s θ rises while less quality than the tolerance is given up, and falls while more', () => {
    const controller = new ObjectiveController();
    const objective = { qualityTolerance: 0.01 };
    const lambda = () => controller.lambda('acme', objective, [0, 0.01]);
    expect(lambda()).toBeCloseTo(1);
    for (let i = 0; i < 100; i += 1) controller.observe('acme', objective, { costUsd: 0, qualityGap: 0 });
    const raised = lambda();
    expect(raised).toBeGreaterThan(1);
    for (let i = 0; i < 100; i += 1) controller.observe('acme', objective, { costUsd: 0, qualityGap: 0.5 });
    expect(lambda()).toBeLessThan(raised);
    for (let i = 0; i < 10_000; i += 1)
      controller.observe('acme', objective, { costUsd: 0, qualityGap: 0.5 });
    expect(lambda()).toBe(0);
  });

  it('starts afresh when the objective changes (another tolerance or target), per tenant', () => {
    const controller = new ObjectiveController();
    const loose = { qualityTolerance: 0.01 };
    for (let i = 0; i < 100; i += 1) controller.observe('acme', loose, { costUsd: 0, qualityGap: 0 });
    expect(controller.lambda('acme', loose, [0, 0.01])).toBeGreaterThan(1);
    expect(controller.lambda('acme', { qualityTolerance: 0.02 }, [0, 0.01])).toBeCloseTo(2);
    expect(controller.lambda('globex', loose, [0, 0.01])).toBeCloseTo(1);
  });

  it('the quality given up is the best estimate less that of the penalised rule’s own pick', () => {
    const candidates = [
      { expertId: 'a', estimate: 0.9, uncertainty: 0, probability: 0 },
      { expertId: 'b', estimate: 0.7, uncertainty: 0, probability: 1 },
    ];
    expect(qualityGapOf({ perCandidate: candidates, exploitExpertId: 'b' })).toBeCloseTo(0.2);
    expect(qualityGapOf({ perCandidate: candidates, exploitExpertId: 'a' })).toBe(0);
  });

  it('counts one standard error more for a cheaper pick (its estimate won it: optimistic on average), in reward units per strategy', () => {
    const candidates = [
      { expertId: 'a', estimate: 0.9, uncertainty: 0.2, probability: 0 },
      { expertId: 'b', estimate: 0.7, uncertainty: 0.1, probability: 1 },
    ];
    // LinUCB reports widths (sd = 0.5 × width); linear Thompson its sd at scale v (sd = 0.5 × u / v).
    expect(
      qualityGapOf({ perCandidate: candidates, exploitExpertId: 'b' }, qualitySdOf('linucb', 0.1)),
    ).toBeCloseTo(0.25);
    expect(
      qualityGapOf({ perCandidate: candidates, exploitExpertId: 'b' }, qualitySdOf('linear-thompson', 0.1)),
    ).toBeCloseTo(0.7);
    expect(
      qualityGapOf({ perCandidate: candidates, exploitExpertId: 'b' }, qualitySdOf('thompson', 0.1)),
    ).toBeCloseTo(0.3);
    // The best pick gives nothing up, whatever its uncertainty.
    expect(qualityGapOf({ perCandidate: candidates, exploitExpertId: 'a' }, qualitySdOf('linucb', 0.1))).toBe(
      0,
    );
  });

  it('the cost target lands on its target when a cheap and an expensive expert are mixed', () => {
    // Prepare: quality 0.9 at $0.01, 0.8 at $0.001; the target $5 per 1,000 lies between them.
    const controller = new ObjectiveController();
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
      controller.observe('acme', { costTarget: target }, { costUsd: pick.costPerCallUsd, qualityGap: 0 });
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
      new ObjectiveController(),
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
