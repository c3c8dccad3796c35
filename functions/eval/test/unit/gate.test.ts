import { describe, expect, it } from 'vitest';
import {
  decideExpert,
  infrastructureFailed,
  inverseNormal,
  metricsOf,
  minimumDecidableTasks,
  passRatesOf,
  runStatus,
  severityOf,
  weightsOf,
} from '../../src/domain/gate.js';
import type {
  ExpertVerdict,
  GateSettings,
  TaskResult,
  TrialErrorKind,
  TrialOutcome,
} from '../../src/domain/model.js';

const GATE: GateSettings = { tolerance: 0.05, confidence: 0.99 };
const Z99 = 2.326347874040841;

/** n tasks (`task-000`...), each with the rate `rateOf(index)`. */
const rates = (n: number, rateOf: (index: number) => number): Record<string, number> =>
  Object.fromEntries(
    Array.from({ length: n }, (_, index) => [`task-${String(index).padStart(3, '0')}`, rateOf(index)]),
  );

/** The naive reference: the plain paired-difference SE of the differences plus the pseudo-tasks +1 and −1. */
const naiveStandardError = (differences: readonly number[]): number => {
  const augmented = [...differences, 1, -1];
  const mean = augmented.reduce((sum, x) => sum + x, 0) / augmented.length;
  const variance = augmented.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (augmented.length - 1);
  return Math.sqrt(variance / augmented.length);
};

const scored = (pass: boolean, score = pass ? 1 : 0, latencyMs = 100): TrialOutcome => ({
  kind: 'scored',
  score,
  pass,
  latencyMs,
  attempts: 1,
});
const failed = (error: TrialErrorKind): TrialOutcome => ({
  kind: 'error',
  error,
  message: error,
  attempts: 3,
  latencyMs: 5000,
});
const task = (expertId: string, taskId: string, trials: TrialOutcome[], weight = 1): TaskResult => ({
  taskId,
  expertId,
  weight,
  trials,
});

const verdictWithDelta = (delta: number): ExpertVerdict => ({
  expertId: 'e',
  verdict: 'regression',
  baselineRate: 0.9,
  currentRate: 0.9 + delta,
  delta,
  interval: [delta - 0.01, delta + 0.01],
  tasksCompared: 100,
  flips: [],
  reason: '',
});

describe('inverseNormal', () => {
  it('matches the standard normal quantiles to 1e-6 (0.975 → 1.959964, 0.99 → 2.326348, 0.999 → 3.090232)', () => {
    expect(inverseNormal(0.975)).toBeCloseTo(1.959964, 6);
    expect(inverseNormal(0.99)).toBeCloseTo(2.326348, 6);
    expect(inverseNormal(0.999)).toBeCloseTo(3.090232, 6);
  });

  it('is 0 at one half, antisymmetric, and accurate far in the tails', () => {
    expect(inverseNormal(0.5)).toBe(0);
    expect(inverseNormal(0.025)).toBeCloseTo(-inverseNormal(0.975), 12);
    expect(inverseNormal(1e-10)).toBeCloseTo(-6.361340902404056, 9);
  });

  it('refuses probabilities outside (0, 1)', () => {
    for (const p of [0, 1, -0.1, 1.5, Number.NaN]) expect(() => inverseNormal(p)).toThrow(RangeError);
  });
});

