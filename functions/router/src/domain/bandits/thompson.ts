import { InvalidRewardError, InvalidRouterConfigError } from './errors.js';
import { fnv1a32 } from './hash.js';
import { checkDiscount } from './linucb.js';
import { mulberry32, type Rng, Sampler } from './random.js';
import { emptyRunningMeans, type RunningMeansState, statsOf, withObservation } from './running-means.js';
import {
  argmaxAll,
  assertFiniteReward,
  type CandidateAssessment,
  candidatePenalties,
  lessPenalties,
  type ModelState,
  penaltyOf,
  type Selection,
  type Strategy,
  uniqueCandidates,
} from './strategy.js';
import type { FeatureVector } from './vectors.js';

/**
 * Thompson sampling, context-free: each expert's expected reward has a posterior; a decision draws
 * one value from every candidate's posterior and picks the largest draw.
 *
 * Propensity and confidence are the same number: the probability that the chosen expert's draw is
 * the largest, P(best). It depends only on the posteriors and the candidate set — not on the
 * context or the decision's own draw — so it is estimated by Monte Carlo once per (state, candidate
 * set): `propensityDraws` joint draws (D, 256 by default: k·D samples) from a generator seeded by a
 * hash of the state version and the candidates, then memoised for the state object. Being seeded
 * from its inputs, the estimate is a pure function of them (a deserialised copy of the state gets the
 * same figures), and decisions between two rewards pay only for their own k draws. Estimates are
 * smoothed, p̂ₐ = (winsₐ + 1/k) / (D + 1), so none is 0 (inverse-propensity weights stay finite) and
 * they sum to 1; the standard error is at most 0.5/√D (0.031 for D = 256).
 *
 * With a penalty, a decision picks the largest draw − penalty, exploitation the largest posterior
 * mean − penalty, and P(best) counts the wins of draw − penalty: the same seeded draws as without
 * (common random numbers: raising a candidate's penalty never raises its estimate), memoised per
 * (state, candidate set, penalties).
 */
export interface ThompsonCommonOptions {
  /** Joint draws for the P(best) estimate, per state and candidate set. @default 256 */
  readonly propensityDraws?: number;
}

export const DEFAULT_PROPENSITY_DRAWS = 256;
const MAX_PROPENSITY_DRAWS = 10_000;
/** Candidate sets memoised per state object; cleared when exceeded (bounded memory). */
const MAX_CANDIDATE_SETS_PER_STATE = 32;

const checkDraws = (draws: number): number => {
  if (!(Number.isInteger(draws) && draws >= 1 && draws <= MAX_PROPENSITY_DRAWS))
    throw new InvalidRouterConfigError(
      `propensityDraws must be an integer in [1, ${MAX_PROPENSITY_DRAWS}].`,
      'propensityDraws',
    );
  return draws;
};

const checkPositive = (value: number, path: string): number => {
  if (!(Number.isFinite(value) && value > 0))
    throw new InvalidRouterConfigError(`${path} must be > 0.`, path);
  return value;
};

/**
 * The candidates' posteriors as parallel arrays: Beta(p, q), or Normal(mean p, sd q); `means` and
 * `sds` summarise them for the rationale.
 */
export interface Posteriors {
  readonly family: 'beta' | 'normal';
  readonly p: Float64Array;
  readonly q: Float64Array;
  readonly means: Float64Array;
  readonly sds: Float64Array;
}

const drawAll = (posteriors: Posteriors, sampler: Sampler, out: Float64Array): void => {
  const { p, q } = posteriors;
  if (posteriors.family === 'beta') {
    for (let a = 0; a < out.length; a += 1) out[a] = sampler.beta(p[a] as number, q[a] as number);
  } else {
    for (let a = 0; a < out.length; a += 1) out[a] = (p[a] as number) + (q[a] as number) * sampler.normal();
  }
};

/** Monte Carlo P(best) per candidate of draw − penalty, smoothed (see the module comment). */
export const probabilityBestMonteCarlo = (
  posteriors: Posteriors,
  draws: number,
  rng: Rng,
  penalties?: Float64Array,
): Float64Array => {
  const k = posteriors.p.length;
  const sampler = new Sampler(rng);
  const values = new Float64Array(k);
  const wins = new Float64Array(k);
  for (let round = 0; round < draws; round += 1) {
    drawAll(posteriors, sampler, values);
    if (penalties !== undefined)
      for (let a = 0; a < k; a += 1) values[a] = (values[a] as number) - (penalties[a] as number);
    let best = 0;
    for (let a = 1; a < k; a += 1) if ((values[a] as number) > (values[best] as number)) best = a;
    wins[best] = (wins[best] as number) + 1;
  }
  return wins.map((w) => (w + 1 / k) / (draws + 1));
};

