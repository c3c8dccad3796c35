import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideExpert } from '../../src/domain/gate.js';
import type { GateSettings } from '../../src/domain/model.js';

const rateArb = fc.oneof(
  fc.constantFrom(0, 1),
  fc.integer({ min: 0, max: 3 }).map((passed) => passed / 3),
  fc.double({ min: 0, max: 1, noNaN: true }),
);
const gateArb: fc.Arbitrary<GateSettings> = fc.record({
  tolerance: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
  confidence: fc.double({ min: 0.8, max: 0.999, noNaN: true }),
});
const taskArb = fc.record({
  baseline: rateArb,
  current: rateArb,
  weight: fc.oneof(fc.constant(1), fc.double({ min: 0.1, max: 10, noNaN: true })),
});

interface Task {
  readonly baseline: number;
  readonly current: number;
  readonly weight: number;
}

const decide = (tasks: readonly Task[], gate: GateSettings) => {
  const ids = tasks.map((_, index) => `task-${index}`);
  return decideExpert({
    expertId: 'e',
    baseline: Object.fromEntries(tasks.map((task, index) => [ids[index], task.baseline])),
    current: Object.fromEntries(tasks.map((task, index) => [ids[index], task.current])),
    weights: Object.fromEntries(tasks.map((task, index) => [ids[index], task.weight])),
    gate,
  });
};

describe('the regression gate under any suite (fast-check)', () => {
  it('never declares a regression when the current run is identical to the baseline', () => {
    fc.assert(
      fc.property(fc.array(taskArb, { minLength: 1, maxLength: 200 }), gateArb, (tasks, gate) => {
        // Act
        const verdict = decide(
          tasks.map((task) => ({ ...task, current: task.baseline })),
          gate,
        );

        // Assess
        expect(verdict.verdict).not.toBe('regression');
        expect(verdict.delta).toBe(0);
      }),
    );
  });

  it('is never undecided when the interval is narrower than the tolerance (2·z·SE < t)', () => {
    fc.assert(
      fc.property(fc.array(taskArb, { minLength: 1, maxLength: 300 }), gateArb, (tasks, gate) => {
        // Act
        const verdict = decide(tasks, gate);

        // Assess
        const [low, high] = verdict.interval;
        if (high - low < gate.tolerance) expect(verdict.verdict).not.toBe('undecided');
        else if (verdict.verdict === 'undecided') expect(high - low).toBeGreaterThanOrEqual(gate.tolerance);
      }),
    );
  });

  it('keeps the point estimate inside its interval, and the rates’ difference as the delta', () => {
    fc.assert(
      fc.property(fc.array(taskArb, { minLength: 1, maxLength: 200 }), gateArb, (tasks, gate) => {
        // Act
        const verdict = decide(tasks, gate);

        // Assess
        expect(verdict.interval[0]).toBeLessThanOrEqual(verdict.delta);
        expect(verdict.delta).toBeLessThanOrEqual(verdict.interval[1]);
        expect(verdict.delta).toBeCloseTo(verdict.currentRate - verdict.baselineRate, 12);
      }),
    );
  });

  it('never turns a pass into a regression when tasks that failed now pass (single trials, equal weights, confidence up to 0.99)', () => {
    // The interval's width grows with the spread of the differences, so in general a lone outlier can
    // widen it more than it lowers the drop (e.g. 169 tasks that each lost exactly 3 points, one that
    // gained 62.5 and then 100). With one trial per task (differences −1, 0, +1) an exhaustive search up
    // to 600 tasks found no such case at 99 % or below; this property holds the gate to it.
    const binaryTask = fc.record({
      baseline: fc.constantFrom(0, 1),
      current: fc.constantFrom(0, 1),
      weight: fc.constant(1),
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(binaryTask, fc.boolean()), { minLength: 1, maxLength: 300 }),
        fc.record({
          tolerance: fc.double({ min: 0.01, max: 0.5, noNaN: true }),
          confidence: fc.double({ min: 0.8, max: 0.99, noNaN: true }),
        }),
        (pairs, gate) => {
          // Prepare: some of the tasks failing now are raised to pass.
          const before = pairs.map(([task]) => task);
          const after = pairs.map(([task, raise]) => (raise ? { ...task, current: 1 } : task));

          // Act
          const first = decide(before, gate);
          const second = decide(after, gate);

          // Assess
          if (first.verdict === 'pass') expect(second.verdict).not.toBe('regression');
        },
      ),
      { numRuns: 500 },
    );
  });
});
