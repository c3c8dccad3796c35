import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '#shared/errors.js';
import type { ConductorEvent, EventPublisher } from '#shared/ports/events.js';
import { ManualClock } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import {
  createContextEncoder,
  type LinUcbState,
  loadModelState,
  sparseToJson,
} from '../../src/domain/bandits/index.js';
import { type ModelArmRecord, type ModelHeadRecord, SplitModelStore } from '../../src/domain/model-store.js';
import type { RewardMessage } from '../../src/domain/reward-intake.js';
import {
  APPLIED_WINDOW,
  MAX_REWARDS_PER_MODEL_WRITE,
  ModelContentionError,
  type RewardConsumerDeps,
  type RewardMarker,
  type RewardSignal,
} from '../../src/domain/reward-learning.js';
import type { ModelRecord, Rationale, RouteDecision } from '../../src/domain/routing.js';
import { CONTENTION_RETRY_SECONDS, makeRewardBatchHandler } from '../../src/reward-consumer.js';
import { conflictCounting, inMemoryRewardConsumer, rewardFields } from '../support/routing-fakes.js';

const NOW = '2026-01-01T00:00:00.000Z';
const encoders = { 8: createContextEncoder({ dimension: 8 }), 16: createContextEncoder({ dimension: 16 }) };
const experts = ['exp_a', 'exp_b', 'exp_c'];
const contexts: Record<string, string | number>[] = [
  { language: 'ts' },
  { language: 'py', size: 3 },
  { region: 'eu' },
  {},
];

const decision = (
  taskId: string,
  options: {
    tenantId?: string;
    expertId?: string;
    modelKey?: string;
    dimension?: 8 | 16;
    context?: number;
  } = {},
): RouteDecision => ({
  tenantId: options.tenantId ?? 'acme',
  id: taskId,
  version: 1,
  createdAt: NOW,
  updatedAt: NOW,
  taskId,
  decisionId: `dec_${taskId}`,
  rationaleId: `rat_${taskId}`,
  expertId: options.expertId ?? 'exp_a',
  strategy: 'linucb',
  propensity: 1,
  confidence: 0.5,
  features: sparseToJson(
    encoders[options.dimension ?? 8].encode(contexts[(options.context ?? 0) % contexts.length] ?? {}),
  ),
  modelKey: options.modelKey ?? 'ridge:d8',
  modelVersion: 0,
  configVersion: 0,
  seed: 1,
  traceId: 'trace',
  rationale: {} as Rationale,
});

const message = (
  taskId: string,
  signal: RewardSignal = 'success_at_k',
  value = 1,
  tenantId = 'acme',
): RewardMessage => ({
  tenantId,
  taskId,
  signal,
  value,
  ts: NOW,
  receivedAt: NOW,
  traceId: 'trace-r',
});

/** The model repository, counting the writes that landed and failing the ones `refuse` says. */
const countingModels = (
  models: InMemoryTenantRecords<ModelRecord>,
  refuse: (record: ModelRecord) => Error | undefined = () => undefined,
) => {
  const counts = { writes: 0, reads: 0 };
  return {
    counts,
    repository: {
      get: (tenantId: string, id: string) => {
        counts.reads += 1;
        return models.get(tenantId, id);
      },
      create: async (record: ModelRecord) => {
        const refusal = refuse(record);
        if (refusal) throw refusal;
        await models.create(record);
        counts.writes += 1;
      },
      replace: async (record: ModelRecord, expected: number) => {
        const refusal = refuse(record);
        if (refusal) throw refusal;
        await models.replace(record, expected);
        counts.writes += 1;
      },
    },
  };
};

/** A marker store whose creates fail for the records `refuses` picks, until `stop()`. */
const failingMarkers = (refuses: (record: RewardMarker) => boolean) => {
  const markers = new InMemoryTenantRecords<RewardMarker>('REWARD');
  let failing = true;
  return {
    markers,
    stop: () => {
      failing = false;
    },
    repository: {
      get: (tenantId: string, id: string) => markers.get(tenantId, id),
      getMany: (tenantId: string, ids: readonly string[]) => markers.getMany(tenantId, ids),
      create: async (record: RewardMarker) => {
        if (failing && refuses(record)) throw new Error('table unavailable');
        await markers.create(record);
      },
    },
  };
};