const propensityMemo = (draws: number) => {
  const memo = new WeakMap<ModelState, Map<string, Float64Array>>();
  return (
    state: ModelState,
    candidates: readonly string[],
    posteriors: Posteriors,
    penalties: Float64Array | undefined,
  ): Float64Array => {
    let perState = memo.get(state);
    if (perState === undefined) {
      perState = new Map();
      memo.set(state, perState);
    }
    const candidatesKey = candidates.join('\u0000');
    // The penalties first, up to a '|' no number contains: an empty prefix is "no penalty".
    const key = `${penalties === undefined ? '' : penalties.join(',')}|${candidatesKey}`;
    let probabilities = perState.get(key);
    if (probabilities === undefined) {
      // Seeded without the penalties: every penalty is judged on the same draws.
      const seed = fnv1a32(`${state.model}\u0000${state.version}\u0000${candidatesKey}`);
      probabilities = probabilityBestMonteCarlo(posteriors, draws, mulberry32(seed), penalties);
      if (perState.size >= MAX_CANDIDATE_SETS_PER_STATE) perState.clear();
      perState.set(key, probabilities);
    }
    return probabilities;
  };
};

/**
 * A Thompson decision: one draw per candidate from its posterior, the largest draw − penalty wins;
 * the rationale's figures from the posteriors and their P(best) (`probabilities`, computed with the
 * same `penalties`). `explain` gives the chosen expert's feature contributions and its attribution
 * against the runner-up by `scores` (draw − penalty) (the linear strategy; none for the context-free
 * ones).
 */
export const thompsonSelection = (
  candidates: readonly string[],
  posteriors: Posteriors,
  probabilities: Float64Array,
  rng: Rng,
  modelVersion: number,
  penalties: Float64Array | undefined,
  strategy: 'thompson' | 'linear-thompson' = 'thompson',
  explain: (chosen: number, scores: Float64Array) => Pick<Selection, 'topFeatures' | 'attribution'> = () => ({
    topFeatures: [],
  }),
): Selection => {
  const k = candidates.length;
  const sampled = new Float64Array(k);
  drawAll(posteriors, new Sampler(rng), sampled);
  const scores = lessPenalties(sampled, penalties);
  const chosen = argmaxAll(scores)[0] as number;
  const meanWinners = argmaxAll(lessPenalties(posteriors.means, penalties));
  const exploit = meanWinners.includes(chosen) ? chosen : (meanWinners[0] as number);
  const perCandidate: CandidateAssessment[] = new Array(k);
  for (let a = 0; a < k; a += 1)
    perCandidate[a] = {
      expertId: candidates[a] as string,
      estimate: posteriors.means[a] as number,
      uncertainty: posteriors.sds[a] as number,
      probability: probabilities[a] as number,
      sampled: sampled[a] as number,
      ...penaltyOf(penalties, a),
    };
  const propensity = probabilities[chosen] as number;
  return {
    expertId: candidates[chosen] as string,
    strategy,
    propensity,
    confidence: propensity,
    exploration: chosen !== exploit,
    exploitExpertId: candidates[exploit] as string,
    perCandidate,
    ...explain(chosen, scores),
    modelVersion,
  };
};

/** The `select` of a context-free Thompson strategy, from its posteriors and its P(best) memo. */
const contextFreeSelect =
  <State extends ModelState>(
    posteriorsOf: (state: State, candidates: readonly string[]) => Posteriors,
    probabilitiesFor: ReturnType<typeof propensityMemo>,
  ): Strategy<State>['select'] =>
  (rawCandidates, _x, state, rng, penalty): Selection => {
    const candidates = uniqueCandidates(rawCandidates);
    const penalties = candidatePenalties(candidates, penalty);
    const posteriors = posteriorsOf(state, candidates);
    const probabilities = probabilitiesFor(state, candidates, posteriors, penalties);
    return thompsonSelection(candidates, posteriors, probabilities, rng, state.version, penalties);
  };

// ---------------------------------------------------------------------------------------------
// Beta–Bernoulli, for rewards in [0, 1] (binary, or a success fraction).

export interface BetaCounts {
  /** Σ reward. */
  readonly successes: number;
  /** Σ (1 − reward). */
  readonly failures: number;
}

export interface BetaBernoulliState extends ModelState {
  readonly model: 'beta-bernoulli';
  readonly version: number;
  /** Evidence only; the prior comes from the configuration, so changing it needs no migration. */
  readonly arms: Readonly<Record<string, BetaCounts>>;
}

export interface BernoulliThompsonOptions extends ThompsonCommonOptions {
  /** Beta prior of every expert. @default { alpha: 1, beta: 1 } (uniform) */
  readonly prior?: { readonly alpha: number; readonly beta: number };
  /** Forgetting factor γ in [0.5, 1]: an expert's counts are multiplied by γ before each of its rewards. @default 1 */
  readonly discount?: number;
}

const NO_COUNTS: BetaCounts = { successes: 0, failures: 0 };

export const countsOf = (state: BetaBernoulliState, expertId: string): BetaCounts =>
  Object.hasOwn(state.arms, expertId) ? (state.arms[expertId] as BetaCounts) : NO_COUNTS;

/**
 * Beta–Bernoulli Thompson sampling: posterior Beta(α₀ + Σr, β₀ + Σ(1 − r)) per expert. A reward in
 * [0, 1] that is not 0 or 1 counts as that fraction of a success. Per candidate, `estimate` is the
 * posterior mean and `uncertainty` the posterior standard deviation.
 */
