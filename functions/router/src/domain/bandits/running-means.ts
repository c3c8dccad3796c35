import type { ModelState } from './strategy.js';

/** Count, mean and sum of squared deviations of one expert's rewards (Welford). */
export interface MeanStats {
  readonly n: number;
  readonly mean: number;
  readonly m2: number;
}

/**
 * The model of the context-free strategies (`static`, `greedy`, `epsilon-greedy`, Gaussian
 * `thompson`): running reward statistics per expert. One shape for all four, so a tenant moving
 * between them keeps what was learnt.
 */
export interface RunningMeansState extends ModelState {
  readonly model: 'running-means';
  readonly version: number;
  readonly arms: Readonly<Record<string, MeanStats>>;
}

export const EMPTY_STATS: MeanStats = { n: 0, mean: 0, m2: 0 };

export const emptyRunningMeans = (): RunningMeansState => ({ model: 'running-means', version: 0, arms: {} });

/** Welford's update. */
export const addObservation = (stats: MeanStats, reward: number): MeanStats => {
  const n = stats.n + 1;
  const delta = reward - stats.mean;
  const mean = stats.mean + delta / n;
  return { n, mean, m2: stats.m2 + delta * (reward - mean) };
};

/** Chan et al.'s pairwise merge: the statistics of both samples together. */
export const mergeStats = (left: MeanStats, right: MeanStats): MeanStats => {
  if (left.n === 0) return right;
  if (right.n === 0) return left;
  const n = left.n + right.n;
  const delta = right.mean - left.mean;
  return {
    n,
    mean: left.mean + (delta * right.n) / n,
    m2: left.m2 + right.m2 + (delta * delta * left.n * right.n) / n,
  };
};

export const statsOf = (state: RunningMeansState, expertId: string): MeanStats =>
  Object.hasOwn(state.arms, expertId) ? (state.arms[expertId] as MeanStats) : EMPTY_STATS;

export const withObservation = (
  state: RunningMeansState,
  expertId: string,
  reward: number,
): RunningMeansState => ({
  model: 'running-means',
  version: state.version + 1,
  arms: { ...state.arms, [expertId]: addObservation(statsOf(state, expertId), reward) },
});
