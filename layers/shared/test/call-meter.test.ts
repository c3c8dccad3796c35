import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CallMeter,
  callMeteringActive,
  chunksOf,
  meterCalls,
  parseCallSummary,
  recordCall,
  setAmbientCallMeter,
} from '#shared/adapters/call-meter.js';
import { dynamoItemBytes } from '#shared/adapters/dynamodb-units.js';
import { tableSpecOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../infra/local/dynamodb.js';

describe('CallMeter', () => {
  it('adds calls and units per service.operation and sums a unit over lines or one service', () => {
    const meter = new CallMeter();
    meter.record('dynamodb', 'PutItem', { wru: 2 });
    meter.record('dynamodb', 'PutItem', { wru: 1 });
    meter.record('dynamodb', 'GetItem', { rru: 0.5 });
    meter.record('sqs', 'SendMessage', { requests: 1 });

    expect(meter.calls('dynamodb.PutItem')).toBe(2);
    expect(meter.calls('sqs.DeleteMessage')).toBe(0);
    expect(meter.total('wru')).toBe(3);
    expect(meter.total('requests', 'sqs')).toBe(1);
    expect(meter.summary()).toBe(
      'dynamodb.GetItem=1[rru=0.5];dynamodb.PutItem=2[wru=3];sqs.SendMessage=1[requests=1]',
    );
    expect(parseCallSummary(meter.summary())).toEqual({
      'dynamodb.GetItem': 1,
      'dynamodb.PutItem': 2,
      'sqs.SendMessage': 1,
    });
  });

  it('records into the scope a call is made in and into the ambient meter, never into another scope', async () => {
    const ambient = new CallMeter();
    const first = new CallMeter();
    const second = new CallMeter();
    expect(callMeteringActive()).toBe(false);
    recordCall('sqs', 'SendMessage');
    setAmbientCallMeter(ambient);
    try {
      await Promise.all([
        meterCalls(first, async () => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          recordCall('dynamodb', 'GetItem', { rru: 1 });
        }),
        meterCalls(second, async () => recordCall('events', 'PutEvents', { requests: 2 })),
      ]);
      recordCall('s3', 'PutObject', { requests: 1 });
    } finally {
      setAmbientCallMeter(undefined);
    }

    expect(first.summary()).toBe('dynamodb.GetItem=1[rru=1]');
    expect(second.summary()).toBe('events.PutEvents=1[requests=2]');
    expect(ambient.summary()).toBe(
      'dynamodb.GetItem=1[rru=1];events.PutEvents=1[requests=2];s3.PutObject=1[requests=1]',
    );
  });

  it('bills at least one chunk, and one more per chunk begun', () => {
    expect(chunksOf(0, 64 * 1024)).toBe(1);
    expect(chunksOf(64 * 1024, 64 * 1024)).toBe(1);
    expect(chunksOf(64 * 1024 + 1, 64 * 1024)).toBe(2);
  });
});

describe('DynamoDB item size', () => {
  it('counts names and values as DynamoDB documents them, plain or marshalled', () => {
    // "pk" (2) + "abc" (3); "n" (1) + 12345 (5 significant digits: 3 + 1); "ok" (2) + true (1).
    const plain = { pk: 'abc', n: 12345, ok: true };
    expect(dynamoItemBytes(plain)).toBe(5 + 5 + 3);
    expect(dynamoItemBytes({ pk: { S: 'abc' }, n: { N: '12345' }, ok: { BOOL: true } })).toBe(13);
    // A map: 3 + per entry name + 1 + value; a list: 3 + per element 1 + value.
    expect(dynamoItemBytes({ m: { a: 'xy' } })).toBe(1 + 3 + (1 + 1 + 2));
    expect(dynamoItemBytes({ l: ['xy', 'z'] })).toBe(1 + 3 + (1 + 2) + (1 + 1));
    expect(dynamoItemBytes({ s: 'é' })).toBe(1 + 2);
  });
});

describe('metered DynamoDB calls (dynalite)', () => {
  let local: TestDynamo;
  const table = localTableName(tableSpecOf(PILLARS, 'router'));
  beforeAll(async () => {
    local = await startTestDynamo();
  });
  afterAll(() => local?.close());

  const metered = async (work: () => Promise<unknown>): Promise<CallMeter> => {
    const meter = new CallMeter();
    await meterCalls(meter, work);
    return meter;
  };

  it('records the write units the service reports, by item size (1 KiB each)', async () => {
    const small = { pk: 'T#acme#X', sk: 'small', body: 'x'.repeat(100) };
    const large = { pk: 'T#acme#X', sk: 'large', body: 'x'.repeat(2500) };

    const meter = await metered(async () => {
      await local.doc.send(new PutCommand({ TableName: table, Item: small }));
      await local.doc.send(new PutCommand({ TableName: table, Item: large }));
    });

    expect(meter.lines()).toEqual([
      {
        service: 'dynamodb',
        operation: 'PutItem',
        calls: 2,
        units: { wru: 1 + Math.ceil(dynamoItemBytes(large) / 1024) },
      },
    ]);
  });

  it('records half a read unit per 4 KiB for an eventually consistent read, a whole one when consistent', async () => {
    const meter = await metered(async () => {
      await local.doc.send(new GetCommand({ TableName: table, Key: { pk: 'T#acme#X', sk: 'small' } }));
      await local.doc.send(
        new GetCommand({ TableName: table, Key: { pk: 'T#acme#X', sk: 'small' }, ConsistentRead: true }),
      );
    });

    expect(meter.total('rru')).toBe(1.5);
  });

  it('computes a Query’s read units from the items it returned where the stand-in reports none', async () => {
    const meter = await metered(() =>
      local.doc.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'T#acme#X' },
          ConsistentRead: true,
        }),
      ),
    );

    // Both items (about 2.7 KB together) fit in one 4 KiB unit, consistent.
    expect(meter.lines()).toEqual([{ service: 'dynamodb', operation: 'Query', calls: 1, units: { rru: 1 } }]);
  });

  it('records a write refused by its condition (AWS bills it too), and the caller still sees the refusal', async () => {
    const meter = new CallMeter();
    const attempt = meterCalls(meter, () =>
      local.doc.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: 'T#acme#X', sk: 'small' },
          UpdateExpression: 'SET body = :b',
          ConditionExpression: 'attribute_not_exists(pk)',
          ExpressionAttributeValues: { ':b': 'y' },
        }),
      ),
    );

    await expect(attempt).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    expect(meter.lines()).toEqual([
      { service: 'dynamodb', operation: 'UpdateItem', calls: 1, units: { wru: 1 } },
    ]);
  });

  it('changes nothing and records nothing when no meter is active', async () => {
    const out = await local.doc.send(
      new GetCommand({ TableName: table, Key: { pk: 'T#acme#X', sk: 'small' } }),
    );

    expect(out.ConsumedCapacity).toBeUndefined();
    expect(out.Item?.sk).toBe('small');
  });
});
