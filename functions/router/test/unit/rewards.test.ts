import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError, type ForbiddenError } from '#shared/errors.js';
import { ManualClock } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import {
  createContextEncoder,
  type LinUcbState,
  loadModelState,
  sparseToJson,
} from '../../src/domain/bandits/index.js';
import type { RewardMessage } from '../../src/domain/reward-intake.js';
import {
  APPLIED_WINDOW,
  DEFAULT_REWARD_MAPPING,
  ModelContentionError,
  type RewardMarker,
  type RewardSignal,
  rewardOf,
} from '../../src/domain/reward-learning.js';
import {
  DECISION_TTL_SECONDS,
  type ModelRecord,
  type Rationale,
  type RouteDecision,
} from '../../src/domain/routing.js';
import {
  conflictCounting,
  firstValueOf,
  inMemoryRewardConsumer,
  inMemoryRouting,
  rewardFields,
} from '../support/routing-fakes.js';

const NOW = '2026-01-01T00:00:00.000Z';
const encoder = createContextEncoder({ dimension: 8 });

const decision = (
  taskId: string,
  expertId: string,
  context: Record<string, string | number> = { language: 'ts' },
  modelKey: string | null = 'ridge:d8',
  createdAt = NOW,
): RouteDecision => ({
  tenantId: 'acme',
  id: taskId,
  version: 1,
  createdAt,
  updatedAt: createdAt,
  taskId,
  decisionId: `dec_${taskId}`,
  rationaleId: `rat_${taskId}`,
  expertId,
  strategy: modelKey === null ? 'kill_switch' : 'linucb',
  propensity: 1,
  confidence: 0.5,
  features: sparseToJson(encoder.encode(context)),
  ...(modelKey === null ? {} : { modelKey }),
  modelVersion: 0,
  configVersion: 0,
  seed: 1,
  traceId: 'trace',
  rationale: {} as Rationale,
});

const message = (taskId: string, signal: RewardSignal = 'success_at_k', value = 1): RewardMessage => ({
  tenantId: 'acme',
  taskId,
  signal,
  value,
  ts: NOW,
  receivedAt: NOW,
  traceId: 'trace-r',
});

const setup = async (decisionsToStore: RouteDecision[] = []) => {
  const clock = new ManualClock('2026-01-01T00:00:01.500Z');
  const decisions = new InMemoryTenantRecords<RouteDecision>('ROUTE');
  const models = new InMemoryTenantRecords<ModelRecord>('MODEL');
  for (const d of decisionsToStore) await decisions.create(d);
  return { clock, decisions, models, ...inMemoryRewardConsumer({ decisions, models, clock }) };
};

describe('reward mapping (the default of every tenant)', () => {
  it('clamps success_at_k and incident_free to [0, 1], thresholds thumbs, ignores latency and cost', () => {
    expect(rewardOf('success_at_k', 0.7)).toBe(0.7);
    expect(rewardOf('success_at_k', 3)).toBe(1);
    expect(rewardOf('incident_free', -2)).toBe(0);
    expect(rewardOf('human_thumbs', 1)).toBe(1);
    expect(rewardOf('human_thumbs', 0)).toBe(0);
    expect(rewardOf('human_thumbs', -1)).toBe(0);
    expect(rewardOf('latency_ms', 120)).toBeUndefined();
    expect(rewardOf('cost', 0.01)).toBeUndefined();
    expect(rewardOf('success_at_k', Number.NaN)).toBeUndefined();
    expect(rewardOf('cost', 2, { ...DEFAULT_REWARD_MAPPING, cost: 'clamp01' })).toBe(1);
  });

  it('always yields a reward in [0, 1] for a learnt signal', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<RewardSignal>('success_at_k', 'incident_free', 'human_thumbs'),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        (signal, value) => {
          const reward = rewardOf(signal, value) as number;
          return reward >= 0 && reward <= 1;
        },
      ),
    );
  });
});