const setup = async (decisionsToStore: RouteDecision[] = []) => {
  const clock = new ManualClock('2026-01-01T00:00:01.500Z');
  const decisions = new InMemoryTenantRecords<RouteDecision>('ROUTE');
  const models = new InMemoryTenantRecords<ModelRecord>('MODEL');
  for (const d of decisionsToStore) await decisions.create(d);
  return { clock, decisions, models, ...inMemoryRewardConsumer({ decisions, models, clock }) };
};

/** Per arm: n, A and b, and the state's update count. */
const summary = (record: ModelRecord | undefined) => {
  const state = loadModelState(record?.state) as LinUcbState;
  return {
    version: state.version,
    arms: Object.fromEntries(
      Object.entries(state.arms)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([id, arm]) => [id, { n: arm.n, a: arm.a.flat(), b: [...arm.b] }]),
    ),
  };
};

const expectSameState = (actual: ModelRecord | undefined, expected: ModelRecord | undefined) => {
  const got = summary(actual);
  const want = summary(expected);
  expect(got.version).toBe(want.version);
  expect(Object.keys(got.arms)).toEqual(Object.keys(want.arms));
  for (const [id, arm] of Object.entries(want.arms)) {
    expect(got.arms[id]?.n).toBe(arm.n);
    arm.a.forEach((v, i) => {
      expect(got.arms[id]?.a[i]).toBeCloseTo(v, 9);
    });
    arm.b.forEach((v, i) => {
      expect(got.arms[id]?.b[i]).toBeCloseTo(v, 9);
    });
  }
};

const sqsRecord = (messageId: string, body: unknown): SQSRecord =>
  ({
    messageId,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: { ApproximateReceiveCount: '1' },
    eventSource: 'aws:sqs',
  }) as unknown as SQSRecord;

const sqsEvent = (records: SQSRecord[]): SQSEvent => ({ Records: records });

const quietLogger = () => {
  const errors: unknown[] = [];
  const logger = {
    debug: () => undefined,
    warn: () => undefined,
    error: (_message: string, extra: unknown) => {
      errors.push(extra);
    },
  } as unknown as Logger;
  return { logger, errors };
};

