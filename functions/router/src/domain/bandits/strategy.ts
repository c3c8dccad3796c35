import { InvalidRewardError, InvalidRouterConfigError, NoCandidatesError } from './errors.js';
import { type Rng, uniformIndex } from './random.js';
import type { FeatureVector } from './vectors.js';

export const STRATEGY_NAMES = [
  'static',
  'greedy',
  'epsilon-greedy',
  'thompson',
  'linucb',
  'naive-linucb',
  'linear-thompson',
] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** The objective's per-candidate penalty (λ·cost + μ·latency, in reward units), subtracted from every score the strategy ranks by. */
export type Penalty = (expertId: string) => number;

/** What a strategy thought of one candidate when it decided. */
export interface CandidateAssessment {
  readonly expertId: string;
  /** Point estimate of the expected reward (running mean, posterior mean, or θ·x); never penalised. */
  readonly estimate: number;
  /** Standard deviation of that estimate under the strategy's model (see each strategy). */
  readonly uncertainty: number;
  /** Probability the strategy had of picking this candidate (exact, or Monte Carlo for Thompson). */
  readonly probability: number;
  /** Thompson: the value drawn for this decision. */
  readonly sampled?: number;
  /** LinUCB: the exploration bonus α·√(xᵀA⁻¹x) added to the estimate. */
  readonly bonus?: number;
  /** The objective's penalty subtracted from this candidate's scores; present only when given and not 0. */
  readonly penalty?: number;
}

/** One term θᵢ·xᵢ of the chosen expert's linear score. */
export interface FeatureContribution {
  readonly index: number;
  readonly value: number;
  readonly weight: number;
  readonly contribution: number;
}

/** One feature's part in a linear decision: in the chosen expert's score, and in its margin over the runner-up. */
export interface FeatureAttribution {
  readonly index: number;
  readonly value: number;
  /** θᵢ of the chosen expert, and of the runner-up (0 for an expert with no data). */
  readonly weight: number;
  readonly runnerUpWeight: number;
  /** θᵢ·xᵢ: its part of the chosen expert's estimate. */
  readonly contribution: number;
  /** (θᵢ − θ'ᵢ)·xᵢ: its part of the chosen expert's lead over the runner-up's estimate. */
  readonly marginContribution: number;
}

/** Why a linear strategy preferred its pick to the runner-up, feature by feature. */
export interface Attribution {
  /** The candidate the strategy ranked second (by its own score, the bound or the draw, less the penalty). */
  readonly runnerUpExpertId: string;
  /** θ·x − θ'·x: the estimates' difference, the sum of every feature's marginContribution. */
  readonly estimateMargin: number;
  /** The features with the largest |marginContribution| (at most the strategy's topFeatures). */
  readonly features: readonly FeatureAttribution[];
  /** penalty(runner-up) − penalty(pick): what the penalty added to the pick's lead; only with a penalty. */
  readonly penaltyMargin?: number;
}

/** A decision and everything the rationale and off-policy evaluation need about it. */
export interface Selection {
  readonly expertId: string;
  readonly strategy: StrategyName;
  /** Probability the strategy had of picking `expertId` (for inverse-propensity weighting). */
  readonly propensity: number;
  /**
   * The strategy's own estimate of the probability that `expertId` is the best candidate (highest
   * expected reward, less the penalty when one is given) for this context: Monte Carlo for Thompson,
   * a Gaussian bound for the others (see `probabilityBestLowerBound`). In [0, 1].
   */
  readonly confidence: number;
  /** True when the pick is not what pure exploitation (argmax of estimate − penalty) would choose. */
  readonly exploration: boolean;
  /** What pure exploitation would pick: argmax of estimate − penalty (ties: the first in candidate order). */
  readonly exploitExpertId: string;
  /** In candidate order (duplicates removed). */
  readonly perCandidate: readonly CandidateAssessment[];
  /** Largest |θᵢ·xᵢ| first, for the chosen expert; empty for strategies without features. */
  readonly topFeatures: readonly FeatureContribution[];
  /** Linear strategies with two candidates or more: the pick against the runner-up, per feature. */
  readonly attribution?: Attribution;
  /** The `version` of the model state decided on. */
  readonly modelVersion: number;
}

/**
 * The one interface every strategy implements. States are plain JSON values (they live in DynamoDB)
 * with a `version` counted up by each update; they are never mutated: `update` returns a new state
 * that shares untouched parts with the old one. Given the same state, features and generator, a
 * decision is always the same.
 *
 * `select`'s optional `penalty` makes the strategy rank by a cost-aware objective: every score it
 * ranks by (bound, draw, running mean, estimate) is less penalty(expertId), and its propensities and
 * confidence are those of that rule. No penalty, or 0 for every candidate, decides exactly as without.
 * A penalty that is not finite is an InvalidRouterConfigError. `static` ignores it for its pick.
 */
