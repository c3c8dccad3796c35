/**
 * The regression gate: statistics, not coin flips. Per expert, over the tasks both the baseline and
 * this run scored (quarantined tasks left out), the gate estimates the paired difference in weighted
 * pass rate and puts a one-sided interval at the gate's `confidence` on each side of the drop:
 *
 * - x_i = current_i − baseline_i per task, w_i its weight; D̂ = Σ w_i x_i / Σ w_i; drop = −D̂.
 * - SE: the standard error of that weighted mean, computed as if two pseudo-tasks were added, one
 *   with x = +1 and one with x = −1, each of the mean weight w̄ = Σw / n (an Agresti–Min-like guard:
 *   SE stays above 0 when every task agrees, and small suites widen). Over the augmented set A
 *   (W = Σ_A w, W₂ = Σ_A w², m = Σ_A w x / W):
 *   SE² = s² / n_eff, with s² = Σ_A w (x − m)² / (W − W₂ / W) and n_eff = W² / W₂.
 *   With equal weights this is the plain paired-difference SE, s / √N with s² = Σ (x − m)² / (N − 1),
 *   on the N = n + 2 augmented values.
 * - z: the standard normal quantile at `confidence` (one-sided: 0.99 → 2.326).
 * - L = drop − z·SE, U = drop + z·SE. `pass` when U < t; `regression` when L > 0 and U ≥ t;
 *   otherwise `undecided` (L ≤ 0 and U ≥ t, which needs 2·z·SE ≥ t: the suite is too small to tell).
 *
 * So at a true drop of t or more, P(pass) ≤ 1 − confidence; with no change, P(regression) ≤
 * 1 − confidence (to the normal approximation: gate.simulation.test.ts measures both); and whenever
 * 2·z·SE < t the verdict is pass or regression, never undecided.
 */
import type {
  ExpertMetrics,
  ExpertVerdict,
  GateSettings,
  PassRates,
  RunStatus,
  TaskFlip,
  TaskResult,
  TrialOutcome,
} from './model.js';

/** One task compared: its paired difference and weight. */
interface Pair {
  readonly taskId: string;
  readonly baseline: number;
  readonly current: number;
  readonly weight: number;
}

/** What the interval is drawn from (see the module comment for the formulas). */
interface PairedEstimate {
  readonly baselineRate: number;
  readonly currentRate: number;
  /** D̂ = current − baseline, weighted. */
  readonly difference: number;
  readonly standardError: number;
  /** s: the per-task standard deviation of x over the augmented set. */
  readonly perTaskSd: number;
  /** (Σw)² / Σw² over the real tasks: n when the weights are equal. */
  readonly effectiveTasks: number;
}

// Wichura's AS241 (PPND16) coefficients, lowest degree first: accurate to about 1e-16.
const CENTRAL_NUMERATOR = [
  3.3871328727963665, 133.14166789178438, 1971.5909503065513, 13731.69376550946, 45921.95393154987,
  67265.7709270087, 33430.57558358813, 2509.0809287301227,
];
const CENTRAL_DENOMINATOR = [
  1, 42.31333070160091, 687.1870074920579, 5394.196021424751, 21213.794301586597, 39307.89580009271,
  28729.085735721943, 5226.495278852854,
];
const INTERMEDIATE_NUMERATOR = [
  1.4234371107496835, 4.630337846156546, 5.769497221460691, 3.6478483247632045, 1.2704582524523684,
  0.2417807251774506, 0.022723844989269184, 0.0007745450142783414,
];
const INTERMEDIATE_DENOMINATOR = [
  1, 2.053191626637759, 1.6763848301838038, 0.6897673349851, 0.14810397642748008, 0.015198666563616457,
  0.0005475938084995345, 1.0507500716444169e-9,
];
const TAIL_NUMERATOR = [
  6.657904643501103, 5.463784911164114, 1.7848265399172913, 0.29656057182850487, 0.026532189526576124,
  0.0012426609473880784, 0.000027115555687434876, 2.0103343992922881e-7,
];
const TAIL_DENOMINATOR = [
  1, 0.599832206555888, 0.1369298809227358, 0.014875361290850615, 0.0007868691311456133,
  0.000018463183175100548, 1.421511758316446e-7, 2.0442631033899397e-15,
];

const polynomial = (coefficients: readonly number[], x: number): number =>
  coefficients.reduceRight((sum, coefficient) => sum * x + coefficient, 0);

/**
 * The standard normal quantile Φ⁻¹(p) (Wichura's AS241, about 1e-16): 0.975 → 1.959964,
 * 0.99 → 2.326348. Throws a RangeError outside (0, 1).
 */