describe('RewardConsumer.ingestBatch', () => {
  it('a batch of rewards for one model is one model write, and the state of serial application', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record(rewardFields(16)), {
          minLength: 1,
          maxLength: 40,
          selector: (r) => `${r.task}#${r.signal}`,
        }),
        async (rewards) => {
          const tasks = Array.from({ length: 16 }, (_, i) =>
            decision(`t-${i}`, { expertId: experts[i % experts.length] as string, context: i }),
          );
          const messages = rewards.map((r) => message(`t-${r.task}`, r.signal, r.value));

          const serial = await setup(tasks);
          for (const m of messages) await serial.consumer.ingest(m);

          const batched = await setup(tasks);
          const counting = countingModels(batched.models);
          const { consumer } = inMemoryRewardConsumer({ ...batched, models: counting.repository });
          const results = await consumer.ingestBatch(messages);

          expect(counting.counts).toEqual({ writes: 1, reads: 1 });
          expect(results).toEqual(
            messages.map(() => ({
              ok: true,
              outcome: { outcome: 'applied', modelKey: 'ridge:d8', modelVersion: 1, attempts: 1 },
            })),
          );
          const model = await batched.models.get('acme', 'ridge:d8');
          expectSameState(model, await serial.models.get('acme', 'ridge:d8'));
          expect(model?.appliedRewardIds).toEqual(messages.map((m) => `${m.taskId}#${m.signal}`));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('reads the decisions and the markers of a tenant with one batch read each', async () => {
    const tasks = Array.from({ length: 6 }, (_, i) => decision(`t-${i}`));
    const { clock, decisions, models } = await setup(tasks);
    const markers = new InMemoryTenantRecords<RewardMarker>('REWARD');
    const calls = { decisionGet: 0, decisionGetMany: 0, markerGet: 0, markerGetMany: 0 };
    const { consumer } = inMemoryRewardConsumer({
      clock,
      models,
      decisions: {
        get: (tenantId, id) => {
          calls.decisionGet += 1;
          return decisions.get(tenantId, id);
        },
        getMany: (tenantId, ids) => {
          calls.decisionGetMany += 1;
          return decisions.getMany(tenantId, ids);
        },
      },
      markers: {
        create: (record) => markers.create(record),
        get: (tenantId, id) => {
          calls.markerGet += 1;
          return markers.get(tenantId, id);
        },
        getMany: (tenantId, ids) => {
          calls.markerGetMany += 1;
          return markers.getMany(tenantId, ids);
        },
      },
    });
    const results = await consumer.ingestBatch(tasks.map((t) => message(t.taskId)));
    expect(results.every((r) => r.ok && r.outcome.outcome === 'applied')).toBe(true);
    expect(calls).toEqual({ decisionGet: 0, decisionGetMany: 1, markerGet: 0, markerGetMany: 1 });
  });

  it('confirms a decision the batch read missed with a consistent read before rejecting', async () => {
    const { clock, decisions, models, rejections } = await setup([decision('t-1')]);
    const { consumer } = inMemoryRewardConsumer({
      clock,
      models,
      // An eventually consistent batch read that has not seen the decision yet.
      decisions: { get: (tenantId, id) => decisions.get(tenantId, id), getMany: async () => new Map() },
    });
    const [result] = await consumer.ingestBatch([message('t-1')]);
    expect(result).toMatchObject({ ok: true, outcome: { outcome: 'applied' } });
    expect(rejections.all()).toEqual([]);
  });

  it('counts a reward once: copies inside a batch and across batches change nothing', async () => {
    const tasks = [decision('t-1'), decision('t-2', { expertId: 'exp_b', context: 1 }), decision('t-3')];
    const once = await setup(tasks);
    await once.consumer.ingestBatch([message('t-1'), message('t-2', 'human_thumbs'), message('t-3')]);
    const expected = await once.models.get('acme', 'ridge:d8');

    const { consumer, models, markers, events } = await setup(tasks);
    const batch = [
      message('t-1'),
      message('t-2', 'human_thumbs'),
      message('t-1', 'success_at_k', 0),
      message('t-3'),
      message('t-2', 'human_thumbs', -1),
    ];
    const results = await consumer.ingestBatch(batch);
    expect(results.map((r) => (r.ok ? r.outcome.outcome : 'failed'))).toEqual([
      'applied',
      'applied',
      'duplicate',
      'applied',
      'duplicate',
    ]);
    const after = await models.get('acme', 'ridge:d8');
    expect(after?.version).toBe(1);
    expectSameState(after, expected);
    expect(await markers.get('acme', 't-1#success_at_k')).toMatchObject({ value: 1, reward: 1 });
    expect(events.published).toHaveLength(3);

    const again = await consumer.ingestBatch([...batch].reverse());
    expect(again.every((r) => r.ok && r.outcome.outcome === 'duplicate')).toBe(true);
    expect(await models.get('acme', 'ridge:d8')).toEqual(after);
    expect(events.published).toHaveLength(3);
  });

  it('a copy in the batch fails with its first when the first fails, so neither is lost', async () => {
    const { clock, decisions, models } = await setup([decision('t-1')]);
    const refusing = countingModels(models, () => new Error('table unavailable'));
    const { consumer } = inMemoryRewardConsumer({ clock, decisions, models: refusing.repository });
    const results = await consumer.ingestBatch([message('t-1'), message('t-1')]);
    expect(results.map((r) => r.ok)).toEqual([false, false]);
  });

  it('writes a group larger than MAX_REWARDS_PER_MODEL_WRITE in chunks, every id in the window', async () => {
    const n = MAX_REWARDS_PER_MODEL_WRITE + 10;
    expect(MAX_REWARDS_PER_MODEL_WRITE).toBeLessThanOrEqual(APPLIED_WINDOW);
    const tasks = Array.from({ length: n }, (_, i) => decision(`t-${i}`, { context: i }));
    const { clock, decisions, models } = await setup(tasks);
    const counting = countingModels(models);
    const { consumer } = inMemoryRewardConsumer({ clock, decisions, models: counting.repository });
    const results = await consumer.ingestBatch(tasks.map((t) => message(t.taskId)));
    expect(results.every((r) => r.ok && r.outcome.outcome === 'applied')).toBe(true);
    expect(counting.counts.writes).toBe(2);
    const model = await models.get('acme', 'ridge:d8');
    expect(model?.appliedRewardIds).toHaveLength(n);
    expect(summary(model).version).toBe(n);
  });

  it('isolates a reward its model cannot learn: it fails alone, the rest of its group is applied', async () => {
    const { consumer, models } = await setup([
      decision('t-1'),
      decision('t-bad', { dimension: 16 }),
      decision('t-2', { expertId: 'exp_b' }),
    ]);
    const results = await consumer.ingestBatch([message('t-1'), message('t-bad'), message('t-2')]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    const model = await models.get('acme', 'ridge:d8');
    expect(model?.appliedRewardIds).toEqual(['t-1#success_at_k', 't-2#success_at_k']);
  });

  it('a marker that cannot be written fails its message only; the redelivery only writes the marker', async () => {
    const tasks = [decision('t-1'), decision('t-2')];
    const { clock, decisions, models } = await setup(tasks);
    const failing = failingMarkers((record) => record.taskId === 't-2');
    const { markers } = failing;
    const { consumer } = inMemoryRewardConsumer({ clock, decisions, models, markers: failing.repository });
    const results = await consumer.ingestBatch([message('t-1'), message('t-2')]);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
    const applied = await models.get('acme', 'ridge:d8');
    expect(applied?.appliedRewardIds).toEqual(['t-1#success_at_k', 't-2#success_at_k']);

    failing.stop();
    expect(await consumer.ingestBatch([message('t-2')])).toEqual([
      { ok: true, outcome: { outcome: 'duplicate' } },
    ]);
    expect(await models.get('acme', 'ridge:d8')).toEqual(applied);
    const marker = await markers.get('acme', 't-2#success_at_k');
    expect(marker).toMatchObject({ outcome: 'applied', expertId: 'exp_a', modelKey: 'ridge:d8' });
    expect(marker?.reward).toBeUndefined();
    expect((await markers.get('acme', 't-1#success_at_k'))?.reward).toBe(1);
  });

  it('marks a reward whose marker failed before its id leaves the window, so a late redelivery is still a duplicate', async () => {
    // Prepare: t-0's model write lands, its marker write fails (its message will come back).
    const tasks = Array.from({ length: APPLIED_WINDOW + 40 }, (_, i) => decision(`t-${i}`));
    const { clock, decisions, models } = await setup(tasks);
    const failing = failingMarkers((record) => record.taskId === 't-0' && record.markedBy === undefined);
    const { markers } = failing;
    const { consumer } = inMemoryRewardConsumer({ clock, decisions, models, markers: failing.repository });
    expect((await consumer.ingestBatch([message('t-0')]))[0]?.ok).toBe(false);
    failing.stop();

    // Act: more rewards than the window holds are learnt before the redelivery arrives.
    for (let i = 1; i < tasks.length; i += 10) {
      await consumer.ingestBatch(
        Array.from({ length: Math.min(10, tasks.length - i) }, (_, k) => message(`t-${i + k}`)),
      );
    }
    const before = await models.get('acme', 'ridge:d8');
    const redelivered = await consumer.ingestBatch([message('t-0')]);

    // Assess
    expect(before?.appliedRewardIds).not.toContain('t-0#success_at_k');
    expect(await markers.get('acme', 't-0#success_at_k')).toMatchObject({
      outcome: 'applied',
      markedBy: 'window',
      taskId: 't-0',
      signal: 'success_at_k',
      modelKey: 'ridge:d8',
    });
    expect(redelivered).toEqual([{ ok: true, outcome: { outcome: 'duplicate' } }]);
    expect(await models.get('acme', 'ridge:d8')).toEqual(before);
    const observations = Object.values((loadModelState(before?.state) as LinUcbState).arms).reduce(
      (sum, arm) => sum + arm.n,
      0,
    );
    expect(observations).toBe(tasks.length);
  });

  it('publishes the events of a batch in calls of at most 10, and a failed call fails no reward', async () => {
    const tasks = Array.from({ length: 23 }, (_, i) => decision(`t-${i}`));
    const { clock, decisions, models } = await setup(tasks);
    const calls: number[] = [];
    const publishErrors: unknown[] = [];
    const events: EventPublisher = {
      publish: async (batch: readonly ConductorEvent[]) => {
        calls.push(batch.length);
        if (calls.length === 2) throw new Error('bus unavailable');
      },
    };
    const { consumer } = inMemoryRewardConsumer({
      clock,
      decisions,
      models,
      events,
      onPublishError: (error) => publishErrors.push(error),
    });
    const results = await consumer.ingestBatch(tasks.map((t) => message(t.taskId)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(calls).toEqual([10, 10, 3]);
    expect(publishErrors).toHaveLength(1);
  });
});

describe('the rewards queue batch handler', () => {
  const twoTenants = () => [
    decision('a-1', { tenantId: 'acme' }),
    decision('a-2', { tenantId: 'acme', expertId: 'exp_b', context: 1 }),
    decision('a-3', { tenantId: 'acme', modelKey: 'beta-bernoulli' }),
    decision('g-1', { tenantId: 'globex' }),
    decision('g-2', { tenantId: 'globex', expertId: 'exp_c', context: 2 }),
  ];
  const records = () => [
    sqsRecord('m-a1', message('a-1', 'success_at_k', 1, 'acme')),
    sqsRecord('m-g1', message('g-1', 'success_at_k', 1, 'globex')),
    sqsRecord('m-a2', message('a-2', 'human_thumbs', 1, 'acme')),
    sqsRecord('m-a3', message('a-3', 'success_at_k', 1, 'acme')),
    sqsRecord('m-g2', message('g-2', 'incident_free', 0.5, 'globex')),
  ];

  it('reports exactly the messages of a group whose model write fails; the other groups are applied', async () => {
    const { clock, decisions, models } = await setup(twoTenants());
    let down = true;
    const refusing = countingModels(models, (record) =>
      down && record.tenantId === 'globex' ? new Error('table unavailable') : undefined,
    );
    const { consumer, markers } = inMemoryRewardConsumer({ clock, decisions, models: refusing.repository });
    const { logger, errors } = quietLogger();
    const handle = makeRewardBatchHandler({ consumer, logger });

    expect(await handle(sqsEvent(records()))).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-g1' }, { itemIdentifier: 'm-g2' }],
    });
    expect(errors).toHaveLength(2);
    expect(refusing.counts.writes).toBe(2);
    const ridge = await models.get('acme', 'ridge:d8');
    expect(ridge?.appliedRewardIds).toEqual(['a-1#success_at_k', 'a-2#human_thumbs']);
    expect((await models.get('acme', 'beta-bernoulli'))?.appliedRewardIds).toEqual(['a-3#success_at_k']);
    expect(await models.get('globex', 'ridge:d8')).toBeUndefined();
    expect(await markers.get('globex', 'g-1#success_at_k')).toBeUndefined();

    // SQS redelivers the whole batch (or only the failures): the failed group is applied, the rest stays.
    down = false;
    expect(await handle(sqsEvent(records()))).toEqual({ batchItemFailures: [] });
    expect(await models.get('acme', 'ridge:d8')).toEqual(ridge);
    expect((await models.get('globex', 'ridge:d8'))?.appliedRewardIds).toEqual([
      'g-1#success_at_k',
      'g-2#incident_free',
    ]);
  });

  it('reports a group contended past its retry budget, and only it', async () => {
    const { clock, decisions, models } = await setup(twoTenants());
    const contended = countingModels(models, (record) =>
      record.tenantId === 'acme' && record.id === 'ridge:d8'
        ? new ConflictError('changed', 'version_conflict')
        : undefined,
    );
    const { consumer } = inMemoryRewardConsumer({
      clock,
      decisions,
      models: contended.repository,
      maxAttempts: 3,
    });
    const results = await consumer.ingestBatch(records().map((r) => JSON.parse(r.body) as RewardMessage));
    expect(results.map((r) => (r.ok ? r.outcome.outcome : (r.error as Error).name))).toEqual([
      'ModelContentionError',
      'applied',
      'ModelContentionError',
      'applied',
      'applied',
    ]);
    expect(results[0]).toMatchObject({ ok: false, error: expect.any(ModelContentionError) });

    const handle = makeRewardBatchHandler({ consumer, logger: quietLogger().logger });
    expect(await handle(sqsEvent(records()))).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-a1' }, { itemIdentifier: 'm-a2' }],
    });
  });

  it('records an unknown task as rejected and does not fail its message', async () => {
    const { consumer, models, rejections } = await setup([decision('t-1')]);
    const handle = makeRewardBatchHandler({ consumer, logger: quietLogger().logger });
    const answer = await handle(
      sqsEvent([sqsRecord('m-1', message('t-1')), sqsRecord('m-2', message('never-routed'))]),
    );
    expect(answer).toEqual({ batchItemFailures: [] });
    expect(await rejections.get('acme', 'never-routed#success_at_k')).toMatchObject({
      reason: 'unknown_task',
    });
    expect((await models.get('acme', 'ridge:d8'))?.appliedRewardIds).toEqual(['t-1#success_at_k']);
  });

  it('fails a malformed record on its own; the others are ingested', async () => {
    const { consumer, models } = await setup([decision('t-1'), decision('t-2')]);
    const { logger, errors } = quietLogger();
    const handle = makeRewardBatchHandler({ consumer, logger });
    const answer = await handle(
      sqsEvent([
        sqsRecord('m-1', message('t-1')),
        sqsRecord('m-json', '{not json'),
        sqsRecord('m-schema', { ...message('t-2'), signal: 'vibes' }),
        sqsRecord('m-2', message('t-2')),
      ]),
    );
    expect(answer).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-json' }, { itemIdentifier: 'm-schema' }],
    });
    expect(errors).toHaveLength(2);
    expect((await models.get('acme', 'ridge:d8'))?.appliedRewardIds).toEqual([
      't-1#success_at_k',
      't-2#success_at_k',
    ]);
  });

  it('puts a record failing its last delivery on the DLQ with its error, instead of reporting it', async () => {
    const { consumer } = await setup([decision('t-1')]);
    const { logger, errors } = quietLogger();
    const dead: { messageId: string; error: unknown }[] = [];
    const lastDelivery = (messageId: string, body: unknown): SQSRecord => {
      const r = sqsRecord(messageId, body);
      return { ...r, attributes: { ...r.attributes, ApproximateReceiveCount: '5' } };
    };
    const handle = makeRewardBatchHandler({
      consumer,
      logger,
      deadLetters: {
        isLastAttempt: (r) => Number(r.attributes.ApproximateReceiveCount) >= 5,
        send: async (r, error) => {
          dead.push({ messageId: r.messageId, error });
        },
      },
    });
    const answer = await handle(
      sqsEvent([
        sqsRecord('m-1', message('t-1')),
        lastDelivery('m-last', { ...message('t-1'), signal: 'vibes' }),
        sqsRecord('m-early', '{not json'),
      ]),
    );
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-early' }] });
    expect(dead).toEqual([{ messageId: 'm-last', error: expect.objectContaining({ name: 'ZodError' }) }]);
    expect(errors).toHaveLength(2);
  });

  it('reports a last delivery the DLQ did not take, so SQS’s redrive moves it', async () => {
    const { consumer } = await setup([]);
    const r = sqsRecord('m-last', '{not json');
    const handle = makeRewardBatchHandler({
      consumer,
      logger: quietLogger().logger,
      deadLetters: {
        isLastAttempt: () => true,
        send: async () => Promise.reject(new Error('AccessDenied')),
      },
    });
    expect(await handle(sqsEvent([r]))).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-last' }] });
  });

  it('brings a reward whose model stayed contended back in 1-5 s, not after the 60 s visibility timeout', async () => {
    // Prepare
    const soon: { messageId: string; seconds: number }[] = [];
    const handle = makeRewardBatchHandler({
      consumer: {
        ingestBatch: async (messages) =>
          messages.map((m) =>
            m.taskId === 't-contended'
              ? { ok: false as const, error: new ModelContentionError('kept changing') }
              : { ok: false as const, error: new Error('table unavailable') },
          ),
      },
      logger: quietLogger().logger,
      deadLetters: {
        isLastAttempt: () => false,
        send: async () => undefined,
        redeliverAfter: async (r, seconds) => {
          soon.push({ messageId: r.messageId, seconds });
        },
      },
    });

    // Act
    const answer = await handle(
      sqsEvent([sqsRecord('m-contended', message('t-contended')), sqsRecord('m-other', message('t-1'))]),
    );

    // Assess: both come back; only the contended one sooner
    expect(answer.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m-contended', 'm-other']);
    expect(soon.map((s) => s.messageId)).toEqual(['m-contended']);
    expect(soon[0]?.seconds).toBeGreaterThanOrEqual(CONTENTION_RETRY_SECONDS.min);
    expect(soon[0]?.seconds).toBeLessThanOrEqual(CONTENTION_RETRY_SECONDS.max);
  });

  it('still reports a contended reward when SQS refuses the sooner redelivery', async () => {
    const handle = makeRewardBatchHandler({
      consumer: {
        ingestBatch: async (messages) =>
          messages.map(() => ({ ok: false as const, error: new ModelContentionError('x') })),
      },
      logger: quietLogger().logger,
      deadLetters: {
        isLastAttempt: () => false,
        send: async () => undefined,
        redeliverAfter: async () => Promise.reject(new Error('ReceiptHandleIsInvalid')),
      },
    });
    expect(await handle(sqsEvent([sqsRecord('m-1', message('t-1'))]))).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-1' }],
    });
  });

  it('fails every well-formed record when the consumer itself throws', async () => {
    const handle = makeRewardBatchHandler({
      consumer: {
        ingestBatch: async () => {
          throw new Error('boom');
        },
      },
      logger: quietLogger().logger,
    });
    expect(await handle(sqsEvent([sqsRecord('m-1', message('t-1')), sqsRecord('m-2', 'x')]))).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-1' }, { itemIdentifier: 'm-2' }],
    });
  });
});