export const createBernoulliThompson = (
  options: BernoulliThompsonOptions = {},
): Strategy<BetaBernoulliState> => {
  const alpha0 = checkPositive(options.prior?.alpha ?? 1, 'prior.alpha');
  const beta0 = checkPositive(options.prior?.beta ?? 1, 'prior.beta');
  const discount = checkDiscount(options.discount ?? 1);
  const probabilitiesFor = propensityMemo(checkDraws(options.propensityDraws ?? DEFAULT_PROPENSITY_DRAWS));
  const posteriorsOf = (state: BetaBernoulliState, candidates: readonly string[]): Posteriors => {
    const k = candidates.length;
    const p = new Float64Array(k);
    const q = new Float64Array(k);
    const means = new Float64Array(k);
    const sds = new Float64Array(k);
    for (let i = 0; i < k; i += 1) {
      const counts = countsOf(state, candidates[i] as string);
      const a = alpha0 + counts.successes;
      const b = beta0 + counts.failures;
      const n = a + b;
      p[i] = a;
      q[i] = b;
      means[i] = a / n;
      sds[i] = Math.sqrt((a * b) / (n * n * (n + 1)));
    }
    return { family: 'beta', p, q, means, sds };
  };
  return {
    name: 'thompson',
    initialState: () => ({ model: 'beta-bernoulli', version: 0, arms: {} }),
    select: contextFreeSelect(posteriorsOf, probabilitiesFor),
    update: (state, expertId, _x, reward) => {
      assertFiniteReward(reward);
      if (reward < 0 || reward > 1)
        throw new InvalidRewardError(`A Bernoulli reward must be in [0, 1], got ${reward}.`);
      const counts = countsOf(state, expertId);
      return {
        model: 'beta-bernoulli',
        version: state.version + 1,
        arms: {
          ...state.arms,
          [expertId]: {
            successes: discount * counts.successes + reward,
            failures: discount * counts.failures + (1 - reward),
          },
        },
      };
    },
  };
};

// ---------------------------------------------------------------------------------------------
// Gaussian, for continuous rewards.

export interface GaussianThompsonOptions extends ThompsonCommonOptions {
  /** Prior mean μ₀ of every expert's expected reward. @default 0 */
  readonly priorMean?: number;
  /** κ₀: how many observations the prior mean is worth. @default 1 */
  readonly priorStrength?: number;
  /** σ₀: prior guess of the reward noise standard deviation. @default 1 */
  readonly noise?: number;
  /** ν₀: how many observations σ₀ is worth against the sample variance. @default 1 */
  readonly noiseStrength?: number;
}

/**
 * Gaussian Thompson sampling (Normal–Normal with a plug-in noise variance): after n rewards with
 * mean r̄ and sum of squared deviations M₂,
 *   σ̂² = (ν₀σ₀² + M₂) / (ν₀ + n),  κₙ = κ₀ + n,  μₙ = (κ₀μ₀ + n·r̄) / κₙ,
 * and the expected reward is drawn from N(μₙ, σ̂²/κₙ). The noise estimate starts at σ₀ and moves to
 * the sample variance as evidence accumulates: the "known-ish noise" of the conjugate Normal model
 * without the cost of a Gamma draw per sample. State: the running means shared with greedy.
 */
export const createGaussianThompson = (
  options: GaussianThompsonOptions = {},
): Strategy<RunningMeansState> => {
  const mu0 = options.priorMean ?? 0;
  if (!Number.isFinite(mu0)) throw new InvalidRouterConfigError('priorMean must be finite.', 'priorMean');
  const kappa0 = checkPositive(options.priorStrength ?? 1, 'priorStrength');
  const sigma0 = checkPositive(options.noise ?? 1, 'noise');
  const nu0 = checkPositive(options.noiseStrength ?? 1, 'noiseStrength');
  const probabilitiesFor = propensityMemo(checkDraws(options.propensityDraws ?? DEFAULT_PROPENSITY_DRAWS));
  const posteriorsOf = (state: RunningMeansState, candidates: readonly string[]): Posteriors => {
    const k = candidates.length;
    const p = new Float64Array(k);
    const q = new Float64Array(k);
    for (let i = 0; i < k; i += 1) {
      const { n, mean, m2 } = statsOf(state, candidates[i] as string);
      const variance = (nu0 * sigma0 * sigma0 + m2) / (nu0 + n);
      const kappa = kappa0 + n;
      p[i] = (kappa0 * mu0 + n * mean) / kappa;
      q[i] = Math.sqrt(variance / kappa);
    }
    return { family: 'normal', p, q, means: p, sds: q };
  };
  return {
    name: 'thompson',
    initialState: emptyRunningMeans,
    select: contextFreeSelect(posteriorsOf, probabilitiesFor),
    update: (state, expertId, _x: FeatureVector, reward) => {
      assertFiniteReward(reward);
      return withObservation(state, expertId, reward);
    },
  };
};
