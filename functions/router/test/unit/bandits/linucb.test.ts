import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createLinUcb,
  createNaiveLinUcb,
  type FeatureVector,
  IncompatibleModelStateError,
  InvalidRouterConfigError,
  type LinUcbState,
  loadLinUcbState,
  mulberry32,
  refreshLinUcbState,
  toSparse,
  toStoredLinUcbState,
} from '../../../src/domain/bandits/index.js';
import { inverseSpd } from '../../../src/domain/bandits/linear-algebra.js';
import { simulate } from './simulate.js';

const maxAbsDifference = (a: readonly number[], b: readonly number[]): number =>
  a.reduce((max, v, i) => Math.max(max, Math.abs(v - (b[i] as number))), 0);

/** Random update sequences for a d-dimensional model: (expert index, x, reward), x dense or sparse. */
const updateSequence = (dimension: number, experts: number) =>
  fc.array(
    fc.tuple(
      fc.integer({ min: 0, max: experts - 1 }),
      fc.array(fc.oneof(fc.constant(0), fc.double({ min: -3, max: 3, noNaN: true })), {
        minLength: dimension,
        maxLength: dimension,
      }),
      fc.double({ min: -1, max: 2, noNaN: true }),
      fc.boolean(),
    ),
    { maxLength: 60 },
  );

const vector = (values: readonly number[], sparse: boolean): FeatureVector => {
  const dense = Float64Array.from(values);
  return sparse ? toSparse(dense) : dense;
};

