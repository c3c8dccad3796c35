import { randomUUID } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoItemBytes } from '#shared/adapters/dynamodb-units.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { tableSpecOf } from '#shared/pillar.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../../infra/local/dynamodb.js';
import { PILLARS } from '../../../catalog.js';
import {
  packRationale,
  RouteDecisionStore,
  unpackRationale,
} from '../../src/adapters/route-decision-store.js';
import type { Expert } from '../../src/domain/experts.js';
import { DECISION_TTL_SECONDS, type RouteDecision } from '../../src/domain/routing.js';
import { expertRecord, inMemoryRouting } from '../support/routing-fakes.js';

/** The router's decision records against a real DynamoDB API (dynalite): whole on read, small on disk. */
let local: TestDynamo;
const table = localTableName(tableSpecOf(PILLARS, 'router'));
const EXPERT_IDS = Array.from({ length: 16 }, () => `exp_${randomUUID()}`);

beforeAll(async () => {
  local = await startTestDynamo();
});
afterAll(() => local?.close());

/** Real decisions of the routing service (4 and 16 candidates), as it hands them to its repository. */
const decisionsOf = async (): Promise<RouteDecision[]> => {
  const experts = new InMemoryTenantRecords<Expert>('EXPERT');
  for (const id of EXPERT_IDS) await experts.create(expertRecord('acme', id));
  const { routing, decisions } = inMemoryRouting(experts);
  for (const [taskId, candidates] of [
    ['task-4', 4],
    ['task-16', 16],
  ] as const) {
    await routing.route(
      'acme',
      {
        taskId,
        context: { language: 'ts', tokens: 1200, tags: ['graph'] },
        candidates: EXPERT_IDS.slice(0, candidates),
      },
      `trace-${taskId}`,
    );
  }
  return ['task-4', 'task-16'].map((taskId) => {
    const decision = decisions.all().find((d) => d.taskId === taskId);
    if (!decision) throw new Error(`no decision for ${taskId}`);
    return decision;
  });
};

const rawItem = async (taskId: string): Promise<Record<string, unknown>> => {
  const out = await local.doc.send(
    new GetCommand({ TableName: table, Key: { pk: 'T#acme#ROUTE', sk: taskId }, ConsistentRead: true }),
  );
  if (!out.Item) throw new Error(`no item for ${taskId}`);
  return out.Item;
};

describe('RouteDecisionStore on dynalite', () => {
  it('reads back exactly the decisions it stored, rationale included, one by one and in a batch', async () => {
    const [four, sixteen] = await decisionsOf();
    const store = new RouteDecisionStore(local.doc, table, DECISION_TTL_SECONDS);

    await store.create(four as RouteDecision);
    await store.create(sixteen as RouteDecision);

    expect(await store.get('acme', 'task-4')).toEqual(four);
    expect(await store.get('acme', 'task-16')).toEqual(sixteen);
    expect(await store.get('acme', 'task-none')).toBeUndefined();
    const many = await store.getMany('acme', ['task-4', 'task-16', 'task-none']);
    expect([...many.keys()].sort()).toEqual(['task-16', 'task-4']);
    expect(many.get('task-16')).toEqual(sixteen);
  });

  it('keeps a 4-candidate decision in one write unit, and each in well under the bytes of the plain record', async () => {
    const [four, sixteen] = await decisionsOf();
    const plain = new TenantRecordStore<RouteDecision>(local.doc, table, 'ROUTE', DECISION_TTL_SECONDS);
    await plain.create({ ...(four as RouteDecision), tenantId: 'plain' });
    await plain.create({ ...(sixteen as RouteDecision), tenantId: 'plain' });
    const plainBytes = async (taskId: string) => {
      const out = await local.doc.send(
        new GetCommand({ TableName: table, Key: { pk: 'T#plain#ROUTE', sk: taskId }, ConsistentRead: true }),
      );
      return dynamoItemBytes(out.Item ?? {});
    };

    const small = dynamoItemBytes(await rawItem('task-4'));
    const large = dynamoItemBytes(await rawItem('task-16'));

    expect(small).toBeLessThanOrEqual(1024);
    expect(small).toBeLessThan((await plainBytes('task-4')) * 0.75);
    expect(large).toBeLessThan((await plainBytes('task-16')) * 0.6);
  });

  it('refuses a second decision for the same task, as the repository port says (the first wins)', async () => {
    const [four] = await decisionsOf();
    const store = new RouteDecisionStore(local.doc, table, DECISION_TTL_SECONDS);
    const decision = { ...(four as RouteDecision), tenantId: 'globex' };
    await store.create(decision);

    await expect(store.create({ ...decision, expertId: EXPERT_IDS[5] as string })).rejects.toThrow();
    expect((await store.get('globex', 'task-4'))?.expertId).toBe(decision.expertId);
  });
});

describe('packRationale / unpackRationale', () => {
  it('keeps of an attributed feature only what the top features do not hold, and reads back the same rationale', async () => {
    // Prepare: a decision whose attribution repeats two top features and names one that is not one.
    const [four] = await decisionsOf();
    const top = [
      { index: 0, names: ['(intercept)'], value: 1, weight: 0.4, contribution: 0.4 },
      { index: 5, names: ['language=ts'], value: 1, weight: 0.3, contribution: 0.3 },
    ];
    const runnerUp = (four as RouteDecision).rationale.candidates[1]?.expertId as string;
    const attribution = {
      runnerUpExpertId: runnerUp,
      estimateMargin: 0.25,
      features: [
        { ...(top[0] as (typeof top)[number]), runnerUpWeight: 0.2, marginContribution: 0.2 },
        {
          index: 9,
          names: ['tokens'],
          value: 0.5,
          weight: 0.1,
          runnerUpWeight: 0.2,
          contribution: 0.05,
          marginContribution: -0.05,
        },
        { ...(top[1] as (typeof top)[number]), runnerUpWeight: 0.2, marginContribution: 0.1 },
      ],
    };
    const decision = {
      ...(four as RouteDecision),
      rationale: { ...(four as RouteDecision).rationale, topFeatures: top, attribution },
    };

    // Act
    const packed = packRationale(decision);
    const { rationale: _r, ...stored } = decision;
    const read = unpackRationale(stored, packed);
    const plain = deflateRawSync(JSON.stringify(decision.rationale));

    // Assess
    expect(read).toEqual(decision.rationale);
    const kept = JSON.parse(inflateRawSync(packed).toString('utf8')).attribution;
    expect(kept.f).toEqual([[0, 0.2, 0.2], attribution.features[1], [5, 0.2, 0.1]]);
    expect(kept.u).toBe(1);
    expect(packed.byteLength).toBeLessThan(plain.byteLength);
  });
});
