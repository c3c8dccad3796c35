import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createBernoulliThompson,
  createLinearThompson,
  createLinUcb,
  createStrategy,
  InvalidRouterConfigError,
  mulberry32,
} from '../../../src/domain/bandits/index.js';
import { simulate } from './simulate.js';

/** Two task kinds, one-hot with a bias: expert "a" is right on kind 0, "b" on kind 1. */
const kindOf = (round: number) => (round * 7919) % 2;
const contextOf = (round: number) =>
  kindOf(round) === 0 ? Float64Array.of(1, 1, 0) : Float64Array.of(1, 0, 1);
const rightFor = (expertId: string, round: number) =>
  (expertId === 'a') === (kindOf(round) === 0) ? 0.9 : 0.1;

describe('linear (contextual) Thompson sampling', () => {
  it('uses the context: learns which expert is right for which kind of task, where the context-free Thompson cannot', () => {
    // Act
    const linear = simulate(createLinearThompson({ dimension: 3, noise: 0.5 }), {
      experts: ['a', 'b'],
      successRate: rightFor,
      rounds: 600,
      context: contextOf,
    });
    const plain = simulate(createBernoulliThompson(), {
      experts: ['a', 'b'],
      successRate: rightFor,
      rounds: 600,
      context: contextOf,
    });
    const strategy = createLinearThompson({ dimension: 3, noise: 0.5 });
    const picks = (x: Float64Array) => {
      let a = 0;
      for (let seed = 0; seed < 200; seed += 1) {
        if (strategy.select(['a', 'b'], x, linear.state, mulberry32(seed)).expertId === 'a') a += 1;
      }
      return a;
    };

    // Assess: for each kind the right expert nearly always; the context-free one cannot tell them apart.
    expect(picks(Float64Array.of(1, 1, 0))).toBeGreaterThan(180);
    expect(picks(Float64Array.of(1, 0, 1))).toBeLessThan(20);
    const plainShare = (plain.lateCounts.a ?? 0) / 300;
    expect(plainShare).toBeGreaterThan(0.05);
    expect(plainShare).toBeLessThan(0.95);
  });

  it('reports P(best) per candidate for this context: sums to 1, none is 0, the chosen one is the propensity, the same for the same state and context', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 2 ** 31 }), (rounds, seed) => {
        // Prepare
        const strategy = createLinearThompson({ dimension: 3 });
        const { state } = simulate(strategy, {
          experts: ['a', 'b', 'c'],
          successRate: rightFor,
          rounds: rounds % 200,
          context: contextOf,
        });
        const x = contextOf(rounds);

        // Act
        const first = strategy.select(['a', 'b', 'c'], x, state, mulberry32(seed));
        const again = strategy.select(['a', 'b', 'c'], x, state, mulberry32(seed + 1));

        // Assess
        const probabilities = first.perCandidate.map((c) => c.probability);
        expect(probabilities.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 9);
        expect(Math.min(...probabilities)).toBeGreaterThan(0);
        expect(first.propensity).toBe(
          first.perCandidate.find((c) => c.expertId === first.expertId)?.probability,
        );
        expect(again.perCandidate.map((c) => c.probability)).toEqual(probabilities);
        expect(first.confidence).toBe(first.propensity);
        for (const c of first.perCandidate) expect(c.sampled).toBeTypeOf('number');
      }),
      { numRuns: 40 },
    );
  });

  it('draws each score from N(xᵀθ̂, v²·xᵀA⁻¹x): the picks follow the reported P(best)', () => {
    // Prepare: a state where a and b are close and c is far behind.
    const strategy = createLinearThompson({ dimension: 3 });
    const { state } = simulate(strategy, {
      experts: ['a', 'b', 'c'],
      successRate: (expertId) => (expertId === 'c' ? 0.1 : 0.5),
      rounds: 200,
      context: () => Float64Array.of(1, 0, 0),
    });
    const x = Float64Array.of(1, 0, 0);
    const reported = strategy.select(['a', 'b', 'c'], x, state, mulberry32(1)).perCandidate;

    // Act
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    const rng = mulberry32(99);
    for (let i = 0; i < 4000; i += 1) {
      const { expertId } = strategy.select(['a', 'b', 'c'], x, state, rng);
      counts[expertId] = (counts[expertId] ?? 0) + 1;
    }

    // Assess: within Monte Carlo error of the 256-draw estimate (standard error ≤ 0.031).
    for (const c of reported)
      expect(Math.abs((counts[c.expertId] ?? 0) / 4000 - c.probability)).toBeLessThan(0.08);
  });

  it('learns into the same ridge state as LinUCB, so a tenant can switch between them and keep it', () => {
    // Prepare
    const lints = createLinearThompson({ dimension: 3 });
    const linucb = createLinUcb({ dimension: 3 });
    const { state } = simulate(lints, {
      experts: ['a', 'b'],
      successRate: rightFor,
      rounds: 300,
      context: contextOf,
    });

    // Act
    const selection = linucb.select(['a', 'b'], Float64Array.of(1, 1, 0), state, mulberry32(3));
    const updated = linucb.update(state, 'a', Float64Array.of(1, 1, 0), 1);

    // Assess
    expect(state.model).toBe('ridge');
    expect(selection.expertId).toBe('a');
    expect(updated.version).toBe(state.version + 1);
    expect(lints.select(['a', 'b'], Float64Array.of(1, 0, 1), updated, mulberry32(4)).strategy).toBe(
      'linear-thompson',
    );
  });

  it('shows the chosen expert’s largest feature contributions, and flags a pick below the best estimate as exploration', () => {
    // Prepare: 400 rounds learnt; picks still explore now and then.
    const strategy = createLinearThompson({ dimension: 3, topFeatures: 2 });
    const { state } = simulate(strategy, {
      experts: ['a', 'b'],
      successRate: rightFor,
      rounds: 400,
      context: contextOf,
    });
    const x = Float64Array.of(1, 1, 0);

    // Act
    const selections = Array.from({ length: 300 }, (_, seed) =>
      strategy.select(['a', 'b'], x, state, mulberry32(seed)),
    );

    // Assess
    const exploit = selections.filter((s) => !s.exploration);
    expect(exploit.every((s) => s.expertId === s.exploitExpertId)).toBe(true);
    expect(selections.filter((s) => s.exploration).every((s) => s.expertId !== s.exploitExpertId)).toBe(true);
    expect(exploit[0]?.topFeatures.length).toBe(2);
    expect(Math.abs(exploit[0]?.topFeatures[0]?.contribution ?? 0)).toBeGreaterThanOrEqual(
      Math.abs(exploit[0]?.topFeatures[1]?.contribution ?? 0),
    );
  });

  it('is created from a router configuration, and refuses bad parameters', () => {
    expect(createStrategy({ strategy: 'linear-thompson' }, 4).name).toBe('linear-thompson');
    expect(() => createLinearThompson({ dimension: 3, noise: 0 })).toThrow(InvalidRouterConfigError);
    expect(() => createLinearThompson({ dimension: 3, propensityDraws: 0 })).toThrow(
      InvalidRouterConfigError,
    );
    expect(() => createLinearThompson({ dimension: 0 })).toThrow(InvalidRouterConfigError);
  });
});