describe('LinUcb', () => {
  it('prefers the arm with the higher upper bound when rewards tie', () => {
    // Prepare: both experts averaged 0.5, but "agent" has been seen far less: a wider bound.
    const strategy = createLinUcb({ dimension: 2, alpha: 1 });
    const x = Float64Array.of(1, 0.5);
    let state = strategy.initialState();
    for (let i = 0; i < 20; i += 1) state = strategy.update(state, 'large-model', x, 0.5);
    for (let i = 0; i < 2; i += 1) state = strategy.update(state, 'agent', x, 0.5);

    // Act
    const selection = strategy.select(['large-model', 'agent'], x, state, mulberry32(1));

    // Assess
    const [large, agent] = selection.perCandidate;
    expect(selection.expertId).toBe('agent');
    expect(agent?.uncertainty).toBeGreaterThan(large?.uncertainty ?? Number.POSITIVE_INFINITY);
    expect((agent?.estimate ?? 0) + (agent?.bonus ?? 0)).toBeGreaterThan(
      (large?.estimate ?? 0) + (large?.bonus ?? 0),
    );
    expect(selection.exploration).toBe(true);
    expect(selection.exploitExpertId).toBe('large-model');
    expect(selection.propensity).toBe(1);
  });

  it('learns which expert is better in which context', () => {
    // Two kinds of task: "code" favours the agent, "chat" the large model.
    const strategy = createLinUcb({ dimension: 3, alpha: 0.5 });
    const contexts = [Float64Array.of(1, 1, 0), Float64Array.of(1, 0, 1)];
    const rate = (expertId: string, round: number) =>
      round % 2 === 0 ? (expertId === 'agent' ? 0.9 : 0.2) : expertId === 'large-model' ? 0.9 : 0.2;

    const { state } = simulate(strategy, {
      experts: ['large-model', 'agent', 'cheap-model'],
      successRate: rate,
      rounds: 600,
      context: (round) => contexts[round % 2] as Float64Array,
    });

    const rng = mulberry32(3);
    expect(
      strategy.select(['large-model', 'agent', 'cheap-model'], contexts[0] as FeatureVector, state, rng)
        .expertId,
    ).toBe('agent');
    expect(
      strategy.select(['large-model', 'agent', 'cheap-model'], contexts[1] as FeatureVector, state, rng)
        .expertId,
    ).toBe('large-model');
  });

  it('lets a clearly better arm win the majority after a few hundred rewards', () => {
    const { lateCounts } = simulate(createLinUcb({ dimension: 1, alpha: 1 }), {
      experts: ['cheap-model', 'large-model', 'agent'],
      successRate: (id) => (id === 'large-model' ? 0.8 : 0.3),
      rounds: 400,
    });

    expect(lateCounts['large-model']).toBeGreaterThan(150);
  });

  it('breaks exact ties uniformly at random, each tied expert with probability 1/k', () => {
    const strategy = createLinUcb({ dimension: 4 });
    const candidates = ['a', 'b', 'c', 'd'];
    const rng = mulberry32(8);
    const picks = new Map<string, number>();

    for (let i = 0; i < 4000; i += 1) {
      const selection = strategy.select(
        candidates,
        Float64Array.of(1, 0, 2, 0),
        strategy.initialState(),
        rng,
      );
      expect(selection.propensity).toBe(0.25);
      expect(selection.perCandidate.every((c) => c.probability === 0.25)).toBe(true);
      picks.set(selection.expertId, (picks.get(selection.expertId) ?? 0) + 1);
    }

    for (const id of candidates) expect(Math.abs((picks.get(id) ?? 0) / 4000 - 0.25)).toBeLessThan(0.03);
  });

  it('keeps an incremental inverse that matches a direct solve after random update sequences', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((d) => fc.tuple(fc.constant(d), updateSequence(d, 3))),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        ([d, updates], lambda) => {
          const strategy = createLinUcb({ dimension: d, lambda });
          let state = strategy.initialState();
          for (const [arm, values, reward, sparse] of updates)
            state = strategy.update(state, `e${arm}`, vector(values, sparse), reward);

          for (const arm of Object.values(state.arms)) {
            const direct = inverseSpd(arm.a, d);
            const scale = Math.max(1, ...direct.map(Math.abs));
            expect(maxAbsDifference(arm.aInv, direct) / scale).toBeLessThan(1e-8);
            // θ = A⁻¹b as well.
            const theta = direct.reduce<number[]>((out, v, k) => {
              const i = Math.floor(k / d);
              out[i] = (out[i] ?? 0) + v * (arm.b[k % d] as number);
              return out;
            }, []);
            expect(maxAbsDifference(arm.theta, theta)).toBeLessThan(
              1e-7 * Math.max(1, ...theta.map(Math.abs)),
            );
          }
        },
      ),
    );
  });

  it('decides like the naive LinUCB that solves A⁻¹ at every decision', () => {
    fc.assert(
      fc.property(
        updateSequence(5, 3),
        fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 5, maxLength: 5 }),
        (updates, query) => {
          const options = { dimension: 5, alpha: 0.7 };
          const incremental = createLinUcb(options);
          const naive = createNaiveLinUcb(options);
          let state = incremental.initialState();
          for (const [arm, values, reward, sparse] of updates)
            state = incremental.update(state, `e${arm}`, vector(values, sparse), reward);
          const x = Float64Array.from(query);

          const fast = incremental.select(['e0', 'e1', 'e2'], x, state, mulberry32(1));
          const slow = naive.select(['e0', 'e1', 'e2'], x, state, mulberry32(1));

          fast.perCandidate.forEach((c, i) => {
            expect(c.estimate).toBeCloseTo(slow.perCandidate[i]?.estimate ?? Number.NaN, 6);
            expect(c.uncertainty).toBeCloseTo(slow.perCandidate[i]?.uncertainty ?? Number.NaN, 6);
          });
          const ucb = fast.perCandidate.map((c) => c.estimate + (c.bonus ?? 0)).sort((a, b) => b - a);
          // Same pick unless the top two bounds are within rounding of each other.
          if ((ucb[0] ?? 0) - (ucb[1] ?? 0) > 1e-6) expect(slow.expertId).toBe(fast.expertId);
        },
      ),
    );
  });

  it('names the largest θᵢ·xᵢ of the chosen expert as its top features', () => {
    const strategy = createLinUcb({ dimension: 4, alpha: 0, topFeatures: 2 });
    let state = strategy.initialState();
    for (let i = 0; i < 50; i += 1) {
      state = strategy.update(state, 'agent', Float64Array.of(1, 1, 0, 0), 1);
      state = strategy.update(state, 'agent', Float64Array.of(1, 0, 1, 0), 0);
    }

    const selection = strategy.select(['agent'], Float64Array.of(1, 1, 1, 0), state, mulberry32(1));

    expect(selection.topFeatures).toHaveLength(2);
    const [first, second] = selection.topFeatures;
    expect(Math.abs(first?.contribution ?? 0)).toBeGreaterThanOrEqual(Math.abs(second?.contribution ?? 0));
    const theta = state.arms.agent?.theta ?? [];
    for (const feature of selection.topFeatures) {
      expect(feature.weight).toBe(theta[feature.index]);
      expect(feature.contribution).toBeCloseTo(feature.weight * feature.value, 15);
    }
    expect(selection.topFeatures.map((f) => f.index)).not.toContain(3);
  });

  it('reports a confidence near 1 for a clear winner and near 1/2 between two unknowns', () => {
    const strategy = createLinUcb({ dimension: 1, alpha: 0 });
    let state = strategy.initialState();
    for (let i = 0; i < 200; i += 1) {
      state = strategy.update(state, 'large-model', Float64Array.of(1), 1);
      state = strategy.update(state, 'cheap-model', Float64Array.of(1), 0);
    }

    expect(
      strategy.select(['large-model', 'cheap-model'], Float64Array.of(1), state, mulberry32(1)).confidence,
    ).toBeGreaterThan(0.999);
    expect(strategy.select(['a', 'b'], Float64Array.of(1), state, mulberry32(1)).confidence).toBeCloseTo(
      0.5,
      6,
    );
  });

  it('refreshes A⁻¹ by a direct solve without changing decisions or the version', () => {
    const strategy = createLinUcb({ dimension: 3 });
    const { state } = simulate(strategy, {
      experts: ['a', 'b'],
      successRate: (id) => (id === 'a' ? 0.7 : 0.4),
      rounds: 200,
      context: (round) => Float64Array.of(1, round % 3, (round % 5) / 5),
    });

    const refreshed = refreshLinUcbState(state);

    expect(refreshed.version).toBe(state.version);
    const x = Float64Array.of(1, 2, 0.4);
    expect(strategy.select(['a', 'b'], x, refreshed, mulberry32(5)).expertId).toBe(
      strategy.select(['a', 'b'], x, state, mulberry32(5)).expertId,
    );
  });

  it('stores A as its upper triangle and b, and loads them back with inverses re-solved', () => {
    const strategy = createLinUcb({ dimension: 3 });
    const { state } = simulate(strategy, {
      experts: ['a', 'b'],
      successRate: (id) => (id === 'a' ? 0.7 : 0.4),
      rounds: 100,
      context: (round) => Float64Array.of(1, round % 3, 0),
    });

    const stored = JSON.parse(JSON.stringify(toStoredLinUcbState(state)));
    const loaded = loadLinUcbState(stored);

    expect(stored.arms.a.aUpper).toHaveLength(6);
    expect(loaded.version).toBe(state.version);
    for (const [id, arm] of Object.entries(state.arms)) {
      expect(loaded.arms[id]?.a).toEqual(arm.a);
      expect(maxAbsDifference(loaded.arms[id]?.aInv ?? [], arm.aInv)).toBeLessThan(1e-10);
    }
    expect(() => loadLinUcbState({ ...stored, dimension: 4 })).toThrow();
  });

  it('never changes the state it was given', () => {
    const strategy = createLinUcb({ dimension: 2 });
    const before: LinUcbState = strategy.update(strategy.initialState(), 'a', Float64Array.of(1, 1), 1);
    const snapshot = structuredClone(before);

    strategy.update(before, 'a', Float64Array.of(1, -1), 0);
    strategy.update(before, 'b', Float64Array.of(1, 0), 1);

    expect(before).toEqual(snapshot);
  });

  it('refuses features of another dimension and states built for another one', () => {
    const strategy = createLinUcb({ dimension: 3 });
    const other = createLinUcb({ dimension: 4 });

    expect(() =>
      strategy.select(['a'], Float64Array.of(1, 0), strategy.initialState(), mulberry32(1)),
    ).toThrow(IncompatibleModelStateError);
    expect(() => strategy.update(other.initialState(), 'a', Float64Array.of(1, 0, 0), 1)).toThrow(
      IncompatibleModelStateError,
    );
    expect(() => createLinUcb({ dimension: 0 })).toThrow(InvalidRouterConfigError);
    expect(() => createLinUcb({ dimension: 3, alpha: -1 })).toThrow(InvalidRouterConfigError);
  });
});