export const inverseNormal = (p: number): number => {
  if (!(p > 0 && p < 1)) throw new RangeError(`inverseNormal: p must be in (0, 1), got ${p}`);
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * polynomial(CENTRAL_NUMERATOR, r)) / polynomial(CENTRAL_DENOMINATOR, r);
  }
  let r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  let value: number;
  if (r <= 5) {
    r -= 1.6;
    value = polynomial(INTERMEDIATE_NUMERATOR, r) / polynomial(INTERMEDIATE_DENOMINATOR, r);
  } else {
    r -= 5;
    value = polynomial(TAIL_NUMERATOR, r) / polynomial(TAIL_DENOMINATOR, r);
  }
  return q < 0 ? -value : value;
};

const zOf = (gate: GateSettings): number => {
  if (!(gate.confidence > 0.5 && gate.confidence < 1)) {
    throw new RangeError(`gate confidence must be in (0.5, 1), got ${gate.confidence}`);
  }
  if (!(gate.tolerance > 0 && gate.tolerance < 1)) {
    throw new RangeError(`gate tolerance must be in (0, 1), got ${gate.tolerance}`);
  }
  return inverseNormal(gate.confidence);
};

/**
 * The number of equal-weight tasks at which the gate decides when the per-task differences have
 * standard deviation `perTaskSd`: the smallest n with 2·z·sd / √n < t. With the default sd of 1 (the
 * most a difference of two rates in [0, 1] can spread, pseudo-tasks included, since the SE is then at
 * most 1 / √(n + 1)), every equal-weight suite of this size decides, whatever its outcomes:
 * t = 0.05 at 99 % → 8,660 tasks. Real suites decide far sooner: sd is about 0.45 when a tenth of
 * the tasks are coin flips.
 */
export const minimumDecidableTasks = (gate: GateSettings, perTaskSd = 1): number => {
  const z = zOf(gate);
  if (!(perTaskSd >= 0)) throw new RangeError(`perTaskSd must be ≥ 0, got ${perTaskSd}`);
  return Math.floor(((2 * z * perTaskSd) / gate.tolerance) ** 2) + 1;
};

const estimate = (pairs: readonly Pair[]): PairedEstimate => {
  let weightSum = 0;
  let weightSquares = 0;
  let baselineSum = 0;
  let currentSum = 0;
  for (const pair of pairs) {
    weightSum += pair.weight;
    weightSquares += pair.weight * pair.weight;
    baselineSum += pair.weight * pair.baseline;
    currentSum += pair.weight * pair.current;
  }
  const baselineRate = baselineSum / weightSum;
  const currentRate = currentSum / weightSum;
  const difference = (currentSum - baselineSum) / weightSum;
  // The two pseudo-tasks (x = +1 and x = −1, each of the mean weight) add nothing to Σ w x.
  const pseudoWeight = weightSum / pairs.length;
  const augmentedWeight = weightSum + 2 * pseudoWeight;
  const augmentedSquares = weightSquares + 2 * pseudoWeight * pseudoWeight;
  const augmentedMean = (currentSum - baselineSum) / augmentedWeight;
  let squares = pseudoWeight * ((1 - augmentedMean) ** 2 + (1 + augmentedMean) ** 2);
  for (const pair of pairs) squares += pair.weight * (pair.current - pair.baseline - augmentedMean) ** 2;
  const variance = squares / (augmentedWeight - augmentedSquares / augmentedWeight);
  const augmentedEffective = (augmentedWeight * augmentedWeight) / augmentedSquares;
  return {
    baselineRate,
    currentRate,
    difference,
    standardError: Math.sqrt(variance / augmentedEffective),
    perTaskSd: Math.sqrt(variance),
    effectiveTasks: (weightSum * weightSum) / weightSquares,
  };
};

/** Points of pass rate, signed with a true minus (`−4.0`), never `−0.0`. */
const points = (share: number): string => {
  const text = (share * 100).toFixed(1);
  if (Number(text) === 0) return '0.0';
  return text.startsWith('-') ? `−${text.slice(1)}` : text;
};

const percent = (confidence: number): string => `${Number((confidence * 100).toFixed(2))} %`;

const isRate = (rate: number): boolean => rate >= 0 && rate <= 1;

