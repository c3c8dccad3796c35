import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BetaBernoulliState,
  createBernoulliThompson,
  createGaussianThompson,
  InvalidRewardError,
  mulberry32,
  type RunningMeansState,
} from '../../../src/domain/bandits/index.js';
import { simulate } from './simulate.js';

const x = Float64Array.of(1);
const experts = ['cheap-model', 'large-model', 'agent'];
const rates: Record<string, number> = { 'cheap-model': 0.2, 'large-model': 0.8, agent: 0.3 };

/** A batch of (expert, reward) and a permutation of it. */
const batchAndPermutation = <T>(reward: fc.Arbitrary<T>) =>
  fc.array(fc.tuple(fc.constantFrom(...experts), reward), { minLength: 1, maxLength: 40 }).chain((batch) =>
    fc
      .shuffledSubarray(
        batch.map((_, i) => i),
        { minLength: batch.length, maxLength: batch.length },
      )
      .map((order) => ({ batch, permuted: order.map((i) => batch[i] as [string, T]) })),
  );

describe('BernoulliThompson', () => {
  const strategy = createBernoulliThompson();
  const apply = (batch: readonly [string, number][]) =>
    batch.reduce<BetaBernoulliState>((s, [e, r]) => strategy.update(s, e, x, r), strategy.initialState());

  it('lets a clearly better arm win the majority after a few hundred rewards', () => {
    const { lateCounts } = simulate(strategy, {
      experts,
      successRate: (id) => rates[id] ?? 0,
      rounds: 400,
    });

    expect(lateCounts['large-model']).toBeGreaterThan(150);
  });

  it('reaches the same posterior whatever the order of a batch of binary rewards', () => {
    fc.assert(
      fc.property(batchAndPermutation(fc.constantFrom(0, 1)), ({ batch, permuted }) => {
        const inOrder = apply(batch);
        const shuffled = apply(permuted);

        expect(shuffled).toEqual(inOrder);
        expect(strategy.select(experts, x, shuffled, mulberry32(9))).toEqual(
          strategy.select(experts, x, inOrder, mulberry32(9)),
        );
      }),
    );
  });

  it('reaches the same posterior, up to rounding, whatever the order of fractional rewards', () => {
    fc.assert(
      fc.property(batchAndPermutation(fc.double({ min: 0, max: 1, noNaN: true })), ({ batch, permuted }) => {
        const inOrder = apply(batch);
        const shuffled = apply(permuted);

        expect(shuffled.version).toBe(inOrder.version);
        for (const [id, counts] of Object.entries(inOrder.arms)) {
          expect(shuffled.arms[id]?.successes).toBeCloseTo(counts.successes, 10);
          expect(shuffled.arms[id]?.failures).toBeCloseTo(counts.failures, 10);
        }
      }),
    );
  });

  it('estimates P(best) so the estimates sum to 1, none is 0, and picks follow them', () => {
    // Prepare: a state where two experts are close and one is clearly behind.
    const state: BetaBernoulliState = {
      model: 'beta-bernoulli',
      version: 3,
      arms: {
        'cheap-model': { successes: 6, failures: 14 },
        'large-model': { successes: 9, failures: 11 },
        agent: { successes: 10, failures: 10 },
      },
    };
    const rng = mulberry32(21);
    const picks: Record<string, number> = {};

    // Act
    const first = strategy.select(experts, x, state, rng);
    for (let i = 0; i < 4000; i += 1) {
      const { expertId } = strategy.select(experts, x, state, rng);
      picks[expertId] = (picks[expertId] ?? 0) + 1;
    }

    // Assess
    const total = first.perCandidate.reduce((sum, c) => sum + c.probability, 0);
    expect(total).toBeCloseTo(1, 12);
    for (const candidate of first.perCandidate) {
      expect(candidate.probability).toBeGreaterThan(0);
      // Monte Carlo with 256 draws against 4000 picks: well within 4 standard errors.
      expect(Math.abs((picks[candidate.expertId] ?? 0) / 4000 - candidate.probability)).toBeLessThan(0.12);
    }
    expect(first.confidence).toBe(first.propensity);
  });

  it('gives a propensity that depends on the state and candidates only, not on the generator', () => {
    const { state } = simulate(strategy, { experts, successRate: (id) => rates[id] ?? 0, rounds: 50 });
    const a = strategy.select(experts, x, state, mulberry32(1));
    const b = strategy.select(experts, x, JSON.parse(JSON.stringify(state)), mulberry32(2));

    expect(b.perCandidate.map((c) => c.probability)).toEqual(a.perCandidate.map((c) => c.probability));
  });

  it('reports the posterior mean and standard deviation, and flags a pick below the best mean as exploration', () => {
    const state: BetaBernoulliState = {
      model: 'beta-bernoulli',
      version: 2,
      arms: { 'cheap-model': { successes: 0, failures: 1 }, 'large-model': { successes: 1, failures: 0 } },
    };
    const rng = mulberry32(4);
    let sawExploration = false;

    for (let i = 0; i < 50; i += 1) {
      const selection = strategy.select(['cheap-model', 'large-model'], x, state, rng);
      const [cheap] = selection.perCandidate;
      expect(cheap?.estimate).toBeCloseTo(1 / 3, 12);
      expect(cheap?.uncertainty).toBeCloseTo(Math.sqrt(2 / 36), 12);
      expect(selection.exploration).toBe(selection.expertId === 'cheap-model');
      sawExploration ||= selection.exploration;
    }

    expect(sawExploration).toBe(true);
  });

  it('refuses rewards outside [0, 1] and non-finite ones', () => {
    const state = strategy.initialState();

    expect(() => strategy.update(state, 'agent', x, 1.5)).toThrow(InvalidRewardError);
    expect(() => strategy.update(state, 'agent', x, Number.NaN)).toThrow(InvalidRewardError);
  });

  it('never changes the state it was given', () => {
    const before = apply([['agent', 1]]);
    const snapshot = structuredClone(before);

    strategy.update(before, 'agent', x, 0);
    strategy.update(before, 'large-model', x, 1);

    expect(before).toEqual(snapshot);
  });
});

