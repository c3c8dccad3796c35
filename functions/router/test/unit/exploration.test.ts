import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { createContextEncoder, createStrategy, toStoredModelState } from '../../src/domain/bandits/index.js';
import type { Expert } from '../../src/domain/experts.js';
import { ExplorationBudget, exploitInstead } from '../../src/domain/exploration.js';
import { DEFAULT_ROUTER_CONFIG } from '../../src/domain/router-config.js';
import { modelKeyOf } from '../../src/domain/routing.js';
import { expertRecord, inMemoryRouting } from '../support/routing-fakes.js';

const NOW = '2026-01-01T00:00:00.000Z';

describe('ExplorationBudget', () => {
  it('keeps the fraction of explorations in every window within the cap, whatever is asked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 400 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 50 }),
        (asks, cap, window) => {
          // Prepare
          const budget = new ExplorationBudget(window);
          const explored: boolean[] = [];

          // Act
          for (const exploring of asks) explored.push(exploring && budget.admit('acme', true, cap));
          // (exploiting asks are recorded too)
          const budget2 = new ExplorationBudget(window);
          const outcomes = asks.map((exploring) => exploring && budget2.admit('acme', exploring, cap));
          asks.forEach((exploring, i) => {
            if (!exploring) expect(outcomes[i]).toBe(false);
          });

          // Assess: every trailing window of decisions holds at most cap x its size explorations.
          for (let end = 1; end <= outcomes.length; end += 1) {
            const slice = outcomes.slice(Math.max(0, end - window), end);
            const count = slice.filter(Boolean).length;
            expect(count).toBeLessThanOrEqual(cap * slice.length + 1e-9);
          }
          expect(explored.length).toBe(asks.length);
        },
      ),
    );
  });

  it('admits every exploration with cap 1 and none with cap 0', () => {
    // Prepare
    const budget = new ExplorationBudget(10);

    // Act
    const open = Array.from({ length: 20 }, () => budget.admit('acme', true, 1));
    const shut = Array.from({ length: 20 }, () => budget.admit('globex', true, 0));

    // Assess
    expect(open.every(Boolean)).toBe(true);
    expect(shut.some(Boolean)).toBe(false);
    expect(budget.rate('acme')).toBe(1);
    expect(budget.rate('globex')).toBe(0);
  });

  it('lets explorations through at the cap’s pace: 1 in 10 with cap 0.1', () => {
    // Prepare
    const budget = new ExplorationBudget(100);

    // Act
    const admitted = Array.from({ length: 100 }, () => budget.admit('acme', true, 0.1));

    // Assess
    expect(admitted.filter(Boolean)).toHaveLength(10);
    expect(admitted[9]).toBe(true);
    expect(admitted.slice(0, 9).some(Boolean)).toBe(false);
    expect(budget.rate('acme')).toBeCloseTo(0.1, 10);
  });

  it('keeps tenants apart', () => {
    // Prepare
    const budget = new ExplorationBudget(10);
    for (let i = 0; i < 10; i += 1) budget.admit('acme', false, 0.5);

    // Act
    const acme = budget.admit('acme', true, 0.5);
    const globex = budget.admit('globex', true, 0.5);

    // Assess: acme has room (1 of 10); globex’s first decision would be 1 of 1 > 0.5.
    expect(acme).toBe(true);
    expect(globex).toBe(false);
  });
});

describe('exploitInstead', () => {
  it('serves the exploiting pick with propensity 1 and its own confidence', () => {
    // Prepare
    const selection = {
      expertId: 'b',
      strategy: 'thompson' as const,
      propensity: 0.3,
      confidence: 0.3,
      exploration: true,
      exploitExpertId: 'a',
      perCandidate: [
        { expertId: 'a', estimate: 0.8, uncertainty: 0.1, probability: 0.7 },
        { expertId: 'b', estimate: 0.5, uncertainty: 0.2, probability: 0.3 },
      ],
      topFeatures: [{ index: 1, value: 1, weight: 0.2, contribution: 0.2 }],
      modelVersion: 4,
    };

    // Act
    const capped = exploitInstead(selection);

    // Assess
    expect(capped).toMatchObject({ expertId: 'a', propensity: 1, confidence: 0.7, exploration: false });
    expect(capped.topFeatures).toEqual([]);
  });
});

