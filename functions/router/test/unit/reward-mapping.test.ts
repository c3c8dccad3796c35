import { describe, expect, it } from 'vitest';
import { DEFAULT_REWARD_MAPPING, type RewardMapping, rewardOf } from '../../src/domain/reward-mapping.js';

describe('rewardOf', () => {
  it('maps signals by the default rules: success and incidents clamped, thumbs by sign, latency and cost ignored', () => {
    expect(rewardOf('success_at_k', 1.7)).toBe(1);
    expect(rewardOf('success_at_k', 0.25)).toBe(0.25);
    expect(rewardOf('incident_free', -3)).toBe(0);
    expect(rewardOf('human_thumbs', -1)).toBe(0);
    expect(rewardOf('human_thumbs', 1)).toBe(1);
    expect(rewardOf('latency_ms', 120)).toBeUndefined();
    expect(rewardOf('cost', 0.01)).toBeUndefined();
  });

  it('turns a latency or cost budget into a reward with atMost / atLeast thresholds', () => {
    // Prepare
    const mapping: RewardMapping = {
      ...DEFAULT_REWARD_MAPPING,
      latency_ms: { atMost: 500 },
      cost: { atLeast: 0 },
    };

    // Act / Assess
    expect(rewardOf('latency_ms', 499, mapping)).toBe(1);
    expect(rewardOf('latency_ms', 500, mapping)).toBe(1);
    expect(rewardOf('latency_ms', 501, mapping)).toBe(0);
    expect(rewardOf('cost', -0.5, mapping)).toBe(0);
    expect(rewardOf('cost', 0, mapping)).toBe(1);
  });

  it('learns nothing from a non-finite value, whatever the rule', () => {
    const mapping: RewardMapping = { ...DEFAULT_REWARD_MAPPING, latency_ms: { atMost: 500 } };
    expect(rewardOf('success_at_k', Number.NaN)).toBeUndefined();
    expect(rewardOf('latency_ms', Number.POSITIVE_INFINITY, mapping)).toBeUndefined();
  });
});