describe('GaussianThompson', () => {
  const strategy = createGaussianThompson({ noise: 1 });
  const apply = (batch: readonly [string, number][]) =>
    batch.reduce<RunningMeansState>((s, [e, r]) => strategy.update(s, e, x, r), strategy.initialState());

  it('lets a clearly better arm win the majority after a few hundred rewards', () => {
    const rng = mulberry32(99);
    const means: Record<string, number> = { 'cheap-model': 0.5, 'large-model': 2, agent: 1 };
    let state = strategy.initialState();
    let late = 0;

    for (let round = 0; round < 400; round += 1) {
      const { expertId } = strategy.select(experts, x, state, rng);
      const normal = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
      state = strategy.update(state, expertId, x, (means[expertId] ?? 0) + normal);
      if (round >= 200 && expertId === 'large-model') late += 1;
    }

    expect(late).toBeGreaterThan(150);
  });

  it('reaches the same posterior, up to rounding, whatever the order of a batch', () => {
    fc.assert(
      fc.property(
        batchAndPermutation(fc.double({ min: -100, max: 100, noNaN: true })),
        ({ batch, permuted }) => {
          const inOrder = apply(batch);
          const shuffled = apply(permuted);

          expect(shuffled.version).toBe(inOrder.version);
          for (const [id, stats] of Object.entries(inOrder.arms)) {
            expect(shuffled.arms[id]?.n).toBe(stats.n);
            expect(shuffled.arms[id]?.mean).toBeCloseTo(stats.mean, 8);
            expect(shuffled.arms[id]?.m2 ?? Number.NaN).toBeCloseTo(stats.m2, 6);
          }
        },
      ),
    );
  });

  it('shrinks the posterior towards the prior mean with κ₀ pseudo-observations', () => {
    const state = apply([
      ['agent', 3],
      ['agent', 5],
    ]);

    const selection = strategy.select(['agent'], x, state, mulberry32(1));

    // κ₀ = 1 at μ₀ = 0, two rewards averaging 4: μ = 8/3; σ̂² = (1 + 2) / 3 = 1; sd = √(1/3).
    expect(selection.perCandidate[0]?.estimate).toBeCloseTo(8 / 3, 12);
    expect(selection.perCandidate[0]?.uncertainty).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(selection.propensity).toBe(1);
  });
});
