import { InvalidRouterConfigError } from './errors.js';
import { uniformIndex } from './random.js';
import { emptyRunningMeans, type RunningMeansState, statsOf, withObservation } from './running-means.js';
import {
  argmaxAll,
  assertFiniteReward,
  breakTie,
  type CandidateAssessment,
  candidatePenalties,
  lessPenalties,
  type Penalty,
  penaltyOf,
  probabilityBestLowerBound,
  type Selection,
  type Strategy,
  uniqueCandidates,
} from './strategy.js';
import type { FeatureVector } from './vectors.js';

/**
 * The context-free reference strategies: `static` (the tenant's default expert, the pre-Conductor
 * baseline), `greedy` and `epsilon-greedy` on each expert's running mean reward. They ignore the
 * features; they still learn running means, so the rationale shows observed rewards and a tenant
 * switching between them (or to Gaussian Thompson) keeps what was learnt.
 *
 * Per candidate: `estimate` is the mean observed reward (0 before any), `uncertainty` is
 * noise / √(n + 1) — the standard error of that mean for rewards with standard deviation `noise`
 * (0.5 by default, the largest a reward in [0, 1] can have) and one pseudo-observation of prior.
 * `confidence` is `probabilityBestLowerBound` over those means and uncertainties.
 *
 * With a penalty, greedy and ε-greedy rank by mean − penalty (an expert never tried keeps +∞), and
 * `confidence` is over the means less the penalties; `static` keeps its pick.
 */
export interface MeanStrategyOptions {
  /** Reward standard deviation assumed for the uncertainty and confidence. @default 0.5 */
  readonly noise?: number;
}

const DEFAULT_NOISE = 0.5;

const checkNoise = (noise: number): number => {
  if (!(Number.isFinite(noise) && noise > 0))
    throw new InvalidRouterConfigError('noise must be > 0.', 'noise');
  return noise;
};

interface MeanAssessment {
  readonly means: Float64Array;
  readonly sds: Float64Array;
  /**
   * Greedy ranking: the mean less the penalty, or +∞ for an expert never tried (each is tried once
   * before exploiting).
   */
  readonly ranks: Float64Array;
  /** The means less the penalties (the means themselves without a penalty): what `confidence` compares. */
  readonly objectives: Float64Array;
  readonly penalties: Float64Array | undefined;
}

const assessMeans = (
  candidates: readonly string[],
  state: RunningMeansState,
  noise: number,
  penalty: Penalty | undefined,
): MeanAssessment => {
  const penalties = candidatePenalties(candidates, penalty);
  const k = candidates.length;
  const means = new Float64Array(k);
  const sds = new Float64Array(k);
  const ranks = new Float64Array(k);
  for (let a = 0; a < k; a += 1) {
    const stats = statsOf(state, candidates[a] as string);
    means[a] = stats.mean;
    sds[a] = noise / Math.sqrt(stats.n + 1);
    ranks[a] = stats.n === 0 ? Number.POSITIVE_INFINITY : stats.mean;
  }
  return {
    means,
    sds,
    ranks: lessPenalties(ranks, penalties),
    objectives: lessPenalties(means, penalties),
    penalties,
  };
};

const assessments = (
  candidates: readonly string[],
  { means, sds, penalties }: MeanAssessment,
  probabilities: ArrayLike<number>,
): CandidateAssessment[] =>
  candidates.map((expertId, a) => ({
    expertId,
    estimate: means[a] as number,
    uncertainty: sds[a] as number,
    probability: probabilities[a] as number,
    ...penaltyOf(penalties, a),
  }));

const updateMeans = (state: RunningMeansState, expertId: string, _x: FeatureVector, reward: number) => {
  assertFiniteReward(reward);
  return withObservation(state, expertId, reward);
};

/**
 * Exact pick probabilities of ε-greedy: ε/k for every candidate plus (1 − ε)/|ties| for each
 * candidate tied for the best rank. They sum to 1.
 */
export const epsilonGreedyProbabilities = (ranks: ArrayLike<number>, epsilon: number): Float64Array => {
  const k = ranks.length;
  const winners = argmaxAll(ranks);
  const probabilities = new Float64Array(k).fill(epsilon / k);
  for (const w of winners) probabilities[w] = (probabilities[w] as number) + (1 - epsilon) / winners.length;
  return probabilities;
};

