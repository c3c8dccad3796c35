import { describe, expect, it } from 'vitest';
import {
  createBernoulliThompson,
  createLinUcb,
  InvalidRouterConfigError,
  type LinUcbState,
  mulberry32,
} from '../../../src/domain/bandits/index.js';
import { simulate } from './simulate.js';

const x = Float64Array.of(1, 0.5);
const teach = (discount: number, rewards: readonly number[]) => {
  const strategy = createLinUcb({ dimension: 2, discount });
  let state = strategy.initialState();
  for (const reward of rewards) state = strategy.update(state, 'a', x, reward);
  return { strategy, state };
};

describe('forgetting (discount γ) for non-stationary experts', () => {
  it('lets a ridge model follow an expert whose quality fell: 200 successes then 30 failures', () => {
    // Act
    const rewards = [...Array.from({ length: 200 }, () => 1), ...Array.from({ length: 30 }, () => 0)];
    const kept = teach(1, rewards);
    const forgetting = teach(0.9, rewards);
    const estimate = ({ strategy, state }: ReturnType<typeof teach>) =>
      strategy.select(['a'], x, state, mulberry32(1)).perCandidate[0]?.estimate ?? Number.NaN;

    // Assess: the stationary model still believes in the old expert; the discounted one has moved on.
    expect(estimate(kept)).toBeGreaterThan(0.8);
    expect(estimate(forgetting)).toBeLessThan(0.1);
    expect(forgetting.state.arms.a?.n).toBe(230);
  });

  it('changes nothing at γ = 1 (the same state as before the option existed), and keeps A⁻¹ the inverse of A', () => {
    // Act
    const plain = createLinUcb({ dimension: 2 });
    let state = plain.initialState();
    for (let i = 0; i < 50; i += 1) state = plain.update(state, 'a', x, i % 3 === 0 ? 1 : 0);
    const once = teach(
      1,
      Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
    );
    const discounted = teach(
      0.95,
      Array.from({ length: 50 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
    );

    // Assess
    expect(once.state).toEqual(state);
    const arm = (discounted.state as LinUcbState).arms.a;
    const [a00 = 0, a01 = 0, a10 = 0, a11 = 0] = arm?.a ?? [];
    const [i00 = 0, i01 = 0, i10 = 0, i11 = 0] = arm?.aInv ?? [];
    expect(a00 * i00 + a01 * i10).toBeCloseTo(1, 9);
    expect(a10 * i01 + a11 * i11).toBeCloseTo(1, 9);
    expect(a00 * i01 + a01 * i11).toBeCloseTo(0, 9);
  });

  it('discounts Beta counts before each reward', () => {
    const strategy = createBernoulliThompson({ discount: 0.5 });
    let state = strategy.initialState();
    state = strategy.update(state, 'a', x, 1);
    state = strategy.update(state, 'a', x, 1);
    state = strategy.update(state, 'a', x, 0);
    // successes: ((0·½ + 1)·½ + 1)·½ + 0 = 0.75; failures: ((0·½ + 0)·½ + 0)·½ + 1 = 1.
    expect(state.arms.a).toEqual({ successes: 0.75, failures: 1 });
  });

  it('has lower regret after the best expert changes than the stationary model, in the same simulated stream', () => {
    // Prepare: expert a is best for 1,500 rounds, then b (success rates 0.8 / 0.2 swap).
    const rate = (expertId: string, round: number) => ((expertId === 'a') === round < 1500 ? 0.8 : 0.2);
    const lateShareOfB = (discount: number) =>
      simulate(createLinUcb({ dimension: 1, discount }), {
        experts: ['a', 'b'],
        successRate: rate,
        rounds: 3000,
        seed: 11,
      }).lateCounts.b ?? 0;

    // Act: the second half is after the change, where b is right.
    const stationary = lateShareOfB(1);
    const forgetting = lateShareOfB(0.98);

    // Assess
    expect(forgetting).toBeGreaterThan(stationary);
    expect(forgetting / 1500).toBeGreaterThan(0.8);
  });

  it('refuses a factor outside [0.5, 1]', () => {
    for (const discount of [0.4, 1.01, Number.NaN]) {
      expect(() => createLinUcb({ dimension: 2, discount })).toThrow(InvalidRouterConfigError);
      expect(() => createBernoulliThompson({ discount })).toThrow(InvalidRouterConfigError);
    }
  });
});
