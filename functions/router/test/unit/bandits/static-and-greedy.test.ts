import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createEpsilonGreedy,
  createGreedy,
  createStatic,
  epsilonGreedyProbabilities,
  InvalidRouterConfigError,
  mulberry32,
  NoCandidatesError,
  type RunningMeansState,
} from '../../../src/domain/bandits/index.js';
import { simulate } from './simulate.js';

const x = Float64Array.of(1);
const experts = ['cheap-model', 'large-model', 'agent'];
const rates: Record<string, number> = { 'cheap-model': 0.2, 'large-model': 0.8, agent: 0.3 };
const successRate = (expertId: string) => rates[expertId] ?? 0;

const meansState = (arms: Record<string, { n: number; mean: number }>): RunningMeansState => ({
  model: 'running-means',
  version: Object.keys(arms).length,
  arms: Object.fromEntries(Object.entries(arms).map(([id, a]) => [id, { ...a, m2: 0 }])),
});

describe('Static', () => {
  it('always picks the default expert, with propensity 1, whatever it has learnt', () => {
    const strategy = createStatic({ defaultExpertId: 'cheap-model' });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...experts), fc.double({ min: 0, max: 1, noNaN: true })), {
          maxLength: 30,
        }),
        fc.integer(),
        (rewards, seed) => {
          let state = strategy.initialState();
          for (const [expertId, reward] of rewards) state = strategy.update(state, expertId, x, reward);

          const selection = strategy.select(experts, x, state, mulberry32(seed));

          expect(selection.expertId).toBe('cheap-model');
          expect(selection.propensity).toBe(1);
          expect(selection.exploration).toBe(false);
          expect(selection.perCandidate.map((c) => c.probability)).toEqual([1, 0, 0]);
        },
      ),
    );
  });

  it('falls back to the first candidate when the default is not offered', () => {
    const strategy = createStatic({ defaultExpertId: 'retired-model' });

    const selection = strategy.select(['agent', 'large-model'], x, strategy.initialState(), mulberry32(1));

    expect(selection.expertId).toBe('agent');
    expect(selection.propensity).toBe(1);
  });

  it('reports a confidence that falls when the default is observed to be worse', () => {
    const strategy = createStatic({ defaultExpertId: 'cheap-model' });
    const { state } = simulate(createEpsilonGreedy({ epsilon: 1 }), { experts, successRate, rounds: 600 });

    const selection = strategy.select(experts, x, state, mulberry32(1));

    expect(selection.confidence).toBeLessThan(0.01);
    expect(selection.exploitExpertId).toBe('cheap-model');
  });
});

describe('Greedy', () => {
  it('tries every expert once before exploiting', () => {
    const strategy = createGreedy();
    const rng = mulberry32(3);
    let state = strategy.initialState();
    const firstPicks = new Set<string>();

    for (let round = 0; round < experts.length; round += 1) {
      const selection = strategy.select(experts, x, state, rng);
      expect(selection.propensity).toBeCloseTo(1 / (experts.length - round), 12);
      firstPicks.add(selection.expertId);
      state = strategy.update(state, selection.expertId, x, 0);
    }

    expect(firstPicks.size).toBe(experts.length);
  });

  it('picks the best running mean with propensity 1', () => {
    const strategy = createGreedy();
    const state = meansState({
      'cheap-model': { n: 5, mean: 0.2 },
      'large-model': { n: 5, mean: 0.6 },
      agent: { n: 1, mean: 0.4 },
    });

    const selection = strategy.select(experts, x, state, mulberry32(1));

    expect(selection.expertId).toBe('large-model');
    expect(selection.propensity).toBe(1);
    expect(selection.exploration).toBe(false);
    expect(selection.perCandidate.find((c) => c.expertId === 'agent')?.uncertainty).toBeCloseTo(
      0.5 / Math.sqrt(2),
      12,
    );
  });

  it('lets a clearly better arm win the majority after a few hundred rewards', () => {
    const { lateCounts } = simulate(createGreedy(), { experts, successRate, rounds: 400, seed: 11 });

    expect(lateCounts['large-model']).toBeGreaterThan(100);
  });
});

describe('EpsilonGreedy', () => {
  it('has pick probabilities that sum to 1, the pick carrying its own as propensity', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.constantFrom(0, 0.5, 1)), { maxLength: 40 }),
        fc.integer(),
        (epsilon, rewards, seed) => {
          const candidates = ['a', 'b', 'c', 'd', 'e'];
          const strategy = createEpsilonGreedy({ epsilon });
          let state = strategy.initialState();
          for (const [arm, reward] of rewards)
            state = strategy.update(state, candidates[arm] as string, x, reward);

          const selection = strategy.select(candidates, x, state, mulberry32(seed));

          const total = selection.perCandidate.reduce((sum, c) => sum + c.probability, 0);
          expect(total).toBeCloseTo(1, 12);
          const chosen = selection.perCandidate.find((c) => c.expertId === selection.expertId);
          expect(selection.propensity).toBe(chosen?.probability);
          expect(selection.propensity).toBeGreaterThanOrEqual(epsilon / candidates.length);
        },
      ),
    );
  });

  it('computes ε/k + (1 − ε)/|ties| for the tied best and ε/k for the rest', () => {
    expect(Array.from(epsilonGreedyProbabilities([0.5, 0.9, 0.9, 0.1], 0.2))).toEqual([
      0.05,
      0.05 + 0.4,
      0.05 + 0.4,
      0.05,
    ]);
  });

  it('picks non-greedy candidates at the rate its propensities promise', () => {
    const strategy = createEpsilonGreedy({ epsilon: 0.3 });
    const state = meansState({
      'cheap-model': { n: 5, mean: 0.2 },
      'large-model': { n: 5, mean: 0.6 },
      agent: { n: 5, mean: 0.4 },
    });
    const rng = mulberry32(5);
    let explored = 0;

    for (let i = 0; i < 4000; i += 1) if (strategy.select(experts, x, state, rng).exploration) explored += 1;

    // Exploration = not the greedy pick: ε·(k−1)/k = 0.2.
    expect(explored / 4000).toBeGreaterThan(0.18);
    expect(explored / 4000).toBeLessThan(0.22);
  });

  it('lets a clearly better arm win the majority after a few hundred rewards', () => {
    const { lateCounts } = simulate(createEpsilonGreedy({ epsilon: 0.1 }), {
      experts,
      successRate,
      rounds: 400,
    });

    expect(lateCounts['large-model']).toBeGreaterThan(100);
  });

  it('refuses ε outside [0, 1] and empty candidate lists', () => {
    expect(() => createEpsilonGreedy({ epsilon: 1.5 })).toThrow(InvalidRouterConfigError);
    expect(() => createEpsilonGreedy({ epsilon: Number.NaN })).toThrow(InvalidRouterConfigError);
    const strategy = createEpsilonGreedy({ epsilon: 0.1 });
    expect(() => strategy.select([], x, strategy.initialState(), mulberry32(1))).toThrow(NoCandidatesError);
  });

  it('counts a candidate offered twice once', () => {
    const strategy = createEpsilonGreedy({ epsilon: 0.5 });

    const selection = strategy.select(['a', 'b', 'a'], x, strategy.initialState(), mulberry32(2));

    expect(selection.perCandidate.map((c) => c.expertId)).toEqual(['a', 'b']);
  });
});