describe('RewardIntake (the API side)', () => {
  it('stamps receivedAt and ts and hands the reward to the queue', async () => {
    const { rewards, queued } = inMemoryRouting();
    const answer = await rewards.accept(
      'acme',
      { taskId: 't-1', signal: 'human_thumbs', value: 1 },
      'trace-1',
    );
    expect(answer).toEqual({ accepted: true, taskId: 't-1' });
    expect(queued).toEqual([
      {
        tenantId: 'acme',
        taskId: 't-1',
        signal: 'human_thumbs',
        value: 1,
        ts: NOW,
        receivedAt: NOW,
        traceId: 'trace-1',
      },
    ]);
  });

  it('refuses a body naming another tenant, and queues nothing', async () => {
    const { rewards, queued } = inMemoryRouting();
    const error = await rewards
      .accept('acme', { taskId: 't', signal: 'cost', value: 1, tenantId: 'globex' }, 'x')
      .catch((e: ForbiddenError) => e);
    expect((error as ForbiddenError).code).toBe('tenant_mismatch');
    expect(queued).toEqual([]);
  });
});

describe('RewardConsumer.ingest', () => {
  it('learns a reward into the decision’s model and says so', async () => {
    const { consumer, models, markers, events } = await setup([decision('t-1', 'exp_a')]);

    const outcome = await consumer.ingest(message('t-1'));

    expect(outcome).toMatchObject({ outcome: 'applied', modelKey: 'ridge:d8', modelVersion: 1 });
    const model = await models.get('acme', 'ridge:d8');
    const state = loadModelState(model?.state) as LinUcbState;
    expect(state.version).toBe(1);
    expect(state.arms.exp_a?.n).toBe(1);
    expect(model?.appliedRewardIds).toEqual(['t-1#success_at_k']);
    expect(await markers.get('acme', 't-1#success_at_k')).toMatchObject({ outcome: 'applied', reward: 1 });
    expect(events.published).toEqual([
      expect.objectContaining({
        type: 'reward_ingested',
        detail: expect.objectContaining({ taskId: 't-1', signal: 'success_at_k', ingestionLatencyMs: 1500 }),
      }),
    ]);
  });

  it('learns with the tenant’s forgetting factor: the evidence before a reward is discounted by γ', async () => {
    // Prepare: the same two rewards, learnt by a tenant that keeps everything and one with γ = 0.5.
    const learn = async (discount: number | undefined) => {
      const clock = new ManualClock('2026-01-01T00:00:01.500Z');
      const decisions = new InMemoryTenantRecords<RouteDecision>('ROUTE');
      const models = new InMemoryTenantRecords<ModelRecord>('MODEL');
      await decisions.create(decision('t-1', 'exp_a'));
      await decisions.create(decision('t-2', 'exp_a'));
      const { consumer } = inMemoryRewardConsumer({
        decisions,
        models,
        clock,
        ...(discount === undefined ? {} : { discountFor: async () => discount }),
      });
      await consumer.ingest(message('t-1', 'success_at_k', 1));
      await consumer.ingest(message('t-2', 'success_at_k', 0));
      return (loadModelState((await models.get('acme', 'ridge:d8'))?.state) as LinUcbState).arms.exp_a;
    };

    // Act
    const kept = await learn(undefined);
    const forgetting = await learn(0.5);

    // Assess: b = Σ γ^age · r · x: the first reward (1) counts half with γ = 0.5.
    const nonZero = (b: readonly number[] | undefined) => (b ?? []).filter((v) => v !== 0);
    expect(kept?.n).toBe(2);
    expect(forgetting?.n).toBe(2);
    expect(nonZero(forgetting?.b)).toEqual(nonZero(kept?.b).map((v) => v * 0.5));
  });

  it('tells onLearnt of the rewards each model write learnt and of the model before them, once, and learns even if it throws', async () => {
    // Prepare
    const clock = new ManualClock('2026-01-01T00:00:01.500Z');
    const decisions = new InMemoryTenantRecords<RouteDecision>('ROUTE');
    const models = new InMemoryTenantRecords<ModelRecord>('MODEL');
    await decisions.create(decision('t-1', 'exp_a'));
    await decisions.create(decision('t-2', 'exp_a'));
    const told: { modelKey: string; beforeVersion: number; rewards: number[] }[] = [];
    const errors: unknown[] = [];
    const { consumer } = inMemoryRewardConsumer({
      decisions,
      models,
      clock,
      onPublishError: (error) => errors.push(error),
      onLearnt: (_tenantId, modelKey, before, learnt) => {
        told.push({ modelKey, beforeVersion: before.version, rewards: learnt.map((l) => l.reward) });
        if (told.length === 2) throw new Error('watch down');
      },
    });

    // Act
    await consumer.ingestBatch([message('t-1', 'success_at_k', 1)]);
    await consumer.ingestBatch([message('t-2', 'success_at_k', 0)]);
    await consumer.ingestBatch([message('t-2', 'success_at_k', 0)]);

    // Assess: the duplicate tells nothing; the second write's model was the first's.
    expect(told).toEqual([
      { modelKey: 'ridge:d8', beforeVersion: 0, rewards: [1] },
      { modelKey: 'ridge:d8', beforeVersion: 1, rewards: [0] },
    ]);
    expect(errors).toHaveLength(1);
    expect((await models.get('acme', 'ridge:d8'))?.version).toBe(2);
  });

  it('a duplicated reward changes nothing', async () => {
    const { consumer, models, events } = await setup([decision('t-1', 'exp_a')]);
    await consumer.ingest(message('t-1'));
    const before = await models.get('acme', 'ridge:d8');

    const again = await consumer.ingest(message('t-1', 'success_at_k', 0));

    expect(again).toEqual({ outcome: 'duplicate' });
    expect(await models.get('acme', 'ridge:d8')).toEqual(before);
    expect(events.published).toHaveLength(1);
  });

  it('a redelivery after a crash between the model write and the marker is a duplicate too', async () => {
    const { clock, decisions, models } = await setup([decision('t-1', 'exp_a')]);
    const markers = new InMemoryTenantRecords<RewardMarker>('REWARD');
    let failOnce = true;
    const flaky = {
      get: (tenantId: string, id: string) => markers.get(tenantId, id),
      getMany: (tenantId: string, ids: readonly string[]) => markers.getMany(tenantId, ids),
      create: async (record: RewardMarker) => {
        if (failOnce) {
          failOnce = false;
          throw new Error('table unavailable');
        }
        await markers.create(record);
      },
    };
    const { consumer } = inMemoryRewardConsumer({ decisions, models, clock, markers: flaky });
    await expect(consumer.ingest(message('t-1'))).rejects.toThrow('table unavailable');
    const applied = await models.get('acme', 'ridge:d8');

    expect(await consumer.ingest(message('t-1'))).toEqual({ outcome: 'duplicate' });
    expect(await models.get('acme', 'ridge:d8')).toEqual(applied);
    expect(await markers.get('acme', 't-1#success_at_k')).toBeDefined();
  });

  it('records an unknown task as rejected, and writes no model', async () => {
    const { consumer, models, rejections, events } = await setup();

    const outcome = await consumer.ingest(message('nope'));

    expect(outcome).toEqual({ outcome: 'rejected', reason: 'unknown_task' });
    expect(await rejections.get('acme', 'nope#success_at_k')).toMatchObject({
      reason: 'unknown_task',
      value: 1,
      traceId: 'trace-r',
    });
    expect(await models.get('acme', 'ridge:d8')).toBeUndefined();
    expect(events.published).toEqual([]);
  });

  it('treats a decision older than its TTL as unknown', async () => {
    const old = new Date(
      Date.parse('2026-01-01T00:00:01.500Z') - DECISION_TTL_SECONDS * 1000 - 1,
    ).toISOString();
    const { consumer, rejections } = await setup([decision('t-old', 'exp_a', {}, 'ridge:d8', old)]);
    expect(await consumer.ingest(message('t-old'))).toEqual({ outcome: 'rejected', reason: 'unknown_task' });
    expect(await rejections.get('acme', 't-old#success_at_k')).toBeDefined();
  });

  it('only records latency and cost (not learnt by default), once', async () => {
    const { consumer, models, markers, events } = await setup([decision('t-1', 'exp_a')]);

    expect(await consumer.ingest(message('t-1', 'latency_ms', 830))).toEqual({ outcome: 'recorded' });
    expect(await consumer.ingest(message('t-1', 'latency_ms', 830))).toEqual({ outcome: 'duplicate' });

    expect(await models.get('acme', 'ridge:d8')).toBeUndefined();
    expect(await markers.get('acme', 't-1#latency_ms')).toMatchObject({ outcome: 'recorded', value: 830 });
    expect(events.published).toHaveLength(1);
  });

  it('records a reward of a kill-switch decision without learning', async () => {
    const { consumer, models } = await setup([decision('t-k', 'exp_a', {}, null)]);
    expect(await consumer.ingest(message('t-k'))).toEqual({ outcome: 'recorded' });
    expect(await models.get('acme', 'ridge:d8')).toBeUndefined();
  });

  it('gives up after the retry budget when the model keeps changing (the message is redelivered)', async () => {
    const { clock, decisions, models } = await setup([decision('t-1', 'exp_a')]);
    let attempts = 0;
    const contended = {
      get: (tenantId: string, id: string) => models.get(tenantId, id),
      create: async () => {
        attempts += 1;
        throw new ConflictError('taken', 'already_exists');
      },
      replace: async () => {
        throw new ConflictError('changed', 'version_conflict');
      },
    };
    const { consumer, markers } = inMemoryRewardConsumer({
      decisions,
      models: contended,
      clock,
      maxAttempts: 4,
    });
    await expect(consumer.ingest(message('t-1'))).rejects.toBeInstanceOf(ModelContentionError);
    expect(attempts).toBe(4);
    expect(await markers.get('acme', 't-1#success_at_k')).toBeUndefined();
  });

  it('keeps a bounded window of applied reward ids in the model item', async () => {
    const tasks = Array.from({ length: APPLIED_WINDOW + 3 }, (_, i) => decision(`t-${i}`, 'exp_a'));
    const { consumer, models } = await setup(tasks);
    for (const task of tasks) await consumer.ingest(message(task.taskId));
    const model = await models.get('acme', 'ridge:d8');
    expect(model?.appliedRewardIds).toHaveLength(APPLIED_WINDOW);
    expect(model?.appliedRewardIds?.at(-1)).toBe(`t-${APPLIED_WINDOW + 2}#success_at_k`);
    expect(model?.version).toBe(APPLIED_WINDOW + 3);
  });
});

