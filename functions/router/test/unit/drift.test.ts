import { describe, expect, it } from 'vitest';
import { createBernoulliThompson, createLinUcb, createStatic } from '../../src/domain/bandits/index.js';
import { DRIFT_MIN_REWARDS, detectDrift } from '../../src/domain/drift.js';

const x = Float64Array.of(1, 0.5);
const learnt = (expertId: string, rewards: readonly number[]) =>
  rewards.map((reward) => ({ expertId, x, reward }));

describe('the drift signal: an expert’s recent rewards outside the band its model predicted', () => {
  it('flags an expert a ridge model expects to succeed that now fails, and not one that goes on as expected', () => {
    // Prepare: both experts succeeded 9 times in 10 for 200 rewards.
    const strategy = createLinUcb({ dimension: 2 });
    let state = strategy.initialState();
    for (let i = 0; i < 200; i += 1) {
      state = strategy.update(state, 'a', x, i % 10 === 0 ? 0 : 1);
      state = strategy.update(state, 'b', x, i % 10 === 0 ? 0 : 1);
    }

    // Act: a batch where a fails 8 times in 10, b goes on.
    const findings = detectDrift(state, [
      ...learnt('a', [0, 0, 0, 1, 0, 0, 0, 0, 1, 0]),
      ...learnt('b', [1, 1, 1, 0, 1, 1, 1, 1, 1, 1]),
    ]);

    // Assess
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ expertId: 'a', rewards: 10, observedMean: 0.2 });
    expect(findings[0]?.expectedMean).toBeCloseTo(0.9, 1);
    expect(Math.abs((findings[0]?.observedMean ?? 0) - (findings[0]?.expectedMean ?? 0))).toBeGreaterThan(
      findings[0]?.band ?? Number.POSITIVE_INFINITY,
    );
  });

  it(`says nothing with fewer than ${DRIFT_MIN_REWARDS} rewards of an expert, nor for an expert the model has not seen`, () => {
    const strategy = createBernoulliThompson();
    let state = strategy.initialState();
    for (let i = 0; i < 100; i += 1) state = strategy.update(state, 'a', x, 1);

    expect(
      detectDrift(
        state,
        learnt(
          'a',
          Array.from({ length: DRIFT_MIN_REWARDS - 1 }, () => 0),
        ),
      ),
    ).toEqual([]);
    expect(detectDrift(state, learnt('new', [0, 0, 0, 0, 0, 0]))).toEqual([]);
    expect(detectDrift(state, learnt('a', [0, 0, 0, 0, 0, 0]))).toMatchObject([
      { expertId: 'a', rewards: 6 },
    ]);
  });

  it('rarely cries wolf: 1,000 batches of 10 from an unchanged expert give at most a handful of signals', () => {
    // Prepare: running means (greedy), the expert succeeds 7 times in 10 before and after.
    const strategy = createStatic({ defaultExpertId: 'a' });
    let state = strategy.initialState();
    for (let i = 0; i < 500; i += 1) state = strategy.update(state, 'a', x, i % 10 < 7 ? 1 : 0);
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };

    // Act
    let signals = 0;
    for (let batch = 0; batch < 1000; batch += 1) {
      const rewards = Array.from({ length: 10 }, () => (random() < 0.7 ? 1 : 0));
      signals += detectDrift(state, learnt('a', rewards)).length;
    }

    // Assess: a 3-sigma band with the largest reward noise: well under 1 %.
    expect(signals).toBeLessThanOrEqual(10);
  });
});
