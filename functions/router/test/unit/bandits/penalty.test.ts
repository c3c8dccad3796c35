import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BetaBernoulliState,
  createBernoulliThompson,
  createGaussianThompson,
  createLinearThompson,
  createLinUcb,
  createStrategy,
  type FeatureVector,
  InvalidRouterConfigError,
  type ModelState,
  mulberry32,
  type Penalty,
  probabilityBestLowerBound,
  type RunningMeansState,
  type Selection,
  type Strategy,
  type StrategyConfig,
} from '../../../src/domain/bandits/index.js';
import { simulate } from './simulate.js';

const DIMENSION = 3;
const EXPERTS = ['a', 'b', 'c', 'd'];

/** Every strategy, by its router configuration (static's default is "b"). */
const CONFIGS: readonly StrategyConfig[] = [
  { strategy: 'static', defaultExpertId: 'b' },
  { strategy: 'greedy' },
  { strategy: 'epsilon-greedy', epsilon: 0.2 },
  { strategy: 'thompson', likelihood: 'bernoulli' },
  { strategy: 'thompson', likelihood: 'gaussian' },
  { strategy: 'linucb' },
  { strategy: 'naive-linucb' },
  { strategy: 'linear-thompson' },
];
const THOMPSONS = CONFIGS.filter((c) => c.strategy === 'thompson' || c.strategy === 'linear-thompson');
const LINEAR = CONFIGS.filter((c) => c.strategy === 'linucb' || c.strategy === 'naive-linucb');

const labelOf = (config: StrategyConfig): string =>
  config.strategy === 'thompson' ? `thompson ${config.likelihood}` : config.strategy;
/** A new instance every time: nothing memoised by an earlier call. */
const make = (config: StrategyConfig): Strategy<ModelState> => createStrategy(config, DIMENSION);

const coordinate = fc.double({ min: -2, max: 2, noNaN: true });
const contexts = fc.tuple(coordinate, coordinate).map(([u, v]) => Float64Array.of(1, u, v));
/** Rewards to learn: (expert index, context, reward in [0, 1]). */
const rewards = fc.array(
  fc.tuple(
    fc.integer({ min: 0, max: EXPERTS.length - 1 }),
    contexts,
    fc.double({ min: 0, max: 1, noNaN: true }),
  ),
  { maxLength: 40 },
);
/** A penalty per expert, 0 often (then it must not show). */
const penaltyValues = fc.array(fc.oneof(fc.constant(0), fc.double({ min: -1, max: 1, noNaN: true })), {
  minLength: EXPERTS.length,
  maxLength: EXPERTS.length,
});
const penaltyFrom =
  (values: readonly number[]): Penalty =>
  (expertId) =>
    values[EXPERTS.indexOf(expertId)] as number;

const learnt = (
  strategy: Strategy<ModelState>,
  updates: readonly (readonly [number, FeatureVector, number])[],
  tryEveryExpert = false,
): ModelState => {
  let state = strategy.initialState();
  if (tryEveryExpert)
    for (const id of EXPERTS) state = strategy.update(state, id, Float64Array.of(1, 0, 0), 0.5);
  for (const [e, x, reward] of updates) state = strategy.update(state, EXPERTS[e] as string, x, reward);
  return state;
};

const candidateOf = (selection: Selection, expertId: string) =>
  selection.perCandidate.find((c) => c.expertId === expertId);
const probabilities = (selection: Selection) => selection.perCandidate.map((c) => c.probability);
const sum = (values: readonly number[]) => values.reduce((total, v) => total + v, 0);