describe('concurrent consumers', () => {
  const contexts: Record<string, string | number>[] = [
    { language: 'ts' },
    { language: 'py', size: 3 },
    { region: 'eu' },
    {},
  ];
  const experts = ['exp_a', 'exp_b', 'exp_c'];

  /** Per arm: n, A and b (A⁻¹ and θ follow from them, up to rounding). */
  const summary = (record: ModelRecord | undefined) => {
    const state = loadModelState(record?.state) as LinUcbState;
    return Object.fromEntries(
      Object.entries(state.arms)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([id, arm]) => [id, { n: arm.n, a: arm.a.flat(), b: [...arm.b] }]),
    );
  };

  const expectClose = (actual: ReturnType<typeof summary>, expected: ReturnType<typeof summary>) => {
    expect(Object.keys(actual)).toEqual(Object.keys(expected));
    for (const [id, arm] of Object.entries(expected)) {
      const got = actual[id];
      expect(got?.n).toBe(arm.n);
      arm.a.forEach((v, i) => {
        expect(got?.a[i]).toBeCloseTo(v, 9);
      });
      arm.b.forEach((v, i) => {
        expect(got?.b[i]).toBeCloseTo(v, 9);
      });
    }
  };

  it('two consumers interleaving reads and writes give the state of serial application', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            ...rewardFields(12),
            consumer: fc.nat(1),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        async (rewards) => {
          const tasks = Array.from({ length: 12 }, (_, i) =>
            decision(`t-${i}`, experts[i % experts.length] as string, contexts[i % contexts.length]),
          );
          // A duplicate is a redelivery: the same (taskId, signal) carries the same value.
          const deliveredValue = firstValueOf(rewards);
          const messages = rewards.map((r) => ({
            ...message(`t-${r.task}`, r.signal, deliveredValue(r)),
            consumer: r.consumer,
          }));

          // Serial: one consumer, in order.
          const serial = await setup(tasks);
          for (const m of messages) await serial.consumer.ingest(m);

          // Concurrent: two consumers over the same tables, each working through its share.
          const shared = await setup(tasks);
          const counting = conflictCounting(shared.models);
          const common = {
            decisions: shared.decisions,
            models: counting.store,
            clock: shared.clock,
            markers: shared.markers,
            rejections: shared.rejections,
            maxAttempts: 1000,
          };
          const one = inMemoryRewardConsumer(common).consumer;
          const two = inMemoryRewardConsumer(common).consumer;
          await Promise.all([
            (async () => {
              for (const m of messages.filter((x) => x.consumer === 0)) await one.ingest(m);
            })(),
            (async () => {
              for (const m of messages.filter((x) => x.consumer === 1)) await two.ingest(m);
            })(),
          ]);

          const serialModel = await serial.models.get('acme', 'ridge:d8');
          const concurrentModel = await shared.models.get('acme', 'ridge:d8');
          expect(concurrentModel?.version).toBe(serialModel?.version);
          expectClose(summary(concurrentModel), summary(serialModel));
          expect([...(concurrentModel?.appliedRewardIds ?? [])].sort()).toEqual(
            [...(serialModel?.appliedRewardIds ?? [])].sort(),
          );
          expect(counting.conflicts).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('two consumers ingesting interleaved batches give the state of serial application', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            ...rewardFields(12),
            consumer: fc.nat(1),
            /** Ends the consumer's current batch after this message. */
            cut: fc.boolean(),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        async (rewards) => {
          const tasks = Array.from({ length: 12 }, (_, i) =>
            decision(`t-${i}`, experts[i % experts.length] as string, contexts[i % contexts.length]),
          );
          const deliveredValue = firstValueOf(rewards);
          const messages = rewards.map((r) => ({
            message: message(`t-${r.task}`, r.signal, deliveredValue(r)),
            consumer: r.consumer,
            cut: r.cut,
          }));

          const serial = await setup(tasks);
          for (const { message: m } of messages) await serial.consumer.ingest(m);

          const shared = await setup(tasks);
          const common = {
            decisions: shared.decisions,
            models: shared.models,
            clock: shared.clock,
            markers: shared.markers,
            rejections: shared.rejections,
            maxAttempts: 1000,
          };
          const batchesOf = (consumer: number) => {
            const batches: RewardMessage[][] = [[]];
            for (const m of messages.filter((x) => x.consumer === consumer)) {
              batches.at(-1)?.push(m.message);
              if (m.cut) batches.push([]);
            }
            return batches.filter((batch) => batch.length > 0);
          };
          const results = await Promise.all(
            [0, 1].map(async (k) => {
              const consumer = inMemoryRewardConsumer(common).consumer;
              const all = [];
              for (const batch of batchesOf(k)) all.push(...(await consumer.ingestBatch(batch)));
              return all;
            }),
          );
          expect(results.flat().every((result) => result.ok)).toBe(true);

          const serialModel = await serial.models.get('acme', 'ridge:d8');
          const concurrentModel = await shared.models.get('acme', 'ridge:d8');
          expect(loadModelState(concurrentModel?.state).version).toBe(
            loadModelState(serialModel?.state).version,
          );
          expectClose(summary(concurrentModel), summary(serialModel));
          expect([...(concurrentModel?.appliedRewardIds ?? [])].sort()).toEqual(
            [...(serialModel?.appliedRewardIds ?? [])].sort(),
          );
          // Every applied reward has its marker, every marker has its reward: nothing lost, nothing twice.
          expect(
            shared.markers
              .all()
              .map((m) => m.id)
              .sort(),
          ).toEqual(
            serial.markers
              .all()
              .map((m) => m.id)
              .sort(),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('really interleaves: the version condition turns lost updates into retries', async () => {
    const tasks = Array.from({ length: 20 }, (_, i) => decision(`t-${i}`, experts[i % 3] as string));
    const shared = await setup(tasks);
    const counting = conflictCounting(shared.models);
    const common = { ...shared, models: counting.store, maxAttempts: 1000 };
    const consumers = [0, 1, 2, 3].map(() => inMemoryRewardConsumer(common).consumer);
    await Promise.all(
      consumers.map(async (c, k) => {
        for (let i = k; i < tasks.length; i += consumers.length) await c.ingest(message(`t-${i}`));
      }),
    );
    expect(counting.conflicts).toBeGreaterThan(0);
    const model = await shared.models.get('acme', 'ridge:d8');
    expect(model?.version).toBe(20);
    const state = loadModelState(model?.state) as LinUcbState;
    expect(Object.values(state.arms).reduce((sum, arm) => sum + arm.n, 0)).toBe(20);
  });
});

describe('telling the canary watch what was learnt', () => {
  it('tells each reward learnt for the first time once, with its decision, and not a redelivered one', async () => {
    // Prepare
    const told: { taskId: string; reward: number }[] = [];
    const clock = new ManualClock('2026-01-01T00:00:01.500Z');
    const decisions = new InMemoryTenantRecords<RouteDecision>('ROUTE');
    const models = new InMemoryTenantRecords<ModelRecord>('MODEL');
    for (const d of [decision('t1', 'exp_a'), decision('t2', 'exp_b')]) await decisions.create(d);
    const { consumer } = inMemoryRewardConsumer({
      decisions,
      models,
      clock,
      onApplied: async (applied) => {
        for (const a of applied) told.push({ taskId: a.decision.taskId, reward: a.reward });
      },
    });

    // Act
    await consumer.ingestBatch([message('t1', 'success_at_k', 1), message('t2', 'success_at_k', 0.25)]);
    await consumer.ingestBatch([message('t1', 'success_at_k', 1)]);

    // Assess
    expect(told).toEqual([
      { taskId: 't1', reward: 1 },
      { taskId: 't2', reward: 0.25 },
    ]);
  });

  it('learns the rewards even when the watch fails, and reports the failure', async () => {
    // Prepare
    const errors: unknown[] = [];
    const { consumer, markers } = await (async () => {
      const decisions = new InMemoryTenantRecords<RouteDecision>('ROUTE');
      await decisions.create(decision('t1', 'exp_a'));
      return inMemoryRewardConsumer({
        decisions,
        models: new InMemoryTenantRecords<ModelRecord>('MODEL'),
        clock: new ManualClock('2026-01-01T00:00:01.500Z'),
        onApplied: async () => {
          throw new Error('counters unavailable');
        },
        onAppliedError: (error) => errors.push(error),
      });
    })();

    // Act
    const results = await consumer.ingestBatch([message('t1')]);

    // Assess
    expect(results[0]).toMatchObject({ ok: true, outcome: { outcome: 'applied' } });
    expect(await markers.get('acme', 't1#success_at_k')).toMatchObject({ outcome: 'applied' });
    expect(String(errors[0])).toContain('counters unavailable');
  });
});

describe('a shadow candidate learns from the traffic it evaluated', () => {
  it('learns a shadowed decision’s reward into the candidate’s model too, once, when its kind differs', async () => {
    // Prepare: a LinUCB decision the Thompson shadow evaluated.
    const shadowed: RouteDecision = {
      ...decision('t1', 'exp_a'),
      experiment: {
        name: 'try',
        mode: 'shadow',
        shadow: {
          expertId: 'exp_b',
          strategy: 'thompson',
          propensity: 0.5,
          confidence: 0.5,
          servedProbability: 0.5,
          servedEstimate: 0.5,
          expectedEstimate: 0.5,
          modelKey: 'beta-bernoulli',
          modelVersion: 0,
        },
      },
    };
    const { consumer, models } = await setup([shadowed, decision('t2', 'exp_a')]);

    // Act
    await consumer.ingestBatch([message('t1', 'success_at_k', 1), message('t2', 'success_at_k', 1)]);
    const before = await models.get('acme', 'beta-bernoulli');
    await consumer.ingestBatch([message('t1', 'success_at_k', 1)]);
    const after = await models.get('acme', 'beta-bernoulli');

    // Assess: the served model learnt both; the shadow's model the shadowed one only, and not twice.
    expect((await models.get('acme', 'ridge:d8'))?.state.version).toBe(2);
    expect(before?.state.version).toBe(1);
    expect(before?.appliedRewardIds).toEqual(['t1#success_at_k']);
    expect(after?.version).toBe(before?.version);
  });
});