describe('two consumers on one model', () => {
  const tasks = Array.from({ length: 40 }, (_, i) =>
    decision(`t-${i}`, { expertId: experts[i % 3] as string, context: i }),
  );

  /** The 40 rewards applied serially, and by two consumers (half each, batches of 5) with `modelsFor`. */
  const serialAndConcurrent = async (
    modelsFor: (shared: Awaited<ReturnType<typeof setup>>) => RewardConsumerDeps['models'],
  ) => {
    const serial = await setup(tasks);
    for (const t of tasks) await serial.consumer.ingest(message(t.taskId));
    const shared = await setup(tasks);
    const consumers = [0, 1].map(
      () => inMemoryRewardConsumer({ ...shared, models: modelsFor(shared), maxAttempts: 1000 }).consumer,
    );
    const results = await Promise.all(
      consumers.map(async (c, k) => {
        const mine = tasks.filter((_, i) => i % 2 === k).map((t) => message(t.taskId));
        const out = [];
        for (let i = 0; i < mine.length; i += 5) out.push(...(await c.ingestBatch(mine.slice(i, i + 5))));
        return out;
      }),
    );
    expect(results.flat().every((r) => r.ok && r.outcome.outcome === 'applied')).toBe(true);
    return { serial: await serial.models.get('acme', 'ridge:d8'), shared };
  };

  it('contend on the version condition and still give the state of serial application', async () => {
    let counting: ReturnType<typeof conflictCounting> | undefined;
    const { serial, shared } = await serialAndConcurrent((s) => {
      counting ??= conflictCounting(s.models);
      return counting.store;
    });
    expect(counting?.conflicts).toBeGreaterThan(0);
    const model = await shared.models.get('acme', 'ridge:d8');
    expectSameState(model, serial);
    expect(model?.appliedRewardIds).toHaveLength(Math.min(40, APPLIED_WINDOW));
  });

  it('on a model split into one item per expert: the state of serial application, no arm item left over', async () => {
    const heads = new InMemoryTenantRecords<ModelHeadRecord>('MODEL');
    const arms = new InMemoryTenantRecords<ModelArmRecord>('MODEL_ARM');
    // Each consumer has its own store, as two Lambda instances do; a small limit splits the state.
    const { serial } = await serialAndConcurrent(() => new SplitModelStore(heads, arms, 1_000));
    expect((await heads.get('acme', 'ridge:d8'))?.armRefs).toBeDefined();
    const model = await new SplitModelStore(heads, arms).get('acme', 'ridge:d8');
    expectSameState(model, serial);
    expect(model?.appliedRewardIds).toHaveLength(Math.min(40, APPLIED_WINDOW));
    expect((await arms.list('acme', { limit: 100 })).items).toHaveLength(experts.length);
  });
});

