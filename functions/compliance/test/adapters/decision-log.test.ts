import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { tableSpecOf } from '#shared/pillar.js';
import { DECISION_ENTITY, DynamoDecisionLog } from '#shared/policy/dynamo-policy-store.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../../infra/local/dynamodb.js';
import { PILLARS } from '../../../catalog.js';
import { DynamoLoggedDecisions, GROUP_SPAN_MS } from '../../src/adapters/decision-log.js';

/** The decision-log reader against a real DynamoDB API (dynalite, in this process), written by the kernel's writer. */
let local: TestDynamo;
let doc: DynamoDBDocumentClient;
const tableName = localTableName(tableSpecOf(PILLARS, 'policy'));

beforeAll(async () => {
  local = await startTestDynamo();
  doc = local.doc;
});
afterAll(() => local?.close());

const FROM = '2026-12-06T06:00:00.000Z';
const TO = '2026-12-07T06:00:00.000Z';
const shift = (iso: string, ms: number): string => new Date(Date.parse(iso) + ms).toISOString();

let ids = 0;
const record = (tenantId: string, at: string): DecisionRecord => {
  ids += 1;
  return {
    decisionId: `dec_${String(ids).padStart(4, '0')}`,
    tenantId,
    at,
    traceId: `trace-${ids}`,
    engine: 'cedar',
    policyVersion: 'cedar-test',
    input: {
      principal: { subject: 'alice', tenantId, roles: ['member'] },
      action: 'experts:get',
      resource: { tenantId, kind: 'experts' },
      context: { mfa: false, grantedTenants: [] },
    },
    allow: true,
    obligations: [],
    masks: [],
    reasons: [],
    latencyMs: 1,
    source: 'route',
  };
};

const read = async (reader: DynamoLoggedDecisions, tenantId: string, from = FROM, to = TO) => {
  const found: DecisionRecord[] = [];
  for await (const one of reader.inWindow(tenantId, from, to)) found.push(one);
  return found;
};

describe('DynamoLoggedDecisions on dynalite', () => {
  it('reads back the records of the window exactly as the kernel logged them, and none outside it', async () => {
    // Prepare
    const log = new DynamoDecisionLog(doc, tableName);
    const inside = [record('acme-log', shift(FROM, 0)), record('acme-log', shift(TO, -1))];
    const outside = [record('acme-log', shift(FROM, -1)), record('acme-log', TO)];
    const otherTenant = record('globex-log', shift(FROM, 60_000));
    for (const one of [...inside, ...outside, otherTenant]) await log.record([one]);

    // Act
    const found = await read(new DynamoLoggedDecisions(doc, tableName), 'acme-log');

    // Assess
    expect(found).toEqual(inside);
  });

  it('finds a record of the window in a group keyed just before it (a request that began earlier)', async () => {
    // Prepare: one commit, a deferred decision from before the window and one inside it.
    const deferred = record('acme-group', shift(FROM, -2_000));
    const decided = record('acme-group', shift(FROM, 1_000));
    const tooEarly = record('acme-group', shift(FROM, -GROUP_SPAN_MS - 60_000));
    await new DynamoDecisionLog(doc, tableName).record([deferred, decided]);
    await new DynamoDecisionLog(doc, tableName).record([tooEarly]);

    // Act
    const found = await read(new DynamoLoggedDecisions(doc, tableName), 'acme-group');

    // Assess
    expect(found).toEqual([decided]);
  });

  it('pages through every item of the window, and stops querying when the reader stops', async () => {
    // Prepare
    const log = new DynamoDecisionLog(doc, tableName);
    const records = Array.from({ length: 7 }, (_, i) => record('acme-pages', shift(FROM, (i + 1) * 60_000)));
    for (const one of records) await log.record([one]);
    const sends: unknown[] = [];
    const counting = {
      send: (command: never) => {
        sends.push(command);
        return doc.send(command);
      },
    };
    const reader = new DynamoLoggedDecisions(counting as unknown as DynamoDBDocumentClient, tableName, 2);

    // Act
    const all = await read(reader, 'acme-pages');
    sends.length = 0;
    const first: DecisionRecord[] = [];
    for await (const one of reader.inWindow('acme-pages', FROM, TO)) {
      first.push(one);
      if (first.length === 3) break;
    }

    // Assess
    expect(all).toEqual(records);
    expect(first).toEqual(records.slice(0, 3));
    expect(sends).toHaveLength(2);
  });

  it('reads an item an earlier version wrote as a single record', async () => {
    // Prepare
    const single = record('acme-single', shift(FROM, 5_000));
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          pk: partitionKey('acme-single', DECISION_ENTITY),
          sk: `${single.at}#${single.decisionId}`,
          expiresAt: 1,
          ...single,
        },
      }),
    );

    // Act
    const found = await read(new DynamoLoggedDecisions(doc, tableName), 'acme-single');

    // Assess
    expect(found).toEqual([single]);
  });

  it('refuses a window that ends before it starts', async () => {
    await expect(
      read(new DynamoLoggedDecisions(doc, tableName), 'acme-log', TO, FROM),
    ).rejects.toBeInstanceOf(RangeError);
  });
});
