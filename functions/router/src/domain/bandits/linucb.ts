import * as z from 'zod';
import { IncompatibleModelStateError, InvalidRouterConfigError } from './errors.js';
import {
  addOuterProduct,
  addScaled,
  inverseSpd,
  matVec,
  packUpper,
  quadraticForm,
  scaledIdentity,
  shermanMorrison,
  unpackUpper,
} from './linear-algebra.js';
import {
  type Attribution,
  argmaxAll,
  assertFiniteReward,
  breakTie,
  type CandidateAssessment,
  candidatePenalties,
  type FeatureAttribution,
  type FeatureContribution,
  lessPenalties,
  type ModelState,
  type Penalty,
  penaltyOf,
  probabilityBestLowerBound,
  type Selection,
  type Strategy,
  uniqueCandidates,
} from './strategy.js';
import { assertDimension, dot, type FeatureVector, forEachNonZero, MAX_DIMENSION } from './vectors.js';

/**
 * Disjoint LinUCB (Li et al. 2010): one ridge regression per expert on the encoded context,
 *   A = λI + Σ x·xᵀ,  b = Σ r·x,  θ = A⁻¹b,
 * and the pick is the candidate with the highest upper confidence bound θ·x + α·√(xᵀA⁻¹x).
 *
 * A⁻¹ is kept incrementally by Sherman–Morrison (O(d²) per reward, no solve on the decision path) and
 * θ is recomputed with it, so a decision costs O(k·nnz²) for a sparse context. `refresh` recomputes
 * every A⁻¹ and θ from A and b by a direct Cholesky solve — after loading a state, or periodically
 * for numerical hygiene.
 *
 * - propensity: the argmax is deterministic, so 1; exact ties (e.g. experts with no data yet) are
 *   broken uniformly at random and each tied candidate has probability 1/|ties|.
 * - per candidate: `estimate` θ·x, `uncertainty` √(xᵀA⁻¹x) (the width, in units of the reward noise),
 *   `bonus` α·width.
 * - confidence: `probabilityBestLowerBound` with means θ·x and standard deviations noise·width — the
 *   ridge posterior θ ~ N(A⁻¹b, noise²·A⁻¹) when rewards have standard deviation `noise`.
 * - exploration: the pick is not the argmax of θ·x (the bonus changed the decision).
 * - topFeatures: the largest |θᵢ·xᵢ| of the chosen expert.
 * - with a penalty: the pick is the highest θ·x + α·width − penalty, exploitation the highest
 *   θ·x − penalty, `confidence` over θ·x − penalty; `estimate` stays θ·x.
 */
export interface LinUcbOptions {
  /** Feature dimension d (the encoder's). */
  readonly dimension: number;
  /**
   * Width of the upper confidence bound, in units of √(xᵀA⁻¹x). The default, 0.5, is one standard
   * deviation of the noisiest reward in [0, 1]; the textbook 1 + √(ln(2/δ)/2) over-explores in practice.
   * @default 0.5
   */
  readonly alpha?: number;
  /** Ridge regularisation λ (A starts at λI). Part of the state: changing it needs a new state. @default 1 */
  readonly lambda?: number;
  /** Reward standard deviation assumed by `confidence`. @default 0.5 */
  readonly noise?: number;
  /** How many feature contributions the rationale keeps. @default 5 */
  readonly topFeatures?: number;
  /**
   * Forgetting factor γ in [0.5, 1] (non-stationary experts): before an expert's model learns a
   * reward, its evidence is discounted, A ← γA + (1 − γ)λI, b ← γb, so a reward k of its updates old
   * weighs γᵏ (γ = 0.99: about the last 100 of them). 1 keeps everything. @default 1
   */
  readonly discount?: number;
}

/** One expert's ridge model. Matrices are d × d, row-major. */
export interface RidgeArm {
  readonly n: number;
  readonly a: readonly number[];
  readonly b: readonly number[];
  /** A⁻¹, maintained incrementally; recomputed by `refresh`. */
  readonly aInv: readonly number[];
  /** θ = A⁻¹b. */
  readonly theta: readonly number[];
}