describe('feature attribution (linear strategies)', () => {
  it('splits the pick’s lead over the runner-up into per-feature parts that add up to the estimates’ difference', () => {
    for (const strategy of [
      createLinUcb({ dimension: 3, topFeatures: 64 }),
      createLinearThompson({ dimension: 3, topFeatures: 64 }),
    ]) {
      // Prepare
      const { state } = simulate(strategy, {
        experts: ['a', 'b', 'c'],
        successRate: rightFor,
        rounds: 300,
        context: contextOf,
      });
      const x = Float64Array.of(1, 0.5, 2);

      // Act
      const selection = strategy.select(['a', 'b', 'c'], x, state, mulberry32(5));

      // Assess
      const attribution = selection.attribution;
      expect(attribution, strategy.name).toBeDefined();
      const chosen = selection.perCandidate.find((c) => c.expertId === selection.expertId);
      const runnerUp = selection.perCandidate.find((c) => c.expertId === attribution?.runnerUpExpertId);
      expect(attribution?.runnerUpExpertId).not.toBe(selection.expertId);
      expect(attribution?.estimateMargin).toBeCloseTo((chosen?.estimate ?? 0) - (runnerUp?.estimate ?? 0), 9);
      const parts = attribution?.features ?? [];
      expect(parts).toHaveLength(3);
      expect(parts.reduce((sum, f) => sum + f.marginContribution, 0)).toBeCloseTo(
        attribution?.estimateMargin ?? 0,
        9,
      );
      for (const f of parts) {
        expect(f.marginContribution).toBeCloseTo((f.weight - f.runnerUpWeight) * f.value, 12);
        expect(f.contribution).toBeCloseTo(f.weight * f.value, 12);
      }
      expect(Math.abs(parts[0]?.marginContribution ?? 0)).toBeGreaterThanOrEqual(
        Math.abs(parts[2]?.marginContribution ?? 0),
      );
    }
  });

  it('names the runner-up the strategy ranked second (LinUCB: by its bound), and has none with one candidate', () => {
    // Prepare
    const strategy = createLinUcb({ dimension: 3 });
    const { state } = simulate(strategy, {
      experts: ['a', 'b', 'c'],
      successRate: rightFor,
      rounds: 300,
      context: contextOf,
    });
    const x = Float64Array.of(1, 1, 0);

    // Act
    const selection = strategy.select(['a', 'b', 'c'], x, state, mulberry32(1));
    const alone = strategy.select(['a'], x, state, mulberry32(1));

    // Assess
    const bound = (expertId: string) => {
      const c = selection.perCandidate.find((p) => p.expertId === expertId);
      return (c?.estimate ?? 0) + (c?.bonus ?? 0);
    };
    const others = ['a', 'b', 'c']
      .filter((e) => e !== selection.expertId)
      .sort((p, q) => bound(q) - bound(p));
    expect(selection.attribution?.runnerUpExpertId).toBe(others[0]);
    expect(alone.attribution).toBeUndefined();
  });
});
