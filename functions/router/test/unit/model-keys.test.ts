import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { createStrategy, modelKindOf } from '../../src/domain/bandits/index.js';
import type { Expert } from '../../src/domain/experts.js';
import { initialStateOf } from '../../src/domain/reward-learning.js';
import {
  DEFAULT_ROUTER_CONFIG,
  ROUTER_STRATEGIES,
  type RouterConfigInput,
  strategyConfigOf,
} from '../../src/domain/router-config.js';
import { modelKeyOf } from '../../src/domain/routing.js';
import { expertRecord, inMemoryRewardConsumer, inMemoryRouting } from '../support/routing-fakes.js';

/** Every configuration a tenant can store that touches the model key: strategy, likelihood, d, feature spec, clip. */
const routerConfigs = fc.record({
  strategy: fc.constantFrom(...ROUTER_STRATEGIES),
  likelihood: fc.constantFrom('bernoulli' as const, 'gaussian' as const),
  dimension: fc.integer({ min: 8, max: 64 }),
  numericFeatures: fc.uniqueArray(
    fc.record(
      {
        key: fc.constantFrom('x', 'tokens', 'size', 'depth'),
        transform: fc.constantFrom('identity' as const, 'signed-log1p' as const),
        mean: fc.double({ min: -10, max: 10, noNaN: true }),
        std: fc.double({ min: 0.1, max: 10, noNaN: true }),
      },
      { requiredKeys: ['key'] },
    ),
    { maxLength: 3, selector: (feature) => feature.key },
  ),
  clip: fc.constantFrom(1, 3, 5, 7.5),
});

const configOf = (drawn: Partial<RouterConfigInput>): RouterConfigInput => ({
  ...DEFAULT_ROUTER_CONFIG,
  ...drawn,
});

describe('initialStateOf', () => {
  it('gives every model key a route can produce the state kind and dimension its strategy decides on', () => {
    fc.assert(
      fc.property(routerConfigs, (drawn) => {
        // Prepare
        const config = configOf(drawn);
        const strategyConfig = strategyConfigOf(config, 'exp_a');
        const modelKey = modelKeyOf(strategyConfig, config.dimension, config);
        const expected = createStrategy(strategyConfig, config.dimension).initialState();

        // Act
        const state = initialStateOf(modelKey);

        // Assess
        expect(state.model).toBe(modelKindOf(strategyConfig));
        expect(state).toEqual(expected);
      }),
    );
  });

  it('refuses a model key no route produces instead of guessing a state for it', () => {
    expect(() => initialStateOf('ridge:dX')).toThrow(/model key/);
  });
});

describe('a route after a reward', () => {
  it('never fails, whatever the strategy and feature spec (the reward is learnt into the model the route reads)', async () => {
    await fc.assert(
      fc.asyncProperty(routerConfigs, async (drawn) => {
        // Prepare
        const experts = new InMemoryTenantRecords<Expert>('EXPERT');
        await experts.create(expertRecord('acme', 'exp_a'));
        await experts.create(expertRecord('acme', 'exp_b'));
        const { routing, routerConfig, decisions, models, clock } = inMemoryRouting(experts, {
          modelCacheMs: 0,
        });
        const { consumer } = inMemoryRewardConsumer({ decisions, models, clock });
        await routerConfig.update('acme', configOf(drawn));
        const context = { x: 0.5, tokens: 900, size: 3, depth: 2, lang: 'en' };
        const candidates = ['exp_a', 'exp_b'];
        const first = await routing.route('acme', { taskId: 'first', context, candidates }, 't');
        const learnt = await consumer.ingest({
          tenantId: 'acme',
          taskId: 'first',
          signal: 'success_at_k',
          value: 1,
          ts: clock.now().toISOString(),
          receivedAt: clock.now().toISOString(),
          traceId: 't',
        });

        // Act
        const second = await routing.route('acme', { taskId: 'second', context, candidates }, 't');

        // Assess
        expect(first.expertId).toMatch(/^exp_[ab]$/);
        expect(learnt.outcome).toBe('applied');
        expect(candidates).toContain(second.expertId);
        expect((await decisions.get('acme', 'second'))?.modelVersion).toBe(1);
      }),
      { numRuns: 60 },
    );
  });
});