export interface DecideExpertInput {
  readonly expertId: string;
  /** taskId → the baseline's pass rate. */
  readonly baseline: Readonly<Record<string, number>>;
  /** taskId → this run's pass rate. */
  readonly current: Readonly<Record<string, number>>;
  /** taskId → weight (> 0); a task without one weighs 1. */
  readonly weights: Readonly<Record<string, number>>;
  /** Tasks kept out of the gate (quarantined). @default none */
  readonly excluded?: ReadonlySet<string>;
  readonly gate: GateSettings;
}

/**
 * The gate's verdict for one expert (the rule is in the module comment). `flips` lists the compared
 * tasks whose pass state (rate ≥ 0.5) changed, by taskId; excluded tasks are neither compared nor
 * listed. `interval` is on current − baseline, i.e. [−U, −L].
 */
export const decideExpert = (input: DecideExpertInput): ExpertVerdict => {
  const { expertId, baseline, current, weights, gate } = input;
  const z = zOf(gate);
  const tolerance = gate.tolerance;
  const excluded = input.excluded ?? new Set<string>();
  const pairs: Pair[] = [];
  let quarantined = 0;
  for (const taskId of Object.keys(current).sort()) {
    const baselineRate = baseline[taskId];
    const currentRate = current[taskId];
    if (baselineRate === undefined || currentRate === undefined) continue;
    if (excluded.has(taskId)) {
      quarantined += 1;
      continue;
    }
    const weight = weights[taskId] ?? 1;
    if (!(weight > 0 && Number.isFinite(weight))) {
      throw new RangeError(`expert ${expertId}, task ${taskId}: a weight must be > 0, got ${weight}`);
    }
    if (!(isRate(baselineRate) && isRate(currentRate))) {
      throw new RangeError(
        `expert ${expertId}, task ${taskId}: pass rates must be in [0, 1], got ${baselineRate} (baseline) and ${currentRate} (current)`,
      );
    }
    pairs.push({ taskId, baseline: baselineRate, current: currentRate, weight });
  }
  if (pairs.length === 0) {
    return {
      expertId,
      verdict: 'undecided',
      baselineRate: 0,
      currentRate: 0,
      delta: 0,
      interval: [-1, 1],
      tasksCompared: 0,
      flips: [],
      reason: `no task in common between the baseline and this run${quarantined > 0 ? ' outside quarantine' : ''}: nothing to compare`,
    };
  }

  const paired = estimate(pairs);
  const drop = -paired.difference;
  const halfWidth = z * paired.standardError;
  const lower = drop - halfWidth;
  const upper = drop + halfWidth;
  const confidence = percent(gate.confidence);
  let verdict: ExpertVerdict['verdict'];
  let reason: string;
  if (upper < tolerance) {
    verdict = 'pass';
    reason =
      upper < 0
        ? `within tolerance: the pass rate rose by at least ${points(-upper)} points (${confidence})`
        : `within tolerance: the drop is at most ${points(upper)} points (${confidence})`;
  } else if (lower > 0 || 2 * halfWidth < tolerance) {
    // The second test only guards rounding: with 2·z·SE < t, U ≥ t already implies L > 0.
    verdict = 'regression';
    reason = `a drop of ${points(drop)} points (at least ${points(lower)}, at most ${points(upper)}, ${confidence} each side) exceeds what the ${points(tolerance)}-point tolerance allows`;
  } else {
    verdict = 'undecided';
    const needed = Math.ceil(
      (minimumDecidableTasks(gate, paired.perTaskSd) * pairs.length) / paired.effectiveTasks,
    );
    reason = `too small to decide: the drop could be anywhere from ${points(lower)} to ${points(upper)} points (${confidence} each side) against a ${points(tolerance)}-point tolerance; about ${needed} tasks would decide`;
  }

  const flips: TaskFlip[] = pairs
    .filter((pair) => pair.baseline >= 0.5 !== pair.current >= 0.5)
    .map((pair) => ({ taskId: pair.taskId, baseline: pair.baseline, current: pair.current }));
  return {
    expertId,
    verdict,
    baselineRate: paired.baselineRate,
    currentRate: paired.currentRate,
    delta: paired.difference,
    interval: [-upper, -lower],
    tasksCompared: pairs.length,
    flips,
    reason,
  };
};

/**
 * The run's status, the worst of its experts': an infrastructure failure first (the run measured the
 * platform, not the experts), then a regression, then undecided, then pass. No verdict at all (no
 * baseline yet) is a pass: there is nothing to regress from.
 */
export const runStatus = (verdicts: readonly ExpertVerdict[], infrastructureFailure: boolean): RunStatus => {
  if (infrastructureFailure) return 'infrastructure_failure';
  if (verdicts.some((verdict) => verdict.verdict === 'regression')) return 'regression';
  if (verdicts.some((verdict) => verdict.verdict === 'undecided')) return 'undecided';
  return 'pass';
};

