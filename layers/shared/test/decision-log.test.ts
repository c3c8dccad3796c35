import { BatchWriteCommand, type BatchWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  DECISION_TTL_SECONDS,
  DECISION_WRITE_ATTEMPTS,
  DynamoDecisionLog,
} from '#shared/policy/dynamo-policy-store.js';
import type { DecisionRecord } from '#shared/ports/policy.js';

/** DynamoDecisionLog: a call's records in BatchWriteItem requests of 25, unprocessed items retried. */
const TABLE = 'conductor-policy';

const record = (n: number, tenantId = 'acme'): DecisionRecord => ({
  decisionId: `dec_${String(n).padStart(6, '0')}`,
  tenantId,
  at: '2026-03-01T10:00:00.000Z',
  traceId: 't',
  engine: 'cedar',
  policyVersion: 'cedar-test',
  input: {
    principal: { subject: 'alice', tenantId: 'acme', roles: ['operator'] },
    action: 'router:route-to',
    resource: { tenantId, kind: 'experts', id: `exp-${n}`, classification: 'internal' },
    context: { mfa: false, grantedTenants: [] },
  },
  allow: true,
  obligations: [],
  masks: [],
  reasons: ['operate-own-or-granted-tenant'],
  latencyMs: 0.1,
  source: 'route',
});

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
  it('writes one decision (and its cross-tenant copy) in one BatchWriteItem, keyed and with the TTL', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const log = new DynamoDecisionLog(doc, TABLE, noWait);

    // Act
    await log.record([record(1, 'globex'), { ...record(1, 'globex'), tenantId: 'acme' }]);

    // Assess
    expect(calls).toHaveLength(1);
    expect(calls[0]?.map((put) => put.PutRequest.Item)).toEqual([
      {
        ...record(1, 'globex'),
        pk: 'T#globex#DECISION',
        sk: '2026-03-01T10:00:00.000Z#dec_000001',
        expiresAt: Math.floor(Date.parse('2026-03-01T10:00:00.000Z') / 1000) + DECISION_TTL_SECONDS,
      },
      {
        ...record(1, 'globex'),
        tenantId: 'acme',
        pk: 'T#acme#DECISION',
        sk: '2026-03-01T10:00:00.000Z#dec_000001',
        expiresAt: Math.floor(Date.parse('2026-03-01T10:00:00.000Z') / 1000) + DECISION_TTL_SECONDS,
      },
    ]);
  });

  it('splits a batch into requests of at most 25 items, all of them written once', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const log = new DynamoDecisionLog(doc, TABLE, noWait);
    const records = Array.from({ length: 64 }, (_, i) => record(i + 1));

    // Act
    await log.record(records);

    // Assess
    expect(calls.map((items) => items.length)).toEqual([25, 25, 14]);
    expect(calls.flat().map((put) => put.PutRequest.Item.decisionId)).toEqual(
      records.map((r) => r.decisionId),
    );
  });

  it('retries the unprocessed items, and only them, until written', async () => {
    // Prepare: the first answer leaves two items unprocessed, the second one of them
    const { doc, calls } = fakeDoc((items, call) =>
      call === 1 ? items.slice(0, 2) : call === 2 ? items.slice(1) : [],
    );
    const log = new DynamoDecisionLog(doc, TABLE, noWait);

    // Act
    await log.record([record(1), record(2), record(3)]);

    // Assess
    expect(calls.map((items) => items.map((put) => put.PutRequest.Item.decisionId))).toEqual([
      ['dec_000001', 'dec_000002', 'dec_000003'],
      ['dec_000001', 'dec_000002'],
      ['dec_000002'],
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
    const recorded = log.record([record(1), record(2)]);

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

  it('writes a key given twice once (BatchWriteItem refuses duplicate keys), and nothing for no records', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const log = new DynamoDecisionLog(doc, TABLE, noWait);

    // Act
    await log.record([record(1), record(1), record(2)]);
    await log.record([]);

    // Assess
    expect(calls.map((items) => items.map((put) => put.PutRequest.Item.decisionId))).toEqual([
      ['dec_000001', 'dec_000002'],
    ]);
  });
});
