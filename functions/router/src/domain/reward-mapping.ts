/**
 * Reward signals and the per-tenant reward mapping: how a signal and its value become the scalar
 * reward the strategies learn from. Part of the tenant's router configuration.
 */

export const REWARD_SIGNALS = [
  'success_at_k',
  'human_thumbs',
  'incident_free',
  'latency_ms',
  'cost',
] as const;
export type RewardSignal = (typeof REWARD_SIGNALS)[number];

/**
 * How one signal becomes a reward: `clamp01` (value clamped to [0, 1]), `positive` (value > 0 -> 1,
 * else 0), `ignore` (recorded, not learnt from), or a threshold: `{ atMost: t }` (value <= t -> 1,
 * else 0: a latency or cost budget met) and `{ atLeast: t }` (value >= t -> 1, else 0).
 */
export const NAMED_SIGNAL_RULES = ['clamp01', 'positive', 'ignore'] as const;
export type SignalRule =
  | (typeof NAMED_SIGNAL_RULES)[number]
  | { readonly atMost: number }
  | { readonly atLeast: number };
export type RewardMapping = Readonly<Record<RewardSignal, SignalRule>>;

/**
 * The default mapping of every tenant. Latency and cost are not rewards by themselves (a cheap,
 * wrong answer is not a success): they are recorded, and learnt from only when a tenant maps them.
 */
export const DEFAULT_REWARD_MAPPING: RewardMapping = {
  success_at_k: 'clamp01',
  incident_free: 'clamp01',
  human_thumbs: 'positive',
  latency_ms: 'ignore',
  cost: 'ignore',
};

/** The scalar reward of a signal under a mapping, or undefined when the signal is not learnt from. */
export const rewardOf = (
  signal: RewardSignal,
  value: number,
  mapping: RewardMapping = DEFAULT_REWARD_MAPPING,
): number | undefined => {
  if (!Number.isFinite(value)) return undefined;
  const rule = mapping[signal];
  if (typeof rule === 'object') {
    if ('atMost' in rule) return value <= rule.atMost ? 1 : 0;
    return value >= rule.atLeast ? 1 : 0;
  }
  switch (rule) {
    case 'clamp01':
      return Math.min(1, Math.max(0, value));
    case 'positive':
      return value > 0 ? 1 : 0;
    case 'ignore':
      return undefined;
  }
};

/**
 * The values each signal may carry: what it means, and what the rest of the pipeline can hold. A
 * reward outside its range is refused at intake (400) and, if one reaches the consumer anyway,
 * rejected there with reason `value_out_of_range` (never retried: it would fail on every delivery).
 */
export const SIGNAL_RANGES: Readonly<Record<RewardSignal, { readonly min: number; readonly max: number }>> = {
  /** The share of successes among the top k: a fraction. */
  success_at_k: { min: 0, max: 1 },
  /** Down (-1) to up (1); fractions for averaged votes. */
  human_thumbs: { min: -1, max: 1 },
  /** 1 when no incident followed, 0 when one did; fractions for a share of runs. */
  incident_free: { min: 0, max: 1 },
  /** Milliseconds, at most a day. */
  latency_ms: { min: 0, max: 86_400_000 },
  /** In the tenant's currency unit, at most a million per task. */
  cost: { min: 0, max: 1_000_000 },
};

/**
 * The smallest non-zero magnitude a reward value may have. DynamoDB numbers stop at 1e-130 (a
 * smaller one is a ValidationException, not a zero), and the router stores nothing below 1e-100
 * (STORABLE_MIN_MAGNITUDE): a value such as 1e-200 could be neither stored nor learnt faithfully.
 */
export const MIN_REWARD_MAGNITUDE = 1e-100;

/** Why a signal's value cannot be taken, or undefined when it can. */
export const rewardValueProblem = (signal: RewardSignal, value: number): string | undefined => {
  const range = SIGNAL_RANGES[signal];
  if (!Number.isFinite(value)) return 'must be a finite number';
  if (value < range.min || value > range.max)
    return `must be between ${range.min} and ${range.max} for ${signal}`;
  if (value !== 0 && Math.abs(value) < MIN_REWARD_MAGNITUDE)
    return `must be 0 or at least ${MIN_REWARD_MAGNITUDE} in magnitude`;
  return undefined;
};