describe('concurrent batches of one model in one consumer', () => {
  it('take turns: two batches delivered at once make no conflicting write and learn every reward', async () => {
    // Prepare
    const tasks = ['c-1', 'c-2', 'c-3', 'c-4'].map((id, i) => decision(id, { context: i }));
    const { clock, decisions, models } = await setup(tasks);
    const counted = conflictCounting(models);
    const { consumer } = inMemoryRewardConsumer({ clock, decisions, models: counted.store });

    // Act: two SQS batches of the same tenant's model, as two concurrent invocations deliver them
    const [first, second] = await Promise.all([
      consumer.ingestBatch([message('c-1'), message('c-2')]),
      consumer.ingestBatch([message('c-3'), message('c-4')]),
    ]);

    // Assess
    expect([...(first ?? []), ...(second ?? [])].every((result) => result.ok)).toBe(true);
    expect(counted.conflicts).toBe(0);
    const model = await models.get('acme', 'ridge:d8');
    expect(model?.version).toBe(2);
    expect(model?.appliedRewardIds).toHaveLength(4);
  });

  it('waits out a model that stays contended for 15 attempts (the default allows 20)', async () => {
    // Prepare
    const { clock, decisions, models } = await setup([decision('c-1')]);
    let refusals = 15;
    const contended = {
      get: (tenantId: string, id: string) => models.get(tenantId, id),
      create: async (record: ModelRecord) => {
        if (refusals > 0) {
          refusals -= 1;
          throw new ConflictError('changed', 'version_conflict');
        }
        await models.create(record);
      },
      replace: (record: ModelRecord, expected: number) => models.replace(record, expected),
    };
    const { consumer } = inMemoryRewardConsumer({ clock, decisions, models: contended });

    // Act
    const [result] = await consumer.ingestBatch([message('c-1')]);

    // Assess
    expect(result).toMatchObject({ ok: true, outcome: { outcome: 'applied', attempts: 16 } });
    expect(refusals).toBe(0);
  });
});