describe('RoutingService under an exploration cap', () => {
  const setup = async (explorationCap: number) => {
    const experts = new InMemoryTenantRecords<Expert>('EXPERT');
    for (const id of ['exp_a', 'exp_b', 'exp_c']) await experts.create(expertRecord('acme', id));
    let n = 0;
    const routing = inMemoryRouting(experts, { seed: () => (n += 1) });
    // ε = 1: the strategy wants to explore on (almost) every decision.
    await routing.routerConfig.update('acme', {
      ...DEFAULT_ROUTER_CONFIG,
      strategy: 'epsilon-greedy',
      epsilon: 1,
      explorationCap,
    });
    // A learnt state where exp_a is clearly best: any other pick is an exploration.
    const strategyConfig = { strategy: 'epsilon-greedy' as const, epsilon: 1 };
    const bandit = createStrategy(strategyConfig, 32);
    const x = createContextEncoder({ dimension: 32 }).encode({ language: 'ts' });
    let state = bandit.initialState();
    for (let i = 0; i < 10; i += 1) {
      state = bandit.update(state, 'exp_a', x, 1);
      state = bandit.update(state, 'exp_b', x, 0);
      state = bandit.update(state, 'exp_c', x, 0);
    }
    await routing.models.create({
      tenantId: 'acme',
      id: modelKeyOf(strategyConfig, 32),
      version: 1,
      createdAt: NOW,
      updatedAt: NOW,
      state: toStoredModelState(state),
    });
    return routing;
  };

  const routeMany = async (routing: Awaited<ReturnType<typeof setup>>, count: number) => {
    const rationales = [];
    for (let i = 0; i < count; i += 1) {
      const answer = await routing.routing.route(
        'acme',
        { taskId: `t-${i}`, context: { language: 'ts' }, candidates: ['exp_a', 'exp_b', 'exp_c'] },
        'trace',
      );
      rationales.push(await routing.routing.rationale('acme', answer.rationaleId));
    }
    return rationales;
  };

  it('never explores with cap 0: every pick is the exploiting one, propensity 1, marked capped', async () => {
    // Prepare
    const routing = await setup(0);

    // Act
    const rationales = await routeMany(routing, 30);

    // Assess
    expect(rationales.filter((r) => r.exploration)).toEqual([]);
    for (const r of rationales) {
      expect(r.expertId).toBe(r.exploitExpertId);
    }
    const capped = rationales.filter((r) => r.explorationCapped);
    expect(capped.length).toBeGreaterThan(10);
    // Every pick, capped or exploiting of its own accord, is logged with the probability the capped
    // policy really had: 1 (not ε-greedy's own 1 − ε + ε/k for an exploiting pick).
    for (const r of rationales) expect(r.propensity).toBe(1);
    expect(rationales.some((r) => !r.explorationCapped)).toBe(true);
  });

  it('logs the strategy’s own propensity for an exploiting pick while the window has room to explore', async () => {
    // Prepare
    const routing = await setup(1);

    // Act
    const rationales = await routeMany(routing, 30);

    // Assess: ε = 1 over 3 candidates: an exploiting pick had probability 1/3, not 1.
    const exploiting = rationales.filter((r) => !r.exploration);
    expect(exploiting.length).toBeGreaterThan(0);
    for (const r of exploiting) expect(r.propensity).toBeCloseTo(1 / 3, 9);
  });

  it('explores at most cap x decisions with cap 0.2', async () => {
    // Prepare
    const routing = await setup(0.2);

    // Act
    const rationales = await routeMany(routing, 50);

    // Assess
    const explored = rationales.filter((r) => r.exploration).length;
    expect(explored).toBeLessThanOrEqual(10);
    expect(explored).toBeGreaterThan(0);
    expect(rationales.some((r) => r.explorationCapped)).toBe(true);
  });

  it('does not cap with the default (1)', async () => {
    // Prepare
    const routing = await setup(1);

    // Act
    const rationales = await routeMany(routing, 30);

    // Assess
    expect(rationales.some((r) => r.explorationCapped)).toBe(false);
    expect(rationales.filter((r) => r.exploration).length).toBeGreaterThan(10);
  });
});