describe('decideExpert', () => {
  it('passes when every task agrees on a large suite: the drop is confidently below the tolerance', () => {
    // Prepare: 200 tasks that pass in both runs.
    const all = rates(200, () => 1);

    // Act
    const verdict = decideExpert({ expertId: 'e', baseline: all, current: all, weights: {}, gate: GATE });

    // Assess: the pseudo-tasks keep SE above 0, so the upper bound is small but positive.
    expect(verdict).toMatchObject({ verdict: 'pass', delta: 0, tasksCompared: 200, flips: [] });
    expect(verdict.reason).toBe('within tolerance: the drop is at most 1.6 points (99 %)');
  });

  it('declares a regression when the drop is confidently above 0 and a drop of the tolerance is not ruled out', () => {
    // Prepare: 200 tasks passing in the baseline; 20 of them fail now (a 10-point drop).
    const baseline = rates(200, () => 1);
    const current = rates(200, (index) => (index < 20 ? 0 : 1));

    // Act
    const verdict = decideExpert({ expertId: 'e', baseline, current, weights: {}, gate: GATE });

    // Assess
    expect(verdict).toMatchObject({ verdict: 'regression', baselineRate: 1, currentRate: 0.9 });
    expect(verdict.delta).toBeCloseTo(-0.1, 12);
    expect(verdict.flips).toHaveLength(20);
    expect(verdict.flips[0]).toEqual({ taskId: 'task-000', baseline: 1, current: 0 });
    expect(verdict.reason).toBe(
      'a drop of 10.0 points (at least 4.8, at most 15.2, 99 % each side) exceeds what the 5.0-point tolerance allows',
    );
  });

  it('is undecided on a suite too small to tell, and says how many tasks would decide', () => {
    // Prepare: 20 tasks, one of which fails now (a 5-point drop).
    const baseline = rates(20, () => 1);
    const current = rates(20, (index) => (index === 0 ? 0 : 1));

    // Act
    const verdict = decideExpert({ expertId: 'e', baseline, current, weights: {}, gate: GATE });

    // Assess: sd of the 22 augmented differences ≈ 0.3751, so (2 · 2.3263 · 0.3751 / 0.05)² ≈ 1218.2 → 1219.
    const [low, high] = verdict.interval;
    expect(verdict.verdict).toBe('undecided');
    expect(high - low).toBeGreaterThanOrEqual(GATE.tolerance);
    expect(verdict.reason).toBe(
      'too small to decide: the drop could be anywhere from −13.6 to 23.6 points (99 % each side) against a 5.0-point tolerance; about 1219 tasks would decide',
    );
  });

  it('gives the interval on current − baseline as [−U, −L], the half-width z·SE of the plain paired SE with the pseudo-tasks', () => {
    // Prepare: 50 tasks with mixed outcomes.
    const baseline = rates(50, (index) => (index % 3 === 0 ? 0.5 : 1));
    const current = rates(50, (index) => (index % 4 === 0 ? 0 : index % 5 === 0 ? 0.5 : 1));
    const differences = Object.keys(baseline).map((id) => (current[id] as number) - (baseline[id] as number));
    const delta = differences.reduce((sum, x) => sum + x, 0) / differences.length;

    // Act
    const verdict = decideExpert({ expertId: 'e', baseline, current, weights: {}, gate: GATE });

    // Assess: drop = −delta, L = drop − z·SE, U = drop + z·SE, interval = [−U, −L].
    const halfWidth = Z99 * naiveStandardError(differences);
    expect(verdict.delta).toBeCloseTo(delta, 12);
    expect(verdict.interval[0]).toBeCloseTo(-(-delta + halfWidth), 12);
    expect(verdict.interval[1]).toBeCloseTo(-(-delta - halfWidth), 12);
  });

  it('weights tasks in the rates and the difference, and scaling every weight changes nothing', () => {
    // Prepare: task a (weight 3) fails now; b (weight 1) still passes.
    const baseline = { a: 1, b: 1 };
    const current = { a: 0, b: 1 };

    // Act
    const weighted = decideExpert({ expertId: 'e', baseline, current, weights: { a: 3, b: 1 }, gate: GATE });
    const scaled = decideExpert({ expertId: 'e', baseline, current, weights: { a: 30, b: 10 }, gate: GATE });
    const equal = decideExpert({ expertId: 'e', baseline, current, weights: { a: 7, b: 7 }, gate: GATE });
    const unweighted = decideExpert({ expertId: 'e', baseline, current, weights: {}, gate: GATE });

    // Assess
    expect(weighted).toMatchObject({ baselineRate: 1, currentRate: 0.25, delta: -0.75 });
    expect(scaled.interval[0]).toBeCloseTo(weighted.interval[0], 12);
    expect(scaled.interval[1]).toBeCloseTo(weighted.interval[1], 12);
    expect(equal.interval[0]).toBeCloseTo(unweighted.interval[0], 12);
    expect(equal.interval[1]).toBeCloseTo(unweighted.interval[1], 12);
    expect(unweighted.delta).toBe(-0.5);
  });

  it('matches the documented weighted SE: s² = Σ w (x − m)² / (W − W₂ / W) over the augmented set, over n_eff = W² / W₂', () => {
    // Prepare: three tasks of weights 1, 2 and 5; pseudo-tasks of the mean weight 8 / 3.
    const baseline = { a: 1, b: 0.5, c: 1 };
    const current = { a: 0, b: 1, c: 1 };
    const weights = { a: 1, b: 2, c: 5 };
    const pseudo = 8 / 3;
    const xs = [-1, 0.5, 0, 1, -1];
    const ws = [1, 2, 5, pseudo, pseudo];
    const total = ws.reduce((sum, w) => sum + w, 0);
    const squares = ws.reduce((sum, w) => sum + w * w, 0);
    const mean = xs.reduce((sum, x, index) => sum + (ws[index] as number) * x, 0) / total;
    const spread = xs.reduce((sum, x, index) => sum + (ws[index] as number) * (x - mean) ** 2, 0);
    const variance = spread / (total - squares / total);
    const standardError = Math.sqrt(variance / (total ** 2 / squares));

    // Act
    const verdict = decideExpert({ expertId: 'e', baseline, current, weights, gate: GATE });

    // Assess
    expect(verdict.delta).toBeCloseTo((-1 + 2 * 0.5) / 8, 12);
    expect((verdict.interval[1] - verdict.interval[0]) / 2).toBeCloseTo(Z99 * standardError, 12);
  });

  it('leaves quarantined tasks out of the rates, the interval and the flips', () => {
    // Prepare: 200 tasks; the 20 that fail now are quarantined.
    const baseline = rates(200, () => 1);
    const current = rates(200, (index) => (index < 20 ? 0 : 1));
    const excluded = new Set(Object.keys(current).slice(0, 20));

    // Act
    const verdict = decideExpert({ expertId: 'e', baseline, current, weights: {}, excluded, gate: GATE });

    // Assess
    expect(verdict).toMatchObject({ verdict: 'pass', tasksCompared: 180, currentRate: 1, flips: [] });
  });

  it('compares only the tasks both runs scored, and lists flips by taskId', () => {
    // Prepare
    const baseline = { c: 1, a: 0, only_baseline: 1 };
    const current = { only_current: 0, c: 0.4, a: 0.5 };

    // Act
    const verdict = decideExpert({ expertId: 'e', baseline, current, weights: {}, gate: GATE });

    // Assess: a went from fail to pass (0.5 passes), c from pass to fail.
    expect(verdict.tasksCompared).toBe(2);
    expect(verdict.flips).toEqual([
      { taskId: 'a', baseline: 0, current: 0.5 },
      { taskId: 'c', baseline: 1, current: 0.4 },
    ]);
  });

  it('is undecided and says so when no task is in common, or every common task is quarantined', () => {
    // Act
    const disjoint = decideExpert({
      expertId: 'e',
      baseline: { a: 1 },
      current: { b: 1 },
      weights: {},
      gate: GATE,
    });
    const quarantined = decideExpert({
      expertId: 'e',
      baseline: { a: 1 },
      current: { a: 0 },
      weights: {},
      excluded: new Set(['a']),
      gate: GATE,
    });

    // Assess
    expect(disjoint).toMatchObject({ verdict: 'undecided', tasksCompared: 0, interval: [-1, 1] });
    expect(disjoint.reason).toBe('no task in common between the baseline and this run: nothing to compare');
    expect(quarantined.reason).toBe(
      'no task in common between the baseline and this run outside quarantine: nothing to compare',
    );
  });

  it('says how much the pass rate rose when the whole interval is an improvement', () => {
    // Prepare: 200 tasks failing in the baseline, passing now.
    const verdict = decideExpert({
      expertId: 'e',
      baseline: rates(200, () => 0),
      current: rates(200, () => 1),
      weights: {},
      gate: GATE,
    });

    // Assess
    expect(verdict.verdict).toBe('pass');
    expect(verdict.reason).toMatch(
      /^within tolerance: the pass rate rose by at least \d+\.\d points \(99 %\)$/,
    );
  });

  it('refuses rates outside [0, 1], weights that are not positive, and gate settings out of range', () => {
    expect(() =>
      decideExpert({ expertId: 'e', baseline: { a: 1.2 }, current: { a: 1 }, weights: {}, gate: GATE }),
    ).toThrow(/task a: pass rates must be in \[0, 1\]/);
    expect(() =>
      decideExpert({ expertId: 'e', baseline: { a: 1 }, current: { a: 1 }, weights: { a: 0 }, gate: GATE }),
    ).toThrow(/task a: a weight must be > 0/);
    expect(() =>
      decideExpert({
        expertId: 'e',
        baseline: {},
        current: {},
        weights: {},
        gate: { tolerance: 0.05, confidence: 1 },
      }),
    ).toThrow(/confidence/);
  });
});

