/**
 * Off-policy estimators: what a policy *would* have earned on decisions another policy logged, from
 * the logged propensities (M1 part 2, "off-policy replay"). Pure arithmetic over logged samples: a
 * caller turns its logged decisions into samples (the target policy's probability of the logged
 * action in that context, and, for doubly robust, a reward model's predictions).
 *
 * - IPS (inverse propensity scoring): the mean of w·r, w = π(a|x) / μ(a|x). Unbiased when every
 *   action the target takes had a propensity above 0; its variance grows with the weights.
 * - SNIPS (self-normalised IPS): Σ w·r / Σ w. Slightly biased, much steadier when weights vary.
 * - DR (doubly robust): the mean of q̂(x, π) + w·(r − q̂(x, a)): unbiased if either the propensities
 *   or the reward model q̂ is right, and of lower variance than IPS when q̂ is any good.
 *
 * Each comes with a normal-approximation confidence interval (95 % by default: the standard error of
 * the per-sample terms; for SNIPS by the delta method) and the effective sample size of the weights,
 * (Σw)² / Σw², which says how many logged decisions the estimate is really worth.
 */

export interface OffPolicySample {
  /** The logging policy's probability of the action it took (the decision's propensity), in (0, 1]. */
  readonly propensity: number;
  /** The target policy's probability of that same action in that context, in [0, 1]. */
  readonly targetProbability: number;
  /** The reward observed for the logged action. */
  readonly reward: number;
  /** Doubly robust only: the reward model's prediction for the logged action, q̂(x, a). */
  readonly predicted?: number;
  /** Doubly robust only: the reward model's expectation under the target policy, Σ π(a'|x) q̂(x, a'). */
  readonly predictedUnderTarget?: number;
}

export interface IntervalEstimate {
  readonly value: number;
  readonly standardError: number;
  readonly low: number;
  readonly high: number;
}

export interface OffPolicyEstimates {
  /** Logged samples used. */
  readonly n: number;
  /** (Σw)² / Σw²: n when the target agrees with the logging policy everywhere, less as they part. */
  readonly effectiveSampleSize: number;
  readonly maxWeight: number;
  readonly ips: IntervalEstimate;
  readonly snips: IntervalEstimate;
  /** Present when every sample carries the reward model's two predictions. */
  readonly doublyRobust?: IntervalEstimate;
}

/** Samples that cannot be estimated from (none, or a propensity or probability out of range). */
export class OffPolicyInputError extends RangeError {
  override readonly name = 'OffPolicyInputError';
}

