import {
  type BetaBernoulliState,
  countsOf,
  dot,
  type FeatureVector,
  type LinUcbState,
  type ModelState,
  type RunningMeansState,
  statsOf,
} from './bandits/index.js';
import { quadraticForm } from './bandits/linear-algebra.js';

/**
 * The drift signal (requirements: non-stationary experts): an expert's recent rewards outside the
 * band its model predicted for them. The rewards a reward batch learns for one expert are compared
 * with what the model, as it stood before the batch, expected for their contexts:
 *   observed = mean reward,  expected = mean predicted reward,
 *   band = Z · √(noise²/n + mean posterior variance of the predictions),
 * and an expert drifts when |observed − expected| > band with at least MIN_REWARDS rewards. Z = 3 and
 * noise = 0.5 (the largest standard deviation of a reward in [0, 1]) keep false alarms rare: with a
 * model that is right, a batch is outside its band about 3 times in 1,000. Stateless: nothing is
 * stored beyond the model, so a signal needs a batch of that expert's rewards to show the change.
 */
export const DRIFT_Z = 3;
export const DRIFT_NOISE = 0.5;
export const DRIFT_MIN_REWARDS = 5;

export interface LearntObservation {
  readonly expertId: string;
  readonly x: FeatureVector;
  readonly reward: number;
}

export interface DriftFinding {
  readonly expertId: string;
  readonly rewards: number;
  readonly observedMean: number;
  readonly expectedMean: number;
  readonly band: number;
}

interface Prediction {
  readonly mean: number;
  readonly variance: number;
}

/** What the model expected of an expert's reward for this context, with its posterior variance (undefined: no basis yet). */
export const predictionOf = (
  state: ModelState,
  expertId: string,
  x: FeatureVector,
): Prediction | undefined => {
  switch (state.model) {
    case 'ridge': {
      const ridge = state as LinUcbState;
      const arm = Object.hasOwn(ridge.arms, expertId) ? ridge.arms[expertId] : undefined;
      if (!arm || arm.n === 0) return undefined;
      const width2 = Math.max(0, quadraticForm(arm.aInv, x, ridge.dimension));
      return { mean: dot(x, arm.theta), variance: DRIFT_NOISE * DRIFT_NOISE * width2 };
    }
    case 'beta-bernoulli': {
      const { successes, failures } = countsOf(state as BetaBernoulliState, expertId);
      if (successes + failures === 0) return undefined;
      const a = 1 + successes;
      const b = 1 + failures;
      return { mean: a / (a + b), variance: (a * b) / ((a + b) ** 2 * (a + b + 1)) };
    }
    case 'running-means': {
      const { n, mean } = statsOf(state as RunningMeansState, expertId);
      if (n === 0) return undefined;
      return { mean, variance: (DRIFT_NOISE * DRIFT_NOISE) / n };
    }
    default:
      return undefined;
  }
};

/** The experts whose rewards in `learnt` fell outside their band under `before` (the model before them). */
export const detectDrift = (before: ModelState, learnt: readonly LearntObservation[]): DriftFinding[] => {
  const byExpert = new Map<string, { rewards: number[]; means: number[]; variances: number[] }>();
  for (const { expertId, x, reward } of learnt) {
    const prediction = predictionOf(before, expertId, x);
    if (!prediction) continue;
    const entry = byExpert.get(expertId) ?? { rewards: [], means: [], variances: [] };
    entry.rewards.push(reward);
    entry.means.push(prediction.mean);
    entry.variances.push(prediction.variance);
    byExpert.set(expertId, entry);
  }
  const mean = (values: readonly number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const findings: DriftFinding[] = [];
  for (const [expertId, { rewards, means, variances }] of byExpert) {
    const n = rewards.length;
    if (n < DRIFT_MIN_REWARDS) continue;
    const observedMean = mean(rewards);
    const expectedMean = mean(means);
    const band = DRIFT_Z * Math.sqrt((DRIFT_NOISE * DRIFT_NOISE) / n + mean(variances));
    if (Math.abs(observedMean - expectedMean) > band) {
      findings.push({ expertId, rewards: n, observedMean, expectedMean, band });
    }
  }
  return findings;
};
