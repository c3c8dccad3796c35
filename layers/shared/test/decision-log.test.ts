import { BatchWriteCommand, type BatchWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dynamoItemBytes } from '#shared/adapters/dynamodb-units.js';
import { DECISION_GROUP_MAX, packDecisions, unpackDecisions } from '#shared/policy/decision-groups.js';
import {
  DECISION_TTL_SECONDS,
  DECISION_WRITE_ATTEMPTS,
  DynamoDecisionLog,
} from '#shared/policy/dynamo-policy-store.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import { decisionRecordFixture } from '#shared/testing/decision-records.js';

/**
 * DynamoDecisionLog: a call's records as one group item per tenant log (the shared fields once), in
 * BatchWriteItem requests of 25 items, unprocessed items retried.
 */
const TABLE = 'conductor-policy';

const record = (n: number, tenantId = 'acme'): DecisionRecord => decisionRecordFixture(n, tenantId);

type Put = { PutRequest: { Item: Record<string, unknown> } };

/** A document client that answers BatchWriteItem with `answer(items)`'s unprocessed items. */
const fakeDoc = (unprocessed: (items: Put[], call: number) => Put[] = () => []) => {
  const calls: Put[][] = [];
  const doc = {
    send: async (command: unknown) => {
      expect(command).toBeInstanceOf(BatchWriteCommand);
      const input = (command as BatchWriteCommand).input as BatchWriteCommandInput;
      expect(Object.keys(input.RequestItems ?? {})).toEqual([TABLE]);
      const items = (input.RequestItems?.[TABLE] ?? []) as Put[];
      calls.push(items);
      const left = unprocessed(items, calls.length);
      return left.length > 0 ? { UnprocessedItems: { [TABLE]: left } } : { UnprocessedItems: {} };
    },
  };
  return { doc, calls };
};

const noWait = () => 0;

describe('DynamoDecisionLog', () => {
  const ttlOf = (at: string) => Math.floor(Date.parse(at) / 1000) + DECISION_TTL_SECONDS;
  const itemsOf = (calls: Put[][]) => calls.flat().map((put) => put.PutRequest.Item);

  it('writes one decision and its cross-tenant copy as one item in each tenant’s log, keyed and with the TTL', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const log = new DynamoDecisionLog(doc, TABLE, noWait);
    const copy = { ...record(1, 'globex'), tenantId: 'acme' };

    // Act
    await log.record([record(1, 'globex'), copy]);

    // Assess
    expect(calls).toHaveLength(1);
    const [globex, acme] = itemsOf(calls);
    expect(globex).toMatchObject({
      pk: 'T#globex#DECISION',
      sk: '2026-03-01T10:00:00.000Z#dec_000001',
      expiresAt: ttlOf('2026-03-01T10:00:00.000Z'),
      n: 1,
    });
    expect(acme).toMatchObject({ pk: 'T#acme#DECISION', sk: '2026-03-01T10:00:00.000Z#dec_000001', n: 1 });
    expect(unpackDecisions(globex ?? {})).toEqual([record(1, 'globex')]);
    expect(unpackDecisions(acme ?? {})).toEqual([copy]);
  });

  it('keeps a route’s five decisions in one item, keyed by the first, in under half the bytes of five', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const log = new DynamoDecisionLog(doc, TABLE, noWait);
    const records = [1, 2, 3, 4, 5].map((n) => record(n));

    // Act
    await log.record(records);

    // Assess
    const items = itemsOf(calls);
    expect(items).toHaveLength(1);
    const [group] = items;
    expect(group).toMatchObject({ pk: 'T#acme#DECISION', sk: '2026-03-01T10:00:00.000Z#dec_000001', n: 5 });
    expect(unpackDecisions(group ?? {})).toEqual(records);
    const apart = records.reduce(
      (sum, r) => sum + dynamoItemBytes({ ...r, pk: 'T#acme#DECISION', sk: 'x', expiresAt: 1 }),
      0,
    );
    expect(dynamoItemBytes(group ?? {})).toBeLessThan(apart / 2);
  });

  it(`starts another item after ${DECISION_GROUP_MAX} records, and splits the items into requests of at most 25`, async () => {
    // Prepare: 1,300 records of one tenant (26 groups), and 2 of another
    const { doc, calls } = fakeDoc();
    const log = new DynamoDecisionLog(doc, TABLE, noWait);
    const records = Array.from({ length: 1300 }, (_, i) => record(i + 1));

    // Act
    await log.record([...records, record(5000, 'globex'), record(5001, 'globex')]);

    // Assess
    expect(calls.map((items) => items.length)).toEqual([25, 2]);
    const items = itemsOf(calls);
    expect(items.map((item) => item.n)).toEqual([...Array.from({ length: 26 }, () => DECISION_GROUP_MAX), 2]);
    expect(items.flatMap((item) => unpackDecisions(item).map((r) => r.decisionId))).toEqual([
      ...records.map((r) => r.decisionId),
      'dec_005000',
      'dec_005001',
    ]);
  });

  it('retries the unprocessed items, and only them, until written', async () => {
    // Prepare: three tenants' items; the first answer leaves two unprocessed, the second one of them
    const { doc, calls } = fakeDoc((items, call) =>
      call === 1 ? items.slice(0, 2) : call === 2 ? items.slice(1) : [],
    );
    const log = new DynamoDecisionLog(doc, TABLE, noWait);

    // Act
    await log.record([record(1, 'acme'), record(2, 'globex'), record(3, 'initech')]);

    // Assess
    expect(calls.map((items) => items.map((put) => put.PutRequest.Item.pk))).toEqual([
      ['T#acme#DECISION', 'T#globex#DECISION', 'T#initech#DECISION'],
      ['T#acme#DECISION', 'T#globex#DECISION'],
      ['T#globex#DECISION'],
    ]);
  });

  it(`fails (so the enforcer answers 503) when items stay unprocessed after ${DECISION_WRITE_ATTEMPTS} attempts`, async () => {
    // Prepare
    const { doc, calls } = fakeDoc((items) => items.slice(0, 1));
    const waits: number[] = [];
    const log = new DynamoDecisionLog(doc, TABLE, (attempt) => {
      waits.push(attempt);
      return 0;
    });

    // Act
    const recorded = log.record([record(1), record(2, 'globex')]);

    // Assess
    await expect(recorded).rejects.toThrow('BatchWriteItem left 1 item(s) unprocessed');
    expect(calls).toHaveLength(DECISION_WRITE_ATTEMPTS);
    expect(waits).toEqual([1, 2, 3, 4]);
  });

  it('fails when DynamoDB refuses the request', async () => {
    // Prepare
    const log = new DynamoDecisionLog(
      {
        send: async () => {
          throw new Error('ProvisionedThroughputExceededException');
        },
      },
      TABLE,
      noWait,
    );

    // Act + Assess
    await expect(log.record([record(1)])).rejects.toThrow('ProvisionedThroughputExceededException');
  });

  it('keeps a record given twice once, and writes nothing for no records', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const log = new DynamoDecisionLog(doc, TABLE, noWait);

    // Act
    await log.record([record(1), record(1), record(2)]);
    await log.record([]);

    // Assess
    expect(calls).toHaveLength(1);
    expect(itemsOf(calls).flatMap((item) => unpackDecisions(item).map((r) => r.decisionId))).toEqual([
      'dec_000001',
      'dec_000002',
    ]);
  });
});