describe('cost-aware ranking: a penalty subtracted from every score', () => {
  it('decides exactly as without a penalty when the penalty is 0 for every candidate (every strategy)', () => {
    fc.assert(
      fc.property(
        rewards,
        contexts,
        fc.integer(),
        fc.constantFrom(0, -0),
        fc.subarray(EXPERTS, { minLength: 1 }),
        (updates, x, seed, zero, candidates) => {
          for (const config of CONFIGS) {
            // Prepare
            const state = learnt(make(config), updates);

            // Act
            const without = make(config).select(candidates, x, state, mulberry32(seed));
            const zeroPenalty = make(config).select(candidates, x, state, mulberry32(seed), () => zero);

            // Assess
            expect(zeroPenalty, labelOf(config)).toStrictEqual(without);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('ranks by score − penalty: the pick, exploitation and confidence follow the penalised scores', () => {
    fc.assert(
      fc.property(rewards, contexts, fc.integer(), penaltyValues, (updates, x, seed, values) => {
        for (const config of CONFIGS) {
          // Prepare: greedy tries every expert first whatever the penalty, so every expert has data.
          const strategy = make(config);
          const state = learnt(strategy, updates, true);
          const penalty = penaltyFrom(values);

          // Act
          const selection = strategy.select(EXPERTS, x, state, mulberry32(seed), penalty);

          // Assess
          const label = labelOf(config);
          const objective = (expertId: string) =>
            (candidateOf(selection, expertId)?.estimate ?? Number.NaN) - penalty(expertId);
          if (config.strategy !== 'static')
            expect(objective(selection.exploitExpertId), label).toBe(Math.max(...EXPERTS.map(objective)));
          expect(selection.exploration, label).toBe(selection.expertId !== selection.exploitExpertId);
          const score = (expertId: string): number => {
            const c = candidateOf(selection, expertId);
            if (c?.sampled !== undefined) return c.sampled - penalty(expertId);
            return (c?.estimate ?? Number.NaN) + (c?.bonus ?? 0) - penalty(expertId);
          };
          if (config.strategy === 'static') expect(selection.expertId).toBe('b');
          else if (config.strategy !== 'epsilon-greedy')
            expect(score(selection.expertId), label).toBe(Math.max(...EXPERTS.map(score)));
          if (config.strategy !== 'thompson' && config.strategy !== 'linear-thompson') {
            const noise = config.strategy === 'linucb' || config.strategy === 'naive-linucb' ? 0.5 : 1;
            const sds = selection.perCandidate.map((c) => noise * c.uncertainty);
            expect(selection.confidence, label).toBe(
              probabilityBestLowerBound(EXPERTS.map(objective), sds, EXPERTS.indexOf(selection.expertId)),
            );
          }
        }
      }),
      { numRuns: 40 },
    );
  });

  it('picks the one candidate not heavily penalised (or heavily favoured), every strategy but static', () => {
    fc.assert(
      fc.property(
        rewards,
        contexts,
        fc.integer(),
        fc.constantFrom(...EXPERTS),
        fc.boolean(),
        (updates, x, seed, favourite, asBonus) => {
          // A penalty of 1000 on the others, or a bonus of 1000 on the favourite: far beyond any reward.
          const penalty: Penalty = asBonus
            ? (id) => (id === favourite ? -1000 : 0)
            : (id) => (id === favourite ? 0 : 1000);
          for (const config of CONFIGS) {
            // Prepare: greedy would try an untried expert first (rank +∞) whatever its penalty.
            const strategy = make(config);
            const state = learnt(strategy, updates, true);

            // Act
            const selection = strategy.select(EXPERTS, x, state, mulberry32(seed), penalty);

            // Assess
            const label = labelOf(config);
            const chosen = candidateOf(selection, favourite);
            if (config.strategy === 'static') {
              expect(selection.expertId, label).toBe('b');
              expect(selection.exploitExpertId, label).toBe('b');
              expect(selection.propensity, label).toBe(1);
              continue;
            }
            expect(selection.exploitExpertId, label).toBe(favourite);
            if (config.strategy === 'epsilon-greedy') {
              // ε/k + (1 − ε) for the best, ε/k for the others; the pick is the best unless it explored.
              expect(chosen?.probability, label).toBeCloseTo(0.2 / 4 + 0.8, 12);
              if (!selection.exploration) expect(selection.expertId, label).toBe(favourite);
              continue;
            }
            expect(selection.expertId, label).toBe(favourite);
            // Thompson's smoothed Monte Carlo: (256 + 1/4) / 257 at least.
            expect(selection.propensity, label).toBeGreaterThan(0.99);
            expect(selection.confidence, label).toBeGreaterThan(0.99);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('lets an untried expert keep its +∞ rank in greedy: it is still tried first, whatever its penalty', () => {
    // Prepare
    const strategy = createStrategy({ strategy: 'greedy' }, DIMENSION);
    let state = strategy.initialState();
    for (const id of ['a', 'b', 'c']) state = strategy.update(state, id, Float64Array.of(1, 0, 0), 1);

    // Act
    const selection = strategy.select(EXPERTS, Float64Array.of(1, 0, 0), state, mulberry32(1), (id) =>
      id === 'd' ? 1000 : 0,
    );

    // Assess
    expect(selection.expertId).toBe('d');
    expect(selection.propensity).toBe(1);
  });

  it('reports each non-zero penalty per candidate, and keeps the estimate unpenalised', () => {
    fc.assert(
      fc.property(rewards, contexts, fc.integer(), penaltyValues, (updates, x, seed, values) => {
        for (const config of CONFIGS) {
          // Prepare
          const state = learnt(make(config), updates);

          // Act
          const plain = make(config).select(EXPERTS, x, state, mulberry32(seed));
          const penalised = make(config).select(EXPERTS, x, state, mulberry32(seed), penaltyFrom(values));

          // Assess
          const label = labelOf(config);
          penalised.perCandidate.forEach((c, i) => {
            const value = values[i] as number;
            if (value === 0) expect('penalty' in c, label).toBe(false);
            else expect(c.penalty, label).toBe(value);
            expect(c.estimate, label).toBe(plain.perCandidate[i]?.estimate);
            expect(c.uncertainty, label).toBe(plain.perCandidate[i]?.uncertainty);
            expect('penalty' in (plain.perCandidate[i] ?? {}), label).toBe(false);
          });
        }
      }),
      { numRuns: 40 },
    );
  });

  it('calls the penalty once per candidate (duplicates counted once), and refuses one that is not finite', () => {
    for (const config of CONFIGS) {
      const strategy = make(config);
      const x = Float64Array.of(1, 0.5, -1);
      const calls: string[] = [];

      strategy.select(['a', 'b', 'a', 'c'], x, strategy.initialState(), mulberry32(1), (id) => {
        calls.push(id);
        return id === 'a' ? 0.1 : 0;
      });

      expect(calls, labelOf(config)).toEqual(['a', 'b', 'c']);
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
        expect(
          () =>
            strategy.select(EXPERTS, x, strategy.initialState(), mulberry32(1), (id) =>
              id === 'c' ? bad : 0,
            ),
          `${labelOf(config)} ${bad}`,
        ).toThrow(InvalidRouterConfigError);
    }
  });
});

describe('Thompson propensities under a penalty', () => {
  /**
   * The picks of `trials` decisions against the reported P(best). The estimate comes from D joint draws,
   * the frequency from N picks, both binomial with the same p: their difference has a standard
   * deviation below √(p(1 − p)(1/N + 1/D)); the smoothing moves the estimate by at most 1/D. Allowed:
   * 5 standard deviations plus that bias (a false alarm below 1e-6 per candidate).
   */
  const expectPicksToFollow = (
    strategy: Strategy<ModelState>,
    state: ModelState,
    x: FeatureVector,
    candidates: readonly string[],
    penalty: Penalty,
    draws: number,
    trials = 4000,
  ): Selection => {
    const reported = strategy.select(candidates, x, state, mulberry32(1), penalty);
    const counts = new Map<string, number>();
    const rng = mulberry32(12345);
    for (let i = 0; i < trials; i += 1) {
      const { expertId } = strategy.select(candidates, x, state, rng, penalty);
      counts.set(expertId, (counts.get(expertId) ?? 0) + 1);
    }
    expect(sum(probabilities(reported))).toBeCloseTo(1, 12);
    for (const c of reported.perCandidate) {
      const p = c.probability;
      const tolerance = 5 * Math.sqrt(p * (1 - p) * (1 / trials + 1 / draws)) + 1 / draws;
      expect(Math.abs((counts.get(c.expertId) ?? 0) / trials - p), c.expertId).toBeLessThan(tolerance);
    }
    return reported;
  };

  it('Beta–Bernoulli: sum to 1 and match the pick frequency, a penalised leader losing its lead', () => {
    // Prepare: "a" leads by posterior mean; its penalty brings it level with the others.
    const draws = 10_000;
    const strategy = createBernoulliThompson({ propensityDraws: draws });
    const state: BetaBernoulliState = {
      model: 'beta-bernoulli',
      version: 5,
      arms: {
        a: { successes: 30, failures: 10 },
        b: { successes: 20, failures: 20 },
        c: { successes: 25, failures: 15 },
      },
    };
    const penalty: Penalty = (id) => (id === 'a' ? 0.2 : id === 'c' ? 0.1 : 0);
    const x = Float64Array.of(1);

    // Act
    const penalised = expectPicksToFollow(strategy, state, x, ['a', 'b', 'c'], penalty, draws);
    const plain = strategy.select(['a', 'b', 'c'], x, state, mulberry32(1));

    // Assess
    expect(candidateOf(plain, 'a')?.probability).toBeGreaterThan(0.8);
    expect(candidateOf(penalised, 'a')?.probability).toBeLessThan(0.6);
    expect(penalised.confidence).toBe(penalised.propensity);
  });

  it('Gaussian: sum to 1 and match the pick frequency', () => {
    // Prepare
    const draws = 10_000;
    const strategy = createGaussianThompson({ propensityDraws: draws });
    const state: RunningMeansState = {
      model: 'running-means',
      version: 9,
      arms: {
        a: { n: 10, mean: 1, m2: 4 },
        b: { n: 10, mean: 0.6, m2: 4 },
        c: { n: 3, mean: 0.5, m2: 1 },
      },
    };

    // Act, Assess
    expectPicksToFollow(
      strategy,
      state,
      Float64Array.of(1),
      ['a', 'b', 'c'],
      (id) => (id === 'a' ? 0.4 : 0),
      draws,
    );
  });

  it('linear: sum to 1 and match the pick frequency for this context', () => {
    // Prepare: a and b close, c behind; the penalty on b moves P(best) towards a and c. P(best) is
    // estimated at every decision here: fewer draws and picks (the bound widens to match).
    const draws = 2000;
    const strategy = createLinearThompson({ dimension: DIMENSION, propensityDraws: draws });
    const { state } = simulate(strategy, {
      experts: ['a', 'b', 'c'],
      successRate: (id) => (id === 'c' ? 0.3 : 0.5),
      rounds: 200,
      context: () => Float64Array.of(1, 0, 0),
    });

    const x = Float64Array.of(1, 0, 0);

    // Act
    const penalised = expectPicksToFollow(
      strategy,
      state,
      x,
      ['a', 'b', 'c'],
      (id) => (id === 'b' ? 0.05 : 0),
      draws,
      2000,
    );
    const plain = strategy.select(['a', 'b', 'c'], x, state, mulberry32(1));

    // Assess
    expect(candidateOf(penalised, 'b')?.probability).toBeLessThan(candidateOf(plain, 'b')?.probability ?? 0);
  });

  it('never reuses a memoised P(best) for another penalty: any order of calls gives what a fresh strategy gives', () => {
    fc.assert(
      fc.property(rewards, contexts, penaltyValues, penaltyValues, (updates, x, first, second) => {
        for (const config of THOMPSONS) {
          // Prepare
          const shared = make(config);
          const state = learnt(shared, updates);

          // Act: the same state object, the first penalty, then the second, then none.
          const one = shared.select(EXPERTS, x, state, mulberry32(1), penaltyFrom(first));
          const two = shared.select(EXPERTS, x, state, mulberry32(1), penaltyFrom(second));
          const none = shared.select(EXPERTS, x, state, mulberry32(1));

          // Assess
          const label = labelOf(config);
          expect(probabilities(one), label).toEqual(
            probabilities(make(config).select(EXPERTS, x, state, mulberry32(1), penaltyFrom(first))),
          );
          expect(probabilities(two), label).toEqual(
            probabilities(make(config).select(EXPERTS, x, state, mulberry32(1), penaltyFrom(second))),
          );
          expect(probabilities(none), label).toEqual(
            probabilities(make(config).select(EXPERTS, x, state, mulberry32(1))),
          );
        }
      }),
      { numRuns: 30 },
    );
  });

  it('gives another P(best) for another penalty on the same state', () => {
    for (const config of THOMPSONS) {
      // Prepare: nothing learnt, every candidate alike.
      const strategy = make(config);
      const state = strategy.initialState();
      const x = Float64Array.of(1, 0, 0);

      // Act
      const plain = strategy.select(EXPERTS, x, state, mulberry32(1));
      const penalised = strategy.select(EXPERTS, x, state, mulberry32(1), (id) => (id === 'a' ? 5 : 0));

      // Assess
      expect(candidateOf(plain, 'a')?.probability, labelOf(config)).toBeGreaterThan(0.1);
      expect(candidateOf(penalised, 'a')?.probability, labelOf(config)).toBeLessThan(0.01);
    }
  });

  it('judges every penalty on the same draws: raising a candidate’s penalty never raises its P(best)', () => {
    fc.assert(
      fc.property(
        rewards,
        contexts,
        penaltyValues,
        fc.integer({ min: 0, max: EXPERTS.length - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (updates, x, values, raised, extra) => {
          for (const config of THOMPSONS) {
            const strategy = make(config);
            const state = learnt(strategy, updates);
            const higher = values.map((v, i) => (i === raised ? v + extra : v));

            const before = strategy.select(EXPERTS, x, state, mulberry32(1), penaltyFrom(values));
            const after = strategy.select(EXPERTS, x, state, mulberry32(1), penaltyFrom(higher));

            expect(after.perCandidate[raised]?.probability, labelOf(config)).toBeLessThanOrEqual(
              before.perCandidate[raised]?.probability ?? Number.NaN,
            );
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('attribution under a penalty (linear strategies)', () => {
  /** Two task kinds, one-hot with a bias: "a" is right on kind 0, "b" on kind 1, "c" never. */
  const contextOf = (round: number) =>
    round % 2 === 0 ? Float64Array.of(1, 1, 0) : Float64Array.of(1, 0, 1);
  const rightFor = (expertId: string, round: number) =>
    (expertId === 'a') === (round % 2 === 0) ? 0.9 : expertId === 'c' ? 0.2 : 0.1;
  const trained = simulate(createLinUcb({ dimension: DIMENSION }), {
    experts: ['a', 'b', 'c'],
    successRate: rightFor,
    rounds: 300,
    context: contextOf,
  }).state;

  it('names the runner-up by score − penalty, penaltyMargin = its penalty − the pick’s; margins of θ·x unchanged', () => {
    fc.assert(
      fc.property(contexts, fc.integer(), penaltyValues, (x, seed, values) => {
        for (const config of [...LINEAR, { strategy: 'linear-thompson' } as const]) {
          // Act
          const penalty = penaltyFrom(values);
          const selection = make(config).select(['a', 'b', 'c'], x, trained, mulberry32(seed), penalty);
          const plain = make(config).select(['a', 'b', 'c'], x, trained, mulberry32(seed));

          // Assess
          const label = labelOf(config);
          const attribution = selection.attribution;
          expect(attribution, label).toBeDefined();
          expect(plain.attribution?.penaltyMargin, label).toBeUndefined();
          const runnerUp = attribution?.runnerUpExpertId ?? '';
          const score = (id: string) => {
            const c = candidateOf(selection, id);
            return (c?.sampled ?? (c?.estimate ?? Number.NaN) + (c?.bonus ?? 0)) - penalty(id);
          };
          const others = ['a', 'b', 'c'].filter((id) => id !== selection.expertId);
          expect(score(runnerUp), label).toBe(Math.max(...others.map(score)));
          // A penalty of 0 for every candidate is no penalty: no margin to report.
          expect(attribution?.penaltyMargin, label).toBe(
            values.slice(0, 3).every((v) => v === 0)
              ? undefined
              : penalty(runnerUp) - penalty(selection.expertId),
          );
          expect(attribution?.estimateMargin, label).toBeCloseTo(
            (candidateOf(selection, selection.expertId)?.estimate ?? 0) -
              (candidateOf(selection, runnerUp)?.estimate ?? 0),
            9,
          );
        }
      }),
      { numRuns: 40 },
    );
  });

  it('has a positive penaltyMargin when the penalty helped the pick, a negative one when it won despite it', () => {
    // Prepare: "a" and "b" learnt the same; on kind 0 "a" is far ahead of "c".
    const strategy = createLinUcb({ dimension: DIMENSION });
    let twins = strategy.initialState();
    for (let i = 0; i < 20; i += 1)
      for (const id of ['a', 'b']) twins = strategy.update(twins, id, Float64Array.of(1, 1, 0), i % 2);
    const x = Float64Array.of(1, 1, 0);

    // Act
    const helped = strategy.select(['a', 'b'], x, twins, mulberry32(1), (id) => (id === 'b' ? 0.3 : 0));
    const despite = strategy.select(['a', 'c'], x, trained, mulberry32(1), (id) => (id === 'a' ? 0.1 : 0));

    // Assess
    expect(helped.expertId).toBe('a');
    expect(helped.attribution?.runnerUpExpertId).toBe('b');
    expect(helped.attribution?.penaltyMargin).toBeCloseTo(0.3, 12);
    expect(helped.attribution?.estimateMargin).toBe(0);
    expect(despite.expertId).toBe('a');
    expect(despite.attribution?.penaltyMargin).toBeCloseTo(-0.1, 12);
    expect(despite.attribution?.estimateMargin).toBeGreaterThan(0.1);
  });
});
