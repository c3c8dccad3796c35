import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/errors.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { refusal } from '#shared/testing/refusal.js';
import { rewardRequestSchema } from '../../contract.js';
import type { Expert } from '../../src/domain/experts.js';
import type { RewardMessage } from '../../src/domain/reward-intake.js';
import {
  REWARD_SIGNALS,
  type RewardSignal,
  rewardValueProblem,
  SIGNAL_RANGES,
} from '../../src/domain/reward-mapping.js';
import { RejectedRewards } from '../../src/domain/reward-rejections.js';
import { expertRecord, inMemoryRewardConsumer, inMemoryRouting } from '../support/routing-fakes.js';

const NOW = '2026-01-01T00:00:00.000Z';

/** The values the issue reported: each got 202, then failed on every delivery until the DLQ. */
const POISON = [1e16, 9007199254740992, 1e-200];

const message = (taskId: string, signal: RewardSignal, value: number, tenantId = 'acme'): RewardMessage => ({
  tenantId,
  taskId,
  signal,
  value,
  ts: NOW,
  receivedAt: NOW,
  traceId: `trace-${taskId}`,
});

describe('the range of a reward value', () => {
  it('refuses the reported poison values for every signal', () => {
    for (const signal of REWARD_SIGNALS)
      for (const value of POISON)
        expect(rewardValueProblem(signal, value), `${signal} ${value}`).toBeDefined();
  });

  it('takes each signal’s bounds and 0, and refuses just past them', () => {
    for (const signal of REWARD_SIGNALS) {
      const { min, max } = SIGNAL_RANGES[signal];
      expect(rewardValueProblem(signal, min)).toBeUndefined();
      expect(rewardValueProblem(signal, max)).toBeUndefined();
      expect(rewardValueProblem(signal, 0)).toBeUndefined();
      expect(rewardValueProblem(signal, max + 1)).toMatch(/between/);
      expect(rewardValueProblem(signal, min - 1)).toMatch(/between/);
    }
  });

  it('is checked by the route’s body schema, on the value field', () => {
    // Act
    const results = POISON.map((value) =>
      rewardRequestSchema.safeParse({ taskId: 't-1', signal: 'latency_ms', value }),
    );

    // Assess
    for (const result of results) {
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(['value']);
    }
    expect(rewardRequestSchema.safeParse({ taskId: 't-1', signal: 'latency_ms', value: 830 }).success).toBe(
      true,
    );
  });
});

describe('RewardIntake', () => {
  it('refuses a poison value with 400 and queues nothing', async () => {
    // Prepare
    const { rewards, queued } = inMemoryRouting();

    // Act
    const errors = await Promise.all(
      POISON.map((value) => refusal(rewards.accept('acme', { taskId: 't-1', signal: 'cost', value }, 't'))),
    );

    // Assess
    for (const error of errors) {
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.statusCode).toBe(400);
    }
    expect(queued).toEqual([]);
  });
});

describe('RewardConsumer and a poison message that got into the queue anyway', () => {
  const setup = async () => {
    const experts = new InMemoryTenantRecords<Expert>('EXPERT');
    await experts.create(expertRecord('acme', 'exp_a'));
    const routing = inMemoryRouting(experts);
    await routing.routing.route('acme', { taskId: 't-1', context: {}, candidates: ['exp_a'] }, 't');
    // The consumer writes its rejections where the routing fakes list them (`routing.rejections`).
    const { consumer } = inMemoryRewardConsumer(routing);
    return { ...routing, consumer };
  };

  it('rejects and records it with reason value_out_of_range, as text, instead of failing every delivery', async () => {
    // Prepare
    const { consumer, rejections, models } = await setup();

    // Act
    const results = await consumer.ingestBatch(
      POISON.map((value, i) => message('t-1', REWARD_SIGNALS[i] as RewardSignal, value)),
    );

    // Assess
    expect(results.map((result) => result.ok && result.outcome)).toEqual(
      POISON.map(() => ({ outcome: 'rejected', reason: 'value_out_of_range' })),
    );
    expect(await rejections.get('acme', 't-1#success_at_k')).toMatchObject({
      reason: 'value_out_of_range',
      valueText: '10000000000000000',
      detail: expect.stringMatching(/between 0 and 1/),
    });
    expect(await rejections.get('acme', 't-1#incident_free')).toMatchObject({ valueText: '1e-200' });
    expect((await rejections.get('acme', 't-1#success_at_k'))?.value).toBeUndefined();
    expect(await models.list('acme', { limit: 10 })).toEqual({ items: [] });
  });

  it('learns the good messages of the same batch', async () => {
    // Prepare
    const { consumer } = await setup();

    // Act
    const results = await consumer.ingestBatch([
      message('t-1', 'cost', 1e16),
      message('t-1', 'success_at_k', 1),
    ]);

    // Assess
    expect(results[0]).toEqual({ ok: true, outcome: { outcome: 'rejected', reason: 'value_out_of_range' } });
    expect(results[1]).toMatchObject({ ok: true, outcome: { outcome: 'applied' } });
  });
});

describe('RejectedRewards.list', () => {
  it('lists the tenant’s rejected rewards with their reason, a page at a time, and no other tenant’s', async () => {
    // Prepare
    const { rejections, ...routing } = inMemoryRouting();
    const { consumer } = inMemoryRewardConsumer({ ...routing, rejections });
    await consumer.ingestBatch([
      message('never-1', 'success_at_k', 1),
      message('never-2', 'latency_ms', 830),
      message('poison', 'cost', 1e-200),
      message('globex-task', 'success_at_k', 1, 'globex'),
    ]);
    const service = new RejectedRewards(rejections);

    // Act
    const first = await service.list('acme', { limit: 2 });
    const second = await service.list('acme', { limit: 2, cursor: first.nextCursor });

    // Assess
    const items = [...first.items, ...second.items];
    expect(second.nextCursor).toBeUndefined();
    expect(items.map((item) => [item.taskId, item.reason])).toEqual([
      ['never-1', 'unknown_task'],
      ['never-2', 'unknown_task'],
      ['poison', 'value_out_of_range'],
    ]);
    expect(items[1]).toEqual({
      taskId: 'never-2',
      signal: 'latency_ms',
      value: 830,
      reason: 'unknown_task',
      ts: NOW,
      receivedAt: NOW,
      rejectedAt: NOW,
      traceId: 'trace-never-2',
    });
    expect((await service.list('globex', { limit: 10 })).items.map((item) => item.taskId)).toEqual([
      'globex-task',
    ]);
  });
});