describe('minimumDecidableTasks', () => {
  it('is the smallest n with 2·z·sd / √n < t: 8,660 tasks for t = 0.05 at 99 % in the worst case, fewer for a smaller spread', () => {
    expect(minimumDecidableTasks(GATE)).toBe(8660);
    expect(minimumDecidableTasks({ tolerance: 0.1, confidence: 0.99 })).toBe(2165);
    expect(minimumDecidableTasks(GATE, 0.5)).toBe(2165);
    expect(minimumDecidableTasks(GATE, 0)).toBe(1);
  });

  it('decides every suite of differences ±1 (the widest spread) at that size, whatever the split, and not at half of it', () => {
    // Prepare: a looser gate keeps the suite small (165 tasks); `drops` tasks go from pass to fail, the rest the other way.
    const gate: GateSettings = { tolerance: 0.2, confidence: 0.9 };
    const split = (n: number, drops: number) =>
      decideExpert({
        expertId: 'e',
        baseline: rates(n, (index) => (index < drops ? 1 : 0)),
        current: rates(n, (index) => (index < drops ? 0 : 1)),
        weights: {},
        gate,
      }).verdict;
    const size = minimumDecidableTasks(gate);
    const splits = (n: number) => Array.from({ length: n + 1 }, (_, drops) => split(n, drops));

    // Act
    const atSize = splits(size);
    const atHalf = splits(Math.floor(size / 2));

    // Assess
    expect(size).toBe(165);
    expect(atSize).not.toContain('undecided');
    expect(atHalf).toContain('undecided');
  });
});

