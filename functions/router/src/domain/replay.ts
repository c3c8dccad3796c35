import {
  createStrategy,
  type ModelState,
  modelKindOf,
  mulberry32,
  type SparseVector,
  type SparseVectorJson,
  type StrategyConfig,
  sparseVectorJsonSchema,
} from './bandits/index.js';
import {
  estimateOffPolicy,
  type IntervalEstimate,
  meanInterval,
  type OffPolicyEstimates,
  OffPolicyInputError,
  type OffPolicySample,
  offPolicyTerms,
} from './off-policy.js';

/**
 * Off-policy replay: what a router strategy, with given parameters and a given (frozen) model state,
 * would have earned on decisions another policy logged. Each logged decision is re-decided by the
 * strategy on its logged context and candidates, exactly as `routing.ts` decides (createStrategy,
 * then `select` with a generator seeded by the decision's seed), and becomes an `OffPolicySample`:
 *
 * - target probability π(a|x): the strategy's `perCandidate[].probability` of the logged expert —
 *   never whether its own pick happens to be that expert (see below, ties);
 * - reward model q̂, for doubly robust: the strategy's own per-candidate estimates (running mean,
 *   posterior mean or θ·x): q̂(x, a) the estimate of the logged expert, q̂(x, π) = Σ π(a'|x)·q̂(x, a').
 *
 * The policy is evaluated frozen: the state does not learn from the logged rewards as the replay
 * goes (a learning policy's trajectory is another question, not one IPS can answer from these logs).
 * `compareReplay` is the gate a candidate strategy passes before it may serve traffic: paired per
 * decision, is it not worse than the baseline by more than a margin, with confidence?
 */

/** One logged decision with its reward, as replay reads it. */
export interface LoggedDecision {
  readonly taskId: string;
  /** The eligible candidates the logging policy chose among, in order (the rationale's candidates). */
  readonly candidates: readonly string[];
  /** The encoded context as logged. */
  readonly features: SparseVectorJson;
  /** The logged (served) action. */
  readonly expertId: string;
  /** The logging policy's probability of it, in (0, 1]. */
  readonly propensity: number;
  /** The reward observed for it. */
  readonly reward: number;
  /** The decision's 32-bit seed (the replayed decision draws from the same generator). */
  readonly seed: number;
}

/**
 * The policy to evaluate: a strategy with its parameters, the feature dimension it decides on, and
 * the model state it decides on, as strategies use it (`loadModelState` of a stored one; undefined =
 * the strategy's initial state).
 */
export interface ReplayPolicy {
  readonly strategy: StrategyConfig;
  readonly dimension: number;
  readonly state?: ModelState | undefined;
}

export interface ReplayComparison {
  readonly baseline: OffPolicyEstimates;
  readonly candidate: OffPolicyEstimates;
  /** Which per-decision terms were differenced: DR when both policies have it, else IPS. */
  readonly estimator: 'doubly-robust' | 'ips';
  /** candidate − baseline: the mean of the per-decision differences, its standard error and interval. */
  readonly difference: IntervalEstimate;
  readonly margin: number;
  readonly confidence: number;
  /** difference.low >= −margin: the candidate is not worse than the baseline by more than `margin`. */
  readonly passed: boolean;
}

const featuresOf = (decision: LoggedDecision): SparseVector => {
  const parsed = sparseVectorJsonSchema.safeParse(decision.features);
  if (!parsed.success) {
    throw new OffPolicyInputError(
      `decision ${decision.taskId}: invalid features (${parsed.error.issues[0]?.message ?? 'invalid'})`,
    );
  }
  return {
    dimension: parsed.data.dimension,
    indices: Int32Array.from(parsed.data.indices),
    values: Float64Array.from(parsed.data.values),
  };
};

const checkDecision = (decision: LoggedDecision, policy: ReplayPolicy, linear: boolean): void => {
  const where = `decision ${decision.taskId}`;
  if (!decision.candidates.includes(decision.expertId)) {
    throw new OffPolicyInputError(
      `${where}: the logged expert ${decision.expertId} is not among its candidates (${decision.candidates.join(', ')})`,
    );
  }
  if (!(decision.propensity > 0 && decision.propensity <= 1)) {
    throw new OffPolicyInputError(`${where}: propensity must be in (0, 1], got ${decision.propensity}`);
  }
  if (!Number.isFinite(decision.reward)) {
    throw new OffPolicyInputError(`${where}: reward must be finite, got ${decision.reward}`);
  }
  if (!(Number.isInteger(decision.seed) && decision.seed >= 0 && decision.seed <= 0xffff_ffff)) {
    throw new OffPolicyInputError(`${where}: seed must be a 32-bit unsigned integer, got ${decision.seed}`);
  }
  // Only the linear strategies read the features: their dimension must be the policy's. The
  // context-free ones decide the same whatever the encoding.
  if (linear && decision.features.dimension !== policy.dimension) {
    throw new OffPolicyInputError(
      `${where}: features of dimension ${decision.features.dimension}, the policy decides on ${policy.dimension}`,
    );
  }
};

