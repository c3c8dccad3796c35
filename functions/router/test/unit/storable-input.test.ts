import { describe, expect, it } from 'vitest';
import { expertInputSchema, routerConfigInputSchema } from '../../contract.js';

/** Numbers the router table cannot hold: above Number.MAX_SAFE_INTEGER, or a magnitude below 1e-130. */
const UNSTORABLE = [1e16, 9007199254740992, 1e-200, -1e-200];

const expert = (overrides: object) => ({
  name: 'm',
  type: 'model',
  costPerCallUsd: 0.01,
  endpoint: 'https://m.example.com/v1',
  ...overrides,
});

describe('numbers the router stores are checked at the door', () => {
  it('refuses an expert whose cost or metadata number the table could not hold', () => {
    for (const value of UNSTORABLE) {
      expect(expertInputSchema.safeParse(expert({ metadata: { weight: value } })).success, `${value}`).toBe(
        false,
      );
    }
    expect(expertInputSchema.safeParse(expert({ costPerCallUsd: 1e-200 })).success).toBe(false);
    expect(
      expertInputSchema.safeParse(expert({ costPerCallUsd: 0, metadata: { weight: 0.5 } })).success,
    ).toBe(true);
  });

  it('refuses a router config whose threshold or feature scaling the table could not hold', () => {
    for (const value of UNSTORABLE) {
      const configs = [
        { strategy: 'linucb', rewardMapping: { latency_ms: { atMost: value } } },
        { strategy: 'linucb', numericFeatures: [{ key: 'x', mean: value }] },
        { strategy: 'linucb', clip: Math.abs(value) },
      ];
      for (const config of configs)
        expect(routerConfigInputSchema.safeParse(config).success, JSON.stringify(config)).toBe(false);
    }
    expect(
      routerConfigInputSchema.safeParse({
        strategy: 'linucb',
        rewardMapping: { latency_ms: { atMost: 800 } },
      }).success,
    ).toBe(true);
  });
});