/**
 * How bad a regression is, for the `eval_regression` event, by its drop in multiples of the
 * tolerance t: under 2t minor, under 4t major, else critical.
 */
export const severityOf = (verdict: ExpertVerdict, tolerance: number): 'minor' | 'major' | 'critical' => {
  const drop = -verdict.delta;
  if (drop < 2 * tolerance) return 'minor';
  if (drop < 4 * tolerance) return 'major';
  return 'critical';
};

type Scored = Extract<TrialOutcome, { kind: 'scored' }>;

const scoredTrials = (result: TaskResult): Scored[] =>
  result.trials.filter((trial): trial is Scored => trial.kind === 'scored');

const byExpert = (results: readonly TaskResult[]): Map<string, TaskResult[]> => {
  const experts = new Map<string, TaskResult[]>();
  for (const result of results) {
    const list = experts.get(result.expertId);
    if (list) list.push(result);
    else experts.set(result.expertId, [result]);
  }
  return new Map([...experts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
};

/**
 * Per expert (by expertId): pass rate and mean score weighted by task over the tasks with at least
 * one scored trial (`tasks` counts those), the scored and error trials, and the mean latency of the
 * scored trials (0 when none: an error's latency is the bound, not the expert's).
 */
export const metricsOf = (results: readonly TaskResult[]): ExpertMetrics[] =>
  [...byExpert(results)].map(([expertId, tasks]) => {
    let weightSum = 0;
    let passSum = 0;
    let scoreSum = 0;
    let scoredCount = 0;
    let errorCount = 0;
    let latencySum = 0;
    let taskCount = 0;
    for (const task of tasks) {
      const scored = scoredTrials(task);
      scoredCount += scored.length;
      errorCount += task.trials.length - scored.length;
      if (scored.length === 0) continue;
      taskCount += 1;
      weightSum += task.weight;
      passSum += (task.weight * scored.filter((trial) => trial.pass).length) / scored.length;
      scoreSum += (task.weight * scored.reduce((sum, trial) => sum + trial.score, 0)) / scored.length;
      latencySum += scored.reduce((sum, trial) => sum + trial.latencyMs, 0);
    }
    return {
      expertId,
      passRate: weightSum > 0 ? passSum / weightSum : 0,
      meanScore: weightSum > 0 ? scoreSum / weightSum : 0,
      tasks: taskCount,
      scoredTrials: scoredCount,
      errorTrials: errorCount,
      meanLatencyMs: scoredCount > 0 ? latencySum / scoredCount : 0,
    };
  });

/** expertId → taskId → the share of the task's scored trials that passed; no scored trial, no entry. */
export const passRatesOf = (results: readonly TaskResult[]): PassRates => {
  const rates: Record<string, Record<string, number>> = {};
  for (const [expertId, tasks] of byExpert(results)) {
    const expertRates: Record<string, number> = {};
    for (const task of tasks) {
      const scored = scoredTrials(task);
      if (scored.length > 0) {
        expertRates[task.taskId] = scored.filter((trial) => trial.pass).length / scored.length;
      }
    }
    rates[expertId] = expertRates;
  }
  return rates;
};

/** taskId → weight, as the run recorded it (a task weighs the same for every expert). */
export const weightsOf = (results: readonly TaskResult[]): Record<string, number> => {
  const weights: Record<string, number> = {};
  for (const result of results) weights[result.taskId] ??= result.weight;
  return weights;
};

/**
 * Whether the run measured the platform rather than the experts, so its verdicts cannot be trusted:
 * true when, for some expert, more than `threshold` of its trials are infrastructure errors
 * (`timeout`, `unavailable`), or when any trial was `refused` (the egress guard refused an endpoint:
 * a configuration error that never heals by itself). Scorer errors do not count: the trial is left
 * unscored and the gate compares the other tasks.
 */
export const infrastructureFailed = (results: readonly TaskResult[], threshold = 0.1): boolean => {
  for (const tasks of byExpert(results).values()) {
    let trials = 0;
    let failures = 0;
    for (const task of tasks) {
      for (const trial of task.trials) {
        trials += 1;
        if (trial.kind !== 'error') continue;
        if (trial.error === 'refused') return true;
        if (trial.error === 'timeout' || trial.error === 'unavailable') failures += 1;
      }
    }
    if (trials > 0 && failures / trials > threshold) return true;
  }
  return false;
};