describe('decision groups', () => {
  const text = fc.string({ maxLength: 12 });
  const arbitraryRecord = fc.record({
    decisionId: fc.uuid(),
    tenantId: fc.constantFrom('acme', 'globex'),
    at: fc.constantFrom('2026-03-01T10:00:00.000Z', '2026-03-01T10:00:00.001Z'),
    traceId: fc.constantFrom('t1', 't2'),
    engine: fc.constantFrom('cedar', 'opa'),
    policyVersion: text,
    input: fc.record({
      principal: fc.record({
        subject: text,
        tenantId: fc.constant('acme'),
        roles: fc.array(text, { maxLength: 3 }),
      }),
      action: fc.constantFrom('router:route', 'router:route-to', 'experts:list'),
      resource: fc.record(
        { tenantId: fc.constant('acme'), kind: fc.constant('experts'), id: text, classification: text },
        { requiredKeys: ['tenantId', 'kind'] },
      ),
      context: fc.record({ mfa: fc.boolean(), grantedTenants: fc.array(text, { maxLength: 2 }) }),
    }),
    allow: fc.boolean(),
    obligations: fc.array(text, { maxLength: 2 }),
    masks: fc.array(text, { maxLength: 2 }),
    reasons: fc.array(text, { maxLength: 2 }),
    latencyMs: fc.double({ min: 0, max: 100, noNaN: true }),
    source: fc.constantFrom('route' as const, 'api' as const),
  });

  it('expand back into exactly the records packed, in order, whatever they share', () => {
    fc.assert(
      fc.property(fc.array(arbitraryRecord, { minLength: 1, maxLength: DECISION_GROUP_MAX }), (records) => {
        const item = {
          pk: 'T#acme#DECISION',
          sk: 'x',
          expiresAt: 1,
          ...packDecisions(records as DecisionRecord[]),
        };
        expect(unpackDecisions(item)).toEqual(JSON.parse(JSON.stringify(records)));
      }),
    );
  });

  it('read an item an older version wrote (one record, no group) as that record', () => {
    const old = {
      ...record(7),
      pk: 'T#acme#DECISION',
      sk: '2026-03-01T10:00:00.000Z#dec_000007',
      expiresAt: 1,
    };

    expect(unpackDecisions(old)).toEqual([record(7)]);
  });

  it(`refuse an empty group and one of more than ${DECISION_GROUP_MAX}`, () => {
    expect(() => packDecisions([])).toThrow(RangeError);
    expect(() => packDecisions(Array.from({ length: DECISION_GROUP_MAX + 1 }, (_, i) => record(i)))).toThrow(
      RangeError,
    );
  });
});
