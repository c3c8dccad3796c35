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
