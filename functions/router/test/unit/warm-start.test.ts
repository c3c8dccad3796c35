import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '#shared/errors.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { loadModelState } from '../../src/domain/bandits/index.js';
import type { Expert } from '../../src/domain/experts.js';
import type { RouterConfigInput } from '../../src/domain/router-config.js';
import type { ModelRecord } from '../../src/domain/routing.js';
import { PRIORS_FORMAT, summaryOf, WarmStartService } from '../../src/domain/warm-start.js';
import { expertRecord, inMemoryRouting } from '../support/routing-fakes.js';

const setup = async (strategy: RouterConfigInput['strategy'] = 'linucb') => {
  const experts = new InMemoryTenantRecords<Expert>('EXPERT');
  for (const id of ['exp_new', 'exp_old', 'exp_other']) await experts.create(expertRecord('acme', id));
  const fakes = inMemoryRouting(experts);
  const { tenantId: _t, version: _v, ...current } = await fakes.routerConfig.get('acme');
  await fakes.routerConfig.update('acme', { ...current, strategy }, undefined, 'test');
  const warm = new WarmStartService({
    models: fakes.models,
    configs: fakes.routerConfig,
    experts,
    clock: fakes.clock,
  });
  return { ...fakes, warm, experts };
};

const doc = (experts: { expertId: string; meanReward: number; weight: number }[]) => ({
  format: PRIORS_FORMAT as typeof PRIORS_FORMAT,
  source: 'evaluation:test',
  experts,
});

describe('warm start', () => {
  for (const strategy of ['linucb', 'linear-thompson', 'thompson', 'greedy'] as const) {
    it(`${strategy}: a prior is learnt as weight observations of its mean on the intercept, and the export reads it back`, async () => {
      // Prepare
      const { warm, models } = await setup(strategy);

      // Act
      const result = await warm.apply('acme', doc([{ expertId: 'exp_new', meanReward: 0.8, weight: 20 }]));
      const exported = await warm.export('acme');

      // Assess
      expect(result.applied).toEqual([{ expertId: 'exp_new', meanReward: 0.8, weight: 20 }]);
      expect(result.modelVersion).toBe(1);
      const stored = (await models.get('acme', result.modelKey)) as ModelRecord;
      const summary = summaryOf(loadModelState(stored.state), 'exp_new');
      expect(summary?.weight).toBeCloseTo(20, 6);
      expect(summary?.meanReward).toBeCloseTo(0.8, 6);
      expect(exported.experts).toEqual([
        { expertId: 'exp_new', name: 'exp_new', meanReward: 0.8, weight: 20 },
      ]);
      expect(exported.modelKey).toBe(result.modelKey);
    });
  }

  it('a warm-started expert is preferred by a route over cold ones of lower prior, before any reward', async () => {
    const { warm, routing } = await setup('linucb');
    await warm.apply(
      'acme',
      doc([
        { expertId: 'exp_new', meanReward: 0.9, weight: 50 },
        { expertId: 'exp_other', meanReward: 0.1, weight: 50 },
      ]),
    );

    const answer = await routing.route(
      'acme',
      { taskId: 't-warm', context: { lang: 'en' }, candidates: ['exp_other', 'exp_new'] },
      'trace',
    );

    expect(answer.expertId).toBe('exp_new');
  });

  it('never overrides evidence, skips unknown experts, and putting the same document twice changes nothing', async () => {
    // Prepare: exp_old has evidence already.
    const { warm, models } = await setup('thompson');
    await warm.apply('acme', doc([{ expertId: 'exp_old', meanReward: 0.3, weight: 5 }]));
    const priors = doc([
      { expertId: 'exp_old', meanReward: 1, weight: 100 },
      { expertId: 'exp_new', meanReward: 0.5, weight: 10 },
      { expertId: 'exp_globex', meanReward: 0.5, weight: 10 },
    ]);

    // Act
    const first = await warm.apply('acme', priors);
    const stored = await models.get('acme', first.modelKey);
    const second = await warm.apply('acme', priors);

    // Assess
    expect(first.applied.map((a) => a.expertId)).toEqual(['exp_new']);
    expect(first.skipped).toEqual([
      { expertId: 'exp_old', reason: 'has_evidence' },
      { expertId: 'exp_globex', reason: 'unknown_expert' },
    ]);
    expect(summaryOf(loadModelState(stored?.state), 'exp_old')?.meanReward).toBeCloseTo(0.3);
    expect(second.applied).toEqual([]);
    expect(second.modelVersion).toBe(first.modelVersion);
    expect((await models.get('acme', first.modelKey))?.version).toBe(first.modelVersion);
  });

  it('keeps the reward window, and reads the model again when the reward consumer wrote it meanwhile', async () => {
    const { warm, models, routerConfig, experts, clock } = await setup('greedy');
    await warm.apply('acme', doc([{ expertId: 'exp_old', meanReward: 0.5, weight: 2 }]));
    const key = (await warm.export('acme')).modelKey;
    const before = (await models.get('acme', key)) as ModelRecord;
    await models.replace({ ...before, appliedRewardIds: ['t-1#success_at_k'] }, before.version);
    let conflicts = 0;
    const racing = new WarmStartService({
      models: {
        get: (tenantId, id) => models.get(tenantId, id),
        create: (record) => models.create(record),
        replace: async (record, expected) => {
          if (conflicts === 0) {
            conflicts += 1;
            throw new ConflictError('changed');
          }
          return models.replace(record, expected);
        },
      },
      configs: routerConfig,
      experts,
      clock,
    });

    const result = await racing.apply('acme', doc([{ expertId: 'exp_new', meanReward: 0.7, weight: 3 }]));

    expect(conflicts).toBe(1);
    expect(result.applied).toHaveLength(1);
    expect((await models.get('acme', key))?.appliedRewardIds).toEqual(['t-1#success_at_k']);
  });

  it('property: the exported mean and weight of a prior equal what was put (ridge, Beta, means)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('linucb' as const, 'thompson' as const, 'greedy' as const),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 200 }),
        async (strategy, meanReward, weight) => {
          const { warm } = await setup(strategy);
          await warm.apply('acme', doc([{ expertId: 'exp_new', meanReward, weight }]));
          const [prior] = (await warm.export('acme')).experts;
          expect(prior?.weight).toBe(weight);
          expect(prior?.meanReward).toBeCloseTo(meanReward, 3);
        },
      ),
      { numRuns: 40 },
    );
  });
});