export interface LinUcbState extends ModelState {
  readonly model: 'ridge';
  readonly version: number;
  readonly dimension: number;
  readonly lambda: number;
  readonly arms: Readonly<Record<string, RidgeArm>>;
}

export interface ResolvedConfig {
  readonly discount: number;
  readonly dimension: number;
  readonly alpha: number;
  readonly lambda: number;
  readonly noise: number;
  readonly topFeatures: number;
}

export const resolveConfig = (options: LinUcbOptions): ResolvedConfig => {
  const { dimension } = options;
  const alpha = options.alpha ?? 0.5;
  const lambda = options.lambda ?? 1;
  const noise = options.noise ?? 0.5;
  const topFeatures = options.topFeatures ?? 5;
  const discount = checkDiscount(options.discount ?? 1);
  if (!(Number.isInteger(dimension) && dimension >= 1 && dimension <= MAX_DIMENSION))
    throw new InvalidRouterConfigError(`dimension must be an integer in [1, ${MAX_DIMENSION}].`, 'dimension');
  if (!(Number.isFinite(alpha) && alpha >= 0))
    throw new InvalidRouterConfigError('alpha must be >= 0.', 'alpha');
  if (!(Number.isFinite(lambda) && lambda > 0))
    throw new InvalidRouterConfigError('lambda must be > 0.', 'lambda');
  if (!(Number.isFinite(noise) && noise > 0))
    throw new InvalidRouterConfigError('noise must be > 0.', 'noise');
  if (!(Number.isInteger(topFeatures) && topFeatures >= 0 && topFeatures <= 64))
    throw new InvalidRouterConfigError('topFeatures must be an integer in [0, 64].', 'topFeatures');
  return { dimension, alpha, lambda, noise, topFeatures, discount };
};

export const emptyLinUcbState = (dimension: number, lambda: number): LinUcbState => ({
  model: 'ridge',
  version: 0,
  dimension,
  lambda,
  arms: {},
});

export const checkState = (state: LinUcbState, config: ResolvedConfig): void => {
  if (state.model !== 'ridge' || state.dimension !== config.dimension || state.lambda !== config.lambda)
    throw new IncompatibleModelStateError(
      `A ${state.model} state with d = ${state.dimension}, λ = ${state.lambda} does not fit a ridge model with d = ${config.dimension}, λ = ${config.lambda}.`,
    );
};

const priorArm = (dimension: number, lambda: number): RidgeArm => ({
  n: 0,
  a: scaledIdentity(dimension, lambda),
  b: new Array<number>(dimension).fill(0),
  aInv: scaledIdentity(dimension, 1 / lambda),
  theta: new Array<number>(dimension).fill(0),
});

export const armOf = (state: LinUcbState, expertId: string): RidgeArm | undefined =>
  Object.hasOwn(state.arms, expertId) ? state.arms[expertId] : undefined;

/** The smallest forgetting factor a tenant may set: below it a model remembers a handful of rewards. */
export const MIN_DISCOUNT = 0.5;

export const checkDiscount = (discount: number): number => {
  if (!(Number.isFinite(discount) && discount >= MIN_DISCOUNT && discount <= 1))
    throw new InvalidRouterConfigError(`discount must be in [${MIN_DISCOUNT}, 1].`, 'discount');
  return discount;
};

/** An arm's evidence discounted by γ: A ← γA + (1 − γ)λI (the prior stays whole), b ← γb; A⁻¹ re-solved. */
const decayedArm = (arm: RidgeArm, dimension: number, lambda: number, discount: number): RidgeArm => {
  if (discount === 1) return arm;
  const a = arm.a.map((value, i) =>
    i % (dimension + 1) === 0 ? discount * value + (1 - discount) * lambda : discount * value,
  );
  const b = arm.b.map((value) => discount * value);
  const aInv = inverseSpd(a, dimension);
  return { n: arm.n, a, b, aInv, theta: matVec(aInv, b, dimension) };
};