export interface Strategy<State extends ModelState> {
  readonly name: StrategyName;
  /** The state of a model that has seen nothing. Experts it has not seen are at their prior. */
  initialState(): State;
  select(
    candidates: readonly string[],
    x: FeatureVector,
    state: State,
    rng: Rng,
    penalty?: Penalty,
  ): Selection;
  update(state: State, expertId: string, x: FeatureVector, reward: number): State;
}

export interface ModelState {
  readonly model: string;
  readonly version: number;
}

/** Folds a batch of rewards into a state, in order. */
export const applyRewards = <State extends ModelState>(
  strategy: Strategy<State>,
  state: State,
  rewards: Iterable<{ readonly expertId: string; readonly x: FeatureVector; readonly reward: number }>,
): State => {
  let next = state;
  for (const { expertId, x, reward } of rewards) next = strategy.update(next, expertId, x, reward);
  return next;
};

/** Candidates without duplicates, in first-seen order; none left is a NoCandidatesError. */
export const uniqueCandidates = (candidates: readonly string[]): readonly string[] => {
  if (candidates.length === 0) throw new NoCandidatesError();
  const unique = new Set(candidates);
  return unique.size === candidates.length ? candidates : [...unique];
};

/**
 * penalty(expertId) of every candidate, called once each, in candidate order; undefined when there is
 * no penalty or it is 0 for every candidate (the strategy then decides exactly as without one).
 * A value that is not finite is an InvalidRouterConfigError: it must never reorder silently.
 */
export const candidatePenalties = (
  candidates: readonly string[],
  penalty: Penalty | undefined,
): Float64Array | undefined => {
  if (penalty === undefined) return undefined;
  const k = candidates.length;
  const penalties = new Float64Array(k);
  let any = false;
  for (let a = 0; a < k; a += 1) {
    const expertId = candidates[a] as string;
    const value = penalty(expertId);
    if (!Number.isFinite(value))
      throw new InvalidRouterConfigError(
        `The penalty of expert ${expertId} must be a finite number, got ${value}.`,
        'penalty',
      );
    penalties[a] = value;
    if (value !== 0) any = true;
  }
  return any ? penalties : undefined;
};

/** scores − penalties, as a new array; `scores` itself when there are no penalties (no allocation). */
export const lessPenalties = (scores: Float64Array, penalties: Float64Array | undefined): Float64Array =>
  penalties === undefined ? scores : scores.map((score, a) => score - (penalties[a] as number));

/** `{ penalty }` of candidate `a` for its CandidateAssessment, or nothing when it has none (or 0). */
export const penaltyOf = (
  penalties: Float64Array | undefined,
  a: number,
): { readonly penalty: number } | undefined => {
  const penalty = penalties?.[a];
  return penalty === undefined || penalty === 0 ? undefined : { penalty };
};

export const assertFiniteReward = (reward: number): void => {
  if (!Number.isFinite(reward))
    throw new InvalidRewardError(`The reward must be a finite number, got ${reward}.`);
};

/** Indices of the maximal scores (exact ties). */
export const argmaxAll = (scores: ArrayLike<number>): number[] => {
  let best = Number.NEGATIVE_INFINITY;
  let winners: number[] = [];
  for (let i = 0; i < scores.length; i += 1) {
    const score = scores[i] as number;
    if (score > best) {
      best = score;
      winners = [i];
    } else if (score === best) winners.push(i);
  }
  return winners.length > 0 ? winners : [0];
};

/** Picks one of the tied winners uniformly at random (no draw when there is no tie). */
export const breakTie = (winners: readonly number[], rng: Rng): number =>
  winners.length === 1 ? (winners[0] as number) : (winners[uniformIndex(rng, winners.length)] as number);

/**
 * Standard normal CDF Φ, via erfc with the Numerical Recipes Chebyshev fit (|relative error| < 1.2e-7
 * everywhere, so tails stay positive instead of cancelling to 0).
 */
export const normalCdf = (z: number): number => {
  if (z === Number.POSITIVE_INFINITY) return 1;
  if (z === Number.NEGATIVE_INFINITY) return 0;
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? 1 - 0.5 * erfc : 0.5 * erfc;
};

/**
 * A lower bound on P(candidate `chosen` has the highest expected reward) when each candidate's
 * expected reward is believed to be independent N(mean, sd²):
 *   ∏_{a ≠ chosen} Φ((mean_chosen − mean_a) / √(sd_chosen² + sd_a²)).
 * The events "chosen beats a" are positively correlated (they share the chosen one's value), so the
 * product never overstates the joint probability; it is exact for two candidates. O(k), no draws.
 */
export const probabilityBestLowerBound = (
  means: ArrayLike<number>,
  sds: ArrayLike<number>,
  chosen: number,
): number => {
  const mc = means[chosen] as number;
  const vc = (sds[chosen] as number) ** 2;
  let p = 1;
  for (let a = 0; a < means.length; a += 1) {
    if (a === chosen) continue;
    const gap = mc - (means[a] as number);
    const scale = Math.sqrt(vc + (sds[a] as number) ** 2);
    p *= scale > 0 ? normalCdf(gap / scale) : gap > 0 ? 1 : gap < 0 ? 0 : 0.5;
  }
  return p;
};