/** The two-sided normal quantile of a confidence level (0.95 -> 1.96), by bisection on erf. */
const normalQuantile = (confidence: number): number => {
  const erf = (x: number): number => {
    // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y =
      1 -
      ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
        t *
        Math.exp(-x * x);
    return x >= 0 ? y : -y;
  };
  let low = 0;
  let high = 10;
  for (let i = 0; i < 80; i += 1) {
    const mid = (low + high) / 2;
    if (erf(mid / Math.SQRT2) < confidence) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
};

/** The one-sided normal quantile of a confidence level (0.95 -> 1.645). */
export const oneSidedQuantile = (confidence: number): number => normalQuantile(2 * confidence - 1);

const interval = (value: number, standardError: number, z: number): IntervalEstimate => ({
  value,
  standardError,
  low: value - z * standardError,
  high: value + z * standardError,
});

/** Mean and standard error of the mean (sample standard deviation / √n; 0 for one sample). */
const meanAndError = (terms: readonly number[]): { mean: number; error: number } => {
  const n = terms.length;
  const mean = terms.reduce((sum, t) => sum + t, 0) / n;
  if (n < 2) return { mean, error: 0 };
  const variance = terms.reduce((sum, t) => sum + (t - mean) ** 2, 0) / (n - 1);
  return { mean, error: Math.sqrt(variance / n) };
};

const check = (sample: OffPolicySample, index: number): void => {
  const where = `sample ${index}`;
  if (!(sample.propensity > 0 && sample.propensity <= 1)) {
    throw new OffPolicyInputError(`${where}: propensity must be in (0, 1], got ${sample.propensity}`);
  }
  if (!(sample.targetProbability >= 0 && sample.targetProbability <= 1)) {
    throw new OffPolicyInputError(
      `${where}: target probability must be in [0, 1], got ${sample.targetProbability}`,
    );
  }
  if (!Number.isFinite(sample.reward)) throw new OffPolicyInputError(`${where}: reward must be finite`);
};

/** IPS, SNIPS and (with predictions) DR estimates of the target policy's value on logged samples. */
export const estimateOffPolicy = (
  samples: readonly OffPolicySample[],
  options: { readonly confidence?: number } = {},
): OffPolicyEstimates => {
  if (samples.length === 0) throw new OffPolicyInputError('no logged decisions to estimate from');
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) {
    throw new OffPolicyInputError(`confidence must be in (0, 1), got ${confidence}`);
  }
  samples.forEach(check);
  const z = normalQuantile(confidence);
  const n = samples.length;
  const weights = samples.map((s) => s.targetProbability / s.propensity);
  const sumW = weights.reduce((sum, w) => sum + w, 0);
  const sumW2 = weights.reduce((sum, w) => sum + w * w, 0);

  const ips = meanAndError(samples.map((s, i) => (weights[i] ?? 0) * s.reward));

  // SNIPS: Σwr / Σw; delta-method standard error √Σ(w(r − V))² / Σw. No weight at all: no estimate
  // beyond 0 with an unbounded interval (the target never takes a logged action).
  const snipsValue =
    sumW > 0 ? samples.reduce((sum, s, i) => sum + (weights[i] ?? 0) * s.reward, 0) / sumW : 0;
  const snipsError =
    sumW > 0
      ? Math.sqrt(
          samples.reduce((sum, s, i) => sum + ((weights[i] ?? 0) * (s.reward - snipsValue)) ** 2, 0),
        ) / sumW
      : Number.POSITIVE_INFINITY;

  const withModel = samples.every(
    (s) =>
      Number.isFinite(s.predicted ?? Number.NaN) && Number.isFinite(s.predictedUnderTarget ?? Number.NaN),
  );
  const dr = withModel
    ? meanAndError(
        samples.map(
          (s, i) => (s.predictedUnderTarget ?? 0) + (weights[i] ?? 0) * (s.reward - (s.predicted ?? 0)),
        ),
      )
    : undefined;

  return {
    n,
    effectiveSampleSize: sumW2 > 0 ? (sumW * sumW) / sumW2 : 0,
    maxWeight: weights.reduce((max, w) => (w > max ? w : max), 0),
    ips: interval(ips.mean, ips.error, z),
    snips: interval(snipsValue, snipsError, z),
    ...(dr ? { doublyRobust: interval(dr.mean, dr.error, z) } : {}),
  };
};

/**
 * The per-sample terms whose means IPS and DR are: w·r, and q̂(x, π) + w·(r − q̂(x, a)) (undefined
 * unless every sample carries the reward model's two predictions). Checks the samples as
 * `estimateOffPolicy` does. Paired comparisons of two policies on the same logs difference them.
 */
export const offPolicyTerms = (
  samples: readonly OffPolicySample[],
): { readonly ips: number[]; readonly doublyRobust?: number[] } => {
  if (samples.length === 0) throw new OffPolicyInputError('no logged decisions to estimate from');
  samples.forEach(check);
  const weights = samples.map((s) => s.targetProbability / s.propensity);
  const ips = samples.map((s, i) => (weights[i] ?? 0) * s.reward);
  const withModel = samples.every(
    (s) =>
      Number.isFinite(s.predicted ?? Number.NaN) && Number.isFinite(s.predictedUnderTarget ?? Number.NaN),
  );
  if (!withModel) return { ips };
  const doublyRobust = samples.map(
    (s, i) => (s.predictedUnderTarget ?? 0) + (weights[i] ?? 0) * (s.reward - (s.predicted ?? 0)),
  );
  return { ips, doublyRobust };
};

/**
 * The mean of per-sample terms with its normal-approximation interval (standard error: sample
 * standard deviation / √n), the arithmetic of the IPS and DR intervals: e.g. for the per-decision
 * differences of two policies' terms.
 */
export const meanInterval = (
  terms: readonly number[],
  options: { readonly confidence?: number } = {},
): IntervalEstimate => {
  if (terms.length === 0) throw new OffPolicyInputError('no terms to average');
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) {
    throw new OffPolicyInputError(`confidence must be in (0, 1), got ${confidence}`);
  }
  terms.forEach((t, index) => {
    if (!Number.isFinite(t)) throw new OffPolicyInputError(`term ${index} must be finite, got ${t}`);
  });
  const { mean, error } = meanAndError(terms);
  return interval(mean, error, normalQuantile(confidence));
};