/** The arm after one more observation (A, b, Sherman–Morrison A⁻¹, θ), its evidence discounted first. Pure. */
export const updateRidgeArm = (
  state: LinUcbState,
  expertId: string,
  x: FeatureVector,
  reward: number,
  discount = 1,
): RidgeArm => {
  const d = state.dimension;
  const stored = armOf(state, expertId);
  const arm = stored ? decayedArm(stored, d, state.lambda, discount) : priorArm(d, state.lambda);
  const b = addScaled(arm.b, x, reward);
  const aInv = shermanMorrison(arm.aInv, x, d);
  return { n: arm.n + 1, a: addOuterProduct(arm.a, x, d), b, aInv, theta: matVec(aInv, b, d) };
};

export const ridgeUpdate =
  (config: ResolvedConfig) => (state: LinUcbState, expertId: string, x: FeatureVector, reward: number) => {
    checkState(state, config);
    assertDimension(x, state.dimension);
    assertFiniteReward(reward);
    return {
      ...state,
      version: state.version + 1,
      arms: { ...state.arms, [expertId]: updateRidgeArm(state, expertId, x, reward, config.discount) },
    };
  };

/** Squared norm of x, the width² of an expert with no data (A⁻¹ = I/λ) times λ. */
export const squaredNorm = (x: FeatureVector): number => {
  let sum = 0;
  forEachNonZero(x, (_i, v) => {
    sum += v * v;
  });
  return sum;
};

/** The largest |θᵢ·xᵢ| terms of a linear score (at most `limit`). */
export const contributions = (
  x: FeatureVector,
  theta: readonly number[],
  limit: number,
): FeatureContribution[] => {
  if (limit === 0) return [];
  const terms: FeatureContribution[] = [];
  forEachNonZero(x, (index, value) => {
    const weight = theta[index] as number;
    const contribution = weight * value;
    if (contribution !== 0) terms.push({ index, value, weight, contribution });
  });
  terms.sort((p, q) => Math.abs(q.contribution) - Math.abs(p.contribution) || p.index - q.index);
  return terms.slice(0, limit);
};

/**
 * The chosen expert against the runner-up, feature by feature: θᵢ·xᵢ and (θᵢ − θ'ᵢ)·xᵢ for every
 * non-zero feature, the largest |margin| first, at most `limit`; the margin is over all of them.
 */
export const attributionOf = (
  x: FeatureVector,
  chosen: readonly number[] | undefined,
  runnerUp: readonly number[] | undefined,
  runnerUpExpertId: string,
  limit: number,
): Attribution => {
  const features: FeatureAttribution[] = [];
  let estimateMargin = 0;
  forEachNonZero(x, (index, value) => {
    const weight = chosen?.[index] ?? 0;
    const runnerUpWeight = runnerUp?.[index] ?? 0;
    const marginContribution = (weight - runnerUpWeight) * value;
    estimateMargin += marginContribution;
    features.push({ index, value, weight, runnerUpWeight, contribution: weight * value, marginContribution });
  });
  features.sort(
    (p, q) => Math.abs(q.marginContribution) - Math.abs(p.marginContribution) || p.index - q.index,
  );
  return { runnerUpExpertId, estimateMargin, features: features.slice(0, limit) };
};

/** The best of `scores` other than `chosen` (undefined with one candidate). */
export const runnerUpOf = (scores: ArrayLike<number>, chosen: number): number | undefined => {
  let best: number | undefined;
  for (let a = 0; a < scores.length; a += 1) {
    if (a === chosen) continue;
    if (best === undefined || (scores[a] as number) > (scores[best] as number)) best = a;
  }
  return best;
};

/**
 * `{ attribution }` of the pick against the best other candidate by `scores` (the strategy's own
 * ranking: LinUCB's bounds, Thompson's draws, each less its penalty), or nothing with a single
 * candidate or when neither expert has data yet. With `penalties`, `penaltyMargin` is the runner-up's
 * penalty less the pick's; the estimate margin and the features stay about θ·x.
 */