export interface EpsilonGreedyOptions extends MeanStrategyOptions {
  /** Probability of picking a candidate uniformly at random instead of the best mean. */
  readonly epsilon: number;
}

const meanSelector =
  (
    name: 'greedy' | 'epsilon-greedy',
    epsilon: number,
    noise: number,
  ): Strategy<RunningMeansState>['select'] =>
  (rawCandidates, _x, state, rng, penalty): Selection => {
    const candidates = uniqueCandidates(rawCandidates);
    const assessment = assessMeans(candidates, state, noise, penalty);
    const winners = argmaxAll(assessment.ranks);
    const explore = epsilon > 0 && rng() < epsilon;
    const chosen = explore ? uniformIndex(rng, candidates.length) : breakTie(winners, rng);
    const probabilities = epsilonGreedyProbabilities(assessment.ranks, epsilon);
    const exploit = winners.includes(chosen) ? chosen : (winners[0] as number);
    return {
      expertId: candidates[chosen] as string,
      strategy: name,
      propensity: probabilities[chosen] as number,
      confidence: probabilityBestLowerBound(assessment.objectives, assessment.sds, chosen),
      exploration: chosen !== exploit,
      exploitExpertId: candidates[exploit] as string,
      perCandidate: assessments(candidates, assessment, probabilities),
      topFeatures: [],
      modelVersion: state.version,
    };
  };

/** ε-greedy: with probability ε a uniformly random candidate, otherwise the best running mean. */
export const createEpsilonGreedy = (options: EpsilonGreedyOptions): Strategy<RunningMeansState> => {
  const { epsilon } = options;
  if (!(epsilon >= 0 && epsilon <= 1))
    throw new InvalidRouterConfigError('epsilon must be in [0, 1].', 'epsilon');
  return {
    name: 'epsilon-greedy',
    initialState: emptyRunningMeans,
    select: meanSelector('epsilon-greedy', epsilon, checkNoise(options.noise ?? DEFAULT_NOISE)),
    update: updateMeans,
  };
};

/**
 * Greedy (ε = 0): the best running mean, every expert tried once first; ties broken uniformly at
 * random (propensity 1/|ties|). A strong baseline in the bandit literature.
 */
export const createGreedy = (options: MeanStrategyOptions = {}): Strategy<RunningMeansState> => ({
  name: 'greedy',
  initialState: emptyRunningMeans,
  select: meanSelector('greedy', 0, checkNoise(options.noise ?? DEFAULT_NOISE)),
  update: updateMeans,
});

export interface StaticOptions extends MeanStrategyOptions {
  /** The tenant's default expert. */
  readonly defaultExpertId: string;
}

/**
 * Static: always the tenant's default expert (propensity 1). When the default is not among the
 * candidates (disabled, refused by policy) it falls back to the first candidate, so the kill-switch
 * path always has an answer; the caller orders candidates by preference. A penalty does not move the
 * pick; it is reported per candidate and counts in `confidence` (P(the pick is the best by the objective)).
 */
export const createStatic = (options: StaticOptions): Strategy<RunningMeansState> => {
  const noise = checkNoise(options.noise ?? DEFAULT_NOISE);
  if (options.defaultExpertId.length === 0)
    throw new InvalidRouterConfigError('defaultExpertId must not be empty.', 'defaultExpertId');
  return {
    name: 'static',
    initialState: emptyRunningMeans,
    select: (rawCandidates, _x, state, _rng, penalty) => {
      const candidates = uniqueCandidates(rawCandidates);
      const index = candidates.indexOf(options.defaultExpertId);
      const chosen = index >= 0 ? index : 0;
      const assessment = assessMeans(candidates, state, noise, penalty);
      const probabilities = new Float64Array(candidates.length);
      probabilities[chosen] = 1;
      return {
        expertId: candidates[chosen] as string,
        strategy: 'static',
        propensity: 1,
        confidence: probabilityBestLowerBound(assessment.objectives, assessment.sds, chosen),
        exploration: false,
        exploitExpertId: candidates[chosen] as string,
        perCandidate: assessments(candidates, assessment, probabilities),
        topFeatures: [],
        modelVersion: state.version,
      };
    },
    update: updateMeans,
  };
};