describe('runStatus', () => {
  const verdict = (value: ExpertVerdict['verdict']): ExpertVerdict => ({
    ...verdictWithDelta(0),
    verdict: value,
  });

  it('puts an infrastructure failure first, then a regression, then undecided, then pass', () => {
    expect(runStatus([verdict('regression')], true)).toBe('infrastructure_failure');
    expect(runStatus([verdict('pass'), verdict('undecided'), verdict('regression')], false)).toBe(
      'regression',
    );
    expect(runStatus([verdict('pass'), verdict('undecided')], false)).toBe('undecided');
    expect(runStatus([verdict('pass'), verdict('pass')], false)).toBe('pass');
  });

  it('passes a run with no verdict (no baseline yet): there is nothing to regress from', () => {
    expect(runStatus([], false)).toBe('pass');
  });
});

describe('severityOf', () => {
  it('grades the drop in multiples of the tolerance: under 2t minor, under 4t major, else critical', () => {
    expect(severityOf(verdictWithDelta(-0.06), 0.05)).toBe('minor');
    expect(severityOf(verdictWithDelta(-0.1), 0.05)).toBe('major');
    expect(severityOf(verdictWithDelta(-0.19), 0.05)).toBe('major');
    expect(severityOf(verdictWithDelta(-0.2), 0.05)).toBe('critical');
  });
});

describe('run metrics', () => {
  const results: TaskResult[] = [
    task('e2', 'a', [scored(true)]),
    task('e1', 'a', [scored(true, 1, 100), scored(false, 0.5, 300)], 3),
    task('e1', 'b', [scored(false, 0.2, 200), failed('timeout')]),
    task('e1', 'c', [failed('scorer'), failed('unavailable')], 2),
  ];

  it('measures, per expert, weighted pass rate and mean score over the tasks with a scored trial', () => {
    // Act
    const metrics = metricsOf(results);

    // Assess: e1's a weighs 3 (rate 0.5, score 0.75), b weighs 1 (rate 0, score 0.2); c has no scored trial.
    expect(metrics.map((metric) => metric.expertId)).toEqual(['e1', 'e2']);
    expect(metrics[0]).toEqual({
      expertId: 'e1',
      passRate: 1.5 / 4,
      meanScore: (3 * 0.75 + 0.2) / 4,
      tasks: 2,
      scoredTrials: 3,
      errorTrials: 3,
      meanLatencyMs: 200,
    });
    expect(metrics[1]).toMatchObject({ passRate: 1, tasks: 1, errorTrials: 0 });
  });

  it('gives pass rates per expert and task, leaving out tasks with no scored trial, and the weights per task', () => {
    expect(passRatesOf(results)).toEqual({ e1: { a: 0.5, b: 0 }, e2: { a: 1 } });
    expect(weightsOf(results)).toEqual({ a: 1, b: 1, c: 2 });
  });

  it('calls the run an infrastructure failure above 10 % timeouts and unavailables for an expert, or at any refusal', () => {
    // Prepare: ten trials for one expert.
    const ofErrors = (errors: TrialErrorKind[]): TaskResult[] => [
      task('e', 'a', [
        ...errors.map(failed),
        ...Array.from({ length: 10 - errors.length }, () => scored(true)),
      ]),
      task(
        'other',
        'a',
        Array.from({ length: 10 }, () => scored(true)),
      ),
    ];

    // Act / Assess: 1 in 10 is not above 10 %; 2 are; scorer errors do not count; one refusal does.
    expect(infrastructureFailed(ofErrors(['timeout']))).toBe(false);
    expect(infrastructureFailed(ofErrors(['timeout', 'unavailable']))).toBe(true);
    expect(infrastructureFailed(ofErrors(['scorer', 'scorer', 'scorer']))).toBe(false);
    expect(infrastructureFailed(ofErrors(['refused']))).toBe(true);
    expect(infrastructureFailed(ofErrors(['timeout', 'unavailable']), 0.25)).toBe(false);
  });
});
