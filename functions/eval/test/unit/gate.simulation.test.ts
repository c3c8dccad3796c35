import { describe, expect, it } from 'vitest';
import { decideExpert } from '../../src/domain/gate.js';
import type { GateSettings, Verdict } from '../../src/domain/model.js';
import { mulberry32, sampleIndices } from '../support/random.js';

/**
 * The gate against known truth. Each simulated suite draws its tasks' true pass probabilities from a
 * realistic mix (70 % easy, p in [0.9, 1]; 20 % medium, [0.6, 0.8]; 10 % flaky, [0.4, 0.6]); the
 * baseline and the current run are drawn independently from them, so flaky tasks flip with nothing
 * changed. A regression of size d lowers p on a random subset of ⌈n·d / 0.4⌉ tasks, each by
 * n·d / |subset| (≤ 0.4), so the mean pass probability drops by exactly d.
 */

const GATE: GateSettings = { tolerance: 0.05, confidence: 0.99 };
const SIZES = [50, 100, 200, 500, 1000] as const;
const GATES_PER_CELL = 2000;
const TASK_IDS = Array.from({ length: 1000 }, (_, index) => `task-${String(index).padStart(4, '0')}`);

type Tally = Record<Verdict, number>;

const truePassProbability = (random: () => number): number => {
  const kind = random();
  if (kind < 0.7) return 0.9 + 0.1 * random();
  if (kind < 0.9) return 0.6 + 0.2 * random();
  return 0.4 + 0.2 * random();
};

/** The shares of `gates` simulated gates (seeded) that ended in each verdict. */
const simulate = (input: {
  seed: number;
  tasks: number;
  trials: number;
  drop: number;
  gate: GateSettings;
}): Tally => {
  const random = mulberry32(input.seed);
  const passRate = (probability: number): number => {
    let passed = 0;
    for (let trial = 0; trial < input.trials; trial += 1) if (random() < probability) passed += 1;
    return passed / input.trials;
  };
  const tally: Tally = { pass: 0, regression: 0, undecided: 0 };
  for (let gate = 0; gate < GATES_PER_CELL; gate += 1) {
    const before = Array.from({ length: input.tasks }, () => truePassProbability(random));
    const after = [...before];
    if (input.drop > 0) {
      const lowered = Math.ceil((input.tasks * input.drop) / 0.4);
      const step = (input.tasks * input.drop) / lowered;
      for (const index of sampleIndices(random, input.tasks, lowered)) {
        after[index] = (before[index] as number) - step;
      }
    }
    const baseline: Record<string, number> = {};
    const current: Record<string, number> = {};
    for (let index = 0; index < input.tasks; index += 1) {
      const taskId = TASK_IDS[index] as string;
      baseline[taskId] = passRate(before[index] as number);
      current[taskId] = passRate(after[index] as number);
    }
    tally[decideExpert({ expertId: 'e', baseline, current, weights: {}, gate: input.gate }).verdict] += 1;
  }
  return {
    pass: tally.pass / GATES_PER_CELL,
    regression: tally.regression / GATES_PER_CELL,
    undecided: tally.undecided / GATES_PER_CELL,
  };
};

/** Every suite size, each with its own seed. */
const acrossSizes = (trials: number, drop: number, seed: number, gate = GATE) =>
  SIZES.map((tasks, index) => ({ tasks, ...simulate({ seed: seed + index, tasks, trials, drop, gate }) }));

describe('the regression gate against known truth (seeded simulation, t = 0.05 at 99 %)', () => {
  it('with flaky noise and no real change, declares a regression in at most 2 % of gates at every suite size, 1 trial per task', () => {
    // Prepare / Act: 2,000 gates per size, baseline and current drawn from the same probabilities.
    const cells = acrossSizes(1, 0, 1_000);

    // Assess: false positives are regressions; undecided is not one.
    for (const cell of cells) expect(cell.regression, `${cell.tasks} tasks`).toBeLessThanOrEqual(0.02);
  });

  it('with flaky noise and no real change, declares a regression in at most 2 % of gates at every suite size, 3 trials per task', () => {
    // Prepare / Act
    const cells = acrossSizes(3, 0, 2_000);

    // Assess
    for (const cell of cells) expect(cell.regression, `${cell.tasks} tasks`).toBeLessThanOrEqual(0.02);
  });

  it('at a regression of exactly the tolerance, passes it in at most 2 % of gates at every suite size (undecided is not a pass), 1 trial per task', () => {
    // Prepare / Act
    const cells = acrossSizes(1, GATE.tolerance, 3_000);

    // Assess: false negatives are passes.
    for (const cell of cells) expect(cell.pass, `${cell.tasks} tasks`).toBeLessThanOrEqual(0.02);
  });

  it('at a regression of exactly the tolerance, passes it in at most 2 % of gates at every suite size, 3 trials per task, and 1,000 tasks leave at most 1 % undecided', () => {
    // Prepare / Act
    const cells = acrossSizes(3, GATE.tolerance, 4_000);

    // Assess
    for (const cell of cells) expect(cell.pass, `${cell.tasks} tasks`).toBeLessThanOrEqual(0.02);
    expect(cells.at(-1)?.undecided).toBeLessThanOrEqual(0.01);
  });

  it('at a regression of twice the tolerance, passes it in at most 2 % of gates, and 1,000 tasks declare it in at least 99 % of gates, 1 trial per task', () => {
    // Prepare / Act
    const cells = acrossSizes(1, 2 * GATE.tolerance, 5_000);

    // Assess
    for (const cell of cells) expect(cell.pass, `${cell.tasks} tasks`).toBeLessThanOrEqual(0.02);
    expect(cells.at(-1)?.regression).toBeGreaterThanOrEqual(0.99);
  });
});