export const attributionAgainst = (
  scores: ArrayLike<number>,
  chosen: number,
  x: FeatureVector,
  thetas: readonly (readonly number[] | undefined)[],
  candidates: readonly string[],
  limit: number,
  penalties?: Float64Array,
): { attribution?: Attribution } => {
  const runnerUp = runnerUpOf(scores, chosen);
  // Two experts with no data yet have nothing to compare: every weight is 0.
  if (runnerUp === undefined || (thetas[chosen] === undefined && thetas[runnerUp] === undefined)) return {};
  const attribution = attributionOf(
    x,
    thetas[chosen],
    thetas[runnerUp],
    candidates[runnerUp] as string,
    limit,
  );
  return {
    attribution:
      penalties === undefined
        ? attribution
        : {
            ...attribution,
            penaltyMargin: (penalties[runnerUp] as number) - (penalties[chosen] as number),
          },
  };
};

/** How a selector gets an arm's A⁻¹ and θ: kept incrementally, or (naive) solved on every decision. */
type Solve = (
  arm: RidgeArm,
  dimension: number,
) => { readonly aInv: readonly number[]; readonly theta: readonly number[] };

/**
 * What every ridge decision starts with: the state and features checked, the candidates without
 * duplicates, and their penalties (undefined when none, or all 0).
 */
export const ridgeDecision = (
  config: ResolvedConfig,
  rawCandidates: readonly string[],
  x: FeatureVector,
  state: LinUcbState,
  penalty: Penalty | undefined,
): { readonly candidates: readonly string[]; readonly penalties: Float64Array | undefined } => {
  checkState(state, config);
  assertDimension(x, state.dimension);
  const candidates = uniqueCandidates(rawCandidates);
  return { candidates, penalties: candidatePenalties(candidates, penalty) };
};

const selector =
  (name: 'linucb' | 'naive-linucb', config: ResolvedConfig, solve: Solve): Strategy<LinUcbState>['select'] =>
  (rawCandidates, x, state, rng, penalty): Selection => {
    const { candidates, penalties } = ridgeDecision(config, rawCandidates, x, state, penalty);
    const k = candidates.length;
    const d = state.dimension;
    const estimates = new Float64Array(k);
    const widths = new Float64Array(k);
    const ucbs = new Float64Array(k);
    const thetas: (readonly number[] | undefined)[] = new Array(k);
    let priorWidth = -1;
    for (let a = 0; a < k; a += 1) {
      const arm = armOf(state, candidates[a] as string);
      let estimate = 0;
      let width: number;
      if (arm === undefined) {
        if (priorWidth < 0) priorWidth = Math.sqrt(squaredNorm(x) / state.lambda);
        width = priorWidth;
      } else {
        const { aInv, theta } = solve(arm, d);
        thetas[a] = theta;
        estimate = dot(x, theta);
        width = Math.sqrt(Math.max(0, quadraticForm(aInv, x, d)));
      }
      estimates[a] = estimate;
      widths[a] = width;
      const ucb = estimate + config.alpha * width;
      ucbs[a] = penalties === undefined ? ucb : ucb - (penalties[a] as number);
    }
    const winners = argmaxAll(ucbs);
    const chosen = breakTie(winners, rng);
    const objectives = lessPenalties(estimates, penalties);
    const exploitWinners = argmaxAll(objectives);
    const exploit = exploitWinners.includes(chosen) ? chosen : (exploitWinners[0] as number);
    const sds = widths.map((w) => config.noise * w);
    const perCandidate: CandidateAssessment[] = candidates.map((expertId, a) => ({
      expertId,
      estimate: estimates[a] as number,
      uncertainty: widths[a] as number,
      probability: winners.includes(a) ? 1 / winners.length : 0,
      bonus: config.alpha * (widths[a] as number),
      ...penaltyOf(penalties, a),
    }));
    const theta = thetas[chosen];
    return {
      ...attributionAgainst(ucbs, chosen, x, thetas, candidates, config.topFeatures, penalties),
      expertId: candidates[chosen] as string,
      strategy: name,
      propensity: 1 / winners.length,
      confidence: probabilityBestLowerBound(objectives, sds, chosen),
      exploration: chosen !== exploit,
      exploitExpertId: candidates[exploit] as string,
      perCandidate,
      topFeatures: theta === undefined ? [] : contributions(x, theta, config.topFeatures),
      modelVersion: state.version,
    };
  };

/** The LinUCB strategy (incremental A⁻¹). */
export const createLinUcb = (options: LinUcbOptions): Strategy<LinUcbState> => {
  const config = resolveConfig(options);
  return {
    name: 'linucb',
    initialState: () => emptyLinUcbState(config.dimension, config.lambda),
    select: selector('linucb', config, (arm) => arm),
    update: ridgeUpdate(config),
  };
};

