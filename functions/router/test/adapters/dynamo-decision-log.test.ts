import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { tableSpecOf } from '#shared/pillar.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../../infra/local/dynamodb.js';
import { PILLARS } from '../../../catalog.js';
import { DynamoArmCounters } from '../../src/adapters/dynamo-arm-counters.js';
import { DynamoDecisionLog } from '../../src/adapters/dynamo-decision-log.js';
import { RouteDecisionStore } from '../../src/adapters/route-decision-store.js';
import { EMPTY_COUNTS } from '../../src/domain/canary-watch.js';
import type { RewardMarker } from '../../src/domain/reward-learning.js';
import { DECISION_TTL_SECONDS, type Rationale, type RouteDecision } from '../../src/domain/routing.js';

/** The replay's decision log and the canary counters against a real DynamoDB API (dynalite). */
let local: TestDynamo;
const table = localTableName(tableSpecOf(PILLARS, 'router'));

beforeAll(async () => {
  local = await startTestDynamo();
});
afterAll(() => local?.close());

const decision = (tenantId: string, taskId: string, createdAt: string): RouteDecision => ({
  tenantId,
  id: taskId,
  version: 1,
  createdAt,
  updatedAt: createdAt,
  taskId,
  decisionId: `dec_${taskId}`,
  rationaleId: `rat_${taskId}`,
  expertId: 'exp_a',
  strategy: 'greedy',
  propensity: 0.5,
  confidence: 0.5,
  features: { dimension: 8, indices: [0], values: [1] },
  modelKey: 'running-means',
  modelVersion: 0,
  configVersion: 1,
  seed: 1,
  traceId: 't',
  rationale: { candidates: [{ expertId: 'exp_a' }, { expertId: 'exp_b' }] } as unknown as Rationale,
});

const marker = (
  tenantId: string,
  taskId: string,
  signal: RewardMarker['signal'],
  reward?: number,
): RewardMarker => ({
  tenantId,
  id: `${taskId}#${signal}`,
  version: 1,
  createdAt: '2026-03-01T00:00:00.000Z',
  updatedAt: '2026-03-01T00:00:00.000Z',
  taskId,
  signal,
  outcome: reward === undefined ? 'recorded' : 'applied',
  ...(reward === undefined ? {} : { reward }),
});

describe('DynamoDecisionLog', () => {
  it('reads the decisions of a range, joined to the mean of their applied rewards, and nothing of another tenant', async () => {
    // Prepare
    const decisions = new RouteDecisionStore(local.doc, table, DECISION_TTL_SECONDS);
    const markers = new TenantRecordStore<RewardMarker>(local.doc, table, 'REWARD', DECISION_TTL_SECONDS);
    for (const [taskId, at] of [
      ['log-before', '2026-02-28T23:59:59.999Z'],
      ['log-in-1', '2026-03-01T00:00:00.000Z'],
      ['log-in-2', '2026-03-01T12:00:00.000Z'],
      ['log-end', '2026-03-02T00:00:00.000Z'],
    ] as const) {
      await decisions.create(decision('logacme', taskId, at));
    }
    await decisions.create(decision('logglobex', 'log-in-g', '2026-03-01T06:00:00.000Z'));
    await markers.create(marker('logacme', 'log-in-1', 'success_at_k', 1));
    await markers.create(marker('logacme', 'log-in-1', 'human_thumbs', 0));
    await markers.create(marker('logacme', 'log-in-2', 'latency_ms'));
    const log = new DynamoDecisionLog(local.doc, table, { pageSize: 2 });

    // Act
    const logged = await log.decisionsBetween(
      'logacme',
      '2026-03-01T00:00:00.000Z',
      '2026-03-02T00:00:00.000Z',
    );

    // Assess: [from, to), paged; the recorded-only signal is no reward.
    expect(logged.map((entry) => [entry.decision.taskId, entry.reward])).toEqual([
      ['log-in-1', 0.5],
      ['log-in-2', undefined],
    ]);
    expect(logged[0]?.decision.rationale.candidates.map((c) => c.expertId)).toEqual(['exp_a', 'exp_b']);
    expect(await log.anyBetween('logacme', '2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z')).toBe(
      true,
    );
    expect(await log.anyBetween('logacme', '2020-01-01T00:00:00.000Z', '2020-01-02T00:00:00.000Z')).toBe(
      false,
    );
    expect(await log.anyBetween('lognobody', '2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z')).toBe(
      false,
    );
  });

  it('answers unknown when the probe pages end before the partition does', async () => {
    // Prepare: 5 decisions out of the range, pages of 2, a probe of 2 pages.
    const decisions = new RouteDecisionStore(local.doc, table, DECISION_TTL_SECONDS);
    for (let i = 0; i < 5; i += 1)
      await decisions.create(decision('logprobe', `p-${i}`, '2026-01-01T00:00:00.000Z'));
    const log = new DynamoDecisionLog(local.doc, table, { pageSize: 2, probePages: 2 });

    // Act + Assess
    expect(await log.anyBetween('logprobe', '2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z')).toBe(
      'unknown',
    );
  });
});

describe('DynamoArmCounters', () => {
  it('adds concurrent counts per minute and arm without losing one, and sums a window of minutes', async () => {
    // Prepare
    const counters = new DynamoArmCounters(local.doc, table);
    const one = { ...EMPTY_COUNTS, outcomes: 1, errors: 1, latencyMsSum: 10.4 };

    // Act
    await Promise.all(Array.from({ length: 20 }, () => counters.add('cnt', 'exp', 100, 'candidate', one)));
    await counters.add('cnt', 'exp', 101, 'baseline', {
      ...EMPTY_COUNTS,
      rewards: 2,
      rewardSum: 1.5,
      rewardSumSquares: 1.25,
    });
    await counters.add('cnt', 'exp', 110, 'candidate', one);
    await counters.add('cnt', 'other', 100, 'candidate', one);
    const window = await counters.sum('cnt', 'exp', 100, 105);

    // Assess
    expect(window.candidate).toEqual({ ...EMPTY_COUNTS, outcomes: 20, errors: 20, latencyMsSum: 200 });
    expect(window.baseline).toEqual({ ...EMPTY_COUNTS, rewards: 2, rewardSum: 1.5, rewardSumSquares: 1.25 });
    expect((await counters.sum('cnt', 'exp', 0, 10)).candidate.outcomes).toBe(0);
  });
});