/*
 * π(a|x) of the logged expert is the strategy's probability of it, as the Selection gives it:
 *
 * - static: 1 for its pick (the default expert, or the first candidate without it), 0 for the rest.
 * - greedy, LinUCB: 1 for the argmax, 0 for the rest — except on an exact tie (experts with no data
 *   yet: greedy ranks them +∞, LinUCB gives them the same prior bound), where the strategy breaks the
 *   tie uniformly at random and each tied expert has 1/|ties|. That is the right π(a|x) and is kept:
 *   the alternative, 1 or 0 by whether the replayed tie-break lands on the logged expert, would draw
 *   from the logged decision's own generator, so it is correlated with the logged action (the
 *   logging strategy replayed on its own logs would "agree" on every tie and weigh those rewards by
 *   |ties| instead of 1) — biased, where the probability is exact.
 * - ε-greedy: ε/k + (1 − ε)/|ties| for the best, ε/k otherwise (exact).
 * - Thompson: the Monte Carlo P(best), smoothed so none is 0 (its standard error is at most
 *   0.5/√propensityDraws); it depends on the state and candidates only, not on the draw.
 *
 * None of these depends on the generator; it is still the decision's seeded one, so a replay is
 * deterministic whatever a strategy draws.
 */

/**
 * The reward model q̂ DR uses: the strategy's estimate, or 0 where it has none (greedy ranks an
 * expert it has never seen +∞, which would make every DR term infinite). Any finite q̂ keeps DR
 * unbiased when the propensities are right; a poor one only widens its interval.
 */
const rewardModel = (estimate: number): number => (Number.isFinite(estimate) ? estimate : 0);

/** Off-policy samples of `policy` on the logged decisions, in order. */
export const replaySamples = (
  decisions: readonly LoggedDecision[],
  policy: ReplayPolicy,
): OffPolicySample[] => {
  if (decisions.length === 0) throw new OffPolicyInputError('no logged decisions to replay');
  const strategy = createStrategy(policy.strategy, policy.dimension);
  const state = policy.state ?? strategy.initialState();
  const linear = modelKindOf(policy.strategy) === 'ridge';
  return decisions.map((decision) => {
    checkDecision(decision, policy, linear);
    const x = featuresOf(decision);
    const selection = strategy.select(decision.candidates, x, state, mulberry32(decision.seed));
    // The logged expert is among the candidates (checked), so the Selection assessed it.
    const logged = selection.perCandidate.find((c) => c.expertId === decision.expertId);
    let predictedUnderTarget = 0;
    for (const c of selection.perCandidate) predictedUnderTarget += c.probability * rewardModel(c.estimate);
    return {
      propensity: decision.propensity,
      targetProbability: logged?.probability ?? 0,
      reward: decision.reward,
      predicted: rewardModel(logged?.estimate ?? 0),
      predictedUnderTarget,
    };
  });
};

/** IPS, SNIPS and DR estimates of `policy`'s value on the logged decisions. */
export const replayEstimate = (
  decisions: readonly LoggedDecision[],
  policy: ReplayPolicy,
  options: { readonly confidence?: number } = {},
): OffPolicyEstimates => estimateOffPolicy(replaySamples(decisions, policy), options);

/**
 * Non-inferiority of `candidate` against `baseline` on the same logs: per decision, the difference of
 * the two policies' DR terms (IPS terms when either has no DR), whose mean estimates
 * V(candidate) − V(baseline); pairing cancels the reward noise both terms share, so the interval is
 * usually narrower than the two estimates' intervals side by side. Passed when the interval's low end
 * is at least −margin (margin 0 by default: not worse at all, with confidence).
 */
export const compareReplay = (
  decisions: readonly LoggedDecision[],
  baseline: ReplayPolicy,
  candidate: ReplayPolicy,
  options: { readonly margin?: number; readonly confidence?: number } = {},
): ReplayComparison => {
  const margin = options.margin ?? 0;
  if (!(Number.isFinite(margin) && margin >= 0)) {
    throw new OffPolicyInputError(`margin must be a finite number >= 0, got ${margin}`);
  }
  const confidence = options.confidence ?? 0.95;
  const baselineSamples = replaySamples(decisions, baseline);
  const candidateSamples = replaySamples(decisions, candidate);
  const baselineTerms = offPolicyTerms(baselineSamples);
  const candidateTerms = offPolicyTerms(candidateSamples);
  const useDr = baselineTerms.doublyRobust !== undefined && candidateTerms.doublyRobust !== undefined;
  const base = (useDr ? baselineTerms.doublyRobust : undefined) ?? baselineTerms.ips;
  const cand = (useDr ? candidateTerms.doublyRobust : undefined) ?? candidateTerms.ips;
  const difference = meanInterval(
    cand.map((term, i) => term - (base[i] ?? 0)),
    { confidence },
  );
  return {
    baseline: estimateOffPolicy(baselineSamples, { confidence }),
    candidate: estimateOffPolicy(candidateSamples, { confidence }),
    estimator: useDr ? 'doubly-robust' : 'ips',
    difference,
    margin,
    confidence,
    passed: difference.low >= -margin,
  };
};