/**
 * LinUCB that ignores the maintained A⁻¹ and θ and solves A⁻¹ (Cholesky, O(d³)) for every candidate
 * at every decision: the textbook implementation, kept as the benchmark's baseline. Same state,
 * same decisions as `createLinUcb` up to rounding.
 */
export const createNaiveLinUcb = (options: LinUcbOptions): Strategy<LinUcbState> => {
  const config = resolveConfig(options);
  return {
    name: 'naive-linucb',
    initialState: () => emptyLinUcbState(config.dimension, config.lambda),
    select: selector('naive-linucb', config, (arm, d) => {
      const aInv = inverseSpd(arm.a, d);
      return { aInv, theta: matVec(aInv, arm.b, d) };
    }),
    update: ridgeUpdate(config),
  };
};

/** Recomputes every A⁻¹ (Cholesky) and θ from A and b; the version is unchanged. */
export const refreshLinUcbState = (state: LinUcbState): LinUcbState => {
  const d = state.dimension;
  const arms: Record<string, RidgeArm> = {};
  for (const [expertId, arm] of Object.entries(state.arms)) {
    const aInv = inverseSpd(arm.a, d);
    arms[expertId] = { ...arm, aInv, theta: matVec(aInv, arm.b, d) };
  }
  return { ...state, arms };
};

// ---------------------------------------------------------------------------------------------
// Storage form: A's upper triangle and b only (d(d+1)/2 + d numbers per expert instead of 3d² + 2d);
// A⁻¹ and θ are derived, so they are recomputed by a direct solve on load.

export interface StoredRidgeArm {
  readonly n: number;
  readonly aUpper: readonly number[];
  readonly b: readonly number[];
}

export interface StoredLinUcbState extends ModelState {
  readonly model: 'ridge';
  readonly version: number;
  readonly dimension: number;
  readonly lambda: number;
  readonly arms: Readonly<Record<string, StoredRidgeArm>>;
}

const finite = z.number().refine(Number.isFinite, 'must be finite');

export const storedLinUcbStateSchema = z
  .object({
    model: z.literal('ridge'),
    version: z.int().min(0),
    dimension: z.int().min(1).max(MAX_DIMENSION),
    lambda: finite.refine((v) => v > 0, 'must be > 0'),
    arms: z.record(
      z.string().min(1),
      z.object({ n: z.int().min(0), aUpper: z.array(finite), b: z.array(finite) }),
    ),
  })
  .superRefine((state, ctx) => {
    const d = state.dimension;
    for (const [expertId, arm] of Object.entries(state.arms)) {
      if (arm.aUpper.length !== (d * (d + 1)) / 2 || arm.b.length !== d)
        ctx.addIssue({ code: 'custom', path: ['arms', expertId], message: `sizes do not match d = ${d}` });
    }
  });

export const toStoredLinUcbState = (state: LinUcbState): StoredLinUcbState => {
  const arms: Record<string, StoredRidgeArm> = {};
  for (const [expertId, arm] of Object.entries(state.arms))
    arms[expertId] = { n: arm.n, aUpper: packUpper(arm.a, state.dimension), b: arm.b.slice() };
  return { model: 'ridge', version: state.version, dimension: state.dimension, lambda: state.lambda, arms };
};

/** Validates a stored state and rebuilds A⁻¹ and θ by a direct solve. */
export const loadLinUcbState = (stored: unknown): LinUcbState => {
  const parsed = storedLinUcbStateSchema.parse(stored);
  const d = parsed.dimension;
  const arms: Record<string, RidgeArm> = {};
  for (const [expertId, arm] of Object.entries(parsed.arms)) {
    const a = unpackUpper(arm.aUpper, d);
    const aInv = inverseSpd(a, d);
    arms[expertId] = { n: arm.n, a, b: arm.b, aInv, theta: matVec(aInv, arm.b, d) };
  }
  return { model: 'ridge', version: parsed.version, dimension: d, lambda: parsed.lambda, arms };
};
